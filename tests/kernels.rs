//! Native tests of the matrix kernels (the scalar twins run natively): every entry point against its
//! definition over property-generated shapes (m, n, k down to 1, odd, k not a multiple of 16) and
//! extreme codes (−128, 127, all 255), packing round trips, and TFLite's requantization on
//! hand-worked vectors. tests/wasm_kernels.rs checks the SIMD twins against these in Chromium.
// Native only: wasm-pack builds every test target for wasm32; the browser tests are in tests/wasm*.rs.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::gemm::*;
use proptest::prelude::*;
use quant_playground::kernels::gemm::*;
use quant_playground::quant::dynamic::*;
use quant_playground::quant::{Codes, ScaleDType, Scheme};

// ---- requantization: hand-worked vectors (gemmlowp fixedpoint.h, TFLite quantization_util.cc)

#[test]
fn saturating_rounding_doubling_high_mul_vectors() {
    let (min, max) = (i32::MIN, i32::MAX);
    // The one overflow: (−2^31)·(−2^31)·2 / 2^32 = 2^31 does not fit; it saturates.
    assert_eq!(saturating_rounding_doubling_high_mul(min, min), max);
    // 2^30 · 2^30 / 2^31 = 2^29 exactly.
    assert_eq!(saturating_rounding_doubling_high_mul(1 << 30, 1 << 30), 1 << 29);
    assert_eq!(saturating_rounding_doubling_high_mul(-(1 << 30), 1 << 30), -(1 << 29));
    // 3 · 0.5 = 1.5 → 2; −1.5 → −1 (the nudge 1 − 2^30 and C's truncating division round it up).
    assert_eq!(saturating_rounding_doubling_high_mul(3, 1 << 30), 2);
    assert_eq!(saturating_rounding_doubling_high_mul(-3, 1 << 30), -1);
    assert_eq!(saturating_rounding_doubling_high_mul(min, 1 << 30), -(1 << 30));
    // (2^31 − 1)² / 2^31 = 2^31 − 2 + (1 + 2^30)/2^31 → 2^31 − 2.
    assert_eq!(saturating_rounding_doubling_high_mul(max, max), max - 1);
    assert_eq!(saturating_rounding_doubling_high_mul(min, max), -max);
}

#[test]
fn rounding_divide_by_pot_vectors() {
    // Half away from zero.
    assert_eq!(rounding_divide_by_pot(5, 1), 3);
    assert_eq!(rounding_divide_by_pot(-5, 1), -3);
    assert_eq!(rounding_divide_by_pot(-4, 1), -2);
    assert_eq!(rounding_divide_by_pot(6, 2), 2);
    assert_eq!(rounding_divide_by_pot(-6, 2), -2);
    assert_eq!(rounding_divide_by_pot(7, 2), 2);
    assert_eq!(rounding_divide_by_pot(-7, 2), -2);
    assert_eq!(rounding_divide_by_pot(123, 0), 123);
    assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
    assert_eq!(rounding_divide_by_pot(i32::MAX, 31), 1);
}

#[test]
fn multiply_by_quantized_multiplier_vectors() {
    let half = 1 << 30; // M0 = 0.5 in Q31
    let three_quarters = 1_610_612_736; // 0.75 in Q31
    assert_eq!(multiply_by_quantized_multiplier(100, half, 0), 50);
    assert_eq!(multiply_by_quantized_multiplier(3, half, 0), 2);
    assert_eq!(multiply_by_quantized_multiplier(-3, half, 0), -1);
    // 1000 · 0.75 / 8 = 93.75 → 94; the negative side rounds away from zero too.
    assert_eq!(multiply_by_quantized_multiplier(1000, three_quarters, -3), 94);
    assert_eq!(multiply_by_quantized_multiplier(-1000, three_quarters, -3), -94);
    // Left shift: 3 · 4 · 0.5 = 6.
    assert_eq!(multiply_by_quantized_multiplier(3, half, 2), 6);
    assert_eq!(multiply_by_quantized_multiplier(i32::MIN, i32::MIN, 0), i32::MAX);
}

