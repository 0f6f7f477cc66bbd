//! `profile --mix`: an OCR-style pipeline of a slow model at a few requests
//! per second beside a fast one at hundreds, both from the samples, run at
//! once in one process with a solo baseline; per-entry accounting, the
//! interference figures, the document, `report` of it, and bad mix files.

use super::{repo_path, workbench};

#[test]
fn an_ocr_style_mix_reports_each_entry_and_its_interference() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mix = dir.path().join("mix.toml");
    let slow = repo_path("sample_models/transformer.onnx");
    let fast = repo_path("sample_models/digits_cnn.onnx");
    std::fs::write(
        &mix,
        format!(
            r#"duration = "3s"
warmup = "0.5s"
arrival = "constant"

[[model]]
name = "det"
path = "{}"
batch = 8
dims = {{ "seq" = 128 }}
rate = 5
slo = "p99=400ms"

[[model]]
name = "cls"
path = "{}"
rate = 200
slo = "p99=20ms"
"#,
            slow.display(),
            fast.display()
        ),
    )
    .expect("write the mix");
    let export = dir.path().join("mix.json");
    let csv = dir.path().join("csv");
    let output = workbench(&[
        "profile",
        "--mix",
        mix.to_str().expect("utf-8"),
        "--baseline",
        "solo",
        "--export",
        export.to_str().expect("utf-8"),
        "--export-csv",
        csv.to_str().expect("utf-8"),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("det") && stdout.contains("cls"), "{stdout}");

    let document: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&export).expect("mix written")).expect("json");
    assert_eq!(document["kind"], "mix");
    let models = document["models"].as_array().expect("models");
    assert_eq!(models.len(), 2);
    for (model, expected_file, rate) in [
        (&models[0], "transformer.onnx", 5.0),
        (&models[1], "digits_cnn.onnx", 200.0),
    ] {
        let session = &model["session"];
        assert_eq!(session["status"], "completed", "{}", model["name"]);
        // Each entry's session is its own model's: nothing crosses over.
        assert_eq!(session["model"]["file_name"], expected_file);
        let summary = &session["summary"];
        let measured = summary["measured_secs"].as_f64().expect("measured");
        let requests = summary["requests_ok"].as_f64().expect("requests");
        // Constant arrivals at `rate` over the measured period: the count
        // is the rate times the time, within one arrival at each end and
        // the Poisson bound that Poisson arrivals would allow (4 sigma).
        let expected = rate * measured;
        let slack = 2.0 + 4.0 * expected.sqrt();
        assert!(
            (requests - expected).abs() <= slack,
            "{}: {requests} requests for {expected:.1} expected",
            model["name"]
        );
        let interference = &model["interference"];
        let alone = interference["p99_alone_micros"].as_f64().expect("alone");
        let in_mix = interference["p99_mix_micros"].as_f64().expect("mix");
        assert!(alone > 0.0 && in_mix > 0.0, "{interference}");
        let ratio = interference["ratio"].as_f64().expect("ratio");
        assert!((ratio - in_mix / alone).abs() < 1e-9);
        assert_eq!(model["solo"]["status"], "completed");
    }
    // The fast model's batch stays its own: 1 row per request, the slow
    // one's 8.
    assert_eq!(models[0]["session"]["summary"]["batch_size"], 8);
    assert_eq!(models[1]["session"]["summary"]["batch_size"], 1);

    let rows = std::fs::read_to_string(csv.join("mix.csv")).expect("mix.csv");
    assert_eq!(rows.lines().count(), 3, "{rows}");
    assert!(csv.join("cls").join("timeseries.csv").exists());

    let report = workbench(&["report", export.to_str().expect("utf-8")]);
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(report.status.success());
    assert!(
        text.contains("Mix of 2 models") && text.contains("mix/alone"),
        "{text}"
    );
}

#[test]
fn a_bad_mix_file_names_its_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mix = dir.path().join("mix.toml");
    std::fs::write(
        &mix,
        format!(
            "[[model]]\nname = \"a\"\npath = \"{}\"\nconcurency = 2\n",
            repo_path("sample_models/mlp.onnx").display()
        ),
    )
    .expect("write");
    let output = workbench(&["profile", "--mix", mix.to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("line 4") && stderr.contains("concurency"),
        "{stderr}"
    );
}

