//! The format readers compiled to wasm32 (32-bit usize, no files): the page's piece-by-piece
//! protocol over the fixtures, decoding as the page does (stored range → decode_tensor), exact
//! values, and hostile inputs that must be errors, not traps. Runs in Node:
//! CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner cargo test --target wasm32-unknown-unknown --test wasm_formats
#![cfg(target_arch = "wasm32")]

use quant_playground::formats::{self, FileIndex};
use quant_playground::Error;
use wasm_bindgen_test::*;

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
