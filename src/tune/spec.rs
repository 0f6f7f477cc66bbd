//! What a sweep measures: the varied dimensions and how each value is set
//! on a [`ProfileConfig`], the SLO, the search mode and the budget, and the
//! parsers of `--vary KEY=v1,v2` and `--slo p99=20ms`.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::field::Field;
use crate::{
    engine::{Arrival, BatchingConfig, LoadMode, ProfileConfig},
    transform::Precision,
};

/// Most points a grid may have.
pub const MAX_GRID_POINTS: usize = 1000;
/// Default stability tolerance (10 %).
pub const DEFAULT_STABILITY: f64 = 0.10;
/// Default retries of an unstable or undecided point.
pub const DEFAULT_RETRIES: u32 = 2;

/// A configuration knob a sweep can vary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VaryKey {
    Concurrency,
    Rate,
    Batch,
    Instances,
    IntraThreads,
    MaxBatch,
    BatchDelay,
    Precision,
}

impl VaryKey {
    /// Every key, in the order the help lists them.
    pub const ALL: [Self; 8] = [
        Self::Concurrency,
        Self::Rate,
        Self::Batch,
        Self::Instances,
        Self::IntraThreads,
        Self::MaxBatch,
        Self::BatchDelay,
        Self::Precision,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Concurrency => "concurrency",
            Self::Rate => "rate",
            Self::Batch => "batch",
            Self::Instances => "instances",
            Self::IntraThreads => "intra-threads",
            Self::MaxBatch => "max-batch",
            Self::BatchDelay => "batch-delay",
            Self::Precision => "precision",
        }
    }

    /// True when a higher value means more load, so a clearly failed SLO at
    /// a lower value fails every higher one.
    pub fn is_load_like(self) -> bool {
        matches!(self, Self::Concurrency | Self::Rate | Self::Batch)
    }

    /// Checks one value and returns it normalized (durations in µs).
    fn parse_value(self, text: &str) -> Result<String, TuneError> {
        let bad = |reason: &str| TuneError::BadValue {
            key: self.name().to_owned(),
            value: text.to_owned(),
            reason: reason.to_owned(),
        };
        let text = text.trim();
        match self {
            Self::Concurrency | Self::Instances | Self::MaxBatch => {
                let value: u32 = text.parse().map_err(|_| bad("a whole number"))?;
                if value == 0 {
                    return Err(bad("must be at least 1"));
                }
                Ok(value.to_string())
            }
            Self::IntraThreads => {
                let value: u32 = text.parse().map_err(|_| bad("a whole number"))?;
                Ok(value.to_string())
            }
            Self::Batch => {
                let value: i64 = text.parse().map_err(|_| bad("a whole number"))?;
                if value < 1 {
                    return Err(bad("must be at least 1"));
                }
                Ok(value.to_string())
            }
            Self::Rate => {
                let value: f64 = text.parse().map_err(|_| bad("requests per second"))?;
                if !(value.is_finite() && value > 0.0) {
                    return Err(bad("must be above 0"));
                }
                Ok(value.to_string())
            }
            Self::BatchDelay => {
                let micros = parse_duration_micros(text)
                    .ok_or_else(|| bad("a duration like 500us or 2ms"))?;
                Ok(micros.to_string())
            }
            Self::Precision => {
                let precision: Precision = text.parse().map_err(|()| bad("fp32, fp16 or int8"))?;
                Ok(precision.name().to_owned())
            }
        }
    }

    /// Sets `value` (as [`Self::parse_value`] normalized it) on `config`.
    pub fn apply(self, value: &str, config: &mut ProfileConfig) -> Result<(), TuneError> {
        let value = self.parse_value(value)?;
        let bad = || TuneError::BadValue {
            key: self.name().to_owned(),
            value: value.clone(),
            reason: "not a number".to_owned(),
        };
        match self {
            Self::Concurrency => config.concurrency = value.parse().map_err(|_| bad())?,
            Self::Instances => config.instances = Some(value.parse().map_err(|_| bad())?),
            Self::IntraThreads => config.intra_threads = value.parse().map_err(|_| bad())?,
            Self::Batch => config.batch = Some(value.parse().map_err(|_| bad())?),
            Self::Rate => {
                let rate_per_sec = value.parse().map_err(|_| bad())?;
                let arrival = match config.load {
                    LoadMode::Open { arrival, .. } => arrival,
                    LoadMode::Closed => Arrival::Poisson,
                };
                config.load = LoadMode::Open {
                    rate_per_sec,
                    arrival,
                };
            }
            Self::MaxBatch => {
                config
                    .batching
                    .get_or_insert_with(BatchingConfig::default)
                    .max_batch = value.parse().map_err(|_| bad())?;
            }
            Self::BatchDelay => {
                config
                    .batching
                    .get_or_insert_with(BatchingConfig::default)
                    .delay_micros = value.parse().map_err(|_| bad())?;
            }
            Self::Precision => {
                config.transform.precision = value.parse().map_err(|()| bad())?;
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for VaryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for VaryKey {
    type Err = TuneError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let wanted = text.trim().to_lowercase().replace('_', "-");
        Self::ALL
            .into_iter()
            .find(|key| key.name() == wanted)
            .ok_or_else(|| TuneError::UnknownKey(text.to_owned()))
    }
}

/// `500us`, `2ms`, `0.5s`, or a bare number of µs.
fn parse_duration_micros(text: &str) -> Option<u64> {
    if let Ok(micros) = text.parse::<u64>() {
        return Some(micros);
    }
    let (number, scale) = if let Some(n) = text.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix("µs") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1e6)
    } else {
        return None;
    };
    let value: f64 = number.trim().parse().ok()?;
    (value.is_finite() && value >= 0.0).then(|| (value * scale).round() as u64)
}

