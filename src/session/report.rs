//! The human summary printed by `profile` and `report`.

use std::fmt::Write as _;

use super::document::SessionDocument;
use crate::{
    engine::{LayerProfiling, LoadMode, RunStatus},
    metrics::LatencySummary,
    util::{format_bytes, format_count, format_micros},
};

/// Rows of the per-node table in the text report.
pub const REPORT_TOP_NODES: usize = 15;

/// Renders the whole session as plain text.
pub fn render_report(document: &SessionDocument) -> String {
    let mut out = String::new();
    let _ = write_report(&mut out, document);
    out
}

fn write_report(out: &mut String, document: &SessionDocument) -> std::fmt::Result {
    let run = &document.run;
    let config = &run.config;
    writeln!(
        out,
        "onnx-workbench {} session: {}{}",
        document.tool.version,
        run.status,
        run.stop_reason
            .map(|reason| format!(" ({})", format!("{reason:?}").to_lowercase()))
            .unwrap_or_default()
    )?;
    if let Some(failure) = &run.failure {
        writeln!(out, "error: {failure}")?;
    }
    if let Some(model) = &run.model {
        writeln!(
            out,
            "Model       {} ({}, sha256 {}, {} nodes, {} params)",
            model.file_name,
            format_bytes(model.size_bytes),
            model.sha256.get(..12).unwrap_or(&model.sha256),
            model.summary.node_count,
            format_count(model.summary.param_count),
        )?;
    }
    if let Some(transform) = &run.transform {
        out.push_str(&transform.render_text());
    }
    out.push_str(&crate::engine::remote::report_text(
        config.remote.as_ref(),
        run.remote.as_ref(),
        run.summary
            .as_ref()
            .and_then(|s| s.latency.map(|l| l.mean_micros)),
    ));
    let environment = &run.environment;
    if !environment.ort_version.is_empty() {
        writeln!(
            out,
            "Runtime     ONNX Runtime {} ({}), execution provider {}",
            environment.ort_version,
            environment.ort_source,
            run.execution_provider_used
                .map_or_else(|| "-".to_owned(), |ep| ep.to_string()),
        )?;
    }
    writeln!(
        out,
        "Machine     {} ({} logical cores), {} memory, {}; {}",
        if environment.cpu_model.is_empty() {
            "unknown CPU"
        } else {
            &environment.cpu_model
        },
        environment.logical_cores,
        format_bytes(environment.total_memory_bytes),
        environment.os_version,
        if environment.gpus.is_empty() {
            environment
                .gpu_note
                .clone()
                .unwrap_or_else(|| "no GPU".to_owned())
        } else {
            environment
                .gpus
                .iter()
                .map(|gpu| gpu.name.clone())
                .collect::<Vec<_>>()
                .join(", ")
        }
    )?;
    let load = match config.load {
        LoadMode::Closed => format!("closed loop, concurrency {}", config.num_workers()),
        LoadMode::Open {
            rate_per_sec,
            arrival,
        } => format!(
            "open loop, {rate_per_sec} req/s ({arrival:?} arrivals), {} workers",
            config.num_workers()
        )
        .to_lowercase(),
    };
    let duration = match (config.duration_secs, config.max_requests) {
        (Some(secs), Some(requests)) => format!("{secs} s or {requests} requests"),
        (Some(secs), None) => format!("{secs} s"),
        (None, Some(requests)) => format!("{requests} requests"),
        (None, None) => "-".to_owned(),
    };
    writeln!(
        out,
        "Config      {load}, {} instances, intra {} / inter {} threads{}, opt {}, warm-up {} s, {duration}{}",
        if config.batching.is_some() {
            config.num_instances()
        } else {
            config.num_instances().min(config.num_workers())
        },
        config.intra_threads,
        config.inter_threads,
        if config.parallel_execution {
            " (parallel)"
        } else {
            ""
        },
        config.opt_level,
        config.warmup_secs,
        if config.io_binding {
            ", I/O binding"
        } else {
            ""
        },
    )?;
    if config.execution_provider == crate::engine::ExecutionProviderKind::Cuda {
        writeln!(
            out,
            "CUDA        device {}, cuDNN conv algorithm search {}, CUDA graph {}",
            config.device_id,
            config.cuda.conv_algo_search,
            if config.cuda.cuda_graph { "on" } else { "off" },
        )?;
    }
    for input in &run.inputs {
        let source = match &input.source {
            crate::engine::inputs::InputSource::Synthetic => "synthetic".to_owned(),
            crate::engine::inputs::InputSource::Files { paths } => {
                format!("{} file(s)", paths.len())
            }
        };
        writeln!(
            out,
            "Input       {} {} {:?} ({source})",
            input.name, input.dtype, input.shape
        )?;
    }
    super::merge_report::write_sources(out, &document.merged_from)?;
    for note in &run.notes {
        writeln!(out, "note: {note}")?;
    }
    for warning in &run.warnings {
        writeln!(out, "warning: {warning}")?;
    }

    if let Some(summary) = &run.summary {
        writeln!(out)?;
        if let Some(generation) = &summary.generation {
            write_generation(out, generation)?;
        } else {
            writeln!(
                out,
                "Throughput  {:.1} inferences/s, {:.1} requests/s ({} ok, {} failed in {:.2} s, batch {})",
                summary.inferences_per_sec,
                summary.requests_per_sec,
                format_count(summary.requests_ok),
                format_count(summary.requests_failed),
                summary.measured_secs,
                summary.batch_size,
            )?;
            writeln!(
                out,
                "Latency     {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
                "min", "mean", "p50", "p90", "p95", "p99", "p99.9", "max"
            )?;
            let rows: [(&str, Option<&LatencySummary>); 4] = [
                ("end-to-end", summary.latency.as_ref()),
                ("queue", summary.queue.as_ref()),
                ("run", summary.service.as_ref()),
                ("lateness", summary.lateness.as_ref()),
            ];
            for (label, latency) in rows {
                if let Some(latency) = latency {
                    writeln!(
                        out,
                        "  {label:<10}{:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
                        format_micros(latency.min_micros),
                        format_micros(latency.mean_micros),
                        format_micros(latency.p50_micros),
                        format_micros(latency.p90_micros),
                        format_micros(latency.p95_micros),
                        format_micros(latency.p99_micros),
                        format_micros(latency.p999_micros),
                        format_micros(latency.max_micros),
                    )?;
                    if label == "end-to-end" {
                        write_intervals(out, latency)?;
                    }
                }
            }
            if summary.lateness.is_some() {
                writeln!(
                    out,
                    "            lateness is the generator's own delay in sending; queue is waiting for a free worker, session or core"
                )?;
            }
        }
        writeln!(out, "Stability   {}", summary.stability)?;
        if let Some(capacity) = summary.capacity_per_sec {
            writeln!(
                out,
                "Saturated   the backlog grew without bound; capacity about {capacity:.0} requests/s"
            )?;
        }
        if let Some(slo) = &summary.slo {
            write_slo(out, slo)?;
        }
        if let Some(generator) = &summary.generator {
            write_generator(out, generator)?;
        }
        if let Some(across) = &summary.across_runs {
            write_across_runs(out, summary, across)?;
        }
        match &summary.validity {
            Some(validity) => writeln!(out, "Validity    {}", validity.line())?,
            None => writeln!(
                out,
                "Validity    not judged (a session from before validity verdicts)"
            )?,
        }
        if let Some(batching) = &run.batching {
            write_batching(out, batching)?;
        }
        if summary.profiled_requests > 0 {
            writeln!(
                out,
                "            {} sampled-profiling requests are counted in throughput but not in the percentiles",
                format_count(summary.profiled_requests)
            )?;
        }
    }

    let timings = &run.timings;
    if !timings.session_create_micros.is_empty() || timings.first_run_micros.is_some() {
        let creates: Vec<String> = timings
            .session_create_micros
            .iter()
            .map(|m| format_micros(*m as f64))
            .collect();
        writeln!(
            out,
            "Startup     session creation {}; first inference {}{}",
            creates.join(", "),
            timings
                .first_run_micros
                .map_or_else(|| "-".to_owned(), |m| format_micros(m as f64)),
            timings
                .ort_session_initialization_micros
                .map(|m| format!("; ORT session_initialization {}", format_micros(m as f64)))
                .unwrap_or_default()
        )?;
    }
    if let Some(copies) = &run.host_copies {
        writeln!(
            out,
            "Host copies outside the timed runs (I/O binding, {} device, median of {}): inputs to device {} ({}, {:.2} GB/s), outputs to host {} ({}, {:.2} GB/s)",
            copies.device,
            copies.repetitions,
            format_micros(copies.host_to_device.median_micros),
            format_bytes(copies.host_to_device.bytes),
            copies.host_to_device.gigabytes_per_sec(),
            format_micros(copies.device_to_host.median_micros),
            format_bytes(copies.device_to_host.bytes),
            copies.device_to_host.gigabytes_per_sec(),
        )?;
    }
    if !run.telemetry.is_empty() {
        let mean_cpu = run
            .telemetry
            .iter()
            .map(|t| t.process_cpu_percent)
            .sum::<f64>()
            / run.telemetry.len() as f64;
        let peak_rss = run.telemetry.iter().map(|t| t.rss_bytes).max().unwrap_or(0);
        writeln!(
            out,
            "Resources   process CPU {mean_cpu:.0} % on average (100 % = one core), peak RSS {}",
            format_bytes(peak_rss)
        )?;
    }

    if !run.gpu_telemetry.is_empty() {
        let utilization: Vec<u32> = run
            .gpu_telemetry
            .iter()
            .filter_map(|g| g.utilization_percent)
            .collect();
        let mean = utilization.iter().map(|u| f64::from(*u)).sum::<f64>()
            / utilization.len().max(1) as f64;
        let peak_memory = run
            .gpu_telemetry
            .iter()
            .filter_map(|g| g.memory_used_bytes)
            .max()
            .unwrap_or(0);
        writeln!(
            out,
            "GPU         utilization {mean:.0} % on average over {} {}, peak device memory {}",
            run.gpu_telemetry.len(),
            super::merge_report::gpu_sources_text(&run.gpu_telemetry),
            format_bytes(peak_memory)
        )?;
    } else if let Some(note) = &run.gpu_telemetry_note {
        writeln!(out, "GPU         {note}")?;
    }
    if let Some(layers) = &run.layers {
        writeln!(out)?;
        writeln!(
            out,
            "Per-layer   {} ({} profiled runs, mean model_run {}, kernels {:.0} % of it){}",
            match layers.source {
                crate::metrics::layers::LayerSource::SeparatePass => "separate profiling pass",
                crate::metrics::layers::LayerSource::Sampled => "sampled during the load",
            },
            layers.runs,
            format_micros(layers.model_run_mean_micros),
            layers.kernel_share * 100.0,
            if config.opt_level == crate::engine::OptLevel::Disable {
                ""
            } else {
                "; node names are after graph optimization"
            }
        )?;
        let providers = layers.provider_summary();
        writeln!(out, "  providers: {providers}")?;
        if let Some(line) = crate::metrics::source_map::summary_line(layers) {
            writeln!(out, "  {line}")?;
        }
        for line in layers
            .memory
            .iter()
            .flat_map(crate::metrics::memory::summary_lines)
        {
            writeln!(out, "  {line}")?;
        }
        let gpu_nodes = providers.has_gpu_nodes();
        if gpu_nodes {
            writeln!(
                out,
                "  GPU nodes: ONNX Runtime times the host-side kernel launch, not the GPU work; their times below are launch times{}",
                if run.gpu_kernels.is_some() {
                    " and the gpu column is kernel time from CUPTI"
                } else {
                    ""
                }
            )?;
            match (&run.gpu_kernels, &run.gpu_kernels_note) {
                (Some(kernels), _) => {
                    let attributed = kernels.attributed_nanos();
                    writeln!(
                        out,
                        "  GPU kernels: busy {}, attributed to nodes {} ({:.0} %), {} kernels outside any node window ({})",
                        format_micros(kernels.gpu_busy_nanos as f64 / 1e3),
                        format_micros(attributed as f64 / 1e3),
                        if kernels.gpu_busy_nanos > 0 {
                            attributed as f64 * 100.0 / kernels.gpu_busy_nanos as f64
                        } else {
                            0.0
                        },
                        kernels.unattributed_kernels,
                        format_micros(kernels.unattributed_nanos as f64 / 1e3),
                    )?;
                }
                (None, Some(note)) => writeln!(out, "  GPU kernels: {note}")?,
                (None, None) => {}
            }
        }
        let gpu_time = |node: &str| -> String {
            run.gpu_kernels
                .as_ref()
                .and_then(|kernels| kernels.gpu_nanos_of(node))
                .map_or_else(|| "-".to_owned(), |nanos| format_micros(nanos as f64 / 1e3))
        };
        let with_gpu = run.gpu_kernels.is_some();
        writeln!(
            out,
            "  {:<34} {:<22} {:<8} {:>7} {:>10} {:>10} {:>10} {:>6}{}",
            "node",
            "op",
            "provider",
            "calls",
            if gpu_nodes { "total*" } else { "total" },
            "mean",
            "p90",
            "share",
            if with_gpu {
                format!(" {:>10}", "gpu")
            } else {
                String::new()
            }
        )?;
        for node in layers.nodes.iter().take(REPORT_TOP_NODES) {
            let is_launch = crate::metrics::layers::is_gpu_provider(&node.provider);
            writeln!(
                out,
                "  {:<34} {:<22} {:<8} {:>7} {:>10} {:>10} {:>10} {:>5.1}%{}",
                truncate(&node.node, 34),
                truncate(&node.op_type, 22),
                crate::metrics::layers::short_provider(&node.provider),
                format_count(node.calls),
                format!(
                    "{}{}",
                    format_micros(node.total_micros as f64),
                    if is_launch { "*" } else { "" }
                ),
                format_micros(node.mean_micros),
                format_micros(node.p90_micros),
                node.share * 100.0,
                if with_gpu {
                    format!(" {:>10}", gpu_time(&node.node))
                } else {
                    String::new()
                }
            )?;
        }
        if gpu_nodes {
            writeln!(
                out,
                "  * launch time on the host for nodes on a GPU provider"
            )?;
        }
        if layers.nodes.len() > REPORT_TOP_NODES {
            writeln!(
                out,
                "  … {} more nodes (see --json or --export-csv)",
                layers.nodes.len() - REPORT_TOP_NODES
            )?;
        }
        if layers.nodes.iter().any(|node| {
            node.flops.is_some() || node.bytes.is_some() || !node.source_nodes.is_empty()
        }) {
            super::cost_report::write_cost_table(
                out,
                layers,
                run.gpu_kernels.as_ref(),
                REPORT_TOP_NODES,
            )?;
        }
        writeln!(out, "  by op type:")?;
        for op in &layers.op_types {
            writeln!(
                out,
                "  {:<34} {:<22} {:<8} {:>7} {:>10} {:>10} {:>10} {:>5.1}%",
                truncate(&op.op_type, 34),
                format!("{} node{}", op.nodes, if op.nodes == 1 { "" } else { "s" }),
                op.provider.trim_end_matches("ExecutionProvider"),
                format_count(op.calls),
                format_micros(op.total_micros as f64),
                "",
                "",
                op.share * 100.0
            )?;
        }
        write_phases(out, &run.phase_layers)?;
    } else if let Some(reason) = &run.layer_profiling_error {
        writeln!(out, "Per-layer   not available: {reason}")?;
    } else if config.layer_profiling == LayerProfiling::Off {
        writeln!(out, "Per-layer   off")?;
    }

    if run.errors.count > 0 {
        writeln!(out)?;
        writeln!(
            out,
            "Errors      {} failed requests; first messages:",
            format_count(run.errors.count)
        )?;
        for message in &run.errors.first_messages {
            writeln!(out, "  - {message}")?;
        }
    }
    if run.status == RunStatus::Stopped {
        writeln!(
            out,
            "The run was stopped early; the figures above cover what was measured."
        )?;
    }
    Ok(())
}

