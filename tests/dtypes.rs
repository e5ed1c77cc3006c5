//! The narrow floats and the block formats (FP8, MX, NVFP4, NF4) against the reference vectors of
//! scripts/make_dtype_fixtures.py: ml_dtypes' casts bit for bit, and numpy references written from
//! the OCP MX v1.0 spec, modelopt's NVFP4QTensor and bitsandbytes' NF4 kernel, code for code.
#![cfg(not(target_arch = "wasm32"))]

#[path = "common/fnv.rs"]
mod fnv;
use fnv::fnv1a64;

use quant_playground::app::report::format_report;
use quant_playground::quant::block::{self, BlockScales};
use quant_playground::quant::minifloat::{e8m0, MiniFloat, E2M1, E2M3, E3M2, E4M3, E5M2};
use quant_playground::quant::{BlockFormat, NumberFormat};
use quant_playground::tensor::DType;
use serde::Deserialize;
use std::collections::BTreeMap;

const CASTS: &str = include_str!("fixtures/dtypes/casts.json");
const BLOCKS: &str = include_str!("fixtures/dtypes/blocks.json");

#[derive(Deserialize)]
struct CastCase {
    inputs: Vec<u32>,
    cast: Vec<u8>,
    #[serde(default)]
    saturating: Vec<u8>,
    decode: Vec<u32>,
}

fn casts() -> BTreeMap<String, CastCase> {
    serde_json::from_str(CASTS).unwrap()
}