/// One varied dimension: a key and its values (normalized, in the order given).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaryDimension {
    pub key: VaryKey,
    pub values: Vec<String>,
}

impl FromStr for VaryDimension {
    type Err = TuneError;
    /// Parses `KEY=v1,v2,...`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (key, values) = text
            .split_once('=')
            .ok_or_else(|| TuneError::NotKeyValues(text.to_owned()))?;
        let key: VaryKey = key.parse()?;
        let values = values
            .split(',')
            .filter(|v| !v.trim().is_empty())
            .map(|v| key.parse_value(v))
            .collect::<Result<Vec<_>, _>>()?;
        if values.is_empty() {
            return Err(TuneError::NotKeyValues(text.to_owned()));
        }
        let mut unique = Vec::with_capacity(values.len());
        for value in values {
            if !unique.contains(&value) {
                unique.push(value);
            }
        }
        Ok(Self {
            key,
            values: unique,
        })
    }
}

pub use crate::metrics::slo::{LatencyBound, Percentile};

/// The service-level objective a point must meet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Slo {
    /// Latency bounds; every one must pass.
    pub latency: Vec<LatencyBound>,
    /// Least inferences per second, if given.
    pub min_throughput_per_sec: Option<f64>,
    /// Generative runs: per-request objectives (`ttft=`, `itl=`, `tpot=`,
    /// `e2e=`); a point passes when at least [`Slo::goodput_share`] of its
    /// requests meet all of them, and points rank by goodput.
    pub generation: crate::metrics::generation::GenerationSlo,
    /// The share of requests that must meet the generation objectives
    /// (`goodput>=0.99`).
    pub goodput_share: Option<f64>,
}

/// Share of a generative point's requests that must meet every objective
/// unless `goodput>=SHARE` says otherwise.
pub const DEFAULT_GOODPUT_SHARE: f64 = 0.99;

impl Slo {
    /// Adds one `--slo` item: `p99=20ms` or `throughput>=500`.
    pub fn add(&mut self, text: &str) -> Result<(), TuneError> {
        let bad = || TuneError::BadSlo(text.to_owned());
        let trimmed = text.trim();
        if self.generation.parse_into(trimmed).is_ok() {
            return Ok(());
        }
        if let Some(value) = trimmed.strip_prefix("goodput>=") {
            let value: f64 = value.trim().parse().map_err(|_| bad())?;
            if !(value > 0.0 && value < 1.0) {
                return Err(bad());
            }
            self.goodput_share = Some(value);
            return Ok(());
        }
        if let Some(value) = trimmed.strip_prefix("throughput>=") {
            let value: f64 = value.trim().parse().map_err(|_| bad())?;
            if !(value.is_finite() && value > 0.0) {
                return Err(bad());
            }
            self.min_throughput_per_sec = Some(value);
            return Ok(());
        }
        let (name, value) = trimmed.split_once('=').ok_or_else(bad)?;
        let percentile = match name.trim().to_lowercase().as_str() {
            "p50" => Percentile::P50,
            "p90" => Percentile::P90,
            "p95" => Percentile::P95,
            "p99" => Percentile::P99,
            "p99.9" | "p999" => Percentile::P999,
            _ => return Err(bad()),
        };
        let value = value.trim();
        let bound_micros = if value.chars().all(|c| c.is_ascii_digit() || c == '.') {
            // A bare number is milliseconds, the unit SLOs are written in.
            value.parse::<f64>().map_err(|_| bad())? * 1e3
        } else {
            parse_duration_micros(value).ok_or_else(bad)? as f64
        };
        if bound_micros.is_nan() || bound_micros <= 0.0 {
            return Err(bad());
        }
        self.latency.retain(|b| b.percentile != percentile);
        self.latency.push(LatencyBound {
            percentile,
            bound_micros,
        });
        Ok(())
    }

