//! Q8_0: 32 int8 codes and one fp16 scale d; y = q·d.

use super::{GgmlQuantize, c_roundf_to_i8, fp16_bits, read_f16, GgmlBlock, QK};
use std::mem::{offset_of, size_of};

/// block_q8_0 (ggml-common.h).
#[repr(C)]
struct BlockQ8_0 {
    d: [u8; 2],
    qs: [i8; QK],
}
const _: () = assert!(size_of::<BlockQ8_0>() == 34);

pub struct Q8_0;

impl GgmlBlock for Q8_0 {
    const ID: u32 = 8;
    const NAME: &'static str = "Q8_0";
    const BLOCK_LEN: usize = QK;
    const BLOCK_BYTES: usize = size_of::<BlockQ8_0>();
    const CODE_BITS: u8 = 8;

    /// dequantize_row_q8_0.
    fn dequantize_block(b: &[u8], y: &mut [f32]) {
        let d = read_f16(b, offset_of!(BlockQ8_0, d));
        let qs = &b[offset_of!(BlockQ8_0, qs)..];
        for j in 0..QK {
            y[j] = (qs[j] as i8) as f32 * d;
        }
    }
}

impl GgmlQuantize for Q8_0 {
    /// quantize_row_q8_0_ref: d = amax/127, q = roundf(x/d) (half away from zero).
    fn quantize_block_ref(xb: &[f32], y: &mut [u8]) {
        let mut amax = 0.0f32;
        for &v in xb {
            // MAX(amax, fabsf(v)) = amax > |v| ? amax : |v|
            let a = v.abs();
            amax = if amax > a { amax } else { a };
        }
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        y[offset_of!(BlockQ8_0, d)..][..2].copy_from_slice(&fp16_bits(d));
        let qs = &mut y[offset_of!(BlockQ8_0, qs)..];
        for (j, &v) in xb.iter().enumerate() {
            qs[j] = c_roundf_to_i8(v * id) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::f16;

    #[test]
    fn q8_0_hand_worked_block() {
        // amax 127 → d = 1, q = roundf(x): 2.5 → 3 and −2.5 → −3 (half away from zero, unlike nearest_int).
        let mut x = [0f32; 32];
        x[0] = 127.0;
        x[1] = 2.5;
        x[2] = -2.5;
        let mut out = [0u8; 34];
        Q8_0::quantize_block_ref(&x, &mut out);
        assert_eq!(&out[..2], &f16::from_f32(1.0).to_bits().to_le_bytes());
        assert_eq!((out[2] as i8, out[3] as i8, out[4] as i8, out[5] as i8), (127, 3, -3, 0));
    }
}
