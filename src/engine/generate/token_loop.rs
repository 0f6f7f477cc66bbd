//! The token loop: one request is one generation. The prompt is prefilled
//! in one call, then each decode call feeds the last token and the KV
//! cache the previous call returned (`present` back as `past`, or the
//! shared buffer advanced), choosing the next token greedily. EOS is
//! ignored, so a request makes exactly the tokens asked for.
//!
//! `B` sequences run in lockstep: prompts are left-padded to the longest,
//! with the attention mask 0 over the padding and positions counted from
//! each row's first real token.

use ort::{
    session::{RunOptions, Session, SessionInputValue},
    value::{DynValue, Tensor},
};

use crate::model::{
    ElemType,
    generative::{DecoderLayout, LayoutKind},
};

/// Why a generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("{}", crate::engine::clean_ort_message(.0.message()))]
    Run(#[source] ort::Error),
    #[error("cannot build the step's inputs: {0}")]
    Value(#[source] ort::Error),
    #[error("the session has no input or output {0:?} that the decoder layout names")]
    Missing(String),
    #[error("the logits are {0}, not float32 or float16 [batch, sequence, vocab]")]
    Logits(String),
    #[error("the KV cache element type {0} is not supported (float32 or float16)")]
    CacheType(ElemType),
}

/// What each session input is to the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Ids,
    Mask,
    Positions,
    UseCache,
    /// Cache slot `2 × layer + (0 key | 1 value)`.
    Past(usize),
}

/// How one session's inputs and outputs map onto a decoder layout.
#[derive(Debug, Clone)]
pub struct StepPlan {
    pub layout: DecoderLayout,
    roles: Vec<Role>,
    logits_output: usize,
    /// Per cache slot, the output index of its present.
    present_outputs: Vec<usize>,
}

