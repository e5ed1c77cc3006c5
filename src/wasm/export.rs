//! Export (src/export): conversion only.

use super::{js_err, json_err, spec_from_json, split_pieces, to_json};
use crate::error::Error;
use crate::formats;
use wasm_bindgen::prelude::*;

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
