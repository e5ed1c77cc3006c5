//! The page's pictures and sweeps (src/app/explore.rs): conversion only.

use super::{decode, js_err, json_err, spec_from_json, to_json};
use crate::app::report;
use crate::quant::{NumberFormat, QuantSpec};
use wasm_bindgen::prelude::*;

/// The calibration methods the core can quantize with, as a JSON array of names.
#[wasm_bindgen]
pub fn calibration_methods() -> String {
    serde_json::to_string(&crate::app::explore::calibration_methods()).unwrap_or_else(|_| "[]".into())
}

/// One float row ("fp32", "fp16" or "bf16") of the comparison, as compare_tensor makes it.
#[wasm_bindgen]
pub fn float_tensor(info_json: &str, bytes: Vec<u8>, format: &str) -> Result<String, JsError> {
    let NumberFormat::Float(cast) = NumberFormat::parse(format).map_err(js_err)? else {
        return Err(JsError::new(&format!("'{format}' is not a float cast (fp32, fp16 or bf16)")));
    };
    let (info, x) = decode(info_json, bytes)?;
    to_json("report", &report::float_report(&info.name, info.dtype, &info.shape, &x, cast).map_err(js_err)?)
}

/// A histogram of the tensor's finite values with `bins` bins over their [min, max].
#[wasm_bindgen]
pub fn value_histogram(info_json: &str, bytes: Vec<u8>, bins: usize) -> Result<String, JsError> {
    let (_, x) = decode(info_json, bytes)?;
    to_json("histogram", &crate::app::explore::histogram(&x, bins))
}

/// A histogram of x − x̂ under one spec and calibration method (`minmax`, `percentile:99.99`, …).
#[wasm_bindgen]
pub fn error_histogram(info_json: &str, bytes: Vec<u8>, spec_json: &str, method: &str, bins: usize) -> Result<String, JsError> {
    let (info, x) = decode(info_json, bytes)?;
    let spec = spec_from_json(spec_json)?;
    let method = crate::calib::Method::parse(method).map_err(js_err)?;
    to_json("histogram", &crate::app::explore::error_histogram(&x, &info.shape, &spec, &method, bins).map_err(js_err)?)
}

/// Every slot's range, scale and zero point under one spec and calibration method.
#[wasm_bindgen]
pub fn slot_params(info_json: &str, bytes: Vec<u8>, spec_json: &str, method: &str) -> Result<String, JsError> {
    let (info, x) = decode(info_json, bytes)?;
    let spec = spec_from_json(spec_json)?;
    let method = crate::calib::Method::parse(method).map_err(js_err)?;
    to_json("scales", &crate::app::explore::slot_params(&x, &info.shape, &spec, &method).map_err(js_err)?)
}

/// The calibration ranges (one per method) to mark on the value histogram.
#[wasm_bindgen]
pub fn calibration_ranges(info_json: &str, bytes: Vec<u8>, spec_json: &str) -> Result<String, JsError> {
    let (_, x) = decode(info_json, bytes)?;
    let spec = spec_from_json(spec_json)?;
    to_json("ranges", &crate::app::explore::calibration_ranges(&x, &spec).map_err(js_err)?)
}

/// The specs of the Pareto view for a tensor of this shape (a JSON array of specs).
#[wasm_bindgen]
pub fn sweep_specs(shape_json: &str) -> Result<String, JsError> {
    let shape: Vec<usize> = serde_json::from_str(shape_json).map_err(|e| json_err("shape", e))?;
    to_json("specs", &crate::app::explore::sweep_specs(&shape))
}

/// The served FP8 / MX / NVFP4 / NF4 / ggml formats a tensor of this shape can take, for the sweep
/// beside its specs: a JSON array of `{label, title, note, family, bits_per_weight, spec}`.
#[wasm_bindgen]
pub fn sweep_formats(shape_json: &str) -> Result<String, JsError> {
    let shape: Vec<usize> = serde_json::from_str(shape_json).map_err(|e| json_err("shape", e))?;
    to_json("formats", &crate::quant::format::fixed_formats_for_shape(&shape))
}

/// Report rows for each spec of `specs_json`, each with its `pareto` flag among them.
#[wasm_bindgen]
pub fn sweep_tensor(info_json: &str, bytes: Vec<u8>, specs_json: &str) -> Result<String, JsError> {
    let (info, x) = decode(info_json, bytes)?;
    let specs: Vec<QuantSpec> = serde_json::from_str(specs_json).map_err(|e| json_err("quantization settings", e))?;
    to_json("report", &crate::app::explore::sweep(&info.name, info.dtype, &info.shape, &x, &specs).map_err(js_err)?)
}

/// The Pareto flags of (bits per weight, SQNR dB) points given as a JSON array of pairs (SQNR may be
/// "inf" / "-inf" / null as in the report), for rows swept in several calls.
#[wasm_bindgen]
pub fn pareto_front(points_json: &str) -> Result<String, JsError> {
    let points: Vec<(f64, serde_json::Value)> = serde_json::from_str(points_json).map_err(|e| json_err("points", e))?;
    let points: Vec<(f64, f64)> = points
        .into_iter()
        .map(|(c, b)| (c, crate::app::explore::report_f64(&b)))
        .collect();
    to_json("pareto", &crate::app::explore::pareto_front(&points))
}
