//! Weight files (src/formats): the index of a file read in pieces, a tensor's stored range, shards
//! merged into one index. Conversion only.

use super::{js_err, json_err, split_pieces, to_json};
use crate::error::Error;
use crate::formats;
use crate::tensor::TensorInfo;
use wasm_bindgen::prelude::*;

/// How many leading bytes to read before calling `parse_index`.
#[wasm_bindgen]
pub fn first_read_bytes() -> usize {
    formats::FIRST_READ
}

fn index_json(r: crate::Result<formats::FileIndex>) -> Result<String, JsError> {
    match r {
        Ok(index) => {
            // What the file holds, for the page's message when it has nothing to quantize.
            let mut json = serde_json::to_value(&index).map_err(|e| json_err("index", e))?;
            json["holdings"] = index.holdings().into();
            serde_json::to_string(&json).map_err(|e| json_err("index", e))
        }
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

/// `[offset, length]` of the bytes to read for a tensor (of `data_file` when the index names one).
#[wasm_bindgen]
pub fn tensor_stored_range(info_json: &str) -> Result<Vec<f64>, JsError> {
    let info: TensorInfo = serde_json::from_str(info_json).map_err(|e| json_err("tensor description", e))?;
    let (offset, len) = info.stored_range();
    Ok(vec![offset as f64, len as f64])
}

/// A tensor's stored bytes (`tensor_stored_range`) as its elements, little-endian and row-major, of any
/// dtype: integer arrays too (a model's token ids, labels), which `tensor_values` does not decode.
#[wasm_bindgen]
pub fn tensor_element_bytes(info_json: &str, bytes: Vec<u8>) -> Result<Vec<u8>, JsError> {
    let info: TensorInfo = serde_json::from_str(info_json).map_err(|e| json_err("tensor description", e))?;
    let elements = formats::element_bytes(&info, bytes).map_err(js_err)?;
    Ok(crate::tensor::to_c_order_le(&info, elements))
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

/// A TF.js model's index (`tfjs::locate`) once its shards are at hand: `manifest_json_bytes` is the
/// whole model.json or weights manifest, `shard_lengths_json` a JSON object of each shard's length
/// by the path the manifest gives ({"group1-shard1of2.bin": 4194304, …}).
#[wasm_bindgen]
pub fn tfjs_locate(label: &str, manifest_json_bytes: &[u8], shard_lengths_json: &str) -> Result<String, JsError> {
    let lengths: std::collections::HashMap<String, u64> = serde_json::from_str(shard_lengths_json).map_err(|e| json_err("shard lengths", e))?;
    let index = formats::tfjs::locate(label, manifest_json_bytes, &lengths).map_err(js_err)?;
    index_json(Ok(index))
}

/// The pieces of files to read and concatenate for a tensor's stored bytes, as JSON
/// `[{"file": name or null, "offset": o, "len": l}, …]`: one piece (`tensor_stored_range` of its
/// `data_file`) unless its bytes run over several files (TF.js shards).
#[wasm_bindgen]
pub fn tensor_file_parts(info_json: &str) -> Result<String, JsError> {
    let info: TensorInfo = serde_json::from_str(info_json).map_err(|e| json_err("tensor description", e))?;
    let parts: Vec<serde_json::Value> = info.file_parts().into_iter().map(|(file, offset, len)| serde_json::json!({ "file": file, "offset": offset, "len": len })).collect();
    to_json("file parts", &parts)
}
