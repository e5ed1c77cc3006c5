//! IQ3_S (3.4375 bits per weight): a super-block of 256 in eight groups of 32. Each 4 values take a
//! 9-bit index into iq3s_grid (4 magnitudes from {1, 3, …, 15}: low 8 bits in qs, the 9th in qh);
//! explicit sign bytes; a 4-bit scale s per group; y = d·(1 + 2s) · grid[j] · ±1.

use super::iq2_xxs::put_signed;
use super::iq_lattice::{search_scale, Lattice, SearchRule};
use super::iq_grids::IQ3S_GRID;
use super::k_quants::{nearest_int, QK_K};
use super::{fp16_bits, read_f16, GgmlBlock, GgmlQuantize};
use std::mem::{offset_of, size_of};
use std::sync::OnceLock;

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

impl GgmlQuantize for IQ3_S {
    /// quantize_row_iq3_s_ref = quantize_iq3_s(…, quant_weights NULL), groups of 32: weights x²; explicit
    /// signs; per 32 the scale of `search_scale` over 19 tries, every group redone at the best; d = max
    /// scale/31 stored ·1.033; 4-bit scales nearest_int(0.5·(s/d − 1)). ggml's quirks kept: an
    /// all-zero group writes nothing and does not advance the qs and signs cursors (the next group's
    /// indices and signs land in its place; qh and the scales stay at their own group), and a block
    /// whose scales are all 0 keeps d = 0 with the indices and signs it wrote.
    fn quantize_block_ref(xbl: &[f32], y: &mut [u8]) {
        static LATTICE: OnceLock<Lattice<4>> = OnceLock::new();
        // iq3s_grid's bytes are the quantizer's kgrid_512 values 2l + 1 themselves: l = (byte − 1) / 2.
        let lat = LATTICE.get_or_init(|| Lattice::new(IQ3S_GRID.iter().map(|g| g.to_le_bytes().map(|b| (b - 1) / 2)).collect(), 3, 7, 3));
        y.fill(0);
        let (qs_at, qh_at, signs_at) = (offset_of!(BlockIq3S, qs), offset_of!(BlockIq3S, qh), offset_of!(BlockIq3S, signs));
        let (mut qs_next, mut signs_next) = (qs_at, signs_at);
        let mut scales = [0f32; QK_K / 32];
        let mut max_scale = 0.0f32;
        let mut l = [0i8; 32];
        for ib in 0..QK_K / 32 {
            let xb = &xbl[32 * ib..32 * ib + 32];
            let weight: [f32; 32] = std::array::from_fn(|i| xb[i] * xb[i]);
            let xval: [f32; 32] = std::array::from_fn(|i| if xb[i] >= 0.0 { xb[i] } else { -xb[i] });
            let mut block_signs: [u8; 4] =
                std::array::from_fn(|k| (0..8).filter(|&i| !(xb[8 * k + i] >= 0.0)).fold(0u8, |s, i| s | 1 << i));
            let max = xval[1..].iter().fold(xval[0], |m, &v| if m > v { m } else { v });
            if max == 0.0 {
                scales[ib] = 0.0;
                continue;
            }
            let mut scale = search_scale(lat, &weight, &xval, max, &SearchRule { kmaxq: 8, tries: 9, step: 0.2, start_on_grid: false, redo_all: true }, &mut l);
            if scale < 0.0 {
                scale = -scale;
                for s in block_signs.iter_mut() {
                    *s = !*s;
                }
            }
            for k in 0..8 {
                // Every group is on the grid by now (ggml aborts otherwise; unreachable).
                let g = lat.index(&l[4 * k..]).unwrap_or(0);
                y[qs_next + k] = (g & 255) as u8;
                y[qh_at + ib] |= ((g >> 8) as u8) << k;
            }
            qs_next += 8;
            y[signs_next..signs_next + 4].copy_from_slice(&block_signs);
            signs_next += 4;
            scales[ib] = scale;
            max_scale = if max_scale > scale { max_scale } else { scale };
        }
        if max_scale == 0.0 {
            return;
        }
        let d = max_scale / 31.0;
        y[offset_of!(BlockIq3S, d)..][..2].copy_from_slice(&fp16_bits(d * 1.033));
        let id = 1.0 / d;
        let nibble = |s: f32| nearest_int(0.5 * (id * s - 1.0)).clamp(0, 15) as u8;
        for (i, pair) in scales.chunks_exact(2).enumerate() {
            y[offset_of!(BlockIq3S, scales) + i] = nibble(pair[0]) | nibble(pair[1]) << 4;
        }
    }
}
