use super::*;

/// Shaped like ONNX Runtime 1.31's output: one intra thread gives
/// `thread_scheduling_stats: ""`, more give an object.
const PROFILE: &str = r#"[
  {"cat":"Session","pid":1,"tid":1,"dur":900,"ts":10,"ph":"X","name":"model_loading_uri","args":{}},
  {"cat":"Session","pid":1,"tid":1,"dur":4000,"ts":1000,"ph":"X","name":"session_initialization","args":{}},
  {"cat":"Node","pid":1,"tid":1,"dur":0,"ts":5000,"ph":"X","name":"fc1_fence_before","args":{"op_name":"Gemm"}},
  {"cat":"Node","pid":1,"tid":1,"dur":30,"ts":5001,"ph":"X","name":"fc1_kernel_time","args":{"op_name":"Gemm","provider":"CPUExecutionProvider","thread_scheduling_stats":"","input_type_shape":[{"float":[1,256]},{"float":[512,256]}]}},
  {"cat":"Node","pid":1,"tid":1,"dur":10,"ts":5040,"ph":"X","name":"relu1_kernel_time","args":{"op_name":"Relu","provider":"CPUExecutionProvider","thread_scheduling_stats":{"main_thread":{"thread_pool_name":"x"}}}},
  {"cat":"Session","pid":1,"tid":1,"dur":50,"ts":5000,"ph":"X","name":"model_run","args":{}},
  {"cat":"Node","pid":1,"tid":1,"dur":50,"ts":6001,"ph":"X","name":"fc1_kernel_time","args":{"op_name":"Gemm","provider":"CPUExecutionProvider","thread_scheduling_stats":""}},
  {"cat":"Node","pid":1,"tid":1,"dur":10,"ts":6060,"ph":"X","name":"relu1_kernel_time","args":{"op_name":"Relu","provider":"CPUExecutionProvider"}},
  {"cat":"Session","pid":1,"tid":1,"dur":100,"ts":6000,"ph":"X","name":"model_run","args":{}}
]"#;

#[test]
fn parses_node_and_session_events() {
    let parsed = parse_profile(PROFILE).expect("parse");
    assert_eq!(parsed.nodes.len(), 4, "fence events are skipped");
    assert_eq!(parsed.runs.len(), 2);
    assert_eq!(parsed.session_initialization_micros, Some(4000));
    assert_eq!(parsed.model_loading_micros, Some(900));
    assert_eq!(parsed.input_shapes["fc1"], "float[1,256] float[512,256]");
    assert_eq!(parsed.nodes[0].op_type, "Gemm");
}

#[test]
fn aggregates_per_node_and_op_type_with_shares() {
    let mut aggregator = LayerAggregator::new(LayerSource::SeparatePass);
    aggregator.add(parse_profile(PROFILE).expect("parse"), 0);
    let report = aggregator.report();
    assert_eq!(report.runs, 2);
    assert_eq!(report.model_run_total_micros, 150);
    assert_eq!(report.nodes[0].node, "fc1");
    assert_eq!(report.nodes[0].calls, 2);
    assert_eq!(report.nodes[0].total_micros, 80);
    assert!((report.nodes[0].mean_micros - 40.0).abs() < 1e-9);
    assert!((report.nodes[0].share - 80.0 / 150.0).abs() < 1e-9);
    assert_eq!(report.op_types.len(), 2);
    assert_eq!(report.op_types[1].op_type, "Relu");
    assert_eq!(report.op_types[1].total_micros, 20);
    assert!((report.kernel_share - 100.0 / 150.0).abs() < 1e-9);
}

