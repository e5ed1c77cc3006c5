//! The reference kernels. Each one is the scalar twin of the function of the same name in
//! simd128.rs: the same arithmetic in the same order (reductions keep four lanes, as the SIMD code
//! does), so integer results are identical and float reductions are identical bit for bit.

use super::{Code, ErrorSums, LANE_BLOCK};

/// Min and max over the finite values, and how many values were not finite (NaN, ±Inf).
/// With no finite value, returns (+Inf, −Inf, n).
pub fn min_max_finite(x: &[f32]) -> (f32, f32, usize) {
    let mut lo = [f32::INFINITY; 4];
    let mut hi = [f32::NEG_INFINITY; 4];
    let mut nonfinite = [0usize; 4];
    let body = x.len() / 4 * 4;
    for chunk in x[..body].chunks_exact(4) {
        for l in 0..4 {
            let v = chunk[l];
            if v.is_finite() {
                // pmin/pmax semantics of wasm: b < a ? b : a.
                if v < lo[l] {
                    lo[l] = v;
                }
                if hi[l] < v {
                    hi[l] = v;
                }
            } else {
                nonfinite[l] += 1;
            }
        }
    }
    min_max_tail(reduce_min_max(lo, hi, nonfinite), &x[body..])
}

/// Continues a (lo, hi, non-finite count) fold over the elements after the last whole vector.
pub(crate) fn min_max_tail((mut lo, mut hi, mut count): (f32, f32, usize), tail: &[f32]) -> (f32, f32, usize) {
    for &v in tail {
        if v.is_finite() {
            if v < lo {
                lo = v;
            }
            if hi < v {
                hi = v;
            }
        } else {
            count += 1;
        }
    }
    (lo, hi, count)
}

/// Folds four lanes in the order the SIMD code does: lanes (0,2),(1,3) then (0,1).
pub(crate) fn reduce_min_max(lo: [f32; 4], hi: [f32; 4], n: [usize; 4]) -> (f32, f32, usize) {
    let pmin = |a: f32, b: f32| if b < a { b } else { a };
    let pmax = |a: f32, b: f32| if a < b { b } else { a };
    let lo2 = [pmin(lo[0], lo[2]), pmin(lo[1], lo[3])];
    let hi2 = [pmax(hi[0], hi[2]), pmax(hi[1], hi[3])];
    (pmin(lo2[0], lo2[1]), pmax(hi2[0], hi2[1]), n.iter().sum())
}

/// One element: q = clamp(round_half_even(x / scale), qmin − zp, qmax − zp) + zp.
/// NaN lands on the zero point; ±Inf clamps. Returns the code and whether a finite x was clipped.
#[inline(always)]
pub(crate) fn quantize_one(v: f32, scale: f32, zero_point: i32, lo: f32, hi: f32) -> (i32, bool) {
    let r = (v / scale).round_ties_even();
    let clipped = v.is_finite() && (r < lo || r > hi);
    let c = if r < lo { lo } else if hi < r { hi } else { r };
    // `as i32` saturates and maps NaN to 0, like i32x4.trunc_sat_f32x4_s.
    (c as i32 + zero_point, clipped)
}

/// Quantizes `x` into `out` with one scale and zero point. Returns how many finite values were clipped.
pub fn quantize<C: Code>(x: &[f32], scale: f32, zero_point: i32, qmin: i32, qmax: i32, out: &mut [C]) -> usize {
    assert_eq!(x.len(), out.len());
    let lo = (qmin - zero_point) as f32;
    let hi = (qmax - zero_point) as f32;
    let mut clipped = 0;
    for (o, &v) in out.iter_mut().zip(x) {
        let (q, c) = quantize_one(v, scale, zero_point, lo, hi);
        *o = C::narrow(q);
        clipped += c as usize;
    }
    clipped
}

/// x̂ = (q − zp) · scale: integer subtraction, then one f32 multiply.
pub fn dequantize<C: Code>(q: &[C], scale: f32, zero_point: i32, out: &mut [f32]) {
    assert_eq!(q.len(), out.len());
    for (o, &c) in out.iter_mut().zip(q) {
        *o = (c.widen() - zero_point) as f32 * scale;
    }
}

/// Sums for the error metrics between x and its dequantized codes, over the finite x only.
pub fn error_sums<C: Code>(x: &[f32], q: &[C], scale: f32, zero_point: i32) -> ErrorSums {
    assert_eq!(x.len(), q.len());
    error_sums_by(x, |i| (q[i].widen() - zero_point) as f32 * scale)
}

/// Error sums between x and an already reconstructed x̂ (the FP16 / BF16 rows), over the finite x.
/// An x̂ that overflowed to ±Inf (FP16 above 65504) makes the error infinite, as it is.
pub fn error_sums_f32(x: &[f32], y: &[f32]) -> ErrorSums {
    assert_eq!(x.len(), y.len());
    error_sums_by(x, |i| y[i])
}

