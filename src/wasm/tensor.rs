//! One tensor compared or quantized (src/app/report.rs): the number formats the comparison's columns
//! come from (src/quant/format.rs), the comparison rows and the CLI's `quantize --json` row.
//! Conversion only.

use super::{decode, js_err, json_err, spec_from_json, to_json};
use crate::app::report;
use crate::quant::{NumberFormat, QuantSpec};
use crate::tensor::{decode_rows_into, TensorInfo};
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

/// How the worker reads a tensor's stored bytes in chunks of whole rows: `[rows, bytes per row]` from
/// the start of its stored range (`tensor_stored_range`), or `[]` when they must be decoded at once
/// (deflated, varint-packed, Fortran order): formats::row_reads.
#[wasm_bindgen]
pub fn tensor_row_reads(info_json: &str) -> Result<Vec<f64>, JsError> {
    let info: TensorInfo = serde_json::from_str(info_json).map_err(|e| json_err("tensor description", e))?;
    Ok(crate::formats::row_reads(&info).map_or(Vec::new(), |(rows, row_bytes)| vec![rows as f64, row_bytes as f64]))
}

/// One column of a `ComparisonJob::of_columns`: a format label ("fp16", "mxfp4", "q4_k") or a spec.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum ColumnJson {
    Label(String),
    Spec(QuantSpec),
}

/// The comparison of `compare_tensor` fed in chunks of whole rows (Blob.slice reads), so that memory
/// holds a chunk, not the tensor: `needs_range_pass` → `feed_range` over every chunk →
/// `end_range_pass` → `feed` over every chunk → `finish`; or the whole stored tensor at once with
/// `feed_whole` (the same stream, one chunk). The rows equal `compare_tensor`'s.
/// A caller that times each column decodes a chunk once (`decode`) and then feeds it to each column
/// (`feed_range_column` / `feed_column`): the same numbers as `feed_range` / `feed`.
#[wasm_bindgen]
pub struct ComparisonJob {
    info: TensorInfo,
    stream: report::ComparisonStream,
    /// The last chunk `decode` made, and how many of its values are not finite.
    chunk: Vec<f32>,
    chunk_nonfinite: usize,
}

#[wasm_bindgen]
impl ComparisonJob {
    /// `info_json` describes a raw, C-order tensor; `specs_json` is compare_tensor's array of specs.
    #[wasm_bindgen(constructor)]
    pub fn new(info_json: &str, specs_json: &str) -> Result<ComparisonJob, JsError> {
        let specs: Vec<QuantSpec> = serde_json::from_str(specs_json).map_err(|e| json_err("quantization settings", e))?;
        Self::with_formats(info_json, &report::compare_formats(&specs))
    }

    /// A job over the columns of `columns_json`, a JSON array of format labels and specs (min-max
    /// ranges), in that order: `["fp16", {"bits": 8, …}, "mxfp4"]`.
    pub fn of_columns(info_json: &str, columns_json: &str) -> Result<ComparisonJob, JsError> {
        let columns: Vec<ColumnJson> = serde_json::from_str(columns_json).map_err(|e| json_err("comparison columns", e))?;
        let formats = columns
            .into_iter()
            .map(|c| match c {
                ColumnJson::Label(label) => NumberFormat::parse(&label),
                ColumnJson::Spec(spec) => Ok(NumberFormat::Scaled(spec)),
            })
            .collect::<crate::error::Result<Vec<_>>>()
            .map_err(js_err)?;
        Self::with_formats(info_json, &formats)
    }

    fn with_formats(info_json: &str, formats: &[NumberFormat]) -> Result<ComparisonJob, JsError> {
        let info: TensorInfo = serde_json::from_str(info_json).map_err(|e| json_err("tensor description", e))?;
        let stream = report::ComparisonStream::new(&info.name, info.dtype, &info.shape, formats).map_err(js_err)?;
        Ok(ComparisonJob { info, stream, chunk: Vec::new(), chunk_nonfinite: 0 })
    }

    /// The whole tensor's stored bytes (any storage, as `compare_tensor` takes them), fed to both
    /// passes as one chunk.
    pub fn feed_whole(&mut self, bytes: Vec<u8>) -> Result<(), JsError> {
        let x = crate::formats::decode_tensor(&self.info, bytes).map_err(js_err)?;
        if self.stream.needs_range_pass() {
            self.stream.feed_range(&x).map_err(js_err)?;
            self.stream.end_range_pass().map_err(js_err)?;
        }
        self.stream.feed(&x).map_err(js_err)
    }

    pub fn needs_range_pass(&self) -> bool {
        self.stream.needs_range_pass()
    }

    /// The first read: element bytes of the next whole rows.
    pub fn feed_range(&mut self, bytes: &[u8]) -> Result<(), JsError> {
        self.decode(bytes)?;
        self.stream.feed_range(&self.chunk).map_err(js_err)
    }

    /// How many columns the job has (the order of `of_columns`).
    pub fn columns(&self) -> usize {
        self.stream.columns()
    }

    /// Whether column `i` takes part in the first read.
    pub fn column_needs_range(&self, i: usize) -> bool {
        self.stream.column_needs_range(i)
    }

    /// Decodes the element bytes of the next whole rows into the job's chunk (once for every
    /// column); returns how many values it holds.
    pub fn decode(&mut self, bytes: &[u8]) -> Result<usize, JsError> {
        self.chunk_nonfinite = decode_rows_into(&self.info, bytes, &mut self.chunk).map_err(js_err)?;
        Ok(self.chunk.len())
    }

    /// The first read of column `i` over the decoded chunk.
    pub fn feed_range_column(&mut self, i: usize) -> Result<(), JsError> {
        self.stream.feed_range_column(i, &self.chunk).map_err(js_err)
    }

    /// The measuring read of column `i` over the decoded chunk.
    pub fn feed_column(&mut self, i: usize) -> Result<(), JsError> {
        self.stream.feed_column(i, &self.chunk, self.chunk_nonfinite).map_err(js_err)
    }

    pub fn end_range_pass(&mut self) -> Result<(), JsError> {
        self.stream.end_range_pass().map_err(js_err)
    }

    /// The measuring read: element bytes of the next whole rows.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), JsError> {
        self.decode(bytes)?;
        for i in 0..self.stream.columns() {
            self.stream.feed_column(i, &self.chunk, self.chunk_nonfinite).map_err(js_err)?;
        }
        Ok(())
    }

    /// The rows as JSON (compare_tensor's shape).
    pub fn finish(self) -> Result<String, JsError> {
        to_json("report", &self.stream.finish().map_err(js_err)?)
    }
}