/// Most batch sizes listed on the batching line; the rest are counted.
const MAX_LISTED_BATCH_SIZES: usize = 16;

/// The batching lines: settings, mean batch size and the histogram of
/// executed batch sizes (the most frequent sizes, smallest first).
fn write_batching(out: &mut String, batching: &crate::engine::BatchingReport) -> std::fmt::Result {
    let preferred = if batching.preferred.is_empty() {
        "none".to_owned()
    } else {
        batching
            .preferred
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    let mean = batching
        .mean_batch_size
        .map_or_else(|| "-".to_owned(), |mean| format!("{mean:.2}"));
    writeln!(
        out,
        "Batching    max batch {}, delay {}, preferred {preferred}: mean batch {mean} rows over {} batches",
        batching.max_batch,
        format_micros(batching.delay_micros as f64),
        format_count(batching.num_batches()),
    )?;
    let mut listed = batching.batch_sizes.clone();
    listed.sort_by(|a, b| b.count.cmp(&a.count).then(a.size.cmp(&b.size)));
    let others = listed.len().saturating_sub(MAX_LISTED_BATCH_SIZES);
    listed.truncate(MAX_LISTED_BATCH_SIZES);
    listed.sort_by_key(|entry| entry.size);
    if !listed.is_empty() {
        let sizes = listed
            .iter()
            .map(|entry| format!("{}×{}", entry.size, format_count(entry.count)))
            .collect::<Vec<_>>()
            .join("  ");
        let more = if others > 0 {
            format!("  (+{others} rarer sizes)")
        } else {
            String::new()
        };
        writeln!(out, "            batch sizes (rows×batches): {sizes}{more}")?;
    }
    Ok(())
}

/// The 95 % intervals of the end-to-end percentiles, under their row.
/// Generative runs: where each phase spends its time, top nodes first.
fn write_phases(
    out: &mut String,
    phases: &[crate::metrics::layers::LayerReport],
) -> std::fmt::Result {
    const TOP: usize = 8;
    for report in phases {
        writeln!(
            out,
            "Phase       {}: {} runs, mean model_run {}; the nodes it spends most on",
            report.phase.as_deref().unwrap_or("-"),
            format_count(report.runs),
            format_micros(report.model_run_mean_micros),
        )?;
        let mut nodes: Vec<_> = report.nodes.iter().collect();
        nodes.sort_by_key(|node| std::cmp::Reverse(node.total_micros));
        for node in nodes.iter().take(TOP) {
            writeln!(
                out,
                "  {:<34} {:<22} {:>10} {:>10} {:>5.1}%",
                truncate(&node.node, 34),
                truncate(&node.op_type, 22),
                format_micros(node.mean_micros),
                format_micros(node.total_micros as f64),
                node.share * 100.0
            )?;
        }
    }
    Ok(())
}

/// The generative table: tokens per second, then TTFT, ITL, TPOT and
/// end-to-end percentiles, goodput and the KV cache.
fn write_generation(
    out: &mut String,
    generation: &crate::metrics::generation::GenerationSummary,
) -> std::fmt::Result {
    writeln!(
        out,
        "Tokens      {:.1} output tokens/s, {:.1} prompt tokens/s, {:.2} requests/s ({} requests, {} output tokens)",
        generation.output_tokens_per_sec,
        generation.prompt_tokens_per_sec,
        generation.requests_per_sec,
        format_count(generation.requests),
        format_count(generation.output_tokens),
    )?;
    writeln!(
        out,
        "Generation  {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "min", "mean", "p50", "p90", "p95", "p99", "p99.9", "max"
    )?;
    let rows = [
        ("TTFT", generation.ttft.as_ref()),
        ("ITL", generation.itl.as_ref()),
        ("TPOT", generation.tpot.as_ref()),
        ("end-to-end", generation.e2e.as_ref()),
    ];
    for (label, latency) in rows {
        if let Some(latency) = latency {
            writeln!(
                out,
                "  {label:<10}{:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
                format_micros(latency.min_micros),
                format_micros(latency.mean_micros),
                format_micros(latency.p50_micros),
                format_micros(latency.p90_micros),
                format_micros(latency.p95_micros),
                format_micros(latency.p99_micros),
                format_micros(latency.p999_micros),
                format_micros(latency.max_micros),
            )?;
        }
    }
    writeln!(
        out,
        "            TTFT and end-to-end count from the intended arrival; ITL is every gap between tokens ({} gaps), TPOT = (end-to-end − TTFT) / (output tokens − 1)",
        generation.itl.as_ref().map_or(0, |itl| itl.count)
    )?;
    for (label, latency) in [
        ("TTFT", generation.ttft.as_ref()),
        ("ITL", generation.itl.as_ref()),
    ] {
        if let Some(latency) = latency
            && let (Some(p50), Some(p99)) = (latency.p50_ci_micros, latency.p99_ci_micros)
        {
            writeln!(
                out,
                "  {label:<10}95 % CI: p50 {}–{}, p99 {}–{}",
                format_micros(p50[0]),
                format_micros(p50[1]),
                format_micros(p99[0]),
                format_micros(p99[1]),
            )?;
        }
    }
    if let (Some(slo), Some(goodput), Some(share)) = (
        &generation.slo,
        generation.goodput_per_sec,
        generation.slo_pass_share,
    ) {
        writeln!(
            out,
            "Goodput     {goodput:.2} requests/s met {slo} ({:.1} % of requests; each request judged on its own TTFT, largest gap, TPOT and end-to-end)",
            share * 100.0
        )?;
    }
    if let Some(kv) = &generation.kv_cache {
        writeln!(
            out,
            "KV cache    {} per token; peak {} held by the running sequences (estimate before the run: {})",
            format_bytes(kv.bytes_per_token),
            format_bytes(kv.peak_bytes),
            format_bytes(kv.budget_estimate_bytes),
        )?;
    }
    Ok(())
}

fn write_intervals(out: &mut String, latency: &LatencySummary) -> std::fmt::Result {
    let cells = [
        latency.p50_ci_micros,
        latency.p90_ci_micros,
        latency.p95_ci_micros,
        latency.p99_ci_micros,
        latency.p999_ci_micros,
    ];
    if cells.iter().all(Option::is_none) {
        return Ok(());
    }
    let cell = |interval: Option<[f64; 2]>| {
        interval.map_or_else(
            || "-".to_owned(),
            |[low, high]| format!("±{}", format_micros((high - low) / 2.0)),
        )
    };
    writeln!(
        out,
        "  {:<10}{:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "95% CI",
        "",
        "",
        cell(cells[0]),
        cell(cells[1]),
        cell(cells[2]),
        cell(cells[3]),
        cell(cells[4]),
    )
}

/// The figures over `--repeat` runs, next to a single run's interval.
fn write_across_runs(
    out: &mut String,
    summary: &crate::metrics::RunSummary,
    across: &crate::metrics::repeats::AcrossRuns,
) -> std::fmt::Result {
    writeln!(
        out,
        "Across     {} runs of this config ({:.0} % intervals; the last run is shown above):",
        across.runs,
        across.confidence * 100.0
    )?;
    for figure in &across.figures {
        let show = |value: f64| {
            if figure.name == "inferences_per_sec" {
                format!("{value:.1}/s")
            } else {
                format_micros(value)
            }
        };
        let label = figure
            .name
            .trim_end_matches("_micros")
            .replace("inferences_per_sec", "throughput")
            .replace("p999", "p99.9");
        writeln!(
            out,
            "  {label:<10} mean {:>10}  sd {:>9}  mean in {}–{}  a next run in {}–{}",
            show(figure.mean),
            show(figure.sd),
            show(figure.mean_ci[0]),
            show(figure.mean_ci[1]),
            show(figure.next_run[0]),
            show(figure.next_run[1]),
        )?;
    }
    if let (Some(figure), Some([low, high])) = (
        across.figure("p99_micros"),
        summary.latency.as_ref().and_then(|l| l.p99_ci_micros),
    ) {
        let half = (high - low) / 2.0;
        if half > 0.0 && figure.sd > half / 1.96 {
            writeln!(
                out,
                "            the runs' p99 differ more (sd {}) than one run's interval allows (±{}): decide from the figures across runs",
                format_micros(figure.sd),
                format_micros(half)
            )?;
        }
    }
    Ok(())
}

fn write_slo(out: &mut String, slo: &crate::metrics::SloOutcome) -> std::fmt::Result {
    let decision = match slo.decision {
        crate::metrics::confidence::SloDecision::Pass => "PASS",
        crate::metrics::confidence::SloDecision::Fail => "FAIL",
        crate::metrics::confidence::SloDecision::Undecided => "UNDECIDED",
    };
    write!(
        out,
        "SLO         {}<={}: {decision} at {:.0} % confidence ({} of {} requests over; worth {:.0} independent requests)",
        slo.bound.percentile,
        format_micros(slo.bound.bound_micros),
        slo.confidence * 100.0,
        format_count(slo.over_bound),
        format_count(slo.requests),
        slo.effective_requests,
    )?;
    if slo.stopped_early {
        write!(out, "; stopped early, decided")?;
    }
    if let Some(needed) = slo.requests_needed {
        write!(
            out,
            "; about {} more requests would decide it",
            format_count(needed)
        )?;
    }
    writeln!(out)
}

fn write_generator(
    out: &mut String,
    generator: &crate::metrics::GeneratorReport,
) -> std::fmt::Result {
    let mut parts = Vec::new();
    if let Some(micros) = generator.harness_cpu_micros_per_request {
        parts.push(format!("{} CPU per request", format_micros(micros)));
    }
    if let Some(share) = generator.harness_cpu_share {
        parts.push(format!("{:.1} % of the process's CPU", share * 100.0));
    }
    if let Some(micros) = generator.spin_cpu_micros_per_request {
        parts.push(format!(
            "spinning {} per request on idle cores",
            format_micros(micros)
        ));
    }
    if let Some(spin) = &generator.spin {
        let spun = generator.spun_share.map_or_else(String::new, |share| {
            format!(", {:.0} % of waits spun", share * 100.0)
        });
        parts.push(format!("spin {spin}{spun}"));
    }
    if parts.is_empty() {
        return Ok(());
    }
    writeln!(out, "Harness     {}", parts.join(", "))
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        let kept: String = text.chars().take(width.saturating_sub(1)).collect();
        format!("{kept}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        engine::{BatchingConfig, BatchingReport},
        metrics::BatchSizeCount,
    };

    #[test]
    fn the_batching_line_lists_the_most_frequent_sizes() {
        let config = BatchingConfig {
            max_batch: 32,
            delay_micros: 500,
            preferred: vec![8, 16],
        };
        let sizes: Vec<BatchSizeCount> = (1..=20)
            .map(|size| BatchSizeCount {
                size,
                count: u64::from(size),
            })
            .collect();
        let report = BatchingReport::new(&config, sizes);
        let mut out = String::new();
        write_batching(&mut out, &report).expect("write");
        assert!(out.contains("max batch 32"), "{out}");
        assert!(out.contains("preferred 8,16"), "{out}");
        assert!(
            out.contains("mean batch 13.67 rows over 210 batches"),
            "{out}"
        );
        assert!(out.contains("20×20") && !out.contains(" 4×4"), "{out}");
        assert!(out.contains("(+4 rarer sizes)"), "{out}");
    }
}
