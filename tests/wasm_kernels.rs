//! The matrix kernels in real Chromium: each SIMD twin (simd128.rs, or relaxed.rs in the relaxed
//! build) against its scalar twin, bit for bit, over the shapes of common::gemm::SHAPES (ones, odd
//! sizes, k not a multiple of 16) and extreme codes (−128, 127, all 255).
//!   wasm-pack test --headless --chrome -- --test wasm_kernels
//!   RUSTFLAGS="-C target-feature=+simd128,+relaxed-simd" wasm-pack test --headless --chrome -- --test wasm_kernels
#![cfg(target_arch = "wasm32")]

mod common;

use common::gemm::*;
use quant_playground::kernels::gemm::*;
use quant_playground::quant::dynamic::*;
use quant_playground::kernels::{self, scalar};
use quant_playground::quant::{Codes, ScaleDType};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn build_has_simd() {
    let b = kernels::build_name();
    assert!(b == "simd128" || b == "relaxed-simd", "{b}");
}

#[wasm_bindgen_test]
fn f32_gemm_matches_scalar_twin() {
    let mut rng = SeqRng(1);
    for &(m, n, k) in SHAPES.iter() {
        let x: Vec<f32> = (0..m * k).map(|_| rng.f32()).collect();
        let w: Vec<f32> = (0..n * k).map(|_| rng.f32()).collect();
        let bias: Vec<f32> = (0..n).map(|_| rng.f32()).collect();
        let p = PackedF32::pack(&w, n, k).unwrap();
        let (mut a, mut b) = (vec![0f32; m * n], vec![0f32; m * n]);
        kernels::gemm_f32_packed(&x, m, &p, &bias, &mut a);
        scalar::gemm_f32_packed(&x, m, &p, &bias, &mut b);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a), bits(&b), "[{m}, {n}, {k}]");
    }
}

/// Every shape × fill of activations and weights, u8 and s8 activations, per-channel weight zero
/// points or none, and all three output stages.
#[wasm_bindgen_test]
fn int8_gemm_matches_scalar_twin() {
    int8_kernel_matches_scalar_twin(kernels::gemm_i8_packed);
}

/// The relaxed build's INT8 kernels one by one: the SIMD128 fallback, and the u8 × s8 relaxed dot
/// where this engine's probe says it is exact (Chromium on x86 with AVX-VNNI; the dispatch above
/// already ran it there, this checks it is the path taken and the fallback stays exact too).
#[cfg(target_feature = "relaxed-simd")]
#[wasm_bindgen_test]
fn relaxed_int8_paths_match_scalar_twin() {
    use quant_playground::kernels::{relaxed, simd128};
    int8_kernel_matches_scalar_twin(simd128::gemm_i8_packed);
    if relaxed::unsigned_dot_is_exact() {
        int8_kernel_matches_scalar_twin(relaxed::gemm_i8_unsigned_dot);
    }
}

fn int8_kernel_matches_scalar_twin(kernel: fn(&PackedActs, &PackedI8, I8Output)) {
    let mut rng = SeqRng(2);
    let mut cases = 0;
    for &(m, n, k) in SHAPES.iter() {
        for fa in FILLS {
            for fw in FILLS {
                let w = i8_codes(&mut rng, n * k, fw);
                let zw: Vec<i32> = if matches!(fw, Fill::Spiky) { (0..n).map(|_| rng.below(256) as i32 - 128).collect() } else { vec![0] };
                let sw: Vec<f32> = (0..n).map(|_| rng.f32().abs() * 0.01 + 1e-4).collect();
                let p = PackedI8::pack(&w, n, k, &sw, &zw).unwrap();
                let za: Vec<i32> = (0..m).map(|_| rng.below(256) as i32).collect();
                let sa: Vec<f32> = (0..m).map(|_| rng.f32().abs() * 0.1 + 1e-3).collect();
                let au = PackedActs::pack(&u8_codes(&mut rng, m * k, fa), m, k, &za, &sa, 0).unwrap();
                let as8 = PackedActs::pack(&i8_codes(&mut rng, m * k, fa), m, k, &[-3], &sa, 0).unwrap();
                for acts in [&au, &as8] {
                    let (mut x, mut y) = (vec![0i32; m * n], vec![0i32; m * n]);
                    kernel(acts, &p, I8Output::I32(&mut x));
                    scalar::gemm_i8_packed(acts, &p, I8Output::I32(&mut y));
                    assert_eq!(x, y, "i32 [{m}, {n}, {k}] {fa:?} {fw:?}");

                    let bias: Vec<f32> = (0..n).map(|_| rng.f32()).collect();
                    let (mut x, mut y) = (vec![0f32; m * n], vec![0f32; m * n]);
                    kernel(acts, &p, I8Output::F32 { out: &mut x, bias: &bias });
                    scalar::gemm_i8_packed(acts, &p, I8Output::F32 { out: &mut y, bias: &bias });
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&x), bits(&y), "f32 [{m}, {n}, {k}] {fa:?} {fw:?}");

                    let real: Vec<f64> = (0..n).map(|j| (sa[0] * sw[j]) as f64 / 0.05).collect();
                    let rq = Requant::from_real(&real, (0..n).map(|j| j as i32 * 7 - 50).collect(), 5);
                    let (mut x, mut y) = (vec![0i8; m * n], vec![0i8; m * n]);
                    kernel(acts, &p, I8Output::I8 { out: &mut x, requant: &rq });
                    scalar::gemm_i8_packed(acts, &p, I8Output::I8 { out: &mut y, requant: &rq });
                    assert_eq!(x, y, "i8 [{m}, {n}, {k}] {fa:?} {fw:?}");
                    cases += 1;
                }
            }
        }
    }
    assert_eq!(cases, SHAPES.len() * 32);
}

