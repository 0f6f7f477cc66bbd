//! Generative load: each request is a token loop over a decoder with a KV
//! cache ([`token_loop`]), driven by the same load workers, schedule and
//! recorders as one-shot requests.
//!
//! - `spec.rs`: what a run asks for (lengths, batch, objectives).
//! - `token_loop.rs`: prefill and greedy decode, cache fed back.
//! - this file: a worker's [`Generator`] (its own session, the lengths it
//!   draws, the times of each token) and the checks before a run (the
//!   model's position table, the KV cache's memory).

mod spec;
pub mod token_loop;

use std::sync::{
    Arc,
    atomic::{AtomicU64, AtomicUsize, Ordering},
};

use ort::session::{RunOptions, Session};

pub use spec::{GenerationConfig, LengthRange, parse_lengths, read_lengths_file};
pub use token_loop::{GenerateError, StepPlan};

use crate::{
    metrics::generation::{MAX_TOKEN_EVENTS, TokenEvent},
    model::generative::{DecoderLayout, LayoutKind},
};

/// Why a generative run cannot start.
#[derive(Debug, thiserror::Error)]
pub enum GenerationSetupError {
    #[error(transparent)]
    Layout(#[from] crate::model::generative::LayoutError),
    #[error(
        "a prompt of {prompt} plus {output} output tokens needs {needed} positions, but the model takes {max} ({origin})"
    )]
    BeyondPositions {
        prompt: u32,
        output: u32,
        needed: u64,
        max: u64,
        origin: String,
    },
    #[error(
        "the KV cache of {sequences} concurrent sequences at {tokens} tokens needs about {} (past and present alive during a step), more than the {} {budget}; lower {}, {} or the lengths",
        crate::util::format_bytes(*.bytes),
        crate::util::format_bytes(*.available),
        crate::field::Field::Concurrency,
        crate::field::Field::Batch
    )]
    KvCacheTooLarge {
        sequences: u64,
        tokens: u64,
        bytes: u64,
        available: u64,
        budget: String,
    },
    #[error(transparent)]
    Step(#[from] GenerateError),
}

/// Checks a run's lengths against the model: positions within its table,
/// and the KV cache of every concurrent sequence at full length within the
/// memory available. Returns the estimate.
pub fn check_run(
    layout: &DecoderLayout,
    config: &GenerationConfig,
    sequences: u64,
    available_bytes: Option<u64>,
) -> Result<u64, GenerationSetupError> {
    let (limit, budget) = match (config.max_kv_bytes, available_bytes) {
        (Some(flag), Some(available)) if available < flag => {
            (Some(available), "available".to_owned())
        }
        (Some(flag), _) => (
            Some(flag),
            format!("of {}", crate::field::Field::MaxKvBytes),
        ),
        (None, available) => (available, "available".to_owned()),
    };
    let (prompt, output) = config.longest();
    let needed = u64::from(prompt) + u64::from(output);
    if let (Some(max), Some(source)) = (layout.max_positions, &layout.max_positions_source)
        && needed > max
    {
        return Err(GenerationSetupError::BeyondPositions {
            prompt,
            output,
            needed,
            max,
            origin: source.clone(),
        });
    }
    let tokens = match (layout.kind, layout.max_positions) {
        (LayoutKind::GenAiSharedBuffer, Some(max)) => max.max(needed),
        _ => needed,
    };
    let bytes = layout.kv_bytes(sequences, tokens).saturating_mul(2);
    if let Some(available) = limit
        && bytes > available
    {
        return Err(GenerationSetupError::KvCacheTooLarge {
            sequences,
            tokens,
            bytes,
            available,
            budget,
        });
    }
    Ok(bytes)
}

/// Prompts in the fixed set of [`next_token_agreement`].
const AGREEMENT_PROMPTS: usize = 8;
/// Tokens the original generates per prompt there.
const AGREEMENT_TOKENS: usize = 8;

