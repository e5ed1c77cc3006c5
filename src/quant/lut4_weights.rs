//! MXFP4 and NF4 weights for the dequantize-on-the-fly GEMV (kernels::lut4): quantized by their own
//! modules' rules (mx.rs: OCP MX v1.0, E2M1 under an E8M0 scale per 32 along a row; nf4.rs:
//! bitsandbytes' levels under an f32 absmax per 64 of the flattened tensor), then laid out once.

use super::block::{self, BlockQuantized, BlockScales};
use super::format::BlockFormat;
use super::minifloat::E2M1;
use super::{mx, nf4};
use crate::error::{Error, Result};
use crate::kernels::lut4::{Lut4Blocking, Lut4Scales, PackedLut4};

/// The 16 values a 4-bit code of `format` stands for, before its block's scale.
pub fn code_values(format: BlockFormat) -> Result<[f32; 16]> {
    match format {
        BlockFormat::Mxfp4 => Ok(std::array::from_fn(|c| E2M1.decode(c as u8))),
        BlockFormat::Nf4 => Ok(nf4::LEVELS),
        other => Err(Error::InvalidSpec(format!("the 4-bit LUT GEMV takes mxfp4 or nf4, not {}", other.label()))),
    }
}

impl PackedLut4 {
    /// Packs a tensor already quantized to MXFP4 or NF4 (shape [n, k]).
    pub fn from_block(q: &BlockQuantized, n: usize, k: usize) -> Result<Self> {
        let values = code_values(q.format)?;
        let (blocking, scales) = match (&q.scales, q.format) {
            (BlockScales::E8m0(s), BlockFormat::Mxfp4) => (Lut4Blocking::RowBlocks(mx::BLOCK), Lut4Scales::E8M0(s.clone())),
            (BlockScales::Absmax(a), BlockFormat::Nf4) => (Lut4Blocking::FlatBlocks(nf4::BLOCK), Lut4Scales::F32(a.clone())),
            _ => return Err(Error::InvalidSpec(format!("{} weights with scales of another format", q.format.label()))),
        };
        PackedLut4::pack(&q.codes, n, k, values, blocking, scales)
    }

    /// Quantizes f32 weights W [n, k] to MXFP4 or NF4 and packs them.
    pub fn quantize(format: BlockFormat, w: &[f32], n: usize, k: usize) -> Result<Self> {
        code_values(format)?;
        if w.len() != n * k {
            return Err(Error::InvalidSpec(format!("weights: {} values for [{n}, {k}]", w.len())));
        }
        Self::from_block(&block::quantize(format, w, &[n, k]), n, k)
    }
}