#[wasm_bindgen_test]
fn int4_gemm_matches_scalar_twin() {
    let mut rng = SeqRng(3);
    for &(m, n, k) in SHAPES.iter() {
        for group in [4usize, 32, 64, 128] {
            for (asym, sd) in [(false, ScaleDType::F32), (false, ScaleDType::F16), (true, ScaleDType::F32), (true, ScaleDType::F16)] {
                for fa in FILLS {
                    let groups = k.div_ceil(group);
                    let scales: Vec<f32> = (0..n * groups).map(|_| rng.f32().abs() * 0.05 + 1e-6).collect();
                    let (codes, zps) = if asym {
                        (Codes::U8((0..n * k).map(|_| rng.below(16) as u8).collect()), (0..n * groups).map(|_| rng.below(16) as i32).collect())
                    } else {
                        (Codes::I8((0..n * k).map(|_| rng.below(16) as i8 - 8).collect()), vec![])
                    };
                    let p = PackedI4::pack(&codes, n, k, group, &scales, &zps, sd).unwrap();
                    let sa: Vec<f32> = (0..m).map(|_| rng.f32().abs() * 0.1 + 1e-3).collect();
                    let acts = PackedActs::pack(&i8_codes(&mut rng, m * k, fa), m, k, &[0], &sa, group).unwrap();
                    let bias: Vec<f32> = (0..n).map(|_| rng.f32()).collect();
                    let (mut x, mut y) = (vec![0f32; m * n], vec![0f32; m * n]);
                    kernels::gemm_i4_packed(&acts, &p, &bias, &mut x);
                    scalar::gemm_i4_packed(&acts, &p, &bias, &mut y);
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&x), bits(&y), "[{m}, {n}, {k}] g{group} asym={asym} {sd:?} {fa:?}");
                }
            }
        }
    }
}

/// Subnormal and extreme f16 scales go through the SIMD f16 → f32 conversion exactly.
#[wasm_bindgen_test]
fn int4_f16_scale_conversion_is_exact() {
    let (n, k, group) = (16, 8, 4);
    let halves = [0x0001u16, 0x03FF, 0x0400, 0x3C00, 0x7BFF, 0x3555, 0x0200, 0x1234];
    let scales: Vec<f32> = (0..n * 2).map(|i| half::f16::from_bits(halves[i % halves.len()]).to_f32()).collect();
    let codes = Codes::I8((0..n * k).map(|i| (i % 16) as i8 - 8).collect());
    let p = PackedI4::pack(&codes, n, k, group, &scales, &[], ScaleDType::F16).unwrap();
    let acts = PackedActs::pack(&vec![1i8; k], 1, k, &[0], &[1.0], group).unwrap();
    let (mut x, mut y) = (vec![0f32; n], vec![0f32; n]);
    kernels::gemm_i4_packed(&acts, &p, &vec![0.0; n], &mut x);
    scalar::gemm_i4_packed(&acts, &p, &vec![0.0; n], &mut y);
    assert_eq!(x.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), y.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
}

