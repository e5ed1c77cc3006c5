//! The walk-through of the lecture (the page's `?view=lesson`, the CLI's `lesson`): each section's
//! numbers from the library, with the intermediate values a lecture slide shows. One serde schema per
//! section, printed by `quant-playground lesson SECTION --json` and returned by the wasm layer alike.

use crate::calib::{self, CalibConfig, CalibRow, Method};
use crate::error::{Error, Result};
use crate::kernels::scalar::quantize_one;
use crate::metrics::{metrics_from_sums, Metrics};
use crate::quant::minifloat::{MiniFloat, E4M3, E5M2};
use crate::quant::{self, params_from_range, Granularity, QuantSpec, Scheme, SlotRanges};
use crate::app::example::Mlp;
use crate::app::synthetic::{self, Dist};
use half::{bf16, f16};
use serde::Serialize;

// ---- 1. data types: one value's bits in each type ------------------------------------------------------

/// One field of a stored value: its name (`sign`, `exponent`, `mantissa`, `magnitude`) and its bits,
/// most significant first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BitField {
    pub name: &'static str,
    pub bits: String,
}

/// What one type stores for the value, and the type's range and precision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeLayout {
    pub label: &'static str,
    pub width: u8,
    pub fields: Vec<BitField>,
    /// The value read back from the stored bits (an integer type: code × scale); "inf" / "-inf" in JSON.
    #[serde(serialize_with = "crate::metrics::ser_f64")]
    pub stored: f64,
    #[serde(serialize_with = "crate::metrics::ser_f64")]
    pub abs_error: f64,
    /// The largest finite magnitude (an integer type: qmax × scale).
    pub max: f64,
    /// The smallest positive normal number (floats), the step (integers: the scale).
    pub smallest: f64,
    /// The gap between 1 and the next number (floats), or the step (integers): relative precision
    /// for floats, absolute for integers.
    pub step: f64,
    /// Integer types only: the code stored and the scale it is read with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<f32>,
    /// `normal`, `subnormal`, `zero`, `overflow` (became ±Inf), `nan`, or for integers `clipped`/`in range`.
    pub class: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataTypes {
    pub value: f32,
    /// The symmetric range ±int_range the integer types' scale is made for.
    pub int_range: f32,
    pub types: Vec<TypeLayout>,
}

fn bit_string(bits: u64, width: u32) -> String {
    (0..width).rev().map(|i| if bits >> i & 1 == 1 { '1' } else { '0' }).collect()
}

/// Sign / exponent / mantissa of an IEEE-style float of `e` exponent and `m` mantissa bits.
fn float_fields(bits: u64, e: u32, m: u32) -> Vec<BitField> {
    vec![
        BitField { name: "sign", bits: bit_string(bits >> (e + m), 1) },
        BitField { name: "exponent", bits: bit_string(bits >> m & ((1 << e) - 1), e) },
        BitField { name: "mantissa", bits: bit_string(bits & ((1 << m) - 1), m) },
    ]
}

fn float_class(stored: f32, value: f32, min_normal: f64) -> &'static str {
    if !stored.is_finite() && value.is_finite() {
        "overflow" // ±Inf, or NaN in a format without Inf (E4M3FN)
    } else if stored.is_nan() {
        "nan"
    } else if stored == 0.0 {
        "zero"
    } else if (stored.abs() as f64) < min_normal {
        "subnormal"
    } else {
        "normal"
    }
}

/// A stored float's bits and its exponent and mantissa widths.
struct FloatBits {
    bits: u64,
    e: u32,
    m: u32,
}

fn float_layout(label: &'static str, value: f32, FloatBits { bits, e, m }: FloatBits, stored: f32, max: f64, min_normal: f64) -> TypeLayout {
    TypeLayout {
        label,
        width: (1 + e + m) as u8,
        fields: float_fields(bits, e, m),
        stored: stored as f64,
        abs_error: (value as f64 - stored as f64).abs(),
        max,
        smallest: min_normal,
        step: 2f64.powi(-(m as i32)),
        code: None,
        scale: None,
        class: float_class(stored, value, min_normal),
    }
}

