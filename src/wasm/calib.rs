//! Calibration (src/calib): one tensor's methods compared, a tensor quantized with calibrated ranges,
//! the ranges alone (the benchmark's `calibrate-all`), and activation batches from several files
//! (www/views/activations, www/worker/calibration.js). Conversion only.

use super::{decode, js_err, json_err, spec_from_json, to_json};
use crate::app::report;
use crate::quant::{QuantSpec, Scheme};
use wasm_bindgen::prelude::*;

/// Calibration methods compared on one tensor: the CLI's `calibrate --json` report, plus the searched
/// curves and the histograms when `details` is true (for the page's overlay and KL / MSE plots).
/// `methods` as typed on the CLI: `all`, `minmax`, `percentile:99.9`, `mse,entropy`, …
/// Every calibration method with its dialect (ort, trt, ours) and what it follows, as JSON, for
/// the page's side-by-side dialect view (calib::Method::every).
#[wasm_bindgen]
pub fn calibration_dialects() -> String {
    let infos: Vec<crate::calib::MethodInfo> = crate::calib::Method::every().iter().map(|m| m.info()).collect();
    serde_json::to_string(&infos).unwrap_or_else(|_| "[]".into())
}

#[wasm_bindgen]
pub fn calibrate_tensor(info_json: &str, bytes: Vec<u8>, bits: u8, scheme: &str, methods: &str, details: bool) -> Result<String, JsError> {
    let (_, x) = decode(info_json, bytes)?;
    let scheme: crate::quant::Scheme =
        serde_json::from_value(serde_json::Value::String(scheme.into())).map_err(|e| json_err("scheme", e))?;
    crate::calib::run_calibrate_json(&x, bits, scheme, methods, details).map_err(js_err)
}

/// One tensor quantized with one spec and the ranges of one calibration method (`quantize --calib`).
#[wasm_bindgen]
pub fn quantize_tensor_calibrated(info_json: &str, bytes: Vec<u8>, spec_json: &str, method: &str) -> Result<String, JsError> {
    let (info, x) = decode(info_json, bytes)?;
    let spec = spec_from_json(spec_json)?;
    let method = crate::calib::Method::parse(method).map_err(js_err)?;
    let q = crate::calib::quantize_calibrated(&x, &info.shape, &spec, &method).map_err(js_err)?;
    to_json("report", &report::int_report(&info.name, info.dtype, &q, &method.label()))
}

// ---- Calibration alone (the benchmark's `calibrate-all`): conversion only ------------------------------

/// The ranges only — no fake-quantizing, no curves or histograms — of each method in `methods` (as
/// `calibrate_tensor` takes them) over f32 values `x`, per tensor: `[{"method", "range", "scale",
/// "zero_point"}, …]`, from calib::calibrate_batches with the default histogram sizes.
#[wasm_bindgen]
pub fn calibrate_ranges(x: &[f32], bits: u8, scheme: &str, methods: &str) -> Result<String, JsError> {
    let scheme: Scheme = serde_json::from_value(serde_json::Value::String(scheme.into())).map_err(|e| json_err("scheme", e))?;
    let spec = QuantSpec::new(bits, scheme, crate::quant::Granularity::PerTensor);
    let methods = crate::calib::Method::parse_list(methods).map_err(js_err)?;
    let run = crate::calib::calibrate_batches(&[x], &spec, &methods, crate::calib::CalibConfig::default()).map_err(js_err)?;
    // f32 fields serialised as f32 (shortest repr), as calibrate_tensor's report prints them.
    #[derive(serde::Serialize)]
    struct Row<'a> {
        method: &'a str,
        range: [f32; 2],
        scale: f32,
        zero_point: i32,
    }
    let rows: Vec<Row> = run
        .results
        .iter()
        .map(|r| Row { method: &r.method, range: r.range, scale: r.scale, zero_point: r.zero_point })
        .collect();
    to_json("ranges", &rows)
}

// ---- Activation batches (www/views/activations): several files, one set; conversion only -----------------

/// calib::batches::BatchCalibration: the page scans every batch, adds every batch, measures every batch,
/// then asks for the report (`calibrate FILE… --json`'s document, without the file fields).
#[wasm_bindgen]
pub struct BatchCalibrator(crate::calib::batches::BatchCalibration);

#[wasm_bindgen]
impl BatchCalibrator {
    /// `scheme` "symmetric" or "asymmetric"; `methods` as `calibrate_tensor` takes them ("all", a list…).
    #[wasm_bindgen(constructor)]
    pub fn new(bits: u8, scheme: &str, methods: &str) -> Result<BatchCalibrator, JsError> {
        let scheme: Scheme = serde_json::from_value(serde_json::Value::String(scheme.into())).map_err(|e| json_err("scheme", e))?;
        let spec = QuantSpec::new(bits, scheme, crate::quant::Granularity::PerTensor);
        let methods = crate::calib::Method::parse_list(methods).map_err(js_err)?;
        crate::calib::batches::BatchCalibration::new(&spec, &methods, crate::calib::CalibConfig::default()).map(BatchCalibrator).map_err(js_err)
    }

    pub fn scan(&mut self, x: &[f32]) -> Result<(), JsError> {
        self.0.scan(x).map_err(js_err)
    }

    pub fn add(&mut self, x: &[f32]) -> Result<(), JsError> {
        self.0.add(x).map_err(js_err)
    }

