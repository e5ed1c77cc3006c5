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

#[test]
fn a_gptq_checkpoint_with_more_scales_than_the_old_index_limit_is_listed_whole_and_its_last_linear_dequantizes() {
    // A sparse safetensors file (zeros that take no disk or memory): GPTQ 4-bit Linear `big` of
    // 8 inputs by 8 Mi + 32 outputs (one group: 8 Mi + 32 scales, past the 8 Mi slots the index
    // used to carry), then a small Linear `small` of 8 inputs by 8 outputs worked by hand.
    let big = (8 << 20) + 32;
    let (qw, qz, sc) = (big * 4, big / 8 * 4, big * 2);
    let (sqw, sqz, ssc) = (8 * 4, 4, 8 * 2);
    let mut at = 0;
    let mut entry = |name: &str, dtype: &str, shape: String, len: usize| {
        let e = format!(r#""{name}":{{"dtype":"{dtype}","shape":{shape},"data_offsets":[{at},{}]}}"#, at + len);
        at += len;
        e
    };
    let header = [
        entry("big.qweight", "I32", format!("[1,{big}]"), qw),
        entry("big.qzeros", "I32", format!("[1,{}]", big / 8), qz),
        entry("big.scales", "F16", format!("[1,{big}]"), sc),
        entry("small.qweight", "I32", "[1,8]".into(), sqw),
        entry("small.qzeros", "I32", "[1,1]".into(), sqz),
        entry("small.scales", "F16", "[1,8]".into(), ssc),
    ]
    .join(",");
    let header = format!("{{{header}}}");
    let data = 8 + header.len() as u64;
    // small: column n's word 0x76543210 holds codes 0..7 for inputs 0..7; zeros stored minus one,
    // 7 in every nibble (zero 8); scale of output n (n + 1) / 4.
    let mut tail = Vec::new();
    (0..8).for_each(|_| tail.extend_from_slice(&0x7654_3210u32.to_le_bytes()));
    tail.extend_from_slice(&0x7777_7777u32.to_le_bytes());
    (0..8).for_each(|n| tail.extend_from_slice(&half::f16::from_f32((n + 1) as f32 / 4.0).to_le_bytes()));
    let path = std::env::temp_dir().join(format!("gptq_big_{}.safetensors", std::process::id()));
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(&(header.len() as u64).to_le_bytes()).unwrap();
        f.write_all(header.as_bytes()).unwrap();
        f.seek(SeekFrom::Start(data + (qw + qz + sc) as u64)).unwrap();
        f.write_all(&tail).unwrap();
    }
    let path_s = path.to_str().unwrap();
    let index = formats::read_index("big.safetensors", &mut FileSource::open(path_s).unwrap());
    let index = index.unwrap();
    assert!(!index.metadata.iter().any(|(k, _)| k.starts_with("not dequantized")), "{:?}", index.metadata);
    assert!(index.metadata.iter().any(|(k, v)| k == "quantized linears" && v.starts_with("2 GPTQ")), "{:?}", index.metadata);
    let w = index.tensor("big.qweight").unwrap();
    let q = w.quant.as_ref().unwrap();
    // The counts come from the shapes; the zero points (all stored 0: zero 1) were unpacked once.
    let lazy = q.lazy.as_ref().unwrap();
    assert_eq!((w.shape.as_slice(), lazy.slots, lazy.uniform_zero, q.scales.len()), (&[8, big][..], big, Some(1), 0));
    // The index the page holds stays small: no scale is in it.
    let json = serde_json::to_string(&index).unwrap();
    assert!(json.len() < 8192, "{} bytes of index JSON", json.len());
    let small = index.tensor("small.qweight").unwrap();
    assert_eq!(small.shape, [8, 8]);
    let mut source = FileSource::open(path_s).unwrap();
    let values = quant_playground::tensor::decode_to_f32(small, &formats::read_tensor_bytes(&mut source, small).unwrap()).unwrap();
    // Through the page's path too: the stored bytes (its parts) decoded by the core.
    let parts: Vec<u8> = small.file_parts().iter().flat_map(|&(file, offset, len)| {
        assert_eq!(file, None, "in the file itself");
        let mut b = vec![0u8; len as usize];
        use formats::ByteSource;
        source.read_at(offset, &mut b).unwrap();
        b
    }).collect();
    let paged = formats::decode_tensor(small, parts.clone()).unwrap();
    // Lengths that disagree are errors naming the tensor, not panics.
    let err = formats::decode_tensor(small, parts[..parts.len() - 2].to_vec()).unwrap_err().to_string();
    assert!(err.contains("small.qweight") && err.contains("stored bytes"), "{err}");
    let mut lying = small.clone();
    lying.quant.as_mut().unwrap().lazy.as_mut().unwrap().zeros_bytes = 8;
    let err = quant_playground::tensor::decode_to_f32(&lying, &parts).unwrap_err().to_string();
    assert!(err.contains("small.qweight"), "{err}");
    std::fs::remove_file(&path).unwrap();
    // Input k, output n: (k − 8) · (n + 1) / 4, exact in half.
    let want: Vec<f32> = (0..64).map(|i| (i / 8) as f32 - 8.0).zip((0..64).map(|i| (i % 8 + 1) as f32 / 4.0)).map(|(c, s)| c * s).collect();
    assert_eq!(bits(&values), bits(&want));
    assert_eq!(bits(&paged), bits(&want));
}
