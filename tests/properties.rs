//! Property tests of the numerics contract (DESIGN.md) over random shapes, specs and data:
//! the error bound, re-quantization, an independent model of the contract, bit packing, the scalar
//! twins against the dispatched kernels, and "no NaN ever leaves" for hostile inputs.
// Native only: wasm-pack builds every test target for wasm32; the browser tests are in tests/wasm.rs.
#![cfg(not(target_arch = "wasm32"))]

use proptest::prelude::*;
use quant_playground::kernels::{self, scalar, ErrorSums};
use quant_playground::metrics::metrics_from_sums;
use quant_playground::quant::{
    minmax_ranges, packing, quantize_minmax, quantize_with_ranges, Codes, Granularity, IntFormat, QuantSpec, ScaleDType, Scheme,
    SlotLayout,
};

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// Shapes of rank 1..=3; the last axis reaches past 64 elements so that runs cross the kernels'
/// 4-lane vectors and 64-element f32 blocks. Zero dims are allowed (empty tensors).
fn shape() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        (0usize..=150).prop_map(|n| vec![n]),
        (0usize..=8, 0usize..=80).prop_map(|(a, b)| vec![a, b]),
        (0usize..=4, 0usize..=5, 0usize..=40).prop_map(|(a, b, c)| vec![a, b, c]),
    ]
}

fn granularity(shape: &[usize]) -> BoxedStrategy<Granularity> {
    let rank = shape.len();
    let row = *shape.last().unwrap();
    prop_oneof![
        Just(Granularity::PerTensor),
        (0..rank).prop_map(|axis| Granularity::PerChannel { axis }),
        (1..=row.max(1) + 3).prop_map(|size| Granularity::PerGroup { size }),
    ]
    .boxed()
}

fn spec_for(shape: &[usize], f16_scales: bool) -> BoxedStrategy<QuantSpec> {
    let scale_dtype = if f16_scales { prop_oneof![Just(ScaleDType::F32), Just(ScaleDType::F16)].boxed() } else { Just(ScaleDType::F32).boxed() };
    (2u8..=8, any::<bool>(), any::<bool>(), granularity(shape), scale_dtype)
        .prop_map(|(bits, sym, full_range, granularity, scale_dtype)| QuantSpec {
            format: IntFormat { bits, scheme: if sym { Scheme::Symmetric } else { Scheme::Asymmetric }, full_range },
            granularity,
            scale_dtype,
        })
        .boxed()
}

/// Finite values of one magnitude 10^k (k in −6..=6) per tensor, with exact zeros, repeated values
/// and half-integers mixed in, so that ties and constant slots happen.
fn moderate_values(n: usize) -> impl Strategy<Value = Vec<f32>> {
    let value = prop_oneof![
        8 => -1.0f32..1.0,
        1 => Just(0.0f32),
        1 => (-64i32..64).prop_map(|k| k as f32 * 0.5),
    ];
    (proptest::collection::vec(value, n), -6i32..=6).prop_map(|(v, k)| {
        let m = 10f32.powi(k);
        v.into_iter().map(|x| x * m).collect()
    })
}

/// Anything an f32 can be: NaN, ±Inf, ±0, subnormals, the extremes, and ordinary values.
fn wild_value() -> impl Strategy<Value = f32> {
    prop_oneof![
        4 => -2.0f32..2.0,
        2 => any::<f32>(),
        1 => prop::sample::select(vec![
            f32::NAN,
            -f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            0.0,
            -0.0,
            f32::MAX,
            f32::MIN,
            f32::MIN_POSITIVE,
            -f32::MIN_POSITIVE,
            f32::from_bits(1),
            -f32::from_bits(1),
            1e-40,
            3.0e38,
            -3.0e38,
        ]),
    ]
}

fn wild_values(n: usize) -> impl Strategy<Value = Vec<f32>> {
    prop_oneof![
        3 => proptest::collection::vec(wild_value(), n),
        1 => Just(vec![0.0; n]),
        1 => wild_value().prop_map(move |v| vec![v; n]),
    ]
}

