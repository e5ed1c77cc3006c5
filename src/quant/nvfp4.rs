//! NVFP4 as NVIDIA's TensorRT Model Optimizer quantizes weights (modelopt/torch/quantization/qtensor/
//! nvfp4_tensor.py, `NVFP4QTensor`): E2M1 elements in blocks of 16 along each row, each block with an
//! FP8 E4M3 scale, and one FP32 scale per tensor.
//!   s2 = amax(tensor) / (6 · 448)                                  (get_weights_scaling_factor_2)
//!   s  = E4M3(amax(block) / (6 · s2)), 1 where that is 0           (get_weights_scaling_factor)
//!   code = E2M1(x / (s · s2)), nearest with ties to even, ±6 at most (_cast_fp4's searchsorted)
//!   value = E2M1 value × (s · s2)
//! All in f32. Two cases modelopt leaves undefined get a rule here: an all-zero tensor takes s2 = 1
//! (modelopt divides 0 by 0), and amax is over the finite values. A row's short last block is a block
//! of its own, as modelopt's zero padding (reduce_block_padding) makes it. +0 and −0 both get code 0
//! (_cast_fp4 takes the sign from x < 0).

use super::minifloat::{E2M1, E4M3};
use super::mx::row_blocks;

pub const BLOCK: usize = 16;

#[derive(Debug, Clone, PartialEq)]
pub struct Nvfp4Tensor {
    /// One E2M1 code per value (low 4 bits).
    pub codes: Vec<u8>,
    /// One E4M3 code per block.
    pub scales: Vec<u8>,
    /// The per-tensor FP32 scale s2.
    pub tensor_scale: f32,
}

fn amax(x: &[f32]) -> f32 {
    x.iter().filter(|v| v.is_finite()).fold(0f32, |m, v| m.max(v.abs()))
}

pub fn quantize(x: &[f32], shape: &[usize]) -> Nvfp4Tensor {
    quantize_with_tensor_scale(x, shape, tensor_scale(amax(x)))
}

/// s2 from the tensor's finite amax (a streamed tensor finds amax in a read of its own).
pub fn tensor_scale(amax: f32) -> f32 {
    let s2 = amax / (6.0 * 448.0);
    if s2 == 0.0 {
        1.0
    } else {
        s2
    }
}

/// Whole rows of a tensor whose tensor scale s2 is known: the blocks of `x` (of `shape`) under s2.
pub fn quantize_with_tensor_scale(x: &[f32], shape: &[usize], s2: f32) -> Nvfp4Tensor {
    let blocks = row_blocks(shape, x.len(), BLOCK);
    let mut t = Nvfp4Tensor { codes: Vec::with_capacity(x.len()), scales: Vec::with_capacity(blocks.len()), tensor_scale: s2 };
    for (start, len) in blocks {
        let xb = &x[start..start + len];
        let mut s = amax(xb) / (6.0 * s2);
        if s == 0.0 {
            s = 1.0;
        }
        let code = E4M3.encode(s);
        let scale = E4M3.decode(code) * s2;
        t.scales.push(code);
        t.codes.extend(xb.iter().map(|&v| {
            let q = v / scale;
            E2M1.encode_saturating(if q == 0.0 { 0.0 } else { q })
        }));
    }
    t
}

pub fn dequantize(t: &Nvfp4Tensor, shape: &[usize]) -> Vec<f32> {
    let mut out = Vec::with_capacity(t.codes.len());
    for ((start, len), &s) in row_blocks(shape, t.codes.len(), BLOCK).into_iter().zip(&t.scales) {
        let scale = E4M3.decode(s) * t.tensor_scale;
        out.extend(t.codes[start..start + len].iter().map(|&c| E2M1.decode(c) * scale));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tensor_amax_block_has_scale_448() {
        // One block, amax 2688: s2 = 1, s = 448 exactly, x / 448 = 6, 3, −1.5, 0.
        let t = quantize(&[2688.0, 1344.0, -672.0, 0.0, -0.0], &[5]);
        assert_eq!((t.tensor_scale, t.scales.as_slice()), (1.0, &[0x7E][..]));
        assert_eq!(t.codes, [0x7, 0x5, 0xB, 0x0, 0x0]);
        assert_eq!(dequantize(&t, &[5]), [2688.0, 1344.0, -672.0, 0.0, 0.0]);
    }
}
