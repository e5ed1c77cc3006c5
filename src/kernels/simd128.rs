//! wasm SIMD128 versions of the hot loops. Each has a scalar twin of the same name in scalar.rs
//! doing the same operations in the same lane order; tests assert equality bit for bit.

use super::{scalar, Code, ErrorSums, LANE_BLOCK};
use core::arch::wasm32::*;

#[inline(always)]
fn finite_mask(v: v128) -> v128 {
    // |v| < +Inf is false for ±Inf and for NaN.
    f32x4_lt(f32x4_abs(v), f32x4_splat(f32::INFINITY))
}

#[inline(always)]
unsafe fn load_f32x4(x: &[f32], i: usize) -> v128 {
    debug_assert!(i + 4 <= x.len());
    v128_load(x.as_ptr().add(i) as *const v128)
}

pub fn min_max_finite(x: &[f32]) -> (f32, f32, usize) {
    let body = x.len() / 4 * 4;
    let mut lo = f32x4_splat(f32::INFINITY);
    let mut hi = f32x4_splat(f32::NEG_INFINITY);
    let mut nonfinite = u32x4_splat(0);
    for i in (0..body).step_by(4) {
        let v = unsafe { load_f32x4(x, i) };
        let m = finite_mask(v);
        lo = f32x4_pmin(lo, v128_bitselect(v, f32x4_splat(f32::INFINITY), m));
        hi = f32x4_pmax(hi, v128_bitselect(v, f32x4_splat(f32::NEG_INFINITY), m));
        nonfinite = u32x4_sub(nonfinite, v128_not(m));
    }
    // scalar::reduce_min_max's order in the lanes: (0, 2), (1, 3), then (0, 1).
    let lo = f32x4_pmin(lo, i32x4_shuffle::<2, 3, 2, 3>(lo, lo));
    let hi = f32x4_pmax(hi, i32x4_shuffle::<2, 3, 2, 3>(hi, hi));
    let lo = f32x4_extract_lane::<0>(f32x4_pmin(lo, i32x4_shuffle::<1, 1, 1, 1>(lo, lo)));
    let hi = f32x4_extract_lane::<0>(f32x4_pmax(hi, i32x4_shuffle::<1, 1, 1, 1>(hi, hi)));
    let count = if v128_any_true(nonfinite) { sum_lanes_i32(nonfinite) } else { 0 };
    scalar::min_max_tail((lo, hi, count), &x[body..])
}

/// Stores sixteen clamped i32 codes as i8 or u8 (the saturating narrows are exact: the values are in range).
trait SimdCode: Code {
    unsafe fn store16(out: *mut Self, a: v128, b: v128, c: v128, d: v128);
    /// Loads four codes and widens them to i32 lanes.
    unsafe fn load4(q: *const Self) -> v128;
}

impl SimdCode for i8 {
    #[inline(always)]
    unsafe fn store16(out: *mut i8, a: v128, b: v128, c: v128, d: v128) {
        let v = i8x16_narrow_i16x8(i16x8_narrow_i32x4(a, b), i16x8_narrow_i32x4(c, d));
        v128_store(out as *mut v128, v);
    }
    #[inline(always)]
    unsafe fn load4(q: *const i8) -> v128 {
        let w = u32::from_le_bytes((q as *const [u8; 4]).read_unaligned());
        i32x4_extend_low_i16x8(i16x8_extend_low_i8x16(u32x4(w, 0, 0, 0)))
    }
}

impl SimdCode for u8 {
    #[inline(always)]
    unsafe fn store16(out: *mut u8, a: v128, b: v128, c: v128, d: v128) {
        let v = u8x16_narrow_i16x8(i16x8_narrow_i32x4(a, b), i16x8_narrow_i32x4(c, d));
        v128_store(out as *mut v128, v);
    }
    #[inline(always)]
    unsafe fn load4(q: *const u8) -> v128 {
        let w = u32::from_le_bytes((q as *const [u8; 4]).read_unaligned());
        u32x4_extend_low_u16x8(u16x8_extend_low_u8x16(u32x4(w, 0, 0, 0)))
    }
}

pub fn quantize<C: Code>(x: &[f32], scale: f32, zero_point: i32, qmin: i32, qmax: i32, out: &mut [C]) -> usize {
    assert_eq!(x.len(), out.len());
    // Dispatch on the code type without widening the public bound: i8 and u8 are the only codes.
    if C::SIGNED {
        let out = unsafe { core::slice::from_raw_parts_mut(out.as_mut_ptr() as *mut i8, out.len()) };
        quantize_simd::<i8>(x, scale, zero_point, qmin, qmax, out)
    } else {
        let out = unsafe { core::slice::from_raw_parts_mut(out.as_mut_ptr() as *mut u8, out.len()) };
        quantize_simd::<u8>(x, scale, zero_point, qmin, qmax, out)
    }
}

fn quantize_simd<C: SimdCode>(x: &[f32], scale: f32, zero_point: i32, qmin: i32, qmax: i32, out: &mut [C]) -> usize {
    let lo_s = (qmin - zero_point) as f32;
    let hi_s = (qmax - zero_point) as f32;
    let (lo, hi, s, zp) = (f32x4_splat(lo_s), f32x4_splat(hi_s), f32x4_splat(scale), i32x4_splat(zero_point));
    let body = x.len() / 16 * 16;
    let mut clipped = i32x4_splat(0);
    let one = |v: v128, clipped: &mut v128| -> v128 {
        let r = f32x4_nearest(f32x4_div(v, s));
        let out_of_range = v128_or(f32x4_lt(r, lo), f32x4_lt(hi, r));
        *clipped = i32x4_sub(*clipped, v128_and(out_of_range, finite_mask(v)));
        // pmax(r, lo) = r < lo ? lo : r and pmin(r, hi) = hi < r ? hi : r keep NaN, which trunc_sat maps to 0.
        let c = f32x4_pmin(f32x4_pmax(r, lo), hi);
        i32x4_add(i32x4_trunc_sat_f32x4(c), zp)
    };
    for i in (0..body).step_by(16) {
        unsafe {
            let a = one(load_f32x4(x, i), &mut clipped);
            let b = one(load_f32x4(x, i + 4), &mut clipped);
            let c = one(load_f32x4(x, i + 8), &mut clipped);
            let d = one(load_f32x4(x, i + 12), &mut clipped);
            C::store16(out.as_mut_ptr().add(i), a, b, c, d);
        }
    }
    let lanes = i32x4_extract_lane::<0>(clipped)
        + i32x4_extract_lane::<1>(clipped)
        + i32x4_extract_lane::<2>(clipped)
        + i32x4_extract_lane::<3>(clipped);
    lanes as usize + scalar::quantize(&x[body..], scale, zero_point, qmin, qmax, &mut out[body..])
}