fn case(moderate: bool, f16_scales: bool) -> impl Strategy<Value = (Vec<usize>, QuantSpec, Vec<f32>)> {
    shape().prop_flat_map(move |shape| {
        let n = shape.iter().product();
        let data = if moderate { moderate_values(n).boxed() } else { wild_values(n).boxed() };
        (Just(shape.clone()), spec_for(&shape, f16_scales), data)
    })
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Distance from |v| to the next f32 away from zero (for v = 0: the smallest subnormal).
fn ulp(v: f32) -> f64 {
    let a = v.abs();
    if a == f32::MAX {
        return a as f64 - f32::from_bits(a.to_bits() - 1) as f64;
    }
    f32::from_bits(a.to_bits() + 1) as f64 - a as f64
}

/// Runs (start, len, slot) of a layout, in memory order.
fn runs(layout: &SlotLayout) -> Vec<(usize, usize, usize)> {
    let mut v = Vec::new();
    layout.for_each_run(|s, l, slot| v.push((s, l, slot)));
    v
}

fn sums_bits(s: &ErrorSums) -> [u64; 5] {
    [s.sum_xx.to_bits(), s.sum_yy.to_bits(), s.sum_xy.to_bits(), s.sum_ee.to_bits(), s.max_abs_err.to_bits() as u64]
}

/// The slot of flat element i, from the multi-index (independent of SlotLayout's runs).
fn slot_of(i: usize, shape: &[usize], g: Granularity) -> usize {
    match g {
        Granularity::PerTensor => 0,
        Granularity::PerChannel { axis } => {
            let inner: usize = shape[axis + 1..].iter().product();
            (i / inner) % shape[axis]
        }
        Granularity::PerGroup { size } => {
            let row = *shape.last().unwrap();
            (i / row) * row.div_ceil(size) + (i % row) / size
        }
    }
}

fn slot_count(shape: &[usize], g: Granularity) -> usize {
    match g {
        Granularity::PerTensor => 1,
        Granularity::PerChannel { axis } => shape[axis],
        Granularity::PerGroup { size } => {
            let row = *shape.last().unwrap();
            shape.iter().product::<usize>().checked_div(row).map_or(0, |rows| rows * row.div_ceil(size))
        }
    }
}

/// The contract written out once more, element by element in f32, for comparison with the core.
fn model(x: &[f32], shape: &[usize], spec: &QuantSpec) -> (Vec<f32>, Vec<i32>, Vec<i32>, Vec<f32>) {
    let slots = slot_count(shape, spec.granularity);
    let (mut lo, mut hi) = (vec![f32::INFINITY; slots], vec![f32::NEG_INFINITY; slots]);
    for (i, &v) in x.iter().enumerate() {
        let s = slot_of(i, shape, spec.granularity);
        if v.is_finite() {
            lo[s] = lo[s].min(v);
            hi[s] = hi[s].max(v);
        }
    }
    let (qmin, qmax) = match spec.format.scheme {
        Scheme::Symmetric => {
            let qmax = (1i32 << (spec.format.bits - 1)) - 1;
            (if spec.format.full_range { -qmax - 1 } else { -qmax }, qmax)
        }
        Scheme::Asymmetric => (0, (1i32 << spec.format.bits) - 1),
    };
    let store = |s: f32| if spec.scale_dtype == ScaleDType::F16 { half::f16::from_f32(s).to_f32() } else { s };
    let usable = |s: f32| if s.is_finite() && s > 0.0 { s } else { 1.0 };
    let mut scales = Vec::new();
    let mut zps = Vec::new();
    for s in 0..slots {
        match spec.format.scheme {
            Scheme::Symmetric => {
                let amax = lo[s].abs().max(hi[s].abs());
                scales.push(usable(store(amax / qmax as f32)));
                zps.push(0);
            }
            Scheme::Asymmetric => {
                let (l, h) = (lo[s].min(0.0), hi[s].max(0.0));
                let scale = usable(store((h - l) / (qmax - qmin) as f32));
                scales.push(scale);
                zps.push((qmin as f32 - l / scale).round_ties_even().clamp(qmin as f32, qmax as f32) as i32);
            }
        }
    }
    let mut q = Vec::new();
    let mut deq = Vec::new();
    for (i, &v) in x.iter().enumerate() {
        let s = slot_of(i, shape, spec.granularity);
        let c = ((v / scales[s]).round_ties_even() + zps[s] as f32).clamp(qmin as f32, qmax as f32) as i32;
        q.push(c);
        deq.push((c - zps[s]) as f32 * scales[s]);
    }
    (scales, zps, q, deq)
}

fn config() -> ProptestConfig {
    // No regression files: the strategies are the record; a failure prints its minimal input.
    // PROPTEST_CASES (read by ProptestConfig::default) overrides the 1000 cases for a longer soak.
    let defaults = ProptestConfig::default();
    let cases = if std::env::var_os("PROPTEST_CASES").is_some() { defaults.cases } else { 1000 };
    ProptestConfig { cases, failure_persistence: None, ..defaults }
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    /// |x − x̂| ≤ scale/2 for every finite x inside its slot's representable range
    /// [(qmin − zp)·scale, (qmax − zp)·scale], up to f32 rounding: x/scale and (q − zp)·scale each
    /// round once, adding at most |x|·2^-24 and |x̂|·2^-24, i.e. less than one ulp of each value.
    /// Values outside the range clamp to qmin / qmax.
    #[test]
    fn error_is_at_most_half_a_step((shape, spec, x) in case(true, true)) {
        let q = quantize_minmax(&x, &shape, &spec).unwrap();
        let xhat = q.dequantize();
        let (qmin, qmax) = spec.code_range();
        let (mut outside, mut far_outside) = (0, 0);
        for (start, len, slot) in runs(&q.layout) {
            let (s, zp) = (q.scales[slot], q.zero_points[slot]);
            let (lo, hi) = ((qmin - zp) as f64 * s as f64, (qmax - zp) as f64 * s as f64);
            for i in start..start + len {
                let (v, y) = (x[i] as f64, xhat[i] as f64);
                let bound = s as f64 / 2.0 + ulp(x[i]) + ulp(xhat[i]);
                if v < lo || v > hi {
                    // Past the range: the code is the end of the range, whatever the distance.
                    prop_assert_eq!(q.codes.get(i), if v < lo { qmin } else { qmax });
                    outside += 1;
                    // "Far" leaves room for the f32 rounding of the scale and the zero point, which can
                    // move an edge value past the grid by a few ulps of the range on top of half a step.
                    if (v - y).abs() > bound + s as f64 * 1e-3 {
                        far_outside += 1;
                    }
                } else {
                    prop_assert!((v - y).abs() <= bound, "x[{}] = {:e}, x̂ = {:e}, scale {:e}: error {:e} > {:e}", i, v, y, s, (v - y).abs(), bound);
                }
            }
        }
        // `clipped` counts the values whose rounded code left the range: every value more than half a
        // step past it, and none inside it.
        prop_assert!(far_outside <= q.clipped && q.clipped <= outside, "far {} clipped {} outside {}", far_outside, q.clipped, outside);
        // Min-max ranges with f32 scales hold every value to within half a step (the zero point's
        // rounding can push an edge value past qmax by at most that).
        if spec.scale_dtype == ScaleDType::F32 {
            prop_assert_eq!(far_outside, 0);
        }
    }

    /// Quantizing x̂ again with the same scales and zero points gives the same codes.
    #[test]
    fn requantizing_the_dequantized_tensor_is_the_identity((shape, spec, x) in case(false, true)) {
        let layout = SlotLayout::new(&shape, spec.granularity).unwrap();
        let ranges = minmax_ranges(&x, &layout);
        let q1 = quantize_with_ranges(&x, &shape, &spec, &ranges).unwrap();
        prop_assert_eq!(&q1, &quantize_minmax(&x, &shape, &spec).unwrap());
        let xhat = q1.dequantize();
        let q2 = quantize_with_ranges(&xhat, &shape, &spec, &ranges).unwrap();
        prop_assert_eq!(&q2.scales, &q1.scales);
        prop_assert_eq!(&q2.zero_points, &q1.zero_points);
        // Near ±f32::MAX, (q − zp)·scale can round past the largest f32 to ±Inf (an f32 limit, see
        // f32_max_range_asymmetric_int2_stays_free_of_nan); such an x̂ requantizes to qmin / qmax.
        // Every finite x̂ must give back its code.
        let (qmin, qmax) = spec.code_range();
        for i in 0..x.len() {
            let want = if xhat[i].is_finite() { q1.codes.get(i) } else if xhat[i] > 0.0 { qmax } else { qmin };
            prop_assert_eq!(q2.codes.get(i), want, "element {} x = {:e} x̂ = {:e}", i, x[i], xhat[i]);
        }
        // And through the kernels directly, slot by slot.
        let mut again = vec![0i32; x.len()];
        for (start, len, slot) in runs(&q1.layout) {
            let (s, zp) = (q1.scales[slot], q1.zero_points[slot]);
            match &q1.codes {
                Codes::I8(_) => {
                    let mut out = vec![0i8; len];
                    kernels::quantize(&xhat[start..start + len], s, zp, qmin, qmax, &mut out);
                    for (k, c) in out.into_iter().enumerate() { again[start + k] = c as i32; }
                }
                Codes::U8(_) => {
                    let mut out = vec![0u8; len];
                    kernels::quantize(&xhat[start..start + len], s, zp, qmin, qmax, &mut out);
                    for (k, c) in out.into_iter().enumerate() { again[start + k] = c as i32; }
                }
            }
        }
        prop_assert_eq!(again, q2.codes.to_i32());
    }

    /// The core equals the contract written out independently (slot from the multi-index, not runs).
    #[test]
    fn core_matches_an_independent_model_of_the_contract((shape, spec, x) in case(true, true)) {
        let q = quantize_minmax(&x, &shape, &spec).unwrap();
        let (scales, zps, codes, deq) = model(&x, &shape, &spec);
        prop_assert_eq!(q.layout.slots, scales.len());
        prop_assert_eq!(q.scales.iter().map(|s| s.to_bits()).collect::<Vec<_>>(), scales.iter().map(|s| s.to_bits()).collect::<Vec<_>>());
        prop_assert_eq!(&q.zero_points, &zps);
        prop_assert_eq!(q.codes.to_i32(), codes);
        prop_assert_eq!(q.dequantize().iter().map(|v| v.to_bits()).collect::<Vec<_>>(), deq.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        if let Granularity::PerGroup { size } = spec.granularity {
            let row = *shape.last().unwrap();
            let want = (row > size && row % size != 0).then_some(row % size);
            prop_assert_eq!(q.layout.short_last_group, want);
        }
    }

    /// No NaN ever leaves: scales finite and positive, zero points and codes in range, x̂ and the
    /// error metrics free of NaN, for NaN / ±Inf / subnormal / extreme / constant / empty inputs.
    #[test]
    fn no_nan_ever_leaves((shape, spec, x) in case(false, true)) {
        let q = quantize_minmax(&x, &shape, &spec).unwrap();
        let (qmin, qmax) = spec.code_range();
        prop_assert_eq!(q.scales.len(), q.layout.slots);
        for (&s, &zp) in q.scales.iter().zip(&q.zero_points) {
            prop_assert!(s.is_finite() && s > 0.0, "scale {}", s);
            prop_assert!((qmin..=qmax).contains(&zp), "zero point {}", zp);
            if spec.format.scheme == Scheme::Symmetric { prop_assert_eq!(zp, 0); }
        }
        for (i, &v) in x.iter().enumerate() {
            let c = q.codes.get(i);
            prop_assert!((qmin..=qmax).contains(&c));
            if v.is_nan() {
                // NaN quantizes to its slot's zero point.
                let slot = slot_of(i, &shape, spec.granularity);
                prop_assert_eq!(c, q.zero_points[slot]);
            } else if v == f32::INFINITY {
                prop_assert_eq!(c, qmax);
            } else if v == f32::NEG_INFINITY {
                prop_assert_eq!(c, qmin);
            }
        }
        prop_assert!(q.dequantize().iter().all(|v| !v.is_nan()));
        prop_assert_eq!(q.nonfinite, x.iter().filter(|v| !v.is_finite()).count());
        let e = &q.error;
        prop_assert!(!(e.sum_xx.is_nan() || e.sum_yy.is_nan() || e.sum_xy.is_nan() || e.sum_ee.is_nan() || e.max_abs_err.is_nan()), "{:?}", e);
        let m = metrics_from_sums(&q.error, q.finite_count(), q.clipped);
        prop_assert!(!(m.mse.is_nan() || m.sqnr_db.is_nan() || m.max_abs_err.is_nan() || m.clipped_share.is_nan()), "{:?}", m);
        prop_assert!(m.cosine.is_none_or(|c| !c.is_nan()));
    }

    /// pack / unpack round-trips every width 1..=8, signed and unsigned, and puts element i in bits
    /// [i·b, (i+1)·b) of the little-endian bit stream with zero padding.
    #[test]
    fn packing_round_trips(bits in 1u8..=8, signed in any::<bool>(), raw in proptest::collection::vec(any::<u8>(), 0..200)) {
        let codes: Vec<i32> = raw.iter().map(|&r| {
            let v = r as i32 & ((1 << bits) - 1);
            if signed && v >> (bits - 1) == 1 { v - (1 << bits) } else { v }
        }).collect();
        let packed = packing::pack(codes.iter().copied(), bits);
        prop_assert_eq!(packed.len(), (codes.len() * bits as usize).div_ceil(8));
        prop_assert_eq!(packing::unpack(&packed, bits, codes.len(), signed).unwrap(), codes.clone());
        let bit = |k: usize| (packed[k / 8] >> (k % 8)) & 1;
        for (i, &c) in codes.iter().enumerate() {
            let field: u32 = (0..bits as usize).map(|j| (bit(i * bits as usize + j) as u32) << j).sum();
            prop_assert_eq!(field, (c as u32) & ((1 << bits) - 1));
        }
        prop_assert!((codes.len() * bits as usize..packed.len() * 8).all(|k| bit(k) == 0));
        if bits == 4 {
            for (i, pair) in codes.chunks(2).enumerate() {
                prop_assert_eq!(packed[i] & 0x0F, (pair[0] & 0xF) as u8);
                prop_assert_eq!(packed[i] >> 4, pair.get(1).map_or(0, |&c| (c & 0xF) as u8));
            }
        }
    }

    /// The quantized tensors of the core pack and unpack to the same codes.
    #[test]
    fn quantized_codes_survive_packing((shape, spec, x) in case(false, false)) {
        let q = quantize_minmax(&x, &shape, &spec).unwrap();
        let packed = packing::pack(q.codes.to_i32().into_iter(), spec.format.bits);
        let payload = (x.len() as u64 * spec.format.bits as u64).div_ceil(8);
        prop_assert_eq!(packed.len() as u64, payload);
        prop_assert_eq!(q.stored_bytes(), payload + q.layout.slots as u64 * if spec.format.scheme == Scheme::Asymmetric { 5 } else { 4 });
        let signed = spec.format.scheme == Scheme::Symmetric;
        prop_assert_eq!(packing::unpack(&packed, spec.format.bits, x.len(), signed).unwrap(), q.codes.to_i32());
    }

    /// The dispatched kernels equal their scalar twins bit for bit (natively they are the same code;
    /// in a wasm SIMD build this checks the SIMD kernels).
    #[test]
    fn dispatched_kernels_equal_scalar_twins(
        x in proptest::collection::vec(wild_value(), 0..300),
        y_seed in proptest::collection::vec(wild_value(), 0..300),
        scale in prop_oneof![Just(1.0f32), 1e-6f32..10.0, Just(f32::MIN_POSITIVE), Just(1e-40f32)],
        (qmin, qmax, zp) in (2u8..=8, any::<bool>(), any::<bool>()).prop_flat_map(|(bits, sym, full)| {
            let spec = QuantSpec { format: IntFormat { bits, scheme: if sym { Scheme::Symmetric } else { Scheme::Asymmetric }, full_range: full }, granularity: Granularity::PerTensor, scale_dtype: ScaleDType::F32 };
            let (lo, hi) = spec.code_range();
            (Just(lo), Just(hi), if sym { Just(0).boxed() } else { (lo..=hi).boxed() })
        }),
    ) {
        let mm = |v: (f32, f32, usize)| (v.0.to_bits(), v.1.to_bits(), v.2);
        prop_assert_eq!(mm(kernels::min_max_finite(&x)), mm(scalar::min_max_finite(&x)));
        let y: Vec<f32> = x.iter().enumerate().map(|(i, &v)| y_seed.get(i).copied().unwrap_or(v)).collect();
        prop_assert_eq!(sums_bits(&kernels::error_sums_f32(&x, &y)), sums_bits(&scalar::error_sums_f32(&x, &y)));
        if qmin < 0 {
            let (mut a, mut b) = (vec![0i8; x.len()], vec![0i8; x.len()]);
            prop_assert_eq!(kernels::quantize(&x, scale, zp, qmin, qmax, &mut a), scalar::quantize(&x, scale, zp, qmin, qmax, &mut b));
            prop_assert_eq!(&a, &b);
            let (mut da, mut db) = (vec![0f32; x.len()], vec![0f32; x.len()]);
            kernels::dequantize(&a, scale, zp, &mut da);
            scalar::dequantize(&a, scale, zp, &mut db);
            prop_assert_eq!(da.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), db.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
            prop_assert_eq!(sums_bits(&kernels::error_sums(&x, &a, scale, zp)), sums_bits(&scalar::error_sums(&x, &a, scale, zp)));
        } else {
            let (mut a, mut b) = (vec![0u8; x.len()], vec![0u8; x.len()]);
            prop_assert_eq!(kernels::quantize(&x, scale, zp, qmin, qmax, &mut a), scalar::quantize(&x, scale, zp, qmin, qmax, &mut b));
            prop_assert_eq!(&a, &b);
            let (mut da, mut db) = (vec![0f32; x.len()], vec![0f32; x.len()]);
            kernels::dequantize(&a, scale, zp, &mut da);
            scalar::dequantize(&a, scale, zp, &mut db);
            prop_assert_eq!(da.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), db.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
            prop_assert_eq!(sums_bits(&kernels::error_sums(&x, &a, scale, zp)), sums_bits(&scalar::error_sums(&x, &a, scale, zp)));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Hand-worked edge cases the strategies reach only by luck
// ---------------------------------------------------------------------------------------------

#[test]
fn scalar_kernels_hand_worked() {
    // min/max skip NaN and ±Inf and count them; none finite gives (+Inf, −Inf, n).
    assert_eq!(scalar::min_max_finite(&[3.0, f32::NAN, -2.0, f32::INFINITY, 0.5]), (-2.0, 3.0, 2));
    assert_eq!(scalar::min_max_finite(&[f32::NAN, f32::NEG_INFINITY]), (f32::INFINITY, f32::NEG_INFINITY, 2));
    // scale 0.5, zp 3, codes 0..=7: 1.25/0.5 = 2.5 → 2 (even) + 3 = 5; −0.75/0.5 = −1.5 → −2 + 3 = 1;
    // 10 → 20 + 3 clamps to 7 (clipped); −10 clamps to 0 (clipped); NaN → 3; +Inf → 7 (not counted as clipped).
    let mut out = [0u8; 6];
    let clipped = scalar::quantize(&[1.25, -0.75, 10.0, -10.0, f32::NAN, f32::INFINITY], 0.5, 3, 0, 7, &mut out);
    assert_eq!(out, [5, 1, 7, 0, 3, 7]);
    assert_eq!(clipped, 2);
    let mut deq = [0f32; 6];
    scalar::dequantize(&out, 0.5, 3, &mut deq);
    assert_eq!(deq, [1.0, -1.0, 2.0, -1.5, 0.0, 2.0]);
    // Error sums over the finite x only: errors 0.25, 0.25, 8, 8.5 → Σe² = 0.0625·2 + 64 + 72.25.
    let s = scalar::error_sums(&[1.25, -0.75, 10.0, -10.0, f32::NAN, f32::INFINITY], &out, 0.5, 3);
    assert_eq!(s.sum_ee, 136.375);
    assert_eq!(s.max_abs_err, 8.5);
    assert_eq!(s.sum_xx, 1.5625 + 0.5625 + 100.0 + 100.0);
}

#[test]
fn packing_hand_worked() {
    // INT4: element 2i in the low nibble, 2i+1 in the high nibble; −1 is 0xF, −8 is 0x8.
    assert_eq!(packing::pack([-1, 7, -8, 0, 3].into_iter(), 4), vec![0x7F, 0x08, 0x03]);
    assert_eq!(packing::unpack(&[0x7F, 0x08, 0x03], 4, 5, true).unwrap(), vec![-1, 7, -8, 0, 3]);
    // INT2: four per byte, LSB first: [1, −2, 0, −1] → 0b11_00_10_01.
    assert_eq!(packing::pack([1, -2, 0, -1].into_iter(), 2), vec![0b1100_1001]);
    // INT3 across a byte boundary: [7, 0, 5] → bits 111 000 101 → 0b01_000_111, 0b1.
    assert_eq!(packing::pack([7, 0, 5].into_iter(), 3), vec![0b0100_0111, 0b0000_0001]);
}

#[test]
fn unpack_with_an_overflowing_count_is_an_error_not_a_panic() {
    // n · bits overflows usize: the byte count must be checked, not wrapped (a wrapped count of 0 would
    // pass the length check and then try to allocate 2^61 codes).
    assert!(packing::unpack(&[], 8, 1usize << 61, false).is_err());
    assert!(packing::unpack(&[], 8, usize::MAX, true).is_err());
    assert!(packing::unpack(&[0; 4], 3, usize::MAX / 2, false).is_err());
}

#[test]
fn empty_single_and_constant_tensors() {
    for scheme in [Scheme::Symmetric, Scheme::Asymmetric] {
        for granularity in [Granularity::PerTensor, Granularity::PerChannel { axis: 1 }, Granularity::PerGroup { size: 3 }] {
            let spec = QuantSpec::new(4, scheme, granularity);
            // [0, 5]: no elements. Per-channel along axis 1 still has 5 (empty) slots, each scale 1.
            let q = quantize_minmax(&[], &[0, 5], &spec).unwrap();
            assert!(q.codes.is_empty());
            let slots = if matches!(granularity, Granularity::PerChannel { .. }) { 5 } else if granularity == Granularity::PerTensor { 1 } else { 0 };
            assert_eq!(q.scales, vec![1.0; slots], "{}", spec.label());
            // A constant −3 in a [1, 1]: sym scale 3/7, code −7, x̂ = −7·(3/7) = −3; asym scale 3/15, zp 15, code 0.
            let q = quantize_minmax(&[-3.0], &[1, 1], &spec).unwrap();
            let s = if scheme == Scheme::Symmetric { 3.0f32 / 7.0 } else { 3.0f32 / 15.0 };
            assert_eq!(q.scales, vec![s]);
            let (code, zp) = if scheme == Scheme::Symmetric { (-7, 0) } else { (0, 15) };
            assert_eq!((q.codes.get(0), q.zero_points[0]), (code, zp));
            assert_eq!(q.dequantize(), vec![(code - zp) as f32 * s]);
            // All zeros: scale 1, codes at the zero point (0 either way), exact.
            let q = quantize_minmax(&[0.0; 6], &[2, 3], &spec).unwrap();
            assert!(q.scales.iter().all(|&s| s == 1.0));
            assert_eq!(q.codes.to_i32(), vec![0; 6]);
            assert_eq!(q.dequantize(), vec![0.0; 6]);
        }
    }
}

#[test]
fn f32_max_range_asymmetric_int2_stays_free_of_nan() {
    // hi − lo = 2·f32::MAX overflows f32; the core takes the width in f64: scale = 6.8e38/3 = 2.27e38.
    // zp = round(0 − (−3.4e38)/2.27e38) = round(1.5) = 2. −f32::MAX → round(−1.5) = −2 → code 0, and
    // x̂ = (0 − 2)·2.27e38 overflows to −Inf: not NaN, which is what the contract promises.
    let spec = QuantSpec::new(2, Scheme::Asymmetric, Granularity::PerTensor);
    let q = quantize_minmax(&[f32::MIN, f32::MAX], &[2], &spec).unwrap();
    let scale = ((f32::MAX as f64 * 2.0) / 3.0) as f32;
    assert_eq!((q.scales[0], q.zero_points[0]), (scale, 2));
    assert_eq!(q.codes.to_i32(), vec![0, 3]);
    assert_eq!(q.dequantize(), vec![f32::NEG_INFINITY, scale]);
}
