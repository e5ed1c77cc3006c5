//! ggml block types as GGUF stores them. Each decoded type is one file holding its block layout (with a
//! compile-time size assert, as ggml-common.h has), its `dequantize_row_*` and its `quantize_row_*_ref`
//! behind the one `GgmlBlock` trait (the shape of candle-core's `quantized::k_quants::GgmlType`), and
//! one line in `DECODED`. The other ggml type ids are listed in `LISTED` with their block sizes only.
//!
//! Bit-identical to ggml (ggml/src/ggml-quants.c) and the gguf package's `gguf.quants`: C float
//! semantics on purpose — every operation in f32 in the C expression's order, no fused multiply-add
//! (ggml's x86-64 base library is built without FMA), float → small int conversions as C's truncating
//! casts, fp16 block scales rounded to nearest even (GGML_FP32_TO_FP16). tests/export_gguf.rs checks
//! every type against bytes made by ggml's own libggml-base.so (scripts/make_gguf_export_reference.py),
//! tests/ggml_iq.rs the IQ types (scripts/make_iq_reference.py; their grids in the generated
//! iq_grids.rs, scripts/make_iq_grids.py).

#![allow(non_camel_case_types)]

mod iq1_m;
mod iq1_s;
mod iq2_s;
mod iq2_xs;
mod iq2_xxs;
mod iq3_s;
mod iq3_xxs;
mod iq4_nl;
mod iq4_xs;
mod iq_lattice;
mod iq_grids;
mod k_quants;
mod mxfp4;
mod q2_k;
mod q3_k;
mod q4_0;
mod q4_1;
mod q4_k;
mod q5_0;
mod q5_1;
mod q5_k;
mod q6_k;
mod q8_0;
mod q8_k;
mod tq1_0;
mod tq2_0;

pub use iq1_m::IQ1_M;
pub use iq1_s::IQ1_S;
pub use iq2_s::IQ2_S;
pub use iq2_xs::IQ2_XS;
pub use iq2_xxs::IQ2_XXS;
pub use iq3_s::IQ3_S;
pub use iq3_xxs::IQ3_XXS;
pub use iq4_nl::IQ4_NL;
pub use iq4_xs::IQ4_XS;
pub use k_quants::QK_K;
pub use mxfp4::MXFP4;
pub use q2_k::Q2_K;
pub use q3_k::Q3_K;
pub use q4_0::Q4_0;
pub use q4_1::Q4_1;
pub use q4_k::Q4_K;
pub use q5_0::Q5_0;
pub use q5_1::Q5_1;
pub use q5_k::Q5_K;
pub use q6_k::Q6_K;
pub use q8_0::Q8_0;
pub use q8_k::Q8_K;
pub use tq1_0::TQ1_0;
pub use tq2_0::TQ2_0;

use crate::error::{Error, Result};
use half::f16;

/// Elements per block of the block-32 types (ggml-common.h QK4_0, QK4_1, QK5_0, QK5_1, QK8_0).
pub const QK: usize = 32;

/// One ggml block type: its GGUF id and name, its block, and ggml's `dequantize_row_*` over one block.
pub trait GgmlBlock {
    /// gguf `GGMLQuantizationType`.
    const ID: u32;
    const NAME: &'static str;
    /// Elements per block.
    const BLOCK_LEN: usize;
    /// Bytes per block (the size of the block struct).
    const BLOCK_BYTES: usize;
    /// Bits of each element's code (the block's scales and minimums not counted).
    const CODE_BITS: u8;
    const TYPE: GgmlType = GgmlType { id: Self::ID };

    /// `dequantize_row_*` of one block: `block.len() == BLOCK_BYTES`, `y.len() == BLOCK_LEN`.
    fn dequantize_block(block: &[u8], y: &mut [f32]);
}

/// A block type with ggml's reference quantizer here as well.
pub trait GgmlQuantize: GgmlBlock {
    /// `quantize_row_*_ref` of one block: `x.len() == BLOCK_LEN`, `block.len() == BLOCK_BYTES`.
    fn quantize_block_ref(x: &[f32], block: &mut [u8]);
}

