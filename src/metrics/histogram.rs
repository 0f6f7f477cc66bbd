//! Latency histograms: HDR with a clamped maximum and an outlier count, and
//! the percentile summary every report shows.

use base64::Engine as _;
use hdrhistogram::{
    Histogram,
    serialization::{Deserializer, Serializer as _, V2DeflateSerializer},
};
use serde::{Deserialize, Serialize};

/// Highest latency recorded exactly: one hour, in nanoseconds. Longer values
/// are clamped to it and counted as outliers.
pub const MAX_TRACKABLE_NANOS: u64 = 3_600_000_000_000;
/// Significant figures kept by the histograms.
pub const SIGNIFICANT_FIGURES: u8 = 3;
/// Name of the histogram encoding used in session files.
pub const HISTOGRAM_ENCODING: &str = "hdrhistogram-v2-deflate-base64";

/// A histogram could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum HistogramError {
    #[error("histogram data is not valid base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("histogram data could not be decoded: {0}")]
    Decode(String),
    #[error("histogram could not be encoded: {0}")]
    Encode(String),
}

/// An HDR histogram of nanosecond latencies.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    histogram: Histogram<u64>,
    outliers: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

/// A histogram's recorded buckets only, for what is kept per window: a
/// [`LatencyHistogram`] takes about 190 KB whatever it holds (its bucket
/// array spans 1 ns to an hour), so an hour of 1-second windows would hold
/// up to 2.7 GB. Here each recorded bucket is two LEB128 varints (the step
/// from the previous bucket's value, and the count), 2 to 6 bytes, so a
/// window of a thousand distinct buckets takes a few KB. Counts above a
/// bound and merges are exact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactHistogram {
    /// `(highest value equivalent to the bucket, count)` per recorded
    /// bucket, ascending, as varint pairs: the value as a step from the
    /// previous one.
    buckets: Vec<u8>,
    len: u64,
    outliers: u64,
}

impl CompactHistogram {
    /// The recorded buckets of `histogram`.
    pub fn of(histogram: &LatencyHistogram) -> Self {
        let mut buckets = Vec::new();
        let mut previous = 0;
        for bucket in histogram.histogram.iter_recorded() {
            let value = bucket.value_iterated_to();
            push_varint(&mut buckets, value - previous);
            push_varint(&mut buckets, bucket.count_at_value());
            previous = value;
        }
        buckets.shrink_to_fit();
        Self {
            buckets,
            len: histogram.len(),
            outliers: histogram.outliers,
        }
    }

    /// Number of recorded values.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the buckets take.
    pub fn stored_bytes(&self) -> usize {
        self.buckets.len()
    }

    /// `(highest value equivalent to the bucket, count)`, ascending.
    fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let mut bytes = self.buckets.as_slice();
        let mut value = 0u64;
        std::iter::from_fn(move || {
            let step = take_varint(&mut bytes)?;
            let count = take_varint(&mut bytes)?;
            value += step;
            Some((value, count))
        })
    }

    /// [`LatencyHistogram::count_above_nanos`] of the histogram it holds.
    pub fn count_above_nanos(&self, bound_nanos: u64) -> u64 {
        let bound = template().highest_equivalent(bound_nanos.min(MAX_TRACKABLE_NANOS));
        self.iter()
            .filter(|(value, _)| *value > bound)
            .map(|(_, count)| count)
            .sum()
    }

    /// Adds its values to `histogram`.
    pub fn merge_into(&self, histogram: &mut LatencyHistogram) {
        for (value, count) in self.iter() {
            let _ = histogram.histogram.record_n(value, count);
        }
        histogram.outliers += self.outliers;
    }
}

fn push_varint(bytes: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        bytes.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    bytes.push(value as u8);
}

fn take_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// An empty histogram of the shared bounds, for bucket arithmetic.
fn template() -> &'static Histogram<u64> {
    static TEMPLATE: std::sync::OnceLock<Histogram<u64>> = std::sync::OnceLock::new();
    TEMPLATE.get_or_init(LatencyHistogram::empty_histogram)
}

