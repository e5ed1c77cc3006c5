//! The one report schema the CLI prints and the page shows (serde; JSON for both).

use crate::error::Result;
use crate::kernels;
use crate::metrics::{bits_per_weight, metrics_from_sums, Metrics};
use crate::quant::{self, QuantSpec, QuantizedTensor};
use crate::tensor::{self, DType};
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

/// One row of a comparison: a tensor under one configuration (fp32, fp16, bf16 or an integer spec).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorReport {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
    pub elements: usize,
    /// "fp32", "fp16", "bf16" or the integer spec's label such as "int8 sym channel:0".
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
    let mut r = base(name, dtype, &q.shape, n, &q.spec.label(), q.spec.bits, metrics, q.stored_bytes(), q.nonfinite);
    r.scheme = Some(q.spec.scheme.short_name().into());
    r.full_range = Some(q.spec.full_range && q.spec.scheme == quant::Scheme::Symmetric);
    r.granularity = Some(q.spec.granularity.label());
    r.calibration = Some(calibration.into());
    r.scales = Some(Summary::of(q.scales.iter().map(|&s| s as f64)));
    r.zero_points = Some(Summary::of(q.zero_points.iter().map(|&z| z as f64)));
    r.short_last_group = q.layout.short_last_group;
    r
}

/// The float rows: fp32 (exact, the baseline), fp16 and bf16 (round-to-nearest-even casts).
pub fn float_report(name: &str, dtype: DType, shape: &[usize], x: &[f32], format: &str) -> TensorReport {
    let n = x.len();
    let nonfinite = x.iter().filter(|v| !v.is_finite()).count();
    let (sums, bits) = match format {
        "fp16" => (kernels::error_sums_f32(x, &tensor::round_trip_f16(x)), 16),
        "bf16" => (kernels::error_sums_f32(x, &tensor::round_trip_bf16(x)), 16),
        _ => (kernels::error_sums_f32(x, x), 32),
    };
    let metrics = metrics_from_sums(&sums, n - nonfinite, 0);
    base(name, dtype, shape, n, format, bits, metrics, n as u64 * bits as u64 / 8, nonfinite)
}

/// The comparison the page shows: FP32 | FP16 | BF16 | each integer spec (min-max ranges).
pub fn compare(name: &str, dtype: DType, shape: &[usize], x: &[f32], specs: &[QuantSpec]) -> Result<Vec<TensorReport>> {
    let mut rows = vec![
        float_report(name, dtype, shape, x, "fp32"),
        float_report(name, dtype, shape, x, "fp16"),
        float_report(name, dtype, shape, x, "bf16"),
    ];
    for spec in specs {
        let q = quant::quantize_minmax(x, shape, spec)?;
        rows.push(int_report(name, dtype, &q, "minmax"));
    }
    Ok(rows)
}
