//! `doctor` and `--version`: which ONNX Runtime is loaded and from where, the
//! execution providers, the machine, and the state of the CUDA libraries.

use crate::engine::{
    ExecutionProviderKind, ProfileConfig,
    cuda_libs::{self, CudaLibraries, LibraryGroup},
    runtime::{self, Runtime},
    session::{ModelSource, build_session},
};

/// Prints `--version`: ours, and the ONNX Runtime that loads.
pub(super) fn print_version() {
    outln!("onnx-workbench {}", env!("CARGO_PKG_VERSION"));
    match runtime::runtime() {
        Ok(runtime) => {
            outln!("ONNX Runtime {} ({})", runtime.version, runtime.source);
            outln!("library: {}", runtime.library_path.display());
            outln!("execution providers: {}", available_providers().join(", "));
        }
        Err(err) => outln!("ONNX Runtime: not available: {err:#}"),
    }
}

/// The execution providers this ONNX Runtime build has.
fn available_providers() -> Vec<String> {
    use ort::ep::ExecutionProvider as _;
    let mut providers = vec!["CPUExecutionProvider".to_owned()];
    match ort::ep::CUDA::is_available() {
        Ok(true) => providers.push("CUDAExecutionProvider".to_owned()),
        Ok(false) => {
            providers.push("(no CUDAExecutionProvider in this ONNX Runtime build)".to_owned())
        }
        Err(err) => providers.push(format!("(cannot query CUDA: {err})")),
    }
    providers
}

/// Prints where each group of CUDA libraries was found.
pub(super) fn print_cuda_libraries(libraries: &CudaLibraries) {
    for (group, label) in [
        (
            LibraryGroup::Cuda,
            "CUDA 13 runtime, cuBLAS, cuRAND, cuFFT, NVRTC",
        ),
        (LibraryGroup::Cudnn, "cuDNN 9"),
        (LibraryGroup::Cupti, "CUPTI (optional, per-kernel GPU time)"),
    ] {
        let missing = libraries.missing_in(group);
        let mut folders: Vec<String> = libraries
            .found
            .iter()
            .filter(|found| found.group == group)
            .filter_map(|found| found.path.parent().map(|dir| dir.display().to_string()))
            .collect();
        folders.dedup();
        if missing.is_empty() {
            outln!("  {label}: found in {}", folders.join(", "));
        } else {
            outln!("  {label}: MISSING {}", missing.join(", "));
        }
    }
}

/// The CUDA part of `doctor`: the build, the libraries and their versions,
/// the driver, and whether the provider really registers.
fn doctor_cuda(runtime: &Runtime) {
    outln!("CUDA execution provider:");
    outln!("  ONNX Runtime: {}", runtime.flavour);
    let gpu_cache = runtime::cache_dir_for(runtime::Flavour::Gpu);
    let libraries = CudaLibraries::search(&cuda_libs::search_dirs(gpu_cache.as_deref()));
    print_cuda_libraries(&libraries);
    let versions = cuda_libs::probe_versions(&libraries);
    let or_unknown = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".to_owned());
    outln!(
        "  versions: CUDA runtime {}, cuDNN {}, CUPTI API {}",
        or_unknown(&versions.cuda_runtime),
        or_unknown(&versions.cudnn),
        versions
            .cupti_api
            .map_or_else(|| "-".to_owned(), |v| v.to_string())
    );
    match &versions.driver_library_error {
        None => outln!(
            "  NVIDIA driver: {} loads; supports CUDA {}",
            cuda_libs::DRIVER_LIBRARY,
            or_unknown(&versions.cuda_driver)
        ),
        Some(reason) => outln!("  NVIDIA driver: not found ({reason})"),
    }
    let probe = crate::samples::SAMPLE_MODELS
        .iter()
        .find(|(name, _, _)| *name == "mlp.onnx")
        .map(|(_, _, bytes)| *bytes);
    if let Some(bytes) = probe {
        let config = ProfileConfig {
            execution_provider: ExecutionProviderKind::Cuda,
            ..ProfileConfig::default()
        };
        match build_session(runtime, ModelSource::Memory(bytes), &config, None) {
            Ok(_) => outln!("  provider: loads (a session was created on CUDA device 0)"),
            Err(err) => outln!("  provider: does not load: {err}"),
        }
    }
}

/// `doctor`: exits 1 when ONNX Runtime cannot be loaded.
pub(super) fn doctor() -> anyhow::Result<u8> {
    outln!("onnx-workbench {}", env!("CARGO_PKG_VERSION"));
    let runtime = match runtime::runtime() {
        Ok(runtime) => runtime,
        Err(err) => {
            outln!("ONNX Runtime: NOT AVAILABLE");
            outln!("{err:#}");
            return Ok(1);
        }
    };
    outln!("ONNX Runtime {} from {}", runtime.version, runtime.source);
    outln!("  library: {}", runtime.library_path.display());
    outln!("  build: {}", ort::info());
    outln!(
        "  execution providers: {}",
        available_providers().join(", ")
    );
    let environment = crate::telemetry::EnvironmentInfo::probe();
    outln!(
        "machine: {} {} ({}), {} ({} logical cores), {} memory",
        environment.os,
        environment.os_version,
        environment.arch,
        environment.cpu_model,
        environment.logical_cores,
        crate::util::format_bytes(environment.total_memory_bytes)
    );
    if environment.gpus.is_empty() {
        outln!(
            "GPU: {}",
            environment
                .gpu_note
                .unwrap_or_else(|| "none found".to_owned())
        );
    } else {
        for gpu in &environment.gpus {
            outln!(
                "GPU: {} ({} memory, driver {})",
                gpu.name,
                crate::util::format_bytes(gpu.memory_total_bytes),
                gpu.driver_version
            );
        }
    }
    doctor_cuda(runtime);
    Ok(0)
}
