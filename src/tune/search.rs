//! The searches, generic over a "measure this point" function so they can be
//! tested on a simulated latency curve: the highest passing value of one
//! load dimension (bracket by doubling, then bisect), and the grid order
//! with its early-stop rule.

/// Most probes one search makes (doubling plus bisection).
pub const MAX_SEARCH_PROBES: usize = 32;
/// Throughput gain under which a dimension counts as saturated.
pub const SATURATION_GAIN: f64 = 0.05;
/// Steps a dimension must gain less than [`SATURATION_GAIN`] to stop.
pub const SATURATION_STEPS: usize = 3;

/// What measuring one value said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// The value passes the SLO.
    Pass,
    /// It fails (or is undecided, or saturated: not a value to ship).
    Fail,
    /// The search must end now (budget spent, stopped by the user).
    Stop,
}

/// The result of [`search_highest_passing`].
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOutcome {
    /// The highest value that passed, if any did.
    pub best: Option<f64>,
    /// The lowest value that failed above it, if any was found.
    pub failed_above: Option<f64>,
    /// Every value measured, in order.
    pub probes: Vec<(f64, Probe)>,
    /// True when the search ended early ([`Probe::Stop`] or the probe limit).
    pub cut_short: bool,
}

/// Finds the highest value in `[min, max]` that passes, assuming values
/// below a knee pass and values above fail. Starts at `start`; doubles
/// while it passes (halves while it fails) to bracket the knee, then bisects
/// until the bracket is within `tolerance` of the passing value (0.05 = 5 %).
/// With `integer`, values are whole numbers and the bisection stops when the
/// bracket is one apart.
pub fn search_highest_passing(
    start: f64,
    min: f64,
    max: f64,
    tolerance: f64,
    integer: bool,
    mut measure: impl FnMut(f64) -> Probe,
) -> SearchOutcome {
    let round = |v: f64| if integer { v.round().max(min) } else { v };
    let mut outcome = SearchOutcome {
        best: None,
        failed_above: None,
        probes: Vec::new(),
        cut_short: false,
    };
    let mut probe = |value: f64, outcome: &mut SearchOutcome| -> Option<bool> {
        if outcome.probes.len() >= MAX_SEARCH_PROBES {
            outcome.cut_short = true;
            return None;
        }
        let result = measure(value);
        outcome.probes.push((value, result));
        match result {
            Probe::Pass => Some(true),
            Probe::Fail => Some(false),
            Probe::Stop => {
                outcome.cut_short = true;
                None
            }
        }
    };
    let mut value = round(start.clamp(min, max));
    // Bracket.
    let Some(first) = probe(value, &mut outcome) else {
        return outcome;
    };
    if first {
        outcome.best = Some(value);
        loop {
            if value >= max {
                return outcome;
            }
            value = round((value * 2.0).min(max));
            match probe(value, &mut outcome) {
                None => return outcome,
                Some(true) => outcome.best = Some(value),
                Some(false) => {
                    outcome.failed_above = Some(value);
                    break;
                }
            }
        }
    } else {
        outcome.failed_above = Some(value);
        loop {
            if value <= min {
                return outcome;
            }
            value = round((value / 2.0).max(min));
            match probe(value, &mut outcome) {
                None => return outcome,
                Some(true) => {
                    outcome.best = Some(value);
                    break;
                }
                Some(false) => outcome.failed_above = Some(value),
            }
        }
    }
    // Bisect between the passing and the failing value.
    while let (Some(low), Some(high)) = (outcome.best, outcome.failed_above) {
        let close = if integer {
            high - low <= 1.0 || (high - low) <= tolerance * low
        } else {
            (high - low) <= tolerance * low
        };
        if close {
            break;
        }
        let mid = round((low + high) / 2.0);
        if mid <= low || mid >= high {
            break;
        }
        match probe(mid, &mut outcome) {
            None => break,
            Some(true) => outcome.best = Some(mid),
            Some(false) => outcome.failed_above = Some(mid),
        }
    }
    outcome
}

