//! bitsandbytes checkpoints in safetensors (4-bit NF4 with double quantization, FP4, NF4 with its
//! codes stored as bfloat16, LLM.int8()), written by transformers' save_pretrained after
//! bitsandbytes quantized a tiny Llama on the CPU, against bitsandbytes' own dequantize_4bit and
//! int8_vectorwise_dequant of the checkpoint loaded back (scripts/make_bnb_fixtures.py; versions in
//! the manifest): every tensor's name, dtype, shape, scheme and values bit for bit, natively and
//! through the page's piece protocol.
#![cfg(not(target_arch = "wasm32"))]

use quant_playground::formats::{self, FileSource, Format};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

#[path = "common/pieces.rs"]
mod pieces;
use pieces::index_by_pieces;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formats/bnb")
}

#[test]
fn every_bitsandbytes_weight_reads_as_bitsandbytes_dequantizes_it() {
    let dir = dir();
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let (mut checked, mut quantized) = (0, 0);
    for (file, tensors) in m["files"].as_object().unwrap() {
        let path = dir.join(file);
        let path_s = path.to_str().unwrap();
        let mut src = FileSource::open(path_s).unwrap();
        let index = formats::read_index(path_s, &mut src).unwrap();
        assert_eq!(index.format, Format::Safetensors);
        let (by_pieces, _, _) = index_by_pieces(path_s, &std::fs::read(&path).unwrap());
        assert_eq!(by_pieces.unwrap().tensors, index.tensors, "{file} by pieces");

        // The weights, and every other tensor listed as a parameter of one.
        let mut want: BTreeSet<&str> = tensors.as_object().unwrap().keys().map(String::as_str).collect();
        for p in m["parameters"][file].as_array().unwrap() {
            let info = index.tensor(p.as_str().unwrap()).unwrap();
            assert!(info.parameter_of.is_some() && !info.is_quantizable(), "{file}:{p} is a parameter");
            want.insert(p.as_str().unwrap());
        }
        let got: BTreeSet<&str> = index.tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(got, want, "{file}: the listed tensors");

        for (name, want) in tensors.as_object().unwrap() {
            let info = index.tensor(name).unwrap();
            assert_eq!(info.dtype.name(), want["dtype"].as_str().unwrap(), "{name}");
            let shape: Vec<usize> = want["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
            assert_eq!(info.shape, shape, "{name}");
            match (&info.quant, want.get("quant")) {
                (Some(q), Some(wq)) => {
                    assert_eq!(q.scheme.label(), wq["scheme"].as_str().unwrap(), "{name}");
                    assert_eq!(serde_json::to_value(q.granularity).unwrap(), wq["granularity"], "{name}");
                    assert_eq!(q.bits as u64, wq["bits"].as_u64().unwrap(), "{name}");
                    quantized += 1;
                }
                (None, None) => {}
                (got, want) => panic!("{name}: quantization {got:?}, the reference says {want:?}"),
            }
            let values = formats::decode_tensor(info, formats::read_stored(&mut src, info).unwrap()).unwrap();
            let expected: Vec<u32> = std::fs::read(dir.join("expected").join(want["expected"].as_str().unwrap())).unwrap().chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect();
            assert_eq!(values.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), expected, "{name}: values differ from bitsandbytes'");
            checked += 1;
        }
    }
    assert_eq!((checked, quantized), (44, 28));
}

