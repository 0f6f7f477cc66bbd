//! Image-like synthetic inputs for accuracy checks: smooth random fields
//! with a few sharp edges, in [0, 1], ImageNet-normalised for 3 channels.
//! White noise drives many vision models (detectors, segmenters) into
//! near-zero or saturated outputs, where accuracy figures mean little.

use half::f16;
use ort::value::TensorElementType;
use rand::{Rng as _, SeedableRng as _, rngs::StdRng};
use rand_distr::{Distribution as _, StandardNormal};

use super::TensorData;

/// ImageNet channel means (RGB), applied to 3-channel image-like inputs.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations (RGB).
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];
/// Smallest height and width an input needs to be treated as an image.
pub const MIN_IMAGE_SIDE: i64 = 8;
/// Random axis-aligned rectangles added to each image, for sharp edges.
const EDGE_RECTANGLES: usize = 4;
/// Octaves of the smooth field: grids of 2, 4, 8 and 16 cells.
const OCTAVES: u32 = 4;

/// Whether an input looks like an image batch: float, `[N, C, H, W]` with
/// C 1 or 3 and H, W at least [`MIN_IMAGE_SIDE`].
pub fn looks_like_image(dtype: TensorElementType, shape: &[i64]) -> bool {
    is_float(dtype)
        && matches!(shape, [_, 1 | 3, h, w] if *h >= MIN_IMAGE_SIDE && *w >= MIN_IMAGE_SIDE)
}

/// Whether image-like data can be made for the input at all (`--synthetic
/// image`): float and rank 4 with a positive size.
pub fn can_be_image(dtype: TensorElementType, shape: &[i64]) -> bool {
    is_float(dtype) && shape.len() == 4 && shape.iter().all(|dim| *dim > 0)
}

fn is_float(dtype: TensorElementType) -> bool {
    matches!(
        dtype,
        TensorElementType::Float32 | TensorElementType::Float16 | TensorElementType::Float64
    )
}

/// Seeded image-like data of `shape` (`[N, C, H, W]`), `None` when the dtype
/// is not a float or the shape not rank 4.
pub fn image_like(dtype: TensorElementType, shape: &[i64], seed: u64) -> Option<TensorData> {
    if !can_be_image(dtype, shape) {
        return None;
    }
    let [n, c, h, w] = [shape[0], shape[1], shape[2], shape[3]].map(|d| d as usize);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut values = Vec::with_capacity(n * c * h * w);
    for _ in 0..n {
        let luminance = smooth_field(&mut rng, h, w);
        let edges = edge_field(&mut rng, h, w);
        let mut image = Vec::with_capacity(c * h * w);
        for _ in 0..c {
            let tint = smooth_field(&mut rng, h, w);
            image.extend(
                luminance
                    .iter()
                    .zip(&edges)
                    .zip(&tint)
                    .map(|((l, e), t)| l + e + 0.35 * t),
            );
        }
        let (low, high) = image
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(*v), hi.max(*v))
            });
        let span = (high - low).max(f32::EPSILON);
        for (channel, plane) in image.chunks_mut(h * w).enumerate() {
            for value in plane.iter_mut() {
                *value = (*value - low) / span;
                if c == 3 {
                    *value = (*value - IMAGENET_MEAN[channel]) / IMAGENET_STD[channel];
                }
            }
        }
        values.extend(image);
    }
    Some(match dtype {
        TensorElementType::Float16 => {
            TensorData::F16(values.into_iter().map(f16::from_f32).collect())
        }
        TensorElementType::Float64 => TensorData::F64(values.into_iter().map(f64::from).collect()),
        _ => TensorData::F32(values),
    })
}