#[test]
fn quantize_multiplier_vectors() {
    assert_eq!(quantize_multiplier(0.0), (0, 0));
    assert_eq!(quantize_multiplier(0.5), (1 << 30, 0));
    assert_eq!(quantize_multiplier(1.0), (1 << 30, 1));
    assert_eq!(quantize_multiplier(0.25), (1 << 30, -1));
    assert_eq!(quantize_multiplier(0.75), (1_610_612_736, 0));
    assert_eq!(quantize_multiplier(0.3), (1_288_490_189, -1));
    // Rounds up to 2^31: halve and bump the shift.
    assert_eq!(quantize_multiplier(1.0 - 2f64.powi(-40)), (1 << 30, 1));
    // Below 2^−32 every result would be zero: TFLite stores (0, 0).
    assert_eq!(quantize_multiplier(2f64.powi(-40)), (0, 0));
}

#[test]
fn int8_output_stage_saturates_and_clamps() {
    let rq = Requant { bias: vec![0], multipliers: vec![1 << 30], shifts: vec![0], output_zero_point: 10, act_min: -128, act_max: 127 };
    assert_eq!(rq.apply(100, 0), 60);
    assert_eq!(rq.apply(1000, 0), 127);
    assert_eq!(rq.apply(-1000, 0), -128);
}

// ---- packing

#[test]
fn packed_i8_round_trips_and_stays_int8() {
    let mut rng = SeqRng(7);
    for &(_, n, k) in SHAPES.iter() {
        let w = i8_codes(&mut rng, n * k, Fill::Spiky);
        let p = PackedI8::pack(&w, n, k, &[0.5], &[0]).unwrap();
        // int8 storage: n·k codes plus padding to whole panels and k to a multiple of 4, nothing wider.
        assert_eq!(p.data.len(), n.div_ceil(NR) * NR * k.div_ceil(4) * 4);
        for j in 0..n {
            for kk in 0..k {
                assert_eq!(p.at(j, kk), w[j * k + kk]);
            }
        }
    }
}

/// The relaxed build's operand: u8 codes as they are, s8 codes + 128, zeros in the k padding.
#[test]
fn packed_acts_keep_every_code_as_u8_too() {
    let mut rng = SeqRng(13);
    for &(m, _, k) in SHAPES.iter() {
        let u = u8_codes(&mut rng, m * k, Fill::Spiky);
        let s = i8_codes(&mut rng, m * k, Fill::Spiky);
        let pu = PackedActs::pack(&u, m, k, &[3], &[1.0], 0).unwrap();
        let ps = PackedActs::pack(&s, m, k, &[-3], &[1.0], 0).unwrap();
        assert!(!pu.signed && ps.signed);
        assert_eq!(pu.unsigned_quads.len(), m * pu.kp);
        for r in 0..m {
            for kk in 0..pu.kp {
                let (want_u, want_s) = if kk < k { (u[r * k + kk], (s[r * k + kk] as i32 + 128) as u8) } else { (0, 0) };
                assert_eq!(pu.unsigned_at(r, kk), want_u, "u8 [{m}, {k}] at ({r}, {kk})");
                assert_eq!(ps.unsigned_at(r, kk), want_s, "s8 [{m}, {k}] at ({r}, {kk})");
            }
        }
    }
}

