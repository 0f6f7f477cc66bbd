//! `profile --mix mix.toml`: the mix file and its run.
//!
//! The file's keys are the `profile` flags in snake_case, so every flag a
//! user knows works as a key: each `[[model]]` table becomes the argument
//! list of one `profile` command (top-level keys are defaults for every
//! entry) and is parsed by the same clap definition. `dims`, `shapes` and
//! `inputs` take tables (`dims = { "x.height" = 640 }`). An unknown key, a
//! missing model, a duplicate name or a bad value is an error that names
//! the file's line.

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
};

use clap::{CommandFactory as _, Parser as _};

use super::{
    Cli, Command, SweepArgs,
    args::{Baseline, ProfileArgs},
    error::EXIT_NO_PASSING_POINT,
    output::export_line,
};
use crate::{
    engine::LayerProfiling,
    mix::{
        AllocationDocument, EntryVary, MixDocument, MixEntry, MixSpec, ScaleOptions,
        render_allocation_report, render_mix_report, render_scale_report, run_mix,
        search_allocations, search_scale,
    },
};

/// Keys a mix file does not take: the output of a run is the mix's own.
const REFUSED_KEYS: [&str; 10] = [
    "mix",
    "baseline",
    "export",
    "export_csv",
    "export_trace",
    "export_annotated",
    "json",
    "quiet",
    "repeat",
    "help",
];

/// Table-valued keys and the repeatable flag each item becomes.
const TABLE_KEYS: [(&str, &str); 6] = [
    ("dims", "dim"),
    ("dim", "dim"),
    ("shapes", "shape"),
    ("shape", "shape"),
    ("inputs", "input"),
    ("input", "input"),
];

/// Why a mix file was refused.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {message}", line.map(|line| format!(" line {line}")).unwrap_or_default())]
pub struct MixFileError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

/// Where each key sits: `(section, key) -> line`, section 0 the top level
/// and `i + 1` the i-th `[[model]]`.
struct Lines {
    keys: HashMap<(usize, String), usize>,
    sections: Vec<usize>,
}

impl Lines {
    fn new(text: &str) -> Self {
        let mut keys = HashMap::new();
        let mut sections = vec![1];
        let mut section = 0;
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let trimmed = line.trim();
            if trimmed.starts_with("[[") {
                section += 1;
                sections.push(number);
                continue;
            }
            if let Some((key, _)) = trimmed.split_once('=')
                && !trimmed.starts_with('#')
            {
                let key = key.trim().trim_matches(|c| c == '"' || c == '\'');
                keys.entry((section, key.to_owned())).or_insert(number);
            }
        }
        Self { keys, sections }
    }

    /// The key's line, else its section's.
    fn of(&self, section: usize, key: &str) -> Option<usize> {
        self.keys
            .get(&(section, key.to_owned()))
            .or_else(|| self.sections.get(section))
            .copied()
    }
}

/// How each `profile` flag takes values.
struct Flags {
    /// Long name -> (takes a value, may repeat).
    by_name: BTreeMap<String, (bool, bool)>,
}

impl Flags {
    fn new() -> Self {
        let command = Cli::command();
        let profile = command
            .find_subcommand("profile")
            .expect("the profile subcommand");
        let by_name = profile
            .get_arguments()
            .filter_map(|arg| {
                let long = arg.get_long()?;
                let takes_value = arg.get_action().takes_values();
                let repeats = matches!(arg.get_action(), clap::ArgAction::Append);
                Some((long.to_owned(), (takes_value, repeats)))
            })
            .collect();
        Self { by_name }
    }
}

/// Reads a mix file: its entries with their configs.
pub fn read_mix_file(path: &Path) -> Result<MixSpec, MixFileError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|err| MixFileError {
        file: file.clone(),
        line: None,
        message: format!("cannot read it: {err}"),
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse_mix(&text, &file, base)
}