/// A decoded type's entry in the registry, made from its `GgmlBlock` (and `GgmlQuantize`) impl.
pub struct Codec {
    pub id: u32,
    pub name: &'static str,
    pub block_len: usize,
    pub block_bytes: usize,
    pub code_bits: u8,
    dequantize_block: fn(&[u8], &mut [f32]),
    quantize_block_ref: Option<QuantizeBlock>,
}

/// A type's `quantize_block_ref`.
type QuantizeBlock = fn(&[f32], &mut [u8]);

impl Codec {
    /// Whether ggml's reference quantizer is here too (else the type is only read).
    pub fn quantizes(&self) -> bool {
        self.quantize_block_ref.is_some()
    }
}

/// A type dequantized and quantized here.
const fn codec<T: GgmlQuantize>() -> Codec {
    Codec { quantize_block_ref: Some(T::quantize_block_ref), ..decoder::<T>() }
}

/// A type dequantized here (read from GGUF files), without a quantizer.
const fn decoder<T: GgmlBlock>() -> Codec {
    Codec {
        id: T::ID,
        name: T::NAME,
        block_len: T::BLOCK_LEN,
        block_bytes: T::BLOCK_BYTES,
        code_bits: T::CODE_BITS,
        dequantize_block: T::dequantize_block,
        quantize_block_ref: None,
    }
}

/// The block types dequantized here (most also quantized), in the order the page lists them.
pub const DECODED: &[Codec] = &[
    codec::<Q8_0>(),
    codec::<Q4_0>(),
    codec::<Q4_1>(),
    codec::<Q5_0>(),
    codec::<Q5_1>(),
    codec::<Q2_K>(),
    codec::<Q3_K>(),
    codec::<Q4_K>(),
    codec::<Q5_K>(),
    codec::<Q6_K>(),
    codec::<Q8_K>(),
    codec::<TQ1_0>(),
    codec::<TQ2_0>(),
    codec::<MXFP4>(),
    codec::<IQ4_XS>(),
    codec::<IQ4_NL>(),
    // The lattice (grid) types: those ggml quantizes without an importance matrix quantized here too;
    // IQ2_XS, IQ2_XXS and IQ1_S only read (ggml requires one for them).
    codec::<IQ3_S>(),
    codec::<IQ3_XXS>(),
    codec::<IQ2_S>(),
    decoder::<IQ2_XS>(),
    decoder::<IQ2_XXS>(),
    codec::<IQ1_M>(),
    decoder::<IQ1_S>(),
];

/// Every other ggml type id (gguf `GGMLQuantizationType`): name, elements per block, bytes per block.
/// Element types (F32 … BF16) are here for their ids; block types here are listed, not decoded.
const LISTED: &[(u32, &str, usize, usize)] = &[
    (0, "F32", 1, 4),
    (1, "F16", 1, 2),
    (9, "Q8_1", 32, 40),
    (24, "I8", 1, 1),
    (25, "I16", 1, 2),
    (26, "I32", 1, 4),
    (27, "I64", 1, 8),
    (28, "F64", 1, 8),
    (30, "BF16", 1, 2),
    (40, "NVFP4", 64, 36),
    (41, "Q1_0", 128, 18),
];

/// (id, name, block length, block bytes) of every ggml type, decoded or listed.
fn all_types() -> impl Iterator<Item = (u32, &'static str, usize, usize)> {
    DECODED.iter().map(|c| (c.id, c.name, c.block_len, c.block_bytes)).chain(LISTED.iter().copied())
}

/// The name of a ggml type id ("GGML_UNKNOWN" for an id ggml does not define).
pub fn type_name(id: u32) -> &'static str {
    all_types().find(|t| t.0 == id).map_or("GGML_UNKNOWN", |t| t.1)
}

/// The type id of a ggml type name (element types included: "F16" is 1).
pub fn type_id(name: &str) -> Option<u32> {
    all_types().find(|t| t.1 == name).map(|t| t.0)
}

/// A ggml block type (more than one element per block), decoded here or only listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GgmlType {
    id: u32,
}

impl GgmlType {
    /// The block type of a GGUF type id; None for an unknown id or an element type (F32, I8, …).
    pub fn from_id(id: u32) -> Option<GgmlType> {
        all_types().find(|t| t.0 == id && t.2 > 1).map(|t| GgmlType { id: t.0 })
    }

