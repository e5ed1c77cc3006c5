//! Q2_K: a super-block of 256 in sixteen sub-blocks of 16, each with a 4-bit scale (low nibble) and
//! 4-bit min (high nibble) against the fp16 d and dmin; 2-bit codes, four to a byte;
//! y = (d·sc)·q − (dmin·m).

use super::k_quants::{make_qkx2_quants, nearest_int, QK_K};
use super::{GgmlQuantize, fp16_bits, fp16_round_trip, read_f16, GgmlBlock};
use std::mem::{offset_of, size_of};

/// block_q2_K (ggml-common.h).
#[repr(C)]
struct BlockQ2_K {
    scales: [u8; QK_K / 16],
    qs: [u8; QK_K / 4],
    d: [u8; 2],
    dmin: [u8; 2],
}
const _: () = assert!(size_of::<BlockQ2_K>() == 84);

pub struct Q2_K;

impl GgmlBlock for Q2_K {
    const ID: u32 = 10;
    const NAME: &'static str = "Q2_K";
    const BLOCK_LEN: usize = QK_K;
    const BLOCK_BYTES: usize = size_of::<BlockQ2_K>();
    const CODE_BITS: u8 = 2;

    /// dequantize_row_q2_K: each 128 values read 32 bytes four times, shifting by 0, 2, 4, 6; each
    /// shift covers two sub-blocks of 16 (bytes 0..16, then 16..32).
    fn dequantize_block(b: &[u8], y: &mut [f32]) {
        let (d, min) = (read_f16(b, offset_of!(BlockQ2_K, d)), read_f16(b, offset_of!(BlockQ2_K, dmin)));
        let scales = &b[offset_of!(BlockQ2_K, scales)..][..QK_K / 16];
        let qs = &b[offset_of!(BlockQ2_K, qs)..][..QK_K / 4];
        let mut out = 0;
        let mut is = 0;
        for q in qs.chunks_exact(32) {
            for shift in [0, 2, 4, 6] {
                for half in [&q[..16], &q[16..]] {
                    let sc = scales[is];
                    is += 1;
                    let (dl, ml) = (d * (sc & 0x0F) as f32, min * (sc >> 4) as f32);
                    for &byte in half {
                        y[out] = dl * ((byte >> shift) & 3) as f32 - ml;
                        out += 1;
                    }
                }
            }
        }
    }
}

impl GgmlQuantize for Q2_K {
    /// quantize_row_q2_K_ref: per 16 values make_qkx2_quants(nmax 3, weights |x|, rmin −0.5,
    /// rdelta 0.1, nstep 15, use_mad); scales and mins to 4 bits against d = max_scale/15 and
    /// dmin = max_min/15 (fp16); codes re-quantized against the stored (d·sc, dmin·m).
    fn quantize_block_ref(xb: &[f32], y: &mut [u8]) {
        const Q4SCALE: f32 = 15.0;
        let mut l_all = [0u8; QK_K];
        let mut weights = [0f32; 16];
        let mut scales = [0f32; 16];
        let mut mins = [0f32; 16];
        let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
        for j in 0..16 {
            let xs = &xb[16 * j..16 * j + 16];
            for (w, &v) in weights.iter_mut().zip(xs) {
                *w = v.abs();
            }
            let (s, m) = make_qkx2_quants(3, xs, &weights, &mut l_all[16 * j..16 * j + 16], -0.5, 0.1, 15, true);
            scales[j] = s;
            mins[j] = m;
            if s > max_scale {
                max_scale = s;
            }
            if m > max_min {
                max_min = m;
            }
        }
        let mut sc = [0u8; 16];
        let d_stored = if max_scale > 0.0 {
            let iscale = Q4SCALE / max_scale;
            for j in 0..16 {
                // y[i].scales[j] = l: the int's low byte.
                sc[j] = nearest_int(iscale * scales[j]) as u8;
            }
            max_scale / Q4SCALE
        } else {
            0.0
        };
        let dmin_stored = if max_min > 0.0 {
            let iscale = Q4SCALE / max_min;
            for j in 0..16 {
                sc[j] |= (nearest_int(iscale * mins[j]) << 4) as u8;
            }
            max_min / Q4SCALE
        } else {
            0.0
        };
        y[offset_of!(BlockQ2_K, d)..][..2].copy_from_slice(&fp16_bits(d_stored));
        y[offset_of!(BlockQ2_K, dmin)..][..2].copy_from_slice(&fp16_bits(dmin_stored));
        let (d_all, dmin_all) = (fp16_round_trip(d_stored), fp16_round_trip(dmin_stored));
        for j in 0..16 {
            let d = d_all * (sc[j] & 0x0F) as f32;
            if d == 0.0 {
                continue;
            }
            let dm = dmin_all * (sc[j] >> 4) as f32;
            for ii in 0..16 {
                let l = nearest_int((xb[16 * j + ii] + dm) / d);
                l_all[16 * j + ii] = l.clamp(0, 3) as u8;
            }
        }
        y[offset_of!(BlockQ2_K, scales)..][..16].copy_from_slice(&sc);
        let qs = &mut y[offset_of!(BlockQ2_K, qs)..][..QK_K / 4];
        for j in (0..QK_K).step_by(128) {
            for l in 0..32 {
                qs[j / 4 + l] = l_all[j + l] | (l_all[j + l + 32] << 2) | (l_all[j + l + 64] << 4) | (l_all[j + l + 96] << 6);
            }
        }
    }
}
