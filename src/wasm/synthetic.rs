//! Synthetic data (src/app/synthetic.rs): the page's opening example, seeds, and activation sets.
//! Conversion only.

use super::js_err;
use wasm_bindgen::prelude::*;

/// The synthetic example the page opens with, as safetensors bytes.
#[wasm_bindgen]
pub fn example_file(seed: u32) -> Vec<u8> {
    crate::app::synthetic::example_safetensors(seed as u64)
}

/// A fresh random seed for synthetic data (at most 2^53 − 1, exact as a JS number).
#[wasm_bindgen]
pub fn random_seed() -> f64 {
    crate::app::synthetic::random_seed() as f64
}

/// The distributions `synthetic_activations` knows, as a JSON array of names.
#[wasm_bindgen]
pub fn synthetic_distributions() -> String {
    serde_json::to_string(&crate::app::synthetic::Dist::ALL.map(|d| d.name())).unwrap_or_else(|_| "[]".into())
}

/// A seeded synthetic activation set (`rows` × 768 F32) as safetensors bytes, opened like a dropped file.
#[wasm_bindgen]
pub fn synthetic_activations(distribution: &str, rows: u32, seed: f64) -> Result<Vec<u8>, JsError> {
    let dist = crate::app::synthetic::Dist::parse(distribution).map_err(js_err)?;
    Ok(crate::app::synthetic::activations_safetensors(dist, rows as usize, seed as u64))
}