/// The order in which grid points run. `sizes` are the value counts per
/// dimension; `ascending` marks the load dimensions. The corners of the
/// other dimensions come first (their extremes say the most about the
/// shape), then points with more interior coordinates; the load dimensions
/// vary fastest and in ascending order, so a line can stop once it
/// saturates or fails ([`early_stop_reason`]). Returns index tuples.
pub fn grid_order(sizes: &[usize], ascending: &[bool]) -> Vec<Vec<usize>> {
    if sizes.contains(&0) {
        return Vec::new();
    }
    let total: usize = sizes.iter().product();
    let mut all: Vec<Vec<usize>> = Vec::with_capacity(total);
    let mut current = vec![0usize; sizes.len()];
    for _ in 0..total {
        all.push(current.clone());
        for dim in (0..sizes.len()).rev() {
            current[dim] += 1;
            if current[dim] < sizes[dim] {
                break;
            }
            current[dim] = 0;
        }
    }
    let is_load = |dim: usize| ascending.get(dim).copied().unwrap_or(false);
    all.sort_by_key(|point| {
        let interior = point
            .iter()
            .enumerate()
            .filter(|&(dim, &index)| !is_load(dim) && index != 0 && index + 1 != sizes[dim])
            .count();
        let others: Vec<usize> = (0..point.len())
            .filter(|&d| !is_load(d))
            .map(|d| point[d])
            .collect();
        let loads: Vec<usize> = (0..point.len())
            .filter(|&d| is_load(d))
            .map(|d| point[d])
            .collect();
        (interior, others, loads)
    });
    all
}

