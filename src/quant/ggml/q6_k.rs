//! Q6_K: a super-block of 256 in sixteen sub-blocks of 16, each with an int8 scale against the fp16 d;
//! 6-bit codes as 4 low bits (ql) and 2 high bits (qh); y = (d·sc)·(q − 32).

use super::k_quants::{make_qx_quants_rmse1, nearest_int, GROUP_MAX_EPS, QK_K};
use super::{GgmlQuantize, fp16_bits, read_f16, GgmlBlock};
use half::f16;
use std::mem::{offset_of, size_of};

/// block_q6_K (ggml-common.h).
#[repr(C)]
struct BlockQ6_K {
    ql: [u8; QK_K / 2],
    qh: [u8; QK_K / 4],
    scales: [i8; QK_K / 16],
    d: [u8; 2],
}
const _: () = assert!(size_of::<BlockQ6_K>() == 210);

pub struct Q6_K;

impl GgmlBlock for Q6_K {
    const ID: u32 = 14;
    const NAME: &'static str = "Q6_K";
    const BLOCK_LEN: usize = QK_K;
    const BLOCK_BYTES: usize = size_of::<BlockQ6_K>();
    const CODE_BITS: u8 = 6;

    /// dequantize_row_q6_K.
    fn dequantize_block(b: &[u8], y: &mut [f32]) {
        let d = read_f16(b, offset_of!(BlockQ6_K, d));
        let (ql_at, qh_at, sc_at) = (offset_of!(BlockQ6_K, ql), offset_of!(BlockQ6_K, qh), offset_of!(BlockQ6_K, scales));
        for half_block in 0..2 {
            let ql = &b[ql_at + 64 * half_block..][..64];
            let qh = &b[qh_at + 32 * half_block..][..32];
            let sc = &b[sc_at + 8 * half_block..][..8];
            let y = &mut y[128 * half_block..128 * half_block + 128];
            for l in 0..32 {
                let is = l / 16;
                let q1 = ((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) as i32 - 32;
                let q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
                let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
                let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
                y[l] = d * (sc[is] as i8) as f32 * q1 as f32;
                y[l + 32] = d * (sc[is + 2] as i8) as f32 * q2 as f32;
                y[l + 64] = d * (sc[is + 4] as i8) as f32 * q3 as f32;
                y[l + 96] = d * (sc[is + 6] as i8) as f32 * q4 as f32;
            }
        }
    }
}

impl GgmlQuantize for Q6_K {
    /// quantize_row_q6_K_ref: per 16 values make_qx_quants(nmax 32, rmse_type 1); the 16 scales as
    /// int8 against fp16 d = max_scale/−128 (the scale of largest |.|); values re-quantized to −32..31
    /// against d·sc and stored +32 in 4 low bits (ql) and 2 high bits (qh).
    fn quantize_block_ref(xb: &[f32], y: &mut [u8]) {
        let mut l_all = [0i8; QK_K];
        let mut scales = [0f32; 16];
        let (mut max_scale, mut max_abs_scale) = (0.0f32, 0.0f32);
        for ib in 0..16 {
            let s = make_qx_quants_rmse1(32, &xb[16 * ib..16 * ib + 16], &mut l_all[16 * ib..16 * ib + 16]);
            scales[ib] = s;
            if s.abs() > max_abs_scale {
                max_abs_scale = s.abs();
                max_scale = s;
            }
        }
        if max_abs_scale < GROUP_MAX_EPS {
            // memset(&y[i], 0, ...) then d = fp16(0): all bytes zero.
            y.iter_mut().for_each(|b| *b = 0);
            return;
        }
        let iscale = -128.0f32 / max_scale;
        let d_bits = fp16_bits(1.0 / iscale);
        y[offset_of!(BlockQ6_K, d)..][..2].copy_from_slice(&d_bits);
        let d_all = f16::from_bits(u16::from_le_bytes(d_bits)).to_f32();
        let mut sc = [0i8; 16];
        for ib in 0..16 {
            sc[ib] = nearest_int(iscale * scales[ib]).min(127) as i8;
            y[offset_of!(BlockQ6_K, scales) + ib] = sc[ib] as u8;
        }
        for j in 0..16 {
            let d = d_all * sc[j] as f32;
            if d == 0.0 {
                continue;
            }
            for ii in 0..16 {
                let l = nearest_int(xb[16 * j + ii] / d).clamp(-32, 31);
                l_all[16 * j + ii] = (l + 32) as i8;
            }
        }
        let lu = |i: usize| l_all[i] as u8;
        let (ql_at, qh_at) = (offset_of!(BlockQ6_K, ql), offset_of!(BlockQ6_K, qh));
        for (h, j) in (0..QK_K).step_by(128).enumerate() {
            for l in 0..32 {
                let q1 = lu(j + l) & 0x0F;
                let q2 = lu(j + l + 32) & 0x0F;
                let q3 = lu(j + l + 64) & 0x0F;
                let q4 = lu(j + l + 96) & 0x0F;
                y[ql_at + 64 * h + l] = q1 | (q3 << 4);
                y[ql_at + 64 * h + l + 32] = q2 | (q4 << 4);
                // (L >> 4) of an int8_t: arithmetic shift; the codes are 0..63 so it is 0..3.
                let hi = |i: usize| (l_all[i] >> 4) as u8;
                y[qh_at + 32 * h + l] = hi(j + l) | (hi(j + l + 32) << 2) | (hi(j + l + 64) << 4) | (hi(j + l + 96) << 6);
            }
        }
    }
}
