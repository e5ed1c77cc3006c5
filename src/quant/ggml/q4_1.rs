//! Q4_1: 32 4-bit codes, an fp16 scale d and an fp16 minimum m; y = q·d + m.

use super::{GgmlQuantize, c_to_i8, fp16_bits, min_max, read_f16, GgmlBlock, QK};
use std::mem::{offset_of, size_of};

/// block_q4_1 (ggml-common.h).
#[repr(C)]
struct BlockQ4_1 {
    d: [u8; 2],
    m: [u8; 2],
    qs: [u8; QK / 2],
}
const _: () = assert!(size_of::<BlockQ4_1>() == 20);

pub struct Q4_1;

impl GgmlBlock for Q4_1 {
    const ID: u32 = 3;
    const NAME: &'static str = "Q4_1";
    const BLOCK_LEN: usize = QK;
    const BLOCK_BYTES: usize = size_of::<BlockQ4_1>();
    const CODE_BITS: u8 = 4;

    /// dequantize_row_q4_1.
    fn dequantize_block(b: &[u8], y: &mut [f32]) {
        let (d, m) = (read_f16(b, offset_of!(BlockQ4_1, d)), read_f16(b, offset_of!(BlockQ4_1, m)));
        let qs = &b[offset_of!(BlockQ4_1, qs)..];
        for j in 0..QK / 2 {
            y[j] = (qs[j] & 0x0F) as f32 * d + m;
            y[j + QK / 2] = (qs[j] >> 4) as f32 * d + m;
        }
    }
}

impl GgmlQuantize for Q4_1 {
    /// quantize_row_q4_1_ref: d = (max − min)/15, m = min, q = MIN(15, (int8_t)((x − min)/d + 0.5)).
    fn quantize_block_ref(xb: &[f32], y: &mut [u8]) {
        let (min, max) = min_max(xb);
        let d = (max - min) / 15.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        y[offset_of!(BlockQ4_1, d)..][..2].copy_from_slice(&fp16_bits(d));
        y[offset_of!(BlockQ4_1, m)..][..2].copy_from_slice(&fp16_bits(min));
        let qs = &mut y[offset_of!(BlockQ4_1, qs)..];
        for j in 0..QK / 2 {
            let x0 = (xb[j] - min) * id;
            let x1 = (xb[j + QK / 2] - min) * id;
            let q0 = c_to_i8(x0 + 0.5).min(15) as u8;
            let q1 = c_to_i8(x1 + 0.5).min(15) as u8;
            qs[j] = q0 | (q1 << 4);
        }
    }
}
