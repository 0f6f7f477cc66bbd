//! Generative decoders: the KV-cache token loop against full recomputation
//! on each supported layout, lockstep batches with left padding, and
//! `profile --generate` end to end (TTFT, ITL, goodput, per-phase layers,
//! token events) with its clear errors.

use onnx_workbench::{
    engine::{
        Arrival, LayerProfiling, LoadMode, ProfileConfig, RunStatus,
        generate::{GenerationConfig, StepPlan, token_loop},
        runtime,
        session::{ModelSource, build_session},
    },
    metrics::generation::GenerationSlo,
    model::{
        Model,
        generative::{self, LayoutKind},
    },
};

use crate::{repo_path, run, workbench};

/// The fixtures of each layout (`tests/data/models/make_decoders.py`).
const LAYOUTS: [(&str, LayoutKind); 4] = [
    ("decoder_hf.onnx", LayoutKind::Optimum),
    ("decoder_hf_nopos.onnx", LayoutKind::Optimum),
    ("decoder_merged.onnx", LayoutKind::OptimumMerged),
    ("decoder_gqa.onnx", LayoutKind::GenAiSharedBuffer),
];

fn model_path(name: &str) -> std::path::PathBuf {
    repo_path(&format!("tests/data/models/{name}"))
}

fn session_and_plan(name: &str) -> (ort::session::Session, StepPlan) {
    session_and_plan_of(&model_path(name))
}

fn session_and_plan_of(path: &std::path::Path) -> (ort::session::Session, StepPlan) {
    let layout = generative::detect(&Model::load(path).expect("loads")).expect("generative");
    let runtime = runtime::runtime().expect("ONNX Runtime");
    let built = build_session(
        runtime,
        ModelSource::File(path),
        &ProfileConfig::default(),
        None,
    )
    .expect("session");
    let plan = StepPlan::new(&built.session, layout).expect("plan");
    (built.session, plan)
}

#[test]
fn every_layout_is_recognised() {
    for (name, kind) in LAYOUTS {
        let model = Model::load(&model_path(name)).expect("loads");
        let layout = generative::detect(&model).expect(name);
        assert_eq!(layout.kind, kind, "{name}");
        assert_eq!(layout.layers.len(), 2, "{name}");
        assert_eq!(layout.vocab, Some(64), "{name}");
        assert_eq!(layout.max_positions, Some(64), "{name}");
        assert_eq!(
            model.summary().generative.map(|g| g.kind),
            Some(kind),
            "{name}"
        );
    }
    let gqa = generative::detect(&Model::load(&model_path("decoder_gqa.onnx")).expect("loads"))
        .expect("gqa");
    assert_eq!((gqa.query_heads, gqa.kv_heads), (Some(4), 2));
}

/// Greedy tokens of `prompt` with the KV cache and by full recomputation,
/// 16 steps each, on the decoder at `path`: they must agree. Returns them.
fn cached_tokens_match_recomputation(path: &std::path::Path, prompt: &[i64]) -> Vec<i64> {
    let (mut session, plan) = session_and_plan_of(path);
    let name = path.display().to_string();
    let options = ort::session::RunOptions::new().expect("options");
    let cached = token_loop::generate(
        &mut session,
        &plan,
        &[prompt.to_vec()],
        16,
        &options,
        |_, _| {},
    )
    .expect(&name);
    let full = token_loop::generate_without_cache(&mut session, &plan, prompt, 16).expect(&name);
    assert_eq!(
        cached[0], full,
        "{name}: the cache changed the greedy tokens"
    );
    full
}

#[test]
fn the_kv_cache_loop_matches_full_recomputation_on_every_layout() {
    for (name, _) in LAYOUTS {
        let full = cached_tokens_match_recomputation(&model_path(name), &[5, 17, 42, 8, 33]);
        let distinct: std::collections::BTreeSet<_> = full.iter().collect();
        assert!(distinct.len() > 4, "{name}: degenerate tokens {full:?}");
    }
}

/// The same check on decoders exported by real toolchains (e.g. optimum's
/// `text-generation-with-past`), which the repository cannot ship: set
/// `ONNX_WORKBENCH_DECODERS` to their paths, separated by `:`, and run
/// `cargo test --test integration -- --ignored exported_decoders`.
#[test]
#[ignore = "needs decoders exported outside the repository (ONNX_WORKBENCH_DECODERS)"]
fn the_kv_cache_loop_matches_full_recomputation_on_exported_decoders() {
    let paths = std::env::var("ONNX_WORKBENCH_DECODERS")
        .expect("set ONNX_WORKBENCH_DECODERS to the exported decoders, separated by ':'");
    for path in paths.split(':').filter(|path| !path.is_empty()) {
        cached_tokens_match_recomputation(
            std::path::Path::new(path),
            &[5, 17, 42, 8, 33, 2, 99, 64],
        );
    }
}

