//! The `profile` command line that runs a config again: the inverse of
//! `ProfileArgs::to_config`, beside the flags it writes. A sweep's
//! recommendation, the window's Tune tab and a saved mix file
//! ([`super::mix_toml`]) use it; the window gets it through
//! `ui::CommandLine`, since `ui` cannot import `cli`.

use std::path::Path;

use crate::{
    engine::{
        Arrival, ExecutionProviderKind, LayerProfiling, LoadMode, OptLevel, ProfileConfig,
        config::DEFAULT_SEED,
    },
    transform::{Int8Mode, Precision},
};

fn value_name<T: clap::ValueEnum>(value: &T) -> String {
    value
        .to_possible_value()
        .map_or_else(String::new, |v| v.get_name().to_owned())
}

fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

fn secs_flag(secs: f64) -> String {
    let millis = (secs * 1e3).round();
    if millis % 1000.0 == 0.0 {
        format!("{}s", millis / 1e3)
    } else {
        format!("{millis}ms")
    }
}

/// The `profile` command line that runs `config` on `model` again.
pub fn profile_command(model: Option<&Path>, config: &ProfileConfig) -> String {
    let mut args: Vec<String> = vec!["onnx-workbench".to_owned(), "profile".to_owned()];
    if let Some(model) = model {
        args.push(shell_quote(&model.display().to_string()));
    }
    for (name, value) in profile_flags(config) {
        args.push(format!("--{name}"));
        if let Some(value) = value {
            args.push(shell_quote(&value));
        }
    }
    args.join(" ")
}

