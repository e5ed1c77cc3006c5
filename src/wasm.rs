//! The thin JavaScript layer: converts arguments, calls the core, returns the report JSON (the same
//! schema the CLI prints with --json). No quantization logic lives here.

use crate::error::Error;
use crate::formats;
use crate::quant::QuantSpec;
use crate::report;
use crate::tensor::{decode_to_f32, TensorInfo};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

fn js_err(e: Error) -> JsError {
    JsError::new(&e.to_string())
}

fn json_err(what: &str, e: serde_json::Error) -> JsError {
    JsError::new(&format!("{what}: {e}"))
}

/// How many leading bytes to read before calling `parse_index`.
#[wasm_bindgen]
pub fn first_read_bytes() -> usize {
    formats::FIRST_READ
}

/// The file's index as JSON, or `{"need_bytes": N}` when the header is longer than `prefix`.
#[wasm_bindgen]
pub fn parse_index(file_name: &str, prefix: &[u8], file_len: f64) -> Result<String, JsError> {
    match formats::parse_index(file_name, prefix, file_len as u64) {
        Ok(index) => serde_json::to_string(&index).map_err(|e| json_err("index", e)),
        Err(Error::NeedMoreBytes { needed, .. }) => Ok(format!("{{\"need_bytes\":{needed}}}")),
        Err(e) => Err(js_err(e)),
    }
}

fn decode(info_json: &str, bytes: &[u8]) -> Result<(TensorInfo, Vec<f32>), JsError> {
    let info: TensorInfo = serde_json::from_str(info_json).map_err(|e| json_err("tensor description", e))?;
    let x = decode_to_f32(&info, bytes).map_err(js_err)?;
    Ok((info, x))
}

/// FP32 | FP16 | BF16 | each spec of `specs_json` (a JSON array of specs) for one tensor's bytes.
#[wasm_bindgen]
pub fn compare_tensor(info_json: &str, bytes: &[u8], specs_json: &str) -> Result<String, JsError> {
    let (info, x) = decode(info_json, bytes)?;
    let specs: Vec<QuantSpec> = serde_json::from_str(specs_json).map_err(|e| json_err("quantization settings", e))?;
    let rows = report::compare(&info.name, info.dtype, &info.shape, &x, &specs).map_err(js_err)?;
    serde_json::to_string(&rows).map_err(|e| json_err("report", e))
}

/// One tensor quantized with one spec: the report row the CLI's `quantize --json` prints.
#[wasm_bindgen]
pub fn quantize_tensor(info_json: &str, bytes: &[u8], spec_json: &str) -> Result<String, JsError> {
    let (info, x) = decode(info_json, bytes)?;
    let spec: QuantSpec = serde_json::from_str(spec_json).map_err(|e| json_err("quantization settings", e))?;
    let q = crate::quant::quantize_minmax(&x, &info.shape, &spec).map_err(js_err)?;
    serde_json::to_string(&report::int_report(&info.name, info.dtype, &q, "minmax")).map_err(|e| json_err("report", e))
}

/// The synthetic example the page opens with, as safetensors bytes.
#[wasm_bindgen]
pub fn example_file(seed: u32) -> Vec<u8> {
    crate::synthetic::example_safetensors(seed as u64)
}

/// A fresh random seed for synthetic data (at most 2^53 − 1, exact as a JS number).
#[wasm_bindgen]
pub fn random_seed() -> f64 {
    crate::synthetic::random_seed() as f64
}

/// "simd128", "relaxed-simd" or "wasm-scalar": which kernels this module runs.
#[wasm_bindgen]
pub fn kernel_build() -> String {
    crate::kernels::build_name().to_string()
}

// ---- the page's pictures and sweeps (src/explore.rs): conversion only -------------------------------

fn spec_from_json(spec_json: &str) -> Result<QuantSpec, JsError> {
    serde_json::from_str(spec_json).map_err(|e| json_err("quantization settings", e))
}

fn to_json<T: serde::Serialize>(what: &str, value: &T) -> Result<String, JsError> {
    serde_json::to_string(value).map_err(|e| json_err(what, e))
}

/// The calibration methods the core can quantize with, as a JSON array of names.
#[wasm_bindgen]
pub fn calibration_methods() -> String {
    serde_json::to_string(&crate::explore::calibration_methods()).unwrap_or_else(|_| "[]".into())
}

/// One float row ("fp32", "fp16" or "bf16") of the comparison, as compare_tensor makes it.
#[wasm_bindgen]
pub fn float_tensor(info_json: &str, bytes: &[u8], format: &str) -> Result<String, JsError> {
    let (info, x) = decode(info_json, bytes)?;
    to_json("report", &report::float_report(&info.name, info.dtype, &info.shape, &x, format))
}

