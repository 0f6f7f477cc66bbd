//! [`Model`]: a decoded ONNX protobuf and the folder its external data is
//! resolved against; loading with validation, re-encoding, tensor bytes.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use prost::Message as _;

use super::{ModelError, external, is_external, onnx, tensor, walk};

/// The newest ONNX IR version that the vendored `onnx-ml.proto` describes.
/// Newer models may carry fields that are dropped on re-encoding.
pub const MAX_KNOWN_IR_VERSION: i64 = 14;

/// A decoded ONNX model and the folder its external data lives in.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// The decoded protobuf. Transforms may rewrite it in place.
    pub proto: onnx::ModelProto,
    /// Folder that external data `location`s are resolved against: the
    /// model file's folder, or `None` for a model decoded from memory.
    base_dir: Option<PathBuf>,
}

impl Model {
    /// Reads, decodes and validates a model file, including its external
    /// data references (which must stay inside the model's folder and lie
    /// within their files). Does not read the external data itself.
    pub fn load(model_path: &Path) -> Result<Model, ModelError> {
        Self::load_with_bytes(model_path).map(|(model, _bytes)| model)
    }

    /// Like [`Model::load`], also returning the file's bytes (to hash them
    /// without a second read).
    pub fn load_with_bytes(model_path: &Path) -> Result<(Model, Vec<u8>), ModelError> {
        let read_error = |error| ModelError::Read {
            error,
            path: model_path.to_path_buf(),
        };
        let metadata = std::fs::metadata(model_path).map_err(read_error)?;
        if !metadata.is_file() {
            return Err(ModelError::NotAFile {
                path: model_path.to_path_buf(),
            });
        }
        crate::util::check_fits_in_memory(metadata.len(), || {
            format!("the model file {}", model_path.display())
        })?;
        let bytes = std::fs::read(model_path).map_err(read_error)?;
        let base_dir = match model_path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let model =
            Self::from_bytes(&bytes, Some(base_dir)).map_err(|err| err.with_path(model_path))?;
        Ok((model, bytes))
    }

    /// Decodes and validates a model from memory. With a `base_dir`, its
    /// external data references are validated against that folder; without
    /// one, reading an external tensor later fails with
    /// [`ModelError::NoBaseDir`].
    pub fn from_bytes(bytes: &[u8], base_dir: Option<&Path>) -> Result<Model, ModelError> {
        if bytes.is_empty() {
            return Err(ModelError::Empty { path: None });
        }
        let proto = onnx::ModelProto::decode(bytes)
            .map_err(|error| ModelError::Decode { error, path: None })?;
        validate_model(&proto)?;
        let model = Model {
            proto,
            base_dir: base_dir.map(Path::to_path_buf),
        };
        model.validate_external_data()?;
        Ok(model)
    }

    /// Wraps an already built protobuf (e.g. a transform's output) without
    /// validating it.
    pub fn from_proto(proto: onnx::ModelProto, base_dir: Option<PathBuf>) -> Model {
        Model { proto, base_dir }
    }

