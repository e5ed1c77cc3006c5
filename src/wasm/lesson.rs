//! The walk-through's sections (src/app/lesson.rs), each as the CLI's `lesson SECTION --json`
//! prints it. Conversion only.

use super::{js_err, json_err, to_json};
use crate::app::lesson;
use crate::quant::Scheme;
use wasm_bindgen::prelude::*;

fn scheme_of(text: &str) -> Result<Scheme, JsError> {
    serde_json::from_value(serde_json::Value::String(text.into())).map_err(|e| json_err("scheme", e))
}

/// `lesson types --value V --range R --json`.
#[wasm_bindgen]
pub fn lesson_types(value: f32, int_range: f32) -> Result<String, JsError> {
    to_json("data types", &lesson::data_types(value, int_range).map_err(js_err)?)
}

/// `lesson formula --json`; a NaN scale means "from the values' range", a NaN zero point 0.
#[wasm_bindgen]
pub fn lesson_formula(values: &[f32], bits: u8, scheme: &str, scale: f64, zero_point: f64) -> Result<String, JsError> {
    let scale = (!scale.is_nan()).then_some(scale as f32);
    let zero_point = (!zero_point.is_nan()).then_some(zero_point as i32);
    to_json("formula", &lesson::formula(values, bits, scheme_of(scheme)?, scale, zero_point).map_err(js_err)?)
}

/// `lesson schemes --json` on the seeded ReLU-like set.
#[wasm_bindgen]
pub fn lesson_schemes(bits: u8, elements: u32, seed: f64) -> Result<String, JsError> {
    to_json("schemes", &lesson::schemes(&lesson::relu_set(elements as usize, seed as u64), bits).map_err(js_err)?)
}

/// `lesson granularity --json` on one layer of a safetensors model's bytes.
#[wasm_bindgen]
pub fn lesson_granularity(file: &str, bytes: &[u8], layer: &str, bits: u8, group: u32) -> Result<String, JsError> {
    to_json("granularity", &lesson::granularity_of_model(file, bytes, layer, bits, group as usize).map_err(js_err)?)
}

/// The outlier-heavy set the calibration section uses (kept by the worker for the threshold drags).
#[wasm_bindgen]
pub fn lesson_outlier_set(elements: u32, seed: f64) -> Vec<f32> {
    lesson::outlier_set(elements as usize, seed as u64)
}

/// `lesson calibration --json` on values `x` (the outlier set).
#[wasm_bindgen]
pub fn lesson_calibration(x: &[f32], bits: u8) -> Result<String, JsError> {
    to_json("calibration", &lesson::calibration(x, bits, lesson::HISTOGRAM_BINS, lesson::CURVE_POINTS).map_err(js_err)?)
}

/// `lesson calibration --threshold T --json` on values `x`.
#[wasm_bindgen]
pub fn lesson_clip_point(x: &[f32], bits: u8, threshold: f32) -> Result<String, JsError> {
    to_json("clipping", &lesson::clip_point(x, bits, threshold).map_err(js_err)?)
}
