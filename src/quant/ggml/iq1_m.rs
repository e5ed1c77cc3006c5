//! IQ1_M (1.75 bits per weight): a super-block of 256 in eight groups of 32, with no separate block
//! scale: the fp16 d is spread over the top nibbles of the four u16 scale words. Each 8 values take an
//! 11-bit index into iq1s_grid (low 8 bits in qs, high 3 in a qh nibble whose 4th bit picks the sign
//! of δ = ±IQ1M_DELTA); each 16 values a 3-bit scale s; y = d·(2s + 1)·(grid[j] + δ).

use super::iq1_s::{put_shifted, IQ1S_DELTA};
use super::iq_grids::IQ1S_GRID;
use super::k_quants::QK_K;
use super::GgmlBlock;
use half::f16;
use std::mem::{offset_of, size_of};

/// block_iq1_m (ggml-common.h).
#[repr(C)]
struct BlockIq1M {
    qs: [u8; QK_K / 8],
    qh: [u8; QK_K / 16],
    scales: [u8; QK_K / 32],
}
const _: () = assert!(size_of::<BlockIq1M>() == 56);

pub struct IQ1_M;

impl GgmlBlock for IQ1_M {
    const ID: u32 = 29;
    const NAME: &'static str = "IQ1_M";
    const BLOCK_LEN: usize = QK_K;
    const BLOCK_BYTES: usize = size_of::<BlockIq1M>();
    const CODE_BITS: u8 = 1;

    /// dequantize_row_iq1_m (ggml-quants.c); its iq1m_scale_t union reads the assembled u16 as fp16.
    fn dequantize_block(b: &[u8], y: &mut [f32]) {
        let at = offset_of!(BlockIq1M, scales);
        let sc: [u16; 4] = std::array::from_fn(|i| u16::from_le_bytes([b[at + 2 * i], b[at + 2 * i + 1]]));
        let scale = (sc[0] >> 12) | ((sc[1] >> 8) & 0x00F0) | ((sc[2] >> 4) & 0x0F00) | (sc[3] & 0xF000);
        let d = f16::from_bits(scale).to_f32();
        let qs = &b[offset_of!(BlockIq1M, qs)..][..QK_K / 8];
        let qh = &b[offset_of!(BlockIq1M, qh)..][..QK_K / 16];
        for (ib, ys) in y.chunks_exact_mut(32).enumerate() {
            let s = sc[ib / 2] as usize >> (6 * (ib % 2));
            let dl = [d * (2 * (s & 7) + 1) as f32, d * (2 * ((s >> 3) & 7) + 1) as f32];
            let (q, h) = (&qs[4 * ib..4 * ib + 4], &qh[2 * ib..2 * ib + 2]);
            for (l, y8) in ys.chunks_exact_mut(8).enumerate() {
                // Value l's nibble: the low one of h[l / 2] for even l, the high one for odd l.
                let nibble = (h[l / 2] >> (4 * (l % 2))) as usize & 0x0F;
                let index = q[l] as usize | ((nibble & 7) << 8);
                let delta = if nibble & 0x08 != 0 { -IQ1S_DELTA } else { IQ1S_DELTA };
                put_shifted(y8, dl[l / 2], IQ1S_GRID[index], delta);
            }
        }
    }
}
