//! What a generative run asks for: prompt and output lengths (fixed,
//! uniform ranges, or pairs replayed from a file), the lockstep batch and
//! the per-request objectives. Saved in the run's config.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::metrics::generation::GenerationSlo;

/// Most `prompt,output` pairs read from a lengths file.
pub const MAX_LENGTH_PAIRS: usize = 100_000;

/// A token count: fixed (`min == max`) or drawn uniformly from `min..=max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LengthRange {
    pub min: u32,
    pub max: u32,
}

impl LengthRange {
    /// A fixed count.
    pub fn fixed(tokens: u32) -> Self {
        Self {
            min: tokens,
            max: tokens,
        }
    }
}

impl std::fmt::Display for LengthRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}..{}", self.min, self.max)
        }
    }
}

impl std::str::FromStr for LengthRange {
    type Err = String;

    /// `128`, or a uniform range `64..256` (also `64-256`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parse = |part: &str| {
            part.trim().parse::<u32>().map_err(|_| {
                format!("{text:?} is not a token count: write 128 or a range such as 64..256")
            })
        };
        let range = match text.split_once("..").or_else(|| text.split_once('-')) {
            Some((min, max)) => Self {
                min: parse(min)?,
                max: parse(max.trim_start_matches('='))?,
            }
            .validated()?,
            None => Self::fixed(parse(text)?),
        };
        Ok(range)
    }
}

impl LengthRange {
    fn validated(self) -> Result<Self, String> {
        if self.min > self.max {
            return Err(format!("the range {}..{} is empty", self.min, self.max));
        }
        Ok(self)
    }
}

/// The generative part of a run's config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationConfig {
    /// Prompt tokens per request (ignored when `lengths` is set).
    pub prompt_tokens: LengthRange,
    /// Output tokens per request, the first one included (ignored when
    /// `lengths` is set). EOS is ignored, so every request makes exactly
    /// this many.
    pub new_tokens: LengthRange,
    /// The file the lengths were read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lengths_file: Option<PathBuf>,
    /// `(prompt, output)` pairs replayed in order, cycling.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lengths: Vec<(u32, u32)>,
    /// Per-request objectives for goodput.
    #[serde(default)]
    pub slo: GenerationSlo,
    /// Seed of the synthetic prompts and drawn lengths.
    #[serde(default)]
    pub seed: u64,
    /// Budget of the KV cache of all concurrent sequences at full length
    /// (`None`: the memory available).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_kv_bytes: Option<u64>,
}

impl GenerationConfig {
    /// Fixed lengths.
    pub fn fixed(prompt_tokens: u32, new_tokens: u32) -> Self {
        Self {
            prompt_tokens: LengthRange::fixed(prompt_tokens),
            new_tokens: LengthRange::fixed(new_tokens),
            lengths_file: None,
            lengths: Vec::new(),
            slo: GenerationSlo::default(),
            seed: 0,
            max_kv_bytes: None,
        }
    }

    /// The longest prompt and output a request can have.
    pub fn longest(&self) -> (u32, u32) {
        if self.lengths.is_empty() {
            (self.prompt_tokens.max, self.new_tokens.max)
        } else {
            let prompt = self.lengths.iter().map(|pair| pair.0).max().unwrap_or(0);
            let output = self.lengths.iter().map(|pair| pair.1).max().unwrap_or(0);
            (prompt, output)
        }
    }

    /// The shortest prompt and output a request can have.
    pub fn shortest(&self) -> (u32, u32) {
        if self.lengths.is_empty() {
            (self.prompt_tokens.min, self.new_tokens.min)
        } else {
            let prompt = self.lengths.iter().map(|pair| pair.0).min().unwrap_or(0);
            let output = self.lengths.iter().map(|pair| pair.1).min().unwrap_or(0);
            (prompt, output)
        }
    }