/// Parses a mix file's text; `base` resolves relative model paths.
pub fn parse_mix(text: &str, file: &str, base: &Path) -> Result<MixSpec, MixFileError> {
    let error = |line: Option<usize>, message: String| MixFileError {
        file: file.to_owned(),
        line,
        message,
    };
    let table: toml::Table = text.parse().map_err(|err: toml::de::Error| {
        let line = err
            .span()
            .map(|span| text[..span.start.min(text.len())].lines().count().max(1));
        error(line, err.message().to_owned())
    })?;
    let lines = Lines::new(text);
    let flags = Flags::new();
    let mut defaults = toml::Table::new();
    let mut models = Vec::new();
    for (key, value) in &table {
        if key == "model" {
            let toml::Value::Array(items) = value else {
                return Err(error(
                    lines.of(0, key),
                    "`model` must be [[model]] tables".to_owned(),
                ));
            };
            for (index, item) in items.iter().enumerate() {
                let toml::Value::Table(entry) = item else {
                    return Err(error(
                        lines.sections.get(index + 1).copied(),
                        "each [[model]] must be a table".to_owned(),
                    ));
                };
                models.push(entry.clone());
            }
        } else {
            defaults.insert(key.clone(), value.clone());
        }
    }
    if models.is_empty() {
        return Err(error(
            None,
            "no [[model]] entries: a mix needs at least one model".to_owned(),
        ));
    }
    // The defaults must be flags too.
    let default_args = to_args(&defaults, 0, &lines, &flags, file)?;

    let mut entries: Vec<MixEntry> = Vec::new();
    let mut profiled = Vec::new();
    for (index, entry) in models.iter().enumerate() {
        let section = index + 1;
        let name = match entry.get("name") {
            Some(toml::Value::String(name)) if !name.trim().is_empty() => name.trim().to_owned(),
            _ => {
                return Err(error(
                    lines.of(section, "name"),
                    "every [[model]] needs a name = \"...\"".to_owned(),
                ));
            }
        };
        if entries.iter().any(|known| known.name == name) {
            return Err(error(
                lines.of(section, "name"),
                format!("the name {name:?} is used twice"),
            ));
        }
        let mut own = entry.clone();
        own.remove("name");
        let model_path = match own.remove("path") {
            Some(toml::Value::String(path)) => {
                let path = base.join(path);
                if !path.is_file() {
                    return Err(error(
                        lines.of(section, "path"),
                        format!("model {name:?}: no such file {}", path.display()),
                    ));
                }
                Some(path)
            }
            Some(_) => {
                return Err(error(
                    lines.of(section, "path"),
                    "path must be a string".to_owned(),
                ));
            }
            None if own.contains_key("target") => None,
            None => {
                return Err(error(
                    lines.of(section, "name"),
                    format!("model {name:?} needs a path = \"MODEL.onnx\" (or a target)"),
                ));
            }
        };
        let asks_profile = own.contains_key("profile_runs") || own.contains_key("profile_every");
        let own_args = to_args(&own, section, &lines, &flags, file)?;
        let mut argv: Vec<String> = vec!["onnx-workbench".to_owned(), "profile".to_owned()];
        if let Some(path) = &model_path {
            argv.push(path.display().to_string());
        }
        // Entry keys override the defaults (clap keeps the last value).
        argv.extend(
            default_args
                .iter()
                .filter(|(key, _)| !own.contains_key(key))
                .flat_map(|(_, args)| args.iter().cloned()),
        );
        argv.extend(own_args.iter().flat_map(|(_, args)| args.iter().cloned()));
        let args = match Cli::try_parse_from(&argv) {
            Ok(Cli {
                command: Some(Command::Profile(args)),
                ..
            }) => args,
            Ok(_) => unreachable!("a profile command line"),
            Err(err) => {
                // The key's own line: the entry's, or the default it took.
                let line = match offending_key(&err) {
                    Some(key) if defaults.contains_key(&key) && !own.contains_key(&key) => {
                        lines.of(0, &key)
                    }
                    Some(key) => lines.of(section, &key),
                    None => lines.sections.get(section).copied(),
                };
                let first = err
                    .to_string()
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim_start_matches("error: ")
                    .to_owned();
                return Err(error(line, format!("model {name:?}: {first}")));
            }
        };
        let mut config = args.to_config();
        if asks_profile {
            profiled.push((name.clone(), section));
        } else {
            config.layer_profiling = LayerProfiling::Off;
        }
        if let Err(err) = config.validate() {
            return Err(error(
                lines.sections.get(section).copied(),
                // A mix file's problem names the file's keys.
                format!(
                    "model {name:?}: {}",
                    err.render(&|field| field.key().to_owned())
                ),
            ));
        }
        entries.push(MixEntry {
            name,
            model: model_path,
            config,
        });
    }
    if profiled.len() > 1 {
        return Err(error(
            lines.of(profiled[1].1, "profile_runs"),
            format!(
                "per-layer profiling can be on for one entry at a time ({} ask for it)",
                profiled
                    .iter()
                    .map(|(name, _)| name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(MixSpec { entries })
}

/// The key of a clap error's offending flag (`--duration <DUR>` ->
/// `duration`).
fn offending_key(err: &clap::Error) -> Option<String> {
    let arg = err
        .get(clap::error::ContextKind::InvalidArg)
        .map(ToString::to_string)?;
    let long = arg.trim_start_matches("--").split([' ', '=']).next()?;
    Some(long.replace('-', "_"))
}

/// The `profile` arguments of a table's keys, per key.
fn to_args(
    table: &toml::Table,
    section: usize,
    lines: &Lines,
    flags: &Flags,
    file: &str,
) -> Result<Vec<(String, Vec<String>)>, MixFileError> {
    let error = |key: &str, message: String| MixFileError {
        file: file.to_owned(),
        line: lines.of(section, key),
        message,
    };
    let mut all = Vec::new();
    for (key, value) in table {
        if REFUSED_KEYS.contains(&key.as_str()) {
            return Err(error(
                key,
                format!(
                    "{key} is not a mix key (the mix's own output flags apply to the whole mix)"
                ),
            ));
        }
        if let Some((_, flag)) = TABLE_KEYS.iter().find(|(name, _)| name == key) {
            let toml::Value::Table(items) = value else {
                return Err(error(
                    key,
                    format!("{key} takes a table, e.g. {key} = {{ \"x\" = 1 }}"),
                ));
            };
            let mut args = Vec::new();
            for (name, item) in items {
                let item = match item {
                    toml::Value::Array(parts) => parts
                        .iter()
                        .map(scalar)
                        .collect::<Option<Vec<_>>>()
                        .map(|parts| parts.join(","))
                        .ok_or_else(|| error(key, format!("{key}.{name}: numbers only")))?,
                    other => scalar(other)
                        .ok_or_else(|| error(key, format!("{key}.{name}: not a value")))?,
                };
                args.push(format!("--{flag}"));
                args.push(format!("{name}={item}"));
            }
            all.push((key.clone(), args));
            continue;
        }
        let long = key.replace('_', "-");
        let Some(&(takes_value, repeats)) = flags.by_name.get(&long) else {
            return Err(error(
                key,
                format!(
                    "unknown key {key:?}: mix keys are the profile flags in snake_case (see onnx-workbench profile --help)"
                ),
            ));
        };
        let flag = format!("--{long}");
        let args = match value {
            toml::Value::Boolean(on) if !takes_value => {
                if *on {
                    vec![flag]
                } else {
                    Vec::new()
                }
            }
            toml::Value::Array(items) if repeats => items
                .iter()
                .map(|item| scalar(item).map(|item| [flag.clone(), item]))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| error(key, format!("{key}: a list of values")))?
                .concat(),
            toml::Value::Array(items) => {
                let joined = items
                    .iter()
                    .map(scalar)
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| error(key, format!("{key}: a list of values")))?
                    .join(",");
                vec![flag, joined]
            }
            other if takes_value => {
                let value =
                    scalar(other).ok_or_else(|| error(key, format!("{key}: not a value")))?;
                vec![flag, value]
            }
            _ => {
                return Err(error(key, format!("{key} is a switch: write {key} = true")));
            }
        };
        all.push((key.clone(), args));
    }
    Ok(all)
}

/// A TOML scalar as a command-line value.
fn scalar(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(text) => Some(text.clone()),
        toml::Value::Integer(number) => Some(number.to_string()),
        toml::Value::Float(number) => Some(number.to_string()),
        toml::Value::Boolean(on) => Some(on.to_string()),
        _ => None,
    }
}

/// `profile --mix`: reads the file, runs the mix, prints and exports it.
/// Exit status 0, or 3 when an entry failed.
pub(super) fn run(args: &ProfileArgs, mix_file: &Path) -> anyhow::Result<u8> {
    let spec = read_mix_file(mix_file)?;
    let solo = args.baseline == Some(Baseline::Solo);
    let quiet = args.quiet;
    let total_secs: f64 = spec
        .entries
        .iter()
        .map(|entry| entry.config.duration_secs.unwrap_or(0.0) + entry.config.warmup_secs)
        .fold(0.0, f64::max);
    let solo_secs: f64 = if solo {
        spec.entries
            .iter()
            .map(|entry| {
                entry
                    .config
                    .duration_secs
                    .unwrap_or(crate::mix::SOLO_MAX_SECS)
                    .min(crate::mix::SOLO_MAX_SECS)
                    + entry.config.warmup_secs
            })
            .sum()
    } else {
        0.0
    };
    let started = std::time::Instant::now();
    let mut progress = |event: crate::mix::MixEvent<'_>| {
        if let crate::mix::MixEvent::Phase(what) = event
            && !quiet
        {
            eprintln!(
                "[mix {:5.1}s] {what} (about {:.0} s in all)",
                started.elapsed().as_secs_f64(),
                total_secs + solo_secs
            );
        }
    };
    let stop = stop_on_ctrl_c();
    let document = run_mix(&spec, solo, &mut progress, &stop)?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&document)?);
    } else {
        out!("{}", render_mix_report(&document));
    }
    let mut failed_export = false;
    if let Some(path) = &args.export {
        failed_export |= export_line(
            document
                .write_json(path)
                .map(|()| format!("mix written to {}", path.display())),
        );
    }
    if let Some(dir) = &args.export_csv {
        failed_export |= export_line(write_mix_csv(&document, dir));
    }
    if let Some(path) = &args.export_trace {
        failed_export |= export_line(
            write_mix_trace(&document, path)
                .map(|()| format!("trace written to {}", path.display())),
        );
    }
    Ok(if failed_export {
        1
    } else if document.all_completed() {
        0
    } else {
        3
    })
}

