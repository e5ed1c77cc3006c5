//! IQ2_XXS (2.0625 bits per weight): a super-block of 256 in eight groups of 32. Each group is 8
//! bytes: four grid indices (one byte each, into iq2xxs_grid: 8 magnitudes from {8, 25, 43}), then a
//! u32 of four 7-bit sign indices (into ksigns_iq2xs) and a 4-bit scale s in its top bits;
//! y = d·(0.5 + s)·0.25 · grid[j] · ±1.

use super::iq_grids::{IQ2XXS_GRID, KSIGNS_IQ2XS};
use super::k_quants::QK_K;
use super::{read_f16, GgmlBlock};
use std::mem::{offset_of, size_of};

/// block_iq2_xxs (ggml-common.h): qs is uint16_t[QK_K/8], read as bytes and u32 words.
#[repr(C)]
struct BlockIq2Xxs {
    d: [u8; 2],
    qs: [u8; QK_K / 4],
}
const _: () = assert!(size_of::<BlockIq2Xxs>() == 66);

pub struct IQ2_XXS;

impl GgmlBlock for IQ2_XXS {
    const ID: u32 = 16;
    const NAME: &'static str = "IQ2_XXS";
    const BLOCK_LEN: usize = QK_K;
    const BLOCK_BYTES: usize = size_of::<BlockIq2Xxs>();
    /// 8 elements share one 8-bit grid index and 7 sign bits.
    const CODE_BITS: u8 = 2;

    /// dequantize_row_iq2_xxs (ggml-quants.c).
    fn dequantize_block(b: &[u8], y: &mut [f32]) {
        let d = read_f16(b, offset_of!(BlockIq2Xxs, d));
        let qs = &b[offset_of!(BlockIq2Xxs, qs)..][..QK_K / 4];
        for (group, ys) in qs.chunks_exact(8).zip(y.chunks_exact_mut(32)) {
            let aux1 = u32::from_le_bytes([group[4], group[5], group[6], group[7]]);
            let db = d * (0.5 + (aux1 >> 28) as f32) * 0.25;
            for (l, y8) in ys.chunks_exact_mut(8).enumerate() {
                let grid = IQ2XXS_GRID[group[l] as usize].to_le_bytes();
                let signs = KSIGNS_IQ2XS[((aux1 >> (7 * l)) & 127) as usize];
                put_signed(y8, db, &grid, signs);
            }
        }
    }
}

/// `y[j] = db * grid[j] * (signs & kmask_iq2xs[j] ? -1.f : 1.f)` (kmask_iq2xs[j] = 1 << j).
pub(super) fn put_signed(y: &mut [f32], db: f32, grid: &[u8], signs: u8) {
    for (j, (v, &g)) in y.iter_mut().zip(grid).enumerate() {
        *v = db * g as f32 * if signs & (1 << j) != 0 { -1.0 } else { 1.0 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ksigns_is_seven_bits_and_even_parity() {
        // ggml's rule for the table: bit 7 is set when bits 0..6 hold an odd count of minus signs.
        for (k, &s) in KSIGNS_IQ2XS.iter().enumerate() {
            assert_eq!(s, k as u8 | (((k as u32).count_ones() as u8 & 1) << 7), "ksigns_iq2xs[{k}]");
        }
    }

    #[test]
    fn a_hand_worked_block() {
        // d = 1; group 0: grid point 0 (all 8) with sign index 1 (ksigns 129: values 0 and 7
        // negative), grid point 1 (bytes 0x2b, then 8s) with signs 0, scale 3: db = 3.5·0.25.
        let mut b = vec![0u8; 66];
        b[..2].copy_from_slice(&half::f16::from_f32(1.0).to_bits().to_le_bytes());
        b[2] = 0; // l = 0: grid index 0
        b[3] = 1; // l = 1: grid index 1
        let aux1: u32 = 1 | (3 << 28);
        b[6..10].copy_from_slice(&aux1.to_le_bytes());
        let mut y = vec![0f32; 256];
        IQ2_XXS::dequantize_block(&b, &mut y);
        assert_eq!(&y[..8], &[-7.0, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0, -7.0]);
        assert_eq!(&y[8..16], &[0.875 * 43.0, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0]);
        // Group 1 has scale 0: db = 0.125, grid point 0.
        assert_eq!(&y[32..40], &[1.0; 8]);
    }
}
