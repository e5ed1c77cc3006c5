//! Shared by tests/export_gguf.rs and tests/ggml_iq.rs: reading the fixture .npy inputs with our own
//! reader, and driving a GGUF export plan as the CLI does.

use quant_playground::export::gguf::{plan_gguf, GgufTarget};
use quant_playground::export::{ExportPlan, ExportReport};
use quant_playground::formats::{self, FileIndex};
use std::path::Path;

/// A fixture .npy read by our own reader: (shape, values).
pub fn load_npy(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let name = path.file_name().unwrap().to_str().unwrap();
    let bytes = std::fs::read(path).unwrap();
    let index = formats::read_index(name, &mut bytes.as_slice()).unwrap();
    let info = index.tensors[0].clone();
    let stored = formats::read_tensor_bytes(&mut bytes.as_slice(), &info).unwrap();
    (info.shape.clone(), formats::decode_tensor(&info, stored).unwrap())
}

/// Drives a plan as the CLI does: header, each source tensor's stored bytes, trailer.
pub fn export(index: &FileIndex, source: &[u8], target: GgufTarget) -> (Vec<u8>, ExportReport) {
    let mut plan = plan_gguf(index, target).unwrap();
    let mut out = plan.header().unwrap();
    let header_len = out.len();
    let sources = plan.sources().to_vec();
    for (i, info) in sources.iter().enumerate() {
        let (offset, len) = info.stored_range();
        let stored = source[offset as usize..(offset + len) as usize].to_vec();
        out.extend(plan.encode(i, stored).unwrap());
    }
    out.extend(plan.trailer().unwrap());
    let report = plan.report();
    assert_eq!(report.total_bytes, out.len() as u64, "report size vs bytes written");
    assert!(header_len as u64 % 32 == 0 || header_len as u64 % 64 == 0);
    (out, report)
}
