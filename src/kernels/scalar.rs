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

/// The sums of one run: blocks of LANE_BLOCK elements from its start (the last may be shorter),
/// four f32 lanes each (element i in lane i % 4, missing lanes add nothing), each block folded and
/// added in f64 in order.
fn error_sums_by(x: &[f32], y_at: impl Fn(usize) -> f32) -> ErrorSums {
    let mut total = ErrorSums::default();
    error_blocks_at(&mut total, x, |i| (y_at(i), false));
    total
}

// ---------------------------------------------------------------------------------------------
// Fused measuring passes: x is read once, its reconstruction x̂ made in the lanes and folded into
// the error sums at once (no codes, no x̂ stored). Each adds the blocks of x onto `run`, the sums of
// the run so far, in the order of `error_sums_by`: x starts on a block boundary of the run and is
// whole LANE_BLOCK blocks but for the last, which is shorter only where the run ends.
// `all_finite` says the caller knows x has no NaN or ±Inf (the SIMD twin then skips its masks); the
// result is the same either way, so the reference ignores it.

/// x̂ of the integer round trip: clamp(round_half_even(x / scale), lo, hi) · scale, with lo, hi the
/// code range minus the zero point. Equals (quantize − zp) · scale of `quantize` / `dequantize`.
#[inline(always)]
pub(crate) fn quantize_round_trip(v: f32, scale: f32, lo: f32, hi: f32) -> (f32, bool) {
    let r = (v / scale).round_ties_even();
    let c = if r < lo { lo } else if hi < r { hi } else { r };
    (c * scale, v.is_finite() && (r < lo || r > hi))
}

/// f32 → bf16 → f32, round to nearest even (bf16::from_f32 for every non-NaN value).
#[inline(always)]
pub fn bf16_round_trip(v: f32) -> f32 {
    let b = v.to_bits();
    f32::from_bits(b.wrapping_add(0x7fff + ((b >> 16) & 1)) & 0xffff_0000)
}

/// f32 → f16 → f32, round to nearest even (f16::from_f32 for every non-NaN value): adding and
/// removing C = 1.5 · 2^(e + 13), whose ulp is the f16 quantum 2^(e − 10) of x's binade e (at least
/// 2^−24, the subnormal quantum), rounds x to that quantum; beyond 65504 lies ±Inf.
#[inline(always)]
pub fn f16_round_trip(v: f32) -> f32 {
    let e = ((v.to_bits() >> 23) & 0xff).clamp(127 - 14, 127 + 16);
    let c = f32::from_bits(((e + 13) << 23) | 0x40_0000);
    // The sign bit put back: a tiny negative x rounds to −0, as f16 keeps it.
    let y = f32::from_bits(((v + c) - c).to_bits() | (v.to_bits() & 0x8000_0000));
    if y.abs() > 65504.0 {
        f32::INFINITY.copysign(v)
    } else {
        y
    }
}

/// Adds the blocks of x against x̂ = y_of(x) onto `run`; returns how many elements `y_of` flagged.
#[inline(always)]
fn error_blocks_by(run: &mut ErrorSums, x: &[f32], y_of: impl Fn(f32) -> (f32, bool)) -> usize {
    error_blocks_at(run, x, |i| y_of(x[i]))
}