pub fn dequantize<C: Code>(q: &[C], scale: f32, zero_point: i32, out: &mut [f32]) {
    assert_eq!(q.len(), out.len());
    if C::SIGNED {
        let q = unsafe { core::slice::from_raw_parts(q.as_ptr() as *const i8, q.len()) };
        dequantize_simd::<i8>(q, scale, zero_point, out)
    } else {
        let q = unsafe { core::slice::from_raw_parts(q.as_ptr() as *const u8, q.len()) };
        dequantize_simd::<u8>(q, scale, zero_point, out)
    }
}

fn dequantize_simd<C: SimdCode>(q: &[C], scale: f32, zero_point: i32, out: &mut [f32]) {
    let (s, zp) = (f32x4_splat(scale), i32x4_splat(zero_point));
    let body = q.len() / 4 * 4;
    for i in (0..body).step_by(4) {
        unsafe {
            let v = i32x4_sub(C::load4(q.as_ptr().add(i)), zp);
            v128_store(out.as_mut_ptr().add(i) as *mut v128, f32x4_mul(f32x4_convert_i32x4(v), s));
        }
    }
    scalar::dequantize(&q[body..], scale, zero_point, &mut out[body..]);
}

pub fn error_sums<C: Code>(x: &[f32], q: &[C], scale: f32, zero_point: i32) -> ErrorSums {
    assert_eq!(x.len(), q.len());
    let (s, zp) = (f32x4_splat(scale), i32x4_splat(zero_point));
    // The last partial vector reads its codes one by one (zero lanes past the end).
    let tail = |i: usize, k: usize| {
        let mut c = [0i32; 4];
        (0..k).for_each(|l| c[l] = q[i + l].widen());
        i32x4(c[0], c[1], c[2], c[3])
    };
    let back = |c: v128| (f32x4_mul(f32x4_convert_i32x4(i32x4_sub(c, zp)), s), i32x4_splat(0));
    let mut total = ErrorSums::default();
    if C::SIGNED {
        let q8 = unsafe { core::slice::from_raw_parts(q.as_ptr() as *const i8, q.len()) };
        error_blocks_at::<true>(&mut total, x, |i, _, k| back(if k == 4 { unsafe { i8::load4(q8.as_ptr().add(i)) } } else { tail(i, k) }));
    } else {
        let q8 = unsafe { core::slice::from_raw_parts(q.as_ptr() as *const u8, q.len()) };
        error_blocks_at::<true>(&mut total, x, |i, _, k| back(if k == 4 { unsafe { u8::load4(q8.as_ptr().add(i)) } } else { tail(i, k) }));
    }
    total
}

pub fn error_sums_f32(x: &[f32], y: &[f32]) -> ErrorSums {
    assert_eq!(x.len(), y.len());
    let mut total = ErrorSums::default();
    let none = i32x4_splat(0);
    error_blocks_at::<true>(&mut total, x, |i, _, k| (if k == 4 { unsafe { load_f32x4(y, i) } } else { load_partial(&y[i..i + k]) }, none));
    total
}

/// The first `k` (< 4) values of `x`, zeros after.
#[inline(always)]
fn load_partial(x: &[f32]) -> v128 {
    let mut b = [0.0f32; 4];
    b[..x.len()].copy_from_slice(x);
    f32x4(b[0], b[1], b[2], b[3])
}

// ---------------------------------------------------------------------------------------------
// Fused measuring passes (scalar.rs has the twins and the rules): x read once, x̂ made in the lanes.
// MASK = false when the caller knows every x is finite: the masks that drop NaN and ±Inf are then
// all true and are skipped.

/// Folds four lane sums in the twin's order ((l0 + l2) + (l1 + l3), scalar::ErrorSums::add_lanes)
/// and adds them in f64 onto the run's (xx, yy) and (xy, ee).
#[inline(always)]
fn fold_onto(acc: &mut [v128; 2], xx: v128, yy: v128, xy: v128, ee: v128) {
    let a = f32x4_add(i32x4_shuffle::<0, 1, 4, 5>(xx, yy), i32x4_shuffle::<2, 3, 6, 7>(xx, yy));
    let b = f32x4_add(i32x4_shuffle::<0, 1, 4, 5>(xy, ee), i32x4_shuffle::<2, 3, 6, 7>(xy, ee));
    let t = f32x4_add(i32x4_shuffle::<0, 2, 4, 6>(a, b), i32x4_shuffle::<1, 3, 5, 7>(a, b));
    acc[0] = f64x2_add(acc[0], f64x2_promote_low_f32x4(t));
    acc[1] = f64x2_add(acc[1], f64x2_promote_low_f32x4(i32x4_shuffle::<2, 3, 2, 3>(t, t)));
}

#[inline(always)]
fn sum_lanes_i32(v: v128) -> usize {
    (i32x4_extract_lane::<0>(v) + i32x4_extract_lane::<1>(v) + i32x4_extract_lane::<2>(v) + i32x4_extract_lane::<3>(v)) as usize
}

/// The block loop (scalar::error_blocks_at) onto `run`: blocks of LANE_BLOCK elements of x (the last
/// may be shorter). `y_at(i, raw, k)` gives x̂ and the flagged lanes of the vector of x at i (`raw`;
/// k = 4, or the k < 4 values left at the end, read with zero lanes after them, which add nothing).
/// Returns how many lanes were flagged.
#[inline(always)]
fn error_blocks_at<const MASK: bool>(run: &mut ErrorSums, x: &[f32], y_at: impl Fn(usize, v128, usize) -> (v128, v128)) -> usize {
    let mut acc = Lanes::load(run);
    acc.blocks::<MASK>(x, y_at);
    acc.store(run)
}

/// A run's sums held in registers: (Σx², Σx̂²) and (Σx·x̂, Σe²) in f64, the max |e| and the flagged
/// count in lanes.
struct Lanes {
    acc: [v128; 2],
    max: v128,
    flagged: v128,
}

impl Lanes {
    #[inline(always)]
    fn load(run: &ErrorSums) -> Lanes {
        Lanes { acc: [f64x2(run.sum_xx, run.sum_yy), f64x2(run.sum_xy, run.sum_ee)], max: f32x4_splat(0.0), flagged: i32x4_splat(0) }
    }

    /// Writes the sums back (the max merged as the twin does); returns the flagged count.
    #[inline(always)]
    fn store(self, run: &mut ErrorSums) -> usize {
        run.sum_xx = f64x2_extract_lane::<0>(self.acc[0]);
        run.sum_yy = f64x2_extract_lane::<1>(self.acc[0]);
        run.sum_xy = f64x2_extract_lane::<0>(self.acc[1]);
        run.sum_ee = f64x2_extract_lane::<1>(self.acc[1]);
        let max = self.max;
        let m = scalar::fold_max([f32x4_extract_lane::<0>(max), f32x4_extract_lane::<1>(max), f32x4_extract_lane::<2>(max), f32x4_extract_lane::<3>(max)]);
        if run.max_abs_err < m {
            run.max_abs_err = m;
        }
        sum_lanes_i32(self.flagged)
    }