/// Four f32 lanes accumulate blocks of LANE_BLOCK elements (element i in lane i % 4), each block is
/// folded and added in f64; the tail past the last whole block is summed alone and merged.
fn error_sums_by(x: &[f32], y_at: impl Fn(usize) -> f32) -> ErrorSums {
    let body = x.len() / LANE_BLOCK * LANE_BLOCK;
    let mut total = ErrorSums::default();
    let mut max_lane = [0.0f32; 4];
    for block in (0..body).step_by(LANE_BLOCK) {
        let (mut xx, mut yy, mut xy, mut ee) = ([0.0f32; 4], [0.0f32; 4], [0.0f32; 4], [0.0f32; 4]);
        for i in (block..block + LANE_BLOCK).step_by(4) {
            for l in 0..4 {
                let finite = x[i + l].is_finite();
                let v = if finite { x[i + l] } else { 0.0 };
                let y = if finite { y_at(i + l) } else { 0.0 };
                let e = v - y;
                xx[l] += v * v;
                yy[l] += y * y;
                xy[l] += v * y;
                ee[l] += e * e;
                if max_lane[l] < e.abs() {
                    max_lane[l] = e.abs();
                }
            }
        }
        total.add_lanes(xx, yy, xy, ee);
    }
    total.max_abs_err = fold_max(max_lane);
    if body < x.len() {
        total.merge(&error_sums_tail(&x[body..], |i| y_at(body + i)));
    }
    total
}

/// The elements after the last whole block, one by one in f64.
pub(crate) fn error_sums_tail(x: &[f32], y_at: impl Fn(usize) -> f32) -> ErrorSums {
    let mut t = ErrorSums::default();
    for (i, &v) in x.iter().enumerate() {
        if !v.is_finite() {
            continue;
        }
        let y = y_at(i);
        let e = v - y;
        t.sum_xx += (v * v) as f64;
        t.sum_yy += (y * y) as f64;
        t.sum_xy += (v * y) as f64;
        t.sum_ee += (e * e) as f64;
        if t.max_abs_err < e.abs() {
            t.max_abs_err = e.abs();
        }
    }
    t
}

/// Max over four lanes in the order the SIMD code folds them.
pub(crate) fn fold_max(m: [f32; 4]) -> f32 {
    let pmax = |a: f32, b: f32| if a < b { b } else { a };
    pmax(pmax(m[0], m[2]), pmax(m[1], m[3]))
}

// ---------------------------------------------------------------------------------------------
// Matrix multiplication (the layouts are in gemm.rs). The twins read the packed operands through
// their `at` accessors, element by element: the reference is the definition, not a copy of the tiling.

use super::gemm::{I8Output, PackedActs, PackedF32, PackedI4, PackedI8};

/// Y[r, j] = Σ_k x[r, k] · W[j, k] + bias[j]; the sum runs k = 0, 1, … in f32 (the SIMD twin keeps
/// one lane per column and adds in the same order, so the results are identical bit for bit).
pub fn gemm_f32_packed(x: &[f32], m: usize, w: &PackedF32, bias: &[f32], out: &mut [f32]) {
    let (n, k) = (w.n, w.k);
    for r in 0..m {
        for j in 0..n {
            let mut acc = 0.0f32;
            for kk in 0..k {
                acc += x[r * k + kk] * w.at(j, kk);
            }
            out[r * n + j] = acc + bias[j];
        }
    }
}

/// Σ(a−za)(w−zw) from the raw Σaw: acc − zw·Σa − za·(Σw − k·zw), wrapping like the SIMD lanes.
#[inline(always)]
pub(crate) fn zero_point_correction(acc: i32, a: &PackedActs, w: &PackedI8, r: usize, j: usize) -> i32 {
    acc.wrapping_sub(w.zero_points[j].wrapping_mul(a.row_sums[r])).wrapping_sub(a.zero_points[r].wrapping_mul(w.col_terms[j]))
}

/// The INT8 GEMM: i32 accumulation of a·w, zero-point correction, then the chosen output stage.
pub fn gemm_i8_packed(a: &PackedActs, w: &PackedI8, out: I8Output) {
    let (m, n, k) = (a.m, w.n, w.k);
    let mut out = out;
    for r in 0..m {
        for j in 0..n {
            let mut acc = 0i32;
            for kk in 0..k {
                acc = acc.wrapping_add(a.at(r, kk) as i32 * w.at(j, kk) as i32);
            }
            let c = zero_point_correction(acc, a, w, r, j);
            match &mut out {
                I8Output::I32(o) => o[r * n + j] = c,
                I8Output::F32 { out, bias } => out[r * n + j] = c as f32 * (a.scales[r] * w.scales[j]) + bias[j],
                I8Output::I8 { out, requant } => out[r * n + j] = requant.apply(c, j),
            }
        }
    }
}

/// The INT4 GEMM: per group an exact i32 sum Σ a·(u − z), then in f32 acc += sum · scale, group by
/// group in order; finally y = acc · sa[row] + bias.
pub fn gemm_i4_packed(a: &PackedActs, w: &PackedI4, bias: &[f32], out: &mut [f32]) {
    let (m, n, k, g_size) = (a.m, w.n, w.k, w.group);
    let groups = w.groups();
    for r in 0..m {
        for j in 0..n {
            let mut acc = 0.0f32;
            for g in 0..groups {
                let mut s = 0i32;
                for kk in g * g_size..((g + 1) * g_size).min(k) {
                    s = s.wrapping_add(a.at(r, kk) as i32 * w.at(j, kk) as i32);
                }
                let c = s.wrapping_sub(w.zero_point(j, g) as i32 * a.group_sums[r * groups + g]);
                acc += c as f32 * w.scale(j, g);
            }
            out[r * n + j] = acc * a.scales[r] + bias[j];
        }
    }
}

