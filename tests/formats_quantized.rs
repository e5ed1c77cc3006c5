//! Every weight of an ONNX file, and the quantization stored in it, against the libraries that
//! wrote it (fixtures and expected values by scripts/make_quantized_fixtures.py): Constant nodes
//! and If/Loop bodies as numpy_helper reads them; onnxruntime's QDQ, QOperator, dynamic and
//! MatMulNBits weights as onnxruntime itself dequantizes them; a TFLite model's float and
//! per-tensor / per-channel integer tensors as TFLite's Interpreter reads them — bit for bit,
//! natively and through the page's piece-by-piece protocol.
#![cfg(not(target_arch = "wasm32"))]

use quant_playground::formats::{self, FileSource};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

#[path = "common/pieces.rs"]
mod pieces;
use pieces::index_by_pieces;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/quantized")
}

fn manifest() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir().join("manifest.json")).unwrap()).unwrap()
}

fn expected(name: &str) -> Vec<u32> {
    std::fs::read(dir().join("expected").join(name)).unwrap().chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn every_weight_and_its_stored_quantization_read_as_the_libraries_do() {
    let m = manifest();
    let mut checked = 0;
    let mut quantized = 0;
    for (file, tensors) in m["files"].as_object().unwrap() {
        let path = dir().join(file);
        let path_s = path.to_str().unwrap();
        let mut src = FileSource::open(path_s).unwrap();
        let index = formats::read_index(path_s, &mut src).unwrap_or_else(|e| panic!("{file}: {e}"));
        let bytes = std::fs::read(&path).unwrap();
        let (by_pieces, rounds, _) = index_by_pieces(path_s, &bytes);
        assert_eq!(by_pieces.unwrap_or_else(|e| panic!("{file} by pieces: {e}")).tensors, index.tensors, "{file}");
        assert!(rounds < 16, "{file}: {rounds} rounds");

        // Exactly the weights and the other tensors, no scale or zero point listed apart.
        let mut want: BTreeSet<&str> = tensors.as_object().unwrap().keys().map(String::as_str).collect();
        if let Some(listed) = m["listed"][file].as_object() {
            for (name, dtype) in listed {
                let info = index.tensor(name).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(info.dtype.name(), dtype.as_str().unwrap(), "{file}:{name}");
                assert!(!info.is_quantizable(), "{file}:{name}");
                want.insert(name);
            }
        }
        for name in m["parameters"][file].as_array().into_iter().flatten() {
            let info = index.tensor(name.as_str().unwrap()).unwrap_or_else(|e| panic!("{e}"));
            assert!(info.parameter_of.is_some() && !info.is_quantizable(), "{file}:{name} is a parameter");
            want.insert(name.as_str().unwrap());
        }
        let got: BTreeSet<&str> = index.tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(got, want, "{file}: the listed tensors");

        for (name, want) in tensors.as_object().unwrap() {
            let info = index.tensor(name).unwrap();
            let shape: Vec<usize> = want["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
            assert_eq!(info.shape, shape, "{file}:{name} shape");
            assert!(info.is_quantizable(), "{file}:{name}");
            match (&info.quant, want.get("quant")) {
                (Some(q), Some(wq)) => {
                    let j = serde_json::to_value(q).unwrap();
                    assert_eq!(j["scheme"], wq["scheme"], "{file}:{name}");
                    assert_eq!(j["granularity"], wq["granularity"], "{file}:{name}");
                    assert_eq!(j["bits"], wq["bits"], "{file}:{name}");
                    quantized += 1;
                }
                (None, None) => assert_eq!(info.dtype.name(), want["dtype"].as_str().unwrap(), "{file}:{name}"),
                (got, want) => panic!("{file}:{name}: quantization {got:?}, the library says {want:?}"),
            }
            let stored = formats::read_stored(&mut src, info).unwrap();
            let values = formats::decode_tensor(info, stored).unwrap_or_else(|e| panic!("{file}:{name}: {e}"));
            let mut got = bits(&values);
            let exp = expected(want["expected"].as_str().unwrap());
            if want["zero_sign"] == false {
                // The reference cannot carry a −0 (see the script): compare zeros without their sign.
                for (g, e) in got.iter_mut().zip(&exp) {
                    if *g << 1 == 0 && *e << 1 == 0 {
                        *g = *e;
                    }
                }
            }
            assert_eq!(got, exp, "{file}:{name}: values differ from the library's");
            checked += 1;
        }
    }
    assert!(checked >= 53 && quantized >= 23, "{checked} tensors, {quantized} quantized");
}

#[test]
fn quantization_is_in_the_index_json_the_page_gets() {
    let path = dir().join("qdq_per_channel.onnx");
    let bytes = std::fs::read(&path).unwrap();
    let index = formats::parse_index("qdq_per_channel.onnx", &bytes, bytes.len() as u64).unwrap();
    let json = serde_json::to_value(&index).unwrap();
    let w = json["tensors"].as_array().unwrap().iter().find(|t| t["name"] == "fc.weight_quantized").unwrap();
    assert_eq!(w["dtype"], "I8");
    assert_eq!(w["quant"]["granularity"], serde_json::json!({"kind": "per_axis", "axis": 1}));
    assert_eq!(w["quant"]["scales"].as_array().unwrap().len(), 16);
    // Back from JSON (as the page hands an index to the worker) it decodes the same.
    let back: formats::FileIndex = serde_json::from_value(json).unwrap();
    let info = back.tensor("fc.weight_quantized").unwrap();
    let (o, n) = info.stored_range();
    let values = formats::decode_tensor(info, bytes[o as usize..(o + n) as usize].to_vec()).unwrap();
    let m = manifest();
    assert_eq!(bits(&values), expected(m["files"]["qdq_per_channel.onnx"]["fc.weight_quantized"]["expected"].as_str().unwrap()));
}

#[test]
fn subgraph_and_constant_tensors_are_said_in_the_metadata() {
    let path = dir().join("constants_if.onnx");
    let bytes = std::fs::read(&path).unwrap();
    let index = formats::parse_index("constants_if.onnx", &bytes, bytes.len() as u64).unwrap();
    let note = index.metadata.iter().find(|(k, _)| k == "subgraph tensors").unwrap();
    assert!(note.1.starts_with("4 tensors"), "{note:?}");
}

#[test]
fn a_file_without_weights_says_what_it_holds() {
    let path = dir().join("shape_only.onnx");
    let bytes = std::fs::read(&path).unwrap();
    let index = formats::parse_index("shape_only.onnx", &bytes, bytes.len() as u64).unwrap();
    assert_eq!(index.holdings(), "shape_only.onnx holds no float weights: 2 I64 tensors (shape constants, indices)");
    let index = formats::parse_index("qoperator.onnx", &std::fs::read(dir().join("qoperator.onnx")).unwrap(), std::fs::metadata(dir().join("qoperator.onnx")).unwrap().len()).unwrap();
    assert_eq!(index.holdings(), "qoperator.onnx holds 4 weights to quantize, and 14 quantization parameters (scales, zero points)");
}

/// nbits4_gidx.onnx with one g_idx entry replaced: the weight is listed as its codes, with a note
/// naming the entry, and nothing panics.
#[test]
fn a_matmul_nbits_g_idx_out_of_range_is_a_note_not_a_panic() {
    let bytes = std::fs::read(dir().join("nbits4_gidx.onnx")).unwrap();
    let index = formats::parse_index("nbits4_gidx.onnx", &bytes, bytes.len() as u64).unwrap();
    let g = index.tensor("fc.weight_Q4_g_idx").unwrap();
    assert!(g.parameter_of.is_some(), "g_idx is a parameter of the weight");
    assert!(index.tensor("fc.weight_Q4").unwrap().quant.as_ref().is_some_and(|q| q.row_groups.len() == 64));
    let (o, _) = g.stored_range();
    for (value, says) in [(2i32, "g_idx 'fc.weight_Q4_g_idx'[5] = 2 where there are 2 blocks"), (-1, "g_idx 'fc.weight_Q4_g_idx'[5] = -1 where there are 2 blocks")] {
        let mut bad = bytes.clone();
        let at = o as usize + 5 * 4;
        bad[at..at + 4].copy_from_slice(&value.to_le_bytes());
        let index = formats::parse_index("nbits4_gidx.onnx", &bad, bad.len() as u64).unwrap();
        let w = index.tensor("fc.weight_Q4").unwrap();
        assert!(w.quant.is_none() && !w.is_quantizable(), "{value}");
        let note = index.metadata.iter().find(|(k, _)| k == "not dequantized fc.weight_Q4").unwrap();
        assert!(note.1.contains(says), "{note:?}");
    }
}
