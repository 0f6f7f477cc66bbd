//! External tensor data: parsing a tensor's `external_data` entries,
//! resolving their `location` safely inside the model's folder, and reading
//! the bytes.
//!
//! A model is untrusted input. Its `location` strings are only ever resolved
//! inside the folder the model was loaded from: absolute paths, `..`
//! components and symlinks that lead out of the folder are rejected before
//! anything is opened for reading.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use super::ModelError;
use super::onnx::TensorProto;
use super::tensor::{expected_storage_bytes, is_external, tensor_label};

/// Where a tensor's data lives outside the model file, as declared by its
/// `external_data` key/value entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalDataInfo {
    /// The `location` entry: a path relative to the model's folder.
    pub location: String,
    /// The `offset` entry: where the data starts in the file, in bytes (default 0).
    pub offset_bytes: u64,
    /// The `length` entry: how many bytes the data takes; `None` when absent.
    pub length_bytes: Option<u64>,
    /// The `checksum` entry (SHA-1 of the file), if present. Not verified here.
    pub checksum: Option<String>,
}

/// Parses the tensor's `external_data` entries. Returns `Ok(None)` for a
/// tensor whose data is stored inline.
pub fn external_data_info(tensor: &TensorProto) -> Result<Option<ExternalDataInfo>, ModelError> {
    if !is_external(tensor) {
        return Ok(None);
    }
    let invalid = |reason: String| ModelError::ExternalDataInvalid {
        tensor: tensor_label(tensor),
        reason,
    };
    let parse_bytes = |key: &str, value: &str| {
        value
            .trim()
            .parse::<u64>()
            .map_err(|_| invalid(format!("{key} {value:?} is not a non-negative integer")))
    };
    let mut location = None;
    let mut offset_bytes = 0;
    let mut length_bytes = None;
    let mut checksum = None;
    for entry in &tensor.external_data {
        match entry.key() {
            "location" => location = Some(entry.value().to_owned()),
            "offset" => offset_bytes = parse_bytes("offset", entry.value())?,
            "length" => length_bytes = Some(parse_bytes("length", entry.value())?),
            "checksum" => checksum = Some(entry.value().to_owned()),
            // Other keys (e.g. "basepath" written by some tools) carry nothing we need.
            _ => {}
        }
    }
    let location = location
        .filter(|location| !location.is_empty())
        .ok_or_else(|| invalid("data_location is EXTERNAL but there is no location".to_owned()))?;
    Ok(Some(ExternalDataInfo {
        location,
        offset_bytes,
        length_bytes,
        checksum,
    }))
}

/// Resolves an external data `location` to a file inside `base_dir`.
///
/// Rejects, without opening anything: absolute paths, paths with `..`
/// components, and paths that after resolving symlinks lead outside
/// `base_dir` (all [`ModelError::ExternalDataEscapes`]). A missing file or one
/// that is not a regular file is [`ModelError::ExternalDataRead`]. Returns the
/// canonical path of the file.
pub fn resolve_external_data(base_dir: &Path, location: &str) -> Result<PathBuf, ModelError> {
    let escapes = |reason| ModelError::ExternalDataEscapes {
        location: location.to_owned(),
        reason,
        base_dir: base_dir.to_path_buf(),
    };
    if location.is_empty() {
        return Err(escapes("empty location"));
    }
    let relative = Path::new(location);
    for component in relative.components() {
        match component {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => return Err(escapes("contains `..`")),
            Component::RootDir | Component::Prefix(_) => return Err(escapes("absolute path")),
        }
    }
    let canonical_base = base_dir
        .canonicalize()
        .map_err(|error| ModelError::ExternalDataRead {
            error,
            path: base_dir.to_path_buf(),
        })?;
    let joined = canonical_base.join(relative);
    let canonical = joined
        .canonicalize()
        .map_err(|error| ModelError::ExternalDataRead {
            error,
            path: joined.clone(),
        })?;
    if !canonical.starts_with(&canonical_base) {
        return Err(escapes(
            "resolves outside the model folder through a symlink",
        ));
    }
    let metadata = std::fs::metadata(&canonical).map_err(|error| ModelError::ExternalDataRead {
        error,
        path: canonical.clone(),
    })?;
    if !metadata.is_file() {
        return Err(ModelError::ExternalDataRead {
            error: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"),
            path: canonical,
        });
    }
    Ok(canonical)
}

