//! Q5_1: 32 5-bit codes (4 low bits in qs, the fifth in qh), an fp16 scale d and minimum m; y = q·d + m.

use super::{GgmlQuantize, c_to_u8, fifth_bits, fp16_bits, min_max, read_f16, GgmlBlock, QK};
use std::mem::{offset_of, size_of};

/// block_q5_1 (ggml-common.h).
#[repr(C)]
struct BlockQ5_1 {
    d: [u8; 2],
    m: [u8; 2],
    qh: [u8; 4],
    qs: [u8; QK / 2],
}
const _: () = assert!(size_of::<BlockQ5_1>() == 24);

pub struct Q5_1;

impl GgmlBlock for Q5_1 {
    const ID: u32 = 7;
    const NAME: &'static str = "Q5_1";
    const BLOCK_LEN: usize = QK;
    const BLOCK_BYTES: usize = size_of::<BlockQ5_1>();
    const CODE_BITS: u8 = 5;

    /// dequantize_row_q5_1.
    fn dequantize_block(b: &[u8], y: &mut [f32]) {
        let (d, m) = (read_f16(b, offset_of!(BlockQ5_1, d)), read_f16(b, offset_of!(BlockQ5_1, m)));
        let h = offset_of!(BlockQ5_1, qh);
        let qh = u32::from_le_bytes([b[h], b[h + 1], b[h + 2], b[h + 3]]);
        let qs = &b[offset_of!(BlockQ5_1, qs)..];
        for j in 0..QK / 2 {
            let (h0, h1) = fifth_bits(qh, j);
            y[j] = ((qs[j] & 0x0F) | h0) as f32 * d + m;
            y[j + QK / 2] = ((qs[j] >> 4) | h1) as f32 * d + m;
        }
    }
}

impl GgmlQuantize for Q5_1 {
    /// quantize_row_q5_1_ref: d = (max − min)/31, m = min, q = (uint8_t)((x − min)/d + 0.5) — no
    /// MIN(31, …) here, unlike q4_1: ggml keeps only the five bits it stores.
    fn quantize_block_ref(xb: &[f32], y: &mut [u8]) {
        let (min, max) = min_max(xb);
        let d = (max - min) / 31.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        y[offset_of!(BlockQ5_1, d)..][..2].copy_from_slice(&fp16_bits(d));
        y[offset_of!(BlockQ5_1, m)..][..2].copy_from_slice(&fp16_bits(min));
        let mut qh = 0u32;
        let qs = &mut y[offset_of!(BlockQ5_1, qs)..];
        for j in 0..QK / 2 {
            let x0 = (xb[j] - min) * id;
            let x1 = (xb[j + QK / 2] - min) * id;
            let q0 = c_to_u8(x0 + 0.5);
            let q1 = c_to_u8(x1 + 0.5);
            qs[j] = (q0 & 0x0F) | ((q1 & 0x0F) << 4);
            qh |= (((q0 & 0x10) >> 4) as u32) << j;
            qh |= (((q1 & 0x10) >> 4) as u32) << (j + QK / 2);
        }
        y[offset_of!(BlockQ5_1, qh)..][..4].copy_from_slice(&qh.to_le_bytes());
    }
}