/// A symmetric b-bit integer with the scale of the range ±`int_range` (the numerics contract's
/// `params_from_range`): the code in two's complement, as a sign bit and the bits below it.
fn int_layout(label: &'static str, bits: u8, value: f32, int_range: f32) -> TypeLayout {
    let spec = QuantSpec::new(bits, Scheme::Symmetric, Granularity::PerTensor);
    let (qmin, qmax) = spec.code_range();
    let p = params_from_range(&spec, -int_range, int_range);
    let (code, clipped) = quantize_one(value, p.scale, 0, qmin as f32, qmax as f32);
    let b = bits as u32;
    let twos = (code as i64 as u64) & ((1u64 << b) - 1);
    let stored = code as f32 * p.scale;
    TypeLayout {
        label,
        width: bits,
        fields: vec![
            BitField { name: "sign", bits: bit_string(twos >> (b - 1), 1) },
            BitField { name: "magnitude", bits: bit_string(twos & ((1 << (b - 1)) - 1), b - 1) },
        ],
        stored: stored as f64,
        abs_error: (value as f64 - stored as f64).abs(),
        max: (qmax as f32 * p.scale) as f64,
        smallest: p.scale as f64,
        step: p.scale as f64,
        code: Some(code),
        scale: Some(p.scale),
        class: if clipped { "clipped" } else { "in range" },
    }
}

/// An FP8 cast with no scale, as ml_dtypes' `np.float32(x).astype(float8_…)` stores it (quant::minifloat).
fn fp8_layout(label: &'static str, f: &MiniFloat, value: f32) -> TypeLayout {
    let code = f.encode(value);
    let stored = f.decode(code);
    float_layout(label, value, FloatBits { bits: code as u64, e: f.exp_bits, m: f.man_bits }, stored, f.max() as f64, 2f64.powi(1 - f.bias))
}

/// `value` as FP32, FP16, BF16 (the `half` crate's round to nearest even, what `.half()` stores), FP8
/// E4M3 and E5M2 (unscaled casts), and as symmetric INT8 and INT4 with the scale of ±`int_range`.
pub fn data_types(value: f32, int_range: f32) -> Result<DataTypes> {
    if !int_range.is_finite() || int_range <= 0.0 {
        return Err(Error::InvalidSpec(format!("the integer range must be a positive number, got {int_range}")));
    }
    let h = f16::from_f32(value);
    let b = bf16::from_f32(value);
    let types = vec![
        float_layout("fp32", value, FloatBits { bits: value.to_bits() as u64, e: 8, m: 23 }, value, f32::MAX as f64, f32::MIN_POSITIVE as f64),
        float_layout("fp16", value, FloatBits { bits: h.to_bits() as u64, e: 5, m: 10 }, h.to_f32(), f16::MAX.to_f64(), f16::MIN_POSITIVE.to_f64()),
        float_layout("bf16", value, FloatBits { bits: b.to_bits() as u64, e: 8, m: 7 }, b.to_f32(), bf16::MAX.to_f64(), bf16::MIN_POSITIVE.to_f64()),
        fp8_layout("fp8-e4m3", &E4M3, value),
        fp8_layout("fp8-e5m2", &E5M2, value),
        int_layout("int8", 8, value, int_range),
        int_layout("int4", 4, value, int_range),
    ];
    Ok(DataTypes { value, int_range, types })
}

// ---- 2. the formula, every intermediate number ---------------------------------------------------------