    /// The blocks of x, each folded and added on.
    #[inline(always)]
    fn blocks<const MASK: bool>(&mut self, x: &[f32], y_at: impl Fn(usize, v128, usize) -> (v128, v128)) {
        let zero = f32x4_splat(0.0);
        let n = x.len();
        let whole = n / 4 * 4;
        let mut block = 0;
        while block < n {
            let (mut xx, mut yy, mut xy, mut ee) = (zero, zero, zero, zero);
            let (max, flagged) = (&mut self.max, &mut self.flagged);
            let mut step = |raw: v128, (y, f): (v128, v128), valid: Option<v128>| {
                let (v, y, f) = match valid {
                    // The partial vector: lanes past the end are dropped with the non-finite ones.
                    Some(valid) => {
                        let m = v128_and(finite_mask(raw), valid);
                        (v128_bitselect(raw, zero, m), v128_bitselect(y, zero, m), v128_and(f, valid))
                    }
                    None if MASK => {
                        let m = finite_mask(raw);
                        (v128_bitselect(raw, zero, m), v128_bitselect(y, zero, m), f)
                    }
                    None => (raw, y, f),
                };
                *flagged = i32x4_sub(*flagged, f);
                let e = f32x4_sub(v, y);
                xx = f32x4_add(xx, f32x4_mul(v, v));
                yy = f32x4_add(yy, f32x4_mul(y, y));
                xy = f32x4_add(xy, f32x4_mul(v, y));
                ee = f32x4_add(ee, f32x4_mul(e, e));
                *max = f32x4_pmax(*max, f32x4_abs(e));
            };
            let end = (block + LANE_BLOCK).min(whole);
            if end - block == LANE_BLOCK {
                for i in (block..end).step_by(4) {
                    let raw = unsafe { load_f32x4(x, i) };
                    step(raw, y_at(i, raw, 4), None);
                }
            } else {
                for i in (block..end).step_by(4) {
                    let raw = unsafe { load_f32x4(x, i) };
                    step(raw, y_at(i, raw, 4), None);
                }
                if end < n {
                    let k = n - end;
                    let raw = load_partial(&x[end..]);
                    let valid = i32x4_lt(i32x4(0, 1, 2, 3), i32x4_splat(k as i32));
                    step(raw, y_at(end, raw, k), Some(valid));
                }
            }
            fold_onto(&mut self.acc, xx, yy, xy, ee);
            block += LANE_BLOCK;
        }
    }
}

/// The integer round trip in four lanes, with the lanes clipped (finite ones only, under MASK).
#[inline(always)]
fn quantize_round_trip_x4<const MASK: bool>(v: v128, s: v128, lo: v128, hi: v128) -> (v128, v128) {
    let r = f32x4_nearest(f32x4_div(v, s));
    // The scalar twin's clamp (r < lo ? lo : hi < r ? hi : r) for every non-NaN r; a lane moved by
    // it was clipped (r < lo or hi < r).
    let c = f32x4_pmin(f32x4_pmax(r, lo), hi);
    let moved = f32x4_ne(c, r);
    (f32x4_mul(c, s), if MASK { v128_and(moved, finite_mask(v)) } else { moved })
}

pub fn quantize_error_blocks(run: &mut ErrorSums, x: &[f32], scale: f32, lo: f32, hi: f32, all_finite: bool) -> usize {
    let (s, lo, hi) = (f32x4_splat(scale), f32x4_splat(lo), f32x4_splat(hi));
    if all_finite {
        error_blocks_at::<false>(run, x, |_, v, _| quantize_round_trip_x4::<false>(v, s, lo, hi))
    } else {
        error_blocks_at::<true>(run, x, |_, v, _| quantize_round_trip_x4::<true>(v, s, lo, hi))
    }
}

pub fn quantize_error_runs(total: &mut ErrorSums, x: &[f32], run_len: usize, params: impl Fn(usize) -> (f32, f32, f32), all_finite: bool) -> usize {
    if run_len == 0 || run_len > LANE_BLOCK {
        return scalar::runs_merged(total, x, run_len, params, |run, xr, (scale, lo, hi)| quantize_error_blocks(run, xr, scale, lo, hi, all_finite));
    }
    // One block per run: a run's sums are that block's fold, so adding the fold onto the total
    // equals merging the run (0 + fold = fold, and the total is never −0); the total stays in registers.
    assert!(x.len() % run_len == 0, "{} values are not whole runs of {run_len}", x.len());
    let mut acc = Lanes::load(total);
    for (j, xr) in x.chunks_exact(run_len).enumerate() {
        let (scale, lo, hi) = params(j);
        let (s, lo, hi) = (f32x4_splat(scale), f32x4_splat(lo), f32x4_splat(hi));
        if all_finite {
            acc.blocks::<false>(xr, |_, v, _| quantize_round_trip_x4::<false>(v, s, lo, hi));
        } else {
            acc.blocks::<true>(xr, |_, v, _| quantize_round_trip_x4::<true>(v, s, lo, hi));
        }
    }
    acc.store(total)
}

/// x against itself: x̂ = x, so Σx̂² = Σx·x̂ = Σx² lane for lane and the error is zero; only Σx² is
/// accumulated (the twin's sums exactly: its ee lanes stay +0).
pub fn f32_error_blocks(run: &mut ErrorSums, x: &[f32], all_finite: bool) {
    if all_finite {
        f32_error_blocks_with::<false>(run, x)
    } else {
        f32_error_blocks_with::<true>(run, x)
    }
}