/// The double-quantized absmax is decoded as dequantize_4bit does before the blocks use it:
/// nested_quant_map[code] · nested_absmax[block / 256] + offset, by hand for the first two blocks.
#[test]
fn double_quantized_absmax_by_hand() {
    let path = dir().join("nf4_double_fp16.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let index = formats::parse_index("nf4_double_fp16.safetensors", &bytes, bytes.len() as u64).unwrap();
    let w = index.tensor("model.layers.0.mlp.up_proj.weight").unwrap();
    let q = w.quant.as_ref().unwrap();
    assert_eq!(q.scales.len(), 320);
    let raw = |name: &str| {
        let t = index.tensor(name).unwrap();
        bytes[t.offset as usize..(t.offset + t.byte_len) as usize].to_vec()
    };
    let f = |b: Vec<u8>| b.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect::<Vec<f32>>();
    let (codes, nested, map) = (raw("model.layers.0.mlp.up_proj.weight.absmax"), f(raw("model.layers.0.mlp.up_proj.weight.nested_absmax")), f(raw("model.layers.0.mlp.up_proj.weight.nested_quant_map")));
    let state: serde_json::Value = serde_json::from_slice(&raw("model.layers.0.mlp.up_proj.weight.quant_state.bitsandbytes__nf4")).unwrap();
    let offset = state["nested_offset"].as_f64().unwrap() as f32;
    for j in [0, 1, 255, 256, 319] {
        assert_eq!(q.scales[j], map[codes[j] as usize] * nested[j / 256] + offset, "block {j}");
    }
}

/// dequantize_4bit takes the quant_type, never the stored quant_map (the CPU and CUDA kernels hold
/// the table): a file whose quant_map was doubled gives bitsandbytes' values still, and says so.
#[test]
fn a_stored_quant_map_other_than_the_table_is_named_and_bitsandbytes_table_used() {
    let dir = dir();
    let mut bytes = std::fs::read(dir.join("fp4_bf16.safetensors")).unwrap();
    let index = formats::parse_index("fp4_bf16.safetensors", &bytes, bytes.len() as u64).unwrap();
    let weight = "model.layers.0.mlp.down_proj.weight";
    let map = index.tensor(&format!("{weight}.quant_map")).unwrap();
    for c in bytes[map.offset as usize..(map.offset + map.byte_len) as usize].chunks_exact_mut(4) {
        let v = f32::from_le_bytes(c.try_into().unwrap()) * 2.0;
        c.copy_from_slice(&v.to_le_bytes());
    }
    let doctored = formats::parse_index("fp4_bf16.safetensors", &bytes, bytes.len() as u64).unwrap();
    let note = doctored.metadata.iter().find(|(k, _)| k == &format!("quant_map of {weight}")).map(|(_, v)| v.as_str());
    assert!(note.is_some_and(|n| n.contains("is not bitsandbytes' FP4 table")), "{:?}", doctored.metadata);
    assert!(!index.metadata.iter().any(|(k, _)| k.starts_with("quant_map of")), "the real file's maps are the tables");
    let info = doctored.tensor(weight).unwrap();
    let stored = bytes[info.offset as usize..(info.offset + info.byte_len) as usize].to_vec();
    let values: Vec<u32> = formats::decode_tensor(info, stored).unwrap().iter().map(|v| v.to_bits()).collect();
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let expected = std::fs::read(dir.join("expected").join(m["files"]["fp4_bf16.safetensors"][weight]["expected"].as_str().unwrap())).unwrap();
    assert_eq!(values, expected.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect::<Vec<_>>());
}

/// QLoRA under FSDP stores the packed codes in bfloat16 (bnb_4bit_quant_storage); bitsandbytes
/// views them as uint8, and so does the reader (the fixture's values are checked above).
#[test]
fn codes_stored_as_bfloat16_read_as_uint8() {
    let path = dir().join("nf4_double_fp32_storage_bf16.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let index = formats::parse_index("nf4_double_fp32_storage_bf16.safetensors", &bytes, bytes.len() as u64).unwrap();
    let w = index.tensor("model.layers.0.mlp.down_proj.weight").unwrap();
    assert_eq!((w.dtype.name(), &w.shape[..]), ("U8", &[64usize, 64][..]));
    assert!(w.quant.as_ref().unwrap().op.contains("codes stored as BF16"), "{}", w.quant.as_ref().unwrap().op);
}