/// Prints and writes an allocation search. Exit status as [`scale`]'s,
/// with "found" meaning one value has a confirmed factor.
fn allocation_output(args: &SweepArgs, document: &AllocationDocument) -> anyhow::Result<u8> {
    let failed_export = args.profile.export.as_ref().is_some_and(|path| {
        export_line(
            document
                .write_json(path)
                .map(|()| format!("allocation search written to {}", path.display())),
        )
    });
    if args.profile.export_csv.is_some() {
        eprintln!(
            "note: --export-csv writes a single scale search; an allocation search is written by --export"
        );
    }
    if args.profile.json {
        outln!("{}", serde_json::to_string_pretty(document)?);
    } else {
        out!("{}", render_allocation_report(document));
    }
    Ok(if failed_export {
        1
    } else if document.best.is_some() {
        0
    } else {
        EXIT_NO_PASSING_POINT
    })
}

/// A flag Ctrl-C sets: the mix's runs stop and keep what they measured.
fn stop_on_ctrl_c() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&stop);
    if let Err(err) = ctrlc::set_handler(move || {
        flag.store(true, std::sync::atomic::Ordering::Relaxed);
    }) {
        tracing::warn!("Ctrl-C will not stop the mix cleanly: {err}");
    }
    stop
}

/// Why `sweep --mix` was refused.
#[derive(Debug, thiserror::Error)]
pub enum MixSweepError {
    #[error(
        "a mix sweeps with --search scale (every entry's load times a common factor); got --search {0}"
    )]
    NotScale(crate::tune::SearchMode),
    #[error("--vary with --mix varies one entry's setting: give one --vary ENTRY.KEY=v1,v2")]
    OneVary,
    #[error(
        "--export-trace is not available for a scale search: profile the recommended mix with --export-trace"
    )]
    NoTrace,
}

