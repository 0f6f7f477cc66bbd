//! The settings a user gives, as the core names them in its errors and
//! notes. A core message says which [`Field`] is wrong; each front end
//! names the field its own way: the CLI by its flag (`--max-batch`), the
//! window by its label ("Max batch (rows)"), a mix file by its key
//! (`max_batch`, the default).
//!
//! A front end says once, for its thread, how it names fields
//! ([`speak`]); a thread that works for it (a run's controller, a sweep,
//! a background task) takes the same names with [`names`] and [`speak`].
//! `Field`'s `Display` then writes the front end's name, so a message is
//! written in the words of whoever will show it, also when it is made on
//! another thread and only shown later (a run's failure, its warnings).

use std::cell::Cell;

/// One setting of a run ([`ProfileConfig`](crate::engine::ProfileConfig)), of its
/// inputs, target or transform, or of a sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Concurrency,
    Rate,
    Instances,
    Batch,
    Dims,
    Shapes,
    Inputs,
    MaxInputBytes,
    Synthetic,
    Labels,
    LabelsOutput,
    Duration,
    Warmup,
    Confidence,
    ProfileRuns,
    ProfileEvery,
    IoBinding,
    CudaGraph,
    ExecutionProvider,
    AllowFallback,
    OptLevel,
    MaxBatch,
    BatchDelay,
    PreferredBatch,
    Target,
    ModelName,
    Timeout,
    GrpcChannels,
    Header,
    MetricsUrl,
    Generate,
    MaxKvBytes,
    Transform,
    SkipFirstLast,
    Vary,
    Slo,
    Search,
    Stability,
    Mix,
}

/// How a front end names a field.
pub type FieldNames = fn(Field) -> String;

thread_local! {
    static NAMES: Cell<Option<FieldNames>> = const { Cell::new(None) };
}

/// From now on this thread names fields with `names` (`None`: the keys).
/// A front end calls it once on its own thread; a thread started for it
/// calls it first with the starter's [`names`].
pub fn speak(names: Option<FieldNames>) {
    NAMES.with(|cell| cell.set(names));
}

/// How this thread names fields, to hand to a thread it starts.
pub fn names() -> Option<FieldNames> {
    NAMES.with(Cell::get)
}

/// `work`, to run on a thread being started, naming fields as this thread
/// does: `Builder::spawn(field::carried(move || ...))`.
pub fn carried<T>(work: impl FnOnce() -> T + Send) -> impl FnOnce() -> T + Send {
    let given = names();
    move || {
        speak(given);
        work()
    }
}

impl Field {
    /// The key in a mix file, which is also the config's own name: the
    /// flag in snake_case.
    pub fn key(self) -> &'static str {
        match self {
            Self::Concurrency => "concurrency",
            Self::Rate => "rate",
            Self::Instances => "instances",
            Self::Batch => "batch",
            Self::Dims => "dims",
            Self::Shapes => "shape",
            Self::Inputs => "inputs",
            Self::MaxInputBytes => "max_input_bytes",
            Self::Synthetic => "synthetic",
            Self::Labels => "labels",
            Self::LabelsOutput => "labels_output",
            Self::Duration => "duration",
            Self::Warmup => "warmup",
            Self::Confidence => "confidence",
            Self::ProfileRuns => "profile_runs",
            Self::ProfileEvery => "profile_every",
            Self::IoBinding => "io_binding",
            Self::CudaGraph => "cuda_graph",
            Self::ExecutionProvider => "ep",
            Self::AllowFallback => "allow_fallback",
            Self::OptLevel => "opt_level",
            Self::MaxBatch => "max_batch",
            Self::BatchDelay => "batch_delay",
            Self::PreferredBatch => "preferred_batch",
            Self::Target => "target",
            Self::ModelName => "model_name",
            Self::Timeout => "timeout",
            Self::GrpcChannels => "grpc_channels",
            Self::Header => "header",
            Self::MetricsUrl => "metrics_url",
            Self::Generate => "generate",
            Self::MaxKvBytes => "max_kv_bytes",
            Self::Transform => "precision/prune",
            Self::SkipFirstLast => "skip_first_last",
            Self::Vary => "vary",
            Self::Slo => "slo",
            Self::Search => "search",
            Self::Stability => "stability",
            Self::Mix => "mix",
        }
    }

    /// The field in the words of the front end this thread works for.
    pub fn name(self) -> String {
        names().map_or_else(|| self.key().to_owned(), |names| names(self))
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(field: Field) -> String {
        format!("--{}", field.key().replace('_', "-"))
    }

    #[test]
    fn a_thread_names_fields_in_its_front_ends_words() {
        let worker = std::thread::Builder::new()
            .name("field-test".to_owned())
            .spawn(|| {
                let keys = format!("{} and {}", Field::MaxBatch, Field::Dims);
                speak(Some(flags));
                let child = std::thread::Builder::new()
                    .name("field-test-child".to_owned())
                    .spawn(carried(|| Field::MaxBatch.to_string()))
                    .expect("a thread")
                    .join()
                    .expect("no panic");
                (keys, Field::MaxBatch.to_string(), child)
            })
            .expect("a thread");
        let (keys, flag, child) = worker.join().expect("no panic");
        assert_eq!(keys, "max_batch and dims");
        assert_eq!(flag, "--max-batch");
        assert_eq!(child, "--max-batch", "a started thread takes the names");
        assert_eq!(
            Field::MaxBatch.to_string(),
            "max_batch",
            "this thread is untouched"
        );
    }
}