/// One element through q = clamp(round(x / scale) + zero_point) and back x̂ = (q − zero_point) · scale.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FormulaStep {
    pub x: f32,
    /// x / scale in f32, before rounding.
    pub divided: f32,
    /// round half to even of `divided`.
    pub rounded: f32,
    /// rounded + zero_point, before the clamp.
    pub shifted: f32,
    pub code: i32,
    pub clipped: bool,
    pub dequantized: f32,
    pub error: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Formula {
    pub bits: u8,
    pub scheme: Scheme,
    pub qmin: i32,
    pub qmax: i32,
    /// The range the scale came from (the data's min and max), or null when the scale was given.
    pub range: Option<[f32; 2]>,
    pub scale: f32,
    pub zero_point: i32,
    pub steps: Vec<FormulaStep>,
    pub codes: Vec<i32>,
    pub mse: f64,
}

/// The formula on `x`: with the given scale and zero point, or (None) the min-max parameters of the
/// numerics contract, which give the lecture's scale 1.2 / 127 for [0.1, 0.5, 0.9, 1.2] at INT8.
pub fn formula(x: &[f32], bits: u8, scheme: Scheme, scale: Option<f32>, zero_point: Option<i32>) -> Result<Formula> {
    let spec = QuantSpec::new(bits, scheme, Granularity::PerTensor);
    spec.validate()?;
    if x.is_empty() {
        return Err(Error::InvalidSpec("the formula needs at least one value".into()));
    }
    if let Some(bad) = x.iter().find(|v| !v.is_finite()) {
        return Err(Error::InvalidSpec(format!("the formula takes finite numbers, got {bad}")));
    }
    let (qmin, qmax) = spec.code_range();
    let (range, scale, zero_point) = match scale {
        Some(s) => {
            if !(s.is_finite() && s > 0.0) {
                return Err(Error::InvalidSpec(format!("the scale must be a positive number, got {s}")));
            }
            let zp = zero_point.unwrap_or(0);
            if zp < qmin || zp > qmax {
                return Err(Error::InvalidSpec(format!("the zero point {zp} is outside the codes {qmin}..{qmax}")));
            }
            (None, s, zp)
        }
        None => {
            let lo = x.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let p = params_from_range(&spec, lo, hi);
            (Some([lo, hi]), p.scale, p.zero_point)
        }
    };
    let (lo, hi) = ((qmin - zero_point) as f32, (qmax - zero_point) as f32);
    let steps: Vec<FormulaStep> = x
        .iter()
        .map(|&v| {
            let divided = v / scale;
            let rounded = divided.round_ties_even();
            let (code, clipped) = quantize_one(v, scale, zero_point, lo, hi);
            let dequantized = (code - zero_point) as f32 * scale;
            FormulaStep { x: v, divided, rounded, shifted: rounded + zero_point as f32, code, clipped, dequantized, error: v - dequantized }
        })
        .collect();
    let mse = steps.iter().map(|s| (s.error as f64).powi(2)).sum::<f64>() / steps.len() as f64;
    let codes = steps.iter().map(|s| s.code).collect();
    Ok(Formula { bits, scheme, qmin, qmax, range, scale, zero_point, steps, codes, mse })
}

// ---- 3. symmetric against asymmetric on one set --------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchemeGrid {
    pub scheme: Scheme,
    pub qmin: i32,
    pub qmax: i32,
    pub scale: f32,
    pub zero_point: i32,
    /// The float range the codes cover: [(qmin − zp)·scale, (qmax − zp)·scale].
    pub covered: [f32; 2],
    /// How many values fell on each code, qmin first.
    pub code_counts: Vec<u64>,
    /// The codes the data's min and max round to: every code between is reachable.
    pub reachable: [i32; 2],
    /// Codes no value of the data's range [min, max] can round to.
    pub wasted_codes: u32,
    pub codes_total: u32,
    pub metrics: Metrics,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchemeComparison {
    pub bits: u8,
    pub elements: usize,
    pub data_range: [f32; 2],
    pub grids: Vec<SchemeGrid>,
}

