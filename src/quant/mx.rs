//! OCP Microscaling Formats (MX) v1.0: blocks of k = 32 elements along each row share one E8M0 scale
//! X = 2^(floor(log2(amax)) − emax_elem) (§6.3, "Conversion from vector of scalar float"), and each
//! element is x / X cast to the element type, round to nearest even, saturating at ±max. MXINT8's
//! elements are two's-complement integers with 6 fractional bits, saturating at ±127/64 as Microsoft's
//! microxcaling library does (mx/elemwise_ops.py, `_quantize_elemwise_core`: max_norm 1.984375).
//!
//! amax is over the block's finite values. An all-zero block takes floor(log2) of FP32's smallest normal,
//! as microxcaling's `_shared_exponents` does, so its scale is 2^max(−126 − emax, −127). A short last block
//! of a row (row length not a multiple of 32) is a block of its own, the same as padding it with zeros.

use super::minifloat::{e8m0, exponent_of, pow2, MiniFloat};

/// Elements per MX block.
pub const BLOCK: usize = 32;

/// An MX element type: a narrow float or the 8-bit integer of MXINT8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MxElement {
    Float(MiniFloat),
    Int8,
}

impl MxElement {
    /// emax_elem of OCP MX Table 1 (the largest normal exponent; 0 for INT8's 1.xxxxxx).
    pub fn emax(self) -> i32 {
        match self {
            MxElement::Float(f) => f.emax(),
            MxElement::Int8 => 0,
        }
    }

    pub fn bits(self) -> u32 {
        match self {
            MxElement::Float(f) => f.bits(),
            MxElement::Int8 => 8,
        }
    }

    /// The element's code for x / X (already divided).
    pub fn encode(self, v: f32) -> u8 {
        match self {
            MxElement::Float(f) => f.encode_saturating(v),
            // NaN becomes 0 (Rust's saturating float → int cast); the comparison leaves NaN inputs out.
            MxElement::Int8 => ((v * 64.0).round_ties_even().clamp(-127.0, 127.0) as i8) as u8,
        }
    }

    /// The element's value before the block scale.
    pub fn decode(self, code: u8) -> f32 {
        match self {
            MxElement::Float(f) => f.decode(code),
            MxElement::Int8 => code as i8 as f32 / 64.0,
        }
    }
}

/// The E8M0 scale code of one block: floor(log2(amax)) − emax, clamped to −127..=127.
pub fn block_scale_code(xb: &[f32], element: MxElement) -> u8 {
    let amax = xb.iter().filter(|v| v.is_finite()).fold(0f32, |m, v| m.max(v.abs()));
    let top = if amax == 0.0 { -126 } else { exponent_of(amax) };
    e8m0::from_exponent(top - element.emax())
}

/// One quantized MX tensor: an element code per value, an E8M0 code per block (row-major blocks).
#[derive(Debug, Clone, PartialEq)]
pub struct MxTensor {
    pub codes: Vec<u8>,
    pub scales: Vec<u8>,
}

/// (start, len) of each block of `block` elements along the rows of a tensor of `shape`, in memory
/// order; a row's last block may be shorter.
pub fn row_blocks(shape: &[usize], len: usize, block: usize) -> Vec<(usize, usize)> {
    let row = shape.last().copied().unwrap_or(1).max(1);
    let mut out = Vec::with_capacity(len.div_ceil(block));
    for r in (0..len).step_by(row) {
        let end = (r + row).min(len);
        out.extend((r..end).step_by(block).map(|s| (s, block.min(end - s))));
    }
    out
}

pub fn quantize(x: &[f32], shape: &[usize], element: MxElement) -> MxTensor {
    let blocks = row_blocks(shape, x.len(), BLOCK);
    let mut t = MxTensor { codes: Vec::with_capacity(x.len()), scales: Vec::with_capacity(blocks.len()) };
    for (start, len) in blocks {
        let xb = &x[start..start + len];
        let code = block_scale_code(xb, element);
        let scale = pow2(code as i32 - 127);
        t.scales.push(code);
        t.codes.extend(xb.iter().map(|&v| element.encode(v / scale)));
    }
    t
}

/// element × X for every value.
pub fn dequantize(t: &MxTensor, shape: &[usize], element: MxElement) -> Vec<f32> {
    let mut out = Vec::with_capacity(t.codes.len());
    for ((start, len), &s) in row_blocks(shape, t.codes.len(), BLOCK).into_iter().zip(&t.scales) {
        let scale = e8m0::decode(s);
        out.extend(t.codes[start..start + len].iter().map(|&c| element.decode(c) * scale));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::minifloat::E2M1;

    #[test]
    fn mxfp4_hand_worked_block() {
        // amax 5 → floor(log2 5) = 2, emax(E2M1) = 2, X = 1: elements are E2M1 of x itself.
        let mut x = vec![0f32; 32];
        x[..4].copy_from_slice(&[5.0, -0.25, 1.25, 0.75]);
        let t = quantize(&x, &[32], MxElement::Float(E2M1));
        assert_eq!(t.scales, [127]);
        assert_eq!(&t.codes[..4], &[0x6, 0x8, 0x2, 0x2]);
        assert_eq!(&dequantize(&t, &[32], MxElement::Float(E2M1))[..4], &[4.0, -0.0, 1.0, 1.0]);
        // All zero: 2^(−126 − 2) clamps to 2^−127.
        assert_eq!(quantize(&[0.0; 32], &[32], MxElement::Float(E2M1)).scales, [0]);
    }

    #[test]
    fn mxint8_saturates_at_127_over_64() {
        // amax 1.999 → X = 1; 1.999 × 64 = 127.9 → 127.
        let t = quantize(&[1.999, -1.999, 0.5, 1.0 / 128.0], &[4], MxElement::Int8);
        assert_eq!(t.codes, [127, (-127i8) as u8, 32, 0]);
    }

    #[test]
    fn rows_are_cut_into_blocks_with_a_short_last_one() {
        assert_eq!(row_blocks(&[2, 40], 80, 32), [(0, 32), (32, 8), (40, 32), (72, 8)]);
    }
}
