//! Q5_0: 32 5-bit codes (4 low bits in qs, the fifth in qh) and one fp16 scale d; y = (q − 16)·d.
//! llama.cpp's fallback for Q4_K rows that are not whole 256-blocks.

use super::{GgmlQuantize, c_to_i8, fifth_bits, fp16_bits, read_f16, signed_amax, GgmlBlock, QK};
use std::mem::{offset_of, size_of};

/// block_q5_0 (ggml-common.h).
#[repr(C)]
struct BlockQ5_0 {
    d: [u8; 2],
    qh: [u8; 4],
    qs: [u8; QK / 2],
}
const _: () = assert!(size_of::<BlockQ5_0>() == 22);

pub struct Q5_0;

impl GgmlBlock for Q5_0 {
    const ID: u32 = 6;
    const NAME: &'static str = "Q5_0";
    const BLOCK_LEN: usize = QK;
    const BLOCK_BYTES: usize = size_of::<BlockQ5_0>();
    const CODE_BITS: u8 = 5;

    /// dequantize_row_q5_0.
    fn dequantize_block(b: &[u8], y: &mut [f32]) {
        let d = read_f16(b, offset_of!(BlockQ5_0, d));
        let h = offset_of!(BlockQ5_0, qh);
        let qh = u32::from_le_bytes([b[h], b[h + 1], b[h + 2], b[h + 3]]);
        let qs = &b[offset_of!(BlockQ5_0, qs)..];
        for j in 0..QK / 2 {
            let (h0, h1) = fifth_bits(qh, j);
            y[j] = (((qs[j] & 0x0F) | h0) as i32 - 16) as f32 * d;
            y[j + QK / 2] = (((qs[j] >> 4) | h1) as i32 - 16) as f32 * d;
        }
    }
}

impl GgmlQuantize for Q5_0 {
    /// quantize_row_q5_0_ref: d = max/−16, q = MIN(31, (int8_t)(x/d + 16.5)); the fifth bits go to
    /// qh (bit j for element j).
    fn quantize_block_ref(xb: &[f32], y: &mut [u8]) {
        let (_, max) = signed_amax(xb);
        let d = max / -16.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        y[offset_of!(BlockQ5_0, d)..][..2].copy_from_slice(&fp16_bits(d));
        let mut qh = 0u32;
        let qs = &mut y[offset_of!(BlockQ5_0, qs)..];
        for j in 0..QK / 2 {
            let x0 = xb[j] * id;
            let x1 = xb[j + QK / 2] * id;
            let q0 = c_to_i8(x0 + 16.5).min(31) as u8;
            let q1 = c_to_i8(x1 + 16.5).min(31) as u8;
            qs[j] = (q0 & 0x0F) | ((q1 & 0x0F) << 4);
            qh |= (((q0 & 0x10) >> 4) as u32) << j;
            qh |= (((q1 & 0x10) >> 4) as u32) << (j + QK / 2);
        }
        y[offset_of!(BlockQ5_0, qh)..][..4].copy_from_slice(&qh.to_le_bytes());
    }
}