#[inline(always)]
fn f32_error_blocks_with<const MASK: bool>(run: &mut ErrorSums, x: &[f32]) {
    let zero = f32x4_splat(0.0);
    let mut acc = f64x2(run.sum_xx, run.sum_yy);
    let mut acc_xy = run.sum_xy;
    let n = x.len();
    let whole = n / 4 * 4;
    let mut block = 0;
    while block < n {
        let mut xx = zero;
        let end = (block + LANE_BLOCK).min(whole);
        for i in (block..end).step_by(4) {
            let raw = unsafe { load_f32x4(x, i) };
            let v = if MASK { v128_bitselect(raw, zero, finite_mask(raw)) } else { raw };
            xx = f32x4_add(xx, f32x4_mul(v, v));
        }
        if end < n && end - block < LANE_BLOCK {
            let raw = load_partial(&x[end..]);
            let v = v128_bitselect(raw, zero, finite_mask(raw));
            xx = f32x4_add(xx, f32x4_mul(v, v));
        }
        let a = f32x4_add(xx, i32x4_shuffle::<2, 3, 2, 3>(xx, xx));
        let f = f32x4_extract_lane::<0>(a) + f32x4_extract_lane::<1>(a);
        let f = f as f64;
        acc = f64x2_add(acc, f64x2_splat(f));
        acc_xy += f;
        block += LANE_BLOCK;
    }
    if n > 0 {
        // The twin adds each block's ee fold, +0.
        run.sum_ee += 0.0;
    }
    run.sum_xx = f64x2_extract_lane::<0>(acc);
    run.sum_yy = f64x2_extract_lane::<1>(acc);
    run.sum_xy = acc_xy;
    // max |e| = 0 leaves the run's max as it is.
}

/// scalar::bf16_round_trip in four lanes.
#[inline(always)]
pub fn bf16_round_trip_x4(v: v128) -> v128 {
    let lsb = v128_and(u32x4_shr(v, 16), u32x4_splat(1));
    v128_and(i32x4_add(v, i32x4_add(u32x4_splat(0x7fff), lsb)), u32x4_splat(0xffff_0000))
}

/// scalar::f16_round_trip in four lanes.
#[inline(always)]
pub fn f16_round_trip_x4(v: v128) -> v128 {
    let e = v128_and(u32x4_shr(v, 23), u32x4_splat(0xff));
    let e = u32x4_min(u32x4_max(e, u32x4_splat(127 - 14)), u32x4_splat(127 + 16));
    let c = v128_or(i32x4_shl(i32x4_add(e, u32x4_splat(13)), 23), u32x4_splat(0x40_0000));
    let sign = v128_and(v, u32x4_splat(0x8000_0000));
    let y = v128_or(f32x4_sub(f32x4_add(v, c), c), sign);
    let inf = v128_or(f32x4_splat(f32::INFINITY), sign);
    v128_bitselect(inf, y, f32x4_gt(f32x4_abs(y), f32x4_splat(65504.0)))
}

pub fn bf16_error_blocks(run: &mut ErrorSums, x: &[f32], all_finite: bool) {
    let none = i32x4_splat(0);
    if all_finite {
        error_blocks_at::<false>(run, x, |_, v, _| (bf16_round_trip_x4(v), none));
    } else {
        error_blocks_at::<true>(run, x, |_, v, _| (bf16_round_trip_x4(v), none));
    }
}

pub fn f16_error_blocks(run: &mut ErrorSums, x: &[f32], all_finite: bool) {
    let none = i32x4_splat(0);
    if all_finite {
        error_blocks_at::<false>(run, x, |_, v, _| (f16_round_trip_x4(v), none));
    } else {
        error_blocks_at::<true>(run, x, |_, v, _| (f16_round_trip_x4(v), none));
    }
}

pub fn count_nonfinite(x: &[f32]) -> usize {
    let body = x.len() / 4 * 4;
    let mut count = i32x4_splat(0);
    for i in (0..body).step_by(4) {
        count = i32x4_sub(count, v128_not(finite_mask(unsafe { load_f32x4(x, i) })));
    }
    sum_lanes_i32(count) + scalar::count_nonfinite(&x[body..])
}

// ---------------------------------------------------------------------------------------------
// Decoding stored element bytes (scalar.rs has the twins): wasm is little-endian, so the bytes are
// the lanes.

pub fn decode_f32_le(bytes: &[u8], out: &mut [f32]) -> usize {
    assert_eq!(bytes.len(), out.len() * 4);
    let body = out.len() / 4 * 4;
    let mut count = i32x4_splat(0);
    for i in (0..body).step_by(4) {
        unsafe {
            let v = v128_load(bytes.as_ptr().add(i * 4) as *const v128);
            v128_store(out.as_mut_ptr().add(i) as *mut v128, v);
            count = i32x4_sub(count, v128_not(finite_mask(v)));
        }
    }
    sum_lanes_i32(count) + scalar::decode_f32_le(&bytes[body * 4..], &mut out[body..])
}

/// Eight 16-bit lanes → two f32x4 vectors of the bits moved to the top halves (`b << 16`).
#[inline(always)]
fn widen_to_top_halves(b: v128) -> (v128, v128) {
    let zero = u16x8_splat(0);
    (i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(zero, b), i16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(zero, b))
}

pub fn decode_bf16_le(bytes: &[u8], out: &mut [f32]) -> usize {
    assert_eq!(bytes.len(), out.len() * 2);
    let body = out.len() / 8 * 8;
    let mut nonfinite = 0;
    for i in (0..body).step_by(8) {
        unsafe {
            let b = v128_load(bytes.as_ptr().add(i * 2) as *const v128);
            let mag = v128_and(b, u16x8_splat(0x7fff));
            // A NaN is made quiet (half: `(b | 0x40) << 16` when b & 0x7fff > 0x7f80).
            let b = v128_or(b, v128_and(i16x8_gt(mag, i16x8_splat(0x7f80)), u16x8_splat(0x40)));
            let bad = i16x8_gt(mag, i16x8_splat(0x7f7f));
            if v128_any_true(bad) {
                nonfinite += i16x8_bitmask(bad).count_ones() as usize;
            }
            let (lo, hi) = widen_to_top_halves(b);
            v128_store(out.as_mut_ptr().add(i) as *mut v128, lo);
            v128_store(out.as_mut_ptr().add(i + 4) as *mut v128, hi);
        }
    }
    nonfinite + scalar::decode_bf16_le(&bytes[body * 2..], &mut out[body..])
}

/// f16 bits in the low halves of u32 lanes → f32 (scalar::f16_bits_to_f32): normals and subnormals
/// moved into place and scaled by 2^112, ±Inf and NaN (quietened) rebuilt with the exponent all ones.
#[inline(always)]
fn f16_bits_x4_to_f32(h: v128) -> v128 {
    let mag = v128_and(h, u32x4_splat(0x7fff));
    let sign = i32x4_shl(v128_and(h, u32x4_splat(0x8000)), 16);
    let shifted = i32x4_shl(mag, 13);
    let finite = f32x4_mul(shifted, f32x4_splat(f32::from_bits(0x7780_0000)));
    let quiet = v128_and(i32x4_gt(mag, i32x4_splat(0x7c00)), u32x4_splat(0x40_0000));
    let special = v128_or(i32x4_add(shifted, u32x4_splat(0x7000_0000)), quiet);
    v128_or(v128_bitselect(special, finite, i32x4_gt(mag, i32x4_splat(0x7bff))), sign)
}

