use ort::value::TensorElementType;

use super::*;
use crate::{engine::config::ProfileConfig, transform::SyntheticKind};

/// A float32 input declared with `shape` (-1 for dynamic) and `symbols`.
pub(super) fn declared(name: &str, shape: &[i64], symbols: &[&str]) -> DeclaredInput {
    DeclaredInput {
        name: name.to_owned(),
        dtype: TensorElementType::Float32,
        shape: shape.to_vec(),
        symbols: symbols.iter().map(|s| (*s).to_owned()).collect(),
    }
}

#[test]
fn synthetic_data_is_seeded_and_typed() {
    let a = synthetic(TensorElementType::Float32, 1000, 7).expect("f32");
    let b = synthetic(TensorElementType::Float32, 1000, 7).expect("f32");
    let c = synthetic(TensorElementType::Float32, 1000, 8).expect("f32");
    assert_eq!(a, b);
    assert_ne!(a, c);
    let TensorData::F32(values) = a else {
        panic!("wrong type")
    };
    let mean = values.iter().sum::<f32>() / values.len() as f32;
    assert!(mean.abs() < 0.15, "N(0,1) mean {mean}");
    let TensorData::I64(ints) = synthetic(TensorElementType::Int64, 500, 1).expect("i64") else {
        panic!("wrong type")
    };
    assert!(ints.iter().all(|v| (0..SYNTHETIC_INT_RANGE).contains(v)));
    assert!(
        matches!(synthetic(TensorElementType::Float16, 3, 1), Some(TensorData::F16(v)) if v.len() == 3)
    );
    assert!(synthetic(TensorElementType::Bfloat16, 3, 1).is_none());
}

#[test]
fn batch_and_dims_resolve_symbols() {
    let inputs = [declared("hidden", &[-1, -1, 64], &["batch", "seq", ""])];
    let config = ProfileConfig {
        batch: Some(4),
        dims: [("seq".to_owned(), 16)].into(),
        ..ProfileConfig::default()
    };
    let prepared = prepare(&inputs, &config, &GraphHints::default()).expect("prepare");
    assert_eq!(prepared.specs[0].shape, vec![4, 16, 64]);
    assert_eq!(prepared.batch_size(), 4);
    assert!(prepared.notes.is_empty());
    assert_eq!(prepared.variants[0][0].len(), 4 * 16 * 64);
}

#[test]
fn unset_and_unnamed_dims_default_to_one_with_a_note() {
    let inputs = [declared("x", &[-1, -1, 8], &["batch", "", ""])];
    let prepared =
        prepare(&inputs, &ProfileConfig::default(), &GraphHints::default()).expect("prepare");
    assert_eq!(prepared.specs[0].shape, vec![1, 1, 8]);
    assert_eq!(prepared.notes.len(), 2, "{:?}", prepared.notes);
    assert!(prepared.notes.iter().any(|note| note.contains("unnamed")));
}

#[test]
fn wrong_dims_and_fixed_batch_are_clear_errors() {
    let inputs = [declared("x", &[1, 16], &["", ""])];
    let config = ProfileConfig {
        batch: Some(4),
        ..ProfileConfig::default()
    };
    let err = prepare(&inputs, &config, &GraphHints::default()).expect_err("fixed batch");
    assert!(
        err.to_string().contains("fixed first dimension of 1"),
        "{err}"
    );

    let inputs = [declared("x", &[-1, 16], &["batch", ""])];
    let config = ProfileConfig {
        dims: [("sequence".to_owned(), 3)].into(),
        ..ProfileConfig::default()
    };
    let err = prepare(&inputs, &config, &GraphHints::default()).expect_err("unknown dim");
    assert!(
        err.to_string().contains("symbolic dims are: batch"),
        "{err}"
    );
}

