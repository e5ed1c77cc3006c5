//! The speed panel (www/speed.js): conversion only.

use super::{decode, js_err, to_json};
use wasm_bindgen::prelude::*;

/// A tensor's values as f32 (the weights W the speed panel packs into F32Weights, Int8Weights, Int4Weights).
#[wasm_bindgen]
pub fn tensor_values(info_json: &str, bytes: Vec<u8>) -> Result<Vec<f32>, JsError> {
    Ok(decode(info_json, bytes)?.1)
}

/// The speed panel's X [m, k]: N(0, 1) from `seed` (an integer below 2^53, as `random_seed` gives).
#[wasm_bindgen]
pub fn gaussian_activations(m: usize, k: usize, seed: f64) -> Result<Vec<f32>, JsError> {
    if !((0.0..=9007199254740991.0).contains(&seed) && seed.fract() == 0.0) {
        return Err(JsError::new(&format!("seed {seed}: expected a whole number from 0 to 2^53 − 1")));
    }
    Ok(crate::app::explore::gaussian_activations(m, k, seed as u64))
}

/// MSE, SQNR, max abs error and cosine of `output` against `reference` (JSON).
#[wasm_bindgen]
pub fn output_error(reference: &[f32], output: &[f32]) -> Result<String, JsError> {
    to_json("output error", &crate::app::explore::output_error(reference, output).map_err(js_err)?)
}
