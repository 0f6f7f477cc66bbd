//! A mix's entries and its run: every entry at once, each an ordinary run
//! on its own threads, after an optional solo baseline of each.

use std::{
    path::PathBuf,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use super::{Interference, MixDocument, MixModel};
use crate::{
    engine::{LayerProfiling, ProfileConfig, RunHandle, RunRecord, RunWatch},
    session::SessionDocument,
};

/// Longest solo baseline run of an entry.
pub const SOLO_MAX_SECS: f64 = 5.0;

/// One model of a mix.
#[derive(Debug, Clone, PartialEq)]
pub struct MixEntry {
    /// Unique within the mix.
    pub name: String,
    /// The model file; `None` for a served model given by name only.
    pub model: Option<PathBuf>,
    /// Its run: load, SLO, session settings.
    pub config: ProfileConfig,
}

/// A mix as read from its file.
#[derive(Debug, Clone, PartialEq)]
pub struct MixSpec {
    pub entries: Vec<MixEntry>,
}

/// Why a mix could not run.
#[derive(Debug, thiserror::Error)]
pub enum MixError {
    #[error(
        "nothing in the mix can fail: give at least one entry an SLO (slo = \"p99=...\") or an open-loop rate"
    )]
    NothingToScale,
    #[error("the entry setting to vary, {text}: {reason}")]
    BadVary { text: String, reason: String },
    #[error("the mix's thread failed: {0}")]
    Thread(String),
    #[error("entry {name:?}: {message}")]
    Entry { name: String, message: String },
}