/// The block loop: blocks of LANE_BLOCK elements of x (the last may be shorter) against
/// x̂[i] = y_at(i), each folded and added onto `run` in f64; the max over every block. Non-finite x
/// add nothing. Returns how many elements `y_at` flagged.
#[inline(always)]
fn error_blocks_at(run: &mut ErrorSums, x: &[f32], y_at: impl Fn(usize) -> (f32, bool)) -> usize {
    let mut max_lane = [0.0f32; 4];
    let mut flagged = 0;
    for block in (0..x.len()).step_by(LANE_BLOCK) {
        let (mut xx, mut yy, mut xy, mut ee) = ([0.0f32; 4], [0.0f32; 4], [0.0f32; 4], [0.0f32; 4]);
        for i in block..(block + LANE_BLOCK).min(x.len()) {
            let l = i % 4;
            let finite = x[i].is_finite();
            let (y, f) = y_at(i);
            flagged += f as usize;
            let v = if finite { x[i] } else { 0.0 };
            let y = if finite { y } else { 0.0 };
            let e = v - y;
            xx[l] += v * v;
            yy[l] += y * y;
            xy[l] += v * y;
            ee[l] += e * e;
            if max_lane[l] < e.abs() {
                max_lane[l] = e.abs();
            }
        }
        run.add_lanes(xx, yy, xy, ee);
    }
    let m = fold_max(max_lane);
    if run.max_abs_err < m {
        run.max_abs_err = m;
    }
    flagged
}

/// The integer round trip's error blocks onto `run`; returns the clipped count.
pub fn quantize_error_blocks(run: &mut ErrorSums, x: &[f32], scale: f32, lo: f32, hi: f32, _all_finite: bool) -> usize {
    error_blocks_by(run, x, |v| quantize_round_trip(v, scale, lo, hi))
}

/// Whole runs of `run_len` elements back to back (a per-group chunk's groups), run j quantized with
/// `params(j)` = (scale, lo, hi): each measured from zero sums as `quantize_error_blocks` does and
/// merged onto `total` in order. Returns the clipped count.
pub fn quantize_error_runs(total: &mut ErrorSums, x: &[f32], run_len: usize, params: impl Fn(usize) -> (f32, f32, f32), all_finite: bool) -> usize {
    runs_merged(total, x, run_len, params, |run, xr, (scale, lo, hi)| quantize_error_blocks(run, xr, scale, lo, hi, all_finite))
}

/// Each run of `x` (`run_len` each) measured by `measure` onto fresh sums, merged onto `total` in order.
#[inline(always)]
pub(crate) fn runs_merged<P>(
    total: &mut ErrorSums,
    x: &[f32],
    run_len: usize,
    params: impl Fn(usize) -> P,
    measure: impl Fn(&mut ErrorSums, &[f32], P) -> usize,
) -> usize {
    assert!(run_len > 0 && x.len() % run_len == 0, "{} values are not whole runs of {run_len}", x.len());
    let mut flagged = 0;
    for (j, xr) in x.chunks_exact(run_len).enumerate() {
        let mut run = ErrorSums::default();
        flagged += measure(&mut run, xr, params(j));
        total.merge(&run);
    }
    flagged
}

/// The error blocks of x against itself (the FP32 row) onto `run`.
pub fn f32_error_blocks(run: &mut ErrorSums, x: &[f32], _all_finite: bool) {
    error_blocks_by(run, x, |v| (v, false));
}

/// The BF16 cast's error blocks onto `run`.
pub fn bf16_error_blocks(run: &mut ErrorSums, x: &[f32], _all_finite: bool) {
    error_blocks_by(run, x, |v| (bf16_round_trip(v), false));
}

/// The FP16 cast's error blocks onto `run`.
pub fn f16_error_blocks(run: &mut ErrorSums, x: &[f32], _all_finite: bool) {
    error_blocks_by(run, x, |v| (f16_round_trip(v), false));
}

/// How many of x are NaN or ±Inf.
pub fn count_nonfinite(x: &[f32]) -> usize {
    x.iter().filter(|v| !v.is_finite()).count()
}

// ---------------------------------------------------------------------------------------------
// Decoding stored element bytes (little-endian) to f32, with the count of non-finite values.