/// A histogram of the tensor's finite values with `bins` bins over their [min, max].
#[wasm_bindgen]
pub fn value_histogram(info_json: &str, bytes: &[u8], bins: usize) -> Result<String, JsError> {
    let (_, x) = decode(info_json, bytes)?;
    to_json("histogram", &crate::explore::histogram(&x, bins))
}

/// A histogram of x − x̂ under one spec.
#[wasm_bindgen]
pub fn error_histogram(info_json: &str, bytes: &[u8], spec_json: &str, bins: usize) -> Result<String, JsError> {
    let (info, x) = decode(info_json, bytes)?;
    let spec = spec_from_json(spec_json)?;
    to_json("histogram", &crate::explore::error_histogram(&x, &info.shape, &spec, bins).map_err(js_err)?)
}

/// Every slot's range, scale and zero point under one spec.
#[wasm_bindgen]
pub fn slot_params(info_json: &str, bytes: &[u8], spec_json: &str) -> Result<String, JsError> {
    let (info, x) = decode(info_json, bytes)?;
    let spec = spec_from_json(spec_json)?;
    to_json("scales", &crate::explore::slot_params(&x, &info.shape, &spec).map_err(js_err)?)
}

/// The calibration ranges (one per method) to mark on the value histogram.
#[wasm_bindgen]
pub fn calibration_ranges(info_json: &str, bytes: &[u8], spec_json: &str) -> Result<String, JsError> {
    let (_, x) = decode(info_json, bytes)?;
    let spec = spec_from_json(spec_json)?;
    to_json("ranges", &crate::explore::calibration_ranges(&x, &spec).map_err(js_err)?)
}

/// The specs of the Pareto view for a tensor of this shape (a JSON array of specs).
#[wasm_bindgen]
pub fn sweep_specs(shape_json: &str) -> Result<String, JsError> {
    let shape: Vec<usize> = serde_json::from_str(shape_json).map_err(|e| json_err("shape", e))?;
    to_json("specs", &crate::explore::sweep_specs(&shape))
}

/// Report rows for each spec of `specs_json`, each with its `pareto` flag among them.
#[wasm_bindgen]
pub fn sweep_tensor(info_json: &str, bytes: &[u8], specs_json: &str) -> Result<String, JsError> {
    let (info, x) = decode(info_json, bytes)?;
    let specs: Vec<QuantSpec> = serde_json::from_str(specs_json).map_err(|e| json_err("quantization settings", e))?;
    to_json("report", &crate::explore::sweep(&info.name, info.dtype, &info.shape, &x, &specs).map_err(js_err)?)
}

/// The Pareto flags of (bits per weight, SQNR dB) points given as a JSON array of pairs (SQNR may be
/// "inf" / "-inf" / null as in the report), for rows swept in several calls.
#[wasm_bindgen]
pub fn pareto_front(points_json: &str) -> Result<String, JsError> {
    let points: Vec<(f64, serde_json::Value)> = serde_json::from_str(points_json).map_err(|e| json_err("points", e))?;
    let points: Vec<(f64, f64)> = points
        .into_iter()
        .map(|(c, b)| (c, crate::explore::report_f64(&b)))
        .collect();
    to_json("pareto", &crate::explore::pareto_front(&points))
}

// ---- calibration (src/calib): conversion only ---------------------------------------------------------

/// Calibration methods compared on one tensor: the CLI's `calibrate --json` report, plus the searched
/// curves and the histograms when `details` is true (for the page's overlay and KL / MSE plots).
/// `methods` as typed on the CLI: `all`, `minmax`, `percentile:99.9`, `mse,entropy`, …
#[wasm_bindgen]
pub fn calibrate_tensor(info_json: &str, bytes: &[u8], bits: u8, scheme: &str, methods: &str, details: bool) -> Result<String, JsError> {
    let (_, x) = decode(info_json, bytes)?;
    let scheme: crate::quant::Scheme =
        serde_json::from_value(serde_json::Value::String(scheme.into())).map_err(|e| json_err("scheme", e))?;
    crate::calib::run_calibrate_json(&x, bits, scheme, methods, details).map_err(js_err)
}

/// One tensor quantized with one spec and the ranges of one calibration method (`quantize --calib`).
#[wasm_bindgen]
pub fn quantize_tensor_calibrated(info_json: &str, bytes: &[u8], spec_json: &str, method: &str) -> Result<String, JsError> {
    let (info, x) = decode(info_json, bytes)?;
    let spec = spec_from_json(spec_json)?;
    let method = crate::calib::Method::parse(method).map_err(js_err)?;
    let q = crate::calib::quantize_calibrated(&x, &info.shape, &spec, &method).map_err(js_err)?;
    to_json("report", &report::int_report(&info.name, info.dtype, &q, &method.label()))
}
