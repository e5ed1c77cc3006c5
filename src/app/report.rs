//! The one report schema the CLI prints and the page shows (serde; JSON for both).

use crate::error::Result;
use crate::kernels;
use crate::metrics::{bits_per_weight, metrics_from_sums, Metrics};
use crate::quant::ggml::{self, GgmlType};
use crate::quant::block::{self, BlockQuantized};
use crate::quant::{self, BlockFormat, FloatCast, NumberFormat, QuantSpec, QuantizedTensor};
use crate::tensor::DType;
use serde::Serialize;

/// Many scales or zero points are summarised; up to `LIST_LIMIT` are listed in full.
pub const LIST_LIMIT: usize = 64;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub count: usize,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<f64>>,
}

impl Summary {
    pub fn of(values: impl Iterator<Item = f64> + Clone) -> Summary {
        let count = values.clone().count();
        let (mut min, mut max, mut sum) = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
        for v in values.clone() {
            min = min.min(v);
            max = max.max(v);
            sum += v;
        }
        if count == 0 {
            (min, max) = (0.0, 0.0);
        }
        Summary {
            count,
            min,
            max,
            mean: if count == 0 { 0.0 } else { sum / count as f64 },
            values: (count <= LIST_LIMIT).then(|| values.collect()),
        }
    }
}

/// One row of a comparison: a tensor under one number format (quant::format).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorReport {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
    pub elements: usize,
    /// The format's label: "fp32", "fp16", "bf16", "int8 sym channel:0", "q4_k".
    pub config: String,
    pub bits: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_range: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub granularity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scales: Option<Summary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zero_points: Option<Summary>,
    #[serde(flatten)]
    pub metrics: Metrics,
    pub bytes_fp32: u64,
    pub bytes_quantized: u64,
    pub bits_per_weight: f64,
    /// NaN / ±Inf elements in the input (left out of the metrics).
    pub nonfinite: usize,
    /// Per-group: the length of each row's last group when shorter than G.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub short_last_group: Option<usize>,
}

fn base(name: &str, dtype: DType, shape: &[usize], n: usize, config: &str, bits: u8, metrics: Metrics, bytes: u64, nonfinite: usize) -> TensorReport {
    TensorReport {
        name: name.to_string(),
        dtype: dtype.name().to_string(),
        shape: shape.to_vec(),
        elements: n,
        config: config.to_string(),
        bits,
        scheme: None,
        full_range: None,
        granularity: None,
        calibration: None,
        scales: None,
        zero_points: None,
        metrics,
        bytes_fp32: n as u64 * 4,
        bytes_quantized: bytes,
        bits_per_weight: bits_per_weight(bytes, n as u64),
        nonfinite,
        short_last_group: None,
    }
}

/// The report of an integer quantization.
pub fn int_report(name: &str, dtype: DType, q: &QuantizedTensor, calibration: &str) -> TensorReport {
    let n = q.codes.len();
    let metrics = metrics_from_sums(&q.error, q.finite_count(), q.clipped);
    let mut r = base(name, dtype, &q.shape, n, &q.spec.label(), q.spec.format.bits, metrics, q.stored_bytes(), q.nonfinite);
    r.scheme = Some(q.spec.format.scheme.short_name().into());
    r.full_range = Some(q.spec.format.is_full_range());
    r.granularity = Some(q.spec.granularity.label());
    r.calibration = Some(calibration.into());
    r.scales = Some(Summary::of(q.scales.iter().map(|&s| s as f64)));
    r.zero_points = Some(Summary::of(q.zero_points.iter().map(|&z| z as f64)));
    r.short_last_group = q.layout.short_last_group;
    r
}

/// The float rows: fp32 (exact, the baseline), fp16 and bf16 (round-to-nearest-even casts).
pub fn float_report(name: &str, dtype: DType, shape: &[usize], x: &[f32], cast: FloatCast) -> TensorReport {
    let n = x.len();
    let nonfinite = x.iter().filter(|v| !v.is_finite()).count();
    let sums = kernels::error_sums_f32(x, &cast.round_trip(x));
    let metrics = metrics_from_sums(&sums, n - nonfinite, 0);
    let bits = cast.bits();
    base(name, dtype, shape, n, cast.label(), bits, metrics, n as u64 * bits as u64 / 8, nonfinite)
}

/// A ggml block type's row: ggml's reference quantizer, then its dequantizer (rows in whole blocks).
pub fn ggml_report(name: &str, dtype: DType, shape: &[usize], x: &[f32], t: GgmlType) -> Result<TensorReport> {
    let (bytes, back) = ggml::round_trip(t, x, shape)?;
    let n = x.len();
    let nonfinite = x.iter().filter(|v| !v.is_finite()).count();
    let metrics = metrics_from_sums(&kernels::error_sums_f32(x, &back), n - nonfinite, 0);
    let bits = t.codec().map_or(0, |c| c.code_bits);
    Ok(base(name, dtype, shape, n, &NumberFormat::Ggml(t).label(), bits, metrics, bytes.len() as u64, nonfinite))
}

