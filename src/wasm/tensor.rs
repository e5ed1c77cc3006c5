//! One tensor compared or quantized (src/app/report.rs): the comparison rows and the CLI's
//! `quantize --json` row. Conversion only.

use super::{decode, js_err, json_err};
use crate::app::report;
use crate::quant::QuantSpec;
use wasm_bindgen::prelude::*;

/// FP32 | FP16 | BF16 | each spec of `specs_json` (a JSON array of specs) for one tensor's bytes.
#[wasm_bindgen]
pub fn compare_tensor(info_json: &str, bytes: Vec<u8>, specs_json: &str) -> Result<String, JsError> {
    let (info, x) = decode(info_json, bytes)?;
    let specs: Vec<QuantSpec> = serde_json::from_str(specs_json).map_err(|e| json_err("quantization settings", e))?;
    let rows = report::compare(&info.name, info.dtype, &info.shape, &x, &specs).map_err(js_err)?;
    serde_json::to_string(&rows).map_err(|e| json_err("report", e))
}

/// One tensor quantized with one spec: the report row the CLI's `quantize --json` prints.
#[wasm_bindgen]
pub fn quantize_tensor(info_json: &str, bytes: Vec<u8>, spec_json: &str) -> Result<String, JsError> {
    let (info, x) = decode(info_json, bytes)?;
    let spec: QuantSpec = serde_json::from_str(spec_json).map_err(|e| json_err("quantization settings", e))?;
    let q = crate::quant::quantize_minmax(&x, &info.shape, &spec).map_err(js_err)?;
    serde_json::to_string(&report::int_report(&info.name, info.dtype, &q, "minmax")).map_err(|e| json_err("report", e))
}
