//! IQ3_XXS (3.0625 bits per weight): a super-block of 256 in eight groups of 32. Each 4 values take a
//! byte index into iq3xxs_grid (4 magnitudes from {4, 12, …, 62}); each group a u32 of four 7-bit
//! sign indices (ksigns_iq2xs) and a 4-bit scale s in its top bits; y = d·(0.5 + s)·0.5 · grid[j] · ±1.

use super::iq2_xxs::put_signed;
use super::iq_grids::{IQ3XXS_GRID, KSIGNS_IQ2XS};
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

/// What iq3xs_init_impl(256) builds for the quantizer: each grid point as 4 levels l (the value is
/// 2l + 1, l in 0..8), the map from a point's 12-bit code Σ l_i·8^i to its grid index, and for every
/// code off the grid the grid points at its 2 smallest squared distances.
struct Lattice {
    levels: [[u8; 4]; 256],
    /// Grid index of each code, or None off the grid.
    map: Vec<Option<u8>>,
    /// For each code off the grid, its neighbours (grid indices, nearest first, index order on ties).
    neighbours: Vec<Vec<u8>>,
}

fn lattice() -> &'static Lattice {
    static LATTICE: OnceLock<Lattice> = OnceLock::new();
    LATTICE.get_or_init(|| {
        // iq3xxs_grid's bytes are 4, 12, …, 52, 62 for l = 0..7 (the dot-product grid; the quantizer's
        // kgrid_256 is the same points with value 2l + 1), so l = (byte − 4) / 8.
        let levels: [[u8; 4]; 256] = std::array::from_fn(|k| IQ3XXS_GRID[k].to_le_bytes().map(|b| (b - 4) / 8));
        let code = |l: &[u8; 4]| l.iter().enumerate().map(|(i, &v)| (v as usize) << (3 * i)).sum::<usize>();
        let mut map = vec![None; 4096];
        for (k, l) in levels.iter().enumerate() {
            map[code(l)] = Some(k as u8);
        }
        let neighbours = (0..4096)
            .map(|u| {
                if map[u].is_some() {
                    return Vec::new();
                }
                let pos: [i32; 4] = std::array::from_fn(|i| 2 * ((u >> (3 * i)) & 7) as i32 + 1);
                let mut dist: Vec<(i32, usize)> = levels
                    .iter()
                    .enumerate()
                    .map(|(j, l)| ((0..4).map(|i| (2 * l[i] as i32 + 1 - pos[i]).pow(2)).sum(), j))
                    .collect();
                dist.sort_unstable(); // iq3_compare_func: distance, then index
                // Every point at the 2 smallest distances (nwant = 2 for the 256-point grid).
                let second = dist.iter().map(|d| d.0).find(|&d| d > dist[0].0);
                dist.iter().take_while(|d| Some(d.0) <= second || second.is_none()).map(|d| d.1 as u8).collect()
            })
            .collect();
        Lattice { levels, map, neighbours }
    })
}

/// iq3_find_best_neighbour: the neighbour of minimal Σ w·(scale·q − x)² (the first on ties); its levels
/// into `l`, its grid index returned.
fn best_neighbour(lat: &Lattice, neighbours: &[u8], xval: &[f32], w: &[f32], scale: f32, l: &mut [i8]) -> u8 {
    let mut best_d2 = f32::MAX;
    let mut best = neighbours[0];
    for &j in neighbours {
        let mut d2 = 0.0f32;
        for i in 0..4 {
            let q = (2 * lat.levels[j as usize][i] + 1) as f32;
            let diff = scale * q - xval[i];
            d2 += w[i] * diff * diff;
        }
        if d2 < best_d2 {
            best_d2 = d2;
            best = j;
        }
    }
    for i in 0..4 {
        l[i] = lat.levels[best as usize][i] as i8;
    }
    best
}

/// The 12-bit code of 4 levels.
fn code(l: &[i8]) -> usize {
    (0..4).map(|i| (l[i] as usize) << (3 * i)).sum()
}

/// Levels of 4 values at inverse scale `id`: nearest_int(0.5·(id·x − 1)) clamped to 0..7.
fn round_levels(xval: &[f32], id: f32, l: &mut [i8]) {
    for i in 0..4 {
        l[i] = nearest_int(0.5 * (id * xval[i] - 1.0)).clamp(0, 7) as i8;
    }
}

