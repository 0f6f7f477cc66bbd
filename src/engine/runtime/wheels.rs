//! The pinned wheels: every wheel onnx-workbench may fetch from PyPI, with
//! its version, platform and sha256. Data only; [`super::provision`] uses it.
//!
//! Updating ONNX Runtime or a CUDA library means editing this table (and
//! [`super::ORT_VERSION`]); the tests below check that it stays consistent.

/// A wheel we know the hash of.
pub(super) struct PinnedWheel {
    /// `std::env::consts::ARCH` of the machines it is for.
    pub(super) arch: &'static str,
    /// The wheel's platform tag, passed to `pip download --platform`.
    pub(super) platform_tag: &'static str,
    /// The file name pip saves it under.
    pub(super) file_name: &'static str,
    /// Lowercase hex sha256 of the whole wheel.
    pub(super) sha256: &'static str,
}

/// The CPU wheels of `onnxruntime==1.31.1`. We always ask pip for the cp311
/// build, whatever the local Python is, so the hash is fixed; the shared library
/// inside does not depend on the Python version.
pub(super) const CPU_WHEELS: &[PinnedWheel] = &[
    PinnedWheel {
        arch: "x86_64",
        platform_tag: "manylinux_2_28_x86_64",
        file_name: "onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl",
        sha256: "5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f",
    },
    PinnedWheel {
        arch: "aarch64",
        platform_tag: "manylinux_2_28_aarch64",
        file_name: "onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_aarch64.whl",
        sha256: "da05378364c44d4407e463982d2bf8d5e4cfea873283757e48beeb41df97b7f3",
    },
];

/// The GPU wheels of `onnxruntime-gpu==1.31.1` (cp311, like the CPU ones).
pub(super) const GPU_WHEELS: &[PinnedWheel] = &[
    PinnedWheel {
        arch: "x86_64",
        platform_tag: "manylinux_2_28_x86_64",
        file_name: "onnxruntime_gpu-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl",
        sha256: "e26c475fe361b2015f45b4b824bd13f0bb20204e59b62814e6f0acd5f3d491a6",
    },
    PinnedWheel {
        arch: "aarch64",
        platform_tag: "manylinux_2_34_aarch64",
        file_name: "onnxruntime_gpu-1.31.1-cp311-cp311-manylinux_2_34_aarch64.whl",
        sha256: "dc878916611b8a816000ffedacc5f5988f77bb93bf9655ad20144ee3acb08e55",
    },
];

/// A CUDA library wheel, pinned to the CUDA 13.0 generation (which the R580
/// drivers support) with its hash per architecture.
pub(super) struct PinnedCudaWheel {
    /// The PyPI distribution name.
    pub(super) package: &'static str,
    /// The pinned version.
    pub(super) version: &'static str,
    /// `(arch, sha256)`.
    pub(super) hashes: [(&'static str, &'static str); 2],
}