    /// The percentile the Pareto set and the margin use: the first bound's.
    pub fn chosen_percentile(&self) -> Percentile {
        self.latency
            .first()
            .map_or(Percentile::P99, |b| b.percentile)
    }

    /// `p99<=20 ms, throughput>=500/s`.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .latency
            .iter()
            .map(|b| {
                format!(
                    "{}<={}",
                    b.percentile,
                    crate::util::format_micros(b.bound_micros)
                )
            })
            .collect();
        if let Some(min) = self.min_throughput_per_sec {
            parts.push(format!("throughput>={min}/s"));
        }
        if self.generation.is_set() {
            parts.push(format!(
                "{} for {:.0} % of requests",
                self.generation,
                self.required_goodput_share() * 100.0
            ));
        }
        parts.join(", ")
    }

    /// The share of requests that must meet the generation objectives.
    pub fn required_goodput_share(&self) -> f64 {
        self.goodput_share.unwrap_or(DEFAULT_GOODPUT_SHARE)
    }
}

/// How the sweep walks the space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum SearchMode {
    /// Every combination of the `--vary` values.
    #[default]
    Grid,
    /// For each combination, the highest open-loop rate that passes.
    Rate,
    /// For each combination, the highest client count that passes.
    Concurrency,
    /// A mix (`--mix`): the largest common factor on every entry's rate
    /// (or client count) at which every entry meets its own SLO.
    Scale,
}

impl std::fmt::Display for SearchMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Grid => "grid",
            Self::Rate => "rate",
            Self::Concurrency => "concurrency",
            Self::Scale => "scale",
        })
    }
}

/// Everything that defines a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepSpec {
    /// The configuration every point starts from.
    pub base: ProfileConfig,
    pub dimensions: Vec<VaryDimension>,
    pub slo: Slo,
    pub search: SearchMode,
    /// Wall-clock budget of the whole sweep; `None` for no limit.
    pub budget_secs: Option<f64>,
    /// Stability tolerance as a fraction (0.10 = 10 %).
    pub stability: f64,
    /// Reruns of an unstable or undecided point before it is kept as such.
    pub max_retries: u32,
    /// Rerun the recommendation to confirm it.
    pub confirm: bool,
}

impl SweepSpec {
    /// A spec with the defaults: grid, 10 % stability, 2 retries, confirmed.
    pub fn new(base: ProfileConfig, dimensions: Vec<VaryDimension>, slo: Slo) -> Self {
        Self {
            base,
            dimensions,
            slo,
            search: SearchMode::Grid,
            budget_secs: None,
            stability: DEFAULT_STABILITY,
            max_retries: DEFAULT_RETRIES,
            confirm: true,
        }
    }

    /// Checks the spec before anything runs.
    pub fn validate(&self) -> Result<(), TuneError> {
        if self.slo.latency.is_empty()
            && self.slo.min_throughput_per_sec.is_none()
            && !self.slo.generation.is_set()
        {
            return Err(TuneError::NoSlo);
        }
        if self.slo.generation.is_set() && self.base.generation.is_none() {
            return Err(TuneError::BaseConfig(format!(
                "ttft/itl/tpot/e2e objectives judge generative runs: turn on {}",
                crate::field::Field::Generate
            )));
        }
        if !(self.stability.is_finite() && self.stability > 0.0) {
            return Err(TuneError::BadStability(self.stability * 100.0));
        }
        let mut seen = Vec::new();
        for dimension in &self.dimensions {
            if seen.contains(&dimension.key) {
                return Err(TuneError::DuplicateKey(dimension.key.name().to_owned()));
            }
            seen.push(dimension.key);
        }
        let searched = match self.search {
            SearchMode::Scale => return Err(TuneError::ScaleNeedsMix),
            SearchMode::Grid => None,
            SearchMode::Rate => Some(VaryKey::Rate),
            SearchMode::Concurrency => Some(VaryKey::Concurrency),
        };
        if let Some(key) = searched
            && seen.contains(&key)
        {
            return Err(TuneError::SearchVaried {
                search: self.search,
                key,
            });
        }
        if self.search == SearchMode::Grid && self.dimensions.is_empty() {
            return Err(TuneError::NothingToSweep);
        }
        let points: usize = self.dimensions.iter().map(|d| d.values.len()).product();
        if points > MAX_GRID_POINTS {
            return Err(TuneError::TooManyPoints(points));
        }
        self.base
            .validate()
            .map_err(|err| TuneError::BaseConfig(err.to_string()))
    }
}

