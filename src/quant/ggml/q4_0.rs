//! Q4_0: 32 4-bit codes and one fp16 scale d; y = (q − 8)·d. Element j is the low nibble of qs[j],
//! element j+16 its high nibble.

use super::{GgmlQuantize, c_to_i8, fp16_bits, read_f16, signed_amax, GgmlBlock, QK};
use std::mem::{offset_of, size_of};

/// block_q4_0 (ggml-common.h).
#[repr(C)]
struct BlockQ4_0 {
    d: [u8; 2],
    qs: [u8; QK / 2],
}
const _: () = assert!(size_of::<BlockQ4_0>() == 18);

pub struct Q4_0;

impl GgmlBlock for Q4_0 {
    const ID: u32 = 2;
    const NAME: &'static str = "Q4_0";
    const BLOCK_LEN: usize = QK;
    const BLOCK_BYTES: usize = size_of::<BlockQ4_0>();
    const CODE_BITS: u8 = 4;

    /// dequantize_row_q4_0: y[j] = ((qs[j] & 15) − 8)·d, y[j+16] = ((qs[j] >> 4) − 8)·d.
    fn dequantize_block(b: &[u8], y: &mut [f32]) {
        let d = read_f16(b, offset_of!(BlockQ4_0, d));
        let qs = &b[offset_of!(BlockQ4_0, qs)..];
        for j in 0..QK / 2 {
            y[j] = ((qs[j] & 0x0F) as i32 - 8) as f32 * d;
            y[j + QK / 2] = ((qs[j] >> 4) as i32 - 8) as f32 * d;
        }
    }
}

impl GgmlQuantize for Q4_0 {
    /// quantize_row_q4_0_ref: d = max/−8 where max is the value of largest |x| (first one wins),
    /// q = MIN(15, (int8_t)(x/d + 8.5)).
    fn quantize_block_ref(xb: &[f32], y: &mut [u8]) {
        let (_, max) = signed_amax(xb);
        let d = max / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        y[offset_of!(BlockQ4_0, d)..][..2].copy_from_slice(&fp16_bits(d));
        let qs = &mut y[offset_of!(BlockQ4_0, qs)..];
        for j in 0..QK / 2 {
            let x0 = xb[j] * id;
            let x1 = xb[j + QK / 2] * id;
            let q0 = c_to_i8(x0 + 8.5).min(15) as u8;
            let q1 = c_to_i8(x1 + 8.5).min(15) as u8;
            qs[j] = q0 | (q1 << 4);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::f16;

    #[test]
    fn q4_0_hand_worked_block() {
        // max = −8 (largest |x|) → d = 1, id = 1: q = (int8)(x + 8.5), so −8 → 0, 7 → 15, 0.5 → 9.
        let mut x = [0f32; 32];
        x[0] = -8.0;
        x[1] = 7.0;
        x[16] = 0.5;
        let mut out = [0u8; 18];
        Q4_0::quantize_block_ref(&x, &mut out);
        assert_eq!(&out[..2], &f16::from_f32(1.0).to_bits().to_le_bytes());
        assert_eq!(out[2], 9 << 4); // element 0 → 0 (low), element 16 → 9 (high)
        assert_eq!(out[3], 15 | (8 << 4)); // element 1 → 15, element 17 (0) → 8
    }
}