fn same_f32(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

const MINIFLOATS: [MiniFloat; 5] = [E4M3, E5M2, E2M3, E3M2, E2M1];

#[test]
fn casts_are_ml_dtypes_bit_for_bit() {
    let all = casts();
    for f in MINIFLOATS {
        let case = &all[f.name];
        assert!(case.inputs.len() > 500, "{}", f.name);
        for (i, &b) in case.inputs.iter().enumerate() {
            let x = f32::from_bits(b);
            assert_eq!(f.encode(x), case.cast[i], "{} cast of {x:e} ({b:#010x})", f.name);
            assert_eq!(f.encode_saturating(x), case.saturating[i], "{} saturating cast of {x:e}", f.name);
        }
    }
}

#[test]
fn every_code_decodes_as_ml_dtypes() {
    let all = casts();
    for f in MINIFLOATS {
        let want = &all[f.name].decode;
        assert_eq!(want.len(), 1 << f.bits());
        for (code, &b) in want.iter().enumerate() {
            assert!(same_f32(f.decode(code as u8), f32::from_bits(b)), "{} code {code:#x}", f.name);
        }
    }
}

#[test]
fn e8m0_is_ml_dtypes_float8_e8m0fnu() {
    let case = &casts()["e8m0"];
    for (i, &b) in case.inputs.iter().enumerate() {
        assert_eq!(e8m0::encode(f32::from_bits(b)), case.cast[i], "e8m0 cast of {:e}", f32::from_bits(b));
    }
    for (code, &b) in case.decode.iter().enumerate() {
        assert!(same_f32(e8m0::decode(code as u8), f32::from_bits(b)), "e8m0 code {code}");
    }
}

#[derive(Deserialize)]
struct EdgeFormat {
    codes: Vec<u8>,
    scales: Vec<u32>,
    tensor_scale: Option<u32>,
    values: Vec<u32>,
}

#[derive(Deserialize)]
struct EdgeCase {
    name: String,
    shape: Vec<usize>,
    x: Vec<u32>,
    formats: BTreeMap<String, EdgeFormat>,
}

#[derive(Deserialize)]
struct HashedFormat {
    codes_fnv1a64: String,
    scales_fnv1a64: String,
    tensor_scale: Option<u32>,
    values_fnv1a64: String,
}

#[derive(Deserialize)]
struct HashedCase {
    case: String,
    formats: BTreeMap<String, HashedFormat>,
}

#[derive(Deserialize)]
struct Blocks {
    edge: Vec<EdgeCase>,
    gguf_cases: Vec<HashedCase>,
}

fn blocks() -> Blocks {
    serde_json::from_str(BLOCKS).unwrap()
}

fn format_of(label: &str) -> BlockFormat {
    match NumberFormat::parse(label).unwrap() {
        NumberFormat::Block(b) => b,
        other => panic!("{label} parsed as {other:?}"),
    }
}

/// (the scales as the fixture writes them: u8 codes or f32 bits, the tensor scale's bits)
fn scales_of(s: &BlockScales) -> (Vec<u32>, Option<u32>) {
    match s {
        BlockScales::Tensor(t) => (vec![], Some(t.to_bits())),
        BlockScales::E8m0(c) => (c.iter().map(|&c| c as u32).collect(), None),
        BlockScales::E4m3 { codes, tensor_scale } => (codes.iter().map(|&c| c as u32).collect(), Some(tensor_scale.to_bits())),
        BlockScales::Absmax(a) => (a.iter().map(|a| a.to_bits()).collect(), None),
    }
}

fn scale_bytes(s: &BlockScales) -> Vec<u8> {
    match s {
        BlockScales::Tensor(_) => vec![],
        BlockScales::E8m0(c) | BlockScales::E4m3 { codes: c, .. } => c.clone(),
        BlockScales::Absmax(a) => a.iter().flat_map(|a| a.to_le_bytes()).collect(),
    }
}

#[test]
fn block_formats_match_the_numpy_references_on_edge_cases() {
    let b = blocks();
    assert_eq!(b.edge.len(), 6);
    for case in &b.edge {
        let x: Vec<f32> = case.x.iter().map(|&b| f32::from_bits(b)).collect();
        assert_eq!(case.formats.len(), BlockFormat::ALL.len());
        for (label, want) in &case.formats {
            let q = block::quantize(format_of(label), &x, &case.shape);
            let at = format!("{} / {label}", case.name);
            assert_eq!(q.codes, want.codes, "{at}: codes");
            assert_eq!(scales_of(&q.scales), (want.scales.clone(), want.tensor_scale), "{at}: scales");
            for (i, (&got, &w)) in q.values.iter().zip(&want.values).enumerate() {
                assert!(same_f32(got, f32::from_bits(w)), "{at}: value {i}: {got:e} vs {:e}", f32::from_bits(w));
            }
        }
    }
}


fn load_npy_f32(case: &str) -> (Vec<usize>, Vec<f32>) {
    let path = format!("{}/tests/fixtures/export/gguf/{case}.npy", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap();
    // numpy's v1 header: magic, version, u16 header length, the dict, then the little-endian f32 data.
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + hlen]).unwrap();
    assert!(header.contains("'descr': '<f4'") && header.contains("'fortran_order': False"), "{header}");
    let dims = header.split("'shape': (").nth(1).unwrap().split(')').next().unwrap();
    let shape: Vec<usize> = dims.split(',').filter_map(|d| d.trim().parse().ok()).collect();
    let x = bytes[10 + hlen..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    (shape, x)
}

#[test]
fn block_formats_match_the_numpy_references_on_the_15_gguf_cases() {
    let b = blocks();
    assert_eq!(b.gguf_cases.len(), 15);
    for case in &b.gguf_cases {
        let (shape, x) = load_npy_f32(&case.case);
        for (label, want) in &case.formats {
            let q = block::quantize(format_of(label), &x, &shape);
            let at = format!("{} / {label}", case.case);
            assert_eq!(fnv1a64(&q.codes), want.codes_fnv1a64, "{at}: codes");
            assert_eq!(fnv1a64(&scale_bytes(&q.scales)), want.scales_fnv1a64, "{at}: scales");
            assert_eq!(scales_of(&q.scales).1, want.tensor_scale, "{at}: tensor scale");
            let values: Vec<u8> = q.values.iter().flat_map(|v| v.to_le_bytes()).collect();
            assert_eq!(fnv1a64(&values), want.values_fnv1a64, "{at}: values");
        }
    }
}

#[test]
fn every_block_format_is_a_comparison_row_with_its_true_size() {
    // [4, 64] of a ramp: 256 values.
    let x: Vec<f32> = (0..256).map(|i| (i as f32 - 128.0) / 37.0).collect();
    let want_bytes = [
        ("fp8-e4m3", 8, 256 + 4),
        ("fp8-e5m2", 8, 256 + 4),
        ("mxfp8-e4m3", 8, 256 + 8),
        ("mxint8", 8, 256 + 8),
        ("mxfp6-e2m3", 6, 192 + 8),
        ("mxfp6-e3m2", 6, 192 + 8),
        ("mxfp4", 4, 128 + 8),
        ("nvfp4", 4, 128 + 16 + 4),
        ("nf4", 4, 128 + 16),
    ];
    for (label, bits, bytes) in want_bytes {
        let r = format_report("w", DType::F32, &[4, 64], &x, &NumberFormat::parse(label).unwrap()).unwrap();
        assert_eq!((r.config.as_str(), r.bits, r.bytes_quantized), (label, bits, bytes), "{label}");
        assert!(r.metrics.mse > 0.0 && r.metrics.sqnr_db > 10.0, "{label}: {:?}", r.metrics);
        assert!(r.scales.is_some());
    }
}
