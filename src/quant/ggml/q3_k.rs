//! Q3_K: a super-block of 256 in sixteen sub-blocks of 16, each with a signed 6-bit scale (stored
//! plus 32: low 4 bits in scales[0..8], high 2 bits in scales[8..12]) against the fp16 d; 3-bit
//! codes, the low 2 bits four to a byte in qs, the third bit in hmask; y = d·(sc − 32)·(q − 4).

use super::k_quants::{make_q3_quants_rmse, nearest_int, QK_K};
use super::{GgmlQuantize, fp16_bits, fp16_round_trip, read_f16, GgmlBlock};
use std::mem::{offset_of, size_of};

/// block_q3_K (ggml-common.h).
#[repr(C)]
struct BlockQ3_K {
    hmask: [u8; QK_K / 8],
    qs: [u8; QK_K / 4],
    scales: [u8; 12],
    d: [u8; 2],
}
const _: () = assert!(size_of::<BlockQ3_K>() == 110);

pub struct Q3_K;

/// The j-th 6-bit scale, less 32, as quantize_row_q3_K_ref reads it back (dequantize_row_q3_K's
/// kmask shuffle gives the same sixteen values).
fn scale(scales: &[u8], j: usize) -> i32 {
    let low = if j < 8 { scales[j] & 0x0F } else { scales[j - 8] >> 4 };
    let high = (scales[8 + j % 4] >> (2 * (j / 4))) & 3;
    (low | (high << 4)) as i32 - 32
}

impl GgmlBlock for Q3_K {
    const ID: u32 = 11;
    const NAME: &'static str = "Q3_K";
    const BLOCK_LEN: usize = QK_K;
    const BLOCK_BYTES: usize = size_of::<BlockQ3_K>();
    const CODE_BITS: u8 = 3;

    /// dequantize_row_q3_K: value e's low bits at qs[32·(e/128) + e%32] >> 2·((e%128)/32), its third
    /// bit at hmask[e%32] bit e/32 (set: q − 0, clear: q − 4).
    fn dequantize_block(b: &[u8], y: &mut [f32]) {
        let d_all = read_f16(b, offset_of!(BlockQ3_K, d));
        let scales = &b[offset_of!(BlockQ3_K, scales)..][..12];
        let hm = &b[offset_of!(BlockQ3_K, hmask)..][..QK_K / 8];
        let qs = &b[offset_of!(BlockQ3_K, qs)..][..QK_K / 4];
        for (j, ys) in y.chunks_exact_mut(16).enumerate() {
            let dl = d_all * scale(scales, j) as f32;
            for (l, v) in ys.iter_mut().enumerate() {
                let e = 16 * j + l;
                let low = ((qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3) as i32;
                let high = if hm[e % 32] & (1 << (e / 32)) != 0 { 0 } else { 4 };
                *v = dl * (low - high) as f32;
            }
        }
    }
}

impl GgmlQuantize for Q3_K {
    /// quantize_row_q3_K_ref: per 16 values make_q3_quants(nmax 4, do_rmse); the scales to 6 bits
    /// against d = 1/(−32/max_scale) (max_scale the signed scale of largest |scale|, fp16); codes
    /// re-quantized against the stored d·sc, clamped to −4..3.
    fn quantize_block_ref(xb: &[f32], y: &mut [u8]) {
        let mut l_all = [0i8; QK_K];
        let mut scales = [0f32; 16];
        let (mut max_scale, mut amax) = (0.0f32, 0.0f32);
        for j in 0..16 {
            scales[j] = make_q3_quants_rmse(4, &xb[16 * j..16 * j + 16], &mut l_all[16 * j..16 * j + 16]);
            if scales[j].abs() > amax {
                amax = scales[j].abs();
                max_scale = scales[j];
            }
        }
        let mut sc = [0u8; 12];
        let d_stored = if max_scale != 0.0 {
            let iscale = -32.0 / max_scale;
            for j in 0..16 {
                // int8_t l = nearest_int(...): the low byte, then clamped and offset by 32.
                let l = ((nearest_int(iscale * scales[j]) as i8).clamp(-32, 31) + 32) as u8;
                if j < 8 {
                    sc[j] = l & 0x0F;
                } else {
                    sc[j - 8] |= (l & 0x0F) << 4;
                }
                sc[j % 4 + 8] |= (l >> 4) << (2 * (j / 4));
            }
            1.0 / iscale
        } else {
            0.0
        };
        y[offset_of!(BlockQ3_K, d)..][..2].copy_from_slice(&fp16_bits(d_stored));
        let d_all = fp16_round_trip(d_stored);
        for j in 0..16 {
            let d = d_all * scale(&sc, j) as f32;
            if d == 0.0 {
                continue;
            }
            for ii in 0..16 {
                let l = nearest_int(xb[16 * j + ii] / d).clamp(-4, 3);
                l_all[16 * j + ii] = (l + 4) as i8;
            }
        }
        let mut hmask = [0u8; QK_K / 8];
        for (j, l) in l_all.iter_mut().enumerate() {
            if *l > 3 {
                hmask[j % 32] |= 1 << (j / 32);
                *l -= 4;
            }
        }
        y[offset_of!(BlockQ3_K, scales)..][..12].copy_from_slice(&sc);
        y[offset_of!(BlockQ3_K, hmask)..][..QK_K / 8].copy_from_slice(&hmask);
        let qs = &mut y[offset_of!(BlockQ3_K, qs)..][..QK_K / 4];
        for j in (0..QK_K).step_by(128) {
            for l in 0..32 {
                let q = |k: usize| l_all[j + l + k] as u8;
                qs[j / 4 + l] = q(0) | (q(32) << 2) | (q(64) << 4) | (q(96) << 6);
            }
        }
    }
}
