//! The format readers compiled to wasm32 (32-bit usize, no files): the page's piece-by-piece
//! protocol over the fixtures, decoding as the page does (stored range → decode_tensor), exact
//! values, and hostile inputs that must be errors, not traps. Runs in headless Chromium with the
//! other wasm tests: `wasm-pack test --headless --chrome -- --test wasm_formats`.
#![cfg(target_arch = "wasm32")]

use quant_playground::formats::{self, FileIndex};
use quant_playground::Error;
use wasm_bindgen_test::*;

// Without this, wasm-pack's browser run skips the file ("only configured to run in node.js").
wasm_bindgen_test_configure!(run_in_browser);

const FIXTURES: &[(&str, &[u8])] = &[
    ("w.npy", include_bytes!("fixtures/formats/w.npy")),
    ("w_fortran.npy", include_bytes!("fixtures/formats/w_fortran.npy")),
    ("w_f8_be.npy", include_bytes!("fixtures/formats/w_f8_be.npy")),
    ("stored.npz", include_bytes!("fixtures/formats/stored.npz")),
    ("deflated.npz", include_bytes!("fixtures/formats/deflated.npz")),
    ("w.safetensors", include_bytes!("fixtures/formats/w.safetensors")),
    ("w.gguf", include_bytes!("fixtures/formats/w.gguf")),
    ("w.pt", include_bytes!("fixtures/formats/w.pt")),
    ("w.onnx", include_bytes!("fixtures/formats/w.onnx")),
];

fn by_pieces(name: &str, bytes: &[u8]) -> quant_playground::Result<FileIndex> {
    let len = bytes.len();
    let head = formats::FIRST_READ.min(len);
    let tail = formats::TAIL_READ.min(len);
    let mut pieces: Vec<(u64, Vec<u8>)> = vec![(0, bytes[..head].to_vec()), ((len - tail) as u64, bytes[len - tail..].to_vec())];
    for _ in 0..formats::MAX_ROUNDS {
        let refs: Vec<(u64, &[u8])> = pieces.iter().map(|(o, b)| (*o, b.as_slice())).collect();
        match formats::parse_index_parts(name, &refs, len as u64) {
            Err(Error::NeedMoreBytes { needed, .. }) => pieces[0] = (0, bytes[..needed as usize].to_vec()),
            Err(Error::NeedRange { offset, len: n, .. }) => pieces.push((offset, bytes[offset as usize..(offset + n) as usize].to_vec())),
            other => return other,
        }
    }
    panic!("{name}: too many rounds")
}

fn decode(bytes: &[u8], info: &quant_playground::tensor::TensorInfo) -> Vec<f32> {
    let (o, n) = info.stored_range();
    formats::decode_tensor(info, bytes[o as usize..(o + n) as usize].to_vec()).unwrap()
}

#[wasm_bindgen_test]
fn the_same_tensor_reads_alike_in_every_format() {
    let reference = {
        let (name, bytes) = FIXTURES[0];
        let index = by_pieces(name, bytes).unwrap();
        decode(bytes, index.tensor("w").unwrap())
    };
    for (name, bytes) in FIXTURES {
        let index = by_pieces(name, bytes).unwrap();
        let mut decoded = 0;
        for t in index.tensors.iter().filter(|t| t.dtype.is_quantizable()) {
            let x = decode(bytes, t);
            assert_eq!(x.len(), t.element_count(), "{name}:{}", t.name);
            decoded += 1;
        }
        assert!(decoded > 0, "{name}");
        let w = index.tensors.iter().find(|t| t.name.starts_with('w')).unwrap();
        let x: Vec<u32> = decode(bytes, w).iter().map(|v| v.to_bits()).collect();
        let r: Vec<u32> = reference.iter().map(|v| v.to_bits()).collect();
        if w.dtype.name() == "F32" {
            assert_eq!(x, r, "{name}");
        }
    }
}

#[wasm_bindgen_test]
fn gguf_q4_k_dequantizes_as_gguf_py() {
    let bytes = FIXTURES.iter().find(|f| f.0 == "w.gguf").unwrap().1;
    let index = by_pieces("w.gguf", bytes).unwrap();
    for (tensor, expected) in [
        ("w_Q4_K", &include_bytes!("fixtures/formats/expected/w.gguf.w_Q4_K.f32")[..]),
        ("w_Q6_K", &include_bytes!("fixtures/formats/expected/w.gguf.w_Q6_K.f32")[..]),
        ("w_Q5_1", &include_bytes!("fixtures/formats/expected/w.gguf.w_Q5_1.f32")[..]),
    ] {
        let x = decode(bytes, index.tensor(tensor).unwrap());
        let want: Vec<u32> = expected.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect();
        assert_eq!(x.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want, "{tensor}");
    }
}