#[test]
fn packed_i4_round_trips_both_schemes() {
    let mut rng = SeqRng(11);
    for &(_, n, k) in SHAPES.iter() {
        for group in [4usize, 32, 64] {
            let groups = k.div_ceil(group);
            let sym: Vec<i8> = (0..n * k).map(|_| rng.below(16) as i8 - 8).collect();
            let asym: Vec<u8> = (0..n * k).map(|_| rng.below(16) as u8).collect();
            let scales: Vec<f32> = (0..n * groups).map(|i| 0.01 + i as f32 * 1e-3).collect();
            let zps: Vec<i32> = (0..n * groups).map(|_| rng.below(16) as i32).collect();
            let ps = PackedI4::pack(&Codes::I8(sym.clone()), n, k, group, &scales, &[], ScaleDType::F16).unwrap();
            let pa = PackedI4::pack(&Codes::U8(asym.clone()), n, k, group, &scales, &zps, ScaleDType::F32).unwrap();
            // Two codes per byte.
            assert_eq!(ps.data.len(), n.div_ceil(NR) * NR * k.div_ceil(4) * 2);
            for j in 0..n {
                for kk in 0..k {
                    assert_eq!(ps.at(j, kk) as i32 - 8, sym[j * k + kk] as i32);
                    assert_eq!(pa.at(j, kk), asym[j * k + kk]);
                }
                for g in 0..groups {
                    assert_eq!(pa.scale(j, g), scales[j * groups + g]);
                    assert_eq!(ps.scale(j, g), half::f16::from_f32(scales[j * groups + g]).to_f32());
                    assert_eq!(pa.zero_point(j, g) as i32, zps[j * groups + g]);
                    assert_eq!(ps.zero_point(j, g), 8);
                }
            }
        }
    }
}

#[test]
fn int4_group_must_be_a_multiple_of_4() {
    let e = PackedI4::pack(&Codes::I8(vec![0; 6]), 1, 6, 3, &[1.0, 1.0], &[], ScaleDType::F32);
    assert!(e.is_err());
}

// ---- the GEMMs against their definitions, over property-generated operands

fn fill() -> impl Strategy<Value = Fill> {
    prop_oneof![Just(Fill::Uniform), Just(Fill::Min), Just(Fill::Max), Just(Fill::Spiky)]
}

