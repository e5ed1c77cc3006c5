//! IQ1_M (1.75 bits per weight): a super-block of 256 in eight groups of 32, with no separate block
//! scale: the fp16 d is spread over the top nibbles of the four u16 scale words. Each 8 values take an
//! 11-bit index into iq1s_grid (low 8 bits in qs, high 3 in a qh nibble whose 4th bit picks the sign
//! of δ = ±IQ1M_DELTA); each 16 values a 3-bit scale s; y = d·(2s + 1)·(grid[j] + δ).

use super::iq1_s::{put_shifted, IQ1S_DELTA};
use super::iq_grids::IQ1S_GRID;
use super::iq_lattice::Lattice;
use super::k_quants::{nearest_int, QK_K};
use super::{fp16_bits, GgmlBlock, GgmlQuantize};
use half::f16;
use std::cmp::Ordering;
use std::mem::{offset_of, size_of};
use std::sync::OnceLock;

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

/// ggml-quants.c GROUP_MAX_EPS_IQ1_M: a group of 16 whose largest |x| is below this is all zero.
const GROUP_MAX_EPS_IQ1_M: f32 = 1e-7;

/// The values of levels 0, 1, 2 (grid −1, 0, 1) with the shift +δ and −δ (quantize_row_iq1_m_impl's
/// x_p and x_m), and the qh bits of each of the 4 shift patterns (first 8, second 8: ++, +−, −+, −−).
const X_P: [f32; 3] = [-1.0 + IQ1S_DELTA, IQ1S_DELTA, 1.0 + IQ1S_DELTA];
const X_M: [f32; 3] = [-1.0 - IQ1S_DELTA, -IQ1S_DELTA, 1.0 - IQ1S_DELTA];
const MASKS: [u8; 4] = [0x00, 0x80, 0x08, 0x88];

/// The shifted values of group k (0: first 8, 1: second 8) under shift pattern `shift`.
fn shifted(shift: usize, k: usize) -> &'static [f32; 3] {
    let minus = if k == 0 { shift >= 2 } else { shift % 2 == 1 };
    if minus {
        &X_M
    } else {
        &X_P
    }
}