    /// The block type of a ggml name as GGUF spells it ("Q4_K").
    pub fn from_name(name: &str) -> Option<GgmlType> {
        GgmlType::from_id(type_id(name)?)
    }

    /// The types with a dequantizer and a reference quantizer here.
    pub fn quantizable() -> impl Iterator<Item = GgmlType> {
        DECODED.iter().filter(|c| c.quantizes()).map(|c| GgmlType { id: c.id })
    }

    pub fn id(self) -> u32 {
        self.id
    }

    fn info(self) -> (u32, &'static str, usize, usize) {
        all_types().find(|t| t.0 == self.id).unwrap_or((self.id, "GGML_UNKNOWN", 1, 0))
    }

    pub fn name(self) -> &'static str {
        self.info().1
    }

    pub fn block_len(self) -> usize {
        self.info().2
    }

    pub fn block_bytes(self) -> usize {
        self.info().3
    }

    /// Its dequantizer and reference quantizer, when this type is decoded here.
    pub fn codec(self) -> Option<&'static Codec> {
        DECODED.iter().find(|c| c.id == self.id)
    }
}

/// Dequantizes whole blocks to f32, or None for a type without a rule here or bytes that are not
/// whole blocks (the caller checks them against the shape).
pub fn dequantize(t: GgmlType, bytes: &[u8]) -> Option<Vec<f32>> {
    let c = t.codec()?;
    if bytes.len() % c.block_bytes != 0 {
        return None;
    }
    let mut out = vec![0f32; bytes.len() / c.block_bytes * c.block_len];
    for (b, y) in bytes.chunks_exact(c.block_bytes).zip(out.chunks_exact_mut(c.block_len)) {
        (c.dequantize_block)(b, y);
    }
    Some(out)
}

/// ggml's `quantize_row_*_ref` of whole blocks into `out`; None for a type without a quantizer here
/// or sizes that are not whole blocks.
pub fn quantize_ref(t: GgmlType, x: &[f32], out: &mut [u8]) -> Option<()> {
    let c = t.codec()?;
    let quantize = c.quantize_block_ref?;
    if x.len() % c.block_len != 0 || out.len() != x.len() / c.block_len * c.block_bytes {
        return None;
    }
    for (xb, y) in x.chunks_exact(c.block_len).zip(out.chunks_exact_mut(c.block_bytes)) {
        quantize(xb, y);
    }
    Some(())
}

/// A whole tensor through a ggml type, as llama-quantize writes it: each row (the last axis) in whole
/// blocks. Returns the blocks and their dequantized values.
pub fn round_trip(t: GgmlType, x: &[f32], shape: &[usize]) -> Result<(Vec<u8>, Vec<f32>)> {
    let c = row_codec(t, shape)?;
    let mut bytes = vec![0u8; x.len() / c.block_len * c.block_bytes];
    quantize_ref(t, x, &mut bytes)
        .ok_or_else(|| Error::InvalidSpec(format!("{}: {} values for shape {shape:?}", c.name, x.len())))?;
    let values = dequantize(t, &bytes).unwrap_or_default();
    Ok((bytes, values))
}

/// The codec of `t` if this crate quantizes it and the rows of `shape` are whole blocks of it.
pub fn row_codec(t: GgmlType, shape: &[usize]) -> Result<&'static Codec> {
    let c = t.codec().ok_or_else(|| Error::InvalidSpec(format!("{} is listed, not quantized, here", t.name())))?;
    if !c.quantizes() {
        return Err(Error::InvalidSpec(format!("{} is read, not quantized, here (ggml's quantizer is not ported)", t.name())));
    }
    let row = shape.last().copied().unwrap_or(1);
    if row % c.block_len != 0 {
        return Err(Error::InvalidSpec(format!(
            "{}: rows of {row} values are not whole blocks of {} (shape {shape:?})",
            c.name, c.block_len
        )));
    }
    Ok(c)
}

/// F16 as GGUF stores it: each value rounded to nearest even (ggml_fp32_to_fp16_row).
pub fn quantize_row_f16(x: &[f32], out: &mut [u8]) -> Option<()> {
    if out.len() != x.len() * 2 {
        return None;
    }
    for (v, o) in x.iter().zip(out.chunks_exact_mut(2)) {
        o.copy_from_slice(&fp16_bits(*v));
    }
    Some(())
}

