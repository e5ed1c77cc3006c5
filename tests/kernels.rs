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

// ---- the 4-bit LUT GEMV (kernels::lut4): MXFP4 and NF4 decoded on the fly

mod lut4_gemv {
    use super::common::gemm::SeqRng;
    use super::common::lut4::*;
    use quant_playground::kernels::lut4::*;
    use quant_playground::quant::block;
    use quant_playground::quant::format::BlockFormat;

    const FORMATS: [BlockFormat; 2] = [BlockFormat::Mxfp4, BlockFormat::Nf4];

    fn gemv(w: &PackedLut4, x: &[f32]) -> Vec<f32> {
        let mut y = vec![0f32; w.n];
        gemv_lut4(w, x, &mut y).unwrap();
        y
    }

    #[test]
    fn hand_worked_mxfp4_rows_with_a_short_last_block() {
        // Row of 40: block 0 amax 5 → X = 2^(2 − 2) = 1, E2M1(5) = 4, (−0.25) = −0, (1.25) = 1, (0.75) = 1;
        // block 1 (8 long) amax 0.75 → X = 2^(−1 − 2), 0.75 / X = 6 exactly.
        let mut w = vec![0f32; 80];
        w[..4].copy_from_slice(&[5.0, -0.25, 1.25, 0.75]);
        w[35] = 0.75;
        w[40] = -3.0; // row 1: X = 2^(1 − 2), −3 / X = −6; its all-zero last block takes 2^−127 (code 0)
        let x: Vec<f32> = (1..=40).map(|v| v as f32).collect();
        let p = PackedLut4::quantize(BlockFormat::Mxfp4, &w, 2, 40).unwrap();
        assert_eq!(p.scales, Lut4Scales::E8M0(vec![127, 124, 126, 0]));
        // 4·1 − 0·2 + 1·3 + 1·4 + 0.75·36 = 38; row 1: −3·1.
        assert_eq!(gemv(&p, &x), [38.0, -3.0]);
    }

    #[test]
    fn hand_worked_nf4_blocks_cross_rows() {
        // [2, 40]: block 0 is row 0 and row 1's first 24 columns (absmax 4), block 1 row 1's last 16
        // (absmax 0.5). ±absmax are codes 15 and 0 (levels ±1), 0 is code 7 (level 0).
        let mut w = vec![0f32; 80];
        w[0] = 4.0;
        w[3] = -4.0;
        w[40] = -4.0;
        w[40 + 30] = 0.5;
        let x: Vec<f32> = (0..40).map(|v| if v == 30 { 2.0 } else { 1.0 }).collect();
        let p = PackedLut4::quantize(BlockFormat::Nf4, &w, 2, 40).unwrap();
        assert_eq!(p.scales, Lut4Scales::F32(vec![4.0, 0.5]));
        let segs: Vec<_> = p.segments(1).collect();
        assert_eq!(segs, [Segment { col: 0, len: 24, scale: 0 }, Segment { col: 24, len: 16, scale: 1 }]);
        assert_eq!((p.code_at(0, 0), p.code_at(0, 3), p.code_at(0, 1), p.code_at(1, 30)), (15, 0, 7, 15));
        assert_eq!(gemv(&p, &x), [0.0, -4.0 + 1.0]);
    }

    #[test]
    fn packing_keeps_every_code_and_scale() {
        let mut rng = SeqRng(11);
        for &(n, k) in SHAPES.iter() {
            let w = weights(&mut rng, n, k);
            for format in FORMATS {
                let q = block::quantize(format, &w, &[n, k]);
                let p = PackedLut4::from_block(&q, n, k).unwrap();
                for j in 0..n {
                    for c in 0..k {
                        assert_eq!(p.code_at(j, c), q.codes[j * k + c], "{format:?} [{n}, {k}] ({j}, {c})");
                    }
                    // The segments tile the row, and each element's scale is its block's.
                    let mut col = 0;
                    for s in p.segments(j) {
                        assert_eq!(s.col, col);
                        let scale = match p.blocking {
                            Lut4Blocking::RowBlocks(b) => j * k.div_ceil(b) + col / b,
                            Lut4Blocking::FlatBlocks(b) => (j * k + col) / b,
                        };
                        assert_eq!(s.scale, scale, "{format:?} [{n}, {k}] row {j} column {col}");
                        col += s.len;
                    }
                    assert_eq!(col, k);
                }
                let stored = p.stored_bytes() as f64 * 8.0 / (n * k) as f64;
                assert!(stored >= 4.0, "{stored} bits per weight");
            }
        }
    }

    /// Against the dequantized W (quant::block, the comparison's numbers) times x in f64, within the
    /// γ bound of the kernel's operation chain.
    #[test]
    fn values_are_the_dequantized_w_times_x_within_the_f32_bound() {
        let mut rng = SeqRng(5);
        let mut worst = [0f64; 2];
        for &(n, k) in SHAPES.iter() {
            let w = weights(&mut rng, n, k);
            let x: Vec<f32> = (0..k).map(|_| rng.f32() * 3.0).collect();
            for (f, format) in FORMATS.into_iter().enumerate() {
                let q = block::quantize(format, &w, &[n, k]);
                let p = PackedLut4::from_block(&q, n, k).unwrap();
                let (y64, sum_abs) = f64_reference(&q.values, &x, n, k);
                let r = worst_against_f64(&p, &gemv(&p, &x), &y64, &sum_abs);
                assert!(r <= 1.0, "{format:?} [{n}, {k}]: error {r} × the bound");
                worst[f] = worst[f].max(r);
            }
        }
        // The bound is not vacuous: the kernel rounds (a zero error everywhere would mean f64 inputs).
        assert!(worst.iter().all(|&r| r > 0.0 && r < 0.5), "{worst:?}");
    }

