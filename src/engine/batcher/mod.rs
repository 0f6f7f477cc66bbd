//! Dynamic batching, as Triton's dynamic batcher does it: queued requests
//! are grouped into one run of up to `max_batch` rows. A batch runs when it
//! is full, when it reaches a preferred size, or when its oldest request has
//! waited `delay`. Only requests whose shapes agree past dim 0 are merged.
//!
//! [`BatchFormer`] (`former.rs`) is the pure rule (time is passed in, so
//! it is tested without threads); [`serve`] holds the threads of a batched
//! load: the closed-loop clients, the `wb-batcher` thread and one executor
//! per session.

mod former;
pub mod serve;

pub use former::{BatchFormer, BatchPolicy, MAX_PENDING_REQUESTS, Pending, shape_key};