impl LatencyHistogram {
    /// An empty histogram covering 1 ns to [`MAX_TRACKABLE_NANOS`].
    pub fn new() -> Self {
        Self {
            histogram: Self::empty_histogram(),
            outliers: 0,
        }
    }

    fn empty_histogram() -> Histogram<u64> {
        match Histogram::new_with_bounds(1, MAX_TRACKABLE_NANOS, SIGNIFICANT_FIGURES) {
            Ok(histogram) => histogram,
            // The bounds are constants that hdrhistogram accepts; a failure here is a bug.
            Err(err) => unreachable!("constant histogram bounds rejected: {err}"),
        }
    }

    /// Records one latency, clamping values above the trackable maximum.
    #[inline]
    pub fn record_nanos(&mut self, nanos: u64) {
        let clamped = if nanos > MAX_TRACKABLE_NANOS {
            self.outliers += 1;
            MAX_TRACKABLE_NANOS
        } else {
            nanos.max(1)
        };
        self.histogram.saturating_record(clamped);
    }

    /// Recorded values above `bound_nanos` (to the histogram's resolution:
    /// values within a bucket of the bound count as at the bound), outliers
    /// included.
    pub fn count_above_nanos(&self, bound_nanos: u64) -> u64 {
        let total = self.histogram.len();
        let at_or_below = self
            .histogram
            .count_between(0, bound_nanos.min(MAX_TRACKABLE_NANOS));
        total.saturating_sub(at_or_below)
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Self) {
        // Both histograms have identical bounds, so `add` cannot fail.
        let _ = self.histogram.add(&other.histogram);
        self.outliers += other.outliers;
    }

    /// Number of recorded values.
    pub fn len(&self) -> u64 {
        self.histogram.len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.histogram.is_empty()
    }

    /// Values clamped to the maximum.
    pub fn outliers(&self) -> u64 {
        self.outliers
    }

    /// Empties the histogram.
    pub fn reset(&mut self) {
        self.histogram.reset();
        self.outliers = 0;
    }

    /// The value at `quantile` (0..=1), in microseconds.
    pub fn quantile_micros(&self, quantile: f64) -> f64 {
        self.histogram.value_at_quantile(quantile) as f64 / 1000.0
    }

    /// The value at `quantile` (0..=1), in nanoseconds (the highest value
    /// equivalent to it at the histogram's resolution).
    pub fn quantile_nanos(&self, quantile: f64) -> u64 {
        self.histogram.value_at_quantile(quantile)
    }

    /// The mean, in microseconds; `None` when empty.
    pub fn mean_micros(&self) -> Option<f64> {
        (!self.histogram.is_empty()).then(|| self.histogram.mean() / 1000.0)
    }

    /// The largest recorded value, in nanoseconds (0 when empty).
    pub fn max_nanos(&self) -> u64 {
        self.histogram.max()
    }

    /// Percentile summary in microseconds; `None` when empty.
    pub fn summary(&self) -> Option<LatencySummary> {
        if self.histogram.is_empty() {
            return None;
        }
        let micros = |nanos: u64| nanos as f64 / 1000.0;
        Some(LatencySummary {
            count: self.histogram.len(),
            min_micros: micros(self.histogram.min()),
            mean_micros: self.histogram.mean() / 1000.0,
            p50_micros: micros(self.histogram.value_at_quantile(0.50)),
            p90_micros: micros(self.histogram.value_at_quantile(0.90)),
            p95_micros: micros(self.histogram.value_at_quantile(0.95)),
            p99_micros: micros(self.histogram.value_at_quantile(0.99)),
            p999_micros: micros(self.histogram.value_at_quantile(0.999)),
            max_micros: micros(self.histogram.max()),
            outliers: self.outliers,
            p50_ci_micros: None,
            p90_ci_micros: None,
            p95_ci_micros: None,
            p99_ci_micros: None,
            p999_ci_micros: None,
        })
    }