/// Threads the entries keep busy against the cores: each worker's run uses
/// its intra-op threads. `None` when they fit.
pub fn thread_budget_warning(entries: &[MixEntry], cores: u32) -> Option<String> {
    let parts: Vec<(String, u32)> = entries
        .iter()
        .filter(|entry| entry.config.remote.is_none())
        .map(|entry| {
            let workers = entry.config.num_workers();
            let threads = workers * entry.config.intra_threads.max(1);
            (
                format!(
                    "{} {workers}×{}",
                    entry.name,
                    entry.config.intra_threads.max(1)
                ),
                threads,
            )
        })
        .collect();
    let total: u32 = parts.iter().map(|(_, threads)| threads).sum();
    (total > cores).then(|| {
        format!(
            "oversubscribed: the entries keep up to {total} threads busy (workers × intra-op threads: {}) on {cores} cores; they will wait for CPU, which shows as queue time and interference",
            parts
                .iter()
                .map(|(part, _)| part.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// The config an entry runs with in a mix: the full duration whatever its
/// SLO decides (an entry that stopped early would change the others'
/// load), and per-layer profiling only where the entry asked for it.
pub(super) fn mix_config(entry: &MixEntry) -> ProfileConfig {
    ProfileConfig {
        early_stop: false,
        ..entry.config.clone()
    }
}

/// The solo baseline of an entry: the same config, alone, at most
/// [`SOLO_MAX_SECS`], without per-layer profiling.
fn solo_config(entry: &MixEntry) -> ProfileConfig {
    let mut config = mix_config(entry);
    config.duration_secs = Some(
        config
            .duration_secs
            .unwrap_or(SOLO_MAX_SECS)
            .min(SOLO_MAX_SECS),
    );
    config.max_requests = None;
    config.layer_profiling = LayerProfiling::Off;
    config
}

fn start(entry: &MixEntry, config: ProfileConfig) -> Result<RunHandle, MixError> {
    crate::engine::ModelRef::of(entry.model.clone(), &config)
        .map_err(crate::engine::EngineError::from)
        .and_then(|model| RunHandle::start(model, config))
        .map_err(|err| MixError::Entry {
            name: entry.name.clone(),
            message: err.to_string(),
        })
}

/// What a mix under way tells its caller.
pub enum MixEvent<'a> {
    /// A phase starts: `solo NAME` or `mix`.
    Phase(&'a str),
    /// The runs of that phase started: each entry's name and a watch on
    /// its live state.
    Started(Vec<(String, RunWatch)>),
}

/// Runs the mix: with `solo`, each entry alone first (one after the other),
/// then every entry at once. A failed entry keeps its (partial) record; the
/// others go on. `events` hears each phase as it starts and its runs once
/// they started. Setting `stop` ends the runs under way, keeping what they
/// measured, and skips the phases not started.
pub fn run_mix(
    spec: &MixSpec,
    solo: bool,
    events: &mut dyn FnMut(MixEvent<'_>),
    stop: &AtomicBool,
) -> Result<MixDocument, MixError> {
    let mut warnings = Vec::new();
    let cores = crate::engine::arrivals::CoreBudget::of_machine().cores();
    if let Some(warning) = thread_budget_warning(&spec.entries, cores) {
        warnings.push(warning);
    }
    let mut alone: Vec<Option<RunRecord>> = Vec::with_capacity(spec.entries.len());
    for entry in &spec.entries {
        if solo && !stop.load(Ordering::Relaxed) {
            events(MixEvent::Phase(&format!("solo {}", entry.name)));
            let mut records = run_together(
                std::slice::from_ref(entry),
                vec![solo_config(entry)],
                stop,
                &mut |runs| events(MixEvent::Started(runs)),
            )?;
            alone.push(records.pop());
        } else {
            alone.push(None);
        }
    }
    events(MixEvent::Phase("mix"));
    let configs = spec.entries.iter().map(mix_config).collect();
    let records = run_together(&spec.entries, configs, stop, &mut |runs| {
        events(MixEvent::Started(runs));
    })?;
    let models = spec
        .entries
        .iter()
        .zip(records)
        .zip(alone)
        .map(|((entry, record), solo)| MixModel {
            name: entry.name.clone(),
            interference: solo.as_ref().and_then(|solo| interference(solo, &record)),
            session: SessionDocument::new(record),
            solo: solo.map(SessionDocument::new),
        })
        .collect();
    Ok(MixDocument::new(models, warnings))
}

/// How often a mix under way looks at its stop flag.
const STOP_POLL: Duration = Duration::from_millis(50);

/// Runs `entries` at once, entry `i` with `configs[i]`, and returns their
/// records in the same order; `started` hears of the runs once they all
/// started. Setting `stop` stops every run (what was measured is kept); an
/// entry that cannot start stops the others.
pub(super) fn run_together(
    entries: &[MixEntry],
    configs: Vec<ProfileConfig>,
    stop: &AtomicBool,
    started: &mut dyn FnMut(Vec<(String, RunWatch)>),
) -> Result<Vec<RunRecord>, MixError> {
    let mut handles = Vec::with_capacity(entries.len());
    for (entry, config) in entries.iter().zip(configs) {
        // Handles already started stop when dropped on the error path.
        handles.push(start(entry, config)?);
    }
    started(
        entries
            .iter()
            .zip(&handles)
            .map(|(entry, handle)| (entry.name.clone(), handle.watch()))
            .collect(),
    );
    let mut stopped = false;
    while !handles.iter().all(RunHandle::is_finished) {
        if !stopped && stop.load(Ordering::Relaxed) {
            handles.iter().for_each(RunHandle::stop);
            stopped = true;
        }
        std::thread::sleep(STOP_POLL);
    }
    Ok(handles.into_iter().map(RunHandle::join).collect())
}

/// The entry's p99 and throughput in the mix against alone.
fn interference(alone: &RunRecord, mix: &RunRecord) -> Option<Interference> {
    let p99 = |record: &RunRecord| {
        record
            .summary
            .as_ref()
            .and_then(|summary| summary.latency.as_ref())
            .map(|latency| latency.p99_micros)
            .filter(|p99| *p99 > 0.0)
    };
    let throughput = |record: &RunRecord| {
        record
            .summary
            .as_ref()
            .map_or(0.0, |summary| summary.inferences_per_sec)
    };
    let (p99_alone_micros, p99_mix_micros) = (p99(alone)?, p99(mix)?);
    Some(Interference {
        p99_alone_micros,
        p99_mix_micros,
        ratio: p99_mix_micros / p99_alone_micros,
        throughput_alone_per_sec: throughput(alone),
        throughput_mix_per_sec: throughput(mix),
    })
}
