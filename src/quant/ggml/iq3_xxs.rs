//! IQ3_XXS (3.0625 bits per weight): a super-block of 256 in eight groups of 32. Each 4 values take a
//! byte index into iq3xxs_grid (4 magnitudes from {4, 12, …, 62}); each group a u32 of four 7-bit
//! sign indices (ksigns_iq2xs) and a 4-bit scale s in its top bits; y = d·(0.5 + s)·0.5 · grid[j] · ±1.

use super::iq2_xxs::put_signed;
use super::iq_grids::{IQ3XXS_GRID, KSIGNS_IQ2XS};
use super::iq_lattice::{search_scale, Lattice, SearchRule};
use super::k_quants::{nearest_int, QK_K};
use super::{fp16_bits, read_f16, GgmlBlock, GgmlQuantize};
use std::mem::{offset_of, size_of};
use std::sync::OnceLock;

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

/// ggml-quants.c GROUP_MAX_EPS_IQ3_XXS: a group of 32 whose largest |x| is below this is all zero.
const GROUP_MAX_EPS_IQ3_XXS: f32 = 1e-8;

impl GgmlQuantize for IQ3_XXS {
    /// quantize_row_iq3_xxs_ref = quantize_row_iq3_xxs_impl(256, …, quant_weights NULL): weights x²;
    /// per 8 values the signs, made even by flipping the one of least w·x²; per 32 the scale of
    /// `search_scale` over 31 tries; d = max scale/31 stored ·1.0125; 4-bit scales
    /// nearest_int(0.5·(s/d − 1)). ggml keeps its level buffer across groups and blocks; a group none
    /// of whose tries fits (Σw·x·q squared underflows to 0, only for max|x| near 1e-8) would keep the
    /// previous group's levels, where this per-block port starts each block from level 0.
    fn quantize_block_ref(xbl: &[f32], y: &mut [u8]) {
        static LATTICE: OnceLock<Lattice<4>> = OnceLock::new();
        // iq3xxs_grid's bytes are 4, 12, …, 52, 62 for l = 0..7 (the dot-product grid; the
        // quantizer's kgrid_256 is the same points valued 2l + 1), so l = (byte − 4) / 8.
        let lat = LATTICE.get_or_init(|| Lattice::new(IQ3XXS_GRID.iter().map(|g| g.to_le_bytes().map(|b| (b - 4) / 8)).collect(), 3, 7, 2));
        let mut q3 = [0u8; QK_K / 4];
        let mut scales_and_signs = [0u32; QK_K / 32];
        let mut scales = [0f32; QK_K / 32];
        let mut max_scale = 0.0f32;
        let mut l = [0i8; 32];
        for ib in 0..QK_K / 32 {
            let xb = &xbl[32 * ib..32 * ib + 32];
            let weight: [f32; 32] = std::array::from_fn(|i| xb[i] * xb[i]);
            let mut xval = [0f32; 32];
            let mut block_signs = [0u8; 4];
            for k in 0..4 {
                let (mut nflip, mut s) = (0, 0u8);
                for i in 0..8 {
                    let v = xb[8 * k + i];
                    if v >= 0.0 {
                        xval[8 * k + i] = v;
                    } else {
                        xval[8 * k + i] = -v;
                        nflip += 1;
                        s |= 1 << i;
                    }
                }
                if nflip % 2 == 1 {
                    let mut imin = 0;
                    let mut min = weight[8 * k] * xb[8 * k] * xb[8 * k];
                    for i in 1..8 {
                        let ax = weight[8 * k + i] * xb[8 * k + i] * xb[8 * k + i];
                        if ax < min {
                            min = ax;
                            imin = i;
                        }
                    }
                    xval[8 * k + imin] = -xval[8 * k + imin];
                    s ^= 1 << imin;
                }
                block_signs[k] = s & 127;
            }
            let max = xval[1..].iter().fold(xval[0], |m, &v| if m > v { m } else { v });
            if max < GROUP_MAX_EPS_IQ3_XXS {
                scales[ib] = 0.0;
                l = [0; 32];
                continue;
            }
            let mut scale = search_scale(lat, &weight, &xval, max, &SearchRule { kmaxq: 8, tries: 15, step: 0.2, start_on_grid: false, redo_all: false }, &mut l);
            if scale < 0.0 {
                scale = -scale;
                for s in block_signs.iter_mut() {
                    *s = !*s & 127;
                }
            }
            for k in 0..8 {
                // Every group is on the grid by now (ggml aborts otherwise; unreachable).
                q3[8 * ib + k] = lat.index(&l[4 * k..]).unwrap_or(0) as u8;
            }
            scales_and_signs[ib] =
                block_signs[0] as u32 | (block_signs[1] as u32) << 7 | (block_signs[2] as u32) << 14 | (block_signs[3] as u32) << 21;
            scales[ib] = scale;
            max_scale = if max_scale > scale { max_scale } else { scale };
        }
        y.fill(0);
        if max_scale == 0.0 {
            return;
        }
        let d = max_scale / 31.0;
        y[offset_of!(BlockIq3Xxs, d)..][..2].copy_from_slice(&fp16_bits(d * 1.0125));
        let id = 1.0 / d;
        let at = offset_of!(BlockIq3Xxs, qs);
        y[at..at + QK_K / 4].copy_from_slice(&q3);
        for (ib, &s) in scales.iter().enumerate() {
            let ls = nearest_int(0.5 * (id * s - 1.0)).clamp(0, 15) as u32;
            y[at + QK_K / 4 + 4 * ib..][..4].copy_from_slice(&(scales_and_signs[ib] | ls << 28).to_le_bytes());
        }
    }
}