/// Σw·x·q and Σw·q² with q = 2l + 1.
fn fit(weight: &[f32], xval: &[f32], l: &[i8]) -> (f32, f32) {
    let (mut sumqx, mut sumq2) = (0.0f32, 0.0f32);
    for i in 0..32 {
        let (w, q) = (weight[i], (2 * l[i] as i32 + 1) as f32);
        sumqx += w * xval[i] * q;
        sumq2 += w * q * q;
    }
    (sumqx, sumq2)
}

impl GgmlQuantize for IQ3_XXS {
    /// quantize_row_iq3_xxs_ref = quantize_row_iq3_xxs_impl(256, …, quant_weights NULL): weights x²;
    /// per 8 values the signs, made even by flipping the one of least w·x²; per 32 a scale from 31
    /// tries (15 + 0.2·is)/max, each point rounded onto the grid or to its best neighbour; off-grid
    /// points then redone at the best scale; d = max scale/31 stored ·1.0125; 4-bit scales
    /// nearest_int(0.5·(s/d − 1)). ggml keeps its level buffer across groups and blocks; a group none
    /// of whose 31 scales fits (Σw·x·q squared underflows to 0, only for max|x| near 1e-8) would keep
    /// the previous group's levels there, where this per-block port starts from level 0.
    fn quantize_block_ref(xbl: &[f32], y: &mut [u8]) {
        const KMAXQ: i32 = 8;
        let lat = lattice();
        let mut q3 = [0u8; QK_K / 4];
        let mut scales_and_signs = [0u32; QK_K / 32];
        let mut scales = [0f32; QK_K / 32];
        let mut max_scale = 0.0f32;
        let (mut l, mut laux) = ([0i8; 32], [0i8; 32]);
        let (mut on_grid, mut on_grid_aux) = ([false; 8], [false; 8]);
        for ib in 0..QK_K / 32 {
            let xb = &xbl[32 * ib..32 * ib + 32];
            let weight: [f32; 32] = std::array::from_fn(|i| xb[i] * xb[i]);
            let waux: [f32; 32] = std::array::from_fn(|i| weight[i].sqrt());
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
            let mut best = 0.0f32;
            let mut scale = max / (2 * KMAXQ - 1) as f32;
            for is in -15..=15 {
                let id = ((2 * KMAXQ - 1) as f32 + is as f32 * 0.2) / max;
                let this_scale = 1.0 / id;
                for k in 0..8 {
                    round_levels(&xval[4 * k..], id, &mut laux[4 * k..]);
                    let u = code(&laux[4 * k..]);
                    on_grid_aux[k] = lat.map[u].is_some();
                    if !on_grid_aux[k] {
                        best_neighbour(lat, &lat.neighbours[u], &xval[4 * k..], &waux[4 * k..], this_scale, &mut laux[4 * k..]);
                    }
                }
                let (sumqx, sumq2) = fit(&weight, &xval, &laux);
                if sumq2 > 0.0 && sumqx * sumqx > best * sumq2 {
                    scale = sumqx / sumq2;
                    best = scale * sumqx;
                    l = laux;
                    on_grid = on_grid_aux;
                }
            }
            if on_grid.iter().any(|g| !g) && scale > 0.0 {
                let id = 1.0 / scale;
                for k in 0..8 {
                    if on_grid[k] {
                        continue;
                    }
                    let mut lk = [0i8; 4];
                    round_levels(&xval[4 * k..], id, &mut lk);
                    let u = code(&lk);
                    let grid_index = match lat.map[u] {
                        Some(g) => g,
                        None => best_neighbour(lat, &lat.neighbours[u], &xval[4 * k..], &waux[4 * k..], scale, &mut l[4 * k..]),
                    };
                    for i in 0..4 {
                        l[4 * k + i] = lat.levels[grid_index as usize][i] as i8;
                    }
                }
                let (sumqx, sumq2) = fit(&weight, &xval, &l);
                if sumq2 > 0.0 {
                    scale = sumqx / sumq2;
                }
            }
            if scale < 0.0 {
                scale = -scale;
                for s in block_signs.iter_mut() {
                    *s = !*s & 127;
                }
            }
            for k in 0..8 {
                // Every point is on the grid by now (ggml aborts otherwise; unreachable here).
                q3[8 * ib + k] = lat.map[code(&l[4 * k..])].unwrap_or(0);
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