fn shape() -> impl Strategy<Value = (usize, usize, usize)> {
    (1usize..=19, 1usize..=27, prop_oneof![1usize..=40, Just(16), Just(17), Just(64), 100usize..=300])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn u8s8_i32_matches_definition((m, n, k) in shape(), fa in fill(), fw in fill(), seed in any::<u64>(), za in 0i32..=255) {
        let mut rng = SeqRng(seed | 1);
        let a = u8_codes(&mut rng, m * k, fa);
        let w = i8_codes(&mut rng, n * k, fw);
        let p = PackedI8::pack(&w, n, k, &[1.0], &[0]).unwrap();
        let got = gemm_u8s8_i32(&a, m, za, &p).unwrap();
        let ai: Vec<i32> = a.iter().map(|&v| v as i32).collect();
        let wi: Vec<i32> = w.iter().map(|&v| v as i32).collect();
        prop_assert_eq!(got, int_gemm_definition(&ai, &vec![za; m], &wi, &vec![0; n], m, n, k));
    }

    #[test]
    fn s8s8_i32_with_both_zero_points_matches_definition((m, n, k) in shape(), fa in fill(), fw in fill(), seed in any::<u64>(), za in -128i32..=127) {
        let mut rng = SeqRng(seed | 1);
        let a = i8_codes(&mut rng, m * k, fa);
        let w = i8_codes(&mut rng, n * k, fw);
        let zw: Vec<i32> = (0..n).map(|_| rng.below(256) as i32 - 128).collect();
        let p = PackedI8::pack(&w, n, k, &[1.0], &zw).unwrap();
        let got = gemm_s8s8_i32(&a, m, za, &p).unwrap();
        let ai: Vec<i32> = a.iter().map(|&v| v as i32).collect();
        let wi: Vec<i32> = w.iter().map(|&v| v as i32).collect();
        prop_assert_eq!(got, int_gemm_definition(&ai, &vec![za; m], &wi, &zw, m, n, k));
    }

    #[test]
    fn f32_and_int8_output_stages_match_definition((m, n, k) in shape(), fa in fill(), seed in any::<u64>()) {
        let mut rng = SeqRng(seed | 1);
        let a = u8_codes(&mut rng, m * k, fa);
        let w = i8_codes(&mut rng, n * k, Fill::Uniform);
        let za: Vec<i32> = (0..m).map(|_| rng.below(256) as i32).collect();
        let sa: Vec<f32> = (0..m).map(|_| rng.f32().abs() * 0.1 + 1e-3).collect();
        let sw: Vec<f32> = (0..n).map(|_| rng.f32().abs() * 0.01 + 1e-4).collect();
        let bias: Vec<f32> = (0..n).map(|_| rng.f32()).collect();
        let p = PackedI8::pack(&w, n, k, &sw, &[0]).unwrap();
        let acts = PackedActs::pack(&a, m, k, &za, &sa, 0).unwrap();
        let ai: Vec<i32> = a.iter().map(|&v| v as i32).collect();
        let wi: Vec<i32> = w.iter().map(|&v| v as i32).collect();
        let acc = int_gemm_definition(&ai, &za, &wi, &vec![0; n], m, n, k);

        let mut y = vec![0f32; m * n];
        gemm_i8(&acts, &p, I8Output::F32 { out: &mut y, bias: &bias }).unwrap();
        for r in 0..m {
            for j in 0..n {
                let want = acc[r * n + j] as f32 * (sa[r] * sw[j]) + bias[j];
                prop_assert_eq!(y[r * n + j].to_bits(), want.to_bits());
            }
        }

        let real: Vec<f64> = (0..n).map(|j| (sa[0] * sw[j]) as f64 / 0.05).collect();
        let bias_i: Vec<i32> = (0..n).map(|_| rng.below(2001) as i32 - 1000).collect();
        let rq = Requant::from_real(&real, bias_i.clone(), -3);
        let mut q = vec![0i8; m * n];
        gemm_i8(&acts, &p, I8Output::I8 { out: &mut q, requant: &rq }).unwrap();
        for r in 0..m {
            for j in 0..n {
                let x = multiply_by_quantized_multiplier(acc[r * n + j] + bias_i[j], rq.multipliers[j], rq.shifts[j]);
                prop_assert_eq!(q[r * n + j] as i32, (x - 3).clamp(-128, 127));
            }
        }
    }

    #[test]
    fn f32_gemm_matches_definition_bit_for_bit((m, n, k) in shape(), seed in any::<u64>(), with_bias in any::<bool>()) {
        let mut rng = SeqRng(seed | 1);
        let x: Vec<f32> = (0..m * k).map(|_| rng.f32()).collect();
        let w: Vec<f32> = (0..n * k).map(|_| rng.f32()).collect();
        let bias: Vec<f32> = (0..n).map(|_| rng.f32()).collect();
        let p = PackedF32::pack(&w, n, k).unwrap();
        let mut y = vec![0f32; m * n];
        gemm_f32(&x, m, &p, with_bias.then_some(&bias[..]), &mut y).unwrap();
        for r in 0..m {
            for j in 0..n {
                let mut acc = 0f32;
                for kk in 0..k {
                    acc += x[r * k + kk] * w[j * k + kk];
                }
                let want = acc + if with_bias { bias[j] } else { 0.0 };
                prop_assert_eq!(y[r * n + j].to_bits(), want.to_bits());
            }
        }
    }

    #[test]
    fn int4_matches_definition_bit_for_bit((m, n, k) in shape(), group in prop_oneof![Just(32usize), Just(64), Just(128), Just(4)],
                                           asym in any::<bool>(), f16 in any::<bool>(), fa in fill(), seed in any::<u64>()) {
        let mut rng = SeqRng(seed | 1);
        let groups = k.div_ceil(group);
        let a = i8_codes(&mut rng, m * k, fa);
        let sa: Vec<f32> = (0..m).map(|_| rng.f32().abs() * 0.1 + 1e-3).collect();
        let scales: Vec<f32> = (0..n * groups).map(|_| rng.f32().abs() * 0.05 + 1e-3).collect();
        let (codes, u, zps): (Codes, Vec<i32>, Vec<i32>) = if asym {
            let c: Vec<u8> = (0..n * k).map(|_| rng.below(16) as u8).collect();
            let z: Vec<i32> = (0..n * groups).map(|_| rng.below(16) as i32).collect();
            (Codes::U8(c.clone()), c.iter().map(|&v| v as i32).collect(), z)
        } else {
            let c: Vec<i8> = (0..n * k).map(|_| rng.below(16) as i8 - 8).collect();
            (Codes::I8(c.clone()), c.iter().map(|&v| v as i32 + 8).collect(), vec![8; n * groups])
        };
        let sd = if f16 { ScaleDType::F16 } else { ScaleDType::F32 };
        let p = PackedI4::pack(&codes, n, k, group, &scales, &zps, sd).unwrap();
        let acts = PackedActs::pack(&a, m, k, &[0], &sa, group).unwrap();
        let mut y = vec![0f32; m * n];
        gemm_i4(&acts, &p, None, &mut y).unwrap();
        for r in 0..m {
            for j in 0..n {
                let mut acc = 0f32;
                for g in 0..groups {
                    let mut s = 0i32;
                    for kk in g * group..((g + 1) * group).min(k) {
                        s += a[r * k + kk] as i32 * (u[j * k + kk] - zps[j * groups + g]);
                    }
                    let sc = if f16 { half::f16::from_f32(scales[j * groups + g]).to_f32() } else { scales[j * groups + g] };
                    acc += s as f32 * sc;
                }
                prop_assert_eq!(y[r * n + j].to_bits(), (acc * sa[r] + 0.0).to_bits());
            }
        }
    }
}