/// The `profile` flags that set `config` (those that differ from the
/// defaults), in order, each with its value (`None` for a switch). A
/// header's value is never included: the user fills it in again.
pub fn profile_flags(config: &ProfileConfig) -> Vec<(&'static str, Option<String>)> {
    let defaults = ProfileConfig::default();
    let mut args = Vec::new();
    let mut flag = |name: &'static str, value: Option<String>| args.push((name, value));
    if let Some(target) = &config.remote {
        flag("target", Some(target.url.clone()));
        flag("model-name", Some(target.model_name.clone()));
        if let Some(version) = &target.model_version {
            flag("model-version", Some(version.clone()));
        }
        if target.timeout_millis != crate::engine::target::DEFAULT_TIMEOUT_MILLIS {
            flag("timeout", Some(format!("{}ms", target.timeout_millis)));
        }
        if let Some(channels) = target.grpc_channels {
            flag("grpc-channels", Some(channels.to_string()));
        }
        // Values are never printed: the user fills them in again.
        for header in target.headers.iter() {
            flag("header", Some(header.to_string()));
        }
    }
    if config.execution_provider != ExecutionProviderKind::Cpu {
        flag("ep", Some(value_name(&config.execution_provider)));
        if config.device_id != 0 {
            flag("device-id", Some(config.device_id.to_string()));
        }
    }
    if config.allow_fallback {
        flag("allow-fallback", None);
    }
    if config.io_binding {
        flag("io-binding", None);
    }
    if config.cuda.cuda_graph {
        flag("cuda-graph", None);
    }
    if config.cuda.conv_algo_search != defaults.cuda.conv_algo_search {
        flag(
            "cudnn-conv-algo",
            Some(value_name(&config.cuda.conv_algo_search)),
        );
    }
    if config.intra_threads != defaults.intra_threads {
        flag("intra-threads", Some(config.intra_threads.to_string()));
    }
    if config.inter_threads != defaults.inter_threads {
        flag("inter-threads", Some(config.inter_threads.to_string()));
    }
    if config.parallel_execution {
        flag("parallel", None);
    }
    if config.opt_level != OptLevel::All {
        flag("opt-level", Some(value_name(&config.opt_level)));
    }
    if let Some(instances) = config.instances {
        flag("instances", Some(instances.to_string()));
    }
    if let Some(batch) = config.batch {
        flag("batch", Some(batch.to_string()));
    }
    for (name, value) in &config.dims {
        flag("dim", Some(format!("{name}={value}")));
    }
    for (name, shape) in &config.shapes {
        let dims: Vec<String> = shape.iter().map(i64::to_string).collect();
        flag("shape", Some(format!("{name}={}", dims.join(","))));
    }
    if let Some(bytes) = config.max_input_bytes {
        flag("max-input-bytes", Some(bytes.to_string()));
    }
    for file in &config.input_files {
        let value = if file.name.is_empty() {
            file.path.display().to_string()
        } else {
            format!("{}={}", file.name, file.path.display())
        };
        flag("input", Some(value));
    }
    if config.seed != DEFAULT_SEED {
        flag("seed", Some(config.seed.to_string()));
    }
    if config.concurrency != 1 {
        flag("concurrency", Some(config.concurrency.to_string()));
    }
    if let LoadMode::Open {
        rate_per_sec,
        arrival,
    } = config.load
    {
        flag("rate", Some(rate_per_sec.to_string()));
        if arrival != Arrival::Poisson {
            flag("arrival", Some(value_name(&arrival)));
        }
    }
    if let Some(batching) = &config.batching {
        flag("max-batch", Some(batching.max_batch.to_string()));
        flag("batch-delay", Some(format!("{}us", batching.delay_micros)));
        if !batching.preferred.is_empty() {
            let sizes: Vec<String> = batching.preferred.iter().map(u32::to_string).collect();
            flag("preferred-batch", Some(sizes.join(",")));
        }
    }
    if let Some(secs) = config.duration_secs {
        flag("duration", Some(secs_flag(secs)));
    }
    if let Some(requests) = config.max_requests {
        flag("requests", Some(requests.to_string()));
    }
    if config.warmup_secs != defaults.warmup_secs {
        flag("warmup", Some(secs_flag(config.warmup_secs)));
    }
    match config.layer_profiling {
        LayerProfiling::Off => flag("no-layer-profile", None),
        LayerProfiling::Sampled { every } => flag("profile-every", Some(every.to_string())),
        LayerProfiling::SeparatePass { runs }
            if runs != crate::engine::config::DEFAULT_PROFILE_RUNS =>
        {
            flag("profile-runs", Some(runs.to_string()));
        }
        LayerProfiling::SeparatePass { .. } => {}
    }
    if let Some(url) = &config.metrics_url {
        flag("metrics-url", Some(url.clone()));
    }
    if config.spin != defaults.spin {
        flag("spin", Some(value_name(&config.spin)));
    }
    for bound in &config.slo {
        flag(
            "slo",
            Some(format!("{}={}us", bound.percentile, bound.bound_micros)),
        );
    }
    if let Some(generation) = &config.generation {
        flag("generate", None);
        if let Some(file) = &generation.lengths_file {
            flag("lengths", Some(file.display().to_string()));
        } else {
            flag("prompt-tokens", Some(generation.prompt_tokens.to_string()));
            flag("new-tokens", Some(generation.new_tokens.to_string()));
        }
        if let Some(bytes) = generation.max_kv_bytes {
            flag("max-kv-bytes", Some(bytes.to_string()));
        }
        if generation.slo.is_set() {
            flag("slo", Some(generation.slo.to_string()));
        }
    }
    if config.slo_confidence != defaults.slo_confidence {
        flag("confidence", Some(config.slo_confidence.to_string()));
    }
    if !config.early_stop {
        flag("no-early-stop", None);
    }
    let transform = &config.transform;
    if transform.precision != Precision::Fp32 {
        flag("precision", Some(value_name(&transform.precision)));
        if transform.precision == Precision::Int8 && transform.int8_mode != Int8Mode::default() {
            flag("int8-mode", Some(value_name(&transform.int8_mode)));
        }
        if transform.fp16_io {
            flag("fp16-io", None);
        }
    }
    if let Some(prune) = &transform.prune {
        flag("prune", Some(prune.sparsity.to_string()));
        flag("prune-mode", Some(value_name(&prune.mode)));
        flag("prune-scope", Some(value_name(&prune.scope)));
        if prune.skip_first_last {
            flag("skip-first-last", None);
        }
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tune::VaryKey;

    #[test]
    fn the_command_names_what_differs_from_the_defaults() {
        let mut config = ProfileConfig {
            concurrency: 4,
            batch: Some(8),
            duration_secs: Some(3.0),
            warmup_secs: 0.5,
            layer_profiling: LayerProfiling::Off,
            ..ProfileConfig::default()
        };
        VaryKey::Rate.apply("250", &mut config).expect("rate");
        VaryKey::MaxBatch
            .apply("16", &mut config)
            .expect("max-batch");
        VaryKey::Precision
            .apply("int8", &mut config)
            .expect("precision");
        let command = profile_command(Some(Path::new("my model.onnx")), &config);
        assert_eq!(
            command,
            "onnx-workbench profile 'my model.onnx' --batch 8 --concurrency 4 --rate 250 \
             --max-batch 16 --batch-delay 1000us --duration 3s --warmup 500ms \
             --no-layer-profile --precision int8"
        );
        let plain = profile_command(Some(Path::new("m.onnx")), &ProfileConfig::default());
        assert_eq!(plain, "onnx-workbench profile m.onnx --duration 10s");
    }

    #[test]
    fn the_command_keeps_input_shapes_and_the_input_budget() {
        let config = ProfileConfig {
            shapes: [("x".to_owned(), vec![1, 3, 48, 192])].into(),
            max_input_bytes: Some(1 << 30),
            ..ProfileConfig::default()
        };
        let command = profile_command(Some(Path::new("m.onnx")), &config);
        assert!(
            command.contains("--shape x=1,3,48,192 --max-input-bytes 1073741824"),
            "{command}"
        );
    }

    #[test]
    fn the_command_keeps_the_token_loop_and_its_objectives() {
        let mut config = ProfileConfig::default();
        let mut generation = crate::engine::generate::GenerationConfig::fixed(64, 16);
        generation
            .slo
            .parse_into("ttft=60ms,itl=1500us")
            .expect("slo");
        config.generation = Some(generation);
        let command = profile_command(Some(Path::new("decoder.onnx")), &config);
        assert!(
            command.ends_with(
                "--generate --prompt-tokens 64 --new-tokens 16 --slo ttft=60ms,itl=1500us"
            ),
            "{command}"
        );
        let parsed = <crate::cli::Cli as clap::Parser>::try_parse_from(
            command.split(' ').collect::<Vec<_>>(),
        );
        assert!(parsed.is_ok(), "{command}: {:?}", parsed.err());
    }

    #[test]
    fn the_command_keeps_a_remote_target_without_header_values() {
        let mut target = crate::engine::target::RemoteTarget::parse(
            "grpc://server:8001",
            Some("resnet"),
            Some("2"),
            None,
        )
        .expect("target");
        target.headers =
            crate::engine::headers::Headers::parse(["x-access-token=hush"]).expect("header");
        let config = ProfileConfig {
            remote: Some(target),
            ..ProfileConfig::default()
        };
        let command = profile_command(None, &config);
        assert_eq!(
            command,
            "onnx-workbench profile --target grpc://server:8001 --model-name resnet \
             --model-version 2 --header 'x-access-token=***' --duration 10s"
        );
    }

    #[test]
    fn the_command_keeps_the_metrics_url() {
        let config = ProfileConfig {
            metrics_url: Some("http://server:8002/metrics".to_owned()),
            ..ProfileConfig::default()
        };
        let command = profile_command(Some(Path::new("m.onnx")), &config);
        assert!(
            command.ends_with("--metrics-url http://server:8002/metrics"),
            "{command}"
        );
    }
}