/// A sum of bilinearly upsampled random grids (coarse to fine, halving
/// amplitude), `h × w` values.
fn smooth_field(rng: &mut StdRng, h: usize, w: usize) -> Vec<f32> {
    let mut field = vec![0.0f32; h * w];
    for octave in 0..OCTAVES {
        let cells = 2usize.pow(octave + 1).min(h.max(w));
        let amplitude = 0.5f32.powi(octave as i32);
        let grid: Vec<f32> = (0..(cells + 1) * (cells + 1))
            .map(|_| StandardNormal.sample(rng))
            .collect();
        for y in 0..h {
            let gy = y as f32 / (h.max(2) - 1) as f32 * cells as f32;
            let y0 = (gy.floor() as usize).min(cells - 1);
            let fy = gy - y0 as f32;
            for x in 0..w {
                let gx = x as f32 / (w.max(2) - 1) as f32 * cells as f32;
                let x0 = (gx.floor() as usize).min(cells - 1);
                let fx = gx - x0 as f32;
                let at = |row: usize, col: usize| grid[row * (cells + 1) + col];
                let top = at(y0, x0) * (1.0 - fx) + at(y0, x0 + 1) * fx;
                let bottom = at(y0 + 1, x0) * (1.0 - fx) + at(y0 + 1, x0 + 1) * fx;
                field[y * w + x] += amplitude * (top * (1.0 - fy) + bottom * fy);
            }
        }
    }
    field
}

/// A few random rectangles of constant offset: sharp edges on the field.
fn edge_field(rng: &mut StdRng, h: usize, w: usize) -> Vec<f32> {
    let mut field = vec![0.0f32; h * w];
    for _ in 0..EDGE_RECTANGLES {
        let (ya, yb) = (rng.random_range(0..h), rng.random_range(0..h));
        let (xa, xb) = (rng.random_range(0..w), rng.random_range(0..w));
        let offset: f32 = rng.random_range(-1.5..1.5);
        for y in ya.min(yb)..=ya.max(yb) {
            for x in xa.min(xb)..=xa.max(xb) {
                field[y * w + x] += offset;
            }
        }
    }
    field
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_inputs_are_recognised() {
        let f32 = TensorElementType::Float32;
        assert!(looks_like_image(f32, &[1, 3, 48, 192]));
        assert!(looks_like_image(f32, &[2, 1, 8, 8]));
        assert!(!looks_like_image(f32, &[1, 4, 48, 48]));
        assert!(!looks_like_image(f32, &[1, 3, 4, 48]));
        assert!(!looks_like_image(f32, &[1, 256]));
        assert!(!looks_like_image(TensorElementType::Int64, &[1, 3, 48, 48]));
    }

    #[test]
    fn image_like_data_is_smooth_seeded_and_normalised() {
        let shape = [2, 3, 32, 48];
        let a = image_like(TensorElementType::Float32, &shape, 5).expect("image");
        assert_eq!(
            Some(a.clone()),
            image_like(TensorElementType::Float32, &shape, 5)
        );
        assert_ne!(
            Some(a.clone()),
            image_like(TensorElementType::Float32, &shape, 6)
        );
        let TensorData::F32(values) = a else {
            panic!("f32")
        };
        assert_eq!(values.len(), 2 * 3 * 32 * 48);
        // Undo the normalisation of channel 0: values in [0, 1].
        let plane = &values[..32 * 48];
        let raw: Vec<f32> = plane
            .iter()
            .map(|v| v * IMAGENET_STD[0] + IMAGENET_MEAN[0])
            .collect();
        assert!(raw.iter().all(|v| (-1e-5..=1.0 + 1e-5).contains(v)));
        // Smooth: neighbours differ far less than random pairs would.
        let neighbour: f32 =
            raw.windows(2).map(|p| (p[1] - p[0]).abs()).sum::<f32>() / (raw.len() - 1) as f32;
        let spread = raw.iter().map(|v| (v - 0.5).abs()).sum::<f32>() / raw.len() as f32;
        assert!(neighbour < spread / 2.0, "{neighbour} vs {spread}");
        // One channel stays in [0, 1].
        let TensorData::F32(gray) =
            image_like(TensorElementType::Float32, &[1, 1, 8, 8], 1).expect("gray")
        else {
            panic!("f32")
        };
        assert!(gray.iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(image_like(TensorElementType::Int64, &shape, 1).is_none());
    }
}
