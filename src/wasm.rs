//! The thin JavaScript layer: converts arguments, calls the core, returns the report JSON (the same
//! schema the CLI prints with --json). No quantization logic lives here.

use crate::error::Error;
use crate::formats;
use crate::quant::QuantSpec;
use crate::report;
use crate::tensor::TensorInfo;
use wasm_bindgen::prelude::*;

pub mod graph;

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

fn index_json(r: crate::Result<formats::FileIndex>) -> Result<String, JsError> {
    match r {
        Ok(index) => serde_json::to_string(&index).map_err(|e| json_err("index", e)),
        Err(Error::NeedMoreBytes { needed, .. }) => Ok(format!("{{\"need_bytes\":{needed}}}")),
        Err(Error::NeedRange { offset, len, .. }) => Ok(format!("{{\"need_range\":[{offset},{len}]}}")),
        Err(e) => Err(js_err(e)),
    }
}

/// The file's index as JSON, or `{"need_bytes": N}` when the header is longer than `prefix`, or
/// `{"need_range": [offset, len]}` when it needs bytes elsewhere (use `parse_index_pieces`).
#[wasm_bindgen]
pub fn parse_index(file_name: &str, prefix: &[u8], file_len: f64) -> Result<String, JsError> {
    index_json(formats::parse_index(file_name, prefix, file_len as u64))
}

/// The index from pieces of the file (formats/mod.rs describes the contract): piece i is
/// `lengths[i]` bytes at file offset `offsets[i]`, all pieces concatenated in `bytes`.
#[wasm_bindgen]
pub fn parse_index_pieces(file_name: &str, file_len: f64, offsets: &[f64], lengths: &[f64], bytes: &[u8]) -> Result<String, JsError> {
    let pieces = split_pieces(offsets, lengths, bytes)?;
    index_json(formats::parse_index_parts(file_name, &pieces, file_len as u64))
}

/// The pieces of a file as JS hands them over: their offsets, their lengths, and their bytes one
/// after another in `bytes`.
fn split_pieces<'a>(offsets: &[f64], lengths: &[f64], bytes: &'a [u8]) -> Result<Vec<(u64, &'a [u8])>, JsError> {
    if offsets.len() != lengths.len() {
        return Err(JsError::new("offsets and lengths differ in count"));
    }
    let mut pieces = Vec::with_capacity(offsets.len());
    let mut at = 0usize;
    for (&o, &l) in offsets.iter().zip(lengths) {
        let l = l as usize;
        let piece = bytes.get(at..at.saturating_add(l)).ok_or_else(|| JsError::new("pieces are longer than the bytes given"))?;
        pieces.push((o as u64, piece));
        at += l;
    }
    Ok(pieces)
}

/// How many trailing bytes to read with the first bytes (a zip's central directory is at the end).
#[wasm_bindgen]
pub fn tail_read_bytes() -> usize {
    formats::TAIL_READ
}

/// The most rounds of `need_bytes` / `need_range` answers a caller should serve before giving up.
#[wasm_bindgen]
pub fn max_index_rounds() -> usize {
    formats::MAX_ROUNDS
}

/// The bytes of this instance's linear memory (it grows and never shrinks: the high-water mark of
/// what the module has needed). The page's big-file test reads it around a quantization.
#[wasm_bindgen]
pub fn wasm_memory_bytes() -> f64 {
    (core::arch::wasm32::memory_size(0) * 65536) as f64
}

/// `[offset, length]` of the bytes to read for a tensor (of `data_file` when the index names one).
#[wasm_bindgen]
pub fn tensor_stored_range(info_json: &str) -> Result<Vec<f64>, JsError> {
    let info: TensorInfo = serde_json::from_str(info_json).map_err(|e| json_err("tensor description", e))?;
    let (offset, len) = info.stored_range();
    Ok(vec![offset as f64, len as f64])
}

