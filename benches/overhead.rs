//! Load-generator overhead: onnx-workbench's closed loop against a bare
//! `Session::run` loop with identical sessions, inputs and thread counts.
//!
//! Run with `cargo bench --bench overhead -- [MODEL] [SECONDS] [REPEATS]`.
//! Prints one Markdown table row per concurrency level; the ratio is the
//! median engine throughput over the median bare-loop throughput.

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
    LayerProfiling, ProfileConfig, inputs,
    runtime::runtime,
    session::{ModelSource, build_session},
};
use ort::session::SessionInputValue;

fn config(concurrency: u32, seconds: f64) -> ProfileConfig {
    ProfileConfig {
        concurrency,
        intra_threads: 1,
        inter_threads: 1,
        duration_secs: Some(seconds),
        warmup_secs: 1.0,
        layer_profiling: LayerProfiling::Off,
        ..ProfileConfig::default()
    }
}

/// C threads, each with its own session, calling `run` back to back.
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
            let declared = inputs::declared_inputs(&session).expect("inputs");
            let prepared =
                inputs::prepare(&declared, config, &Default::default()).expect("prepare");
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name(format!("bare-{index}"))
                .spawn(move || {
                    let values = prepared.to_values().expect("values");
                    let views: Vec<SessionInputValue<'_>> =
                        values[0].iter().map(SessionInputValue::from).collect();
                    let started = Instant::now();
                    let mut count = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        drop(session.run(&views[..]).expect("run"));
                        if started.elapsed() >= warmup {
                            count += 1;
                        }
                    }
                    count
                })
                .expect("spawn")
        })
        .collect();
    std::thread::sleep(warmup + measured);
    stop.store(true, Ordering::Relaxed);
    let total: u64 = threads.into_iter().map(|t| t.join().expect("join")).sum();
    total as f64 / measured.as_secs_f64()
}

fn engine(model: &Path, config: &ProfileConfig) -> f64 {
    common::engine_run(model, config)
        .summary
        .expect("summary")
        .inferences_per_sec
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    let model = PathBuf::from(
        args.first()
            .map_or("sample_models/mlp.onnx", String::as_str),
    );
    let seconds: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let repeats: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    println!(
        "model {}, {seconds} s measured per run, {repeats} alternating repeats",
        model.display()
    );
    println!(
        "| concurrency | bare Session::run loop (median inf/s) | onnx-workbench (median inf/s) | ratio of medians | paired ratios: median (min to max) |"
    );
    println!("|---|---|---|---|---|");
    for concurrency in [1, 2] {
        let config = config(concurrency, seconds);
        let (mut bare, mut ours, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..repeats {
            // Adjacent runs share the machine's state, so their ratio is the
            // least noisy comparison on a shared virtual machine.
            let bare_run = bare_loop(&model, &config);
            let our_run = engine(&model, &config);
            ratios.push(100.0 * our_run / bare_run);
            bare.push(bare_run);
            ours.push(our_run);
        }
        let (min_ratio, max_ratio) = ratios
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
        let paired = common::median(&mut ratios);
        let (bare, ours) = (common::median(&mut bare), common::median(&mut ours));
        println!(
            "| {concurrency} | {bare:.0} | {ours:.0} | {:.1} % | {paired:.1} % ({min_ratio:.1} to {max_ratio:.1} %) |",
            100.0 * ours / bare
        );
    }
}