/// `sweep --mix MIX.toml --search scale`: the largest common factor on the
/// entries' loads at which every entry meets its SLO, confirmed. Exit
/// status 0, [`EXIT_NO_PASSING_POINT`] without a recommendation, or 1 when
/// an export failed.
pub(super) fn scale(args: &SweepArgs, mix_file: &Path) -> anyhow::Result<u8> {
    if args.search != crate::tune::SearchMode::Scale {
        return Err(MixSweepError::NotScale(args.search).into());
    }
    if args.vary.len() > 1 {
        return Err(MixSweepError::OneVary.into());
    }
    let vary = args
        .vary
        .first()
        .map(|text| EntryVary::parse(text))
        .transpose()?;
    if args.profile.export_trace.is_some() {
        return Err(MixSweepError::NoTrace.into());
    }
    if !(args.stability.is_finite() && args.stability > 0.0) {
        return Err(crate::tune::TuneError::BadStability(args.stability).into());
    }
    let spec = read_mix_file(mix_file)?;
    let options = ScaleOptions {
        stability: args.stability / 100.0,
        max_retries: args.retries,
        confirm: !args.no_confirm,
        budget_secs: args.budget.map(|budget| budget.as_secs_f64()),
        ..ScaleOptions::default()
    };
    let quiet = args.profile.quiet;
    let started = std::time::Instant::now();
    let mut progress = |what: &str| {
        if !quiet {
            eprintln!("[scale {:6.1}s] {what}", started.elapsed().as_secs_f64());
        }
    };
    let stop = stop_on_ctrl_c();
    if let Some(vary) = vary {
        let document = search_allocations(&spec, &vary, &options, &mut progress, &stop)?;
        return allocation_output(args, &document);
    }
    let document = search_scale(&spec, &options, &mut progress, &stop)?;
    let mut failed_export = false;
    if let Some(path) = &args.profile.export {
        failed_export |= export_line(
            document
                .write_json(path)
                .map(|()| format!("scale search written to {}", path.display())),
        );
    }
    if let Some(dir) = &args.profile.export_csv {
        let path = dir.join("scale.csv");
        let written = std::fs::create_dir_all(dir)
            .map_err(|err| err.to_string())
            .and_then(|()| document.to_csv().map_err(|err| err.to_string()))
            .and_then(|csv| crate::util::write_atomic(&path, &csv).map_err(|err| err.to_string()));
        failed_export |= export_line(
            written
                .map(|()| format!("probes written to {}", path.display()))
                .map_err(|err| format!("cannot write {}: {err}", path.display())),
        );
    }
    if args.profile.json {
        outln!("{}", serde_json::to_string_pretty(&document)?);
    } else {
        out!("{}", render_scale_report(&document));
    }
    Ok(if failed_export {
        1
    } else if document.found() {
        0
    } else {
        EXIT_NO_PASSING_POINT
    })
}