/// How often `after` (a transformed decoder) picks `before`'s next token:
/// over a fixed, seeded prompt set, `before` generates greedily, then both
/// score the same sequence in one call each (teacher forcing) and their
/// argmax and logits are compared at every generated position.
pub fn next_token_agreement(
    (before, layout_before): (&mut Session, DecoderLayout),
    (after, layout_after): (&mut Session, DecoderLayout),
    seed: u64,
) -> Result<crate::transform::NextTokenAgreement, GenerateError> {
    let plan_before = StepPlan::new(before, layout_before)?;
    let plan_after = StepPlan::new(after, layout_after)?;
    let vocab = plan_before.layout.vocab.unwrap_or(2).max(2);
    let positions_cap = plan_before.layout.max_positions.unwrap_or(1024) as usize;
    let prompt_tokens = 16.min(positions_cap.saturating_sub(AGREEMENT_TOKENS).max(1));
    let options = RunOptions::new().map_err(GenerateError::Value)?;
    let mut state = seed ^ 0xA11CE;
    let mut next_random = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let (mut agree, mut compared, mut first_agree, mut cosine_sum) = (0u64, 0u64, 0usize, 0.0);
    for _ in 0..AGREEMENT_PROMPTS {
        let prompt: Vec<i64> = (0..prompt_tokens)
            .map(|_| 1 + (next_random() % (vocab - 1)) as i64)
            .collect();
        let generated = token_loop::generate(
            before,
            &plan_before,
            std::slice::from_ref(&prompt),
            AGREEMENT_TOKENS,
            &options,
            |_, _| {},
        )?;
        let mut sequence = prompt.clone();
        sequence.extend_from_slice(&generated[0][..AGREEMENT_TOKENS - 1]);
        let (logits_before, width) = token_loop::sequence_logits(before, &plan_before, &sequence)?;
        let (logits_after, width_after) =
            token_loop::sequence_logits(after, &plan_after, &sequence)?;
        if width != width_after || logits_before.len() != logits_after.len() {
            return Err(GenerateError::Logits(format!(
                "the transformed logits have {width_after} columns, the original's {width}"
            )));
        }
        for position in prompt.len() - 1..sequence.len() {
            let row = position * width..(position + 1) * width;
            let (a, b) = (&logits_before[row.clone()], &logits_after[row]);
            let is_same = argmax(a) == argmax(b);
            agree += u64::from(is_same);
            if position == prompt.len() - 1 && is_same {
                first_agree += 1;
            }
            cosine_sum += cosine(a, b);
            compared += 1;
        }
    }
    Ok(crate::transform::NextTokenAgreement {
        prompts: AGREEMENT_PROMPTS,
        positions: compared,
        top1_agreement: agree as f64 / compared.max(1) as f64,
        first_token_agreement: first_agree as f64 / AGREEMENT_PROMPTS as f64,
        mean_cosine: cosine_sum / compared.max(1) as f64,
    })
}

fn argmax(values: &[f32]) -> usize {
    values.iter().enumerate().fold(
        0,
        |best, (index, value)| if *value > values[best] { index } else { best },
    )
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut dot, mut norm_a, mut norm_b) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        norm_a += x * x;
        norm_b += y * y;
    }
    if norm_a == 0.0 || norm_b == 0.0 {
        return 0.0;
    }
    dot / (norm_a.sqrt() * norm_b.sqrt())
}

/// Shared by the workers of a run: the replay position in a lengths file
/// and the KV cache bytes alive.
#[derive(Debug)]
pub struct GenerationShared {
    next_pair: AtomicUsize,
    pub kv_live_bytes: AtomicU64,
    pub kv_peak_bytes: AtomicU64,
    /// Where the measured period starts, nanos since the epoch: only
    /// measured requests leave token events.
    pub measure_start_nanos: u64,
    /// The first measured tokens, for the trace (a lock per request).
    pub token_events: std::sync::Mutex<Vec<TokenEvent>>,
}

