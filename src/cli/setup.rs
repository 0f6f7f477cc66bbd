//! `setup`: provisions the pinned ONNX Runtime now, or with `--gpu` the GPU
//! build and the CUDA libraries it needs.

use super::{SetupArgs, doctor::print_cuda_libraries, error::CliError};
use crate::engine::runtime;

/// `setup`: exits 1 when CUDA libraries are still missing after `--gpu`.
pub(super) fn setup(args: &SetupArgs) -> anyhow::Result<u8> {
    if args.gpu {
        let report = runtime::provision_gpu(args.wheels.as_deref()).map_err(CliError::SetupGpu)?;
        outln!(
            "ONNX Runtime {} GPU build ready: {}",
            runtime::ORT_VERSION,
            report.library.display()
        );
        if report.fetched_packages.is_empty() {
            outln!("  nothing fetched: everything was already in place");
        } else {
            outln!("  fetched: {}", report.fetched_packages.join(", "));
        }
        print_cuda_libraries(&report.cuda_libraries);
        if !report.cuda_libraries.provider_ready() {
            outln!(
                "CUDA libraries still missing: {}",
                report.cuda_libraries.describe_missing()
            );
            return Ok(1);
        }
        outln!(
            "The GPU build is now used by default (it runs the CPU provider too); set {}=cpu to use the CPU build.",
            runtime::ENV_FLAVOUR
        );
        return Ok(0);
    }
    let (path, source) = runtime::locate_or_provision().map_err(CliError::Setup)?;
    outln!(
        "ONNX Runtime {} ready ({source}): {}",
        runtime::ORT_VERSION,
        path.display()
    );
    Ok(0)
}
