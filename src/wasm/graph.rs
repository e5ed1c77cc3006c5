//! Whole-model PTQ for the page (src/graph/): expose the tensors to calibrate, stream their
//! batches into a calibrator, write the static QDQ model. Converts and delegates only.

use crate::graph::calibration::{PtqCalibration, PtqMethod, PtqRanges};
use crate::graph::node_errors::NodeErrors;
use crate::graph::{self, PtqOptions};
use super::js_err;
use wasm_bindgen::prelude::*;

/// A written model and its JSON description (the exposed tensors, or the quantization report).
#[wasm_bindgen]
pub struct PtqModel {
    bytes: Vec<u8>,
    json: String,
}

#[wasm_bindgen]
impl PtqModel {
    /// The ONNX bytes (a copy, as a Uint8Array).
    pub fn model(&self) -> Vec<u8> {
        self.bytes.clone()
    }

    pub fn json(&self) -> String {
        self.json.clone()
    }
}

/// The model with every tensor to calibrate as an extra output; `json()`: {tensors, inputs, outputs}.
#[wasm_bindgen]
pub fn ptq_expose(model: Vec<u8>, options_json: &str) -> Result<PtqModel, JsError> {
    let options = PtqOptions::from_json(options_json).map_err(js_err)?;
    let exposed = graph::expose_model("model.onnx", model, &options).map_err(js_err)?;
    let json = serde_json::to_string(&exposed).map_err(|e| JsError::new(&e.to_string()))?;
    Ok(PtqModel { bytes: exposed.model, json })
}

/// Streams batches of the exposed tensors into per-tensor ranges (bounded memory).
#[wasm_bindgen]
pub struct PtqCalibrator {
    inner: PtqCalibration,
}

#[wasm_bindgen]
impl PtqCalibrator {
    /// `method`: minmax, percentile, percentile:P, entropy, distribution or mse; `tensors_json`: the names to calibrate.
    #[wasm_bindgen(constructor)]
    pub fn new(method: &str, tensors_json: &str) -> Result<PtqCalibrator, JsError> {
        let method = PtqMethod::parse(method).map_err(js_err)?;
        let tensors: Vec<String> = serde_json::from_str(tensors_json).map_err(|e| JsError::new(&format!("tensors JSON: {e}")))?;
        Ok(PtqCalibrator { inner: PtqCalibration::new(method, &tensors).map_err(js_err)? })
    }

    /// 1 or 2 passes over the calibration batches.
    pub fn passes(&self) -> usize {
        self.inner.passes()
    }

    pub fn add_batch(&mut self, tensor_name: &str, values: &[f32]) -> Result<(), JsError> {
        self.inner.add_batch(tensor_name, values).map_err(js_err)
    }

    pub fn next_pass(&mut self) -> Result<(), JsError> {
        self.inner.next_pass().map_err(js_err)
    }

    /// {"method","batches","ranges":{tensor:[min,max]}}.
    pub fn ranges(&self) -> Result<String, JsError> {
        let r = self.inner.ranges().map_err(js_err)?;
        serde_json::to_string(&r).map_err(|e| JsError::new(&e.to_string()))
    }
}

/// Each quantized node's own output against FP32, one evaluation sample at a time (src/graph/node_errors.rs).
#[wasm_bindgen]
pub struct PtqNodeErrors {
    inner: NodeErrors,
}

#[wasm_bindgen]
impl PtqNodeErrors {
    /// `node_outputs_json`: the QDQ report's `node_outputs` (or some of them).
    #[wasm_bindgen(constructor)]
    pub fn new(node_outputs_json: &str) -> Result<PtqNodeErrors, JsError> {
        Ok(PtqNodeErrors { inner: NodeErrors::from_json(node_outputs_json).map_err(js_err)? })
    }

    /// One sample of node `index`: the FP32 model's tensor and the quantized model's.
    pub fn add(&mut self, index: usize, reference: &[f32], quantized: &[f32]) -> Result<(), JsError> {
        self.inner.add(index, reference, quantized).map_err(js_err)
    }

    /// [{node, op_type, output, read_as, samples, values, mse, sqnr_db, max_abs_err, cosine, …}].
    pub fn rows(&self) -> Result<String, JsError> {
        serde_json::to_string(&self.inner.rows()).map_err(|e| JsError::new(&e.to_string()))
    }
}

/// The static QDQ model quantize_static writes; `json()`: the report.
#[wasm_bindgen]
pub fn ptq_quantize(model: Vec<u8>, ranges_json: &str, options_json: &str) -> Result<PtqModel, JsError> {
    let options = PtqOptions::from_json(options_json).map_err(js_err)?;
    let ranges = PtqRanges::from_json(ranges_json).map_err(js_err)?;
    let (bytes, report) = graph::quantize_static_model("model.onnx", model, &ranges, &options).map_err(js_err)?;
    let json = serde_json::to_string(&report).map_err(|e| JsError::new(&e.to_string()))?;
    Ok(PtqModel { bytes, json })
}

/// INT4 weight-only: MatMulNBits as onnxruntime's MatMulNBitsQuantizer writes it; `json()`: the report.
#[wasm_bindgen]
pub fn ptq_int4(model: Vec<u8>, options_json: &str) -> Result<PtqModel, JsError> {
    let options = PtqOptions::from_json(options_json).map_err(js_err)?;
    let (bytes, report) = graph::quantize_int4_model("model.onnx", model, &options).map_err(js_err)?;
    let json = serde_json::to_string(&report).map_err(|e| JsError::new(&e.to_string()))?;
    Ok(PtqModel { bytes, json })
}

/// Dynamic quantization as onnxruntime's quantize_dynamic writes it; `json()`: the report.
#[wasm_bindgen]
pub fn ptq_dynamic(model: Vec<u8>, options_json: &str) -> Result<PtqModel, JsError> {
    let options = PtqOptions::from_json(options_json).map_err(js_err)?;
    let (bytes, report) = graph::quantize_dynamic_model("model.onnx", model, &options).map_err(js_err)?;
    let json = serde_json::to_string(&report).map_err(|e| JsError::new(&e.to_string()))?;
    Ok(PtqModel { bytes, json })
}
