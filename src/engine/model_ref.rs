//! What a run runs: a model file in local ONNX Runtime sessions, or a model
//! on an inference server. Decided once, from the model file the user has
//! (if any) and the config's target, so no stage tests for an empty path.

use std::path::{Path, PathBuf};

use super::{config::ProfileConfig, target::RemoteTarget};

/// The model of a run.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelRef {
    /// A model file, run in local sessions.
    File(PathBuf),
    /// The model `target.model_name` on the server at `target`. The model
    /// file, when the user has it too, is read for its graph only (input
    /// names, shapes, graph hints, the Model tab).
    Served {
        target: RemoteTarget,
        file: Option<PathBuf>,
    },
}

/// A run with neither a model file nor a server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no model: give a model file, or a server and the model's name on it")]
pub struct NoModel;

impl ModelRef {
    /// What `config` runs: the served model when the config names a
    /// server, else `file`.
    pub fn of(file: Option<PathBuf>, config: &ProfileConfig) -> Result<Self, NoModel> {
        match (&config.remote, file) {
            (Some(target), file) => Ok(Self::Served {
                target: target.clone(),
                file,
            }),
            (None, Some(file)) => Ok(Self::File(file)),
            (None, None) => Err(NoModel),
        }
    }

    /// The model file, local or read beside a server's model.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Self::File(path) => Some(path),
            Self::Served { file, .. } => file.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_target_makes_a_served_model_and_a_file_alone_a_local_one() {
        let local = ProfileConfig::default();
        assert_eq!(
            ModelRef::of(Some("m.onnx".into()), &local),
            Ok(ModelRef::File("m.onnx".into()))
        );
        assert_eq!(ModelRef::of(None, &local), Err(NoModel));
        let target =
            RemoteTarget::parse("http://server:8000", Some("resnet"), None, None).expect("target");
        let remote = ProfileConfig {
            remote: Some(target.clone()),
            ..ProfileConfig::default()
        };
        let served = ModelRef::of(None, &remote).expect("served");
        assert_eq!(served.file(), None);
        assert!(matches!(served, ModelRef::Served { target: t, .. } if t == target));
        let with_file = ModelRef::of(Some("m.onnx".into()), &remote).expect("served");
        assert_eq!(with_file.file(), Some(Path::new("m.onnx")));
    }
}