/// f16 bits → f32 exactly, as the half crate's `f16::to_f32` (a NaN keeps its payload and is made quiet).
#[inline(always)]
pub fn f16_bits_to_f32(h: u16) -> f32 {
    let h = h as u32;
    let (sign, mag) = ((h & 0x8000) << 16, h & 0x7fff);
    let bits = if mag >= 0x7c00 {
        // ±Inf, NaN: the exponent all ones, the mantissa moved up, a NaN quietened.
        0x7f80_0000 | ((mag & 0x3ff) << 13) | if mag > 0x7c00 { 0x40_0000 } else { 0 }
    } else {
        // Normals and subnormals: the bits moved into place, then scaled by 2^112 (exact).
        (f32::from_bits(mag << 13) * f32::from_bits(0x7780_0000)).to_bits()
    };
    f32::from_bits(sign | bits)
}

/// bf16 bits → f32, as the half crate's `bf16::to_f32` (a NaN is made quiet).
#[inline(always)]
pub fn bf16_bits_to_f32(b: u16) -> f32 {
    let quiet = if b & 0x7fff > 0x7f80 { 0x40 } else { 0 };
    f32::from_bits(((b | quiet) as u32) << 16)
}

/// Little-endian f32 bytes into `out` (bytes.len() = 4 · out.len()); returns the non-finite count.
pub fn decode_f32_le(bytes: &[u8], out: &mut [f32]) -> usize {
    assert_eq!(bytes.len(), out.len() * 4);
    for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
        *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
    count_nonfinite(out)
}

/// Little-endian f16 bytes into `out` (bytes.len() = 2 · out.len()); returns the non-finite count.
pub fn decode_f16_le(bytes: &[u8], out: &mut [f32]) -> usize {
    assert_eq!(bytes.len(), out.len() * 2);
    for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *o = f16_bits_to_f32(u16::from_le_bytes([c[0], c[1]]));
    }
    count_nonfinite(out)
}

/// Little-endian bf16 bytes into `out` (bytes.len() = 2 · out.len()); returns the non-finite count.
pub fn decode_bf16_le(bytes: &[u8], out: &mut [f32]) -> usize {
    assert_eq!(bytes.len(), out.len() * 2);
    for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *o = bf16_bits_to_f32(u16::from_le_bytes([c[0], c[1]]));
    }
    count_nonfinite(out)
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


// ---------------------------------------------------------------------------------------------
// The 4-bit LUT GEMV (MXFP4, NF4; layout and summation order in lut4.rs).

use super::lut4::{fold16, PackedLut4, UNIT};

/// y[j] = Σ_segments scale · Σ values[code] · x, in lut4.rs's lane order. `xp` is x with UNIT zeros after it.
pub fn gemv_lut4_packed(w: &PackedLut4, xp: &[f32], out: &mut [f32]) {
    assert!(xp.len() >= w.k + UNIT && out.len() >= w.n);
    for (j, y) in out.iter_mut().enumerate().take(w.n) {
        let mut acc = [0.0f32; 16];
        let mut unit = w.row_units[j];
        for s in w.segments(j) {
            let units = s.len.div_ceil(UNIT);
            let (mut lo, mut hi) = ([0.0f32; 16], [0.0f32; 16]);
            for u in 0..units {
                for l in 0..16 {
                    let b = w.data[(unit + u) * 16 + l];
                    let (e_lo, e_hi) = (u * UNIT + l, u * UNIT + 16 + l);
                    let x_lo = if e_lo < s.len { xp[s.col + e_lo] } else { 0.0 };
                    let x_hi = if e_hi < s.len { xp[s.col + e_hi] } else { 0.0 };
                    let (p_lo, p_hi) = (w.values[(b & 0x0F) as usize] * x_lo, w.values[(b >> 4) as usize] * x_hi);
                    if u == 0 {
                        (lo[l], hi[l]) = (p_lo, p_hi);
                    } else {
                        lo[l] += p_lo;
                        hi[l] += p_hi;
                    }
                }
            }
            let scale = w.scale(s.scale);
            for l in 0..16 {
                acc[l] += (lo[l] + hi[l]) * scale;
            }
            unit += units;
        }
        *y = fold16(&acc);
    }
}