impl GgmlQuantize for IQ1_M {
    /// quantize_iq1_m(…, quant_weights NULL) as llama.cpp now has it (and libggml-base.so runs): per 16
    /// values, weights x², the exact search over the two boundaries that split the sorted values into
    /// levels −1, 0, 1 and the 4 shift patterns (the best (Σw·q·x)² / Σw·q², on prefix sums per half);
    /// each 8 snapped onto iq1s_grid (iq1_find_best_neighbour2 over the points at the 3 nearest
    /// distances) and the scale refitted; 3-bit scales against max/15, then d refitted over the block
    /// and stored ·1.1125 in the scale words' top nibbles. A group below GROUP_MAX_EPS_IQ1_M (or with
    /// no split that fits) is skipped with shift 0.
    fn quantize_block_ref(xbl: &[f32], y: &mut [u8]) {
        static LATTICE: OnceLock<Lattice<8>> = OnceLock::new();
        // iq1s_grid's int8 values −1, 0, 1 are the quantizer's levels 0, 1, 2 (kgrid_1bit_2048).
        let lat = LATTICE.get_or_init(|| Lattice::new(IQ1S_GRID.iter().map(|g| g.to_le_bytes().map(|b| (b as i8 + 1) as u8)).collect(), 2, 2, 3));
        y.fill(0);
        let (qs_at, qh_at, sc_at) = (offset_of!(BlockIq1M, qs), offset_of!(BlockIq1M, qh), offset_of!(BlockIq1M, scales));
        let mut scales = [0f32; QK_K / 16];
        let mut shifts = [0usize; QK_K / 16];
        let mut max_scale = 0.0f32;
        for ib in 0..QK_K / 16 {
            let xb = &xbl[16 * ib..16 * ib + 16];
            let weight: [f32; 16] = std::array::from_fn(|i| xb[i] * xb[i]);
            let max = xb[1..].iter().fold(xb[0].abs(), |m, v| if m > v.abs() { m } else { v.abs() });
            if max < GROUP_MAX_EPS_IQ1_M {
                scales[ib] = 0.0;
                continue;
            }
            // Ascending, equal values in their order (glibc's qsort is a merge sort here); any order
            // once a NaN is in (ggml aborts on those).
            let mut idx: [usize; 16] = std::array::from_fn(|j| j);
            if xb.iter().any(|v| v.is_nan()) {
                idx.sort_by(|&a, &b| xb[a].total_cmp(&xb[b]));
            } else {
                idx.sort_by(|&a, &b| if xb[a] < xb[b] { Ordering::Less } else if xb[a] > xb[b] { Ordering::Greater } else { Ordering::Equal });
            }
            // llama.cpp's split search on prefix sums per half (each half has its own shift): with
            // v0 − v1 = v1 − v2 = −1 the sum for boundaries (i1, i2) is T·v2 − px[i1] − px[i2].
            let (mut px, mut pw) = ([[0f32; 17]; 2], [[0f32; 17]; 2]);
            for (j, &i) in idx.iter().enumerate() {
                let h = i / 8;
                px[h][j + 1] = px[h][j] + weight[i] * xb[i];
                px[1 - h][j + 1] = px[1 - h][j];
                pw[h][j + 1] = pw[h][j] + weight[i];
                pw[1 - h][j + 1] = pw[1 - h][j];
            }
            let (txs, tws) = ([px[0][16], px[1][16]], [pw[0][16], pw[1][16]]);
            let (p2, m2) = (X_P[2], X_M[2]);
            let (cp1, cp2) = (X_P[0] * X_P[0] - X_P[1] * X_P[1], X_P[1] * X_P[1] - X_P[2] * X_P[2]);
            let (cm1, cm2) = (X_M[0] * X_M[0] - X_M[1] * X_M[1], X_M[1] * X_M[1] - X_M[2] * X_M[2]);
            let (mut best_score, mut scale) = (-f32::MAX, max);
            let mut best = None;
            for i1 in 0..=16 {
                for i2 in i1..=16 {
                    let (mut qx_p, mut qx_m, mut q2_p, mut q2_m) = ([0f32; 2], [0f32; 2], [0f32; 2], [0f32; 2]);
                    for h in 0..2 {
                        let sx = px[h][i1] + px[h][i2];
                        qx_p[h] = txs[h] * p2 - sx;
                        qx_m[h] = txs[h] * m2 - sx;
                        q2_p[h] = tws[h] * p2 * p2 + pw[h][i1] * cp1 + pw[h][i2] * cp2;
                        q2_m[h] = tws[h] * m2 * m2 + pw[h][i1] * cm1 + pw[h][i2] * cm2;
                    }
                    let sumqx = [qx_p[0] + qx_p[1], qx_p[0] + qx_m[1], qx_m[0] + qx_p[1], qx_m[0] + qx_m[1]];
                    let sumq2 = [q2_p[0] + q2_p[1], q2_p[0] + q2_m[1], q2_m[0] + q2_p[1], q2_m[0] + q2_m[1]];
                    for k in 0..4 {
                        if sumq2[k] > 0.0 && sumqx[k] * sumqx[k] > best_score * sumq2[k] {
                            scale = sumqx[k] / sumq2[k];
                            best_score = scale * sumqx[k];
                            best = Some((i1, i2, k));
                        }
                    }
                }
            }
            let Some((besti1, besti2, mut best_k)) = best else {
                scales[ib] = 0.0;
                continue;
            };
            let mut l = [0i8; 16];
            for (j, &i) in idx.iter().enumerate() {
                l[i] = if j < besti1 { 0 } else if j < besti2 { 1 } else { 2 };
            }
            if scale < 0.0 {
                for v in l.iter_mut() {
                    *v = 2 - *v;
                }
                scale = -scale;
                best_k = 3 - best_k;
            }
            let mut index = [0u16; 2];
            let mut all_on_grid = true;
            for k in 0..2 {
                let xx = shifted(best_k, k);
                let lk = &mut l[8 * k..8 * k + 8];
                index[k] = match lat.index(lk) {
                    Some(g) => g,
                    None => {
                        all_on_grid = false;
                        best_neighbour2(lat, lk, &xb[8 * k..8 * k + 8], &weight[8 * k..8 * k + 8], scale, xx)
                    }
                };
            }
            if !all_on_grid {
                let (mut sumqx, mut sumq2) = (0.0f32, 0.0f32);
                for k in 0..2 {
                    let xx = shifted(best_k, k);
                    for j in 0..8 {
                        let (w, q) = (weight[8 * k + j], xx[l[8 * k + j] as usize]);
                        sumqx += w * q * xb[8 * k + j];
                        sumq2 += w * q * q;
                    }
                }
                if sumqx > 0.0 && sumq2 > 0.0 {
                    scale = sumqx / sumq2;
                }
            }
            y[qs_at + 2 * ib] = (index[0] & 255) as u8;
            y[qs_at + 2 * ib + 1] = (index[1] & 255) as u8;
            y[qh_at + ib] = (index[0] >> 8) as u8 | ((index[1] >> 8) as u8) << 4;
            scales[ib] = scale;
            shifts[ib] = best_k;
            max_scale = if max_scale > scale { max_scale } else { scale };
        }
        if max_scale == 0.0 {
            return;
        }
        let mut sc = [0u16; 4];
        let mut d = max_scale / 15.0;
        let id = 1.0 / d;
        let (mut sumqx, mut sumq2) = (0.0f32, 0.0f32);
        for ib in 0..QK_K / 16 {
            let l = nearest_int(0.5 * (id * scales[ib] - 1.0)).clamp(0, 7);
            sc[ib / 4] |= (l as u16) << (3 * (ib % 4));
            y[qh_at + ib] |= MASKS[shifts[ib]];
            let qh = y[qh_at + ib] as usize;
            let xb = &xbl[16 * ib..16 * ib + 16];
            for k in 0..2 {
                let xx = shifted(shifts[ib], k);
                let g = y[qs_at + 2 * ib + k] as usize + ((qh << (8 - 4 * k)) & 0x700);
                for (j, b) in IQ1S_GRID[g].to_le_bytes().into_iter().enumerate() {
                    let x = xb[8 * k + j];
                    let (w, q) = (x * x, xx[(b as i8 + 1) as usize] * (2 * l + 1) as f32);
                    sumqx += w * q * x;
                    sumq2 += w * q * q;
                }
            }
        }
        if sumq2 > 0.0 {
            d = sumqx / sumq2;
        }
        let s = u16::from_le_bytes(fp16_bits(d * 1.1125));
        sc[0] |= (s & 0x000F) << 12;
        sc[1] |= (s & 0x00F0) << 8;
        sc[2] |= (s & 0x0F00) << 4;
        sc[3] |= s & 0xF000;
        for (i, w) in sc.iter().enumerate() {
            y[sc_at + 2 * i..sc_at + 2 * i + 2].copy_from_slice(&w.to_le_bytes());
        }
    }
}

/// iq1_find_best_neighbour2: among the neighbours of the code of `l`, the point of minimal
/// Σ w·(scale·xx[level] − x)² (the first on ties); its levels into `l`, its index returned.
fn best_neighbour2(lat: &Lattice<8>, l: &mut [i8], xb: &[f32], w: &[f32], scale: f32, xx: &[f32; 3]) -> u16 {
    let mut best = (f32::MAX, None);
    for &j in lat.neighbours_of(l) {
        let levels = lat.levels_of(j);
        let mut d2 = 0.0f32;
        for i in 0..8 {
            let diff = scale * xx[levels[i] as usize] - xb[i];
            d2 += w[i] * diff * diff;
        }
        if d2 < best.0 {
            best = (d2, Some(j));
        }
    }
    // No neighbour scores below FLT_MAX only with NaN input (ggml aborts there): its first neighbour.
    let g = best.1.unwrap_or(lat.neighbours_of(l)[0]);
    for (v, &p) in l.iter_mut().zip(lat.levels_of(g)) {
        *v = p as i8;
    }
    g
}
