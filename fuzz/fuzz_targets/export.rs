//! The export writers over an untrusted source: parse the index as the page would (the whole
//! input as one piece), make the plan the page would make for it (onnx-qdq for an ONNX model,
//! gguf:Q4_K and gguf:Q8_0 for a GGUF file, safetensors and gguf:Q4_K for the rest), then write
//! the header, encode every source tensor whose stored bytes are in the input, and the trailer.
//! A tensor in a sibling file (ONNX external data) is read from the input too, as if the same
//! bytes had been dropped as that file. When every tensor was encoded, the bytes written must add
//! up to the size the plan announced (the header is written before the tensors, so a wrong plan
//! is a corrupt file), and the file written must parse again.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quant_playground::calib::Method;
use quant_playground::export::{self, ExportTarget, IntExport};
use quant_playground::formats::{self, Format, Pieces};
use quant_playground::quant::{Granularity, QuantSpec, Scheme};

/// The quantization asked for, picked by the input's length so every kind is reached.
fn config(data: &[u8], onnx: bool) -> IntExport {
    let (bits, scheme, granularity, method) = match data.len() % 3 {
        0 => (8, Scheme::Symmetric, Granularity::PerChannel { axis: 0 }, Method::MinMax),
        1 => (4, Scheme::Asymmetric, Granularity::PerTensor, Method::Percentile(99.9)),
        // ONNX QDQ refuses per-group (a clear error, not worth an execution).
        _ if onnx => (6, Scheme::Asymmetric, Granularity::PerChannel { axis: 0 }, Method::MinMax),
        _ => (4, Scheme::Symmetric, Granularity::PerGroup { size: 32 }, Method::MinMax),
    };
    IntExport { spec: QuantSpec::new(bits, scheme, granularity), method }
}

fn run(name: &str, data: &[u8], index: &formats::FileIndex, target: &ExportTarget, config: IntExport) {
    let pieces = [(0u64, data)];
    let mut reader = Pieces { file: name, pieces: &pieces, len: data.len() as u64 };
    let Ok(mut plan) = export::make_plan(target, index, &mut reader, config) else { return };
    let Ok(header) = plan.header() else { return };
    let mut out = header;
    let mut complete = true;
    for i in 0..plan.sources().len().min(64) {
        let info = plan.sources()[i].clone();
        let (offset, len) = info.stored_range();
        let inside = offset.checked_add(len).is_some_and(|e| e <= data.len() as u64);
        if !inside {
            complete = false;
            continue;
        }
        match plan.encode(i, data[offset as usize..(offset + len) as usize].to_vec()) {
            Ok(bytes) => out.extend_from_slice(&bytes),
            Err(_) => complete = false,
        }
    }
    complete &= plan.sources().len() <= 64;
    let Ok(trailer) = plan.trailer() else { return };
    out.extend_from_slice(&trailer);
    let report = plan.report();
    if complete {
        let label = target.label();
        assert_eq!(out.len() as u64, report.total_bytes, "{label}: bytes written differ from the size the plan announced");
        let out_name = if label == "onnx-qdq" { "out.onnx" } else if label == "safetensors" { "out.safetensors" } else { "out.gguf" };
        if let Err(e) = formats::parse_index_parts(out_name, &[(0, &out)], out.len() as u64) {
            panic!("{label}: the file written does not parse again: {e}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let name = "f.onnx";
    let pieces = [(0u64, data)];
    let Ok(index) = formats::parse_index_parts(name, &pieces, data.len() as u64) else { return };
    match index.format {
        Format::Onnx => run(name, data, &index, &ExportTarget::OnnxQdq, config(data, true)),
        Format::Gguf => {
            for ty in ["Q4_K", "Q8_0"] {
                run(name, data, &index, &ExportTarget::Gguf(ty.into()), config(data, false));
            }
        }
        _ => {
            run(name, data, &index, &ExportTarget::Safetensors, config(data, false));
            run(name, data, &index, &ExportTarget::Gguf("Q4_K".into()), config(data, false));
        }
    }
});