pub fn decode_f16_le(bytes: &[u8], out: &mut [f32]) -> usize {
    assert_eq!(bytes.len(), out.len() * 2);
    let body = out.len() / 8 * 8;
    let mut nonfinite = 0;
    for i in (0..body).step_by(8) {
        unsafe {
            let b = v128_load(bytes.as_ptr().add(i * 2) as *const v128);
            let bad = i16x8_gt(v128_and(b, u16x8_splat(0x7fff)), i16x8_splat(0x7bff));
            if v128_any_true(bad) {
                nonfinite += i16x8_bitmask(bad).count_ones() as usize;
            }
            v128_store(out.as_mut_ptr().add(i) as *mut v128, f16_bits_x4_to_f32(u32x4_extend_low_u16x8(b)));
            v128_store(out.as_mut_ptr().add(i + 4) as *mut v128, f16_bits_x4_to_f32(u32x4_extend_high_u16x8(b)));
        }
    }
    nonfinite + scalar::decode_f16_le(&bytes[body * 2..], &mut out[body..])
}

// ---------------------------------------------------------------------------------------------
// Matrix multiplication (layouts in gemm.rs). Loop order: panels of NR = 8 output columns outside
// (the panel stays in L1/L2), row blocks of up to 4 inside, the whole k in registers: R×2 vector
// accumulators, each lane one output column, so no horizontal sums are needed.

use super::gemm::{I8Output, PackedActs, PackedF32, PackedI4, PackedI8, MR_F32, MR_INT, NR};

/// Stores the first `cols` (≤ 8) lanes of two vectors at `dst`.
#[inline(always)]
unsafe fn store_cols<T: Copy>(dst: *mut T, v: [v128; 2], cols: usize) {
    if cols == NR {
        v128_store(dst as *mut v128, v[0]);
        v128_store(dst.add(4) as *mut v128, v[1]);
    } else {
        let mut tmp = [0u32; 8];
        v128_store(tmp.as_mut_ptr() as *mut v128, v[0]);
        v128_store(tmp.as_mut_ptr().add(4) as *mut v128, v[1]);
        core::ptr::copy_nonoverlapping(tmp.as_ptr() as *const T, dst, cols);
    }
}

/// Loads `cols` (≤ 8) f32 values as two vectors, zero padded.
#[inline(always)]
unsafe fn load_cols_f32(src: *const f32, cols: usize) -> [v128; 2] {
    if cols == NR {
        [v128_load(src as *const v128), v128_load(src.add(4) as *const v128)]
    } else {
        let mut tmp = [0.0f32; 8];
        core::ptr::copy_nonoverlapping(src, tmp.as_mut_ptr(), cols);
        [v128_load(tmp.as_ptr() as *const v128), v128_load(tmp.as_ptr().add(4) as *const v128)]
    }
}

pub fn gemm_f32_packed(x: &[f32], m: usize, w: &PackedF32, bias: &[f32], out: &mut [f32]) {
    let (n, k) = (w.n, w.k);
    assert!(x.len() >= m * k && out.len() >= m * n && bias.len() >= n && w.data.len() >= w.panels() * k * NR);
    if m == 1 {
        return unsafe { gemv_f32(x, w, bias, out) };
    }
    for p in 0..w.panels() {
        let cols = NR.min(n - p * NR);
        unsafe {
            let wp = w.data.as_ptr().add(p * k * NR);
            let b = load_cols_f32(bias.as_ptr().add(p * NR), cols);
            let mut r0 = 0;
            while r0 < m {
                let rows = MR_F32.min(m - r0);
                let xr = x.as_ptr().add(r0 * k);
                let o = out.as_mut_ptr().add(r0 * n + p * NR);
                match rows {
                    4 => tile_f32::<4>(xr, k, wp, b, o, n, cols),
                    3 => tile_f32::<3>(xr, k, wp, b, o, n, cols),
                    2 => tile_f32::<2>(xr, k, wp, b, o, n, cols),
                    _ => tile_f32::<1>(xr, k, wp, b, o, n, cols),
                }
                r0 += rows;
            }
        }
    }
}

#[inline(always)]
unsafe fn tile_f32<const R: usize>(x: *const f32, k: usize, wp: *const f32, bias: [v128; 2], out: *mut f32, n: usize, cols: usize) {
    let mut acc = [[f32x4_splat(0.0); 2]; R];
    for kk in 0..k {
        let w0 = v128_load(wp.add(kk * NR) as *const v128);
        let w1 = v128_load(wp.add(kk * NR + 4) as *const v128);
        for r in 0..R {
            let a = v128_load32_splat(x.add(r * k + kk) as *const u32);
            acc[r][0] = f32x4_add(acc[r][0], f32x4_mul(a, w0));
            acc[r][1] = f32x4_add(acc[r][1], f32x4_mul(a, w1));
        }
    }
    for r in 0..R {
        store_cols(out.add(r * n), [f32x4_add(acc[r][0], bias[0]), f32x4_add(acc[r][1], bias[1])], cols);
    }
}

/// One row: four panels per pass, so 8 independent accumulator chains (not 2) hide the f32 add
/// latency and four weight streams are in flight; each column still sums k = 0, 1, … in order.
unsafe fn gemv_f32(x: &[f32], w: &PackedF32, bias: &[f32], out: &mut [f32]) {
    let (n, k, panels) = (w.n, w.k, w.panels());
    let stride = k * NR;
    let mut p = 0;
    while p + 4 <= panels {
        let wp = w.data.as_ptr().add(p * stride);
        let mut acc = [f32x4_splat(0.0); 8];
        for kk in 0..k {
            let a = v128_load32_splat(x.as_ptr().add(kk) as *const u32);
            for j in 0..4 {
                let base = wp.add(j * stride + kk * NR);
                acc[2 * j] = f32x4_add(acc[2 * j], f32x4_mul(a, v128_load(base as *const v128)));
                acc[2 * j + 1] = f32x4_add(acc[2 * j + 1], f32x4_mul(a, v128_load(base.add(4) as *const v128)));
            }
        }
        for j in 0..4 {
            let c0 = (p + j) * NR;
            let cols = NR.min(n - c0);
            let b = load_cols_f32(bias.as_ptr().add(c0), cols);
            store_cols(out.as_mut_ptr().add(c0), [f32x4_add(acc[2 * j], b[0]), f32x4_add(acc[2 * j + 1], b[1])], cols);
        }
        p += 4;
    }
    while p < panels {
        let c0 = p * NR;
        let cols = NR.min(n - c0);
        let b = load_cols_f32(bias.as_ptr().add(c0), cols);
        tile_f32::<1>(x.as_ptr(), k, w.data.as_ptr().add(p * stride), b, out.as_mut_ptr().add(c0), n, cols);
        p += 1;
    }
}

