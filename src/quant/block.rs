//! The formats whose elements are narrow floats or codebook entries under a shared scale (FP8 with a
//! per-tensor scale, the OCP MX types, NVFP4, NF4), quantized whole by the rule of their own module:
//! minifloat.rs, mx.rs, nvfp4.rs, nf4.rs.

use super::format::BlockFormat;
use super::minifloat::{self, E2M1, E2M3, E3M2, E4M3, E5M2};
use super::mx::{self, MxElement};
use super::{nf4, nvfp4};

/// The scales of a quantized tensor, as its format stores them.
#[derive(Debug, Clone, PartialEq)]
pub enum BlockScales {
    /// FP8: one f32 scale for the tensor.
    Tensor(f32),
    /// MX: one E8M0 code per block of 32 along each row.
    E8m0(Vec<u8>),
    /// NVFP4: one E4M3 code per block of 16 along each row, and the f32 tensor scale.
    E4m3 { codes: Vec<u8>, tensor_scale: f32 },
    /// NF4: one f32 absmax per block of 64 of the flattened tensor.
    Absmax(Vec<f32>),
}

impl BlockScales {
    /// Bits the scales take when stored.
    pub fn stored_bits(&self) -> u64 {
        self.block_bits() + self.tensor_bits()
    }

    /// Bits of the per-block scales alone (a streamed tensor adds them up piece by piece).
    pub fn block_bits(&self) -> u64 {
        match self {
            BlockScales::Tensor(_) => 0,
            BlockScales::E8m0(c) => c.len() as u64 * 8,
            BlockScales::E4m3 { codes, .. } => codes.len() as u64 * 8,
            BlockScales::Absmax(a) => a.len() as u64 * 32,
        }
    }

    /// Bits of the one f32 per-tensor scale (FP8, NVFP4), stored once whatever the pieces.
    pub fn tensor_bits(&self) -> u64 {
        match self {
            BlockScales::Tensor(_) | BlockScales::E4m3 { .. } => 32,
            BlockScales::E8m0(_) | BlockScales::Absmax(_) => 0,
        }
    }

    /// Every scale as the f32 it multiplies by (NVFP4: block scale × tensor scale).
    pub fn values(&self) -> Vec<f32> {
        match self {
            BlockScales::Tensor(s) => vec![*s],
            BlockScales::E8m0(c) => c.iter().map(|&c| minifloat::e8m0::decode(c)).collect(),
            BlockScales::E4m3 { codes, tensor_scale } => codes.iter().map(|&c| E4M3.decode(c) * tensor_scale).collect(),
            BlockScales::Absmax(a) => a.clone(),
        }
    }
}

/// A tensor in one of these formats: one code per element (in its low bits), the scales, and the
/// values they dequantize to.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockQuantized {
    pub format: BlockFormat,
    pub shape: Vec<usize>,
    pub codes: Vec<u8>,
    pub scales: BlockScales,
    pub values: Vec<f32>,
}

impl BlockQuantized {
    /// Bits of the codes at their width plus the scales: what the format really stores.
    pub fn stored_bits(&self) -> u64 {
        self.codes.len() as u64 * self.format.code_bits() as u64 + self.scales.stored_bits()
    }
}

/// The element type of an MX format.
pub fn mx_element(format: BlockFormat) -> Option<MxElement> {
    Some(match format {
        BlockFormat::Mxfp4 => MxElement::Float(E2M1),
        BlockFormat::Mxfp6E2m3 => MxElement::Float(E2M3),
        BlockFormat::Mxfp6E3m2 => MxElement::Float(E3M2),
        BlockFormat::Mxfp8E4m3 => MxElement::Float(E4M3),
        BlockFormat::Mxint8 => MxElement::Int8,
        _ => return None,
    })
}

/// The finite amax of x: what FP8's and NVFP4's per-tensor scales are made of.
pub fn finite_amax(x: &[f32]) -> f32 {
    x.iter().filter(|v| v.is_finite()).fold(0f32, |m, v| m.max(v.abs()))
}

/// Whether `format` has a per-tensor scale, so that a streamed tensor needs a read for its amax first.
pub fn needs_tensor_amax(format: BlockFormat) -> bool {
    matches!(format, BlockFormat::Fp8E4m3 | BlockFormat::Fp8E5m2 | BlockFormat::Nvfp4)
}

/// Whether the blocks of `format` run along each row (MX, NVFP4), a row's last one short.
pub fn is_row_blocked(format: BlockFormat) -> bool {
    mx_element(format).is_some() || format == BlockFormat::Nvfp4
}

