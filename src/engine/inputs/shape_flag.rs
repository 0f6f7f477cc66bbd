//! `--shape INPUT=d0,d1,...`: one input's whole shape, checked against the
//! model's rank and fixed dims, `--batch`, `--dim` and the input's files.
//! The named symbolic dims it sets bind the same symbol on other inputs.

use std::collections::BTreeMap;

use super::{DeclaredInput, InputError, UNKNOWN_DIM_PLACEHOLDER};
use crate::engine::config::ProfileConfig;
use crate::field::Field;

/// A shape as `--shape` writes it: `1,3,48,192`.
pub fn shape_text(shape: &[i64]) -> String {
    shape
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Checks every `--shape` against the model: a known input, the declared
/// rank, fixed dims, positive dims, `--batch` and `--dim`.
pub fn check(declared: &[DeclaredInput], config: &ProfileConfig) -> Result<(), InputError> {
    for (name, shape) in &config.shapes {
        let Some(input) = declared.iter().find(|input| &input.name == name) else {
            return Err(InputError::ShapeUnknownInput {
                name: name.clone(),
                known: declared
                    .iter()
                    .map(|input| input.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        let contradicts = |problem: String| InputError::ShapeContradicts {
            name: name.clone(),
            given: shape_text(shape),
            problem,
            declared: declared_shape_text(input),
        };
        if shape.len() != input.shape.len() {
            return Err(contradicts(format!(
                "{} dims given, the input has {}",
                shape.len(),
                input.shape.len()
            )));
        }
        for (axis, (&given, &dim)) in shape.iter().zip(&input.shape).enumerate() {
            if given < 1 {
                return Err(contradicts(format!("axis {axis} is {given}, below 1")));
            }
            if dim >= 0 && given != dim {
                return Err(contradicts(format!(
                    "axis {axis} is {given}, but the model fixes it at {dim}"
                )));
            }
            if dim >= 0 {
                continue;
            }
            if axis == 0
                && let Some(batch) = config.batch
                && batch != given
            {
                return Err(contradicts(format!(
                    "axis 0 is {given}, but {} {batch} sets it",
                    Field::Batch
                )));
            }
            let symbol = input.symbols.get(axis).map(String::as_str).unwrap_or("");
            // `--dim ?=N` sets every unnamed dim; `--shape` is the more
            // specific and wins for its input.
            if symbol.is_empty() || symbol == UNKNOWN_DIM_PLACEHOLDER {
                continue;
            }
            if let Some(&value) = config.dims.get(symbol)
                && value != given
            {
                return Err(contradicts(format!(
                    "axis {axis} is {given}, but {} {symbol}={value} sets it",
                    Field::Dims
                )));
            }
        }
    }
    Ok(())
}

/// The named symbols the `--shape`s set (the unnamed and `?` dims bind
/// nothing), with where each came from; two shapes that disagree on a
/// symbol are an error.
pub fn bound_symbols(
    declared: &[DeclaredInput],
    config: &ProfileConfig,
) -> Result<BTreeMap<String, (i64, String)>, InputError> {
    let mut bound: BTreeMap<String, (i64, String)> = BTreeMap::new();
    for input in declared {
        let Some(shape) = config.shapes.get(&input.name) else {
            continue;
        };
        for (axis, (&given, &dim)) in shape.iter().zip(&input.shape).enumerate() {
            let symbol = input.symbols.get(axis).map(String::as_str).unwrap_or("");
            if dim >= 0 || symbol.is_empty() || symbol == UNKNOWN_DIM_PLACEHOLDER {
                continue;
            }
            let here = format!(
                "{} {}={} axis {axis}",
                Field::Shapes,
                input.name,
                shape_text(shape)
            );
            match bound.get(symbol) {
                Some((value, first)) if *value != given => {
                    return Err(InputError::SymbolMismatch {
                        symbol: symbol.to_owned(),
                        first: format!("{first} = {value}"),
                        second: format!("{here} = {given}"),
                    });
                }
                Some(_) => {}
                None => {
                    bound.insert(symbol.to_owned(), (given, here));
                }
            }
        }
    }
    Ok(bound)
}

/// Parses `--shape INPUT=d0,d1,...` (whole numbers, at least 1 each; an
/// empty list is a scalar).
pub fn parse_shape_flag(text: &str) -> Result<(String, Vec<i64>), InputError> {
    let bad = |problem: &str| InputError::BadShapeFlag {
        text: text.to_owned(),
        problem: problem.to_owned(),
    };
    let (name, dims) = text
        .rsplit_once('=')
        .ok_or_else(|| bad("expected INPUT=d0,d1,..., e.g. x=1,3,224,224"))?;
    if name.trim().is_empty() {
        return Err(bad("missing the input name"));
    }
    let dims = dims.trim();
    let shape = if dims.is_empty() {
        Vec::new()
    } else {
        dims.split(['x', ','])
            .map(|dim| match dim.trim().parse::<i64>() {
                Ok(value) if value >= 1 => Ok(value),
                Ok(_) => Err(bad("every dim must be at least 1")),
                Err(_) => Err(bad(&format!("'{dim}' is not a whole number"))),
            })
            .collect::<Result<_, _>>()?
    };
    Ok((name.trim().to_owned(), shape))
}

/// A declared shape as text, symbols by name: `[batch, 3, H, W]` (`?` for
/// an unnamed dynamic dim).
pub fn declared_shape_text(input: &DeclaredInput) -> String {
    let dims: Vec<String> = input
        .shape
        .iter()
        .enumerate()
        .map(|(axis, dim)| {
            if *dim >= 0 {
                dim.to_string()
            } else {
                match input.symbols.get(axis).map(String::as_str) {
                    Some(symbol) if !symbol.is_empty() => symbol.to_owned(),
                    _ => "?".to_owned(),
                }
            }
        })
        .collect();
    format!("[{}]", dims.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::inputs::tests::declared as input;

    #[test]
    fn shapes_parse() {
        assert_eq!(
            parse_shape_flag("x=1,3,48,192").expect("shape"),
            ("x".to_owned(), vec![1, 3, 48, 192])
        );
        assert_eq!(
            parse_shape_flag("a=b=2x3").expect("last ="),
            ("a=b".to_owned(), vec![2, 3])
        );
        assert_eq!(
            parse_shape_flag("scalar=").expect("scalar").1,
            Vec::<i64>::new()
        );
        for bad in ["x", "=1,2", "x=1,0", "x=1,a", "x=-2"] {
            assert!(parse_shape_flag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shapes_bind_named_symbols_and_unnamed_dims_stay_per_input() {
        let declared = [
            input("x", &[-1, 3, -1, -1], &["N", "", "?", "?"]),
            input("mask", &[-1, 1], &["N", ""]),
        ];
        let config = ProfileConfig {
            shapes: [("x".to_owned(), vec![2, 3, 5, 7])].into(),
            dims: [("?".to_owned(), 9)].into(),
            ..ProfileConfig::default()
        };
        check(&declared, &config).expect("--dim ? does not contradict --shape");
        let bound = bound_symbols(&declared, &config).expect("bound");
        assert_eq!(bound.keys().collect::<Vec<_>>(), vec!["N"]);
        assert_eq!(bound["N"].0, 2);
        let both = ProfileConfig {
            shapes: [
                ("x".to_owned(), vec![2, 3, 5, 7]),
                ("mask".to_owned(), vec![4, 1]),
            ]
            .into(),
            ..ProfileConfig::default()
        };
        let err = bound_symbols(&declared, &both).expect_err("N disagrees");
        assert!(err.to_string().contains("dim 'N'"), "{err}");
        let named = ProfileConfig {
            shapes: [("x".to_owned(), vec![2, 3, 5, 7])].into(),
            dims: [("N".to_owned(), 4)].into(),
            ..ProfileConfig::default()
        };
        let err = check(&declared, &named).expect_err("dims N=4");
        assert!(err.to_string().contains("dims N=4"), "{err}");
    }
}
