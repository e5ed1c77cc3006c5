//! `convert`: every tensor a file lists, written to safetensors under the name it is listed by.
//! What the playground reads as values (floats, decoded ggml blocks, codes stored with their own
//! quantization) is written as F32 — dequantized with the file's own parameters — so anyone can
//! check our reading against their library; integers, booleans and quantization parameters are
//! copied in their own dtype. ggml types the playground does not decode are left out, and said.

use super::safetensors::{copied_bytes, header_bytes};
use super::{ExportPlan, ExportReport, ExportedTensor};
use crate::error::{Error, Result};
use crate::formats::{self, FileIndex};
use crate::tensor::{checked_element_count, DType, TensorInfo};

enum Entry {
    F32 { bytes: u64 },
    Copy { bytes: u64 },
}

pub struct ConvertPlan {
    file: String,
    sources: Vec<TensorInfo>,
    entries: Vec<Entry>,
    header: Vec<u8>,
    rows: Vec<ExportedTensor>,
    total_bytes: u64,
}

/// Plans the conversion of every tensor of `index` (the header is made from the index alone).
pub fn plan_convert(index: &FileIndex) -> Result<ConvertPlan> {
    let mut header = serde_json::Map::new();
    let (mut sources, mut entries, mut rows) = (Vec::new(), Vec::new(), Vec::new());
    let mut offset = 0u64;
    for info in &index.tensors {
        let elements = checked_element_count(&info.shape)
            .ok_or_else(|| Error::malformed(&index.file, format!("tensor '{}': shape {:?} overflows", info.name, info.shape)))? as u64;
        let (dtype, entry, note) = if info.is_quantizable() {
            let note = info.quant.as_ref().map(|q| format!("dequantized from {} {}-bit codes ({})", info.dtype.name(), q.bits, q.op));
            (DType::F32, Entry::F32 { bytes: elements * 4 }, note)
        } else if info.dtype.block() == 1 && !matches!(info.dtype, DType::Ggml(_)) {
            let note = info.parameter_of.as_ref().map(|of| format!("a quantization parameter of {of}, copied"));
            (info.dtype, Entry::Copy { bytes: elements * info.dtype.size() as u64 }, note)
        } else {
            rows.push(ExportedTensor {
                name: info.name.clone(),
                written_as: "skipped".into(),
                bytes: 0,
                note: Some(format!("left out: {} is not decoded here and has no safetensors dtype", info.dtype.name())),
            });
            continue;
        };
        let bytes = match entry {
            Entry::F32 { bytes } | Entry::Copy { bytes } => bytes,
        };
        header.insert(info.name.clone(), serde_json::json!({ "dtype": dtype.name(), "shape": info.shape, "data_offsets": [offset, offset + bytes] }));
        offset += bytes;
        rows.push(ExportedTensor { name: info.name.clone(), written_as: dtype.name().into(), bytes, note });
        sources.push(info.clone());
        entries.push(entry);
    }
    let meta = serde_json::json!({ "source": index.file, "converted_by": "quant-playground convert" });
    header.insert("__metadata__".into(), meta);
    let head = header_bytes(header);
    let total_bytes = head.len() as u64 + offset;
    Ok(ConvertPlan { file: index.file.clone(), sources, entries, header: head, rows, total_bytes })
}

impl ExportPlan for ConvertPlan {
    fn header(&self) -> Result<Vec<u8>> {
        Ok(self.header.clone())
    }

    fn sources(&self) -> &[TensorInfo] {
        &self.sources
    }

    fn encode(&mut self, i: usize, stored: Vec<u8>) -> Result<Vec<u8>> {
        let info = self.sources.get(i).ok_or_else(|| Error::InvalidSpec(format!("no source tensor {i} in this conversion")))?;
        let (out, planned) = match self.entries[i] {
            Entry::F32 { bytes } => (formats::decode_tensor(info, stored)?.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>(), bytes),
            Entry::Copy { bytes } => (copied_bytes(info, stored)?, bytes),
        };
        if out.len() as u64 != planned {
            return Err(Error::malformed(&self.file, format!("tensor '{}' gave {} bytes where {planned} were planned", info.name, out.len())));
        }
        Ok(out)
    }

    fn trailer(&mut self) -> Result<Vec<u8>> {
        Ok(Vec::new())
    }

    fn report(&self) -> ExportReport {
        ExportReport { format: "safetensors (F32)".into(), tensors: self.rows.clone(), total_bytes: self.total_bytes }
    }
}