/// The row of an FP8 / MX / NVFP4 / NF4 tensor: its scales summarised, bytes = codes at their width
/// plus the scales.
pub fn block_report(name: &str, dtype: DType, x: &[f32], q: &BlockQuantized) -> TensorReport {
    let n = x.len();
    let nonfinite = x.iter().filter(|v| !v.is_finite()).count();
    let metrics = metrics_from_sums(&kernels::error_sums_f32(x, &q.values), n - nonfinite, 0);
    let label = NumberFormat::Block(q.format).label();
    let mut r = base(name, dtype, &q.shape, n, &label, q.format.code_bits(), metrics, q.stored_bits().div_ceil(8), nonfinite);
    r.scales = Some(Summary::of(q.scales.values().into_iter().map(|s| s as f64)));
    r
}

/// The row of a block format, quantized here.
pub fn block_format_report(name: &str, dtype: DType, shape: &[usize], x: &[f32], format: BlockFormat) -> TensorReport {
    block_report(name, dtype, x, &block::quantize(format, x, shape))
}

/// The row of any number format; integer specs take min-max ranges.
pub fn format_report(name: &str, dtype: DType, shape: &[usize], x: &[f32], format: &NumberFormat) -> Result<TensorReport> {
    match format {
        NumberFormat::Float(cast) => Ok(float_report(name, dtype, shape, x, *cast)),
        NumberFormat::Scaled(spec) => Ok(int_report(name, dtype, &quant::quantize_minmax(x, shape, spec)?, "minmax")),
        NumberFormat::Ggml(t) => ggml_report(name, dtype, shape, x, *t),
        NumberFormat::Block(b) => Ok(block_format_report(name, dtype, shape, x, *b)),
    }
}

/// The comparison the page shows: FP32 | FP16 | BF16 | each integer spec (min-max ranges).
pub fn compare(name: &str, dtype: DType, shape: &[usize], x: &[f32], specs: &[QuantSpec]) -> Result<Vec<TensorReport>> {
    let mut rows: Vec<TensorReport> = FloatCast::ALL.into_iter().map(|cast| float_report(name, dtype, shape, x, cast)).collect();
    for spec in specs {
        let q = quant::quantize_minmax(x, shape, spec)?;
        rows.push(int_report(name, dtype, &q, "minmax"));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{Granularity, Scheme};

    #[test]
    fn every_family_makes_a_row_under_its_label() {
        // [2, 32]: row 0 is −16..15 scaled by 0.5 (Q8_0 with amax 15.5 is not exact), row 1 all zero.
        let x: Vec<f32> = (0..64).map(|i| if i < 32 { (i as f32 - 16.0) * 0.5 } else { 0.0 }).collect();
        let row = |label: &str| format_report("w", DType::F32, &[2, 32], &x, &NumberFormat::parse(label).unwrap()).unwrap();
        let fp32 = row("fp32");
        assert_eq!((fp32.config.as_str(), fp32.bits, fp32.bytes_quantized), ("fp32", 32, 256));
        assert_eq!(fp32.metrics.mse, 0.0);
        assert_eq!(row("bf16").bytes_quantized, 128);
        let int4 = row("int4 asym group:32");
        assert_eq!((int4.config.as_str(), int4.bits, int4.granularity.as_deref()), ("int4 asym group:32", 4, Some("group:32")));
        // Q8_0: two blocks of 34 bytes; d = 8/127 rounded to f16, every value within d/2 of x.
        let q8 = row("q8_0");
        assert_eq!((q8.config.as_str(), q8.bits, q8.bytes_quantized), ("q8_0", 8, 68));
        let d = half::f16::from_f32(8.0 / 127.0).to_f32() as f64;
        assert!(q8.metrics.max_abs_err <= d / 2.0 + 1e-9 && q8.metrics.max_abs_err > 0.0, "{}", q8.metrics.max_abs_err);
        assert!(format_report("w", DType::F32, &[64], &x, &NumberFormat::parse("q4_k").unwrap()).is_err());
    }

    #[test]
    fn compare_leads_with_the_float_casts() {
        let x = [0.1f32, -0.5, 0.9, 1.2];
        let spec = QuantSpec::new(8, Scheme::Symmetric, Granularity::PerTensor);
        let rows = compare("w", DType::F32, &[4], &x, &[spec]).unwrap();
        let labels: Vec<&str> = rows.iter().map(|r| r.config.as_str()).collect();
        assert_eq!(labels, ["fp32", "fp16", "bf16", "int8 sym tensor"]);
    }
}
