//! The relaxed-SIMD build (target feature relaxed-simd, chosen at run time by feature detection,
//! with the SIMD128 build as the fallback). Relaxed instructions may differ between engines, so they
//! are used only where every engine must agree: i32x4.relaxed_dot_i8x16_i7x16_add_s gives the same
//! result everywhere when the second operand's bytes are in 0..=127 (then x86's pmaddubsw and Arm's
//! sdot compute the same exact sums, without saturation). INT4 weights stored as unsigned nibbles
//! (0..=15) are such an operand, so the INT4 kernel uses it with s8 activations; the zero point (8
//! for symmetric codes) comes back through the per-group activation sums, as in simd128.rs.
//!
//! INT8: s8 weights × u8 activations are both full 8-bit, so no operand is 7-bit. Any split that
//! makes one 7-bit (a = a_lo7 + 128·a_hi) needs two dots per 16 products, which measured only ~1.1×
//! the SIMD128 kernel (the dot port is the limit either way). Instead, as XNNPACK does
//! (src/configs/hardware-config.c, the xnn_arch_wasm_usdot probe), the engine's relaxed dot is asked
//! once what it computes for out-of-range bytes: where it multiplies the second operand as u8 without
//! intermediate saturation (x86 with AVX-VNNI: vpdpbusd), one relaxed dot gives Σ w·a exactly over
//! u8 activations (s8 ones re-centred to a + 128, the zero point with them), so every engine gets the
//! scalar twin's integers. Elsewhere (pmaddubsw's saturating pairs, Arm's signed sdot) the SIMD128
//! kernel runs.

use super::gemm::{I8Output, PackedActs, PackedI4, PackedI8, NR};
use super::simd128;
use core::arch::wasm32::*;
use core::sync::atomic::{AtomicU8, Ordering};

/// 0: not probed yet, 1: u8 × s8 exact, 2: anything else.
static UNSIGNED_DOT: AtomicU8 = AtomicU8::new(0);

/// Whether this engine's i32x4.relaxed_dot_i8x16_i7x16_add_s multiplies its second operand as u8,
/// exactly. The relaxed-SIMD spec lets the result for bytes ≥ 128 differ between engines, but not
/// between calls: one probe answers for the instance. The vectors are XNNPACK's usdot probe.
pub fn unsigned_dot_is_exact() -> bool {
    match UNSIGNED_DOT.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let ones = core::hint::black_box(i8x16(0, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0));
            let high = core::hint::black_box(i8x16(0, 0, 0, -128, 0, 0, -128, 0, 0, -128, 0, 0, -128, 0, 0, 0));
            let as_u8 = i32x4_relaxed_dot_i8x16_i7x16_add(ones, high, i32x4_splat(0));
            let big = core::hint::black_box(i8x16(-128, -128, -128, -128, -128, -128, -1, -1, -1, -1, -128, -128, -1, -1, -1, -1));
            let no_saturation = i32x4_relaxed_dot_i8x16_i7x16_add(i8x16_splat(-128), big, i32x4_splat(0));
            let wrong = v128_or(v128_xor(as_u8, i32x4_splat(128)), v128_xor(no_saturation, i32x4(-65536, -98048, -98048, -130560)));
            let exact = !v128_any_true(wrong);
            UNSIGNED_DOT.store(if exact { 1 } else { 2 }, Ordering::Relaxed);
            exact
        }
    }
}

pub fn gemm_i8_packed(a: &PackedActs, w: &PackedI8, out: I8Output) {
    if unsigned_dot_is_exact() {
        gemm_i8_unsigned_dot(a, w, out)
    } else {
        simd128::gemm_i8_packed(a, w, out)
    }
}

/// The INT8 GEMM on the u8 × s8 relaxed dot. Only exact where `unsigned_dot_is_exact()`.
pub fn gemm_i8_unsigned_dot(a: &PackedActs, w: &PackedI8, out: I8Output) {
    let kp = w.kp;
    assert!(a.kp == kp && a.unsigned_quads.len() >= a.m * kp && w.data.len() >= w.panels() * kp * NR);
    // Σ(a − za)(w − zw) is the same sum over a + 128 and za + 128 (modulo 2^32 too).
    let shift = if a.signed { 128i32 } else { 0 };
    let row_terms = |row: usize| (a.row_sums[row].wrapping_add(shift.wrapping_mul(a.k as i32)), a.zero_points[row].wrapping_add(shift));
    simd128::gemm_i8_with(
        a,
        w,
        out,
        row_terms,
        || unsafe { gemv_i8_unsigned(a.unsigned_quads.as_ptr(), w) },
        UnsignedDotTile { aq: a.unsigned_quads.as_ptr(), wp: w.data.as_ptr(), kp },
    )
}

struct UnsignedDotTile {
    aq: *const u8,
    wp: *const i8,
    kp: usize,
}