/// R rows × 8 columns of Σ a·w over the whole (padded) k: per pair of k, the activation word is
/// broadcast and i32x4.dot_i16x8_s multiplies it with 4 columns × 2 k of sign-extended weights.
#[inline(always)]
unsafe fn tile_i8<const R: usize>(ap: *const i16, wp: *const i8, kp: usize) -> [[v128; 2]; R] {
    let mut acc = [[i32x4_splat(0); 2]; R];
    for t in 0..kp / 2 {
        let w0 = i16x8_load_extend_i8x8(wp.add(t * 16));
        let w1 = i16x8_load_extend_i8x8(wp.add(t * 16 + 8));
        for r in 0..R {
            let a = v128_load32_splat(ap.add((t * R + r) * 2) as *const u32);
            acc[r][0] = i32x4_add(acc[r][0], i32x4_dot_i16x8(a, w0));
            acc[r][1] = i32x4_add(acc[r][1], i32x4_dot_i16x8(a, w1));
        }
    }
    acc
}

pub fn gemm_i8_packed(a: &PackedActs, w: &PackedI8, out: I8Output) {
    let kp = w.kp;
    assert!(a.kp == kp && a.data.len() >= a.m * kp && w.data.len() >= w.panels() * kp * NR);
    gemm_i8_with(
        a,
        w,
        out,
        |row| (a.row_sums[row], a.zero_points[row]),
        || unsafe { gemv_i8(a.data.as_ptr(), w) },
        DotI16Tile { ap: a.data.as_ptr(), wp: w.data.as_ptr(), kp },
    )
}

/// A tile kernel of the INT8 GEMM: the raw Σ a·w of R rows from r0 against panel p.
pub(crate) trait I8Tile {
    /// # Safety
    /// r0 + R ≤ m, p < panels, and the operands the implementor points at have those shapes.
    unsafe fn tile<const R: usize>(&self, r0: usize, p: usize) -> [[v128; 2]; R];
}

struct DotI16Tile {
    ap: *const i16,
    wp: *const i8,
    kp: usize,
}

impl I8Tile for DotI16Tile {
    #[inline(always)]
    unsafe fn tile<const R: usize>(&self, r0: usize, p: usize) -> [[v128; 2]; R] {
        tile_i8::<R>(self.ap.add(r0 * self.kp), self.wp.add(p * self.kp * NR), self.kp)
    }
}

/// The loops and the output stages of the INT8 GEMM around a tile kernel (shared with relaxed.rs):
/// `tile` gives the raw Σ a·w of row blocks against panels, `gemv()` those of a single row against
/// every panel, and `row_terms(row)` the (Σa, za) of the zero-point correction in the code domain
/// the kernel multiplied (the relaxed build re-centres s8 to u8).
#[inline(always)]
pub(crate) fn gemm_i8_with(
    a: &PackedActs,
    w: &PackedI8,
    mut out: I8Output,
    row_terms: impl Fn(usize) -> (i32, i32),
    gemv: impl FnOnce() -> Vec<[v128; 2]>,
    tile: impl I8Tile,
) {
    let (m, n) = (a.m, w.n);
    assert!(w.zero_points.len() >= w.panels() * NR && w.col_terms.len() >= w.panels() * NR && w.scales.len() >= w.panels() * NR);
    assert!(a.row_sums.len() >= m && a.zero_points.len() >= m && a.scales.len() >= m);
    match &out {
        I8Output::I32(o) => assert!(o.len() >= m * n),
        I8Output::F32 { out, bias } => assert!(out.len() >= m * n && bias.len() >= n),
        I8Output::I8 { out, .. } => assert!(out.len() >= m * n),
    }
    // One row (GEMV): the kernels sweep several panels per pass so each broadcast activation word
    // feeds more dots.
    let gemv = if m == 1 { gemv() } else { Vec::new() };
    for p in 0..w.panels() {
        let cols = NR.min(n - p * NR);
        let c0 = p * NR;
        unsafe {
            let zw = [v128_load(w.zero_points.as_ptr().add(c0) as *const v128), v128_load(w.zero_points.as_ptr().add(c0 + 4) as *const v128)];
            let ct = [v128_load(w.col_terms.as_ptr().add(c0) as *const v128), v128_load(w.col_terms.as_ptr().add(c0 + 4) as *const v128)];
            let sw = [v128_load(w.scales.as_ptr().add(c0) as *const v128), v128_load(w.scales.as_ptr().add(c0 + 4) as *const v128)];
            let bias = match &out {
                I8Output::F32 { bias, .. } => load_cols_f32(bias.as_ptr().add(c0), cols),
                _ => [f32x4_splat(0.0); 2],
            };
            let mut r0 = 0;
            while r0 < m {
                let rows = MR_INT.min(m - r0);
                let acc = if m == 1 {
                    let mut one = [[i32x4_splat(0); 2]; MR_INT];
                    one[0] = gemv[p];
                    one
                } else {
                    let mut acc = [[i32x4_splat(0); 2]; MR_INT];
                    match rows {
                        4 => acc.copy_from_slice(&tile.tile::<4>(r0, p)),
                        3 => acc[..3].copy_from_slice(&tile.tile::<3>(r0, p)),
                        2 => acc[..2].copy_from_slice(&tile.tile::<2>(r0, p)),
                        _ => acc[..1].copy_from_slice(&tile.tile::<1>(r0, p)),
                    }
                    acc
                };
                for r in 0..rows {
                    let row = r0 + r;
                    let (row_sum, za) = row_terms(row);
                    let (rs, za) = (i32x4_splat(row_sum), i32x4_splat(za));
                    let c = [0, 1].map(|h| i32x4_sub(i32x4_sub(acc[r][h], i32x4_mul(zw[h], rs)), i32x4_mul(za, ct[h])));
                    let o = row * n + c0;
                    match &mut out {
                        I8Output::I32(dst) => store_cols(dst.as_mut_ptr().add(o), c, cols),
                        I8Output::F32 { out: dst, .. } => {
                            let sa = f32x4_splat(a.scales[row]);
                            let y = [0, 1].map(|h| f32x4_add(f32x4_mul(f32x4_convert_i32x4(c[h]), f32x4_mul(sa, sw[h])), bias[h]));
                            store_cols(dst.as_mut_ptr().add(o), y, cols);
                        }
                        I8Output::I8 { out: dst, requant } => {
                            // The int8 stage is O(m·n) and needs per-lane shifts: shared scalar code.
                            let mut t = [0i32; 8];
                            store_cols(t.as_mut_ptr(), c, NR);
                            for (i, &v) in t[..cols].iter().enumerate() {
                                dst[o + i] = requant.apply(v, c0 + i);
                            }
                        }
                    }
                }
                r0 += rows;
            }
        }
    }
}