/// `mix.csv` (a row per entry) and each entry's own CSV files in a folder
/// named after it.
fn write_mix_csv(
    document: &MixDocument,
    dir: &Path,
) -> Result<String, crate::session::SessionError> {
    std::fs::create_dir_all(dir).map_err(|source| crate::session::SessionError::CreateDir {
        source,
        path: dir.to_path_buf(),
    })?;
    crate::util::write_atomic(&dir.join("mix.csv"), &document.to_csv()?)?;
    for model in &document.models {
        let folder: PathBuf = dir.join(safe_name(&model.name));
        crate::session::write_csv(&model.session, &folder)?;
    }
    Ok(format!(
        "mix.csv and {} entry folders written to {}",
        document.models.len(),
        dir.display()
    ))
}

/// A name usable as a folder.
fn safe_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// One Chrome trace, one process track per entry.
fn write_mix_trace(
    document: &MixDocument,
    path: &Path,
) -> Result<(), crate::session::SessionError> {
    let mut events = Vec::new();
    for (index, model) in document.models.iter().enumerate() {
        let pid = index as u64 + 1;
        events.push(serde_json::json!({
            "name": "process_name", "ph": "M", "pid": pid,
            "args": { "name": model.name },
        }));
        let trace = crate::session::export::chrome_trace(&model.session);
        for mut event in trace["traceEvents"].as_array().cloned().unwrap_or_default() {
            if event.get("name").and_then(serde_json::Value::as_str) == Some("process_name") {
                continue;
            }
            event["pid"] = serde_json::json!(pid);
            events.push(event);
        }
    }
    let text = serde_json::to_vec(&serde_json::json!({ "traceEvents": events }))
        .map_err(|err| crate::session::SessionError::Encode(err.to_string()))?;
    crate::util::write_atomic(path, &text)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn models_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_models")
    }

    #[test]
    fn the_issue_example_parses_as_written() {
        let text = r#"
duration = "30s"
warmup = "2s"

[[model]]
name = "det"
path = "cnn.onnx"
dims = { "batch" = 1 }
rate = 3                 # or: concurrency = 2
slo = "p99=400ms"

[[model]]
name = "cls"
path = "mlp.onnx"
rate = 200
slo = "p99=10ms"
"#;
        let spec = parse_mix(text, "mix.toml", &models_dir()).expect("parses");
        assert_eq!(spec.entries.len(), 2);
        let det = &spec.entries[0];
        assert_eq!(det.name, "det");
        assert_eq!(det.config.duration_secs, Some(30.0));
        assert_eq!(det.config.warmup_secs, 2.0);
        assert!(matches!(
            det.config.load,
            crate::engine::LoadMode::Open { rate_per_sec, .. } if rate_per_sec == 3.0
        ));
        assert_eq!(det.config.dims.get("batch"), Some(&1));
        assert_eq!(det.config.slo.len(), 1);
        assert_eq!(det.config.layer_profiling, LayerProfiling::Off);
        assert_eq!(spec.entries[1].config.slo[0].bound_micros, 10_000.0);
    }

    #[test]
    fn bad_mix_files_name_the_line() {
        let dir = models_dir();
        let cases = [
            (
                "[[model]]\nname = \"a\"\npath = \"mlp.onnx\"\nfrobnicate = 3\n",
                4,
                "unknown key",
            ),
            (
                "[[model]]\nname = \"a\"\npath = \"missing.onnx\"\n",
                3,
                "no such file",
            ),
            (
                "[[model]]\nname = \"a\"\npath = \"mlp.onnx\"\n[[model]]\nname = \"a\"\npath = \"cnn.onnx\"\n",
                5,
                "used twice",
            ),
            (
                "duration = \"soon\"\n[[model]]\nname = \"a\"\npath = \"mlp.onnx\"\n",
                1,
                "soon",
            ),
            (
                "[[model]]\nname = \"a\"\npath = \"mlp.onnx\"\nconcurrency = \"many\"\n",
                4,
                "many",
            ),
            (
                "[[model]]\nname = \"a\"\npath = \"mlp.onnx\"\nexport = \"x.json\"\n",
                4,
                "not a mix key",
            ),
            ("[[model]]\npath = \"mlp.onnx\"\n", 1, "needs a name"),
            ("[[model]\nname = 1\n", 1, ""),
        ];
        for (text, line, needle) in cases {
            let err = parse_mix(text, "mix.toml", &dir).expect_err(text);
            assert_eq!(err.line, Some(line), "{err} for\n{text}");
            assert!(err.to_string().contains(needle), "{err} for\n{text}");
            assert!(
                err.to_string()
                    .starts_with(&format!("mix.toml line {line}")),
                "{err}"
            );
        }
        let none = parse_mix("duration = \"1s\"\n", "mix.toml", &dir).expect_err("no models");
        assert!(none.to_string().contains("no [[model]]"), "{none}");
    }

    #[test]
    fn the_sample_mix_reads() {
        let spec = read_mix_file(&models_dir().join("mix.toml")).expect("the sample mix");
        let names: Vec<&str> = spec.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["det", "cls", "rec"]);
        assert!(
            spec.entries
                .iter()
                .all(|entry| entry.model.as_deref().is_some_and(std::path::Path::is_file))
        );
    }

    #[test]
    fn a_saved_mix_reads_back_to_the_same_configs() {
        let text = r#"duration = "3s"
[[model]]
name = "det"
path = "cnn.onnx"
rate = 3.5
arrival = "constant"
slo = ["p99=400ms", "p50=100ms"]
dims = { "batch" = 2 }
intra_threads = 2
profile_runs = 20
[[model]]
name = "cls"
path = "mlp.onnx"
concurrency = 4
precision = "fp16"
shapes = { "input" = [1, 256] }
"#;
        let spec = parse_mix(text, "mix.toml", &models_dir()).expect("parses");
        let saved = super::super::mix_toml::to_mix_toml(&spec);
        let again = parse_mix(&saved, "saved.toml", &models_dir())
            .unwrap_or_else(|err| panic!("{err}\n{saved}"));
        assert_eq!(again, spec, "{saved}");
    }

    #[test]
    fn entry_keys_override_the_defaults_and_one_entry_may_profile() {
        let text = "concurrency = 2\nduration = \"5s\"\n[[model]]\nname = \"a\"\npath = \"mlp.onnx\"\nconcurrency = 3\nprofile_runs = 20\n[[model]]\nname = \"b\"\npath = \"cnn.onnx\"\n";
        let spec = parse_mix(text, "mix.toml", &models_dir()).expect("parses");
        assert_eq!(spec.entries[0].config.concurrency, 3);
        assert_eq!(spec.entries[1].config.concurrency, 2);
        assert_eq!(
            spec.entries[0].config.layer_profiling,
            LayerProfiling::SeparatePass { runs: 20 }
        );
        assert_eq!(spec.entries[1].config.layer_profiling, LayerProfiling::Off);
        let both = format!("{text}profile_runs = 10\n");
        let err = parse_mix(&both, "mix.toml", &models_dir()).expect_err("two profiled");
        assert!(err.to_string().contains("one entry at a time"), "{err}");
    }
}