// ---- end to end: dynamic quantization against f32

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum();
    let na: f64 = a.iter().map(|&x| (x as f64).powi(2)).sum();
    let nb: f64 = b.iter().map(|&x| (x as f64).powi(2)).sum();
    dot / (na.sqrt() * nb.sqrt())
}

#[test]
fn dynamic_int8_and_int4_track_f32() {
    let (m, n, k) = (7, 37, 200);
    let mut rng = SeqRng(3);
    let x: Vec<f32> = (0..m * k).map(|_| rng.f32()).collect();
    let w: Vec<f32> = (0..n * k).map(|_| rng.f32() * 0.1).collect();
    let bias: Vec<f32> = (0..n).map(|_| rng.f32()).collect();
    let mut y = vec![0f32; m * n];
    gemm_f32(&x, m, &PackedF32::pack(&w, n, k).unwrap(), Some(&bias), &mut y).unwrap();

    let w8 = PackedI8::quantize(&w, n, k).unwrap();
    for gran in [ActGranularity::PerRow, ActGranularity::PerTensor] {
        let yq = dynamic_quantized_matmul(&x, m, &w8, gran, Some(&bias)).unwrap();
        assert!(cosine(&y, &yq) > 0.9999, "int8 {gran:?}: cosine {}", cosine(&y, &yq));
    }
    for (scheme, sd) in [(Scheme::Symmetric, ScaleDType::F32), (Scheme::Asymmetric, ScaleDType::F16)] {
        for group in [32, 64, 128] {
            let w4 = PackedI4::quantize(&w, n, k, group, scheme, sd).unwrap();
            let y4 = dynamic_quantized_matmul_i4(&x, m, &w4, Some(&bias)).unwrap();
            assert!(cosine(&y, &y4) > 0.99, "int4 {scheme:?} g{group}: cosine {}", cosine(&y, &y4));
        }
    }
}

#[test]
fn shape_errors_are_errors_not_panics() {
    let p = PackedI8::pack(&[1, 2, 3, 4], 2, 2, &[1.0], &[0]).unwrap();
    assert!(gemm_u8s8_i32(&[1, 2, 3], 2, 0, &p).is_err());
    assert!(PackedI8::pack(&[1, 2, 3], 2, 2, &[1.0], &[0]).is_err());
    assert!(PackedF32::pack(&[1.0; 3], 2, 2).is_err());
    let mut y = vec![0f32; 3];
    assert!(gemm_f32(&[1.0; 4], 2, &PackedF32::pack(&[1.0; 4], 2, 2).unwrap(), None, &mut y).is_err());
}
