//! One tensor compared or quantized (src/app/report.rs): the number formats the comparison's columns
//! come from (src/quant/format.rs), the comparison rows and the CLI's `quantize --json` row.
//! Conversion only.

use super::{decode, js_err, json_err, spec_from_json, to_json};
use crate::app::report;
use crate::quant::{NumberFormat, QuantSpec};
use crate::tensor::{decode_rows_to_f32, TensorInfo};
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

/// Nothing when a tensor of this shape (a JSON array) can take the format `label`, else the core's
/// reason (a ggml type needs rows of whole blocks).
#[wasm_bindgen]
pub fn format_fits_shape(label: &str, shape_json: &str) -> Result<(), JsError> {
    let shape: Vec<usize> = serde_json::from_str(shape_json).map_err(|e| json_err("shape", e))?;
    NumberFormat::parse(label).and_then(|f| f.fits_shape(&shape)).map_err(js_err)
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

/// The comparison of `compare_tensor` fed in chunks of whole rows (Blob.slice reads), so that memory
/// holds a chunk, not the tensor: `needs_range_pass` → `feed_range` over every chunk →
/// `end_range_pass` → `feed` over every chunk → `finish`. The rows equal `compare_tensor`'s.
#[wasm_bindgen]
pub struct ComparisonJob {
    info: TensorInfo,
    stream: report::ComparisonStream,
}

#[wasm_bindgen]
impl ComparisonJob {
    /// `info_json` describes a raw, C-order tensor; `specs_json` is compare_tensor's array of specs.
    #[wasm_bindgen(constructor)]
    pub fn new(info_json: &str, specs_json: &str) -> Result<ComparisonJob, JsError> {
        let info: TensorInfo = serde_json::from_str(info_json).map_err(|e| json_err("tensor description", e))?;
        let specs: Vec<QuantSpec> = serde_json::from_str(specs_json).map_err(|e| json_err("quantization settings", e))?;
        let stream = report::ComparisonStream::new(&info.name, info.dtype, &info.shape, &report::compare_formats(&specs)).map_err(js_err)?;
        Ok(ComparisonJob { info, stream })
    }

    pub fn needs_range_pass(&self) -> bool {
        self.stream.needs_range_pass()
    }

    /// The first read: element bytes of the next whole rows.
    pub fn feed_range(&mut self, bytes: &[u8]) -> Result<(), JsError> {
        let x = decode_rows_to_f32(&self.info, bytes).map_err(js_err)?;
        self.stream.feed_range(&x).map_err(js_err)
    }

    pub fn end_range_pass(&mut self) -> Result<(), JsError> {
        self.stream.end_range_pass().map_err(js_err)
    }

    /// The measuring read: element bytes of the next whole rows.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), JsError> {
        let x = decode_rows_to_f32(&self.info, bytes).map_err(js_err)?;
        self.stream.feed(&x).map_err(js_err)
    }

    /// The rows as JSON (compare_tensor's shape).
    pub fn finish(self) -> Result<String, JsError> {
        to_json("report", &self.stream.finish().map_err(js_err)?)
    }
}