/// Elements a streamed piece must hold a whole number of, so that no block is cut: a row for the
/// row-blocked formats, NF4's block of the flattened tensor, one element for FP8.
pub fn piece_unit(format: BlockFormat, shape: &[usize]) -> usize {
    match format {
        _ if is_row_blocked(format) => shape.last().copied().unwrap_or(1).max(1),
        BlockFormat::Nf4 => nf4::BLOCK,
        _ => 1,
    }
}

/// x (of `shape`, row-major) in `format`.
pub fn quantize(format: BlockFormat, x: &[f32], shape: &[usize]) -> BlockQuantized {
    quantize_piece(format, x, shape, finite_amax(x))
}

/// A piece of a tensor (whole `piece_unit`s of it; `shape` the piece's, rows × the tensor's row
/// length) in `format`, with the whole tensor's finite amax for the formats with a tensor scale:
/// the pieces of a tensor quantized in turn are the tensor quantized at once.
pub fn quantize_piece(format: BlockFormat, x: &[f32], shape: &[usize], tensor_amax: f32) -> BlockQuantized {
    if let Some(element) = mx_element(format) {
        let t = mx::quantize(x, shape, element);
        let values = mx::dequantize(&t, shape, element);
        return BlockQuantized { format, shape: shape.to_vec(), codes: t.codes, scales: BlockScales::E8m0(t.scales), values };
    }
    let (codes, scales, values) = match format {
        BlockFormat::Fp8E4m3 | BlockFormat::Fp8E5m2 => {
            let f = if format == BlockFormat::Fp8E4m3 { E4M3 } else { E5M2 };
            let t = minifloat::quantize_fp8_with_scale(x, &f, minifloat::fp8_scale(tensor_amax, &f));
            let values = minifloat::dequantize_fp8(&t, &f);
            (t.codes, BlockScales::Tensor(t.scale), values)
        }
        BlockFormat::Nvfp4 => {
            let t = nvfp4::quantize_with_tensor_scale(x, shape, nvfp4::tensor_scale(tensor_amax));
            let values = nvfp4::dequantize(&t, shape);
            (t.codes, BlockScales::E4m3 { codes: t.scales, tensor_scale: t.tensor_scale }, values)
        }
        // The MX formats returned above.
        BlockFormat::Nf4 | BlockFormat::Mxfp4 | BlockFormat::Mxfp6E2m3 | BlockFormat::Mxfp6E3m2 | BlockFormat::Mxfp8E4m3 | BlockFormat::Mxint8 => {
            let t = nf4::quantize(x);
            let values = nf4::dequantize(&t);
            (t.codes, BlockScales::Absmax(t.absmax), values)
        }
    };
    BlockQuantized { format, shape: shape.to_vec(), codes, scales, values }
}

/// The values of `codes` (one per element, in `shape`) under `scales`: what a reader of an export
/// computes. None when the scales do not match the blocks of `shape` or the codes its size.
pub fn dequantize(format: BlockFormat, codes: &[u8], scales: &BlockScales, shape: &[usize]) -> Option<Vec<f32>> {
    let n: usize = shape.iter().product();
    if codes.len() != n {
        return None;
    }
    let blocks = |len: usize| mx::row_blocks(shape, n, len).len();
    match (format, scales) {
        (BlockFormat::Fp8E4m3 | BlockFormat::Fp8E5m2, BlockScales::Tensor(scale)) => {
            let f = if format == BlockFormat::Fp8E4m3 { E4M3 } else { E5M2 };
            Some(minifloat::dequantize_fp8(&minifloat::Fp8Tensor { codes: codes.to_vec(), scale: *scale }, &f))
        }
        (BlockFormat::Nvfp4, BlockScales::E4m3 { codes: s, tensor_scale }) if s.len() == blocks(nvfp4::BLOCK) => {
            let t = nvfp4::Nvfp4Tensor { codes: codes.to_vec(), scales: s.clone(), tensor_scale: *tensor_scale };
            Some(nvfp4::dequantize(&t, shape))
        }
        (BlockFormat::Nf4, BlockScales::Absmax(a)) if a.len() == n.div_ceil(nf4::BLOCK) => {
            Some(nf4::dequantize(&nf4::Nf4Tensor { codes: codes.to_vec(), absmax: a.clone() }))
        }
        (_, BlockScales::E8m0(s)) if s.len() == blocks(mx::BLOCK) => {
            let element = mx_element(format)?;
            Some(mx::dequantize(&mx::MxTensor { codes: codes.to_vec(), scales: s.clone() }, shape, element))
        }
        _ => None,
    }
}
