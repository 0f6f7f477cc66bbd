//! The harness's cost per token: onnx-workbench's generative load against a
//! bare Rust token loop written directly on `ort` (prefill, then greedy
//! decode feeding `present.*` back as `past_key_values.*`), with the same
//! sessions, lengths and thread counts.
//!
//! Run with `cargo bench --bench generate -- [MODEL] [SECONDS] [REPEATS]`
//! (an optimum-layout decoder with `position_ids`, such as
//! `sample_models/decoder.onnx`). Prints one Markdown table row per
//! concurrency level.

mod common;

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use onnx_workbench::engine::{
    LayerProfiling, ProfileConfig,
    generate::GenerationConfig,
    runtime::runtime,
    session::{ModelSource, build_session},
};
use ort::{
    session::{Session, SessionInputValue},
    value::{DynValue, Tensor},
};

const PROMPT: usize = 128;
const NEW_TOKENS: usize = 32;

fn config(concurrency: u32, seconds: f64) -> ProfileConfig {
    ProfileConfig {
        concurrency,
        intra_threads: 1,
        inter_threads: 1,
        duration_secs: Some(seconds),
        warmup_secs: 1.0,
        layer_profiling: LayerProfiling::Off,
        generation: Some(GenerationConfig::fixed(PROMPT as u32, NEW_TOKENS as u32)),
        ..ProfileConfig::default()
    }
}

/// One generation, written the way a user would on `ort`.
fn bare_generation(session: &mut Session, prompt: &[i64]) -> usize {
    let names: Vec<String> = session
        .inputs()
        .iter()
        .map(|input| input.name().to_owned())
        .collect();
    let outputs: Vec<String> = session
        .outputs()
        .iter()
        .map(|output| output.name().to_owned())
        .collect();
    let heads_and_size = |name: &str| {
        session
            .inputs()
            .iter()
            .find(|input| input.name() == name)
            .and_then(|input| {
                input
                    .dtype()
                    .tensor_shape()
                    .map(|shape| (shape[1], shape[3]))
            })
            .expect("past shape")
    };
    let mut past: Vec<DynValue> = names
        .iter()
        .filter(|name| name.starts_with("past_key_values."))
        .map(|name| {
            let (heads, size) = heads_and_size(name);
            Tensor::from_array(([1, heads as usize, 0, size as usize], Vec::<f32>::new()))
                .expect("past")
                .into_dyn()
        })
        .collect();
    let mut ids = prompt.to_vec();
    let mut length = 0usize;
    for _ in 0..NEW_TOKENS {
        let step = ids.len();
        let inputs: Vec<SessionInputValue<'_>> = {
            let mut past_iter = past.iter();
            names
                .iter()
                .map(|name| match name.as_str() {
                    "input_ids" => Tensor::from_array(([1, step], ids.clone()))
                        .expect("ids")
                        .into_dyn()
                        .into(),
                    "attention_mask" => {
                        Tensor::from_array(([1, length + step], vec![1_i64; length + step]))
                            .expect("mask")
                            .into_dyn()
                            .into()
                    }
                    "position_ids" => Tensor::from_array((
                        [1, step],
                        (length as i64..(length + step) as i64).collect::<Vec<_>>(),
                    ))
                    .expect("positions")
                    .into_dyn()
                    .into(),
                    _ => SessionInputValue::from(past_iter.next().expect("past")),
                })
                .collect()
        };
        let result = session.run(&inputs[..]).expect("run");
        let mut values: Vec<DynValue> = result.into_iter().map(|(_, value)| value).collect();
        drop(inputs);
        let (shape, logits) = values[0].try_extract_tensor::<f32>().expect("logits");
        let vocab = shape[2] as usize;
        let last = &logits[logits.len() - vocab..];
        let next = last.iter().enumerate().fold(
            0,
            |best, (index, score)| if *score > last[best] { index } else { best },
        );
        past = outputs
            .iter()
            .zip(values.drain(..))
            .filter(|(name, _)| name.starts_with("present."))
            .map(|(_, value)| value)
            .collect();
        length += step;
        ids = vec![next as i64];
    }
    NEW_TOKENS
}

/// C threads, each with its own session, generating back to back.
fn bare_loop(model: &Path, config: &ProfileConfig) -> f64 {
    let runtime = runtime().expect("ONNX Runtime");
    let warmup = Duration::from_secs_f64(config.warmup_secs);
    let measured = Duration::from_secs_f64(config.duration_secs.unwrap_or(5.0));
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..config.concurrency)
        .map(|index| {
            let mut session = build_session(runtime, ModelSource::File(model), config, None)
                .expect("session")
                .session;
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name(format!("bare-{index}"))
                .spawn(move || {
                    let prompt: Vec<i64> = (0..PROMPT as i64).map(|i| 1 + (i * 31) % 997).collect();
                    let started = Instant::now();
                    let mut tokens = 0usize;
                    while !stop.load(Ordering::Relaxed) {
                        let made = bare_generation(&mut session, &prompt);
                        let elapsed = started.elapsed();
                        if elapsed >= warmup && elapsed <= warmup + measured {
                            tokens += made;
                        }
                    }
                    tokens
                })
                .expect("spawn")
        })
        .collect();
    std::thread::sleep(warmup + measured);
    stop.store(true, Ordering::Relaxed);
    let total: usize = threads.into_iter().map(|t| t.join().expect("join")).sum();
    total as f64 / measured.as_secs_f64()
}

fn engine(model: &Path, config: &ProfileConfig) -> f64 {
    common::engine_run(model, config)
        .summary
        .and_then(|summary| summary.generation)
        .expect("generation summary")
        .output_tokens_per_sec
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    let model = PathBuf::from(
        args.first()
            .map_or("sample_models/decoder.onnx", String::as_str),
    );
    let seconds: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10.0);
    let repeats: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    println!(
        "model {}, prompt {PROMPT}, {NEW_TOKENS} new tokens, {seconds} s measured per run, {repeats} alternating repeats",
        model.display()
    );
    println!(
        "| concurrency | bare token loop (median tokens/s) | onnx-workbench (median tokens/s) | ratio of medians | harness cost per token |"
    );
    println!("|---|---|---|---|---|");
    for concurrency in [1, 2] {
        let config = config(concurrency, seconds);
        let (mut bare, mut ours) = (Vec::new(), Vec::new());
        for _ in 0..repeats {
            bare.push(bare_loop(&model, &config));
            ours.push(engine(&model, &config));
        }
        let (bare, ours) = (common::median(&mut bare), common::median(&mut ours));
        // Per token of one stream: the time each token took more (or less).
        let per_token_micros = f64::from(concurrency) * 1e6 * (1.0 / ours - 1.0 / bare);
        println!(
            "| {concurrency} | {bare:.1} | {ours:.1} | {:.1} % | {per_token_micros:+.1} µs |",
            100.0 * ours / bare
        );
    }
}
