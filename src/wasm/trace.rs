//! The Outputs view (www/views/outputs, src/app/trace.rs): conversion only.

use super::{js_err, to_json};
use wasm_bindgen::prelude::*;

/// `count` values of a synthetic distribution with σ = 1 from `seed` (the view's X, rows of k).
#[wasm_bindgen]
pub fn synthetic_inputs(distribution: &str, m: usize, k: usize, seed: f64) -> Result<Vec<f32>, JsError> {
    let dist = crate::app::synthetic::Dist::parse(distribution).map_err(js_err)?;
    if !((0.0..=9007199254740991.0).contains(&seed) && seed.fract() == 0.0) {
        return Err(JsError::new(&format!("seed {seed}: expected a whole number from 0 to 2^53 − 1")));
    }
    Ok(crate::app::trace::synthetic_inputs(dist, m, k, seed as u64))
}

/// The trace of y[sample, row] for W [n, k] (bias empty when there is none) and X (rows of k), as
/// `quant-playground trace --json` prints it (without the file fields).
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn trace_outputs(w: &[f32], n: usize, k: usize, bias: &[f32], x: &[f32], sample: usize, row: usize, method: &str, relu: bool) -> Result<String, JsError> {
    let m = crate::app::trace::rows_of(x, k, "x").map_err(js_err)?;
    let method = crate::calib::Method::parse(method).map_err(js_err)?;
    let bias = (!bias.is_empty()).then_some(bias);
    to_json("trace", &crate::app::trace::trace_outputs(w, n, k, bias, x, m, sample, row, &method, relu).map_err(js_err)?)
}
