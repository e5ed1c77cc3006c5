//! Shared by tests/kernels.rs (native) and tests/wasm_kernels.rs (Chromium) for the 4-bit LUT GEMV
//! (kernels::lut4): weights with spread-out block scales, and the error bound the f32 kernel keeps
//! against y computed in f64 from the dequantized W.
#![allow(dead_code)]

use super::gemm::SeqRng;
use quant_playground::kernels::lut4::{PackedLut4, UNIT};

/// Shapes with k a multiple of 32 and 64, and not (an MX row's short last block; NF4 blocks of the
/// flattened tensor crossing rows), k below one unit, one row, one column.
pub const SHAPES: [(usize, usize); 9] = [(1, 1), (3, 7), (4, 32), (5, 64), (2, 100), (7, 33), (6, 160), (9, 257), (16, 512)];

/// W [n, k]: uniform values times a per-row magnitude from 2^−8 to 2^4, a few exact zeros and blocks of zeros.
pub fn weights(rng: &mut SeqRng, n: usize, k: usize) -> Vec<f32> {
    let mut w = Vec::with_capacity(n * k);
    for _ in 0..n {
        let mag = 2f32.powi(rng.below(13) as i32 - 8);
        w.extend((0..k).map(|_| if rng.below(17) == 0 { 0.0 } else { rng.f32() * mag }));
    }
    if n * k >= 64 {
        w[..32].fill(0.0);
    }
    w
}

/// Depth of the f32 operation chain behind one output of row j (lut4.rs's order): a product, the adds
/// within a half of each unit, lo + hi, × scale, the adds onto the row's lanes, the fold (4).
pub fn chain_depth(w: &PackedLut4, j: usize) -> usize {
    let segs: Vec<_> = w.segments(j).collect();
    let units = segs.iter().map(|s| s.len.div_ceil(UNIT)).max().unwrap_or(1);
    1 + (units - 1) + 1 + 1 + segs.len() + 4
}

/// |y − y64| ≤ (depth + 2) · 2^−24 · Σ|dq(W)·x| (Higham's γ_n bound for a dot product in f32, one more
/// rounding for NF4's dequantized value level × absmax and one for y64's own f64 sum; no underflow in
/// these inputs). Returns the largest |y − y64| / bound.
pub fn worst_against_f64(w: &PackedLut4, y: &[f32], y64: &[f64], sum_abs: &[f64]) -> f64 {
    let mut worst = 0f64;
    for j in 0..w.n {
        let bound = (chain_depth(w, j) + 2) as f64 * 2f64.powi(-24) * sum_abs[j];
        let err = (y[j] as f64 - y64[j]).abs();
        if err > 0.0 {
            worst = worst.max(if bound > 0.0 { err / bound } else { f64::INFINITY });
        }
    }
    worst
}

/// y64 = dq(W) · x and Σ|dq(W)·x| per row, in f64, from W's dequantized values [n, k].
pub fn f64_reference(dq: &[f32], x: &[f32], n: usize, k: usize) -> (Vec<f64>, Vec<f64>) {
    (0..n)
        .map(|j| {
            let row = &dq[j * k..(j + 1) * k];
            let y: f64 = row.iter().zip(x).map(|(&a, &b)| a as f64 * b as f64).sum();
            let s: f64 = row.iter().zip(x).map(|(&a, &b)| (a as f64 * b as f64).abs()).sum();
            (y, s)
        })
        .unzip()
}

/// Bits of each output, every NaN as one pattern (wasm leaves NaN payloads to the engine).
pub fn canonical_bits(y: &[f32]) -> Vec<u32> {
    y.iter().map(|v| if v.is_nan() { 0x7FC0_0000 } else { v.to_bits() }).collect()
}