/// One index of shards dropped together (`multi::merge_shards`): `shard_indexes_json` is a JSON array
/// of the shards' indexes as `parse_index_pieces` gave them; `index_json_bytes` the whole
/// model.safetensors.index.json, or empty when the shards came without one.
#[wasm_bindgen]
pub fn merge_shards(label: &str, index_json_bytes: &[u8], shard_indexes_json: &str) -> Result<String, JsError> {
    let shards: Vec<formats::FileIndex> = serde_json::from_str(shard_indexes_json).map_err(|e| json_err("shard indexes", e))?;
    let map = if index_json_bytes.is_empty() {
        None
    } else {
        Some(formats::multi::parse_shard_map(label, index_json_bytes, index_json_bytes.len() as u64).map_err(js_err)?)
    };
    let merged = formats::multi::merge_shards(label, map.as_ref(), shards).map_err(js_err)?;
    to_json("index", &merged)
}

/// `bytes` is the tensor's `stored_range` of its file (equal to [offset, offset + byte_len) for
/// raw storage); deflated and varint storages are unpacked here. Owned (a JS Uint8Array is copied in
/// once) and consumed by the decode, so only the f32 values outlive it: a tensor's calls stay within
/// issue 3's bound of about 3× its f32 size of wasm memory.
fn decode(info_json: &str, bytes: Vec<u8>) -> Result<(TensorInfo, Vec<f32>), JsError> {
    let info: TensorInfo = serde_json::from_str(info_json).map_err(|e| json_err("tensor description", e))?;
    let x = formats::decode_tensor(&info, bytes).map_err(js_err)?;
    Ok((info, x))
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
pub fn float_tensor(info_json: &str, bytes: Vec<u8>, format: &str) -> Result<String, JsError> {
    let (info, x) = decode(info_json, bytes)?;
    to_json("report", &report::float_report(&info.name, info.dtype, &info.shape, &x, format))
}

/// A histogram of the tensor's finite values with `bins` bins over their [min, max].
#[wasm_bindgen]
pub fn value_histogram(info_json: &str, bytes: Vec<u8>, bins: usize) -> Result<String, JsError> {
    let (_, x) = decode(info_json, bytes)?;
    to_json("histogram", &crate::explore::histogram(&x, bins))
}

/// A histogram of x − x̂ under one spec and calibration method (`minmax`, `percentile:99.99`, …).
#[wasm_bindgen]
pub fn error_histogram(info_json: &str, bytes: Vec<u8>, spec_json: &str, method: &str, bins: usize) -> Result<String, JsError> {
    let (info, x) = decode(info_json, bytes)?;
    let spec = spec_from_json(spec_json)?;
    let method = crate::calib::Method::parse(method).map_err(js_err)?;
    to_json("histogram", &crate::explore::error_histogram(&x, &info.shape, &spec, &method, bins).map_err(js_err)?)
}

/// Every slot's range, scale and zero point under one spec and calibration method.
#[wasm_bindgen]
pub fn slot_params(info_json: &str, bytes: Vec<u8>, spec_json: &str, method: &str) -> Result<String, JsError> {
    let (info, x) = decode(info_json, bytes)?;
    let spec = spec_from_json(spec_json)?;
    let method = crate::calib::Method::parse(method).map_err(js_err)?;
    to_json("scales", &crate::explore::slot_params(&x, &info.shape, &spec, &method).map_err(js_err)?)
}

/// The calibration ranges (one per method) to mark on the value histogram.
#[wasm_bindgen]
pub fn calibration_ranges(info_json: &str, bytes: Vec<u8>, spec_json: &str) -> Result<String, JsError> {
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
pub fn sweep_tensor(info_json: &str, bytes: Vec<u8>, specs_json: &str) -> Result<String, JsError> {
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

// ---- Matrix kernels (the speed panel and `npm run bench`). Weights are packed once by the
// constructor and stay packed in wasm memory; each call converts its arguments and delegates.

use crate::kernels::gemm::{self, ActGranularity, PackedF32, PackedI4, PackedI8};
use crate::quant::{ScaleDType, Scheme};

/// f32 weights W [n, k] (torch Linear layout) packed for `matmul`.
#[wasm_bindgen]
pub struct F32Weights(PackedF32);

#[wasm_bindgen]
impl F32Weights {
    #[wasm_bindgen(constructor)]
    pub fn new(w: &[f32], n: usize, k: usize) -> Result<F32Weights, JsError> {
        PackedF32::pack(w, n, k).map(F32Weights).map_err(js_err)
    }

    /// Y [m, n] = X [m, k] · Wᵀ.
    pub fn matmul(&self, x: &[f32], m: usize) -> Result<Vec<f32>, JsError> {
        let mut y = vec![0.0f32; m * self.0.n];
        gemm::gemm_f32(x, m, &self.0, None, &mut y).map_err(js_err)?;
        Ok(y)
    }
}

/// int8 weights [n, k], symmetric per output channel, packed (still int8) for the INT8 kernels.
#[wasm_bindgen]
pub struct Int8Weights(PackedI8);

#[wasm_bindgen]
impl Int8Weights {
    /// From int8 codes [n, k] and one scale per output channel (or one in all).
    #[wasm_bindgen(constructor)]
    pub fn new(codes: &[i8], n: usize, k: usize, scales: &[f32]) -> Result<Int8Weights, JsError> {
        PackedI8::pack(codes, n, k, scales, &[0]).map(Int8Weights).map_err(js_err)
    }

    /// Quantizes f32 weights [n, k] per channel (symmetric int8, min-max) and packs them.
    pub fn quantize(w: &[f32], n: usize, k: usize) -> Result<Int8Weights, JsError> {
        PackedI8::quantize(w, n, k).map(Int8Weights).map_err(js_err)
    }

    /// Per-channel scales (padded to whole panels are dropped).
    pub fn scales(&self) -> Vec<f32> {
        self.0.scales[..self.0.n].to_vec()
    }

    /// u8 activations [m, k] with zero point `a_zero_point` → i32 [m, n].
    pub fn matmul_u8_i32(&self, a: &[u8], m: usize, a_zero_point: i32) -> Result<Vec<i32>, JsError> {
        gemm::gemm_u8s8_i32(a, m, a_zero_point, &self.0).map_err(js_err)
    }

    /// s8 activations [m, k] with zero point `a_zero_point` → i32 [m, n].
    pub fn matmul_s8_i32(&self, a: &[i8], m: usize, a_zero_point: i32) -> Result<Vec<i32>, JsError> {
        gemm::gemm_s8s8_i32(a, m, a_zero_point, &self.0).map_err(js_err)
    }

    /// Dynamic quantization end to end: f32 X [m, k] → u8 per row (or per tensor) → INT8 GEMM → f32.
    pub fn matmul_dynamic(&self, x: &[f32], m: usize, per_row: bool) -> Result<Vec<f32>, JsError> {
        let gran = if per_row { ActGranularity::PerRow } else { ActGranularity::PerTensor };
        gemm::dynamic_quantized_matmul(x, m, &self.0, gran, None).map_err(js_err)
    }
}

/// 4-bit weights [n, k] with per-group scales, packed for the INT4 kernel.
#[wasm_bindgen]
pub struct Int4Weights(PackedI4);

#[wasm_bindgen]
impl Int4Weights {
    /// Quantizes f32 weights [n, k] per group of `group` (a multiple of 4) along k.
    pub fn quantize(w: &[f32], n: usize, k: usize, group: usize, asymmetric: bool, f16_scales: bool) -> Result<Int4Weights, JsError> {
        let scheme = if asymmetric { Scheme::Asymmetric } else { Scheme::Symmetric };
        let sd = if f16_scales { ScaleDType::F16 } else { ScaleDType::F32 };
        PackedI4::quantize(w, n, k, group, scheme, sd).map(Int4Weights).map_err(js_err)
    }

    /// f32 X [m, k] → s8 per row → INT4 GEMM → f32 [m, n].
    pub fn matmul_dynamic(&self, x: &[f32], m: usize) -> Result<Vec<f32>, JsError> {
        gemm::dynamic_quantized_matmul_i4(x, m, &self.0, None).map_err(js_err)
    }

    /// Bytes stored: nibbles, scales and zero points.
    pub fn stored_bytes(&self) -> usize {
        self.0.stored_bytes()
    }
}

// ---- The speed panel (www/speed.js): conversion only ------------------------------------------------

/// A tensor's values as f32 (the weights W the speed panel packs into F32Weights, Int8Weights, Int4Weights).
#[wasm_bindgen]
pub fn tensor_values(info_json: &str, bytes: Vec<u8>) -> Result<Vec<f32>, JsError> {
    Ok(decode(info_json, bytes)?.1)
}

/// The speed panel's X [m, k]: N(0, 1) from `seed` (an integer below 2^53, as `random_seed` gives).
#[wasm_bindgen]
pub fn gaussian_activations(m: usize, k: usize, seed: f64) -> Result<Vec<f32>, JsError> {
    if !((0.0..=9007199254740991.0).contains(&seed) && seed.fract() == 0.0) {
        return Err(JsError::new(&format!("seed {seed}: expected a whole number from 0 to 2^53 − 1")));
    }
    Ok(crate::explore::gaussian_activations(m, k, seed as u64))
}

/// MSE, SQNR, max abs error and cosine of `output` against `reference` (JSON).
#[wasm_bindgen]
pub fn output_error(reference: &[f32], output: &[f32]) -> Result<String, JsError> {
    to_json("output error", &crate::explore::output_error(reference, output).map_err(js_err)?)
}

// ---- The embedded example (src/model): the accuracy table, confusion matrix, misclassified digits and
// predictions for drawn digits. The model is quantized and calibrated once by the constructor.

#[wasm_bindgen]
extern "C" {
    // performance.now() exists in windows and workers alike.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

/// Milliseconds from performance.now() (the clock of the example's timings; tests use it too).
pub fn now_ms() -> f64 {
    performance_now()
}

/// The example model in every configuration of the table, built from the bytes of its four files.
#[wasm_bindgen]
pub struct ExampleModel(crate::model::Evaluation);

#[wasm_bindgen]
impl ExampleModel {
    /// safetensors (fc1..fcN), test features .npy [N, k], test labels .npy [N], calibration features .npy.
    /// `configs`: comma-separated names, or "" for the whole table.
    #[wasm_bindgen(constructor)]
    pub fn new(model: &[u8], test_x: &[u8], test_y: &[u8], calib_x: &[u8], configs: &str) -> Result<ExampleModel, JsError> {
        let example = crate::model::Example::from_bytes(model, test_x, test_y, calib_x).map_err(js_err)?;
        let configs = if configs.trim().is_empty() {
            crate::model::Config::all()
        } else {
            configs.split(',').map(crate::model::Config::parse).collect::<Result<Vec<_>, _>>().map_err(js_err)?
        };
        crate::model::Evaluation::prepare(example, &configs).map(ExampleModel).map_err(js_err)
    }

    /// The names of the prepared configurations, as a JSON array.
    pub fn configs(&self) -> String {
        let names: Vec<String> = self.0.models.iter().map(|m| m.config.name()).collect();
        serde_json::to_string(&names).unwrap_or_else(|_| "[]".into())
    }

    /// The table as `quant-playground eval --json` prints it ({"rows": [...], ...}), plus "worst",
    /// "confusion" (its [true][predicted] counts) and up to `misclassified` of its wrong test digits.
    pub fn evaluate(&self, repeats: usize, misclassified: usize) -> Result<String, JsError> {
        let report = self.0.run(&now_ms, repeats).map_err(js_err)?;
        to_json("report", &self.0.page_report(report, misclassified))
    }

    /// One input (`in_features` values on the test split's scale: pixels / 16 for the digits) in one
    /// configuration: {"config", "class", "logits", "probabilities"}.
    pub fn predict(&self, config: &str, pixels: &[f32]) -> Result<String, JsError> {
        to_json("prediction", &self.0.predict(config, pixels).map_err(js_err)?)
    }

    /// The predicted class only.
    pub fn predict_class(&self, config: &str, pixels: &[f32]) -> Result<u32, JsError> {
        Ok(self.0.predict(config, pixels).map_err(js_err)?.class)
    }

    /// Test example `index`'s features (to draw it) — the page can also take them from `evaluate`.
    pub fn test_example(&self, index: usize) -> Result<Vec<f32>, JsError> {
        let ex = &self.0.example;
        let k = ex.mlp.in_features();
        if index >= ex.test_rows {
            return Err(JsError::new(&format!("test example {index} of {}", ex.test_rows)));
        }
        Ok(ex.test_x[index * k..(index + 1) * k].to_vec())
    }

    pub fn test_label(&self, index: usize) -> Option<u32> {
        self.0.example.test_y.get(index).copied()
    }

    pub fn in_features(&self) -> usize {
        self.0.example.mlp.in_features()
    }

    pub fn classes(&self) -> usize {
        self.0.example.mlp.out_features()
    }
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

// ---- synthetic activation sets (src/synthetic.rs): conversion only --------------------------------------

/// The distributions `synthetic_activations` knows, as a JSON array of names.
#[wasm_bindgen]
pub fn synthetic_distributions() -> String {
    serde_json::to_string(&crate::synthetic::Dist::ALL.map(|d| d.name())).expect("names serialise")
}

/// A seeded synthetic activation set (`rows` × 768 F32) as safetensors bytes, opened like a dropped file.
#[wasm_bindgen]
pub fn synthetic_activations(distribution: &str, rows: u32, seed: f64) -> Result<Vec<u8>, JsError> {
    let dist = crate::synthetic::Dist::parse(distribution).map_err(js_err)?;
    Ok(crate::synthetic::activations_safetensors(dist, rows as usize, seed as u64))
}

// ---- export (src/export): conversion only ------------------------------------------------------------

/// An export in progress: the plan made from the file's index (and, for ONNX QDQ, the model's
/// skeleton), fed one source tensor at a time by the worker, which posts each part to the page.
#[wasm_bindgen]
pub struct ExportSession {
    plan: Option<Box<dyn crate::export::ExportPlan>>,
    need: Option<(u64, u64)>,
}

#[wasm_bindgen]
impl ExportSession {
    /// `index_json` as `parse_index` returned it; `target` as the CLI's `--to`; `spec_json` and
    /// `method` as `quantize_tensor_calibrated` takes them; `only_json` a JSON array of tensor names
    /// to keep ([] for all). The pieces of the file (as `parse_index_pieces` takes them) feed the
    /// ONNX writer, which copies the model's skeleton: when they miss a range, the session has no
    /// plan and `need_range()` says which bytes to add before making it again.
    #[wasm_bindgen(constructor)]
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        index_json: &str,
        target: &str,
        spec_json: &str,
        method: &str,
        only_json: &str,
        offsets: &[f64],
        lengths: &[f64],
        bytes: &[u8],
    ) -> Result<ExportSession, JsError> {
        let index = crate::export::index_from_json(index_json).map_err(js_err)?;
        let only: Vec<String> = serde_json::from_str(only_json).map_err(|e| json_err("tensor names", e))?;
        let index = crate::export::select_tensors(&index, &only).map_err(js_err)?;
        let target = crate::export::ExportTarget::parse(target).map_err(js_err)?;
        let config = crate::export::IntExport {
            spec: spec_from_json(spec_json)?,
            method: crate::calib::Method::parse(method).map_err(js_err)?,
        };
        let pieces = split_pieces(offsets, lengths, bytes)?;
        let mut reader = formats::Pieces { file: &index.file, pieces: &pieces, len: index.file_len };
        match crate::export::make_plan(&target, &index, &mut reader, config) {
            Ok(plan) => Ok(ExportSession { plan: Some(plan), need: None }),
            Err(Error::NeedRange { offset, len, .. }) => Ok(ExportSession { plan: None, need: Some((offset, len)) }),
            Err(e) => Err(js_err(e)),
        }
    }

    /// [offset, length] of the file still needed to make the plan, or undefined when it is made.
    pub fn need_range(&self) -> Option<Vec<f64>> {
        self.need.map(|(o, l)| vec![o as f64, l as f64])
    }

    fn plan(&mut self) -> Result<&mut Box<dyn crate::export::ExportPlan>, JsError> {
        self.plan.as_mut().ok_or_else(|| JsError::new("the export has no plan yet: hand over the range need_range() names"))
    }

    pub fn header(&mut self) -> Result<Vec<u8>, JsError> {
        self.plan()?.header().map_err(js_err)
    }

    /// The source tensors to read, in order, as a JSON array of tensor descriptions.
    pub fn sources(&mut self) -> Result<String, JsError> {
        to_json("sources", &self.plan()?.sources())
    }

    /// [offset, length] to read for source `i` (of its `data_file` when it names one).
    pub fn stored_range(&mut self, i: usize) -> Result<Vec<f64>, JsError> {
        let info = self.plan()?.sources().get(i).ok_or_else(|| JsError::new(&format!("no source tensor {i}")))?;
        let (o, l) = info.stored_range();
        Ok(vec![o as f64, l as f64])
    }

    /// The output bytes of source `i` from its stored bytes.
    pub fn encode(&mut self, i: usize, stored: &[u8]) -> Result<Vec<u8>, JsError> {
        self.plan()?.encode(i, stored.to_vec()).map_err(js_err)
    }

    pub fn trailer(&mut self) -> Result<Vec<u8>, JsError> {
        self.plan()?.trailer().map_err(js_err)
    }

    /// What each tensor became (the CLI's `export --json` report).
    pub fn report(&mut self) -> Result<String, JsError> {
        to_json("report", &self.plan()?.report())
    }
}

// ---- The Outputs view (www/outputs.js): conversion only ----------------------------------------------

/// `count` values of a synthetic distribution with σ = 1 from `seed` (the view's X, rows of k).
#[wasm_bindgen]
pub fn synthetic_inputs(distribution: &str, m: usize, k: usize, seed: f64) -> Result<Vec<f32>, JsError> {
    let dist = crate::synthetic::Dist::parse(distribution).map_err(js_err)?;
    if !((0.0..=9007199254740991.0).contains(&seed) && seed.fract() == 0.0) {
        return Err(JsError::new(&format!("seed {seed}: expected a whole number from 0 to 2^53 − 1")));
    }
    Ok(crate::pipeline::synthetic_inputs(dist, m, k, seed as u64))
}

/// The trace of y[sample, row] for W [n, k] (bias empty when there is none) and X (rows of k), as
/// `quant-playground trace --json` prints it (without the file fields).
#[wasm_bindgen]
#[allow(clippy::too_many_arguments)]
pub fn trace_outputs(w: &[f32], n: usize, k: usize, bias: &[f32], x: &[f32], sample: usize, row: usize, method: &str, relu: bool) -> Result<String, JsError> {
    let m = crate::pipeline::rows_of(x, k, "x").map_err(js_err)?;
    let method = crate::calib::Method::parse(method).map_err(js_err)?;
    let bias = (!bias.is_empty()).then_some(bias);
    to_json("trace", &crate::pipeline::trace_outputs(w, n, k, bias, x, m, sample, row, &method, relu).map_err(js_err)?)
}

// ---- Activation batches (www/activations.js): several files, one set; conversion only -----------------

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
