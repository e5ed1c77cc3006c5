//! Q5_K: a super-block of 256 in eight sub-blocks of 32, each with a 6-bit scale and min against the
//! fp16 d and dmin (packed as Q4_K's); 5-bit codes, the low 4 bits in qs and the fifth in qh;
//! y = (d·sc)·q − (dmin·m).

use super::k_quants::{quantize_k4_sub_blocks, scale_min_k4, QK_K};
use super::{read_f16, GgmlBlock, GgmlQuantize};
use std::mem::{offset_of, size_of};

const K_SCALE_SIZE: usize = 12;

/// block_q5_K (ggml-common.h).
#[repr(C)]
struct BlockQ5_K {
    d: [u8; 2],
    dmin: [u8; 2],
    scales: [u8; K_SCALE_SIZE],
    qh: [u8; QK_K / 8],
    qs: [u8; QK_K / 2],
}
const _: () = assert!(size_of::<BlockQ5_K>() == 176);

pub struct Q5_K;

impl GgmlBlock for Q5_K {
    const ID: u32 = 13;
    const NAME: &'static str = "Q5_K";
    const BLOCK_LEN: usize = QK_K;
    const BLOCK_BYTES: usize = size_of::<BlockQ5_K>();
    const CODE_BITS: u8 = 5;

    /// dequantize_row_q5_K: for each 64 values, qh bit 2n (low nibbles) and 2n+1 (high nibbles).
    fn dequantize_block(b: &[u8], y: &mut [f32]) {
        let (d, dmin) = (read_f16(b, offset_of!(BlockQ5_K, d)), read_f16(b, offset_of!(BlockQ5_K, dmin)));
        let scales = &b[offset_of!(BlockQ5_K, scales)..][..K_SCALE_SIZE];
        let qh = &b[offset_of!(BlockQ5_K, qh)..][..QK_K / 8];
        let qs = &b[offset_of!(BlockQ5_K, qs)..][..QK_K / 2];
        for (n, ql) in qs.chunks_exact(32).enumerate() {
            let (sc1, m1) = scale_min_k4(2 * n, scales);
            let (sc2, m2) = scale_min_k4(2 * n + 1, scales);
            let (d1, dm1) = (d * sc1 as f32, dmin * m1 as f32);
            let (d2, dm2) = (d * sc2 as f32, dmin * m2 as f32);
            let (u1, u2) = (1u8 << (2 * n), 2u8 << (2 * n));
            let y = &mut y[64 * n..64 * n + 64];
            for l in 0..32 {
                let hi1 = if qh[l] & u1 != 0 { 16 } else { 0 };
                let hi2 = if qh[l] & u2 != 0 { 16 } else { 0 };
                y[l] = d1 * ((ql[l] & 0x0F) as i32 + hi1) as f32 - dm1;
                y[l + 32] = d2 * ((ql[l] >> 4) as i32 + hi2) as f32 - dm2;
            }
        }
    }
}

impl GgmlQuantize for Q5_K {
    /// quantize_row_q5_K_ref: Q4_K's scheme with nmax 31 and make_qkx2_quants(rmin −0.5, rdelta 0.1,
    /// nstep 15), codes re-quantized against the stored scales, the fifth bit into qh.
    fn quantize_block_ref(xb: &[f32], y: &mut [u8]) {
        let mut l_all = [0u8; QK_K];
        let (sc, d, dmin) = quantize_k4_sub_blocks(xb, 31, -0.5, 15, &mut l_all);
        y[offset_of!(BlockQ5_K, scales)..][..K_SCALE_SIZE].copy_from_slice(&sc);
        y[offset_of!(BlockQ5_K, d)..][..2].copy_from_slice(&d);
        y[offset_of!(BlockQ5_K, dmin)..][..2].copy_from_slice(&dmin);
        let mut qh = [0u8; QK_K / 8];
        let mut ql = [0u8; QK_K / 2];
        for (c, n) in (0..QK_K).step_by(64).enumerate() {
            let (m1, m2) = (1u8 << (2 * c), 2u8 << (2 * c));
            for j in 0..32 {
                let mut l1 = l_all[n + j];
                if l1 > 15 {
                    l1 -= 16;
                    qh[j] |= m1;
                }
                let mut l2 = l_all[n + j + 32];
                if l2 > 15 {
                    l2 -= 16;
                    qh[j] |= m2;
                }
                ql[32 * c + j] = l1 | (l2 << 4);
            }
        }
        y[offset_of!(BlockQ5_K, qh)..][..QK_K / 8].copy_from_slice(&qh);
        y[offset_of!(BlockQ5_K, qs)..][..QK_K / 2].copy_from_slice(&ql);
    }
}
