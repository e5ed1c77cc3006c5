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

/// The tensor view's pictures (app::explore::PicturesStream) over a tensor's element bytes, read whole
/// (`feed_whole`: the stream fed one chunk) or a few whole rows at a time over `reads()` reads:
/// `next_read` ends the read under way and says whether another is wanted, `feed` takes that read's
/// next chunk, `finish` gives `{values, ranges, errors, slots}` as JSON. Memory holds a chunk.
#[wasm_bindgen]
pub struct PicturesJob {
    info: crate::tensor::TensorInfo,
    stream: crate::app::explore::PicturesStream,
}

#[wasm_bindgen]
impl PicturesJob {
    /// The value histogram (`bins` bins) with `spec_json`'s calibration ranges, the error histogram under
    /// `error_spec_json`, and every slot's scale under `spec_json`, with `method`'s ranges.
    #[wasm_bindgen(constructor)]
    pub fn new(info_json: &str, spec_json: &str, error_spec_json: &str, method: &str, bins: usize) -> Result<PicturesJob, JsError> {
        let info: crate::tensor::TensorInfo = serde_json::from_str(info_json).map_err(|e| json_err("tensor description", e))?;
        let spec = spec_from_json(spec_json)?;
        let error_spec = spec_from_json(error_spec_json)?;
        let method = crate::calib::Method::parse(method).map_err(js_err)?;
        let stream = crate::app::explore::PicturesStream::new(&info.shape, &spec, &error_spec, &method, bins).map_err(js_err)?;
        Ok(PicturesJob { info, stream })
    }

    /// Whether the pictures keep the tensor's values (per-channel of an axis other than 0 under a
    /// histogram method): such a tensor must fit in memory whole.
    pub fn keeps_tensor(&self) -> bool {
        self.stream.keeps_tensor()
    }

    /// Reads of the tensor the pictures take (for progress).
    pub fn reads(&self) -> usize {
        self.stream.reads()
    }

    /// Ends the read under way; true when another read of every chunk is wanted.
    pub fn next_read(&mut self) -> Result<bool, JsError> {
        self.stream.next_read().map_err(js_err)
    }

    /// The next chunk of the current read: element bytes of whole rows.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), JsError> {
        let x = crate::tensor::decode_rows_to_f32(&self.info, bytes).map_err(js_err)?;
        self.stream.feed(&x).map_err(js_err)
    }

    /// The whole tensor's stored bytes (any storage, as `compare_tensor` takes them), fed to every
    /// read as one chunk.
    pub fn feed_whole(&mut self, bytes: Vec<u8>) -> Result<(), JsError> {
        let x = crate::formats::decode_tensor(&self.info, bytes).map_err(js_err)?;
        while self.stream.next_read().map_err(js_err)? {
            self.stream.feed(&x).map_err(js_err)?;
        }
        Ok(())
    }

    /// The pictures as JSON, after every read.
    pub fn finish(self) -> Result<String, JsError> {
        to_json("pictures", &self.stream.finish().map_err(js_err)?)
    }
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

/// How the sweep of `specs_json` and `formats` formats is cut into pieces for a tensor of this shape, read
/// in chunks (`streamed`) or whole: a JSON array of `{specs: [index…], formats: [index…]}`.
#[wasm_bindgen]
pub fn sweep_pieces(shape_json: &str, specs_json: &str, formats: usize, streamed: bool) -> Result<String, JsError> {
    let shape: Vec<usize> = serde_json::from_str(shape_json).map_err(|e| json_err("shape", e))?;
    let specs: Vec<QuantSpec> = serde_json::from_str(specs_json).map_err(|e| json_err("quantization settings", e))?;
    to_json("pieces", &crate::app::explore::sweep_pieces(&shape, &specs, formats, streamed).map_err(js_err)?)
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
