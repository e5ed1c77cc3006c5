//! One tensor compared or quantized (src/app/report.rs): the number formats the comparison's columns
//! come from (src/quant/format.rs), the comparison rows and the CLI's `quantize --json` row.
//! Conversion only.

use super::{decode, js_err, json_err, spec_from_json, to_json};
use crate::app::report;
use crate::quant::{NumberFormat, QuantSpec};
use wasm_bindgen::prelude::*;

/// Every number format the core serves, in column order: a JSON array of
/// `{label, title, note, family, bits_per_weight, spec, default_column, preset, bits_range}`.
#[wasm_bindgen]
pub fn number_formats() -> String {
    serde_json::to_string(&crate::quant::format::number_formats()).unwrap_or_else(|_| "[]".into())
}

/// Any label the grammar accepts → `{label (canonical), title, note, family, bits_per_weight, spec}`.
#[wasm_bindgen]
pub fn describe_format(label: &str) -> Result<String, JsError> {
    to_json("format", &NumberFormat::parse(label).map_err(js_err)?.describe())
}

/// A QuantSpec's JSON → its label ("int8 sym channel:0").
#[wasm_bindgen]
pub fn format_label(spec_json: &str) -> Result<String, JsError> {
    Ok(spec_from_json(spec_json)?.label())
}

/// One comparison row for any format label (integer specs with min-max ranges, ggml types by their
/// reference quantizer).
#[wasm_bindgen]
pub fn format_tensor(info_json: &str, bytes: Vec<u8>, label: &str) -> Result<String, JsError> {
    let format = NumberFormat::parse(label).map_err(js_err)?;
    let (info, x) = decode(info_json, bytes)?;
    to_json("report", &report::format_report(&info.name, info.dtype, &info.shape, &x, &format).map_err(js_err)?)
}

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
