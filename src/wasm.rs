//! The thin JavaScript layer: converts arguments, calls the core, returns the report JSON (the same
//! schema the CLI prints with --json). No quantization logic lives here.

use crate::error::Error;
use crate::formats;
use crate::quant::QuantSpec;
use crate::report;
use crate::tensor::TensorInfo;
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
    index_json(formats::parse_index_parts(file_name, &pieces, file_len as u64))
}

/// `bytes` is the tensor's `stored_range` of its file (equal to [offset, offset + byte_len) for
/// raw storage); deflated and varint storages are unpacked here.
fn decode(info_json: &str, bytes: &[u8]) -> Result<(TensorInfo, Vec<f32>), JsError> {
    let info: TensorInfo = serde_json::from_str(info_json).map_err(|e| json_err("tensor description", e))?;
    let x = formats::decode_tensor(&info, bytes.to_vec()).map_err(js_err)?;
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