    pub fn measure(&mut self, x: &[f32]) -> Result<(), JsError> {
        self.0.measure(x).map_err(js_err)
    }

    pub fn report(&mut self, details: bool) -> Result<String, JsError> {
        to_json("report", &self.0.report(details).map_err(js_err)?)
    }
}

// ---- One weight calibrated in chunks of rows (www/worker/calibration.js, a tensor too large to read whole) ----

/// calib::WeightCalibration over a tensor's element bytes read a few whole rows at a time: `next_pass`
/// ends the read under way and says whether another is wanted (range, histograms, measurement), `feed`
/// takes that read's next chunk, `finish` gives `calibrate_tensor`'s report. Memory holds a chunk.
#[wasm_bindgen]
pub struct WeightCalibrationJob {
    info: crate::tensor::TensorInfo,
    calibration: crate::calib::WeightCalibration,
    pass: Option<crate::calib::CalibPass>,
}

#[wasm_bindgen]
impl WeightCalibrationJob {
    /// `info_json` describes a raw, C-order tensor (`tensor_row_reads` is not empty); the rest as
    /// `calibrate_tensor` takes it.
    #[wasm_bindgen(constructor)]
    pub fn new(info_json: &str, bits: u8, scheme: &str, methods: &str) -> Result<WeightCalibrationJob, JsError> {
        let info: crate::tensor::TensorInfo = serde_json::from_str(info_json).map_err(|e| json_err("tensor description", e))?;
        let scheme: Scheme = serde_json::from_value(serde_json::Value::String(scheme.into())).map_err(|e| json_err("scheme", e))?;
        let elements = crate::tensor::checked_element_count(&info.shape)
            .ok_or_else(|| JsError::new(&format!("tensor '{}': shape {:?} overflows the element count", info.name, info.shape)))?;
        let spec = QuantSpec::new(bits, scheme, crate::quant::Granularity::PerTensor);
        let methods = crate::calib::Method::parse_list(methods).map_err(js_err)?;
        let calibration = crate::calib::WeightCalibration::new(elements, &spec, &methods, crate::calib::CalibConfig::default()).map_err(js_err)?;
        Ok(WeightCalibrationJob { info, calibration, pass: None })
    }

    /// Ends the read under way; true when another read of every chunk is wanted.
    pub fn next_pass(&mut self) -> Result<bool, JsError> {
        self.pass = self.calibration.next_pass().map_err(js_err)?;
        Ok(self.pass.is_some())
    }

    /// The next chunk of the current read: element bytes of whole rows.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), JsError> {
        let pass = self.pass.ok_or_else(|| JsError::new("no read is under way: call next_pass first"))?;
        let x = crate::tensor::decode_rows_to_f32(&self.info, bytes).map_err(js_err)?;
        self.calibration.feed(pass, &x).map_err(js_err)
    }

    /// The report as JSON (`calibrate_tensor`'s), with the searched curves when `details` is true.
    pub fn finish(self, details: bool) -> Result<String, JsError> {
        to_json("report", &self.calibration.finish(details).map_err(js_err)?)
    }
}

// ---- One integer spec under a calibration method, streamed (www/worker/compare.js) ------------------------

/// app::report::CalibratedColumn over a tensor's element bytes read a few whole rows at a time:
/// `next_pass` ends the read under way and says whether another is wanted (the per-slot
/// calibration's reads, then the measuring read), `feed` takes that read's next chunk, `finish` gives
/// `quantize_tensor_calibrated`'s row. Memory holds a chunk, a slot's histogram and the parameters.
#[wasm_bindgen]
pub struct CalibratedColumnJob {
    info: crate::tensor::TensorInfo,
    column: report::CalibratedColumn,
}

#[wasm_bindgen]
impl CalibratedColumnJob {
    /// `info_json` describes a raw, C-order tensor (`tensor_row_reads` is not empty); `spec_json` and
    /// `method` as `quantize_tensor_calibrated` takes them.
    #[wasm_bindgen(constructor)]
    pub fn new(info_json: &str, spec_json: &str, method: &str) -> Result<CalibratedColumnJob, JsError> {
        let info: crate::tensor::TensorInfo = serde_json::from_str(info_json).map_err(|e| json_err("tensor description", e))?;
        let spec = spec_from_json(spec_json)?;
        let method = crate::calib::Method::parse(method).map_err(js_err)?;
        let column = report::CalibratedColumn::new(&info.name, info.dtype, &info.shape, &spec, &method).map_err(js_err)?;
        Ok(CalibratedColumnJob { info, column })
    }

    /// Ends the read under way; "calibrate" or "measure" for the next read of every chunk, "" when done.
    pub fn next_pass(&mut self) -> Result<String, JsError> {
        Ok(match self.column.next_pass().map_err(js_err)? {
            Some(report::CalibratedPass::Calibrate(_)) => "calibrate".into(),
            Some(report::CalibratedPass::Measure) => "measure".into(),
            None => String::new(),
        })
    }

    /// The next chunk of the current read: element bytes of whole rows.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), JsError> {
        let x = crate::tensor::decode_rows_to_f32(&self.info, bytes).map_err(js_err)?;
        self.column.feed(&x).map_err(js_err)
    }

    /// The row as JSON (`quantize_tensor_calibrated`'s).
    pub fn finish(self) -> Result<String, JsError> {
        to_json("report", &self.column.finish().map_err(js_err)?)
    }
}