#[test]
fn a_left_padded_lockstep_batch_gives_each_row_its_own_tokens() {
    for name in [
        "decoder_hf.onnx",
        "decoder_hf_nopos.onnx",
        "decoder_merged.onnx",
    ] {
        let (mut session, plan) = session_and_plan(name);
        let options = ort::session::RunOptions::new().expect("options");
        let long = vec![5_i64, 17, 42, 8, 33];
        let short = vec![9_i64, 3, 60];
        let batched = token_loop::generate(
            &mut session,
            &plan,
            &[long.clone(), short.clone()],
            12,
            &options,
            |_, _| {},
        )
        .expect(name);
        for (row, prompt) in [long, short].into_iter().enumerate() {
            let alone =
                token_loop::generate(&mut session, &plan, &[prompt], 12, &options, |_, _| {})
                    .expect(name);
            assert_eq!(batched[row], alone[0], "{name} row {row}");
        }
    }
}

fn generative_config(prompt: u32, output: u32) -> ProfileConfig {
    ProfileConfig {
        duration_secs: Some(1.5),
        warmup_secs: 0.2,
        layer_profiling: LayerProfiling::SeparatePass { runs: 5 },
        generation: Some(GenerationConfig::fixed(prompt, output)),
        ..ProfileConfig::default()
    }
}

#[test]
fn a_closed_loop_generative_run_measures_ttft_itl_and_phases() {
    let mut config = generative_config(12, 6);
    config.concurrency = 2;
    let mut slo = GenerationSlo::default();
    slo.parse_into("ttft=1s,itl=500ms").expect("slo");
    if let Some(generation) = config.generation.as_mut() {
        generation.slo = slo;
    }
    let record = run(&model_path("decoder_hf.onnx"), config);
    assert_eq!(record.status, RunStatus::Completed, "{:?}", record.failure);
    let summary = record.summary.as_ref().expect("summary");
    let generation = summary.generation.as_ref().expect("generation summary");
    assert!(generation.requests > 10, "{} requests", generation.requests);
    assert_eq!(generation.output_tokens, generation.requests * 6);
    assert_eq!(generation.prompt_tokens, generation.requests * 12);
    let itl = generation.itl.expect("itl");
    // Every gap is a sample: five per request.
    assert_eq!(itl.count, generation.requests * 5);
    let ttft = generation.ttft.expect("ttft");
    let e2e = generation.e2e.expect("e2e");
    assert!(ttft.p50_micros < e2e.p50_micros);
    // Generous objectives: every request passes.
    assert_eq!(generation.slo_pass_share, Some(1.0));
    let goodput = generation.goodput_per_sec.expect("goodput");
    assert!((goodput - generation.requests_per_sec).abs() < 1e-9);
    assert!(generation.kv_cache.as_ref().expect("kv").peak_bytes > 0);
    // The per-layer pass is split by phase, each row tagged.
    let phases: Vec<_> = record
        .phase_layers
        .iter()
        .map(|report| report.phase.clone().unwrap_or_default())
        .collect();
    assert_eq!(phases, ["prefill", "decode"]);
    for report in &record.phase_layers {
        assert!(!report.nodes.is_empty());
        assert!(report.nodes.iter().all(|node| node.phase == report.phase));
    }
    // Decode steps outnumber prefills 5 to 1 in the pass.
    assert_eq!(record.phase_layers[1].runs, 5 * record.phase_layers[0].runs);
    assert!(!record.trace.token_events.is_empty());
    let window = record.timeseries.first().expect("a window");
    assert!(window.ttft_p50_micros.is_some() && window.output_tokens_per_sec.is_some());
}

#[test]
fn an_open_loop_lockstep_batch_counts_every_sequence() {
    let mut config = generative_config(8, 4);
    config.batch = Some(2);
    config.load = LoadMode::Open {
        rate_per_sec: 40.0,
        arrival: Arrival::Constant,
    };
    config.layer_profiling = LayerProfiling::Off;
    let record = run(&model_path("decoder_gqa.onnx"), config);
    assert_eq!(record.status, RunStatus::Completed, "{:?}", record.failure);
    let generation = record
        .summary
        .as_ref()
        .and_then(|summary| summary.generation.as_ref())
        .expect("generation");
    // 40 arrivals/s for 1.5 s, two sequences each.
    assert!(
        (100..=140).contains(&generation.requests),
        "{} sequences",
        generation.requests
    );
    assert_eq!(generation.requests % 2, 0);
}

