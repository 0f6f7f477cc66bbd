//! What the app remembers between starts (eframe storage). Runtime handles
//! are kept outside this struct.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::engine::ProfileConfig;

/// Recent files kept in the list.
pub const MAX_RECENT_FILES: usize = 10;

/// Persisted settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The last run configuration.
    pub config: ProfileConfig,
    /// Models opened recently, newest first.
    pub recent_models: Vec<PathBuf>,
    /// Session files opened or saved recently, newest first.
    pub recent_sessions: Vec<PathBuf>,
    /// Use the built-in file picker even where a native dialog exists.
    pub use_builtin_picker: bool,
    /// The folder of the last file picked, where the file dialogs open.
    #[serde(default)]
    pub last_folder: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            config: ProfileConfig {
                concurrency: 2,
                duration_secs: Some(10.0),
                warmup_secs: 1.0,
                ..ProfileConfig::default()
            },
            recent_models: Vec::new(),
            recent_sessions: Vec::new(),
            use_builtin_picker: false,
            last_folder: None,
        }
    }
}

/// Moves `path` to the front of `list`, keeping at most [`MAX_RECENT_FILES`].
pub fn remember(list: &mut Vec<PathBuf>, path: PathBuf) {
    list.retain(|existing| existing != &path);
    list.insert(0, path);
    list.truncate(MAX_RECENT_FILES);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_files_are_deduplicated_and_bounded() {
        let mut list = Vec::new();
        for index in 0..15 {
            remember(&mut list, PathBuf::from(format!("m{index}.onnx")));
        }
        remember(&mut list, PathBuf::from("m10.onnx"));
        assert_eq!(list.len(), MAX_RECENT_FILES);
        assert_eq!(list[0], PathBuf::from("m10.onnx"));
        assert_eq!(
            list.iter()
                .filter(|p| p.as_path() == std::path::Path::new("m10.onnx"))
                .count(),
            1
        );
    }

    #[test]
    fn settings_survive_a_round_trip_and_old_versions() {
        let settings = Settings::default();
        let text = serde_json::to_string(&settings).expect("serialize");
        assert_eq!(
            serde_json::from_str::<Settings>(&text).expect("deserialize"),
            settings
        );
        let old: Settings =
            serde_json::from_str(r#"{"recent_models": ["a.onnx"]}"#).expect("partial");
        assert_eq!(old.recent_models, vec![PathBuf::from("a.onnx")]);
        assert_eq!(old.config, Settings::default().config);
    }
}
