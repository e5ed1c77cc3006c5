//! Q4_K: a super-block of 256 in eight sub-blocks of 32, each with a 6-bit scale and min against the
//! fp16 d and dmin; y = (d·sc)·q − (dmin·m).

use super::k_quants::{quantize_k4_sub_blocks, scale_min_k4, QK_K};
use super::{read_f16, GgmlBlock, GgmlQuantize};
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
}

impl GgmlQuantize for Q4_K {
    /// quantize_row_q4_K_ref: per 32 values make_qkx2_quants(nmax 15, weights av_x + |x|, rmin −1,
    /// rdelta 0.1, nstep 20); the 8 scales and 8 mins quantized to 6 bits against fp16
    /// d = max_scale/63 and dmin = max_min/63, packed as get_scale_min_k4 reads them; then every value
    /// re-quantized against the stored (d·sc, dmin·m).
    fn quantize_block_ref(xb: &[f32], y: &mut [u8]) {
        let mut l_all = [0u8; QK_K];
        let (sc, d, dmin) = quantize_k4_sub_blocks(xb, 15, -1.0, 20, &mut l_all);
        y[offset_of!(BlockQ4_K, scales)..][..K_SCALE_SIZE].copy_from_slice(&sc);
        y[offset_of!(BlockQ4_K, d)..][..2].copy_from_slice(&d);
        y[offset_of!(BlockQ4_K, dmin)..][..2].copy_from_slice(&dmin);
        let qs = &mut y[offset_of!(BlockQ4_K, qs)..][..QK_K / 2];
        for (c, j) in (0..QK_K).step_by(64).enumerate() {
            for l in 0..32 {
                qs[32 * c + l] = l_all[j + l] | (l_all[j + l + 32] << 4);
            }
        }
    }
}