/// A little-endian ggml_half at byte `at`, widened (GGML_FP16_TO_FP32).
fn read_f16(b: &[u8], at: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([b[at], b[at + 1]])).to_f32()
}

/// GGML_FP32_TO_FP16: round to nearest, ties to even (the `half` crate does the same).
fn fp16_bits(x: f32) -> [u8; 2] {
    f16::from_f32(x).to_bits().to_le_bytes()
}

/// GGML_FP16_TO_FP32 of a value just rounded: what the dequantizer will read back.
fn fp16_round_trip(x: f32) -> f32 {
    f16::from_f32(x).to_f32()
}

/// C's `(int)f` on x86-64 (cvttss2si): truncation toward zero; NaN and out-of-range give
/// INT_MIN (0x80000000), whose low byte is 0 when the result is then stored in a byte.
fn c_trunc_i32(f: f32) -> i32 {
    if !(-2_147_483_648.0..2_147_483_648.0).contains(&f) {
        i32::MIN
    } else {
        f as i32
    }
}

/// `(int8_t)(f)` then used as an int: the truncated value's low byte, sign-extended.
fn c_to_i8(f: f32) -> i32 {
    c_trunc_i32(f) as i8 as i32
}

/// `(uint8_t)(f)`: the truncated value's low byte.
fn c_to_u8(f: f32) -> u8 {
    c_trunc_i32(f) as u8
}

/// glibc's `lroundf` on x86-64: half away from zero; NaN, ±Inf and values past the long range give
/// LONG_MIN (its `(long int) x` fallback, cvttss2si).
fn c_lroundf(f: f32) -> i64 {
    if f.is_finite() && f.abs() < 9.223_372e18 {
        f.round() as i64
    } else {
        i64::MIN
    }
}

/// The ternary types' amax: `amax = MAX(amax, fabsf(v))` with ggml's MAX(a, b) = a > b ? a : b, so a
/// NaN is taken and then replaced by the next value.
fn ternary_amax(xb: &[f32]) -> f32 {
    xb.iter().fold(0.0f32, |amax, v| if amax > v.abs() { amax } else { v.abs() })
}

/// `roundf` (half away from zero) stored into an int8_t.
fn c_roundf_to_i8(f: f32) -> i8 {
    c_trunc_i32(f.round()) as i8
}

