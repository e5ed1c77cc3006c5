//! Export: quantized weights written as files other tools load (safetensors, GGUF, ONNX QDQ).
//!
//! Every writer is a plan made from the source's index alone (names, shapes, dtypes), so the
//! header can be written first and each tensor's bytes streamed after it, one tensor at a time:
//! neither the CLI nor the page ever holds the whole model, in or out.
//!
//! Driving a plan: write `header()`, then for each `i` in `0..sources().len()` read that source
//! tensor's stored bytes (`TensorInfo::stored_range`) and write `encode(i, bytes)`, then `trailer()`.

pub mod gguf;

use crate::error::Result;
use crate::tensor::TensorInfo;
use serde::Serialize;

/// What happened to one tensor on export.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportedTensor {
    pub name: String,
    /// The dtype written (e.g. "Q4_K", "I8", "U8", "F16", "F32").
    pub written_as: String,
    pub bytes: u64,
    /// Why the tensor was not written as asked (a row length that fits no block, a 1-D tensor
    /// kept in float as llama.cpp keeps it, a non-float tensor copied as is), when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The whole export: what each tensor became and the size of the file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportReport {
    pub format: String,
    pub tensors: Vec<ExportedTensor>,
    pub total_bytes: u64,
}

/// A file being written: header, then one piece per source tensor, then a trailer.
pub trait ExportPlan {
    /// The bytes before the first tensor's data.
    fn header(&self) -> Result<Vec<u8>>;
    /// The source tensors to feed to `encode`, in order.
    fn sources(&self) -> &[TensorInfo];
    /// The bytes written for source tensor `i` (padding included) from its stored bytes as read
    /// from the source file (`stored_range`); the plan decodes them itself.
    fn encode(&mut self, i: usize, stored: Vec<u8>) -> Result<Vec<u8>>;
    /// The bytes after the last tensor (empty for most formats).
    fn trailer(&mut self) -> Result<Vec<u8>>;
    /// What was written, for the CLI's table and the page.
    fn report(&self) -> ExportReport;
}
