//! TQ2_0: ternary weights, 2 bits each, four to a byte, against an fp16 d = amax of the 256;
//! y = (q − 1)·d with q in 0..2.

use super::k_quants::QK_K;
use super::{c_lroundf, fp16_bits, read_f16, ternary_amax, GgmlBlock, GgmlQuantize};
use std::mem::{offset_of, size_of};

/// block_tq2_0 (ggml-common.h).
#[repr(C)]
struct BlockTq2_0 {
    qs: [u8; QK_K / 4],
    d: [u8; 2],
}
const _: () = assert!(size_of::<BlockTq2_0>() == 66);

pub struct TQ2_0;

impl GgmlBlock for TQ2_0 {
    const ID: u32 = 35;
    const NAME: &'static str = "TQ2_0";
    const BLOCK_LEN: usize = QK_K;
    const BLOCK_BYTES: usize = size_of::<BlockTq2_0>();
    const CODE_BITS: u8 = 2;

    /// dequantize_row_tq2_0: each 32 bytes hold 128 values, bits 2l..2l+2 of byte m being value 32l + m.
    fn dequantize_block(b: &[u8], y: &mut [f32]) {
        let d = read_f16(b, offset_of!(BlockTq2_0, d));
        let qs = &b[offset_of!(BlockTq2_0, qs)..][..QK_K / 4];
        for (chunk, ys) in qs.chunks_exact(32).zip(y.chunks_exact_mut(128)) {
            for l in 0..4 {
                for m in 0..32 {
                    let q = ((chunk[m] >> (2 * l)) & 3) as i32;
                    ys[32 * l + m] = (q - 1) as f32 * d;
                }
            }
        }
    }
}

impl GgmlQuantize for TQ2_0 {
    /// quantize_row_tq2_0_ref: d = amax, each code lroundf(x/d) + 1 (its low 2 bits).
    fn quantize_block_ref(xb: &[f32], y: &mut [u8]) {
        let d = ternary_amax(xb);
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        y[offset_of!(BlockTq2_0, d)..][..2].copy_from_slice(&fp16_bits(d));
        let qs = &mut y[offset_of!(BlockTq2_0, qs)..][..QK_K / 4];
        for (j, xs) in xb.chunks_exact(128).enumerate() {
            for m in 0..32 {
                let mut q = 0u8;
                for n in 0..4 {
                    let xi = (c_lroundf(xs[m + 32 * n] * id) + 1) as i32;
                    q = q.wrapping_add(((xi & 3) << (2 * n)) as u8);
                }
                qs[32 * j + m] = q;
            }
        }
    }
}