/// The end-to-end paths run the SIMD quantize and GEMM; they must agree with the twins' composition.
#[wasm_bindgen_test]
fn dynamic_quantized_matmul_matches_scalar_composition() {
    let mut rng = SeqRng(4);
    for &(m, n, k) in SHAPES.iter() {
        let x: Vec<f32> = (0..m * k).map(|_| rng.f32() * 3.0).collect();
        let w: Vec<f32> = (0..n * k).map(|_| rng.f32()).collect();
        let p = PackedI8::quantize(&w, n, k).unwrap();
        let got = dynamic_quantized_matmul(&x, m, &p, ActGranularity::PerRow, None).unwrap();
        let acts = quantize_activations(&x, m, k, quant_playground::quant::Scheme::Asymmetric, ActGranularity::PerRow, 0).unwrap();
        let mut want = vec![0f32; m * n];
        scalar::gemm_i8_packed(&acts, &p, I8Output::F32 { out: &mut want, bias: &vec![0.0; n] });
        assert_eq!(got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
    }
}

/// Values that exercise the fused measuring kernels: signs, ties of the f16 / bf16 roundings, f16
/// subnormals and overflow, exact zeros, ±Inf and NaN (masked out of the sums).
fn measuring_values(rng: &mut SeqRng, n: usize) -> Vec<f32> {
    let special = [0.0f32, -0.0, 65504.0, 65520.0, -65536.0, 5.96e-8, -2.98e-8, 6.1e-5, 1.0 + 1.0 / 2048.0, f32::INFINITY, f32::NAN, 1e30];
    (0..n)
        .map(|i| match i % 13 {
            0 => special[(i / 13) % special.len()],
            1 => f32::from_bits(rng.next() as u32 & 0x7fff_ffff | (((i / 2) % 2) as u32) << 31),
            _ => rng.f32() * 4.0,
        })
        .collect()
}

/// Each fused measuring kernel (x̂ made in the lanes, folded onto a running sum) against its
/// scalar twin, bit for bit, over runs of whole blocks, runs with a short last block (a group of 32,
/// a row of 4000's tail, odd lengths that end inside a vector) and a non-zero starting sum; with
/// non-finite values (the masked path), and without them under both flags (the fast path skips the
/// masks and must give the same sums).
#[wasm_bindgen_test]
fn fused_measuring_kernels_match_scalar_twins() {
    use quant_playground::kernels::ErrorSums;
    let mut rng = SeqRng(9);
    for len in [64usize, 128, 7 * 64, 33 * 64, 1, 3, 4, 5, 31, 32, 63, 65, 67, 4000, 33 * 64 + 13] {
        let with_specials = measuring_values(&mut rng, len);
        let finite: Vec<f32> = with_specials.iter().map(|v| if v.is_finite() { *v } else { 0.5 }).collect();
        let start = ErrorSums { sum_xx: 1.5, sum_yy: 2.25, sum_xy: -0.5, sum_ee: 0.125, max_abs_err: 0.01 };
        for (x, flags) in [(&with_specials, &[false][..]), (&finite, &[false, true][..])] {
            for &all_finite in flags {
                for (scale, lo, hi) in [(0.01f32, -127.0f32, 127.0f32), (0.25, -8.0, 7.0), (3e-3, -130.0, 125.0)] {
                    let (mut a, mut b) = (start, start);
                    let ca = kernels::quantize_error_blocks(&mut a, x, scale, lo, hi, all_finite);
                    let cb = scalar::quantize_error_blocks(&mut b, x, scale, lo, hi, all_finite);
                    assert_eq!((ca, a), (cb, b), "int round trip, scale {scale}, {len} values, all_finite {all_finite}");
                }
                let twins: [(fn(&mut ErrorSums, &[f32], bool), fn(&mut ErrorSums, &[f32], bool)); 3] = [
                    (kernels::f32_error_blocks, scalar::f32_error_blocks),
                    (kernels::f16_error_blocks, scalar::f16_error_blocks),
                    (kernels::bf16_error_blocks, scalar::bf16_error_blocks),
                ];
                for (k, (simd, twin)) in twins.into_iter().enumerate() {
                    let (mut a, mut b) = (start, start);
                    simd(&mut a, x, all_finite);
                    twin(&mut b, x, all_finite);
                    assert_eq!(format!("{a:?}"), format!("{b:?}"), "float cast {k}, {len} values, all_finite {all_finite}");
                }
            }
        }
        // The whole-run sums (x against a given x̂, and against codes) with the same short last block.
        let y: Vec<f32> = with_specials.iter().map(|v| v * 0.75).collect();
        assert_eq!(format!("{:?}", kernels::error_sums_f32(&with_specials, &y)), format!("{:?}", scalar::error_sums_f32(&with_specials, &y)), "{len}");
        let q: Vec<i8> = (0..len).map(|i| (i * 37 % 255) as i8).collect();
        assert_eq!(kernels::error_sums(&finite, &q, 0.01, 3), scalar::error_sums(&finite, &q, 0.01, 3), "codes, {len}");
        assert_eq!(kernels::count_nonfinite(&with_specials), scalar::count_nonfinite(&with_specials));
    }
}

/// The SIMD decoders of little-endian F32 / F16 / BF16 bytes against their scalar twins, bit for bit
/// with the non-finite count: every one of the 65 536 half and bfloat16 bit patterns (NaNs with
/// payloads, signed zeros, subnormals, ±Inf), at lengths that leave tails after the vectors.
#[wasm_bindgen_test]
fn simd_decoders_match_scalar_twins() {
    let all: Vec<u8> = (0..=u16::MAX).flat_map(|h| h.to_le_bytes()).collect();
    type Decode = fn(&[u8], &mut [f32]) -> usize;
    for (name, simd, twin) in [("f16", kernels::decode_f16_le as Decode, scalar::decode_f16_le as Decode), ("bf16", kernels::decode_bf16_le, scalar::decode_bf16_le)] {
        for n in [65536usize, 65535, 8, 7, 1, 0] {
            let bytes = &all[all.len() - 2 * n..];
            let (mut a, mut b) = (vec![0f32; n], vec![1f32; n]);
            let (ca, cb) = (simd(bytes, &mut a), twin(bytes, &mut b));
            assert_eq!(ca, cb, "{name}: non-finite count of {n}");
            assert_eq!(a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), b.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "{name}: {n} values");
        }
    }
    let mut rng = SeqRng(12);
    let x = measuring_values(&mut rng, 1027);
    let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    let (mut a, mut b) = (vec![0f32; x.len()], vec![1f32; x.len()]);
    assert_eq!(kernels::decode_f32_le(&bytes, &mut a), scalar::decode_f32_le(&bytes, &mut b));
    assert_eq!(a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), b.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
}