/// Why a grid point is skipped without running, given what was measured on
/// its line (the same coordinates except along `dim`), or `None` to run it.
/// `measured` holds `(index along dim, throughput, clearly failed)` of the
/// line's points with a lower index. A line stops once its last
/// [`SATURATION_STEPS`] steps each gained less than [`SATURATION_GAIN`], or
/// (when `load_like`, more of it means more load) once a lower value clearly
/// failed the SLO.
pub fn early_stop_reason(
    index: usize,
    measured: &[(usize, f64, bool)],
    load_like: bool,
) -> Option<String> {
    let mut lower: Vec<&(usize, f64, bool)> = measured.iter().filter(|m| m.0 < index).collect();
    lower.sort_by_key(|m| m.0);
    if load_like && let Some(failed) = lower.iter().find(|m| m.2) {
        return Some(format!(
            "a lower value (step {}) already clearly failed the SLO",
            failed.0 + 1
        ));
    }
    if lower.len() > SATURATION_STEPS {
        let tail = &lower[lower.len() - SATURATION_STEPS - 1..];
        let flat = tail.windows(2).all(|pair| {
            let (before, after) = (pair[0].1, pair[1].1);
            before > 0.0 && (after - before) / before < SATURATION_GAIN
        });
        if flat {
            return Some(format!(
                "throughput gained less than {:.0} % over the last {SATURATION_STEPS} steps (saturated)",
                SATURATION_GAIN * 100.0
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A simulated server: p99 latency grows as load approaches capacity
    /// (M/M/1-like: 1 / (capacity - rate)); beyond capacity it saturates.
    fn simulated_probe(rate: f64, capacity: f64, slo_ms: f64) -> Probe {
        if rate >= capacity {
            return Probe::Fail;
        }
        let p99_ms = 1000.0 * 4.6 / (capacity - rate);
        if p99_ms <= slo_ms {
            Probe::Pass
        } else {
            Probe::Fail
        }
    }

    #[test]
    fn rate_bisection_finds_the_knee_within_five_percent() {
        // capacity 1000/s, SLO 20 ms: knee at 1000 - 4600/20 = 770/s.
        let knee = 770.0;
        let outcome = search_highest_passing(50.0, 1.0, 1e6, 0.05, false, |rate| {
            simulated_probe(rate, 1000.0, 20.0)
        });
        let best = outcome.best.expect("found");
        let high = outcome.failed_above.expect("bracketed");
        assert!(best <= knee && high > knee, "{outcome:?}");
        assert!((high - best) / best <= 0.05, "{outcome:?}");
        assert!(best >= knee * 0.95, "{outcome:?}");
        assert!(!outcome.cut_short);
        // 50, 100, 200, 400, 800 bracket; then a few bisection steps.
        assert_eq!(
            outcome.probes[..5].iter().map(|p| p.0).collect::<Vec<_>>(),
            [50.0, 100.0, 200.0, 400.0, 800.0]
        );
        assert!(outcome.probes.len() <= 10, "{}", outcome.probes.len());
    }

    #[test]
    fn a_failing_start_halves_down_and_nothing_passing_is_none() {
        let outcome = search_highest_passing(1000.0, 1.0, 1e6, 0.05, false, |rate| {
            simulated_probe(rate, 100.0, 100.0)
        });
        // knee at 100 - 46 = 54.
        let best = outcome.best.expect("found");
        assert!((54.0 * 0.95..=54.0).contains(&best), "{outcome:?}");
        let never = search_highest_passing(8.0, 1.0, 64.0, 0.05, true, |_| Probe::Fail);
        assert_eq!(never.best, None);
        assert_eq!(never.probes.len(), 4, "8, 4, 2, 1: {never:?}");
    }

    #[test]
    fn integer_search_and_stop_keep_what_was_measured() {
        // Passes up to 11 clients.
        let outcome = search_highest_passing(1.0, 1.0, 64.0, 0.05, true, |c| {
            if c <= 11.0 { Probe::Pass } else { Probe::Fail }
        });
        assert_eq!(outcome.best, Some(11.0));
        assert_eq!(outcome.failed_above, Some(12.0));
        let mut calls = 0;
        let stopped = search_highest_passing(1.0, 1.0, 64.0, 0.05, true, |_| {
            calls += 1;
            if calls == 3 { Probe::Stop } else { Probe::Pass }
        });
        assert!(stopped.cut_short);
        assert_eq!(stopped.best, Some(2.0));
    }

    #[test]
    fn grid_runs_corners_first_and_covers_everything() {
        let order = grid_order(&[3, 2], &[false, false]);
        assert_eq!(order.len(), 6);
        assert_eq!(
            order,
            vec![
                vec![0, 0],
                vec![0, 1],
                vec![2, 0],
                vec![2, 1],
                vec![1, 0],
                vec![1, 1]
            ]
        );
        assert!(grid_order(&[2, 0], &[false, false]).is_empty());
        assert_eq!(grid_order(&[], &[]), vec![Vec::<usize>::new()]);
        // A load dimension (the first) varies fastest, ascending, inside
        // the corners-first order of the other (precision-like) dimension.
        let order = grid_order(&[3, 3], &[true, false]);
        assert_eq!(
            order,
            vec![
                vec![0, 0],
                vec![1, 0],
                vec![2, 0],
                vec![0, 2],
                vec![1, 2],
                vec![2, 2],
                vec![0, 1],
                vec![1, 1],
                vec![2, 1]
            ]
        );
    }

    #[test]
    fn a_dimension_stops_when_saturated_or_clearly_failed() {
        let flat = [
            (0, 100.0, false),
            (1, 102.0, false),
            (2, 103.0, false),
            (3, 104.0, false),
        ];
        assert!(
            early_stop_reason(4, &flat, true)
                .expect("saturated")
                .contains("saturated")
        );
        let growing = [
            (0, 100.0, false),
            (1, 150.0, false),
            (2, 151.0, false),
            (3, 152.0, false),
            (4, 153.0, false),
        ];
        assert_eq!(early_stop_reason(4, &growing[..4], true), None);
        assert!(early_stop_reason(5, &growing, true).is_some());
        let failed = [(0, 100.0, false), (1, 180.0, true)];
        assert!(early_stop_reason(2, &failed, true).is_some());
        assert_eq!(early_stop_reason(2, &failed, false), None);
        // Only lower values count.
        assert_eq!(early_stop_reason(1, &failed, true), None);
    }
}