fn cli(args: &[&str]) -> (bool, String, String) {
    let output = workbench(args);
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_cli_prints_the_generative_table_and_exports_token_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lengths = dir.path().join("lengths.csv");
    std::fs::write(&lengths, "prompt,output\n6,3\n10,5\n").expect("write");
    let session = dir.path().join("session.json");
    let csv = dir.path().join("csv");
    let model = model_path("decoder_hf.onnx");
    let (ok, stdout, stderr) = cli(&[
        "profile",
        model.to_str().expect("utf-8"),
        "--generate",
        "--lengths",
        lengths.to_str().expect("utf-8"),
        "--slo",
        "ttft=2s",
        "--duration",
        "1s",
        "--warmup",
        "0.2s",
        "--no-layer-profile",
        "--export",
        session.to_str().expect("utf-8"),
        "--export-csv",
        csv.to_str().expect("utf-8"),
    ]);
    assert!(ok, "{stderr}");
    for expected in ["Tokens", "TTFT", "ITL", "TPOT", "Goodput", "KV cache"] {
        assert!(stdout.contains(expected), "no {expected} in\n{stdout}");
    }
    let document: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&session).expect("session")).expect("json");
    let generation = &document["summary"]["generation"];
    let requests = generation["requests"].as_u64().expect("requests");
    let tokens = generation["output_tokens"].as_u64().expect("tokens");
    // The pairs alternate: 3 and 5 output tokens.
    assert!(
        tokens >= requests * 3 && tokens <= requests * 5,
        "{tokens} for {requests}"
    );
    assert!(generation["ttft"]["p99_micros"].is_number());
    // The KV cache over the run: per window, at most the budget's estimate.
    let estimate = generation["kv_cache"]["budget_estimate_bytes"]
        .as_u64()
        .expect("estimate");
    let kv: Vec<u64> = document["timeseries"]
        .as_array()
        .expect("windows")
        .iter()
        .filter_map(|window| window["kv_cache_bytes"].as_u64())
        .collect();
    assert!(!kv.is_empty(), "no window has a KV cache size");
    assert!(
        kv.iter().all(|&bytes| bytes > 0 && bytes <= estimate),
        "{kv:?} vs {estimate}"
    );
    let series = std::fs::read_to_string(csv.join("timeseries.csv")).expect("timeseries.csv");
    assert!(
        series
            .lines()
            .next()
            .expect("header")
            .contains("kv_cache_bytes")
    );
    let rows = std::fs::read_to_string(csv.join("tokens.csv")).expect("tokens.csv");
    assert!(rows.lines().count() > 10);
}

#[test]
fn a_transformed_decoder_reports_next_token_agreement() {
    let dir = tempfile::tempdir().expect("tempdir");
    let session = dir.path().join("session.json");
    let model = model_path("decoder_hf.onnx");
    let (ok, stdout, stderr) = cli(&[
        "profile",
        model.to_str().expect("utf-8"),
        "--generate",
        "--prompt-tokens",
        "6",
        "--new-tokens",
        "3",
        "--precision",
        "int8",
        "--duration",
        "0.5s",
        "--warmup",
        "0s",
        "--no-layer-profile",
        "--export",
        session.to_str().expect("utf-8"),
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("top-1 agreement"), "{stdout}");
    let document: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&session).expect("session")).expect("json");
    let next = &document["transform"]["accuracy"]["next_token"];
    let positions = next["positions"].as_u64().expect("positions");
    assert!(positions > 0, "{next}");
    for key in ["top1_agreement", "first_token_agreement"] {
        let share = next[key].as_f64().expect(key);
        assert!((0.0..=1.0).contains(&share), "{key} {share}");
    }
    // Int8 weights move the logits but keep them pointing the same way.
    let cosine = next["mean_cosine"].as_f64().expect("cosine");
    assert!(cosine > 0.9 && cosine <= 1.0 + 1e-9, "{cosine}");
}

#[test]
fn bad_generative_input_gets_clear_errors() {
    let cases: [(&str, &[&str], &str); 5] = [
        ("mlp.onnx", &[], "not a generative model"),
        ("decoder_bad_kv.onnx", &[], "malformed KV cache layout"),
        (
            "decoder_hf.onnx",
            &["--prompt-tokens", "60", "--new-tokens", "10"],
            "the model takes 64",
        ),
        (
            "decoder_hf.onnx",
            &[
                "--concurrency",
                "4",
                "--prompt-tokens",
                "16",
                "--new-tokens",
                "8",
                "--max-kv-bytes",
                "10KB",
            ],
            "KV cache of 4 concurrent sequences",
        ),
        ("decoder_hf.onnx", &["--prompt-tokens", "0"], "zero tokens"),
    ];
    for (name, extra, expected) in cases {
        let path = if name == "mlp.onnx" {
            repo_path("sample_models/mlp.onnx")
        } else {
            model_path(name)
        };
        let mut args = vec![
            "profile",
            path.to_str().expect("utf-8"),
            "--generate",
            "--duration",
            "1s",
            "--no-layer-profile",
        ];
        args.extend_from_slice(extra);
        let (ok, stdout, stderr) = cli(&args);
        assert!(!ok, "{name} {extra:?} should fail");
        let text = format!("{stdout}{stderr}");
        assert!(text.contains(expected), "{name} {extra:?}: {text}");
    }
}