impl StepPlan {
    /// Maps `session`'s inputs and outputs onto `layout`.
    pub fn new(session: &Session, layout: DecoderLayout) -> Result<Self, GenerateError> {
        let mut slots = Vec::with_capacity(layout.layers.len() * 2);
        for layer in &layout.layers {
            slots.push((&layer.past_key, &layer.present_key));
            slots.push((&layer.past_value, &layer.present_value));
        }
        let roles = session
            .inputs()
            .iter()
            .map(|input| {
                let name = input.name();
                if name == layout.input_ids {
                    Ok(Role::Ids)
                } else if layout.attention_mask.as_deref() == Some(name) {
                    Ok(Role::Mask)
                } else if layout.position_ids.as_deref() == Some(name) {
                    Ok(Role::Positions)
                } else if layout.use_cache_branch.as_deref() == Some(name) {
                    Ok(Role::UseCache)
                } else {
                    slots
                        .iter()
                        .position(|(past, _)| past.as_str() == name)
                        .map(Role::Past)
                        .ok_or_else(|| GenerateError::Missing(name.to_owned()))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let output_index = |name: &str| {
            session
                .outputs()
                .iter()
                .position(|output| output.name() == name)
                .ok_or_else(|| GenerateError::Missing(name.to_owned()))
        };
        let logits_output = output_index(&layout.logits)?;
        let present_outputs = slots
            .iter()
            .map(|(_, present)| output_index(present))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            layout,
            roles,
            logits_output,
            present_outputs,
        })
    }

    /// The fixed length of a shared past/present buffer, if declared.
    fn fixed_buffer_length(&self) -> Option<usize> {
        (self.layout.kind == LayoutKind::GenAiSharedBuffer)
            .then_some(self.layout.max_positions_source.as_deref())
            .flatten()
            .filter(|source| source.starts_with("the fixed length"))
            .and(self.layout.max_positions)
            .and_then(|length| usize::try_from(length).ok())
    }
}

/// One lockstep generation: per row its prompt (token ids) and how many
/// tokens it wants; `on_token(step, tokens)` is called as each step's
/// tokens are chosen (step 0 is the prefill).
pub fn generate(
    session: &mut Session,
    plan: &StepPlan,
    prompts: &[Vec<i64>],
    new_tokens: usize,
    options: &RunOptions,
    on_token: impl FnMut(usize, &[i64]),
) -> Result<Vec<Vec<i64>>, GenerateError> {
    generate_with_logits(
        session,
        plan,
        prompts,
        new_tokens,
        options,
        on_token,
        |_| Ok(()),
    )
}

/// The logits of one sequence at every position, from one call with an
/// empty cache: `(logits, vocab)`, row-major `[positions, vocab]` as f32.
pub fn sequence_logits(
    session: &mut Session,
    plan: &StepPlan,
    ids: &[i64],
) -> Result<(Vec<f32>, usize), GenerateError> {
    let options = RunOptions::new().map_err(GenerateError::Value)?;
    let mut captured = (Vec::new(), 0);
    generate_with_logits(
        session,
        plan,
        std::slice::from_ref(&ids.to_vec()),
        1,
        &options,
        |_, _| {},
        |logits| {
            captured = all_logits(logits)?;
            Ok(())
        },
    )?;
    Ok(captured)
}

fn all_logits(logits: &DynValue) -> Result<(Vec<f32>, usize), GenerateError> {
    let vocab_of = |shape: &[i64]| shape.last().and_then(|v| usize::try_from(*v).ok());
    if let Ok((shape, data)) = logits.try_extract_tensor::<f32>()
        && let Some(vocab) = vocab_of(shape)
    {
        return Ok((data.to_vec(), vocab));
    }
    if let Ok((shape, data)) = logits.try_extract_tensor::<half::f16>()
        && let Some(vocab) = vocab_of(shape)
    {
        return Ok((data.iter().map(|v| v.to_f32()).collect(), vocab));
    }
    Err(GenerateError::Logits(format!("{:?}", logits.dtype())))
}

/// [`generate`], handing each step's logits to `on_logits` first.
fn generate_with_logits(
    session: &mut Session,
    plan: &StepPlan,
    prompts: &[Vec<i64>],
    new_tokens: usize,
    options: &RunOptions,
    mut on_token: impl FnMut(usize, &[i64]),
    mut on_logits: impl FnMut(&DynValue) -> Result<(), GenerateError>,
) -> Result<Vec<Vec<i64>>, GenerateError> {
    let rows = prompts.len();
    let longest = prompts.iter().map(Vec::len).max().unwrap_or(0);
    let pads: Vec<usize> = prompts
        .iter()
        .map(|prompt| longest - prompt.len())
        .collect();
    let layout = &plan.layout;
    let (heads, head_size) = (layout.kv_heads as usize, layout.head_size as usize);
    let shared_buffer = layout.kind == LayoutKind::GenAiSharedBuffer;
    let buffer_length = plan.fixed_buffer_length().unwrap_or(longest + new_tokens);
    let merged = layout.kind == LayoutKind::OptimumMerged;

    // The prefill's past: empty, a dummy step ignored by the merged
    // decoder's prefill branch, or the whole shared buffer.
    let past_length = if shared_buffer {
        buffer_length
    } else if merged {
        1
    } else {
        0
    };
    let mut cache: Vec<DynValue> = (0..layout.layers.len() * 2)
        .map(|_| zeros(layout.kv_dtype, [rows, heads, past_length, head_size]))
        .collect::<Result<_, _>>()?;

    let mut ids: Vec<i64> = Vec::with_capacity(rows * longest);
    let mut positions: Vec<i64> = Vec::with_capacity(rows * longest);
    for (prompt, pad) in prompts.iter().zip(&pads) {
        ids.extend(std::iter::repeat_n(0, *pad));
        ids.extend_from_slice(prompt);
        positions.extend(std::iter::repeat_n(0, *pad));
        positions.extend(0..prompt.len() as i64);
    }
    // Mask columns per row: 0 over the padding, then 1s.
    let mut mask_columns = longest;
    let mask_for = |columns: usize| -> Vec<i64> {
        let mut mask = Vec::with_capacity(rows * columns);
        for pad in &pads {
            mask.extend(std::iter::repeat_n(0, *pad));
            mask.extend(std::iter::repeat_n(1, columns - pad));
        }
        mask
    };
    let mut outputs: Vec<Vec<i64>> = vec![Vec::with_capacity(new_tokens); rows];
    let mut step_outputs: Vec<Option<DynValue>> = Vec::new();
    let mut sequence = longest;
    for step in 0..new_tokens {
        let use_cache = step > 0;
        let inputs = plan
            .roles
            .iter()
            .map(|role| -> Result<SessionInputValue<'_>, GenerateError> {
                Ok(match role {
                    Role::Ids => id_tensor(layout.ids_dtype, [rows, sequence], ids.clone())?,
                    Role::Mask => {
                        let columns = if merged && !use_cache {
                            longest
                        } else {
                            mask_columns
                        };
                        SessionInputValue::from(
                            Tensor::from_array(([rows, columns], mask_for(columns)))
                                .map_err(GenerateError::Value)?,
                        )
                    }
                    Role::Positions => SessionInputValue::from(
                        Tensor::from_array(([rows, sequence], positions.clone()))
                            .map_err(GenerateError::Value)?,
                    ),
                    Role::UseCache => SessionInputValue::from(
                        Tensor::from_array(([1_usize], vec![use_cache]))
                            .map_err(GenerateError::Value)?,
                    ),
                    Role::Past(slot) => SessionInputValue::from(&cache[*slot]),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let result = session
            .run_with_options(&inputs[..], options)
            .map_err(GenerateError::Run)?;
        step_outputs.clear();
        step_outputs.extend(result.into_iter().map(|(_, value)| Some(value)));
        drop(inputs);
        let logits = step_outputs
            .get_mut(plan.logits_output)
            .and_then(Option::take)
            .ok_or_else(|| GenerateError::Missing(layout.logits.clone()))?;
        on_logits(&logits)?;
        let next = argmax_last(&logits, rows)?;
        for (slot, output) in plan.present_outputs.iter().enumerate() {
            cache[slot] = step_outputs
                .get_mut(*output)
                .and_then(Option::take)
                .ok_or_else(|| GenerateError::Missing(format!("output {output}")))?;
        }
        on_token(step, &next);
        for (row, token) in next.iter().enumerate() {
            outputs[row].push(*token);
        }
        // The next step feeds the chosen tokens at the next positions.
        ids.clear();
        ids.extend_from_slice(&next);
        positions.clear();
        positions.extend(pads.iter().map(|pad| (longest + step - pad) as i64));
        sequence = 1;
        mask_columns = longest + step + 1;
    }
    Ok(outputs)
}

/// Greedy tokens by full recomputation: every step runs the whole sequence
/// so far with an empty cache. The reference the KV-cache loop must match.
pub fn generate_without_cache(
    session: &mut Session,
    plan: &StepPlan,
    prompt: &[i64],
    new_tokens: usize,
) -> Result<Vec<i64>, GenerateError> {
    let options = RunOptions::new().map_err(GenerateError::Value)?;
    let mut sequence = prompt.to_vec();
    let mut produced = Vec::with_capacity(new_tokens);
    for _ in 0..new_tokens {
        let tokens = generate(
            session,
            plan,
            std::slice::from_ref(&sequence),
            1,
            &options,
            |_, _| {},
        )?;
        let token = tokens[0][0];
        produced.push(token);
        sequence.push(token);
    }
    Ok(produced)
}

fn id_tensor(
    dtype: ElemType,
    shape: [usize; 2],
    ids: Vec<i64>,
) -> Result<SessionInputValue<'static>, GenerateError> {
    let value = if dtype == ElemType::Int32 {
        let narrowed: Vec<i32> = ids.iter().map(|id| *id as i32).collect();
        Tensor::from_array((shape, narrowed))
            .map_err(GenerateError::Value)?
            .into_dyn()
    } else {
        Tensor::from_array((shape, ids))
            .map_err(GenerateError::Value)?
            .into_dyn()
    };
    Ok(SessionInputValue::from(value))
}

/// A zero-filled cache tensor.
fn zeros(dtype: ElemType, shape: [usize; 4]) -> Result<DynValue, GenerateError> {
    let count = shape.iter().product::<usize>();
    Ok(match dtype {
        ElemType::Float => Tensor::from_array((shape, vec![0.0_f32; count]))
            .map_err(GenerateError::Value)?
            .into_dyn(),
        ElemType::Float16 => Tensor::from_array((shape, vec![half::f16::ZERO; count]))
            .map_err(GenerateError::Value)?
            .into_dyn(),
        other => return Err(GenerateError::CacheType(other)),
    })
}

/// The greedy next token of each row: the argmax over the vocabulary at
/// the last position.
fn argmax_last(logits: &DynValue, rows: usize) -> Result<Vec<i64>, GenerateError> {
    fn pick<T: Copy + PartialOrd>(shape: &[i64], data: &[T], rows: usize) -> Option<Vec<i64>> {
        let [batch, sequence, vocab] = shape else {
            return None;
        };
        let (batch, sequence, vocab) = (
            usize::try_from(*batch).ok()?,
            usize::try_from(*sequence).ok()?,
            usize::try_from(*vocab).ok()?,
        );
        if batch != rows || sequence == 0 || vocab == 0 {
            return None;
        }
        Some(
            (0..rows)
                .map(|row| {
                    let start = (row * sequence + sequence - 1) * vocab;
                    let scores = &data[start..start + vocab];
                    let mut best = 0;
                    for (index, score) in scores.iter().enumerate() {
                        if *score > scores[best] {
                            best = index;
                        }
                    }
                    best as i64
                })
                .collect(),
        )
    }
    let picked = if let Ok((shape, data)) = logits.try_extract_tensor::<f32>() {
        pick(shape, data, rows)
    } else if let Ok((shape, data)) = logits.try_extract_tensor::<half::f16>() {
        pick(shape, data, rows)
    } else {
        None
    };
    picked.ok_or_else(|| GenerateError::Logits(format!("{:?}", logits.dtype())))
}