/// The value of largest |x| (the first one wins ties) and that |x|, as q4_0/q5_0 pick their scale.
fn signed_amax(xb: &[f32]) -> (f32, f32) {
    let (mut amax, mut max) = (0.0f32, 0.0f32);
    for &v in xb {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    (amax, max)
}

/// min and max as q4_1/q5_1 find them (FLT_MAX / −FLT_MAX start, strict comparisons).
fn min_max(xb: &[f32]) -> (f32, f32) {
    let (mut min, mut max) = (f32::MAX, -f32::MAX);
    for &v in xb {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    (min, max)
}

/// The fifth bits of block_q5_*: bit j of qh (u32 LE) for element j, bit j+16 for element j+16.
fn fifth_bits(qh: u32, j: usize) -> (u8, u8) {
    ((((qh >> j) << 4) & 0x10) as u8, ((qh >> (j + 12)) & 0x10) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_ids_and_names_are_unique_and_ggmls() {
        let mut ids: Vec<u32> = all_types().map(|t| t.0).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), DECODED.len() + LISTED.len());
        // gguf-py GGMLQuantizationType / GGML_QUANT_SIZES for the decoded ones.
        let want = [
            ("Q4_0", 2, 32, 18),
            ("Q4_1", 3, 32, 20),
            ("Q5_0", 6, 32, 22),
            ("Q5_1", 7, 32, 24),
            ("Q8_0", 8, 32, 34),
            ("Q2_K", 10, 256, 84),
            ("Q3_K", 11, 256, 110),
            ("Q4_K", 12, 256, 144),
            ("Q5_K", 13, 256, 176),
            ("Q6_K", 14, 256, 210),
        ];
        for (name, id, len, bytes) in want {
            let t = GgmlType::from_name(name).unwrap();
            assert_eq!((t.id(), t.block_len(), t.block_bytes()), (id, len, bytes), "{name}");
            assert!(t.codec().is_some());
        }
        let q2k = GgmlType::from_id(10).unwrap();
        assert_eq!((q2k.name(), q2k.block_len(), q2k.block_bytes()), ("Q2_K", 256, 84));
        let iq2 = GgmlType::from_id(16).unwrap();
        assert_eq!((iq2.name(), iq2.block_len(), iq2.block_bytes()), ("IQ2_XXS", 256, 66));
        assert!(iq2.codec().is_some_and(|c| !c.quantizes()), "IQ2_XXS is read, not quantized");
        let q8_1 = GgmlType::from_id(9).unwrap();
        assert_eq!((q8_1.name(), q8_1.block_len(), q8_1.block_bytes()), ("Q8_1", 32, 40));
        assert!(q8_1.codec().is_none());
        // gguf-py GGML_QUANT_SIZES of the lattice types.
        for (name, id, bytes) in
            [("IQ2_XXS", 16, 66), ("IQ2_XS", 17, 74), ("IQ3_XXS", 18, 98), ("IQ1_S", 19, 50), ("IQ3_S", 21, 110), ("IQ2_S", 22, 82), ("IQ1_M", 29, 56)]
        {
            let t = GgmlType::from_name(name).unwrap();
            assert_eq!((t.id(), t.block_len(), t.block_bytes()), (id, 256, bytes), "{name}");
        }
        assert_eq!(GgmlType::from_id(5), None);
        assert_eq!(GgmlType::from_id(0), None, "F32 is an element type");
        assert_eq!(type_id("F16"), Some(1));
    }

    #[test]
    fn q8_0_is_q_times_d() {
        let mut b = vec![0u8; 34];
        b[..2].copy_from_slice(&f16::from_f32(0.5).to_bits().to_le_bytes());
        b[2] = 4;
        b[3] = (-3i8) as u8;
        let y = dequantize(Q8_0::TYPE, &b).unwrap();
        assert_eq!(&y[..3], &[2.0, -1.5, 0.0]);
    }

    #[test]
    fn q4_0_nibbles_low_then_high() {
        let mut b = vec![0u8; 18];
        b[..2].copy_from_slice(&f16::from_f32(1.0).to_bits().to_le_bytes());
        b[2] = 0xF0; // element 0: 0 − 8, element 16: 15 − 8
        let y = dequantize(Q4_0::TYPE, &b).unwrap();
        assert_eq!((y[0], y[16], y[1]), (-8.0, 7.0, -8.0));
    }

    #[test]
    fn a_tensor_round_trips_row_by_row() {
        // Q8_0 of [2, 32]: row 0 has amax 127 (d = 1, exact integers), row 1 is all zero.
        let mut x = vec![0f32; 64];
        for (j, v) in x[..32].iter_mut().enumerate() {
            *v = j as f32 * 4.0 - 1.0;
        }
        x[31] = 127.0;
        let (bytes, back) = round_trip(Q8_0::TYPE, &x, &[2, 32]).unwrap();
        assert_eq!(bytes.len(), 68);
        assert_eq!(back, x);
        assert_eq!(round_trip(Q4_K::TYPE, &[0.0; 512], &[2, 256]).unwrap(), (vec![0u8; 288], vec![0.0; 512]));
        let e = round_trip(Q4_K::TYPE, &[0.0; 600], &[2, 300]).unwrap_err().to_string();
        assert!(e.contains("rows of 300 values are not whole blocks of 256"), "{e}");
        let e = round_trip(GgmlType::from_id(16).unwrap(), &[0.0; 256], &[256]).unwrap_err().to_string();
        assert!(e.contains("IQ2_XXS is read, not quantized"), "{e}");
        assert!(round_trip(GgmlType::from_id(9).unwrap(), &[0.0; 32], &[32]).is_err());
    }

    #[test]
    fn sizes_that_are_not_whole_blocks_are_refused() {
        assert_eq!(dequantize(Q8_0::TYPE, &[0u8; 33]), None);
        assert_eq!(quantize_ref(Q4_K::TYPE, &[0.0; 255], &mut [0u8; 144]), None);
        assert_eq!(dequantize(GgmlType::from_id(16).unwrap(), &[0u8; 65]), None);
        assert_eq!(dequantize(GgmlType::from_id(9).unwrap(), &[0u8; 40]), None, "Q8_1 is listed, not decoded");
    }
}