impl GenerationShared {
    /// Shared state of a run whose measurement starts `measure_start_nanos`
    /// after its epoch.
    pub fn new(measure_start_nanos: u64) -> Self {
        Self {
            next_pair: AtomicUsize::new(0),
            kv_live_bytes: AtomicU64::new(0),
            kv_peak_bytes: AtomicU64::new(0),
            measure_start_nanos,
            token_events: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Keeps the tokens of one generation while there is room.
    fn keep_tokens(&self, worker: u16, request: u64, generated: &Generated) {
        if generated
            .token_nanos
            .first()
            .is_none_or(|first| *first < self.measure_start_nanos)
        {
            return;
        }
        let Ok(mut events) = self.token_events.lock() else {
            return;
        };
        for (row, (_, output)) in generated.rows.iter().enumerate() {
            for (token, nanos) in generated
                .token_nanos
                .iter()
                .take(*output as usize)
                .enumerate()
            {
                if events.len() >= MAX_TOKEN_EVENTS {
                    return;
                }
                events.push(TokenEvent {
                    worker,
                    request,
                    row: u16::try_from(row).unwrap_or(u16::MAX),
                    token: token as u32,
                    micros: nanos / 1000,
                });
            }
        }
    }
}

/// The token times of a worker's last generation.
#[derive(Debug, Default)]
pub struct Generated {
    /// When each step's tokens were chosen, nanos since the run's epoch
    /// (step 0: the prefill's first token).
    pub token_nanos: Vec<u64>,
    /// Gaps between consecutive steps.
    pub gaps_nanos: Vec<u64>,
    /// Per row: prompt tokens and output tokens asked for.
    pub rows: Vec<(u32, u32)>,
    /// KV cache bytes of every running sequence together once this
    /// request's cache was counted.
    pub kv_cache_bytes: u64,
}

/// One worker's token loop: its own session, lengths and prompts.
pub struct Generator {
    session: Session,
    plan: Arc<StepPlan>,
    config: Arc<GenerationConfig>,
    shared: Arc<GenerationShared>,
    /// Sequences per request, in lockstep.
    batch: usize,
    rng: u64,
    worker: u16,
    requests: u64,
    pub generated: Generated,
}

impl Generator {
    /// A generator for one worker (`worker` seeds its prompts).
    pub fn new(
        session: Session,
        plan: Arc<StepPlan>,
        config: Arc<GenerationConfig>,
        shared: Arc<GenerationShared>,
        batch: usize,
        worker: u64,
    ) -> Self {
        Self {
            session,
            plan,
            rng: config.seed ^ worker.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5EED,
            config,
            shared,
            batch: batch.max(1),
            worker: u16::try_from(worker).unwrap_or(u16::MAX),
            requests: 0,
            generated: Generated::default(),
        }
    }

    /// The session, for a first timed generation.
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    /// Runs one request (a lockstep batch of sequences), recording each
    /// step's time since `epoch` in [`Generator::generated`].
    pub fn generate(
        &mut self,
        epoch: std::time::Instant,
        options: &RunOptions,
    ) -> Result<(), GenerateError> {
        let vocab = self.plan.layout.vocab.unwrap_or(2).max(2);
        self.generated.rows.clear();
        let mut prompts = Vec::with_capacity(self.batch);
        // GroupQueryAttention takes right padding only: a lockstep batch of a
        // GenAI decoder shares its first row's prompt length.
        let shared_prompt = self.plan.layout.kind == LayoutKind::GenAiSharedBuffer;
        let mut first_prompt = None;
        for _ in 0..self.batch {
            let (mut prompt, output) = self.draw_lengths();
            if shared_prompt {
                prompt = *first_prompt.get_or_insert(prompt);
            }
            self.generated.rows.push((prompt, output));
            // Token ids in the vocabulary; 0 is left for padding.
            let ids = (0..prompt)
                .map(|_| 1 + (self.next_random() % (vocab - 1)) as i64)
                .collect();
            prompts.push(ids);
        }
        let new_tokens = self
            .generated
            .rows
            .iter()
            .map(|row| row.1)
            .max()
            .unwrap_or(1) as usize;
        let longest = prompts.iter().map(Vec::len).max().unwrap_or(0);
        let kv_bytes = self
            .plan
            .layout
            .kv_bytes(self.batch as u64, (longest + new_tokens) as u64);
        let live = self
            .shared
            .kv_live_bytes
            .fetch_add(kv_bytes, Ordering::Relaxed)
            + kv_bytes;
        self.shared.kv_peak_bytes.fetch_max(live, Ordering::Relaxed);
        self.generated.kv_cache_bytes = live;
        let times = &mut self.generated.token_nanos;
        times.clear();
        let result = token_loop::generate(
            &mut self.session,
            &self.plan,
            &prompts,
            new_tokens,
            options,
            |_, _| times.push(crate::engine::arrivals::nanos_since(epoch)),
        );
        self.shared
            .kv_live_bytes
            .fetch_sub(kv_bytes, Ordering::Relaxed);
        result?;
        let gaps = &mut self.generated.gaps_nanos;
        gaps.clear();
        gaps.extend(times.windows(2).map(|pair| pair[1].saturating_sub(pair[0])));
        self.shared
            .keep_tokens(self.worker, self.requests, &self.generated);
        self.requests += 1;
        Ok(())
    }

    fn draw_lengths(&mut self) -> (u32, u32) {
        let config = Arc::clone(&self.config);
        if !config.lengths.is_empty() {
            let index = self.shared.next_pair.fetch_add(1, Ordering::Relaxed);
            return config.lengths[index % config.lengths.len()];
        }
        let draw = |rng: &mut Self, range: LengthRange| {
            let span = u64::from(range.max - range.min) + 1;
            range.min + (rng.next_random() % span) as u32
        };
        let prompt = draw(self, config.prompt_tokens);
        let output = draw(self, config.new_tokens);
        (prompt, output)
    }

    /// SplitMix64.
    fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}
