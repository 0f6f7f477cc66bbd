//! The Model tab's FLOP count at the Config's input shapes. The model's
//! summary counts at batch 1 and the chosen default dims; this one follows the batch,
//! dims and shapes a run would use, so the Model tab, `inspect` with the
//! same flags and the session of that run give one figure. It is counted
//! in the background (the model file is read again) whenever the shapes
//! change.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use super::{loaded_model::LoadedModel, tasks::Task};
use crate::model::{FlopEstimate, Model, ShapeBinding, estimate_flops_and_shapes};

/// Input name to whole shape.
pub type InputShapes = BTreeMap<String, Vec<i64>>;

/// What a count is for: the model file and the shapes.
type CountKey = (PathBuf, InputShapes);

/// A count, or why it could not be made.
type Counted = Result<ConfigCount, String>;

/// The FLOPs and every value's shape at the Config's input shapes.
#[derive(Debug, Clone)]
pub struct ConfigCount {
    /// The model's FLOPs.
    pub flops: FlopEstimate,
    /// Each value's shape, by name (the graph view's edge labels).
    pub shapes: std::sync::Arc<BTreeMap<String, Vec<i64>>>,
}

/// What the Model tab shows of the count at the Config's shapes.
#[derive(Debug, Clone, Copy)]
pub enum ConfigFlopsView<'a> {
    /// Being counted.
    Counting,
    /// Counted.
    Counted(&'a ConfigCount),
    /// The model could not be read again, or the count could not start.
    Failed(&'a str),
}

/// The count at the Config's shapes, and the one being made.
#[derive(Default)]
pub struct ConfigFlops {
    /// The model file and shapes of the latest count, and its result.
    counted: Option<(CountKey, Counted)>,
    /// The count being made, and for what.
    pending: Option<(CountKey, Task<Counted>)>,
}

impl ConfigFlops {
    /// Called once per frame while the Model tab shows: collects a
    /// finished count and starts one when `shapes` changed (one at a time).
    /// Returns what to show; `None` when the summary's own count (at
    /// `shapes` already) serves.
    pub fn update(
        &mut self,
        model: &LoadedModel,
        shapes: InputShapes,
    ) -> Option<ConfigFlopsView<'_>> {
        let summary_shapes = model.summary.flops.as_ref()?.input_shapes.clone();
        if summary_shapes == shapes {
            return None;
        }
        if let Some((key, task)) = &mut self.pending
            && let Some(result) = task.poll()
        {
            let key = key.clone();
            self.pending = None;
            self.counted = Some((key, result.unwrap_or_else(|err| Err(err.to_string()))));
        }
        let key = (model.path.clone(), shapes);
        let is_current = |counted: &Option<((PathBuf, InputShapes), _)>| {
            counted
                .as_ref()
                .is_some_and(|(counted_key, _)| *counted_key == key)
        };
        if !is_current(&self.counted) && self.pending.is_none() {
            let (path, shapes) = key.clone();
            match Task::spawn("counting FLOPs at the Config's shapes", move || {
                count_at(&path, shapes)
            }) {
                Ok(task) => self.pending = Some((key.clone(), task)),
                Err(err) => self.counted = Some((key.clone(), Err(err.to_string()))),
            }
        }
        Some(match &self.counted {
            Some((counted_key, Ok(count))) if *counted_key == key => {
                ConfigFlopsView::Counted(count)
            }
            Some((counted_key, Err(message))) if *counted_key == key => {
                ConfigFlopsView::Failed(message)
            }
            _ => ConfigFlopsView::Counting,
        })
    }
}

/// Reads the model at `path` and counts its FLOPs at `shapes`.
fn count_at(path: &Path, shapes: InputShapes) -> Counted {
    let model = Model::load(path).map_err(|err| format!("{err:#}"))?;
    let binding = ShapeBinding {
        dims: BTreeMap::new(),
        input_shapes: shapes,
    };
    let (flops, shapes) = estimate_flops_and_shapes(&model, &binding);
    Ok(ConfigCount {
        flops,
        shapes: std::sync::Arc::new(shapes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_follows_the_shapes_and_waits_for_the_background() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_models/cnn.onnx");
        let model = LoadedModel::load(&path).expect("model");
        let at_one = model.summary.flops.as_ref().expect("counted").total;
        let mut flops = ConfigFlops::default();
        // The summary's own shapes: nothing more to count.
        let one = model
            .summary
            .flops
            .as_ref()
            .expect("counted")
            .input_shapes
            .clone();
        assert!(flops.update(&model, one).is_none());
        // Batch 4: counted off the UI thread, then shown.
        let four: InputShapes = [("image".to_owned(), vec![4, 1, 28, 28])].into();
        let started = std::time::Instant::now();
        let total = loop {
            match flops.update(&model, four.clone()) {
                Some(ConfigFlopsView::Counted(count)) => {
                    // The shapes follow too: the image input at batch 4.
                    assert_eq!(count.shapes.get("image"), Some(&vec![4, 1, 28, 28]));
                    break count.flops.total;
                }
                Some(ConfigFlopsView::Counting) => {
                    assert!(started.elapsed().as_secs() < 30, "never counted");
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(total, 4 * at_one);
    }
}