    /// Against numpy references written from the specs (scripts/make_lut4_gemv_reference.py: mx_ref with
    /// ml_dtypes' E2M1 cast, nf4_ref with bitsandbytes' tree), y in float64.
    #[test]
    fn values_match_the_numpy_reference() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference/lut4_gemv.json")).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let f32s = |v: &serde_json::Value| v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect::<Vec<_>>();
        let f64s = |v: &serde_json::Value| v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect::<Vec<_>>();
        let cases = doc["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 6);
        for c in cases {
            let (n, k) = (c["n"].as_u64().unwrap() as usize, c["k"].as_u64().unwrap() as usize);
            let (w, x) = (f32s(&c["w"]), f32s(&c["x"]));
            for format in FORMATS {
                let want = &c[format.label()];
                let (y64, sum_abs) = (f64s(&want["y"]), f64s(&want["sum_abs"]));
                let q = block::quantize(format, &w, &[n, k]);
                // Our dequantized W is numpy's: the same f64 products, summed in another order.
                let (ours64, _) = f64_reference(&q.values, &x, n, k);
                for j in 0..n {
                    assert!((ours64[j] - y64[j]).abs() <= 1e-12 * sum_abs[j], "{format:?} [{n}, {k}] row {j}: {} vs numpy {}", ours64[j], y64[j]);
                }
                let p = PackedLut4::from_block(&q, n, k).unwrap();
                let r = worst_against_f64(&p, &gemv(&p, &x), &y64, &sum_abs);
                assert!(r <= 1.0, "{format:?} [{n}, {k}]: error {r} × the bound against numpy");
            }
        }
    }

    #[test]
    fn matmul_is_one_gemv_per_row() {
        let mut rng = SeqRng(8);
        let (m, n, k) = (3, 5, 100);
        let w = weights(&mut rng, n, k);
        let x: Vec<f32> = (0..m * k).map(|_| rng.f32()).collect();
        for format in FORMATS {
            let p = PackedLut4::quantize(format, &w, n, k).unwrap();
            let y = matmul_lut4(&p, &x, m).unwrap();
            for r in 0..m {
                assert_eq!(canonical_bits(&y[r * n..(r + 1) * n]), canonical_bits(&gemv(&p, &x[r * k..(r + 1) * k])));
            }
        }
    }

    #[test]
    fn bad_input_is_an_error_that_says_what() {
        let p = PackedLut4::quantize(BlockFormat::Mxfp4, &[1.0; 64], 2, 32).unwrap();
        let mut y = vec![0f32; 2];
        let e = gemv_lut4(&p, &[1.0; 31], &mut y).unwrap_err().to_string();
        assert!(e.contains("31 values") && e.contains("[2, 32]"), "{e}");
        assert!(gemv_lut4(&p, &[1.0; 32], &mut [0f32; 3]).is_err());
        assert!(matmul_lut4(&p, &[1.0; 65], 2).is_err());
        let values = [0.0f32; 16];
        let e = PackedLut4::pack(&[16, 0], 1, 2, values, Lut4Blocking::RowBlocks(32), Lut4Scales::E8M0(vec![127])).unwrap_err().to_string();
        assert!(e.contains("code 16") && e.contains("column 0"), "{e}");
        let e = PackedLut4::pack(&[0, 0], 1, 2, values, Lut4Blocking::RowBlocks(32), Lut4Scales::E8M0(vec![])).unwrap_err().to_string();
        assert!(e.contains("0 scales") && e.contains("expected 1"), "{e}");
        assert!(PackedLut4::pack(&[0, 0], 1, 2, [1.0; 16], Lut4Blocking::FlatBlocks(64), Lut4Scales::F32(vec![1.0])).is_err());
        assert!(PackedLut4::quantize(BlockFormat::Nvfp4, &[1.0; 16], 1, 16).is_err());
        assert!(PackedLut4::quantize(BlockFormat::Nf4, &[1.0; 15], 1, 16).is_err());
    }

    #[test]
    fn an_e8m0_nan_scale_makes_its_row_nan() {
        let mut codes = vec![2u8; 64];
        codes[0] = 0;
        let values = std::array::from_fn(|c| c as f32);
        let p = PackedLut4::pack(&codes, 2, 32, values, Lut4Blocking::RowBlocks(32), Lut4Scales::E8M0(vec![0xFF, 0])).unwrap();
        let y = gemv(&p, &[1.0; 32]);
        assert!(y[0].is_nan());
        assert_eq!(y[1], 64.0 * 2f32.powi(-127)); // 32 × code 2's value × 2^−127: a subnormal scale, exact
    }
}