    /// A short description: `prompt 128, output 32`.
    pub fn describe(&self) -> String {
        match &self.lengths_file {
            Some(file) => format!(
                "{} length pairs from {}",
                self.lengths.len(),
                file.display()
            ),
            None => format!("prompt {}, output {}", self.prompt_tokens, self.new_tokens),
        }
    }

    /// Checks the lengths: every prompt and output at least one token.
    pub fn validate(&self) -> Result<(), String> {
        let (prompt, output) = self.shortest();
        if prompt == 0 {
            return Err(
                "a prompt of zero tokens cannot be prefilled: prompts need at least one token"
                    .into(),
            );
        }
        if output == 0 {
            return Err("zero output tokens generate nothing: ask for at least one".into());
        }
        Ok(())
    }
}

/// Reads `prompt,output` pairs, one per line. Blank lines, `#` comments and
/// a header line are skipped; anything else that is not two counts is an
/// error naming the line.
pub fn read_lengths_file(path: &Path) -> Result<Vec<(u32, u32)>, String> {
    let metadata = std::fs::metadata(path)
        .map_err(|err| format!("cannot read the lengths file {}: {err}", path.display()))?;
    crate::util::check_fits_in_memory(metadata.len(), || {
        format!("the lengths file {}", path.display())
    })
    .map_err(|err| err.to_string())?;
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("cannot read the lengths file {}: {err}", path.display()))?;
    parse_lengths(&text).map_err(|err| format!("{}: {err}", path.display()))
}

/// [`read_lengths_file`] on text.
pub fn parse_lengths(text: &str) -> Result<Vec<(u32, u32)>, String> {
    let mut pairs = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line
            .split([',', '\t', ' '])
            .filter(|f| !f.is_empty())
            .collect();
        let parsed = match fields.as_slice() {
            [prompt, output] => prompt.parse::<u32>().ok().zip(output.parse::<u32>().ok()),
            _ => None,
        };
        match parsed {
            Some(pair) => pairs.push(pair),
            // A header such as `prompt,output`.
            None if pairs.is_empty() && fields.iter().all(|f| f.parse::<f64>().is_err()) => {}
            None => {
                return Err(format!(
                    "line {}: {line:?} is not `prompt,output` (two token counts)",
                    index + 1
                ));
            }
        }
        if pairs.len() > MAX_LENGTH_PAIRS {
            return Err(format!("more than {MAX_LENGTH_PAIRS} length pairs"));
        }
    }
    if pairs.is_empty() {
        return Err("no `prompt,output` lines".into());
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_fixed_or_ranges() {
        assert_eq!("128".parse::<LengthRange>(), Ok(LengthRange::fixed(128)));
        assert_eq!(
            "64..256".parse::<LengthRange>(),
            Ok(LengthRange { min: 64, max: 256 })
        );
        assert_eq!(
            "8-16".parse::<LengthRange>(),
            Ok(LengthRange { min: 8, max: 16 })
        );
        assert!("16..8".parse::<LengthRange>().is_err());
        assert!("many".parse::<LengthRange>().is_err());
    }

    #[test]
    fn a_lengths_file_skips_its_header_and_names_a_bad_line() {
        let pairs =
            parse_lengths("prompt,output\n# traffic of Monday\n128,32\n\n64 16\n").expect("parses");
        assert_eq!(pairs, vec![(128, 32), (64, 16)]);
        let err = parse_lengths("128,32\n64\n").expect_err("fails");
        assert!(err.contains("line 2"), "{err}");
        assert!(parse_lengths("# nothing\n").is_err());
    }

    #[test]
    fn zero_length_prompts_are_refused() {
        let mut config = GenerationConfig::fixed(0, 8);
        assert!(
            config
                .validate()
                .expect_err("fails")
                .contains("zero tokens")
        );
        config.prompt_tokens = LengthRange::fixed(4);
        assert!(config.validate().is_ok());
        config.lengths = vec![(4, 8), (0, 2)];
        assert!(config.validate().is_err());
        assert_eq!(config.longest(), (4, 8));
    }
}