/// Why a sweep could not be set up or a value not parsed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TuneError {
    #[error(
        "unknown {vary} key '{0}': use concurrency, rate, batch, instances, intra-threads, max-batch, batch-delay or precision", vary = Field::Vary)]
    UnknownKey(String),
    #[error("expected KEY=v1,v2,... in {vary}, got '{0}'", vary = Field::Vary)]
    NotKeyValues(String),
    #[error("{} {key}: '{value}' is not a valid value ({reason})", Field::Vary)]
    BadValue {
        key: String,
        value: String,
        reason: String,
    },
    #[error("{vary} {0} is given twice", vary = Field::Vary)]
    DuplicateKey(String),
    #[error(
        "expected an SLO like p99=20ms or throughput>=500, got '{0}' (percentiles: p50, p90, p95, p99, p99.9)"
    )]
    BadSlo(String),
    #[error("give at least one {} (for example p99=20ms)", Field::Slo)]
    NoSlo,
    #[error(
        "{} {search} varies {key} itself: do not also give {key} in {}",
        Field::Search,
        Field::Vary
    )]
    SearchVaried { search: SearchMode, key: VaryKey },
    #[error(
        "{} scale scales the entries of a mix: give a mix file ({})",
        Field::Search,
        Field::Mix
    )]
    ScaleNeedsMix,
    #[error(
        "nothing to sweep: give {} KEY=v1,v2,... or {} rate|concurrency",
        Field::Vary,
        Field::Search
    )]
    NothingToSweep,
    #[error("the grid has {0} points; at most {max} are allowed", max = MAX_GRID_POINTS)]
    TooManyPoints(usize),
    #[error("{stability} must be a percentage above 0, got {0}", stability = Field::Stability)]
    BadStability(f64),
    #[error("the base configuration is invalid: {0}")]
    BaseConfig(String),
    #[error("cannot start the sweep thread: {0}")]
    Thread(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vary_values_parse_and_apply() {
        let dim: VaryDimension = "concurrency=1,2,4,2".parse().expect("parse");
        assert_eq!(dim.values, ["1", "2", "4"]);
        let delay: VaryDimension = "batch-delay=500us,2ms".parse().expect("parse");
        assert_eq!(delay.values, ["500", "2000"]);
        let mut config = ProfileConfig::default();
        VaryKey::BatchDelay
            .apply("2000", &mut config)
            .expect("apply");
        VaryKey::MaxBatch.apply("16", &mut config).expect("apply");
        let batching = config.batching.clone().expect("created");
        assert_eq!((batching.max_batch, batching.delay_micros), (16, 2000));
        VaryKey::Rate.apply("250", &mut config).expect("apply");
        assert!(
            matches!(config.load, LoadMode::Open { rate_per_sec, .. } if rate_per_sec == 250.0)
        );
        VaryKey::Precision
            .apply("fp16", &mut config)
            .expect("apply");
        assert_eq!(config.transform.precision, Precision::Fp16);
        assert!("threads=1".parse::<VaryDimension>().is_err());
        assert!("concurrency=0".parse::<VaryDimension>().is_err());
        assert!("concurrency".parse::<VaryDimension>().is_err());
        assert!("precision=fp8".parse::<VaryDimension>().is_err());
    }

    #[test]
    fn slo_items_parse() {
        let mut slo = Slo::default();
        slo.add("p99=20ms").expect("p99");
        slo.add("p99.9=0.1s").expect("p99.9");
        slo.add("p50=5").expect("bare ms");
        slo.add("throughput>=500").expect("throughput");
        assert_eq!(slo.latency.len(), 3);
        assert_eq!(slo.latency[0].bound_micros, 20_000.0);
        assert_eq!(slo.latency[1].bound_micros, 100_000.0);
        assert_eq!(slo.latency[2].bound_micros, 5_000.0);
        assert_eq!(slo.min_throughput_per_sec, Some(500.0));
        assert_eq!(slo.chosen_percentile(), Percentile::P99);
        for bad in ["p98=20ms", "p99", "p99=fast", "throughput>=-1", "p99=0ms"] {
            assert!(slo.add(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn specs_are_checked() {
        let mut slo = Slo::default();
        slo.add("p99=20ms").expect("slo");
        let dims = vec!["concurrency=1,2".parse().expect("dim")];
        let mut spec = SweepSpec::new(ProfileConfig::default(), dims, slo);
        assert_eq!(spec.validate(), Ok(()));
        spec.search = SearchMode::Concurrency;
        assert!(matches!(
            spec.validate(),
            Err(TuneError::SearchVaried { .. })
        ));
        spec.search = SearchMode::Rate;
        assert_eq!(spec.validate(), Ok(()));
        spec.slo = Slo::default();
        assert_eq!(spec.validate(), Err(TuneError::NoSlo));
    }
}