/// Both schemes with min-max ranges over `x` (say, post-ReLU activations, all ≥ 0: symmetric spends
/// the negative half of its codes on values that never occur).
pub fn schemes(x: &[f32], bits: u8) -> Result<SchemeComparison> {
    if x.is_empty() || x.iter().any(|v| !v.is_finite()) {
        return Err(Error::InvalidSpec("the scheme comparison needs finite values, at least one".into()));
    }
    let lo = x.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut grids = Vec::new();
    for scheme in [Scheme::Symmetric, Scheme::Asymmetric] {
        let spec = QuantSpec::new(bits, scheme, Granularity::PerTensor);
        let q = quant::quantize_minmax(x, &[x.len()], &spec)?;
        let (qmin, qmax) = spec.code_range();
        let (scale, zp) = (q.scales[0], q.zero_points[0]);
        let mut code_counts = vec![0u64; (qmax - qmin + 1) as usize];
        for i in 0..q.codes.len() {
            code_counts[(q.codes.get(i) - qmin) as usize] += 1;
        }
        let (clo, chi) = ((qmin - zp) as f32, (qmax - zp) as f32);
        let reach_lo = quantize_one(lo, scale, zp, clo, chi).0;
        let reach_hi = quantize_one(hi, scale, zp, clo, chi).0;
        let codes_total = (qmax - qmin + 1) as u32;
        grids.push(SchemeGrid {
            scheme,
            qmin,
            qmax,
            scale,
            zero_point: zp,
            covered: [(qmin - zp) as f32 * scale, (qmax - zp) as f32 * scale],
            code_counts,
            reachable: [reach_lo, reach_hi],
            wasted_codes: codes_total - (reach_hi - reach_lo + 1) as u32,
            codes_total,
            metrics: metrics_from_sums(&q.error, q.finite_count(), q.clipped),
        });
    }
    Ok(SchemeComparison { bits, elements: x.len(), data_range: [lo, hi], grids })
}

// ---- 4. granularity: one weight matrix, three ways to share a scale ------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GranularityMap {
    pub granularity: String,
    /// One scale per slot (1 per tensor, one per row, rows × ceil(cols / G) per group).
    pub scales: Vec<f32>,
    /// |x − x̂| of every element, row-major like the weight.
    pub abs_error: Vec<f32>,
    pub metrics: Metrics,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GranularityComparison {
    pub tensor: String,
    pub rows: usize,
    pub cols: usize,
    pub bits: u8,
    pub group: usize,
    pub maps: Vec<GranularityMap>,
}

/// A weight [rows, cols] (out, in) quantized symmetric per tensor, per output channel and per group
/// of `group` inputs, with every element's error for a heatmap.
pub fn granularity(tensor: &str, w: &[f32], rows: usize, cols: usize, bits: u8, group: usize) -> Result<GranularityComparison> {
    let mut maps = Vec::new();
    for g in [Granularity::PerTensor, Granularity::PerChannel { axis: 0 }, Granularity::PerGroup { size: group }] {
        let spec = QuantSpec::new(bits, Scheme::Symmetric, g);
        let q = quant::quantize_minmax(w, &[rows, cols], &spec)?;
        let abs_error = w.iter().zip(q.dequantize()).map(|(&a, b)| (a - b).abs()).collect();
        maps.push(GranularityMap {
            granularity: g.label(),
            scales: q.scales.clone(),
            abs_error,
            metrics: metrics_from_sums(&q.error, q.finite_count(), q.clipped),
        });
    }
    Ok(GranularityComparison { tensor: tensor.into(), rows, cols, bits, group, maps })
}

// ---- 5. calibration: the methods' ranges, and the clipping trade-off -----------------------------------

/// The error of the symmetric range ±threshold split into rounding (values inside, off the grid) and
/// clipping (values outside, clamped to the edge), both as sums over all elements / n.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClipPoint {
    pub threshold: f32,
    pub scale: f32,
    pub rounding_mse: f64,
    pub clipping_mse: f64,
    pub mse: f64,
    pub clipped: usize,
}