    /// Log-spaced buckets for plotting: `(upper bound in µs, count)`, at most
    /// `max_buckets` of them, empty ones left out.
    pub fn buckets(&self, max_buckets: usize) -> Vec<HistogramBucket> {
        if self.histogram.is_empty() || max_buckets == 0 {
            return Vec::new();
        }
        let low = self.histogram.min().max(1) as f64;
        let high = (self.histogram.max().max(1) as f64).max(low * 1.0001);
        let log_span = (high / low).ln();
        let mut counts = vec![0u64; max_buckets];
        for value in self.histogram.iter_recorded() {
            let position = (value.value_iterated_to().max(1) as f64 / low).ln() / log_span;
            let index = ((position * max_buckets as f64) as usize).min(max_buckets - 1);
            counts[index] += value.count_at_value();
        }
        counts
            .iter()
            .enumerate()
            .filter(|(_, count)| **count > 0)
            .map(|(index, count)| HistogramBucket {
                upper_micros: low * (log_span * (index + 1) as f64 / max_buckets as f64).exp()
                    / 1000.0,
                count: *count,
            })
            .collect()
    }

    /// Encodes as compressed HDR V2 in base64 (see [`HISTOGRAM_ENCODING`]).
    pub fn encode(&self) -> Result<String, HistogramError> {
        let mut bytes = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&self.histogram, &mut bytes)
            .map_err(|err| HistogramError::Encode(format!("{err:?}")))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    /// Decodes what [`Self::encode`] wrote.
    pub fn decode(encoded: &str, outliers: u64) -> Result<Self, HistogramError> {
        let bytes = base64::engine::general_purpose::STANDARD.decode(encoded)?;
        let histogram: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|err| HistogramError::Decode(format!("{err:?}")))?;
        Ok(Self {
            histogram,
            outliers,
        })
    }
}

/// One bar of a latency histogram plot.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HistogramBucket {
    pub upper_micros: f64,
    pub count: u64,
}