/// `sweep --mix --search scale`: the largest common factor on both entries'
/// rates that both SLOs allow, found by doubling and bisection, with the
/// entry that limits it and a confirmation run of the whole mix; the
/// document prints again through `report`.
#[test]
fn a_scale_search_finds_the_mix_capacity_and_confirms_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mix = dir.path().join("mix.toml");
    std::fs::write(
        &mix,
        format!(
            r#"duration = "3s"
warmup = "0.5s"
arrival = "constant"

[[model]]
name = "det"
path = "{}"
rate = 20
slo = "p95=20ms"

[[model]]
name = "cls"
path = "{}"
rate = 200
slo = "p99=10ms"
"#,
            repo_path("sample_models/cnn.onnx").display(),
            repo_path("sample_models/digits_cnn.onnx").display()
        ),
    )
    .expect("write the mix");
    let export = dir.path().join("scale.json");
    let csv = dir.path().join("csv");
    let output = workbench(&[
        "sweep",
        "--mix",
        mix.to_str().expect("utf-8"),
        "--search",
        "scale",
        "--retries",
        "1",
        "--export",
        export.to_str().expect("utf-8"),
        "--export-csv",
        csv.to_str().expect("utf-8"),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("ETA"), "progress with an ETA: {stderr}");
    let document: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&export).expect("written")).expect("json");
    assert_eq!(document["kind"], "mix-scale");
    assert_eq!(document["status"], "completed");
    let probes = document["probes"].as_array().expect("probes");
    assert_eq!(probes[0]["factor"], 1.0, "starts from the mix as written");
    for probe in probes {
        let entries = probe["entries"].as_array().expect("entries");
        assert_eq!(entries.len(), 2);
        // The mix passes a factor exactly when both entries do.
        let all_pass = entries.iter().all(|e| e["decision"] == "pass");
        assert_eq!(probe["decision"] == "pass", all_pass, "{probe}");
        // Each entry ran at its own rate times the factor.
        let factor = probe["factor"].as_f64().expect("factor");
        for (entry, base) in entries.iter().zip([20.0, 200.0]) {
            let load = entry["load"].as_str().expect("load");
            let rate: f64 = load
                .trim_start_matches("open ")
                .split('/')
                .next()
                .and_then(|r| r.parse().ok())
                .expect("a rate");
            assert!(
                (rate - base * factor).abs() <= 0.01 * base * factor + 0.01,
                "{load} at ×{factor}"
            );
        }
    }
    let best = document["best_factor"].as_f64().expect("a factor passed");
    assert!(
        probes
            .iter()
            .any(|p| p["factor"].as_f64() == Some(best) && p["decision"] == "pass")
    );
    if let Some(high) = document["failed_above"].as_f64() {
        assert!(
            high > best && (high - best) / best <= 0.05 + 1e-9,
            "{best} {high}"
        );
        let limiting = document["limiting"].as_array().expect("limiting");
        assert!(!limiting.is_empty(), "who fails first is named");
        assert!(["det", "cls"].contains(&limiting[0]["entry"].as_str().expect("entry")));
    }
    let recommendation = &document["recommendation"];
    let factor = recommendation["factor"].as_f64().expect("recommended");
    assert!(factor <= best);
    let confirmation = &recommendation["confirmation"];
    assert_eq!(confirmation["kind"], "mix", "the confirmation is a mix run");
    assert_eq!(confirmation["models"].as_array().expect("models").len(), 2);
    if recommendation["confirmed"] != true {
        let notes = document["notes"].to_string();
        assert!(notes.contains("not upheld"), "{notes}");
    }
    let rows = std::fs::read_to_string(csv.join("scale.csv")).expect("scale.csv");
    assert_eq!(rows.lines().count(), 1 + 2 * probes.len(), "{rows}");
    assert!(stdout.contains("Highest passing factor") && stdout.contains("Recommendation"));
    let report = workbench(&["report", export.to_str().expect("utf-8")]);
    assert!(report.status.success());
    assert!(String::from_utf8_lossy(&report.stdout).contains("Scale search of a mix of 2 models"));
}

