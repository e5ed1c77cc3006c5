//! The relaxed-SIMD build (target feature relaxed-simd, chosen at run time by feature detection,
//! with the SIMD128 build as the fallback). Relaxed instructions may differ between engines, so they
//! are used only where every engine must agree: i32x4.relaxed_dot_i8x16_i7x16_add_s gives the same
//! result everywhere when the second operand's bytes are in 0..=127 (then x86's pmaddubsw and Arm's
//! sdot compute the same exact sums, without saturation). INT4 weights stored as unsigned nibbles
//! (0..=15) are such an operand, so the INT4 kernel uses it with s8 activations; the zero point (8
//! for symmetric codes) comes back through the per-group activation sums, as in simd128.rs.
//!
//! INT8 stays on the SIMD128 kernel here: its s8 weights and u8 activations are both full 8-bit, and
//! making one operand 7-bit costs two relaxed dots per 16 products (split w = w_lo7 + 128·w_hi),
//! which on x86 (pmaddubsw + pmaddwd + paddd each) is more work than sign-extend + dot_i16x8.

use super::gemm::{I8Output, PackedActs, PackedI4, PackedI8};
use super::simd128;
use core::arch::wasm32::*;

pub fn gemm_i8_packed(a: &PackedActs, w: &PackedI8, out: I8Output) {
    simd128::gemm_i8_packed(a, w, out)
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