/// The CUDA library wheels `setup --gpu` fetches when a library is missing.
pub(super) const CUDA_WHEELS: &[PinnedCudaWheel] = &[
    PinnedCudaWheel {
        package: "nvidia-cuda-runtime",
        version: "13.0.96",
        hashes: [
            (
                "x86_64",
                "7f82250d7782aa23b6cfe765ecc7db554bd3c2870c43f3d1821f1d18aebf0548",
            ),
            (
                "aarch64",
                "ef9bcbe90493a2b9d810e43d249adb3d02e98dd30200d86607d8d02687c43f55",
            ),
        ],
    },
    PinnedCudaWheel {
        package: "nvidia-nvjitlink",
        version: "13.0.88",
        hashes: [
            (
                "x86_64",
                "13a74f429e23b921c1109976abefacc69835f2f433ebd323d3946e11d804e47b",
            ),
            (
                "aarch64",
                "e931536ccc7d467a98ba1d8b89ff7fa7f1fa3b13f2b0069118cd7f47bff07d0c",
            ),
        ],
    },
    PinnedCudaWheel {
        package: "nvidia-cublas",
        version: "13.0.2.14",
        hashes: [
            (
                "x86_64",
                "0cf238ffdbe46c00cb9aa98e7bca745c223a5ca5a53e686ac8b3e5a08fe80d6c",
            ),
            (
                "aarch64",
                "17165c296de689662b96e0ef4f21dfbff3092ff00d0e3e59470f5acb08c0f87d",
            ),
        ],
    },
    PinnedCudaWheel {
        package: "nvidia-curand",
        version: "10.4.0.35",
        hashes: [
            (
                "x86_64",
                "1aee33a5da6e1db083fe2b90082def8915f30f3248d5896bcec36a579d941bfc",
            ),
            (
                "aarch64",
                "133df5a7509c3e292aaa2b477afd0194f06ce4ea24d714d616ff36439cee349a",
            ),
        ],
    },
    PinnedCudaWheel {
        package: "nvidia-cufft",
        version: "12.0.0.61",
        hashes: [
            (
                "x86_64",
                "6c44f692dce8fd5ffd3e3df134b6cdb9c2f72d99cf40b62c32dde45eea9ddad3",
            ),
            (
                "aarch64",
                "2708c852ef8cd89d1d2068bdbece0aa188813a0c934db3779b9b1faa8442e5f5",
            ),
        ],
    },
    PinnedCudaWheel {
        package: "nvidia-cuda-nvrtc",
        version: "13.0.88",
        hashes: [
            (
                "x86_64",
                "ad9b6d2ead2435f11cbb6868809d2adeeee302e9bb94bcf0539c7a40d80e8575",
            ),
            (
                "aarch64",
                "d27f20a0ca67a4bb34268a5e951033496c5b74870b868bacd046b1b8e0c3267b",
            ),
        ],
    },
    PinnedCudaWheel {
        package: "nvidia-cudnn-cu13",
        version: "9.19.1.2",
        hashes: [
            (
                "x86_64",
                "7609f4bbcde269c4aa8869e12112a1924fb6e032a00842912caafcb4e15d42d6",
            ),
            (
                "aarch64",
                "d2901fcdc526f661c1973cd302888f129b5b3c9eb5b99f7238947fb5758564c0",
            ),
        ],
    },
    PinnedCudaWheel {
        package: "nvidia-cuda-cupti",
        version: "13.0.85",
        hashes: [
            (
                "x86_64",
                "4eb01c08e859bf924d222250d2e8f8b8ff6d3db4721288cf35d14252a4d933c8",
            ),
            (
                "aarch64",
                "796bd679890ee55fb14a94629b698b6db54bcfd833d391d5e94017dd9d7d3151",
            ),
        ],
    },
];

/// Platform tags pip may pick the CUDA wheels from on aarch64.
pub(super) const CUDA_PLATFORM_TAGS_AARCH64: &[&str] = &[
    "manylinux_2_34_aarch64",
    "manylinux_2_28_aarch64",
    "manylinux_2_27_aarch64",
    "manylinux_2_25_aarch64",
    "manylinux_2_17_aarch64",
    "manylinux2014_aarch64",
];

/// Platform tags pip may pick the CUDA wheels from on x86_64 (and any other
/// architecture, which then finds no pinned hash).
pub(super) const CUDA_PLATFORM_TAGS_X86_64: &[&str] = &[
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_25_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux_2_12_x86_64",
    "manylinux2010_x86_64",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{cuda_libs::LIBRARIES, runtime::ORT_VERSION};

    #[test]
    fn every_cuda_wheel_supplies_a_library_we_look_for() {
        for pinned in CUDA_WHEELS {
            assert!(
                LIBRARIES.iter().any(|spec| spec.package == pinned.package),
                "{} supplies nothing we load",
                pinned.package
            );
            for (_, sha256) in pinned.hashes {
                assert_eq!(sha256.len(), 64);
            }
        }
        for spec in LIBRARIES {
            assert!(
                CUDA_WHEELS
                    .iter()
                    .any(|pinned| pinned.package == spec.package),
                "no pinned wheel ships {}",
                spec.soname
            );
        }
    }

    #[test]
    fn every_pinned_wheel_names_the_pinned_version() {
        for wheel in CPU_WHEELS.iter().chain(GPU_WHEELS) {
            assert!(wheel.file_name.contains(ORT_VERSION));
            assert!(wheel.file_name.contains(wheel.platform_tag));
            assert_eq!(wheel.sha256.len(), 64);
        }
    }
}