    /// Encodes the model. An unchanged model decoded from a file encodes to
    /// the same bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.proto.encode_to_vec()
    }

    /// The folder external data is resolved against, if the model came
    /// from a file (or was given one).
    pub fn base_dir(&self) -> Option<&Path> {
        self.base_dir.as_deref()
    }

    /// The bytes of a tensor in `raw_data` layout (little-endian, packed
    /// sub-byte types), from `raw_data`, the typed fields, or the external
    /// file (checked to stay inside [`Model::base_dir`]). Borrowed when the
    /// tensor has inline `raw_data`. String tensors are an error.
    pub fn tensor_bytes<'t>(
        &self,
        tensor: &'t onnx::TensorProto,
    ) -> Result<Cow<'t, [u8]>, ModelError> {
        if !is_external(tensor) {
            return tensor::inline_bytes(tensor);
        }
        let Some(base_dir) = self.base_dir() else {
            return Err(ModelError::NoBaseDir {
                tensor: tensor::tensor_label(tensor),
            });
        };
        external::read_external(base_dir, tensor).map(Cow::Owned)
    }

    /// The main graph's initializer with this name.
    pub fn initializer(&self, name: &str) -> Option<&onnx::TensorProto> {
        self.proto
            .graph
            .as_ref()?
            .initializer
            .iter()
            .find(|tensor| tensor.name() == name)
    }

    /// Values of a small int64/int32 tensor (inline or external), for shape
    /// inputs; `None` for other types or unreadable data.
    pub(crate) fn int_values(&self, tensor: &onnx::TensorProto) -> Option<Vec<i64>> {
        if !is_external(tensor) {
            return tensor::inline_int_values(tensor);
        }
        let bytes = self.tensor_bytes(tensor).ok()?;
        let mut inline = onnx::TensorProto {
            data_type: tensor.data_type,
            dims: tensor.dims.clone(),
            ..Default::default()
        };
        inline.raw_data = Some(bytes.into_owned());
        tensor::inline_int_values(&inline)
    }

    /// Whether any tensor (initializer, Constant attribute, subgraph) keeps
    /// its data in an external file.
    pub fn has_external_data(&self) -> bool {
        walk::all_tensors(&self.proto).into_iter().any(is_external)
    }

    /// Checks every external data reference: location inside the folder,
    /// file present, byte range inside the file.
    fn validate_external_data(&self) -> Result<(), ModelError> {
        let Some(base_dir) = self.base_dir() else {
            return Ok(());
        };
        for tensor in walk::all_tensors(&self.proto) {
            if is_external(tensor) {
                external::external_span(base_dir, tensor)?;
            }
        }
        Ok(())
    }
}