/// Percentiles of a set of latencies, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub min_micros: f64,
    pub mean_micros: f64,
    pub p50_micros: f64,
    pub p90_micros: f64,
    pub p95_micros: f64,
    pub p99_micros: f64,
    pub p999_micros: f64,
    pub max_micros: f64,
    /// Values above the trackable maximum, clamped.
    pub outliers: u64,
    /// 95 % confidence intervals `[low, high]` of the percentiles above,
    /// in µs, by batch means over the 1-second windows (see
    /// `metrics::confidence`); `None` where they were not computed (older
    /// sessions, or too little data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50_ci_micros: Option<[f64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p90_ci_micros: Option<[f64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95_ci_micros: Option<[f64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_ci_micros: Option<[f64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p999_ci_micros: Option<[f64; 2]>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_above_a_bound() {
        let mut histogram = LatencyHistogram::new();
        for micros in 1..=1000u64 {
            histogram.record_nanos(micros * 1000);
        }
        assert_eq!(histogram.count_above_nanos(990_000), 10);
        assert_eq!(histogram.count_above_nanos(2_000_000), 0);
        assert_eq!(histogram.count_above_nanos(0), 1000);
        histogram.record_nanos(MAX_TRACKABLE_NANOS * 2);
        assert_eq!(histogram.count_above_nanos(2_000_000), 1);
    }

    #[test]
    fn percentiles_match_hand_computed_values() {
        let mut histogram = LatencyHistogram::new();
        for micros in 1..=1000u64 {
            histogram.record_nanos(micros * 1000);
        }
        let summary = histogram.summary().expect("not empty");
        assert_eq!(summary.count, 1000);
        assert!(
            (summary.p50_micros - 500.0).abs() <= 0.5,
            "{}",
            summary.p50_micros
        );
        assert!(
            (summary.p99_micros - 990.0).abs() <= 1.0,
            "{}",
            summary.p99_micros
        );
        assert!(
            (summary.mean_micros - 500.5).abs() <= 0.5,
            "{}",
            summary.mean_micros
        );
        assert!((summary.min_micros - 1.0).abs() < 0.01);
        assert!((summary.max_micros - 1000.0).abs() <= 1.0);
    }

    #[test]
    fn values_above_the_maximum_are_clamped_and_counted() {
        let mut histogram = LatencyHistogram::new();
        histogram.record_nanos(MAX_TRACKABLE_NANOS * 2);
        histogram.record_nanos(0);
        assert_eq!(histogram.len(), 2);
        assert_eq!(histogram.outliers(), 1);
    }

    #[test]
    fn merge_adds_counts() {
        let mut a = LatencyHistogram::new();
        let mut b = LatencyHistogram::new();
        a.record_nanos(1_000);
        b.record_nanos(2_000);
        b.record_nanos(3_000);
        a.merge(&b);
        assert_eq!(a.len(), 3);
    }

    #[test]
    fn encoding_round_trips() {
        let mut histogram = LatencyHistogram::new();
        for nanos in [15_000, 20_000, 20_500, 1_000_000] {
            histogram.record_nanos(nanos);
        }
        let encoded = histogram.encode().expect("encode");
        let decoded = LatencyHistogram::decode(&encoded, 0).expect("decode");
        assert_eq!(decoded.summary(), histogram.summary());
        assert!(LatencyHistogram::decode("not base64!", 0).is_err());
    }

    #[test]
    fn buckets_cover_every_value() {
        let mut histogram = LatencyHistogram::new();
        for micros in [10u64, 12, 15, 100, 120, 1000] {
            histogram.record_nanos(micros * 1000);
        }
        let buckets = histogram.buckets(20);
        assert_eq!(buckets.iter().map(|b| b.count).sum::<u64>(), 6);
        assert!(
            buckets
                .windows(2)
                .all(|pair| pair[0].upper_micros < pair[1].upper_micros)
        );
    }

    #[test]
    fn a_compact_window_counts_and_merges_as_its_histogram_does() {
        let mut window = LatencyHistogram::new();
        let mut value = 1_000_u64;
        for step in 0..20_000_u64 {
            // A spread of latencies with a long tail, and one outlier.
            value = 1_000 + (value * 7 + step * 13) % 500_000;
            window.record_nanos(value);
        }
        window.record_nanos(MAX_TRACKABLE_NANOS + 1);
        let compact = CompactHistogram::of(&window);
        assert_eq!(compact.len(), window.len());
        for bound in [
            0,
            1,
            999,
            1_000,
            1_001,
            25_000,
            123_456,
            499_999,
            10_000_000,
            u64::MAX,
        ] {
            assert_eq!(
                compact.count_above_nanos(bound),
                window.count_above_nanos(bound),
                "bound {bound}"
            );
        }
        let mut merged = LatencyHistogram::new();
        compact.merge_into(&mut merged);
        compact.merge_into(&mut merged);
        let mut twice = window.clone();
        twice.merge(&window);
        assert_eq!(merged.len(), twice.len());
        assert_eq!(merged.outliers(), 2);
        for quantile in [0.5, 0.9, 0.99, 0.999] {
            assert_eq!(
                merged.quantile_nanos(quantile),
                twice.quantile_nanos(quantile)
            );
        }
        // What a window keeps: its recorded buckets, not the dense array.
        assert!(
            compact.stored_bytes() < 20_000,
            "{}",
            compact.stored_bytes()
        );
        let dense_bytes = 8 * 23_000;
        assert!(compact.stored_bytes() * 10 < dense_bytes);
        assert!(CompactHistogram::of(&LatencyHistogram::new()).is_empty());
    }

    #[test]
    fn varints_round_trip() {
        let values = [0, 1, 127, 128, 300, MAX_TRACKABLE_NANOS, u64::MAX];
        let mut bytes = Vec::new();
        for value in values {
            push_varint(&mut bytes, value);
        }
        let mut rest = bytes.as_slice();
        let decoded: Vec<u64> = std::iter::from_fn(|| take_varint(&mut rest)).collect();
        assert_eq!(decoded, values);
        // A truncated varint ends the sequence instead of misreading it.
        let mut truncated: &[u8] = &[0x80];
        assert_eq!(take_varint(&mut truncated), None);
    }
}