/// A resolved and bounds-checked external data reference.
#[derive(Debug)]
pub(crate) struct ExternalSpan {
    /// The canonical path of the data file.
    pub file_path: PathBuf,
    /// Where the data starts, in bytes.
    pub offset_bytes: u64,
    /// How many bytes to read.
    pub length_bytes: u64,
}

/// Resolves the tensor's external data and checks that the byte range lies
/// inside the file and matches the tensor's dims. Reads no data.
pub(crate) fn external_span(
    base_dir: &Path,
    tensor: &TensorProto,
) -> Result<ExternalSpan, ModelError> {
    let Some(info) = external_data_info(tensor)? else {
        return Err(ModelError::ExternalDataInvalid {
            tensor: tensor_label(tensor),
            reason: "data is not stored externally".to_owned(),
        });
    };
    let invalid = |reason: String| ModelError::ExternalDataInvalid {
        tensor: tensor_label(tensor),
        reason,
    };
    let file_path = resolve_external_data(base_dir, &info.location)?;
    let file_bytes = std::fs::metadata(&file_path)
        .map_err(|error| ModelError::ExternalDataRead {
            error,
            path: file_path.clone(),
        })?
        .len();
    if info.offset_bytes > file_bytes {
        return Err(invalid(format!(
            "offset {} is past the end of {} ({file_bytes} bytes)",
            info.offset_bytes, info.location
        )));
    }
    let expected_bytes = expected_storage_bytes(tensor);
    let length_bytes = match (info.length_bytes, expected_bytes) {
        (Some(length), Some(expected)) if length != expected => {
            return Err(invalid(format!(
                "length is {length} bytes but its dims and type need {expected} bytes"
            )));
        }
        (Some(length), _) => length,
        (None, Some(expected)) => expected,
        (None, None) => file_bytes - info.offset_bytes,
    };
    let end_bytes = info.offset_bytes.checked_add(length_bytes);
    if end_bytes.is_none_or(|end| end > file_bytes) {
        return Err(invalid(format!(
            "bytes {}..{} are past the end of {} ({file_bytes} bytes)",
            info.offset_bytes,
            info.offset_bytes.saturating_add(length_bytes),
            info.location
        )));
    }
    Ok(ExternalSpan {
        file_path,
        offset_bytes: info.offset_bytes,
        length_bytes,
    })
}