#[test]
fn rows_concatenate_and_split_back() {
    let a = TensorData::I64(vec![1, 2, 3, 4]);
    let b = TensorData::I64(vec![5, 6]);
    let joined = TensorData::concat_rows(&[&a, &b]).expect("same dtype");
    assert_eq!(joined, TensorData::I64(vec![1, 2, 3, 4, 5, 6]));
    let parts = joined.split_rows(&[2, 1], 2).expect("sizes add up");
    assert_eq!(parts, vec![a.clone(), b]);
    assert!(joined.split_rows(&[2, 2], 2).is_none());
    assert!(TensorData::concat_rows(&[&a, &TensorData::F32(vec![1.0])]).is_none());
    let halves = TensorData::Bool(vec![true, false])
        .split_rows(&[1, 1], 1)
        .expect("split");
    assert_eq!(halves[1], TensorData::Bool(vec![false]));
}

#[test]
fn string_inputs_get_synthetic_strings() {
    let mut input = declared("text", &[-1, 2], &["batch", ""]);
    input.dtype = TensorElementType::String;
    let prepared =
        prepare(&[input], &ProfileConfig::default(), &GraphHints::default()).expect("string");
    let TensorData::Str(values) = &prepared.variants[0][0] else {
        panic!("not strings: {:?}", prepared.variants[0][0])
    };
    assert_eq!(values.len(), 2);
    assert!(values.iter().all(|v| v.starts_with('s')), "{values:?}");
}

#[test]
fn shape_flag_sets_one_input_and_binds_its_named_dims() {
    let config = ProfileConfig {
        shapes: [("x".to_owned(), vec![2, 3, 5, 7])].into(),
        ..ProfileConfig::default()
    };
    let prepared = prepare(&image_inputs(), &config, &GraphHints::default()).expect("prepare");
    assert_eq!(prepared.specs[0].shape, vec![2, 3, 5, 7]);
    // The mask shares N, H and W with x.
    assert_eq!(prepared.specs[1].shape, vec![2, 1, 5, 7]);
    assert!(prepared.notes.is_empty(), "{:?}", prepared.notes);
}

fn write_npy(path: &std::path::Path, shape: &[usize]) {
    use ndarray_npy::WriteNpyExt as _;
    ndarray::ArrayD::<f32>::from_shape_fn(shape.to_vec(), |index| index[0] as f32)
        .write_npy(std::fs::File::create(path).expect("create"))
        .expect("write");
}

fn image_inputs() -> [DeclaredInput; 2] {
    [
        declared("x", &[-1, 3, -1, -1], &["N", "", "H", "W"]),
        declared("mask", &[-1, 1, -1, -1], &["N", "", "H", "W"]),
    ]
}

#[test]
fn files_set_symbolic_dims_and_shared_symbols_must_agree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let x = dir.path().join("x.npy");
    write_npy(&x, &[2, 3, 16, 24]);
    let inputs = image_inputs();
    let file = |name: &str, path: &std::path::Path| crate::engine::InputFile {
        name: name.to_owned(),
        path: path.to_path_buf(),
    };
    let config = ProfileConfig {
        input_files: vec![file("x", &x)],
        ..ProfileConfig::default()
    };
    let prepared = prepare(&inputs, &config, &GraphHints::default()).expect("prepare");
    assert_eq!(prepared.specs[0].shape, vec![2, 3, 16, 24]);
    // The synthetic mask follows the dims the file set.
    assert_eq!(prepared.specs[1].shape, vec![2, 1, 16, 24]);
    assert!(prepared.notes.is_empty(), "{:?}", prepared.notes);

    let mask = dir.path().join("mask.npy");
    write_npy(&mask, &[2, 1, 16, 25]);
    let config = ProfileConfig {
        input_files: vec![file("x", &x), file("mask", &mask)],
        ..ProfileConfig::default()
    };
    let err = prepare(&inputs, &config, &GraphHints::default()).expect_err("W disagrees");
    assert!(err.to_string().contains("dim 'W'"), "{err}");

    let config = ProfileConfig {
        input_files: vec![file("x", &x)],
        dims: [("H".to_owned(), 32)].into(),
        ..ProfileConfig::default()
    };
    let err = prepare(&inputs, &config, &GraphHints::default()).expect_err("dims contradict");
    assert!(err.to_string().contains("dims H=32"), "{err}");
    let config = ProfileConfig {
        input_files: vec![file("x", &x)],
        batch: Some(4),
        ..ProfileConfig::default()
    };
    let err = prepare(&inputs, &config, &GraphHints::default()).expect_err("batch contradicts");
    assert!(err.to_string().contains("batch 4 contradicts"), "{err}");

    let fixed = [declared("x", &[-1, 3, 32, 32], &["N", "", "", ""])];
    let config = ProfileConfig {
        input_files: vec![file("x", &x)],
        ..ProfileConfig::default()
    };
    let err = prepare(&fixed, &config, &GraphHints::default()).expect_err("fixed dim");
    let text = err.to_string();
    assert!(
        text.contains("'x'") && text.contains("axis 2") && text.contains("fixed at 32"),
        "{text}"
    );
    assert!(text.contains("x.npy") && text.contains("has 16"), "{text}");
}

