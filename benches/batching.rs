//! Dynamic batching: (1) batched against unbatched at the same client
//! count, throughput and p99 side by side; (2) the batcher's own cost per
//! request against a bare loop that calls `Session::run` on a pre-built
//! batch of the same size.
//!
//! Run with `cargo bench --bench batching -- [MODEL] [SECONDS]`. Prints two
//! Markdown tables.

#[expect(dead_code, reason = "this benchmark takes no medians")]
mod common;

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use onnx_workbench::engine::{
    BatchingConfig, LayerProfiling, ProfileConfig, RunRecord,
    inputs::{self, TensorData},
    runtime::runtime,
    session::{ModelSource, build_session},
};
use ort::session::SessionInputValue;

fn base(concurrency: u32, seconds: f64) -> ProfileConfig {
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

fn batched(concurrency: u32, seconds: f64, max_batch: u32, delay_micros: u64) -> ProfileConfig {
    ProfileConfig {
        batching: Some(BatchingConfig {
            max_batch,
            delay_micros,
            preferred: Vec::new(),
        }),
        ..base(concurrency, seconds)
    }
}

fn engine(model: &Path, config: &ProfileConfig) -> RunRecord {
    common::engine_run(model, config)
}

/// (requests/s, p99 µs, mean batch rows) of a run.
fn figures(record: &RunRecord) -> (f64, f64, Option<f64>) {
    let summary = record.summary.as_ref().expect("summary");
    (
        summary.requests_per_sec,
        summary
            .latency
            .map_or(f64::NAN, |latency| latency.p99_micros),
        record
            .batching
            .as_ref()
            .and_then(|batching| batching.mean_batch_size),
    )
}

/// One thread, one session, `Session::run` back to back on a batch of
/// `rows` rows built once. Returns rows per second.
fn bare_batched_loop(model: &Path, rows: u32, seconds: f64) -> f64 {
    let config = base(1, seconds);
    let mut session = build_session(
        runtime().expect("ONNX Runtime"),
        ModelSource::File(model),
        &config,
        None,
    )
    .expect("session")
    .session;
    let declared = inputs::declared_inputs(&session).expect("inputs");
    let prepared = inputs::prepare(&declared, &config, &Default::default()).expect("prepare");
    let values: Vec<_> = prepared
        .specs
        .iter()
        .zip(&prepared.variants[0])
        .map(|(spec, data)| {
            let parts: Vec<&TensorData> = (0..rows).map(|_| data).collect();
            let joined = TensorData::concat_rows(&parts).expect("concat");
            let mut shape = spec.shape.clone();
            shape[0] *= i64::from(rows);
            joined.to_value(&shape).expect("value")
        })
        .collect();
    let views: Vec<SessionInputValue<'_>> = values.iter().map(SessionInputValue::from).collect();
    let warmup = Duration::from_secs_f64(config.warmup_secs);
    let started = Instant::now();
    while started.elapsed() < warmup {
        drop(session.run(&views[..]).expect("run"));
    }
    let measured = Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut runs = 0u64;
    while started.elapsed() < measured {
        drop(session.run(&views[..]).expect("run"));
        runs += 1;
    }
    (runs * u64::from(rows)) as f64 / started.elapsed().as_secs_f64()
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
    let seconds: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(3.0);
    println!(
        "model {}, {seconds} s measured per run, 1 s warm-up",
        model.display()
    );
    println!();
    println!(
        "| clients | unbatched, a session per client: req/s | p99 | batched, 1 session, max batch = clients: req/s | p99 | mean batch | gain | batched, 2 sessions, max batch = clients / 2: req/s | p99 | mean batch | gain |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for clients in [1u32, 8, 16, 32] {
        let (plain_rps, plain_p99, _) = figures(&engine(&model, &base(clients, seconds)));
        let mut cells = format!("| {clients} | {plain_rps:.0} | {plain_p99:.0} µs |");
        // One session with max batch = clients, then two sessions (one per
        // core) with max batch = clients / 2, so both can be busy; delay 1 ms.
        for instances in [1u32, 2] {
            let config = ProfileConfig {
                instances: Some(instances),
                ..batched(clients, seconds, (clients / instances).max(1), 1000)
            };
            let (rps, p99, mean) = figures(&engine(&model, &config));
            cells.push_str(&format!(
                " {rps:.0} | {p99:.0} µs | {:.2} | {:+.0} % |",
                mean.unwrap_or(f64::NAN),
                100.0 * (rps / plain_rps - 1.0)
            ));
        }
        println!("{cells}");
    }
    println!();
    println!(
        "| batch rows | bare batched Session::run loop: rows/s | batched load (clients = rows): req/s | mean batch | batcher cost per request |"
    );
    println!("|---|---|---|---|---|");
    for rows in [8u32, 16, 32] {
        let bare = bare_batched_loop(&model, rows, seconds);
        // As many clients as rows and a long delay: every batch fills to
        // `rows` and runs at once, so both sides run the same batches.
        let (ours, _, mean) = figures(&engine(&model, &batched(rows, seconds, rows, 100_000)));
        let cost_micros = 1e6 / ours - 1e6 / bare;
        println!(
            "| {rows} | {bare:.0} | {ours:.0} | {:.2} | {cost_micros:.2} µs |",
            mean.unwrap_or(f64::NAN)
        );
    }
}