#[test]
fn a_mix_sweeps_only_by_scale() {
    let output = workbench(&[
        "sweep",
        "--mix",
        repo_path("sample_models/README.md")
            .to_str()
            .expect("utf-8"),
        "--search",
        "rate",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--search scale"), "{stderr}");
    let alone = workbench(&[
        "sweep",
        repo_path("sample_models/mlp.onnx").to_str().expect("utf-8"),
        "--search",
        "scale",
        "--slo",
        "p99=10ms",
    ]);
    assert!(!alone.status.success());
    let stderr = String::from_utf8_lossy(&alone.stderr);
    assert!(stderr.contains("(--mix)"), "{stderr}");
}

/// `--vary det.instances=1,2` with the scale search: one search per value,
/// each entry's setting applied to that entry only, and the comparison.
#[test]
fn an_allocation_search_compares_one_entrys_settings() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mix = dir.path().join("mix.toml");
    std::fs::write(
        &mix,
        format!(
            r#"duration = "3s"
warmup = "0.3s"
arrival = "constant"

[[model]]
name = "det"
path = "{}"
rate = 100
slo = "p90=2ms"

[[model]]
name = "cls"
path = "{}"
rate = 100
slo = "p90=2ms"
"#,
            repo_path("sample_models/cnn.onnx").display(),
            repo_path("sample_models/mlp.onnx").display()
        ),
    )
    .expect("write the mix");
    let export = dir.path().join("alloc.json");
    let output = workbench(&[
        "sweep",
        "--mix",
        mix.to_str().expect("utf-8"),
        "--search",
        "scale",
        "--vary",
        "det.instances=1,2",
        "--retries",
        "0",
        "--no-confirm",
        "--export",
        export.to_str().expect("utf-8"),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Without confirmation no factor is confirmed: exit status 4.
    assert_eq!(output.status.code(), Some(4), "{stdout}{stderr}");
    let document: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&export).expect("written")).expect("json");
    assert_eq!(document["kind"], "mix-allocation");
    assert_eq!(document["varied"], "det.instances");
    let searches = document["searches"].as_array().expect("searches");
    assert_eq!(searches.len(), 2);
    for (search, instances) in searches.iter().zip([1, 2]) {
        assert_eq!(search["label"], format!("det.instances={instances}"));
        let scale = &search["search"];
        assert_eq!(scale["kind"], "mix-scale");
        assert!(!scale["probes"].as_array().expect("probes").is_empty());
    }
    assert!(
        stdout.contains("Allocation of det.instances:")
            && stdout.contains("det.instances=1: ")
            && stdout.contains("det.instances=2: "),
        "{stdout}"
    );
    // Refused before anything runs: an unknown entry, a bad value.
    for (vary, needle) in [
        ("rec.instances=1,2", "no entry \"rec\""),
        ("det.instances=1,0", "'0' is not a valid value"),
    ] {
        let bad = workbench(&[
            "sweep",
            "--mix",
            mix.to_str().expect("utf-8"),
            "--search",
            "scale",
            "--vary",
            vary,
        ]);
        assert!(!bad.status.success());
        let stderr = String::from_utf8_lossy(&bad.stderr);
        assert!(stderr.contains(needle), "{stderr}");
    }
}

/// `report A.json --compare B.json`: two mixes entry by entry; a rate
/// four times higher is better throughput beyond the noise.
#[test]
fn two_mixes_compare_entry_by_entry() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = |name: &str, cls_rate: u32| {
        let mix = dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &mix,
            format!(
                "duration = \"3s\"\nwarmup = \"0.3s\"\narrival = \"constant\"\n[[model]]\nname = \"det\"\npath = \"{}\"\nrate = 20\n[[model]]\nname = \"cls\"\npath = \"{}\"\nrate = {cls_rate}\n",
                repo_path("sample_models/cnn.onnx").display(),
                repo_path("sample_models/mlp.onnx").display()
            ),
        )
        .expect("write the mix");
        let export = dir.path().join(format!("{name}.json"));
        let output = workbench(&[
            "profile",
            "--mix",
            mix.to_str().expect("utf-8"),
            "--export",
            export.to_str().expect("utf-8"),
            "-q",
        ]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        export
    };
    let (a, b) = (run("a", 100), run("b", 400));
    let output = workbench(&[
        "report",
        a.to_str().expect("utf-8"),
        "--compare",
        b.to_str().expect("utf-8"),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let cls_throughput = stdout
        .lines()
        .find(|line| line.starts_with("cls ") && line.contains("inf/s"))
        .expect("cls's throughput line");
    assert!(cls_throughput.ends_with("better"), "{stdout}");
    assert!(
        stdout.contains("det ") && stdout.contains("p99"),
        "{stdout}"
    );
    // A mix against a session is refused.
    let session = dir.path().join("session.json");
    let profiled = workbench(&[
        "profile",
        repo_path("sample_models/mlp.onnx").to_str().expect("utf-8"),
        "--duration",
        "0.3s",
        "--no-layer-profile",
        "--export",
        session.to_str().expect("utf-8"),
        "-q",
    ]);
    assert!(profiled.status.success());
    let mixed = workbench(&[
        "report",
        a.to_str().expect("utf-8"),
        "--compare",
        session.to_str().expect("utf-8"),
    ]);
    assert!(!mixed.status.success());
    assert!(String::from_utf8_lossy(&mixed.stderr).contains("two mixes or two sessions"));
}