/// Σ a·w of one row against every panel of `w`: `four(panel)` gives four consecutive panels at once
/// (2 vectors each), `one(panel)` the last 1–3 (shared with relaxed.rs).
#[inline(always)]
pub(crate) unsafe fn gemv_panels(w: &PackedI8, four: impl Fn(*const i8) -> [v128; 8], one: impl Fn(*const i8) -> [v128; 2]) -> Vec<[v128; 2]> {
    let (panels, stride) = (w.panels(), w.kp * NR);
    let mut out = Vec::with_capacity(panels);
    let mut p = 0;
    while p + 4 <= panels {
        let acc = four(w.data.as_ptr().add(p * stride));
        out.extend((0..4).map(|j| [acc[2 * j], acc[2 * j + 1]]));
        p += 4;
    }
    while p < panels {
        out.push(one(w.data.as_ptr().add(p * stride)));
        p += 1;
    }
    out
}

/// Σ a·w of a single packed row against every panel, four panels per pass.
unsafe fn gemv_i8(ap: *const i16, w: &PackedI8) -> Vec<[v128; 2]> {
    let (kp, stride) = (w.kp, w.kp * NR);
    gemv_panels(
        w,
        |wp| {
            let mut acc = [i32x4_splat(0); 8];
            for t in 0..kp / 2 {
                let a = v128_load32_splat(ap.add(t * 2) as *const u32);
                for q in 0..4 {
                    let base = wp.add(q * stride + t * 16);
                    acc[2 * q] = i32x4_add(acc[2 * q], i32x4_dot_i16x8(a, i16x8_load_extend_i8x8(base)));
                    acc[2 * q + 1] = i32x4_add(acc[2 * q + 1], i32x4_dot_i16x8(a, i16x8_load_extend_i8x8(base.add(8))));
                }
            }
            acc
        },
        |wp| tile_i8::<1>(ap, wp, kp)[0],
    )
}

/// f16 bits (finite) in the low halves of u32 lanes → f32, exactly: shift the exponent and mantissa
/// into place and rescale by 2^112 (handles subnormal halves too), then restore the sign.
#[inline(always)]
pub(crate) fn f16x4_to_f32x4(h: v128) -> v128 {
    let mag = i32x4_shl(v128_and(h, u32x4_splat(0x7FFF)), 13);
    let sign = i32x4_shl(v128_and(h, u32x4_splat(0x8000)), 16);
    v128_or(f32x4_mul(mag, f32x4_splat(f32::from_bits(0x7780_0000))), sign)
}

/// Scales and zero points of one panel and group as vectors.
#[inline(always)]
pub(crate) unsafe fn i4_group_params(w: &PackedI4, slot: usize) -> ([v128; 2], [v128; 2]) {
    let s = match &w.scales {
        super::gemm::I4Scales::F32(s) => [v128_load(s.as_ptr().add(slot) as *const v128), v128_load(s.as_ptr().add(slot + 4) as *const v128)],
        super::gemm::I4Scales::F16(s) => {
            let all = v128_load(s.as_ptr().add(slot) as *const v128);
            [f16x4_to_f32x4(u32x4_extend_low_u16x8(all)), f16x4_to_f32x4(u32x4_extend_high_u16x8(all))]
        }
    };
    let z = match &w.zero_points {
        None => [i32x4_splat(8); 2],
        Some(z) => {
            let b = u16x8_extend_low_u8x16(v128_load64_zero(z.as_ptr().add(slot) as *const u64));
            [u32x4_extend_low_u16x8(b), u32x4_extend_high_u16x8(b)]
        }
    };
    (s, z)
}

pub fn gemm_i4_packed(a: &PackedActs, w: &PackedI4, bias: &[f32], out: &mut [f32]) {
    gemm_i4_with(a, w, bias, out, |acc, block, wp, q0, q1| unsafe {
        let ap = a.data.as_ptr().add(block);
        match acc.len() {
            4 => tile_i4::<4>(acc.try_into().unwrap(), ap, wp, q0, q1),
            3 => tile_i4::<3>(acc.try_into().unwrap(), ap, wp, q0, q1),
            2 => tile_i4::<2>(acc.try_into().unwrap(), ap, wp, q0, q1),
            _ => tile_i4::<1>(acc.try_into().unwrap(), ap, wp, q0, q1),
        }
    })
}

/// Adds Σ a·u over the quads q0..q1 of k to R×2 i32 accumulators. 16 bytes hold 8 columns × 4 k:
/// the low nibbles are k pair 2q, the high nibbles pair 2q+1, columns 0..4 in bytes 0..8.
#[inline(always)]
unsafe fn tile_i4<const R: usize>(acc: &mut [[v128; 2]; R], ap: *const i16, wp: *const u8, q0: usize, q1: usize) {
    let mask = u8x16_splat(0x0F);
    for q in q0..q1 {
        let b = v128_load(wp.add(q * 16) as *const v128);
        let lo = v128_and(b, mask);
        let hi = u8x16_shr(b, 4);
        let (w00, w01) = (u16x8_extend_low_u8x16(lo), u16x8_extend_high_u8x16(lo));
        let (w10, w11) = (u16x8_extend_low_u8x16(hi), u16x8_extend_high_u8x16(hi));
        for r in 0..R {
            let a0 = v128_load32_splat(ap.add((2 * q * R + r) * 2) as *const u32);
            let a1 = v128_load32_splat(ap.add(((2 * q + 1) * R + r) * 2) as *const u32);
            acc[r][0] = i32x4_add(acc[r][0], i32x4_add(i32x4_dot_i16x8(a0, w00), i32x4_dot_i16x8(a1, w10)));
            acc[r][1] = i32x4_add(acc[r][1], i32x4_add(i32x4_dot_i16x8(a0, w01), i32x4_dot_i16x8(a1, w11)));
        }
    }
}

