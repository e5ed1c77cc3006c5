//! IQ3_S (3.4375 bits per weight): a super-block of 256 in eight groups of 32. Each 4 values take a
//! 9-bit index into iq3s_grid (4 magnitudes from {1, 3, …, 15}: low 8 bits in qs, the 9th in qh);
//! explicit sign bytes; a 4-bit scale s per group; y = d·(1 + 2s) · grid[j] · ±1.

use super::iq2_xxs::put_signed;
use super::iq_grids::IQ3S_GRID;
use super::k_quants::QK_K;
use super::{read_f16, GgmlBlock};
use std::mem::{offset_of, size_of};

/// block_iq3_s (ggml-common.h).
#[repr(C)]
struct BlockIq3S {
    d: [u8; 2],
    qs: [u8; QK_K / 4],
    qh: [u8; QK_K / 32],
    signs: [u8; QK_K / 8],
    scales: [u8; QK_K / 64],
}
const _: () = assert!(size_of::<BlockIq3S>() == 110);

pub struct IQ3_S;

impl GgmlBlock for IQ3_S {
    const ID: u32 = 21;
    const NAME: &'static str = "IQ3_S";
    const BLOCK_LEN: usize = QK_K;
    const BLOCK_BYTES: usize = size_of::<BlockIq3S>();
    const CODE_BITS: u8 = 3;

    /// dequantize_row_iq3_s (ggml-quants.c): group ib32 uses qh[ib32] for its 8 indices' 9th bits
    /// and the nibble ib32 % 2 of scales[ib32 / 2].
    fn dequantize_block(b: &[u8], y: &mut [f32]) {
        let d = read_f16(b, offset_of!(BlockIq3S, d));
        let qs = &b[offset_of!(BlockIq3S, qs)..][..QK_K / 4];
        let qh = &b[offset_of!(BlockIq3S, qh)..][..QK_K / 32];
        let signs = &b[offset_of!(BlockIq3S, signs)..][..QK_K / 8];
        let scales = &b[offset_of!(BlockIq3S, scales)..][..QK_K / 64];
        for (ib32, ys) in y.chunks_exact_mut(32).enumerate() {
            let s = (scales[ib32 / 2] >> (4 * (ib32 % 2))) & 0x0F;
            let db = d * (1 + 2 * s as i32) as f32;
            let q = &qs[8 * ib32..8 * ib32 + 8];
            let h = qh[ib32] as usize;
            for (l, y8) in ys.chunks_exact_mut(8).enumerate() {
                let i1 = q[2 * l] as usize | ((h << (8 - 2 * l)) & 256);
                let i2 = q[2 * l + 1] as usize | ((h << (7 - 2 * l)) & 256);
                let (g1, g2) = (IQ3S_GRID[i1].to_le_bytes(), IQ3S_GRID[i2].to_le_bytes());
                let grid = [g1[0], g1[1], g1[2], g1[3], g2[0], g2[1], g2[2], g2[3]];
                put_signed(y8, db, &grid, signs[4 * ib32 + l]);
            }
        }
    }
}
