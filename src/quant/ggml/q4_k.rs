//! Q4_K: a super-block of 256 in eight sub-blocks of 32, each with a 6-bit scale and min against the
//! fp16 d and dmin; y = (d·sc)·q − (dmin·m).

use super::k_quants::{make_qkx2_quants, nearest_int, scale_min_k4, QK_K};
use super::{fp16_bits, fp16_round_trip, read_f16, GgmlBlock};
use std::mem::{offset_of, size_of};

/// K_SCALE_SIZE (ggml-common.h): eight 6-bit scales and eight 6-bit mins in 12 bytes.
const K_SCALE_SIZE: usize = 12;

/// block_q4_K (ggml-common.h).
#[repr(C)]
struct BlockQ4_K {
    d: [u8; 2],
    dmin: [u8; 2],
    scales: [u8; K_SCALE_SIZE],
    qs: [u8; QK_K / 2],
}
const _: () = assert!(size_of::<BlockQ4_K>() == 144);

pub struct Q4_K;

impl GgmlBlock for Q4_K {
    const ID: u32 = 12;
    const NAME: &'static str = "Q4_K";
    const BLOCK_LEN: usize = QK_K;
    const BLOCK_BYTES: usize = size_of::<BlockQ4_K>();
    const CODE_BITS: u8 = 4;

    /// dequantize_row_q4_K.
    fn dequantize_block(b: &[u8], y: &mut [f32]) {
        let (d, dmin) = (read_f16(b, offset_of!(BlockQ4_K, d)), read_f16(b, offset_of!(BlockQ4_K, dmin)));
        let scales = &b[offset_of!(BlockQ4_K, scales)..][..K_SCALE_SIZE];
        let qs = &b[offset_of!(BlockQ4_K, qs)..][..QK_K / 2];
        for (n, chunk) in qs.chunks_exact(32).enumerate() {
            let (sc1, m1) = scale_min_k4(2 * n, scales);
            let (sc2, m2) = scale_min_k4(2 * n + 1, scales);
            let (d1, dm1) = (d * sc1 as f32, dmin * m1 as f32);
            let (d2, dm2) = (d * sc2 as f32, dmin * m2 as f32);
            let y = &mut y[64 * n..64 * n + 64];
            for l in 0..32 {
                y[l] = d1 * (chunk[l] & 0x0F) as f32 - dm1;
                y[l + 32] = d2 * (chunk[l] >> 4) as f32 - dm2;
            }
        }
    }

    /// quantize_row_q4_K_ref: per 32 values make_qkx2_quants(nmax 15, weights av_x + |x|, rmin −1,
    /// rdelta 0.1, nstep 20); the 8 scales and 8 mins quantized to 6 bits against fp16
    /// d = max_scale/63 and dmin = max_min/63, packed as get_scale_min_k4 reads them; then every value
    /// re-quantized against the stored (d·sc, dmin·m).
    fn quantize_block_ref(xb: &[f32], y: &mut [u8]) {
        let mut l_all = [0u8; QK_K];
        let mut weights = [0f32; 32];
        let mut scales = [0f32; 8];
        let mut mins = [0f32; 8];
        let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
        for j in 0..8 {
            let xs = &xb[32 * j..32 * j + 32];
            let mut sum_x2 = 0.0f32;
            for &v in xs {
                sum_x2 += v * v;
            }
            let av_x = (sum_x2 / 32.0).sqrt();
            for (w, &v) in weights.iter_mut().zip(xs) {
                *w = av_x + v.abs();
            }
            let (s, m) = make_qkx2_quants(15, xs, &weights, &mut l_all[32 * j..32 * j + 32], -1.0, 0.1, 20);
            scales[j] = s;
            mins[j] = m;
            if s > max_scale {
                max_scale = s;
            }
            if m > max_min {
                max_min = m;
            }
        }
        let inv_scale = if max_scale > 0.0 { 63.0 / max_scale } else { 0.0 };
        let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
        let mut sc = [0u8; K_SCALE_SIZE];
        for j in 0..8 {
            // uint8_t ls = nearest_int(...): the int's low byte, then MIN(63, ls).
            let ls = (nearest_int(inv_scale * scales[j]) as u8).min(63);
            let lm = (nearest_int(inv_min * mins[j]) as u8).min(63);
            if j < 4 {
                sc[j] = ls;
                sc[j + 4] = lm;
            } else {
                sc[j + 4] = (ls & 0x0F) | ((lm & 0x0F) << 4);
                sc[j - 4] |= (ls >> 4) << 6;
                sc[j] |= (lm >> 4) << 6;
            }
        }
        y[offset_of!(BlockQ4_K, scales)..][..K_SCALE_SIZE].copy_from_slice(&sc);
        y[offset_of!(BlockQ4_K, d)..][..2].copy_from_slice(&fp16_bits(max_scale / 63.0));
        y[offset_of!(BlockQ4_K, dmin)..][..2].copy_from_slice(&fp16_bits(max_min / 63.0));
        let d_all = fp16_round_trip(max_scale / 63.0);
        let dmin_all = fp16_round_trip(max_min / 63.0);
        for j in 0..8 {
            let (s, m) = scale_min_k4(j, &sc);
            let d = d_all * s as f32;
            if d == 0.0 {
                continue;
            }
            let dm = dmin_all * m as f32;
            for ii in 0..32 {
                let l = nearest_int((xb[32 * j + ii] + dm) / d);
                l_all[32 * j + ii] = l.clamp(0, 15) as u8;
            }
        }
        let qs = &mut y[offset_of!(BlockQ4_K, qs)..][..QK_K / 2];
        for (c, j) in (0..QK_K).step_by(64).enumerate() {
            for l in 0..32 {
                qs[32 * c + l] = l_all[j + l] | (l_all[j + l + 32] << 4);
            }
        }
    }
}