#[test]
fn eval_samples_keep_their_own_shapes_but_a_run_needs_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = dir.path().join("x");
    std::fs::create_dir(&folder).expect("mkdir");
    write_npy(&folder.join("a.npy"), &[1, 3, 16, 24]);
    write_npy(&folder.join("b.npy"), &[1, 3, 8, 40]);
    let inputs = [declared("x", &[-1, 3, -1, -1], &["N", "", "H", "W"])];
    let config = ProfileConfig {
        input_files: vec![crate::engine::InputFile {
            name: String::new(),
            path: folder,
        }],
        ..ProfileConfig::default()
    };
    let eval = prepare_eval(
        &inputs,
        &config,
        8,
        SyntheticKind::Auto,
        &GraphHints::default(),
    )
    .expect("eval");
    assert_eq!(eval.samples.len(), 2);
    assert_eq!(eval.samples[0].shapes[0], vec![1, 3, 16, 24]);
    assert_eq!(eval.samples[1].shapes[0], vec![1, 3, 8, 40]);
    assert_eq!(eval.description, "2 input sets from .npy files");
    let err = prepare(&inputs, &config, &GraphHints::default()).expect_err("two shapes in a run");
    assert!(err.to_string().contains("must agree"), "{err}");
}

#[test]
fn eval_synthetic_kind_is_chosen_and_described() {
    let inputs = [declared("x", &[1, 3, 32, 32], &["", "", "", ""])];
    let config = ProfileConfig::default();
    let auto = prepare_eval(
        &inputs,
        &config,
        3,
        SyntheticKind::Auto,
        &GraphHints::default(),
    )
    .expect("auto");
    assert_eq!(auto.samples.len(), 3);
    assert!(
        auto.description.starts_with(
            "3 seeded image-like synthetic input sets (smooth random fields, ImageNet-normalised; seed"
        ),
        "{}",
        auto.description
    );
    let noise = prepare_eval(
        &inputs,
        &config,
        3,
        SyntheticKind::Noise,
        &GraphHints::default(),
    )
    .expect("noise");
    assert!(noise.description.contains("noise"), "{}", noise.description);
    assert_ne!(auto.samples[0].tensors, noise.samples[0].tensors);
    // Samples differ from one another.
    assert_ne!(auto.samples[0].tensors, auto.samples[1].tensors);
    let flat = [declared("v", &[1, 256], &["", ""])];
    let auto = prepare_eval(
        &flat,
        &config,
        2,
        SyntheticKind::Auto,
        &GraphHints::default(),
    )
    .expect("flat");
    assert!(auto.description.contains("noise"), "{}", auto.description);
}