/// Shaped like a CUDA-provider run: shape ops and copies fall to the CPU.
const MIXED_PROFILE: &str = r#"[
  {"cat":"Node","pid":1,"tid":1,"dur":5,"ts":100,"ph":"X","name":"conv1_kernel_time","args":{"op_name":"Conv","provider":"CUDAExecutionProvider"}},
  {"cat":"Node","pid":1,"tid":1,"dur":5,"ts":106,"ph":"X","name":"conv2_kernel_time","args":{"op_name":"Conv","provider":"CUDAExecutionProvider"}},
  {"cat":"Node","pid":1,"tid":1,"dur":5,"ts":112,"ph":"X","name":"gemm_kernel_time","args":{"op_name":"Gemm","provider":"CUDAExecutionProvider"}},
  {"cat":"Node","pid":1,"tid":1,"dur":2,"ts":118,"ph":"X","name":"shape1_kernel_time","args":{"op_name":"Shape","provider":"CPUExecutionProvider"}},
  {"cat":"Node","pid":1,"tid":1,"dur":2,"ts":121,"ph":"X","name":"shape2_kernel_time","args":{"op_name":"Shape","provider":"CPUExecutionProvider"}},
  {"cat":"Node","pid":1,"tid":1,"dur":2,"ts":124,"ph":"X","name":"gather_kernel_time","args":{"op_name":"Gather","provider":"CPUExecutionProvider"}},
  {"cat":"Session","pid":1,"tid":1,"dur":40,"ts":99,"ph":"X","name":"model_run","args":{}}
]"#;

#[test]
fn the_provider_summary_names_the_nodes_that_fell_back() {
    let mut aggregator = LayerAggregator::new(LayerSource::SeparatePass);
    aggregator.add(parse_profile(MIXED_PROFILE).expect("parse"), 0);
    let summary = aggregator.report().provider_summary();
    assert!(summary.has_gpu_nodes());
    assert_eq!(
        summary.to_string(),
        "3 of 6 nodes on CUDA; 3 on CPU: Shape ×2, Gather"
    );

    let mut cpu_only = LayerAggregator::new(LayerSource::SeparatePass);
    cpu_only.add(parse_profile(PROFILE).expect("parse"), 0);
    let summary = cpu_only.report().provider_summary();
    assert!(!summary.has_gpu_nodes());
    assert_eq!(summary.to_string(), "2 of 2 nodes on CPU");
    assert_eq!(short_provider("CUDAExecutionProvider"), "CUDA");
}

#[test]
fn the_timeline_has_one_column_per_profiled_run() {
    let mut aggregator = LayerAggregator::new(LayerSource::SeparatePass);
    aggregator.add(parse_profile(PROFILE).expect("parse"), 0);
    let timeline = aggregator.report().timeline.expect("timeline");
    assert_eq!(timeline.axis, TimelineAxis::ProfiledRun);
    assert_eq!(timeline.nodes, vec!["fc1".to_owned(), "relu1".to_owned()]);
    assert_eq!(timeline.columns.len(), 2);
    assert_eq!(timeline.columns[0].mean_micros, vec![30.0, 10.0]);
    assert_eq!(timeline.columns[1].mean_micros, vec![50.0, 10.0]);

    let mut sampled = LayerAggregator::new(LayerSource::Sampled);
    sampled.add_at(parse_profile(PROFILE).expect("parse"), 7);
    let timeline = sampled.report().timeline.expect("timeline");
    assert_eq!(timeline.columns.len(), 1);
    assert_eq!(timeline.columns[0].index, 7);
    assert_eq!(timeline.columns[0].runs, 2);
    assert_eq!(timeline.columns[0].mean_micros, vec![40.0, 10.0]);
}

#[test]
fn skipped_warmup_runs_are_left_out() {
    let mut aggregator = LayerAggregator::new(LayerSource::SeparatePass);
    aggregator.add(parse_profile(PROFILE).expect("parse"), 1);
    let report = aggregator.report();
    assert_eq!(report.runs, 1);
    assert_eq!(report.nodes[0].calls, 1);
    assert_eq!(report.nodes[0].total_micros, 50);
}