/// The four-lane f16 / bf16 round trips against the scalar ones (which equal the half crate's).
#[wasm_bindgen_test]
fn simd_float_round_trips_match_scalar() {
    use core::arch::wasm32::*;
    let mut rng = SeqRng(10);
    let x = measuring_values(&mut rng, 4096);
    for q in x.chunks_exact(4) {
        let v = f32x4(q[0], q[1], q[2], q[3]);
        let lanes = |r: v128| [f32x4_extract_lane::<0>(r), f32x4_extract_lane::<1>(r), f32x4_extract_lane::<2>(r), f32x4_extract_lane::<3>(r)];
        let (h, b) = (lanes(kernels::simd128::f16_round_trip_x4(v)), lanes(kernels::simd128::bf16_round_trip_x4(v)));
        for l in 0..4 {
            if q[l].is_nan() {
                continue;
            }
            assert_eq!(h[l].to_bits(), scalar::f16_round_trip(q[l]).to_bits(), "f16 of {:e}", q[l]);
            assert_eq!(b[l].to_bits(), scalar::bf16_round_trip(q[l]).to_bits(), "bf16 of {:e}", q[l]);
        }
    }
}

/// The 4-bit LUT GEMV (MXFP4, NF4): the SIMD128 twin (which both builds run) against the scalar twin,
/// bit for bit (NaN as NaN), on shapes with short MX blocks and NF4 blocks crossing rows, with x that
/// holds ±0, huge values and ±Inf, and every row against the f64 bound of tests/common/lut4.rs.
#[wasm_bindgen_test]
fn lut4_gemv_matches_scalar_twin() {
    use common::lut4::*;
    use quant_playground::kernels::lut4::{padded_x, PackedLut4};
    use quant_playground::quant::block;
    use quant_playground::quant::format::BlockFormat;
    let mut rng = SeqRng(21);
    for &(n, k) in common::lut4::SHAPES.iter() {
        let w = weights(&mut rng, n, k);
        for format in [BlockFormat::Mxfp4, BlockFormat::Nf4] {
            let q = block::quantize(format, &w, &[n, k]);
            let p = PackedLut4::from_block(&q, n, k).unwrap();
            for special in [false, true] {
                let mut x: Vec<f32> = (0..k).map(|_| rng.f32() * 4.0).collect();
                if special {
                    for (i, v) in [-0.0, 3e38, f32::INFINITY, f32::NEG_INFINITY, 0.0].into_iter().enumerate() {
                        x[(i * 7) % k] = v;
                    }
                }
                let xp = padded_x(&x);
                let (mut a, mut b) = (vec![0f32; n], vec![0f32; n]);
                kernels::gemv_lut4_packed(&p, &xp, &mut a);
                scalar::gemv_lut4_packed(&p, &xp, &mut b);
                assert_eq!(canonical_bits(&a), canonical_bits(&b), "{format:?} [{n}, {k}] special {special}");
                if !special {
                    let (y64, sum_abs) = f64_reference(&q.values, &x, n, k);
                    assert!(worst_against_f64(&p, &a, &y64, &sum_abs) <= 1.0, "{format:?} [{n}, {k}]");
                }
            }
        }
    }
}