/// Reads the tensor's external data from its file.
pub(crate) fn read_external(base_dir: &Path, tensor: &TensorProto) -> Result<Vec<u8>, ModelError> {
    let span = external_span(base_dir, tensor)?;
    let read_error = |error| ModelError::ExternalDataRead {
        error,
        path: span.file_path.clone(),
    };
    let mut bytes = crate::util::try_zeroed_bytes(span.length_bytes, || {
        format!("the external data of tensor {}", tensor_label(tensor))
    })?;
    let mut file = File::open(&span.file_path).map_err(read_error)?;
    file.seek(SeekFrom::Start(span.offset_bytes))
        .map_err(read_error)?;
    file.read_exact(&mut bytes).map_err(read_error)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;
    use crate::model::onnx::tensor_proto::DataLocation;
    use crate::model::onnx::{ModelProto, StringStringEntryProto};
    use crate::model::test_util::*;
    use crate::model::types::ElemType;
    use prost::Message as _;

    /// An MLP-free model whose single initializer `W` [2, 2] float32 points at
    /// `location` with the given offset and length.
    fn model_with_external(location: &str, offset: u64, length: u64) -> ModelProto {
        let entry = |key: &str, value: String| StringStringEntryProto {
            key: Some(key.to_owned()),
            value: Some(value),
        };
        let weight = TensorProto {
            name: Some("W".to_owned()),
            data_type: Some(ElemType::Float.code()),
            dims: vec![2, 2],
            data_location: Some(DataLocation::External as i32),
            external_data: vec![
                entry("location", location.to_owned()),
                entry("offset", offset.to_string()),
                entry("length", length.to_string()),
            ],
            ..Default::default()
        };
        model_proto(
            graph(
                "external",
                vec![value_info("x", ElemType::Float, &["batch", "2"])],
                vec![value_info("y", ElemType::Float, &["batch", "2"])],
                vec![node("MatMul", &["x", "W"], &["y"], vec![])],
                vec![weight],
            ),
            17,
        )
    }

    #[test]
    fn external_weights_match_the_constant_node_fixture() -> Result<(), Box<dyn std::error::Error>>
    {
        // Both fixtures hold the same weights: once in Constant nodes, once
        // in weights.bin.
        let external = Model::load(&fixture("external_data/model.onnx"))?;
        let constants = Model::load(&fixture("constant_weights.onnx"))?;
        let graph = external.proto.graph.as_ref().ok_or("no graph")?;
        let mut total_bytes = 0;
        for initializer in &graph.initializer {
            let info = external_data_info(initializer)?;
            assert!(info.is_some_and(|info| info.location == "weights.bin"));
            let bytes = external.tensor_bytes(initializer)?;
            let constant = constants
                .proto
                .graph
                .iter()
                .flat_map(|g| &g.node)
                .filter(|n| n.output.first().map(String::as_str) == Some(initializer.name()))
                .find_map(|n| n.attribute.first().and_then(|a| a.t.as_ref()));
            let Some(constant) = constant else {
                panic!("no Constant node for {}", initializer.name());
            };
            assert_eq!(
                bytes.as_ref(),
                constants.tensor_bytes(constant)?.as_ref(),
                "{}",
                initializer.name()
            );
            total_bytes += bytes.len();
        }
        assert_eq!(total_bytes, 2656);
        let w1 = external.initializer("W1").map(|t| t.dims.clone());
        assert_eq!(w1, Some(vec![32, 16]));
        Ok(())
    }

    #[test]
    fn external_data_without_base_dir_fails_only_when_read()
    -> Result<(), Box<dyn std::error::Error>> {
        let bytes = std::fs::read(fixture("external_data/model.onnx"))?;
        let model = Model::from_bytes(&bytes, None)?;
        let w1 = model.initializer("W1").ok_or("no W1")?;
        assert_eq!(
            error_message(model.tensor_bytes(w1)),
            "tensor \"W1\" uses external data but the model has no base folder"
        );
        Ok(())
    }

    #[test]
    fn parent_dir_location_is_rejected_at_load() {
        let model_path = fixture("escape_external/model.onnx");
        let err = Model::load(&model_path);
        assert!(matches!(
            err,
            Err(ModelError::ExternalDataEscapes {
                reason: "contains `..`",
                ..
            })
        ));
        assert_eq!(
            error_message(err),
            format!(
                "external data location \"../outside.bin\" rejected: contains `..`; it must stay inside the model folder: {}",
                fixture("escape_external").display()
            )
        );
    }

    #[test]
    fn absolute_location_is_rejected_at_load() {
        let err = Model::load(&fixture("escape_external/absolute.onnx"));
        assert!(
            matches!(&err, Err(ModelError::ExternalDataEscapes { location, reason: "absolute path", .. }) if location == "/etc/passwd"),
            "{err:?}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn resolve_rejects_escapes_and_accepts_plain_names() -> std::io::Result<()> {
        let tmp = TempDir::new("resolve")?;
        let base = tmp.path().join("model");
        std::fs::create_dir_all(base.join("sub"))?;
        std::fs::write(base.join("sub/w.bin"), [0u8; 8])?;
        std::fs::write(tmp.path().join("outside.bin"), [0u8; 8])?;

        let resolved = resolve_external_data(&base, "sub/w.bin").map_err(std::io::Error::other)?;
        assert_eq!(resolved, base.canonicalize()?.join("sub/w.bin"));
        assert!(resolve_external_data(&base, "./sub/w.bin").is_ok());

        let reason = |location: &str| match resolve_external_data(&base, location) {
            Err(ModelError::ExternalDataEscapes { reason, .. }) => reason,
            other => panic!("{location}: expected an escape, got {other:?}"),
        };
        assert_eq!(reason("../outside.bin"), "contains `..`");
        assert_eq!(reason("sub/../../outside.bin"), "contains `..`");
        assert_eq!(reason("/etc/passwd"), "absolute path");
        assert_eq!(reason(""), "empty location");

        // A symlink inside the folder that points outside it.
        std::os::unix::fs::symlink(tmp.path().join("outside.bin"), base.join("link.bin"))?;
        assert_eq!(
            reason("link.bin"),
            "resolves outside the model folder through a symlink"
        );
        std::os::unix::fs::symlink(tmp.path(), base.join("up"))?;
        assert_eq!(
            reason("up/outside.bin"),
            "resolves outside the model folder through a symlink"
        );
        // A symlink that stays inside is fine.
        std::os::unix::fs::symlink(base.join("sub/w.bin"), base.join("inside.bin"))?;
        assert!(resolve_external_data(&base, "inside.bin").is_ok());

        let missing = error_message(resolve_external_data(&base, "missing.bin"));
        assert_eq!(
            missing,
            format!(
                "cannot read external data: No such file or directory (os error 2): {}",
                base.canonicalize()?.join("missing.bin").display()
            )
        );
        let directory = error_message(resolve_external_data(&base, "sub"));
        assert!(directory.contains("not a regular file"), "{directory}");
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn load_checks_symlink_escape_missing_file_and_byte_range()
    -> Result<(), Box<dyn std::error::Error>> {
        let tmp = TempDir::new("load-external")?;
        let base = tmp.path().join("model");
        std::fs::create_dir_all(&base)?;
        std::fs::write(tmp.path().join("secret.bin"), [7u8; 16])?;
        std::os::unix::fs::symlink(tmp.path().join("secret.bin"), base.join("weights.bin"))?;
        let model_path = base.join("model.onnx");

        std::fs::write(
            &model_path,
            model_with_external("weights.bin", 0, 16).encode_to_vec(),
        )?;
        assert!(matches!(
            Model::load(&model_path),
            Err(ModelError::ExternalDataEscapes {
                reason: "resolves outside the model folder through a symlink",
                ..
            })
        ));

        std::fs::remove_file(base.join("weights.bin"))?;
        let message = error_message(Model::load(&model_path));
        assert!(
            message.starts_with("cannot read external data: No such file or directory"),
            "{message}"
        );

        let weights: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        std::fs::write(base.join("weights.bin"), &weights)?;
        let model = Model::load(&model_path)?;
        let w = model.initializer("W").ok_or("no W")?;
        assert_eq!(
            model.tensor_bytes(w)?.as_ref(),
            weights.get(..16).ok_or("short")?
        );

        std::fs::write(
            &model_path,
            model_with_external("weights.bin", 4, 16).encode_to_vec(),
        )?;
        let model = Model::load(&model_path)?;
        let w = model.initializer("W").ok_or("no W")?;
        assert_eq!(
            model.tensor_bytes(w)?.as_ref(),
            weights.get(4..20).ok_or("short")?
        );

        std::fs::write(
            &model_path,
            model_with_external("weights.bin", 8, 16).encode_to_vec(),
        )?;
        assert_eq!(
            error_message(Model::load(&model_path)),
            "invalid external data for tensor \"W\": bytes 8..24 are past the end of weights.bin (20 bytes)"
        );

        std::fs::write(
            &model_path,
            model_with_external("weights.bin", 0, 12).encode_to_vec(),
        )?;
        assert_eq!(
            error_message(Model::load(&model_path)),
            "invalid external data for tensor \"W\": length is 12 bytes but its dims and type need 16 bytes"
        );
        Ok(())
    }

    #[test]
    fn malformed_external_entries_are_errors() {
        let mut tensor = TensorProto {
            name: Some("W".to_owned()),
            data_location: Some(DataLocation::External as i32),
            ..Default::default()
        };
        assert_eq!(
            error_message(external_data_info(&tensor)),
            "invalid external data for tensor \"W\": data_location is EXTERNAL but there is no location"
        );
        tensor.external_data = vec![
            StringStringEntryProto {
                key: Some("location".to_owned()),
                value: Some("w.bin".to_owned()),
            },
            StringStringEntryProto {
                key: Some("offset".to_owned()),
                value: Some("-4".to_owned()),
            },
        ];
        assert_eq!(
            error_message(external_data_info(&tensor)),
            "invalid external data for tensor \"W\": offset \"-4\" is not a non-negative integer"
        );
        tensor.data_location = None;
        assert!(matches!(external_data_info(&tensor), Ok(None)));
    }
}
