//! IQ3_XXS (3.0625 bits per weight): a super-block of 256 in eight groups of 32. Each 4 values take a
//! byte index into iq3xxs_grid (4 magnitudes from {4, 12, …, 62}); each group a u32 of four 7-bit
//! sign indices (ksigns_iq2xs) and a 4-bit scale s in its top bits; y = d·(0.5 + s)·0.5 · grid[j] · ±1.

use super::iq2_xxs::put_signed;
use super::iq_grids::{IQ3XXS_GRID, KSIGNS_IQ2XS};
use super::k_quants::QK_K;
use super::{read_f16, GgmlBlock};
use std::mem::{offset_of, size_of};

/// block_iq3_xxs (ggml-common.h): qs holds QK_K/4 grid indices, then QK_K/8 bytes of scales and signs.
#[repr(C)]
struct BlockIq3Xxs {
    d: [u8; 2],
    qs: [u8; 3 * QK_K / 8],
}
const _: () = assert!(size_of::<BlockIq3Xxs>() == 98);

pub struct IQ3_XXS;

impl GgmlBlock for IQ3_XXS {
    const ID: u32 = 18;
    const NAME: &'static str = "IQ3_XXS";
    const BLOCK_LEN: usize = QK_K;
    const BLOCK_BYTES: usize = size_of::<BlockIq3Xxs>();
    const CODE_BITS: u8 = 3;

    /// dequantize_row_iq3_xxs (ggml-quants.c).
    fn dequantize_block(b: &[u8], y: &mut [f32]) {
        let d = read_f16(b, offset_of!(BlockIq3Xxs, d));
        let qs = &b[offset_of!(BlockIq3Xxs, qs)..][..QK_K / 4];
        let scales_and_signs = &b[offset_of!(BlockIq3Xxs, qs) + QK_K / 4..][..QK_K / 8];
        for (ib32, ys) in y.chunks_exact_mut(32).enumerate() {
            let w = &scales_and_signs[4 * ib32..4 * ib32 + 4];
            let aux32 = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
            let db = d * (0.5 + (aux32 >> 28) as f32) * 0.5;
            let q = &qs[8 * ib32..8 * ib32 + 8];
            for (l, y8) in ys.chunks_exact_mut(8).enumerate() {
                let signs = KSIGNS_IQ2XS[((aux32 >> (7 * l)) & 127) as usize];
                let (g1, g2) = (IQ3XXS_GRID[q[2 * l] as usize].to_le_bytes(), IQ3XXS_GRID[q[2 * l + 1] as usize].to_le_bytes());
                let grid = [g1[0], g1[1], g1[2], g1[3], g2[0], g2[1], g2[2], g2[3]];
                put_signed(y8, db, &grid, signs);
            }
        }
    }
}