impl simd128::I8Tile for UnsignedDotTile {
    #[inline(always)]
    unsafe fn tile<const R: usize>(&self, r0: usize, p: usize) -> [[v128; 2]; R] {
        tile_i8_unsigned::<R>(self.aq.add(r0 * self.kp), self.wp.add(p * self.kp * NR), self.kp)
    }
}

/// The packed k pairs 2q and 2q+1 (PackedI8: per pair, 8 columns × 2 k) as two vectors of 4 columns ×
/// 4 consecutive k, the order the relaxed dot sums: interleave the pairs' 16-bit column words.
#[inline(always)]
unsafe fn i8_quad(wp: *const i8, q: usize) -> (v128, v128) {
    let p0 = v128_load(wp.add(q * 32) as *const v128);
    let p1 = v128_load(wp.add(q * 32 + 16) as *const v128);
    (i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(p0, p1), i16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(p0, p1))
}

/// R rows × 8 columns of Σ a·w over the whole (padded) k: per 4 k, each row's 4 u8 codes are
/// broadcast and one relaxed dot per 4 columns adds 16 products.
#[inline(always)]
unsafe fn tile_i8_unsigned<const R: usize>(aq: *const u8, wp: *const i8, kp: usize) -> [[v128; 2]; R] {
    let mut acc = [[i32x4_splat(0); 2]; R];
    for q in 0..kp / 4 {
        let (w0, w1) = i8_quad(wp, q);
        for r in 0..R {
            let av = v128_load32_splat(aq.add((q * R + r) * 4) as *const u32);
            acc[r][0] = i32x4_relaxed_dot_i8x16_i7x16_add(w0, av, acc[r][0]);
            acc[r][1] = i32x4_relaxed_dot_i8x16_i7x16_add(w1, av, acc[r][1]);
        }
    }
    acc
}

/// One row against every panel, four panels per pass.
unsafe fn gemv_i8_unsigned(aq: *const u8, w: &PackedI8) -> Vec<[v128; 2]> {
    let (kp, stride) = (w.kp, w.kp * NR);
    simd128::gemv_panels(
        w,
        |wp| {
            let mut acc = [i32x4_splat(0); 8];
            for q in 0..kp / 4 {
                let av = v128_load32_splat(aq.add(q * 4) as *const u32);
                for j in 0..4 {
                    let (w0, w1) = i8_quad(wp.add(j * stride), q);
                    acc[2 * j] = i32x4_relaxed_dot_i8x16_i7x16_add(w0, av, acc[2 * j]);
                    acc[2 * j + 1] = i32x4_relaxed_dot_i8x16_i7x16_add(w1, av, acc[2 * j + 1]);
                }
            }
            acc
        },
        |wp| tile_i8_unsigned::<1>(aq, wp, kp)[0],
    )
}

pub fn gemm_i4_packed(a: &PackedActs, w: &PackedI4, bias: &[f32], out: &mut [f32]) {
    assert!(a.quads.len() >= a.m * a.kp, "the INT4 kernel takes s8 activations");
    simd128::gemm_i4_with(a, w, bias, out, |acc, block, wp, q0, q1| unsafe {
        let aq = a.quads.as_ptr().add(block);
        match acc.len() {
            4 => tile_i4::<4>(acc.try_into().unwrap(), aq, wp, q0, q1),
            3 => tile_i4::<3>(acc.try_into().unwrap(), aq, wp, q0, q1),
            2 => tile_i4::<2>(acc.try_into().unwrap(), aq, wp, q0, q1),
            _ => tile_i4::<1>(acc.try_into().unwrap(), aq, wp, q0, q1),
        }
    })
}

/// Per k quad: 16 bytes of nibbles → two u8x16 with, per column lane, its 4 consecutive k (the low
/// nibbles hold k%4 ∈ {0,1}, the high ones {2,3}: interleaving their 16-bit halves puts them in
/// order); the activations' 4 bytes a[r][4q..4q+4] are broadcast; one relaxed dot per 4 columns.
#[inline(always)]
unsafe fn tile_i4<const R: usize>(acc: &mut [[v128; 2]; R], aq: *const i8, wp: *const u8, q0: usize, q1: usize) {
    let mask = u8x16_splat(0x0F);
    for q in q0..q1 {
        let b = v128_load(wp.add(q * 16) as *const v128);
        let lo = v128_and(b, mask);
        let hi = u8x16_shr(b, 4);
        let w0 = i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(lo, hi);
        let w1 = i16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(lo, hi);
        for r in 0..R {
            let av = v128_load32_splat(aq.add((q * R + r) * 4) as *const u32);
            acc[r][0] = i32x4_relaxed_dot_i8x16_i7x16_add(av, w0, acc[r][0]);
            acc[r][1] = i32x4_relaxed_dot_i8x16_i7x16_add(av, w1, acc[r][1]);
        }
    }
}
