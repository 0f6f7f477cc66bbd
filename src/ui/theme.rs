//! Colours used across the UI, in one place.

use egui::Color32;

/// Throughput lines and bars.
pub const THROUGHPUT: Color32 = Color32::from_rgb(0x4e, 0x9a, 0xf1);
/// Median latency.
pub const P50: Color32 = Color32::from_rgb(0x5c, 0xc8, 0x7a);
/// 95th percentile.
pub const P95: Color32 = Color32::from_rgb(0xf0, 0xb4, 0x3c);
/// 99th percentile.
pub const P99: Color32 = Color32::from_rgb(0xe8, 0x5d, 0x5d);
/// Queue time.
pub const QUEUE: Color32 = Color32::from_rgb(0xb0, 0x7c, 0xe8);
/// CPU use.
/// Send lateness of the open-loop generator.
pub const LATENESS: Color32 = Color32::from_rgb(0x9a, 0x9a, 0x4e);
/// Process CPU.
pub const CPU: Color32 = Color32::from_rgb(0x4e, 0xc9, 0xd1);
/// Memory use.
pub const MEMORY: Color32 = Color32::from_rgb(0xd1, 0x8c, 0x4e);
/// Errors and warnings.
pub const ERROR: Color32 = Color32::from_rgb(0xe8, 0x5d, 0x5d);
/// Warnings.
pub const WARNING: Color32 = Color32::from_rgb(0xf0, 0xb4, 0x3c);
/// Good news (faster in a comparison).
pub const GOOD: Color32 = Color32::from_rgb(0x5c, 0xc8, 0x7a);
/// Muted text.
pub const MUTED: Color32 = Color32::from_gray(150);