/// Two node events captured from ONNX Runtime 1.31's profile of ResNet-50
/// (opset 9, 1×3×224×224, level `all`): the stem Conv after the NCHWc
/// rewrite and the final Gemm, whose prepacked weight is not listed.
const RESNET_PROFILE: &str = r#"[
  {"cat": "Node", "pid": 10851, "tid": 10851, "dur": 2260, "ts": 374991, "ph": "X", "name": "r2_nchwc_kernel_time", "args": {"mem_in_use_delta": "4194304", "provider": "CPUExecutionProvider", "mem_in_use_peak": "12451856", "parameter_size": "37888", "thread_scheduling_stats": "", "mem_arena_held_delta": "4194304", "mem_bytes_in_use": "12451856", "output_type_shape": [{"float": [1, 64, 112, 112]}], "node_index": "448", "op_name": "Conv", "activation_size": "602112", "mem_bytes_requested_in_use": "11468816", "input_type_shape": [{"float": [1, 3, 224, 224]}, {"float": [64, 3, 7, 7]}, {"float": [64]}], "output_size": "3211264", "mem_arena_held": "12451856", "mem_requested_in_use_delta": "3211264"}},
  {"cat": "Node", "pid": 10851, "tid": 10851, "dur": 382, "ts": 451467, "ph": "X", "name": "n174_kernel_time", "args": {"mem_bytes_requested_in_use": "8269744", "mem_arena_held_delta": "0", "output_type_shape": [{"float": [1, 1000]}], "mem_in_use_peak": "14458896", "thread_scheduling_stats": "", "mem_arena_held": "16646160", "op_name": "Gemm", "node_index": "413", "mem_in_use_delta": "4096", "provider": "CPUExecutionProvider", "parameter_size": "4000", "input_type_shape": [{"float": [1, 2048]}, {"float": [1000]}], "output_size": "4000", "mem_requested_in_use_delta": "4000", "mem_bytes_in_use": "8269840", "activation_size": "8192"}},
  {"cat": "Session", "pid": 10851, "tid": 10851, "dur": 80000, "ts": 370000, "ph": "X", "name": "model_run", "args": {}}
]"#;

#[test]
fn output_shapes_and_sizes_are_parsed_and_costed() {
    let parsed = parse_profile(RESNET_PROFILE).expect("parse");
    assert_eq!(parsed.output_shapes["r2_nchwc"], "float[1,64,112,112]");
    let io = &parsed.node_io["r2_nchwc"];
    assert_eq!(io.activation_bytes, Some(602_112));
    assert_eq!(io.parameter_bytes, Some(37_888));
    assert_eq!(io.output_bytes, Some(3_211_264));
    assert_eq!(io.inputs.len(), 3);
    assert_eq!(io.inputs[1].dims, vec![64, 3, 7, 7]);
    assert_eq!(io.outputs[0].dtype, "float");

    let mut aggregator = LayerAggregator::new(LayerSource::SeparatePass);
    aggregator.add(parsed, 0);
    let report = aggregator.report();
    let stem = report
        .nodes
        .iter()
        .find(|node| node.node == "r2_nchwc")
        .expect("stem");
    assert_eq!(stem.output_shapes, "float[1,64,112,112]");
    // 2 · 64·112·112 · 3·7·7
    assert_eq!(stem.flops, Some(236_027_904.0));
    assert_eq!(stem.bytes, Some((602_112 + 37_888 + 3_211_264) as f64));
    let fc = report
        .nodes
        .iter()
        .find(|node| node.node == "n174")
        .expect("fc");
    assert_eq!(fc.flops, Some(2.0 * 2048.0 * 1000.0));
    // The listed sizes plus the prepacked 2048×1000 float weight.
    assert_eq!(fc.bytes, Some((8192 + 4000 + 4000) as f64 + 8_192_000.0));
    // The short test profile has no sizes: bytes from the shapes.
    let mut small = LayerAggregator::new(LayerSource::SeparatePass);
    small.add(parse_profile(PROFILE).expect("parse"), 0);
    let small = small.report();
    assert_eq!(small.nodes[0].output_shapes, "");
    assert_eq!(small.nodes[0].flops, None, "no output shape: not counted");
}

#[test]
fn malformed_profiles_are_errors() {
    assert!(parse_profile("{not json").is_err());
    assert!(parse_profile(r#"{"an":"object"}"#).is_err());
    assert_eq!(
        parse_profile("[]").expect("empty array"),
        ParsedProfile::default()
    );
}
