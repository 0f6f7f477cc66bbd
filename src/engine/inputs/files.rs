//! The user's input data: `--input NAME=FILE.npy`, `NAME=DIR` and `DIR`
//! expanded into one file per sample, the size check before anything is
//! read, `.npy` reading for every element type, and `.npy` label files.

use std::path::{Path, PathBuf};

use ndarray::ArrayD;
use ndarray_npy::ReadNpyExt as _;
use ort::value::TensorElementType;

use super::{DeclaredInput, InputError, NpyError, TensorData};
use crate::engine::config::InputFile;

/// The most input data read from `.npy` files for one run or accuracy
/// check, all files together, in bytes (2 GiB).
pub const MAX_INPUT_FILE_BYTES: u64 = 2 << 30;

/// One `.npy` file read for an input: where it came from, its shape and data.
#[derive(Debug, Clone)]
pub struct LoadedFile {
    /// The file.
    pub path: PathBuf,
    /// Its shape as stored.
    pub shape: Vec<usize>,
    /// Its values, in the model input's element type.
    pub data: TensorData,
}

/// Expands `files` into the paths of each declared input (in the model's
/// order; empty for an input fed synthetic data): a folder gives every
/// `.npy` file in it, sorted by name, and an empty name means the model's
/// only input. Counts must agree between inputs, except a single file,
/// which every sample shares.
pub fn expand(
    declared: &[DeclaredInput],
    files: &[InputFile],
) -> Result<Vec<Vec<PathBuf>>, InputError> {
    let known = || {
        declared
            .iter()
            .map(|input| input.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut per_input: Vec<Vec<PathBuf>> = vec![Vec::new(); declared.len()];
    for file in files {
        let index = if file.name.is_empty() {
            if declared.len() != 1 {
                return Err(InputError::NameNeeded {
                    path: file.path.clone(),
                    count: declared.len(),
                    known: known(),
                });
            }
            0
        } else {
            declared
                .iter()
                .position(|input| input.name == file.name)
                .ok_or_else(|| InputError::UnknownInput {
                    name: file.name.clone(),
                    known: known(),
                })?
        };
        let name = &declared[index].name;
        if file.path.is_dir() {
            per_input[index].extend(npy_files_in(name, &file.path)?);
        } else {
            per_input[index].push(file.path.clone());
        }
    }
    let counts: Vec<(&str, usize)> = declared
        .iter()
        .zip(&per_input)
        .filter(|(_, paths)| paths.len() > 1)
        .map(|(input, paths)| (input.name.as_str(), paths.len()))
        .collect();
    if counts.windows(2).any(|pair| pair[0].1 != pair[1].1) {
        return Err(InputError::SampleCounts {
            counts: counts
                .iter()
                .map(|(name, count)| format!("'{name}' has {count} files"))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(per_input)
}

/// Every `.npy` file directly in `dir`, sorted by name.
fn npy_files_in(name: &str, dir: &Path) -> Result<Vec<PathBuf>, InputError> {
    let folder_error = |source| InputError::ReadFolder {
        name: name.to_owned(),
        dir: dir.to_path_buf(),
        source,
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(folder_error)? {
        let path = entry.map_err(folder_error)?.path();
        let is_npy = path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("npy"));
        if is_npy && path.is_file() {
            paths.push(path);
        }
    }
    if paths.is_empty() {
        return Err(InputError::EmptyFolder {
            name: name.to_owned(),
            dir: dir.to_path_buf(),
        });
    }
    paths.sort();
    Ok(paths)
}

/// Checks that every file can be opened and that together they hold at
/// most `max_bytes`, before any is read.
pub fn check_sizes(
    declared: &[DeclaredInput],
    per_input: &[Vec<PathBuf>],
    max_bytes: u64,
) -> Result<(), InputError> {
    let mut total: u64 = 0;
    for (input, paths) in declared.iter().zip(per_input) {
        for path in paths {
            let bytes = std::fs::File::open(path)
                .and_then(|file| file.metadata())
                .map_err(|source| InputError::ReadFile {
                    name: input.name.clone(),
                    path: path.clone(),
                    source: NpyError::Open(source),
                })?
                .len();
            total = total.saturating_add(bytes);
        }
    }
    if total > max_bytes {
        return Err(InputError::TooMuchData {
            total_bytes: total,
            max_bytes,
        });
    }
    Ok(())
}

/// Expands, checks and reads the files of every input (see [`expand`]).
pub fn load(
    declared: &[DeclaredInput],
    files: &[InputFile],
    max_bytes: u64,
) -> Result<Vec<Vec<LoadedFile>>, InputError> {
    let per_input = expand(declared, files)?;
    check_sizes(declared, &per_input, max_bytes)?;
    declared
        .iter()
        .zip(per_input)
        .map(|(input, paths)| {
            paths
                .into_iter()
                .map(|path| {
                    let (shape, data) = read_npy(&input.name, input.dtype, &path)?;
                    Ok(LoadedFile { path, shape, data })
                })
                .collect()
        })
        .collect()
}

/// Reads one `.npy` file as the element type of the model input `name`.
pub fn read_npy(
    name: &str,
    dtype: TensorElementType,
    path: &Path,
) -> Result<(Vec<usize>, TensorData), InputError> {
    fn load<T: ndarray_npy::ReadableElement + Clone>(
        path: &Path,
        wrap: fn(Vec<T>) -> TensorData,
        dtype: TensorElementType,
    ) -> Result<(Vec<usize>, TensorData), NpyError> {
        let file = std::fs::File::open(path).map_err(NpyError::Open)?;
        let array = ArrayD::<T>::read_npy(std::io::BufReader::new(file)).map_err(|source| {
            NpyError::Read {
                dtype,
                source: Box::new(source),
            }
        })?;
        let shape = array.shape().to_vec();
        // A Fortran-order file is reordered to row-major.
        let array = if array.is_standard_layout() {
            array
        } else {
            array.as_standard_layout().into_owned()
        };
        let (values, _offset) = array.into_raw_vec_and_offset();
        Ok((shape, wrap(values)))
    }
    let result = match dtype {
        TensorElementType::Float32 => load::<f32>(path, TensorData::F32, dtype),
        TensorElementType::Float64 => load::<f64>(path, TensorData::F64, dtype),
        TensorElementType::Int8 => load::<i8>(path, TensorData::I8, dtype),
        TensorElementType::Uint8 => load::<u8>(path, TensorData::U8, dtype),
        TensorElementType::Int16 => load::<i16>(path, TensorData::I16, dtype),
        TensorElementType::Uint16 => load::<u16>(path, TensorData::U16, dtype),
        TensorElementType::Int32 => load::<i32>(path, TensorData::I32, dtype),
        TensorElementType::Uint32 => load::<u32>(path, TensorData::U32, dtype),
        TensorElementType::Int64 => load::<i64>(path, TensorData::I64, dtype),
        TensorElementType::Uint64 => load::<u64>(path, TensorData::U64, dtype),
        TensorElementType::Bool => load::<bool>(path, TensorData::Bool, dtype),
        other => Err(NpyError::UnsupportedDtype(other)),
    };
    result.map_err(|source| InputError::ReadFile {
        name: name.to_owned(),
        path: path.to_path_buf(),
        source,
    })
}

/// Reads integer class labels (int64 or int32, shape `[N]` or `[N, 1]`).
pub fn read_labels(path: &Path) -> Result<Vec<i64>, InputError> {
    let labels_error = |problem: String| InputError::Labels {
        path: path.to_path_buf(),
        problem,
    };
    let metadata = std::fs::metadata(path).map_err(|err| labels_error(err.to_string()))?;
    if metadata.len() > MAX_INPUT_FILE_BYTES {
        return Err(labels_error(format!(
            "{} bytes is more than the {} bytes allowed",
            metadata.len(),
            MAX_INPUT_FILE_BYTES
        )));
    }
    let (shape, data) = match read_npy("labels", TensorElementType::Int64, path) {
        Ok(read) => read,
        Err(first) => read_npy("labels", TensorElementType::Int32, path).map_err(|_| {
            let reason = match first {
                InputError::ReadFile {
                    source: NpyError::Read { source, .. },
                    ..
                } => source.to_string(),
                other => other.to_string(),
            };
            labels_error(format!(
                "not an int64 or int32 .npy array of class ids ({reason})"
            ))
        })?,
    };
    let values = match data {
        TensorData::I64(values) => values,
        TensorData::I32(values) => values.into_iter().map(i64::from).collect(),
        _ => return Err(labels_error("not an integer array".to_owned())),
    };
    match shape[..] {
        [_] | [_, 1] => Ok(values),
        _ => Err(labels_error(format!(
            "has shape {shape:?}; class ids need shape [N] (one per evaluated row)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use ndarray_npy::WriteNpyExt as _;

    use super::*;

    fn declared(name: &str) -> DeclaredInput {
        DeclaredInput {
            name: name.to_owned(),
            dtype: TensorElementType::Float32,
            shape: vec![-1, 4],
            symbols: vec!["batch".to_owned(), String::new()],
        }
    }

    fn write(path: &Path, rows: usize) {
        ndarray::Array2::<f32>::zeros((rows, 4))
            .write_npy(std::fs::File::create(path).expect("create"))
            .expect("write");
    }

    #[test]
    fn folders_expand_sorted_and_counts_must_agree() {
        let dir = tempfile::tempdir().expect("tempdir");
        let folder = dir.path().join("x");
        std::fs::create_dir(&folder).expect("mkdir");
        for name in ["b.npy", "a.npy", "c.NPY"] {
            write(&folder.join(name), 1);
        }
        std::fs::write(folder.join("notes.txt"), "not data").expect("write");
        let inputs = [declared("x")];
        let files = [InputFile {
            name: String::new(),
            path: folder.clone(),
        }];
        let expanded = expand(&inputs, &files).expect("expand");
        let names: Vec<_> = expanded[0]
            .iter()
            .map(|p| p.file_name().and_then(|n| n.to_str()).unwrap_or_default())
            .collect();
        assert_eq!(names, ["a.npy", "b.npy", "c.NPY"]);

        let two = [declared("x"), declared("y")];
        let err = expand(&two, &files).expect_err("no name with two inputs");
        assert!(err.to_string().contains("x, y"), "{err}");
        let y = dir.path().join("y.npy");
        write(&y, 1);
        let y2 = dir.path().join("y2.npy");
        write(&y2, 1);
        let files = [
            InputFile {
                name: "x".to_owned(),
                path: folder.clone(),
            },
            InputFile {
                name: "y".to_owned(),
                path: y.clone(),
            },
            InputFile {
                name: "y".to_owned(),
                path: y2,
            },
        ];
        let err = expand(&two, &files).expect_err("3 and 2 files");
        assert!(
            err.to_string().contains("'x' has 3 files, 'y' has 2 files"),
            "{err}"
        );
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).expect("mkdir");
        let err = expand(
            &inputs,
            &[InputFile {
                name: "x".to_owned(),
                path: empty,
            }],
        )
        .expect_err("empty folder");
        assert!(err.to_string().contains("no .npy files"), "{err}");
    }

    #[test]
    fn sizes_are_checked_before_reading() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.npy");
        write(&path, 64);
        let inputs = [declared("x")];
        let files = [InputFile {
            name: "x".to_owned(),
            path: path.clone(),
        }];
        let err = load(&inputs, &files, 100).expect_err("too big");
        assert!(err.to_string().contains("limit"), "{err}");
        let loaded = load(&inputs, &files, MAX_INPUT_FILE_BYTES).expect("fits");
        assert_eq!(loaded[0][0].shape, vec![64, 4]);
        let missing = [InputFile {
            name: "x".to_owned(),
            path: dir.path().join("missing.npy"),
        }];
        let err = load(&inputs, &missing, MAX_INPUT_FILE_BYTES).expect_err("missing");
        assert!(err.to_string().contains("missing.npy"), "{err}");
    }

    #[test]
    fn labels_read_int64_and_int32() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("labels.npy");
        ndarray::arr1(&[3i32, 1, 4])
            .write_npy(std::fs::File::create(&path).expect("create"))
            .expect("write");
        assert_eq!(read_labels(&path).expect("i32"), vec![3, 1, 4]);
        ndarray::arr1(&[7i64, 0])
            .write_npy(std::fs::File::create(&path).expect("create"))
            .expect("write");
        assert_eq!(read_labels(&path).expect("i64"), vec![7, 0]);
        ndarray::arr1(&[0.5f32])
            .write_npy(std::fs::File::create(&path).expect("create"))
            .expect("write");
        let err = read_labels(&path).expect_err("floats");
        assert!(err.to_string().contains("int64 or int32"), "{err}");
    }
}
