//! IQ2_S (2.5625 bits per weight): a super-block of 256 in eight groups of 32. Each 8 values take a
//! 10-bit index into iq2s_grid (8 magnitudes from {8, 25, 43}: low 8 bits in qs, high 2 in qh) and a
//! byte of explicit signs; two 4-bit scales per group; y = d·(0.5 + s)·0.25 · grid[j] · ±1.

use super::iq2_xxs::put_signed;
use super::iq_grids::IQ2S_GRID;
use super::iq_lattice::{search_scale, Lattice, SearchRule};
use super::k_quants::{nearest_int, QK_K};
use super::{fp16_bits, read_f16, GgmlBlock, GgmlQuantize};
use std::mem::{offset_of, size_of};
use std::sync::OnceLock;

/// block_iq2_s (ggml-common.h): qs holds QK_K/8 index bytes, then QK_K/8 sign bytes.
#[repr(C)]
struct BlockIq2S {
    d: [u8; 2],
    qs: [u8; QK_K / 4],
    qh: [u8; QK_K / 32],
    scales: [u8; QK_K / 32],
}
const _: () = assert!(size_of::<BlockIq2S>() == 82);

pub struct IQ2_S;

impl GgmlBlock for IQ2_S {
    const ID: u32 = 22;
    const NAME: &'static str = "IQ2_S";
    const BLOCK_LEN: usize = QK_K;
    const BLOCK_BYTES: usize = size_of::<BlockIq2S>();
    const CODE_BITS: u8 = 2;

    /// dequantize_row_iq2_s (ggml-quants.c).
    fn dequantize_block(b: &[u8], y: &mut [f32]) {
        let d = read_f16(b, offset_of!(BlockIq2S, d));
        let qs = &b[offset_of!(BlockIq2S, qs)..][..QK_K / 8];
        let signs = &b[offset_of!(BlockIq2S, qs) + QK_K / 8..][..QK_K / 8];
        let qh = &b[offset_of!(BlockIq2S, qh)..][..QK_K / 32];
        let scales = &b[offset_of!(BlockIq2S, scales)..][..QK_K / 32];
        for (ib32, ys) in y.chunks_exact_mut(32).enumerate() {
            let db = [
                d * (0.5 + (scales[ib32] & 0x0F) as f32) * 0.25,
                d * (0.5 + (scales[ib32] >> 4) as f32) * 0.25,
            ];
            for (l, y8) in ys.chunks_exact_mut(8).enumerate() {
                let index = qs[4 * ib32 + l] as usize | (((qh[ib32] as usize) << (8 - 2 * l)) & 0x300);
                put_signed(y8, db[l / 2], &IQ2S_GRID[index].to_le_bytes(), signs[4 * ib32 + l]);
            }
        }
    }
}

/// ggml-quants.c GROUP_MAX_EPS_IQ2_S: a group of 16 whose largest |x| is below this is all zero.
const GROUP_MAX_EPS_IQ2_S: f32 = 1e-8;

impl GgmlQuantize for IQ2_S {
    /// quantize_row_iq2_s_ref = quantize_iq2_s(…, quant_weights NULL): per 16 values weights
    /// σ²/4 + x² (σ² = 2·Σx²/256 of the block), explicit signs, the scale of `search_scale` over 19
    /// tries (5 + 0.1·is)/max with levels 0..2 snapped onto iq2s's 1024-point grid (nearest distance
    /// only), off-grid points redone; d = max scale/31 stored ·0.9875; 4-bit scales
    /// nearest_int(0.5·(s/d − 1)). ggml keeps its level buffer across groups and blocks (used only if
    /// no try fits, when Σw·x·q squared underflows); this port starts each block from level 0.
    fn quantize_block_ref(xbl: &[f32], y: &mut [u8]) {
        static LATTICE: OnceLock<Lattice<8>> = OnceLock::new();
        // iq2s_grid's bytes 8, 25, 43 are the quantizer's levels 0, 1, 2 (kgrid_2bit_1024).
        let lat = LATTICE.get_or_init(|| Lattice::new(IQ2S_GRID.iter().map(|g| g.to_le_bytes().map(|b| (b > 8) as u8 + (b > 25) as u8)).collect(), 2, 2, 1));
        const RULE: SearchRule = SearchRule { kmaxq: 3, tries: 9, step: 0.1, start_on_grid: true, redo_all: false };
        y.fill(0);
        let (qs_at, qh_at) = (offset_of!(BlockIq2S, qs), offset_of!(BlockIq2S, qh));
        let sumx2 = xbl.iter().fold(0.0f32, |s, &x| s + x * x);
        let sigma2 = 2.0 * sumx2 / QK_K as f32;
        let mut scales = [0f32; QK_K / 16];
        let mut max_scale = 0.0f32;
        let mut l = [0i8; 16];
        for ib in 0..QK_K / 16 {
            let xb = &xbl[16 * ib..16 * ib + 16];
            let weight: [f32; 16] = std::array::from_fn(|i| 0.25 * sigma2 + xb[i] * xb[i]);
            let xval: [f32; 16] = std::array::from_fn(|i| if xb[i] >= 0.0 { xb[i] } else { -xb[i] });
            let mut block_signs: [u8; 2] =
                std::array::from_fn(|k| (0..8).filter(|&i| !(xb[8 * k + i] >= 0.0)).fold(0u8, |s, i| s | 1 << i));
            let max = xval[1..].iter().fold(xval[0], |m, &v| if m > v { m } else { v });
            if max < GROUP_MAX_EPS_IQ2_S {
                scales[ib] = 0.0;
                continue;
            }
            let mut scale = search_scale(lat, &weight, &xval, max, &RULE, &mut l);
            if scale < 0.0 {
                scale = -scale;
                for s in block_signs.iter_mut() {
                    *s = !*s;
                }
            }
            for k in 0..2 {
                // Every point is on the grid by now (ggml aborts otherwise; unreachable).
                let g = lat.index(&l[8 * k..]).unwrap_or(0);
                let i8 = 2 * ib + k;
                y[qs_at + i8] = (g & 255) as u8;
                y[qh_at + i8 / 4] |= ((g >> 8) as u8) << (2 * (i8 % 4));
                y[qs_at + QK_K / 8 + i8] = block_signs[k];
            }
            scales[ib] = scale;
            max_scale = if max_scale > scale { max_scale } else { scale };
        }
        if max_scale == 0.0 {
            return;
        }
        let d = max_scale / 31.0;
        y[offset_of!(BlockIq2S, d)..][..2].copy_from_slice(&fp16_bits(d * 0.9875));
        let id = 1.0 / d;
        let nibble = |s: f32| nearest_int(0.5 * (id * s - 1.0)).clamp(0, 15) as u8;
        for (i, pair) in scales.chunks_exact(2).enumerate() {
            y[offset_of!(BlockIq2S, scales) + i] = nibble(pair[0]) | nibble(pair[1]) << 4;
        }
    }
}
