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
    let lanes = |v: v128| [f32x4_extract_lane::<0>(v), f32x4_extract_lane::<1>(v), f32x4_extract_lane::<2>(v), f32x4_extract_lane::<3>(v)];
    let counts = [
        u32x4_extract_lane::<0>(nonfinite) as usize,
        u32x4_extract_lane::<1>(nonfinite) as usize,
        u32x4_extract_lane::<2>(nonfinite) as usize,
        u32x4_extract_lane::<3>(nonfinite) as usize,
    ];
    scalar::min_max_tail(scalar::reduce_min_max(lanes(lo), lanes(hi), counts), &x[body..])
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
    let body = x.len() / LANE_BLOCK * LANE_BLOCK;
    let mut total = if C::SIGNED {
        let q = unsafe { core::slice::from_raw_parts(q.as_ptr() as *const i8, q.len()) };
        error_sums_lanes(&x[..body], |i| unsafe { f32x4_mul(f32x4_convert_i32x4(i32x4_sub(i8::load4(q.as_ptr().add(i)), zp)), s) })
    } else {
        let q = unsafe { core::slice::from_raw_parts(q.as_ptr() as *const u8, q.len()) };
        error_sums_lanes(&x[..body], |i| unsafe { f32x4_mul(f32x4_convert_i32x4(i32x4_sub(u8::load4(q.as_ptr().add(i)), zp)), s) })
    };
    if body < x.len() {
        let tail = scalar::error_sums_tail(&x[body..], |i| (q[body + i].widen() - zero_point) as f32 * scale);
        total.merge(&tail);
    }
    total
}

pub fn error_sums_f32(x: &[f32], y: &[f32]) -> ErrorSums {
    assert_eq!(x.len(), y.len());
    let body = x.len() / LANE_BLOCK * LANE_BLOCK;
    let mut total = error_sums_lanes(&x[..body], |i| unsafe { load_f32x4(y, i) });
    if body < x.len() {
        total.merge(&scalar::error_sums_tail(&x[body..], |i| y[body + i]));
    }
    total
}

/// The block loop of the error sums: `x.len()` is a multiple of LANE_BLOCK; `y_at(i)` gives x̂[i..i+4].
#[inline(always)]
fn error_sums_lanes(x: &[f32], y_at: impl Fn(usize) -> v128) -> ErrorSums {
    let lanes = |v: v128| [f32x4_extract_lane::<0>(v), f32x4_extract_lane::<1>(v), f32x4_extract_lane::<2>(v), f32x4_extract_lane::<3>(v)];
    let zero = f32x4_splat(0.0);
    let mut total = ErrorSums::default();
    let mut max = zero;
    for block in (0..x.len()).step_by(LANE_BLOCK) {
        let (mut xx, mut yy, mut xy, mut ee) = (zero, zero, zero, zero);
        for i in (block..block + LANE_BLOCK).step_by(4) {
            let raw = unsafe { load_f32x4(x, i) };
            let m = finite_mask(raw);
            let v = v128_bitselect(raw, zero, m);
            let y = v128_bitselect(y_at(i), zero, m);
            let e = f32x4_sub(v, y);
            xx = f32x4_add(xx, f32x4_mul(v, v));
            yy = f32x4_add(yy, f32x4_mul(y, y));
            xy = f32x4_add(xy, f32x4_mul(v, y));
            ee = f32x4_add(ee, f32x4_mul(e, e));
            max = f32x4_pmax(max, f32x4_abs(e));
        }
        total.add_lanes(lanes(xx), lanes(yy), lanes(xy), lanes(ee));
    }
    total.max_abs_err = scalar::fold_max(lanes(max));
    total
}