/// Loops, group flushes and the output of the INT4 GEMM around a tile kernel (shared with relaxed.rs).
/// `tile(acc, block, panel, q0, q1)` adds Σ a·u for k quads q0..q1 to acc (one entry per row); `block`
/// is the element offset of the row block in the packed activations (r0·kp).
#[inline(always)]
pub(crate) fn gemm_i4_with(
    a: &PackedActs,
    w: &PackedI4,
    bias: &[f32],
    out: &mut [f32],
    tile: impl Fn(&mut [[v128; 2]], usize, *const u8, usize, usize),
) {
    let (m, n, kp, g_size) = (a.m, w.n, w.kp, w.group);
    let groups = w.groups();
    assert!(a.kp == kp && a.data.len() >= m * kp && w.data.len() >= w.panels() * (kp / 4) * 16);
    assert!(out.len() >= m * n && bias.len() >= n && a.group_sums.len() >= m * groups && g_size % 4 == 0);
    for p in 0..w.panels() {
        let cols = NR.min(n - p * NR);
        let c0 = p * NR;
        unsafe {
            let wp = w.data.as_ptr().add(p * (kp / 4) * 16);
            let b = load_cols_f32(bias.as_ptr().add(c0), cols);
            let mut r0 = 0;
            while r0 < m {
                let rows = MR_INT.min(m - r0);
                let mut accf = [[f32x4_splat(0.0); 2]; MR_INT];
                for g in 0..groups {
                    let (q0, q1) = (g * g_size / 4, ((g + 1) * g_size).min(kp) / 4);
                    let mut acc = [[i32x4_splat(0); 2]; MR_INT];
                    tile(&mut acc[..rows], r0 * kp, wp, q0, q1);
                    let (s, z) = i4_group_params(w, (p * groups + g) * NR);
                    for r in 0..rows {
                        let gs = i32x4_splat(a.group_sums[(r0 + r) * groups + g]);
                        for h in 0..2 {
                            let c = i32x4_sub(acc[r][h], i32x4_mul(z[h], gs));
                            accf[r][h] = f32x4_add(accf[r][h], f32x4_mul(f32x4_convert_i32x4(c), s[h]));
                        }
                    }
                }
                for r in 0..rows {
                    let sa = f32x4_splat(a.scales[r0 + r]);
                    let y = [0, 1].map(|h| f32x4_add(f32x4_mul(accf[r][h], sa), b[h]));
                    store_cols(out.as_mut_ptr().add((r0 + r) * n + c0), y, cols);
                }
                r0 += rows;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The 4-bit LUT GEMV (MXFP4, NF4; layout and summation order in lut4.rs): a unit of 16 bytes is 32
// codes (low nibbles the first 16 elements, high nibbles the next 16), each code's f32 built from the
// values' byte tables by i8x16.swizzle and interleaved into lanes.

use super::lut4::{PackedLut4, UNIT};

/// The values of 16 codes (one per byte of `idx`, each < 16) as four f32x4 in element order. FULL:
/// all four bytes of the values from their tables; else the two low bytes are zero (E2M1's values).
#[inline(always)]
fn lut4_decode<const FULL: bool>(t: &[v128; 4], idx: v128) -> [v128; 4] {
    let (b2, b3) = (i8x16_swizzle(t[2], idx), i8x16_swizzle(t[3], idx));
    let hi_a = i8x16_shuffle::<0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23>(b2, b3);
    let hi_b = i8x16_shuffle::<8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31>(b2, b3);
    let (lo_a, lo_b) = if FULL {
        let (b0, b1) = (i8x16_swizzle(t[0], idx), i8x16_swizzle(t[1], idx));
        (
            i8x16_shuffle::<0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23>(b0, b1),
            i8x16_shuffle::<8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31>(b0, b1),
        )
    } else {
        (u8x16_splat(0), u8x16_splat(0))
    };
    [
        i8x16_shuffle::<0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23>(lo_a, hi_a),
        i8x16_shuffle::<8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31>(lo_a, hi_a),
        i8x16_shuffle::<0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23>(lo_b, hi_b),
        i8x16_shuffle::<8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31>(lo_b, hi_b),
    ]
}

pub fn gemv_lut4_packed(w: &PackedLut4, xp: &[f32], out: &mut [f32]) {
    assert!(xp.len() >= w.k + UNIT && out.len() >= w.n && w.row_units.len() == w.n + 1 && w.data.len() >= w.row_units[w.n] * 16);
    if w.low_bytes_zero() {
        gemv_lut4_with::<false>(w, xp, out)
    } else {
        gemv_lut4_with::<true>(w, xp, out)
    }
}

#[inline(always)]
fn gemv_lut4_with<const FULL: bool>(w: &PackedLut4, xp: &[f32], out: &mut [f32]) {
    let t = w.tables.map(|b| unsafe { v128_load(b.as_ptr() as *const v128) });
    let nibble = u8x16_splat(0x0F);
    let lane = i32x4(0, 1, 2, 3);
    for (j, y) in out.iter_mut().enumerate().take(w.n) {
        let mut acc = [f32x4_splat(0.0); 4];
        let mut unit = w.row_units[j];
        for s in w.segments(j) {
            let units = s.len.div_ceil(UNIT);
            let (mut lo, mut hi) = ([f32x4_splat(0.0); 4], [f32x4_splat(0.0); 4]);
            // Safety: the units of row j lie below row_units[n] (asserted); a unit reads x up to
            // col + 32·units < col + len + 32 ≤ k + 32 ≤ xp.len().
            unsafe {
                let xs = xp.as_ptr().add(s.col);
                for u in 0..units {
                    let b = v128_load(w.data.as_ptr().add((unit + u) * 16) as *const v128);
                    let (w_lo, w_hi) = (lut4_decode::<FULL>(&t, v128_and(b, nibble)), lut4_decode::<FULL>(&t, u8x16_shr(b, 4)));
                    let base = u * UNIT;
                    for i in 0..4 {
                        let mut x_lo = v128_load(xs.add(base + 4 * i) as *const v128);
                        let mut x_hi = v128_load(xs.add(base + 16 + 4 * i) as *const v128);
                        if base + UNIT > s.len {
                            // The segment ends in this unit: x past it is +0 (the scalar twin's zeros).
                            let rest = i32x4_splat((s.len - base) as i32);
                            x_lo = v128_and(x_lo, i32x4_gt(rest, i32x4_add(lane, i32x4_splat(4 * i as i32))));
                            x_hi = v128_and(x_hi, i32x4_gt(rest, i32x4_add(lane, i32x4_splat(16 + 4 * i as i32))));
                        }
                        let (p_lo, p_hi) = (f32x4_mul(w_lo[i], x_lo), f32x4_mul(w_hi[i], x_hi));
                        if u == 0 {
                            (lo[i], hi[i]) = (p_lo, p_hi);
                        } else {
                            lo[i] = f32x4_add(lo[i], p_lo);
                            hi[i] = f32x4_add(hi[i], p_hi);
                        }
                    }
                }
            }
            let scale = f32x4_splat(w.scale(s.scale));
            for i in 0..4 {
                acc[i] = f32x4_add(acc[i], f32x4_mul(f32x4_add(lo[i], hi[i]), scale));
            }
            unit += units;
        }
        let v = f32x4_add(f32x4_add(acc[0], acc[2]), f32x4_add(acc[1], acc[3]));
        *y = (f32x4_extract_lane::<0>(v) + f32x4_extract_lane::<2>(v)) + (f32x4_extract_lane::<1>(v) + f32x4_extract_lane::<3>(v));
    }
}