#[wasm_bindgen_test]
fn hostile_headers_are_errors_on_32_bit() {
    // Counts and lengths that only overflow where usize is 32 bits.
    let mut gguf = b"GGUF\x03\x00\x00\x00".to_vec();
    gguf.extend_from_slice(&1u64.to_le_bytes());
    gguf.extend_from_slice(&0u64.to_le_bytes());
    gguf.extend_from_slice(&1u64.to_le_bytes());
    gguf.extend_from_slice(b"w\x02\x00\x00\x00");
    gguf.extend_from_slice(&(1u64 << 33).to_le_bytes());
    gguf.extend_from_slice(&(1u64 << 33).to_le_bytes());
    gguf.extend_from_slice(&[0; 12]);
    let e = by_pieces("big.gguf", &gguf).unwrap_err().to_string();
    assert!(e.contains("too large") || e.contains("overflows"), "{e}");
    let npy = b"\x93NUMPY\x01\x00\x76\x00{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 2), }                                                \n";
    assert!(by_pieces("big.npy", npy).is_err());
}

/// The page's path for a sharded checkpoint: each shard's index through JSON (as the worker holds
/// it), merged by the binding with and without model.safetensors.index.json; each tensor names its
/// shard and reads back as the expected values from that shard's stored range.
#[wasm_bindgen_test]
fn sharded_safetensors_merge_through_the_binding() {
    use quant_playground::wasm;
    let shards: [(&str, &[u8]); 2] = [
        ("model-00001-of-00002.safetensors", include_bytes!("fixtures/formats/sharded/model-00001-of-00002.safetensors")),
        ("model-00002-of-00002.safetensors", include_bytes!("fixtures/formats/sharded/model-00002-of-00002.safetensors")),
    ];
    let map = include_bytes!("fixtures/formats/sharded/model.safetensors.index.json");
    let indexes: Vec<FileIndex> = shards.iter().map(|(n, b)| by_pieces(n, b).unwrap()).collect();
    let json = serde_json::to_string(&indexes).unwrap();
    for map_bytes in [&map[..], &[][..]] {
        let merged = wasm::merge_shards("model.safetensors.index.json", map_bytes, &json).map_err(|_| "merge failed").unwrap();
        let merged: FileIndex = serde_json::from_str(&merged).unwrap();
        let names: Vec<&str> = merged.tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names.len(), 3, "{names:?}");
        for (tensor, expected) in [
            ("a.weight", &include_bytes!("fixtures/formats/expected/sharded.a.weight.f32")[..]),
            ("b.weight", &include_bytes!("fixtures/formats/expected/sharded.b.weight.f32")[..]),
            ("b.bias", &include_bytes!("fixtures/formats/expected/sharded.b.bias.f32")[..]),
        ] {
            let t = merged.tensor(tensor).unwrap();
            let shard = shards.iter().find(|s| Some(s.0) == t.data_file.as_deref()).unwrap();
            let range = wasm::tensor_stored_range(&serde_json::to_string(t).unwrap()).map_err(|_| "range").unwrap();
            assert_eq!(range, vec![t.offset as f64, t.byte_len as f64]);
            let want: Vec<u32> = expected.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect();
            assert_eq!(decode(shard.1, t).iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want, "{tensor}");
        }
    }
    // A map that names a shard which was not dropped: the error names the tensor and the shard.
    let one = serde_json::to_string(&indexes[..1]).unwrap();
    let e = formats::multi::merge_shards(
        "model.safetensors.index.json",
        Some(&formats::multi::parse_shard_map("model.safetensors.index.json", map, map.len() as u64).unwrap()),
        indexes[..1].to_vec(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("model-00002-of-00002.safetensors"), "{e}");
    assert!(wasm::merge_shards("model.safetensors.index.json", map, &one).is_err());
}

/// The page's memory figure is the linear memory's size in bytes: whole 64 KiB pages, and it grows
/// by at least what a live allocation needs.
#[wasm_bindgen_test]
fn memory_bytes_follow_the_linear_memory() {
    use quant_playground::wasm::wasm_memory_bytes;
    let before = wasm_memory_bytes();
    assert_eq!(before % 65536.0, 0.0);
    let block = vec![1u8; 32 << 20];
    let after = wasm_memory_bytes();
    assert!(after >= before && after >= (32 << 20) as f64, "{before} → {after}");
    assert_eq!(block.iter().map(|&b| b as usize).sum::<usize>(), 32 << 20);
}