pub fn clip_point(x: &[f32], bits: u8, threshold: f32) -> Result<ClipPoint> {
    if !(threshold.is_finite() && threshold > 0.0) {
        return Err(Error::InvalidSpec(format!("the clipping threshold must be a positive number, got {threshold}")));
    }
    let spec = QuantSpec::new(bits, Scheme::Symmetric, Granularity::PerTensor);
    spec.validate()?;
    let (qmin, qmax) = spec.code_range();
    let p = params_from_range(&spec, -threshold, threshold);
    let (mut rounding, mut clipping, mut clipped) = (0f64, 0f64, 0usize);
    for &v in x.iter().filter(|v| v.is_finite()) {
        let (code, was_clipped) = quantize_one(v, p.scale, 0, qmin as f32, qmax as f32);
        let e = (v - code as f32 * p.scale) as f64;
        if was_clipped {
            clipping += e * e;
            clipped += 1;
        } else {
            rounding += e * e;
        }
    }
    let n = x.len().max(1) as f64;
    Ok(ClipPoint { threshold, scale: p.scale, rounding_mse: rounding / n, clipping_mse: clipping / n, mse: (rounding + clipping) / n, clipped })
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    pub bits: u8,
    pub elements: usize,
    /// Counts of `bins` equal bins over [min, max] of the data, for the picture.
    pub histogram: Vec<u64>,
    pub histogram_range: [f32; 2],
    /// Each method's symmetric range and the error fake-quantizing with it gives (calib::calibration_report).
    pub methods: Vec<CalibRow>,
    /// The clipping trade-off at `points` thresholds from max|x| / points to max|x|.
    pub curve: Vec<ClipPoint>,
}

/// The methods the walk-through compares: min-max, the percentile (99.99 by default), MSE and entropy (KL).
pub const LESSON_METHODS: &str = "minmax,percentile,mse,entropy";

pub fn calibration(x: &[f32], bits: u8, bins: usize, points: usize) -> Result<Calibration> {
    if x.is_empty() || x.iter().any(|v| !v.is_finite()) {
        return Err(Error::InvalidSpec("the calibration section needs finite values, at least one".into()));
    }
    let spec = QuantSpec::new(bits, Scheme::Symmetric, Granularity::PerTensor);
    let report = calib::calibration_report(x, &spec, &Method::parse_list(LESSON_METHODS)?, CalibConfig::default(), false)?;
    let lo = x.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let bins = bins.max(1);
    let mut histogram = vec![0u64; bins];
    let width = (hi as f64 - lo as f64) / bins as f64;
    for &v in x {
        let i = if width > 0.0 { ((v as f64 - lo as f64) / width) as usize } else { 0 };
        histogram[i.min(bins - 1)] += 1;
    }
    let amax = lo.abs().max(hi.abs());
    let points = points.max(1);
    let curve = if amax > 0.0 {
        (1..=points).map(|i| clip_point(x, bits, amax * i as f32 / points as f32)).collect::<Result<Vec<_>>>()?
    } else {
        Vec::new()
    };
    Ok(Calibration { bits, elements: x.len(), histogram, histogram_range: [lo, hi], methods: report.methods, curve })
}

// ---- the sets the sections use, seeded so that the page and the CLI show the same numbers -------------

pub const SEED: u64 = 42;
pub const RELU_ELEMENTS: usize = 4096;
pub const OUTLIER_ELEMENTS: usize = 20_000;
pub const HISTOGRAM_BINS: usize = 120;
pub const CURVE_POINTS: usize = 120;

/// Section 3's ReLU-like set: N(0, 1) through max(0, ·).
pub fn relu_set(n: usize, seed: u64) -> Vec<f32> {
    synthetic::generate(Dist::ReluGaussian, n, 1.0, seed)
}

