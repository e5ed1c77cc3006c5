//! The thin JavaScript layer: converts arguments, calls the core, returns the report JSON (the same
//! schema the CLI prints with --json). No quantization logic lives here. One file per domain of the
//! page; this one holds the start hook and the conversions they share. Every export keeps a flat
//! name: the page's worker calls them by name, and `crate::wasm::NAME` reaches each one.

use crate::error::Error;
use crate::quant::QuantSpec;
use crate::tensor::TensorInfo;
use wasm_bindgen::prelude::*;

pub mod calib;
pub mod example;
pub mod explore;
pub mod export;
pub mod formats;
pub mod graph;
pub mod kernels;
pub mod lesson;
pub mod speed;
pub mod synthetic;
pub mod tensor;
pub mod theirs;
pub mod trace;

pub use self::{calib::*, example::*, explore::*, export::*, formats::*, graph::*, kernels::*, lesson::*, speed::*, synthetic::*, tensor::*, theirs::*, trace::*};

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

/// The bytes of this instance's linear memory (it grows and never shrinks: the high-water mark of
/// what the module has needed). The page's big-file test reads it around a quantization.
#[wasm_bindgen]
pub fn wasm_memory_bytes() -> f64 {
    (core::arch::wasm32::memory_size(0) * 65536) as f64
}

/// `bytes` is the tensor's `stored_range` of its file (equal to [offset, offset + byte_len) for
/// raw storage); deflated and varint storages are unpacked here. Owned (a JS Uint8Array is copied in
/// once) and consumed by the decode, so only the f32 values outlive it: a tensor's calls stay within
/// issue 3's bound of about 3× its f32 size of wasm memory.
fn decode(info_json: &str, bytes: Vec<u8>) -> Result<(TensorInfo, Vec<f32>), JsError> {
    let info: TensorInfo = serde_json::from_str(info_json).map_err(|e| json_err("tensor description", e))?;
    let x = crate::formats::decode_tensor(&info, bytes).map_err(js_err)?;
    Ok((info, x))
}

fn spec_from_json(spec_json: &str) -> Result<QuantSpec, JsError> {
    serde_json::from_str(spec_json).map_err(|e| json_err("quantization settings", e))
}

fn to_json<T: serde::Serialize>(what: &str, value: &T) -> Result<String, JsError> {
    serde_json::to_string(value).map_err(|e| json_err(what, e))
}
