//! Theirs against ours (app::theirs): conversion only. The worker reads each tensor's stored bytes
//! (Blob.slice) and hands them to the session one at a time, in the steps the CLI's `diff` runs.

use super::{js_err, to_json};
use crate::app::theirs::{self, Fingerprint, Matching, TensorDiff};
use crate::formats::{self, FileIndex};
use wasm_bindgen::prelude::*;

/// A float model and its quantized copy being compared: the indexes, the pairs found so far, the
/// fingerprints and rows handed over.
#[wasm_bindgen]
pub struct TheirsSession {
    float: FileIndex,
    quantized: FileIndex,
    matching: Matching,
    float_prints: Vec<Fingerprint>,
    quantized_prints: Vec<Fingerprint>,
    rows: Vec<TensorDiff>,
}

impl TheirsSession {
    fn side(&self, float: bool) -> &FileIndex {
        if float { &self.float } else { &self.quantized }
    }

    fn values(&self, float: bool, name: &str, stored: Vec<u8>) -> Result<Vec<f32>, JsError> {
        let info = self.side(float).tensor(name).map_err(js_err)?;
        formats::decode_tensor(info, stored).map_err(js_err)
    }
}

#[wasm_bindgen]
impl TheirsSession {
    /// The two indexes as `parse_index` returned them; pairs by name at once.
    #[wasm_bindgen(constructor)]
    pub fn new(float_index_json: &str, quantized_index_json: &str) -> Result<TheirsSession, JsError> {
        let float = crate::export::index_from_json(float_index_json).map_err(js_err)?;
        let quantized = crate::export::index_from_json(quantized_index_json).map_err(js_err)?;
        let matching = theirs::match_by_name(&float, &quantized);
        Ok(TheirsSession { float, quantized, matching, float_prints: Vec::new(), quantized_prints: Vec::new(), rows: Vec::new() })
    }

    /// `{"float": [names], "quantized": [names]}`: the tensors whose fingerprints to hand over.
    pub fn fingerprint_candidates(&self) -> Result<String, JsError> {
        let (float, quantized) = theirs::fingerprint_candidates(&self.float, &self.quantized, &self.matching).map_err(js_err)?;
        to_json("fingerprint candidates", &serde_json::json!({ "float": float, "quantized": quantized }))
    }

    /// One candidate's stored bytes (its `tensor_stored_range`), from the float file or the copy.
    pub fn add_fingerprint(&mut self, float: bool, name: &str, stored: Vec<u8>) -> Result<(), JsError> {
        let values = self.values(float, name, stored)?;
        let shape = self.side(float).tensor(name).map_err(js_err)?.shape.clone();
        let print = theirs::fingerprint(name, &shape, &values).map_err(js_err)?;
        if float { self.float_prints.push(print) } else { self.quantized_prints.push(print) }
        Ok(())
    }

    /// Pairs what is left by fingerprint; returns every pair (`[{float, quantized, matched_by, transposed}]`).
    pub fn match_fingerprints(&mut self) -> Result<String, JsError> {
        theirs::match_by_fingerprint(&mut self.matching, &self.float_prints, &self.quantized_prints);
        self.float_prints.clear();
        self.quantized_prints.clear();
        to_json("pairs", &self.matching.pairs)
    }

    /// Measures pair `i` of `match_fingerprints` from both tensors' stored bytes; returns its row.
    pub fn measure(&mut self, i: usize, float_stored: Vec<u8>, quantized_stored: Vec<u8>) -> Result<String, JsError> {
        let pair = self.matching.pairs.get(i).cloned().ok_or_else(|| JsError::new(&format!("there is no pair {i} of {}", self.matching.pairs.len())))?;
        let x = self.values(true, &pair.float, float_stored)?;
        let xq = self.values(false, &pair.quantized, quantized_stored)?;
        let row = theirs::measure(&self.float, &self.quantized, &pair, &x, &xq).map_err(js_err)?;
        let json = to_json("row", &row)?;
        self.rows.push(row);
        Ok(json)
    }

    /// The CLI's `diff --json` document from the rows measured so far.
    pub fn report(&self) -> Result<String, JsError> {
        let report = theirs::report(&self.float, &self.quantized, &self.matching, self.rows.clone()).map_err(js_err)?;
        to_json("diff report", &report)
    }
}