/// Section 5's outlier-heavy activations: N(0, 1) with 0.1% of values at ±20σ.
pub fn outlier_set(n: usize, seed: u64) -> Vec<f32> {
    synthetic::generate(Dist::GaussianOutliers, n, 1.0, seed)
}

/// Section 4 on the layer `layer` (say `fc1`) of a stack of Linear layers in safetensors bytes.
pub fn granularity_of_model(file: &str, bytes: &[u8], layer: &str, bits: u8, group: usize) -> Result<GranularityComparison> {
    let mlp = Mlp::from_safetensors_bytes(file, bytes)?;
    let names: Vec<&str> = mlp.layers.iter().map(|l| l.name.as_str()).collect();
    let l = mlp
        .layers
        .iter()
        .find(|l| l.name == layer)
        .ok_or_else(|| Error::InvalidSpec(format!("{file}: no layer '{layer}' (there are {})", names.join(", "))))?;
    granularity(&format!("{layer}.weight"), &l.weight, l.out_features, l.in_features, bits, group)
}

/// A symmetric range's error with `quantize_with_ranges` (the library's path), to check `clip_point`.
pub fn range_mse(x: &[f32], bits: u8, threshold: f32) -> Result<f64> {
    let spec = QuantSpec::new(bits, Scheme::Symmetric, Granularity::PerTensor);
    let q = quant::quantize_with_ranges(x, &[x.len()], &spec, &SlotRanges { lo: vec![-threshold], hi: vec![threshold], nonfinite: 0 })?;
    Ok(metrics_from_sums(&q.error, q.finite_count(), q.clipped).mse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lecture_formula_gives_95_not_96() {
        let f = formula(&[0.1, 0.5, 0.9, 1.2], 8, Scheme::Symmetric, None, None).unwrap();
        assert_eq!(f.scale, 1.2f32 / 127.0);
        assert_eq!(f.codes, vec![11, 53, 95, 127]);
        // 0.9 / (1.2/127) = 95.25 in f32 arithmetic: the slide's 96 rounds a rounded scale.
        assert!((f.steps[2].divided - 95.25).abs() < 1e-4, "{}", f.steps[2].divided);
        let q = quant::quantize_minmax(&[0.1, 0.5, 0.9, 1.2], &[4], &QuantSpec::new(8, Scheme::Symmetric, Granularity::PerTensor)).unwrap();
        assert_eq!(q.codes.to_i32(), f.codes);
        assert_eq!(q.dequantize(), f.steps.iter().map(|s| s.dequantized).collect::<Vec<_>>());
    }

    #[test]
    fn formula_with_given_scale_and_zero_point_clamps() {
        // scale 0.1, zp 10 at asymmetric 4-bit (codes 0..15): 0.3 → 3 + 10 = 13; 1.0 → 10 + 10 = 20 → 15.
        let f = formula(&[0.3, 1.0, -2.0], 4, Scheme::Asymmetric, Some(0.1), Some(10)).unwrap();
        assert_eq!(f.codes, vec![13, 15, 0]);
        assert!(!f.steps[0].clipped && f.steps[1].clipped && f.steps[2].clipped);
        assert!(formula(&[1.0], 8, Scheme::Symmetric, Some(0.0), None).is_err());
        assert!(formula(&[], 8, Scheme::Symmetric, None, None).is_err());
    }

    #[test]
    fn bits_of_one_in_each_type() {
        let d = data_types(1.0, 1.0).unwrap();
        let fp32 = &d.types[0];
        assert_eq!(fp32.fields.iter().map(|f| f.bits.as_str()).collect::<Vec<_>>(), ["0", "01111111", "00000000000000000000000"]);
        assert_eq!(d.types[1].fields[1].bits, "01111"); // f16 bias 15
        assert_eq!(d.types[2].fields[1].bits, "01111111"); // bf16 keeps f32's exponent
        // FP8 E4M3 (bias 7): 1.0 = 0 0111 000; E5M2 (bias 15): 0 01111 00.
        assert_eq!(d.types[3].fields.iter().map(|f| f.bits.as_str()).collect::<Vec<_>>(), ["0", "0111", "000"]);
        assert_eq!(d.types[4].fields.iter().map(|f| f.bits.as_str()).collect::<Vec<_>>(), ["0", "01111", "00"]);
        assert_eq!((d.types[3].max, d.types[4].max), (448.0, 57344.0));
        let int8 = &d.types[5];
        assert_eq!(int8.code, Some(127));
        assert_eq!(int8.fields[0].bits, "0");
        assert_eq!(int8.fields[1].bits, "1111111");
        assert_eq!(d.types[6].code, Some(7));
        let neg = data_types(-0.5, 1.0).unwrap();
        // −0.5 / (1/127) = −63.5 → −64 (ties to even): 1100 0000 in two's complement.
        assert_eq!(neg.types[5].code, Some(-64));
        assert_eq!(neg.types[5].fields[0].bits, "1");
        assert_eq!(neg.types[5].fields[1].bits, "1000000");
        let big = data_types(70000.0, 1.0).unwrap();
        assert_eq!([big.types[1].class, big.types[3].class, big.types[4].class], ["overflow", "overflow", "overflow"]);
        // 0.1 in E4M3: 2^-4 · 1.625 = 0.1015625 (ml_dtypes: float8_e4m3fn(0.1)).
        assert_eq!(data_types(0.1, 1.0).unwrap().types[3].stored, 0.1015625);
        assert_eq!(data_types(0.1, 1.0).unwrap().types[2].stored, bf16::from_f32(0.1).to_f64());
    }

    #[test]
    fn symmetric_wastes_the_negative_codes_on_relu_data() {
        let x = [0.0f32, 0.5, 1.0, 2.0];
        let s = schemes(&x, 8).unwrap();
        assert_eq!(s.grids[0].wasted_codes, 127); // −127..−1 of −127..127
        assert_eq!(s.grids[0].codes_total, 255);
        assert_eq!(s.grids[1].wasted_codes, 0);
        assert_eq!(s.grids[1].code_counts.iter().sum::<u64>(), 4);
    }

    #[test]
    fn granularity_finer_is_never_worse_on_this_weight() {
        let w: Vec<f32> = (0..64).map(|i| ((i * 37 % 17) as f32 - 8.0) * if i / 8 == 3 { 10.0 } else { 1.0 }).collect();
        let g = granularity("w", &w, 8, 8, 4, 4).unwrap();
        assert_eq!(g.maps.iter().map(|m| m.scales.len()).collect::<Vec<_>>(), [1, 8, 16]);
        assert!(g.maps[1].metrics.mse <= g.maps[0].metrics.mse);
        assert!(g.maps[2].metrics.mse <= g.maps[1].metrics.mse);
    }

    #[test]
    fn clip_point_splits_the_library_error() {
        let x = crate::app::synthetic::generate(crate::app::synthetic::Dist::GaussianOutliers, 5000, 1.0, 7);
        for t in [0.5f32, 2.0, 6.0, 25.0] {
            let p = clip_point(&x, 8, t).unwrap();
            let lib = range_mse(&x, 8, t).unwrap();
            // The library sums the errors in f32 lanes (kernels::ErrorSums); this sums in f64.
            assert!((p.mse - lib).abs() <= 1e-6 * lib, "{t}: {} vs {lib}", p.mse);
            assert!((p.rounding_mse + p.clipping_mse - p.mse).abs() < 1e-15);
        }
        let c = calibration(&x, 8, 100, 50).unwrap();
        assert_eq!(c.methods.len(), 4);
        assert_eq!(c.histogram.iter().sum::<u64>(), 5000);
        assert_eq!(c.curve.len(), 50);
    }
}
