//! The speed half of a transform's check: the original and the transformed
//! model, one request at a time, interleaved on the same input set (ABBA:
//! the order flips every pair, so a machine that speeds up or slows down
//! during the check favours neither). Two warm-up calls each first; then
//! pairs until about [`BUDGET`] has passed, at least [`MIN_PAIRS`] and at
//! most [`MAX_PAIRS`].

use std::time::{Duration, Instant};

use ort::session::{Session, SessionInputValue};
use ort::value::DynValue;

use crate::transform::SpeedCheck;

/// Measurement time aimed at (the warm-up not counted).
const BUDGET: Duration = Duration::from_millis(1500);
/// Pairs measured however slow the model.
const MIN_PAIRS: usize = 5;
/// Pairs measured however fast the model.
const MAX_PAIRS: usize = 200;
/// Warm-up calls of each model.
const WARMUP_CALLS: usize = 2;

/// Paired latencies of `original` and `transformed`, each with its own
/// values of the same input set.
pub(crate) fn paired(
    original: (&mut Session, &[DynValue]),
    transformed: (&mut Session, &[DynValue]),
) -> ort::Result<Option<SpeedCheck>> {
    let (original, original_values) = original;
    let (transformed, transformed_values) = transformed;
    let original_views: Vec<SessionInputValue<'_>> = original_values
        .iter()
        .map(SessionInputValue::from)
        .collect();
    let transformed_views: Vec<SessionInputValue<'_>> = transformed_values
        .iter()
        .map(SessionInputValue::from)
        .collect();
    let time = |session: &mut Session, views: &[SessionInputValue<'_>]| -> ort::Result<f64> {
        let started = Instant::now();
        drop(session.run(views)?);
        Ok(started.elapsed().as_secs_f64() * 1e6)
    };
    for _ in 0..WARMUP_CALLS {
        time(original, &original_views)?;
        time(transformed, &transformed_views)?;
    }
    let mut pairs = Vec::new();
    let started = Instant::now();
    while pairs.len() < MAX_PAIRS && (pairs.len() < MIN_PAIRS || started.elapsed() < BUDGET) {
        let pair = if pairs.len() % 2 == 0 {
            let a = time(original, &original_views)?;
            (a, time(transformed, &transformed_views)?)
        } else {
            let b = time(transformed, &transformed_views)?;
            (time(original, &original_views)?, b)
        };
        pairs.push(pair);
    }
    Ok(SpeedCheck::from_pairs(&pairs))
}