/// Rejects protobufs that decode as `ModelProto` but are not models (the
/// decoder is lenient: many messages decode as some other message).
fn validate_model(proto: &onnx::ModelProto) -> Result<(), ModelError> {
    let mut missing = Vec::new();
    if proto.graph.is_none() {
        missing.push("no graph");
    }
    if proto.ir_version() <= 0 {
        missing.push("no ir_version");
    }
    if proto.opset_import.is_empty() {
        missing.push("no opset_import");
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ModelError::NotAModel {
            reason: missing.join(", "),
            path: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::estimate_flops;
    use crate::model::test_util::*;

    #[test]
    fn missing_file_is_a_clear_error() {
        let model_path = Path::new("/nonexistent/foo.onnx");
        assert_eq!(
            error_message(Model::load(model_path)),
            "cannot read model: No such file or directory (os error 2): /nonexistent/foo.onnx"
        );
    }

    #[test]
    fn directory_is_not_a_model() {
        let dir = sample_model("");
        let message = error_message(Model::load(&dir));
        assert_eq!(
            message,
            format!(
                "cannot read model: not a regular file (it is a directory; give the .onnx file inside it): {}",
                dir.display()
            )
        );
    }

    #[test]
    fn empty_file_and_empty_bytes_are_rejected() -> std::io::Result<()> {
        let tmp = TempDir::new("empty")?;
        let model_path = tmp.path().join("empty.onnx");
        std::fs::write(&model_path, b"")?;
        assert_eq!(
            error_message(Model::load(&model_path)),
            format!("cannot read model: empty file: {}", model_path.display())
        );
        assert_eq!(
            error_message(Model::from_bytes(&[], None)),
            "cannot read model: empty file"
        );
        Ok(())
    }

    #[test]
    fn random_and_truncated_bytes_are_decode_errors() -> Result<(), Box<dyn std::error::Error>> {
        let garbage = [0xff_u8, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x13, 0x37];
        let message = error_message(Model::from_bytes(&garbage, None));
        assert!(
            message.starts_with("not a valid ONNX protobuf: "),
            "{message}"
        );

        let bytes = std::fs::read(sample_model("mlp.onnx"))?;
        let truncated = bytes.get(..bytes.len() / 2).ok_or("short file")?;
        let message = error_message(Model::from_bytes(truncated, None));
        assert!(
            message.starts_with("not a valid ONNX protobuf: "),
            "{message}"
        );

        let tmp = TempDir::new("truncated")?;
        let model_path = tmp.path().join("truncated.onnx");
        std::fs::write(&model_path, truncated)?;
        let message = error_message(Model::load(&model_path));
        assert!(
            message.starts_with("not a valid ONNX protobuf: "),
            "{message}"
        );
        assert!(
            message.ends_with(&format!(": {}", model_path.display())),
            "{message}"
        );
        Ok(())
    }

    #[test]
    fn serialized_tensor_fixture_is_rejected() {
        // A TensorProto: its data_type (field 2, varint) clashes with
        // ModelProto.producer_name (field 2, string), so decoding fails.
        let model_path = fixture("not_a_model.pb");
        let message = error_message(Model::load(&model_path));
        assert_eq!(
            message,
            format!(
                "not a valid ONNX protobuf: failed to decode Protobuf message: \
                 ModelProto.producer_name: invalid wire type: Varint (expected LengthDelimited): {}",
                model_path.display()
            )
        );
    }

    #[test]
    fn protobuf_that_decodes_leniently_is_not_a_model() {
        // A TensorProto with only dims [4] and a doc_string decodes as a
        // ModelProto with ir_version 4 and a doc_string: no graph, no opsets.
        let tensor = onnx::TensorProto {
            dims: vec![4],
            doc_string: Some("just a tensor".to_owned()),
            ..Default::default()
        };
        let message = error_message(Model::from_bytes(&tensor.encode_to_vec(), None));
        assert_eq!(message, "not an ONNX model: no graph, no opset_import");

        let empty_model = onnx::ModelProto {
            producer_name: Some("x".to_owned()),
            ..Default::default()
        };
        let message = error_message(Model::from_bytes(&empty_model.encode_to_vec(), None));
        assert_eq!(
            message,
            "not an ONNX model: no graph, no ir_version, no opset_import"
        );
    }

    #[test]
    fn every_model_file_round_trips_byte_identical() -> Result<(), Box<dyn std::error::Error>> {
        let model_paths = [
            sample_model("mlp.onnx"),
            sample_model("cnn.onnx"),
            sample_model("transformer.onnx"),
            sample_model("multi_input.onnx"),
            fixture("fixed_batch.onnx"),
            fixture("string_input.onnx"),
            fixture("unsupported_op.onnx"),
            fixture("constant_weights.onnx"),
            fixture("external_data/model.onnx"),
            fixture("fp16_model.onnx"),
            fixture("all_dtypes.onnx"),
            fixture("unnamed_dims.onnx"),
        ];
        for model_path in model_paths {
            let bytes = std::fs::read(&model_path)?;
            let model = Model::load(&model_path)?;
            assert!(
                model.to_bytes() == bytes,
                "{} re-encodes differently",
                model_path.display()
            );
            let reparsed = Model::from_bytes(&model.to_bytes(), model.base_dir())?;
            assert_eq!(reparsed, model);
        }
        Ok(())
    }

    /// Decodable but corrupted models never make load, summary, shape
    /// inference or FLOP estimation panic.
    #[test]
    fn mutated_models_never_panic() -> std::io::Result<()> {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let sources = [
            sample_model("transformer.onnx"),
            sample_model("cnn.onnx"),
            fixture("unnamed_dims.onnx"),
            fixture("constant_weights.onnx"),
            fixture("all_dtypes.onnx"),
        ];
        let mut decoded = 0;
        for model_path in sources {
            let original = std::fs::read(&model_path)?;
            for _ in 0..150 {
                let mut bytes = original.clone();
                for _ in 0..1 + next() % 4 {
                    let index = (next() % bytes.len() as u64) as usize;
                    if let Some(byte) = bytes.get_mut(index) {
                        *byte = next() as u8;
                    }
                }
                if let Ok(model) = Model::from_bytes(&bytes, None) {
                    decoded += 1;
                    let summary = model.summary();
                    let _ = summary.render_text();
                    let binding = [("batch".to_owned(), 3), ("seq".to_owned(), 7)].into();
                    let _ = estimate_flops(&model, &binding);
                }
            }
        }
        assert!(decoded > 100, "only {decoded} mutated models decoded");
        Ok(())
    }

    #[test]
    fn base_dir_is_the_model_folder() -> Result<(), ModelError> {
        let model = Model::load(&sample_model("mlp.onnx"))?;
        let sample_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_models");
        assert_eq!(model.base_dir(), Some(sample_dir.as_path()));
        let in_memory = Model::from_bytes(&model.to_bytes(), None)?;
        assert_eq!(in_memory.base_dir(), None);
        Ok(())
    }
}
