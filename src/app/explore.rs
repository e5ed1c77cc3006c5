//! What the page draws, computed by the core so that every picture has a number behind it that
//! `cargo test` checks: value and error histograms, every slot's scale and range, the calibration
//! ranges to mark on the histogram, and sweeps of many specs with their Pareto front.

use crate::app::report::{self, TensorReport};
use crate::calib::{self, CalibConfig, Method};
use crate::error::Result;
use crate::kernels;
use crate::quant::{self, Granularity, NumberFormat, QuantSpec, Scheme, SlotLayout};
use crate::tensor::DType;
use serde::Serialize;

/// Bins the page asks for by default: fine enough to show the shape of a weight distribution.
pub const DEFAULT_BINS: usize = 256;

/// Calibration methods this core can quantize with, in the order the page lists them (src/calib's
/// labels, which `calib::Method::parse` reads back).
pub fn calibration_methods() -> Vec<String> {
    Method::all().iter().map(Method::label).collect()
}

/// `counts[i]` finite values fell in [lo + i·w, lo + (i+1)·w) with w = (hi − lo) / bins; the last
/// bin also holds hi. When every finite value is the same (lo == hi), they are all in bin 0.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Histogram {
    pub lo: f64,
    pub hi: f64,
    pub counts: Vec<u64>,
    /// Finite values counted.
    pub finite: usize,
    /// NaN / ±Inf values, left out.
    pub nonfinite: usize,
}

/// A histogram of the finite values of `x` with `bins` bins over [min, max] of those values.
pub fn histogram(x: &[f32], bins: usize) -> Histogram {
    let mut h = HistogramStream::new(bins);
    h.feed_range(x);
    h.end_range_pass();
    h.feed(x);
    h.finish()
}

/// `histogram` fed in chunks over two reads: the range, then the bins.
#[derive(Debug, Clone)]
pub struct HistogramStream {
    lo: f32,
    hi: f32,
    nonfinite: usize,
    counts: Vec<u64>,
    finite: usize,
    binning: bool,
}

impl HistogramStream {
    pub fn new(bins: usize) -> Self {
        HistogramStream { lo: f32::INFINITY, hi: f32::NEG_INFINITY, nonfinite: 0, counts: vec![0; bins.max(1)], finite: 0, binning: false }
    }

    /// The first read: the finite min and max.
    pub fn feed_range(&mut self, x: &[f32]) {
        let (lo, hi, bad) = kernels::min_max_finite(x);
        self.lo = self.lo.min(lo);
        self.hi = self.hi.max(hi);
        self.nonfinite += bad;
        self.finite += x.len() - bad;
    }

    pub fn end_range_pass(&mut self) {
        self.binning = true;
    }

    /// The second read: counts the chunk's finite values into the bins.
    pub fn feed(&mut self, x: &[f32]) {
        if !self.binning || self.finite == 0 {
            return;
        }
        let bins = self.counts.len();
        let (lo, hi) = (self.lo as f64, self.hi as f64);
        let width = hi - lo;
        for &v in x.iter().filter(|v| v.is_finite()) {
            // f64 so that a range near ±f32::MAX cannot overflow; the top value lands in the last bin.
            let i = if width > 0.0 { (((v as f64 - lo) / width) * bins as f64) as usize } else { 0 };
            self.counts[i.min(bins - 1)] += 1;
        }
    }

    pub fn finish(self) -> Histogram {
        let (finite, nonfinite) = (self.finite, self.nonfinite);
        if finite == 0 {
            return Histogram { lo: 0.0, hi: 0.0, counts: self.counts, finite, nonfinite };
        }
        Histogram { lo: self.lo as f64, hi: self.hi as f64, counts: self.counts, finite, nonfinite }
    }
}

/// The quantization errors x − x̂ of the finite elements under `spec` with `method`'s ranges.
pub fn errors(x: &[f32], shape: &[usize], spec: &QuantSpec, method: &Method) -> Result<Vec<f32>> {
    let q = calib::quantize_calibrated(x, shape, spec, method)?;
    let mut y = q.dequantize();
    drop(q);
    // In place over x̂ (written index ≤ read index): no third tensor-sized buffer in wasm memory.
    let mut kept = 0;
    for (i, &v) in x.iter().enumerate() {
        if v.is_finite() {
            y[kept] = v - y[i];
            kept += 1;
        }
    }
    y.truncate(kept);
    Ok(y)
}

/// A histogram of x − x̂ under `spec` and `method`, `bins` bins over [min, max] of the errors.
pub fn error_histogram(x: &[f32], shape: &[usize], spec: &QuantSpec, method: &Method, bins: usize) -> Result<Histogram> {
    error_histogram_chunked(x, shape, spec, method, bins, x.len().max(1))
}

/// `error_histogram` with `x` fed in chunks of `chunk` elements: the slots' ranges (min-max in a
/// read of their own; another method calibrates each slot over the tensor), then two reads that
/// quantize again, for the errors' range and for their bins.
pub fn error_histogram_chunked(x: &[f32], shape: &[usize], spec: &QuantSpec, method: &Method, bins: usize, chunk: usize) -> Result<Histogram> {
    spec.validate()?;
    let layout = SlotLayout::new(shape, spec.granularity)?;
    if x.len() != layout.len() {
        return Err(crate::error::Error::InvalidSpec(format!("{} values given for shape {shape:?} ({} elements)", x.len(), layout.len())));
    }
    let chunk = chunk.max(1);
    let ranges = match method {
        Method::MinMax => {
            let mut r = quant::stream::RangePass::new(layout.clone());
            for c in x.chunks(chunk) {
                r.feed(c)?;
            }
            r.finish()?
        }
        _ => calib::calibrate_slots(x, shape, spec, method, CalibConfig::default())?,
    };
    let mut h = HistogramStream::new(bins);
    let mut errors = Vec::new();
    for binning in [false, true] {
        let mut pass = quant::stream::ScaledPass::new(spec, layout.clone(), &ranges)?;
        for c in x.chunks(chunk) {
            let back = pass.feed_reconstruction(c)?;
            errors.clear();
            errors.extend(c.iter().zip(back).filter(|(v, _)| v.is_finite()).map(|(&v, &y)| v - y));
            if binning {
                h.feed(&errors);
            } else {
                h.feed_range(&errors);
            }
        }
        pass.finish()?;
        h.end_range_pass();
    }
    Ok(h.finish())
}

/// Every slot's calibrated range, scale and zero point, and the range its codes can represent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlotParams {
    pub config: String,
    pub calibration: String,
    pub granularity: String,
    pub slots: usize,
    /// Calibrated range of each slot's finite values.
    pub lo: Vec<f32>,
    pub hi: Vec<f32>,
    pub scales: Vec<f32>,
    pub zero_points: Vec<i32>,
    /// (qmin − zp)·scale and (qmax − zp)·scale: values outside are clipped.
    pub grid_lo: Vec<f32>,
    pub grid_hi: Vec<f32>,
}

/// Scales, zero points and ranges of every slot of `x` under `spec` with `method`'s ranges.
pub fn slot_params(x: &[f32], shape: &[usize], spec: &QuantSpec, method: &Method) -> Result<SlotParams> {
    spec.validate()?;
    let layout = SlotLayout::new(shape, spec.granularity)?;
    let q = calib::quantize_calibrated(x, shape, spec, method)?;
    let ranges = match method {
        Method::MinMax => quant::minmax_ranges(x, &layout),
        _ => calib::calibrate_slots(x, shape, spec, method, CalibConfig::default())?,
    };
    let (qmin, qmax) = spec.code_range();
    let grid = |code: i32| -> Vec<f32> { q.scales.iter().zip(&q.zero_points).map(|(&s, &z)| (code - z) as f32 * s).collect() };
    Ok(SlotParams {
        config: spec.label(),
        calibration: method.label(),
        granularity: spec.granularity.label(),
        slots: layout.slots,
        // A slot without finite values has the range (+Inf, −Inf): report it as [0, 0], as its codes are.
        lo: ranges.lo.iter().map(|&v| if v.is_finite() { v } else { 0.0 }).collect(),
        hi: ranges.hi.iter().map(|&v| if v.is_finite() { v } else { 0.0 }).collect(),
        grid_lo: grid(qmin),
        grid_hi: grid(qmax),
        scales: q.scales,
        zero_points: q.zero_points,
    })
}

/// One calibration method's range over the whole tensor, and the range the per-tensor grid covers
/// with it under `spec`'s scheme and bits (symmetric grids are ±amax; asymmetric ones include 0).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RangeMark {
    pub method: String,
    pub lo: f32,
    pub hi: f32,
    pub grid_lo: f32,
    pub grid_hi: f32,
}

/// The ranges to draw on the value histogram: one per calibration method the core has, each over the
/// whole tensor (src/calib's per-tensor answer, the `calibrate` command's ranges).
pub fn calibration_ranges(x: &[f32], spec: &QuantSpec) -> Result<Vec<RangeMark>> {
    let per_tensor = QuantSpec { granularity: Granularity::PerTensor, ..*spec };
    let mut marks = Vec::new();
    for method in Method::all() {
        let p = slot_params(x, &[x.len()], &per_tensor, &method)?;
        marks.push(RangeMark { method: method.label(), lo: p.lo[0], hi: p.hi[0], grid_lo: p.grid_lo[0], grid_hi: p.grid_hi[0] });
    }
    Ok(marks)
}

/// The configurations of the Pareto view: bits 2..=8 × per tensor, per channel (axis 0, only for
/// tensors of two or more axes: a 1-D tensor would get one scale per element), per group of 32, 64
/// and 128 × symmetric and asymmetric. f32 scales, narrow range.
pub fn sweep_specs(shape: &[usize]) -> Vec<QuantSpec> {
    let mut granularities = vec![Granularity::PerTensor];
    if shape.len() >= 2 {
        granularities.push(Granularity::PerChannel { axis: 0 });
    }
    granularities.extend([32, 64, 128].map(|size| Granularity::PerGroup { size }));
    let mut specs = Vec::new();
    for scheme in [Scheme::Symmetric, Scheme::Asymmetric] {
        for &g in &granularities {
            for bits in 2..=8 {
                specs.push(QuantSpec::new(bits, scheme, g));
            }
        }
    }
    specs
}

/// A report row of a sweep, and whether no other row of the sweep beats it on both axes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepRow {
    #[serde(flatten)]
    pub report: TensorReport,
    pub pareto: bool,
}

/// For points (cost, benefit): true where no other point has cost ≤ and benefit ≥ with one strict.
/// NaN benefits are never on the front and never dominate.
pub fn pareto_front(points: &[(f64, f64)]) -> Vec<bool> {
    points
        .iter()
        .map(|&(c, b)| {
            !b.is_nan()
                && !points.iter().any(|&(c2, b2)| !b2.is_nan() && c2 <= c && b2 >= b && (c2 < c || b2 > b))
        })
        .collect()
}

/// A number as the report writes it (metrics::ser_f64): a JSON number, "inf", "-inf", or null for NaN.
pub fn report_f64(value: &serde_json::Value) -> f64 {
    match value {
        serde_json::Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        serde_json::Value::String(s) if s == "inf" => f64::INFINITY,
        serde_json::Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        _ => f64::NAN,
    }
}

/// Each spec's report row on one tensor (min-max ranges), with the Pareto front of bits per
/// weight (lower is better) against SQNR (higher is better) among them.
pub fn sweep(name: &str, dtype: DType, shape: &[usize], x: &[f32], specs: &[QuantSpec]) -> Result<Vec<SweepRow>> {
    sweep_chunked(name, dtype, shape, x, specs, x.len().max(1))
}

/// `sweep` with the tensor fed to the comparison stream in chunks of `chunk` elements.
pub fn sweep_chunked(name: &str, dtype: DType, shape: &[usize], x: &[f32], specs: &[QuantSpec], chunk: usize) -> Result<Vec<SweepRow>> {
    let formats: Vec<NumberFormat> = specs.iter().map(|s| NumberFormat::Scaled(*s)).collect();
    let rows = report::comparison(name, dtype, shape, x, &formats, chunk)?;
    let points: Vec<(f64, f64)> = rows.iter().map(|r| (r.bits_per_weight, r.metrics.sqnr_db)).collect();
    Ok(rows.into_iter().zip(pareto_front(&points)).map(|(report, pareto)| SweepRow { report, pareto }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(bits: u8, scheme: Scheme, granularity: Granularity) -> QuantSpec {
        QuantSpec::new(bits, scheme, granularity)
    }

    #[test]
    fn histogram_puts_the_maximum_in_the_last_bin() {
        let h = histogram(&[0.0, 1.0, 2.0, 3.0, 4.0], 4);
        assert_eq!((h.lo, h.hi), (0.0, 4.0));
        assert_eq!(h.counts, vec![1, 1, 1, 2]);
        assert_eq!((h.finite, h.nonfinite), (5, 0));
    }

    #[test]
    fn histogram_skips_nonfinite_values() {
        let h = histogram(&[f32::NAN, -1.0, 1.0, f32::INFINITY, 0.5, f32::NEG_INFINITY], 2);
        assert_eq!((h.lo, h.hi), (-1.0, 1.0));
        // width 1: −1 → bin 0; 0.5 → bin 1 (1.5 / 2 · 2 = 1.5); 1 → bin 1.
        assert_eq!(h.counts, vec![1, 2]);
        assert_eq!((h.finite, h.nonfinite), (3, 3));
    }

    #[test]
    fn histogram_of_constant_or_empty_input() {
        let h = histogram(&[2.5; 3], 8);
        assert_eq!((h.lo, h.hi), (2.5, 2.5));
        assert_eq!(h.counts[0], 3);
        assert_eq!(h.counts.iter().sum::<u64>(), 3);
        let h = histogram(&[f32::NAN], 4);
        assert_eq!((h.lo, h.hi, h.counts.clone(), h.finite, h.nonfinite), (0.0, 0.0, vec![0; 4], 0, 1));
        assert_eq!(histogram(&[], 0).counts, vec![0]); // at least one bin
    }

    #[test]
    fn histogram_of_extreme_values_does_not_overflow() {
        let h = histogram(&[-f32::MAX, 0.0, f32::MAX], 2);
        assert_eq!(h.counts, vec![1, 2]);
    }

    #[test]
    fn error_histogram_hand_worked_int2() {
        // 2-bit symmetric narrow: codes −1..1, scale = amax / 1 = 1, so x̂ = round_half_even(x).
        // x  = [−1, −0.25, 0, 0.25, 0.75, 1] → x̂ = [−1, 0, 0, 0, 1, 1]
        // e  = [ 0, −0.25, 0, 0.25, −0.25, 0]
        let x = [-1.0, -0.25, 0.0, 0.25, 0.75, 1.0];
        let s = spec(2, Scheme::Symmetric, Granularity::PerTensor);
        assert_eq!(errors(&x, &[6], &s, &Method::MinMax).unwrap(), vec![0.0, -0.25, 0.0, 0.25, -0.25, 0.0]);
        let h = error_histogram(&x, &[6], &s, &Method::MinMax, 4).unwrap();
        // range [−0.25, 0.25], width 0.125: −0.25 → 0; 0 → 2; 0.25 → last bin.
        assert_eq!((h.lo, h.hi), (-0.25, 0.25));
        assert_eq!(h.counts, vec![2, 0, 3, 1]);
    }

    #[test]
    fn errors_leave_out_nonfinite_inputs() {
        let s = spec(8, Scheme::Symmetric, Granularity::PerTensor);
        let e = errors(&[f32::NAN, 1.0, -1.0, f32::INFINITY], &[4], &s, &Method::MinMax).unwrap();
        assert_eq!(e, vec![0.0, 0.0]);
    }

    #[test]
    fn slot_params_per_channel_hand_worked() {
        // Rows [−1, 0.5] and [0, 2]; 8-bit symmetric per channel: scales 1/127 and 2/127.
        let x = [-1.0, 0.5, 0.0, 2.0];
        let p = slot_params(&x, &[2, 2], &spec(8, Scheme::Symmetric, Granularity::PerChannel { axis: 0 }), &Method::MinMax).unwrap();
        assert_eq!(p.slots, 2);
        assert_eq!(p.lo, vec![-1.0, 0.0]);
        assert_eq!(p.hi, vec![0.5, 2.0]);
        assert_eq!(p.scales, vec![1.0 / 127.0, 2.0 / 127.0]);
        assert_eq!(p.zero_points, vec![0, 0]);
        assert_eq!(p.grid_lo, vec![-127.0 * (1.0f32 / 127.0), -127.0 * (2.0f32 / 127.0)]);
        assert_eq!(p.grid_hi[1], 127.0 * (2.0f32 / 127.0));
        assert_eq!(p.config, "int8 sym channel:0");
    }

    #[test]
    fn slot_params_asymmetric_grid_and_groups() {
        // Range [−1, 3], 8-bit asymmetric: scale 4/255, zero point 64 (the contract's hand-worked case).
        let p = slot_params(&[-1.0, 3.0, 0.0, 0.0, 0.0], &[5], &spec(8, Scheme::Asymmetric, Granularity::PerGroup { size: 2 }), &Method::MinMax).unwrap();
        assert_eq!(p.slots, 3);
        assert_eq!(p.scales[0], 4.0 / 255.0);
        assert_eq!(p.zero_points[0], 64);
        assert_eq!(p.grid_lo[0], -64.0 * (4.0f32 / 255.0));
        assert_eq!(p.grid_hi[0], 191.0 * (4.0f32 / 255.0));
        // The all-zero groups: scale 1 (degenerate range), zero point 0.
        assert_eq!((p.scales[1], p.zero_points[1], p.lo[2], p.hi[2]), (1.0, 0, 0.0, 0.0));
    }

    #[test]
    fn calibration_ranges_mark_the_symmetric_grid() {
        let x = [-1.0, 0.5, 0.0, 2.0];
        let marks = calibration_ranges(&x, &spec(8, Scheme::Symmetric, Granularity::PerChannel { axis: 0 })).unwrap();
        assert_eq!(marks.len(), calibration_methods().len());
        let m = marks.iter().find(|m| m.method == "minmax").unwrap();
        assert_eq!((m.method.as_str(), m.lo, m.hi), ("minmax", -1.0, 2.0));
        // ±amax with amax = 2: the grid reaches −2 although no value is below −1.
        assert_eq!((m.grid_lo, m.grid_hi), (-127.0 * (2.0f32 / 127.0), 127.0 * (2.0f32 / 127.0)));
        let names: Vec<&str> = marks.iter().map(|m| m.method.as_str()).collect();
        assert_eq!(names, calibration_methods());
    }

    #[test]
    fn a_clipping_method_narrows_the_range_and_the_scales() {
        // 100 000 values in ±1 and one outlier at 50 (0.001 %): percentile 99.99 cuts it, min-max keeps ±50.
        let mut x: Vec<f32> = (0..100_000).map(|i| (i as f32 / 99_999.0) * 2.0 - 1.0).collect();
        x.push(50.0);
        let s = spec(8, Scheme::Symmetric, Granularity::PerTensor);
        let marks = calibration_ranges(&x, &s).unwrap();
        let minmax = marks.iter().find(|m| m.method == "minmax").unwrap();
        assert_eq!((minmax.lo, minmax.hi), (-1.0, 50.0));
        for m in &marks {
            assert!(m.lo >= -50.0 && m.hi <= 50.0, "{}: [{}, {}] is inside the data", m.method, m.lo, m.hi);
        }
        let percentile = Method::parse("percentile").unwrap();
        let narrow = slot_params(&x, &[x.len()], &s, &percentile).unwrap();
        let wide = slot_params(&x, &[x.len()], &s, &Method::MinMax).unwrap();
        assert!(narrow.scales[0] < wide.scales[0] / 5.0, "{} vs {}", narrow.scales[0], wide.scales[0]);
        assert_eq!(narrow.calibration, "percentile:99.99");
        // The error picture follows the method: clipping the outlier costs one large error.
        let e = errors(&x, &[x.len()], &s, &percentile).unwrap();
        assert!(e.iter().any(|v| *v > 40.0));
    }

    #[test]
    fn sweep_specs_cover_the_grid() {
        assert_eq!(sweep_specs(&[16, 32]).len(), 7 * 5 * 2);
        // No per-channel for a 1-D tensor.
        let specs = sweep_specs(&[48]);
        assert_eq!(specs.len(), 7 * 4 * 2);
        assert!(specs.iter().all(|s| !matches!(s.granularity, Granularity::PerChannel { .. })));
        assert!(specs.iter().all(|s| s.validate().is_ok()));
    }

    #[test]
    fn pareto_front_hand_worked() {
        // (bits per weight, SQNR dB): (4, 20) beats (5, 19); (4, 20) and (8, 40) trade off; a tie
        // on both axes is not a domination; NaN is never on the front.
        let points = [(4.0, 20.0), (5.0, 19.0), (8.0, 40.0), (8.0, 40.0), (3.0, f64::NAN), (9.0, 40.0), (2.0, f64::NEG_INFINITY)];
        assert_eq!(pareto_front(&points), vec![true, false, true, true, false, false, true]);
        // +Inf SQNR (exact) dominates anything costing as much or more.
        assert_eq!(pareto_front(&[(8.0, f64::INFINITY), (9.0, 50.0)]), vec![true, false]);
    }

    #[test]
    fn report_numbers_read_back() {
        use serde_json::json;
        assert_eq!(report_f64(&json!(1.5)), 1.5);
        assert_eq!(report_f64(&json!("inf")), f64::INFINITY);
        assert_eq!(report_f64(&json!("-inf")), f64::NEG_INFINITY);
        assert!(report_f64(&json!(null)).is_nan());
    }

    #[test]
    fn sweep_rows_equal_the_quantize_report() {
        let x: Vec<f32> = (0..64).map(|i| ((i * 37 % 64) as f32 - 31.5) / 8.0).collect();
        let specs = sweep_specs(&[4, 16]);
        let rows = sweep("w", DType::F32, &[4, 16], &x, &specs).unwrap();
        assert_eq!(rows.len(), specs.len());
        for (row, s) in rows.iter().zip(&specs) {
            let q = quant::quantize_minmax(&x, &[4, 16], s).unwrap();
            assert_eq!(row.report, report::int_report("w", DType::F32, &q, "minmax"));
        }
        assert!(rows.iter().any(|r| r.pareto));
        let json = serde_json::to_value(&rows[0]).unwrap();
        assert_eq!(json["config"], "int2 sym tensor");
        assert!(json["pareto"].is_boolean());
    }
}

// ---- The speed view (www/views/speed): y = W·x with a seeded x, and how far an output is from FP32's --

use crate::app::synthetic::{self, Dist};

/// The speed panel's activations X [m, k]: N(0, 1) values from `seed` (synthetic.rs, PCG-64), so that
/// the seed the page shows gives the same X in any build, natively included.
pub fn gaussian_activations(m: usize, k: usize, seed: u64) -> Vec<f32> {
    synthetic::generate(Dist::Gaussian, m * k, 1.0, seed)
}

/// How far an output is from the reference output: the contract's metrics (metrics.rs) with the
/// reference as x and the output as x̂, over the reference's finite values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OutputError {
    pub mse: f64,
    #[serde(serialize_with = "crate::metrics::ser_f64")]
    pub sqnr_db: f64,
    #[serde(serialize_with = "crate::metrics::ser_f64")]
    pub max_abs_err: f64,
    pub cosine: Option<f64>,
}

/// The error of `output` against `reference` (same length: the FP32 and the INT8 / INT4 y of one x).
pub fn output_error(reference: &[f32], output: &[f32]) -> Result<OutputError> {
    if reference.len() != output.len() {
        return Err(crate::error::Error::InvalidSpec(format!(
            "outputs of {} and {} values cannot be compared",
            reference.len(),
            output.len()
        )));
    }
    let sums = kernels::error_sums_f32(reference, output);
    let finite = reference.iter().filter(|v| v.is_finite()).count();
    let m = crate::metrics::metrics_from_sums(&sums, finite, 0);
    Ok(OutputError { mse: m.mse, sqnr_db: m.sqnr_db, max_abs_err: m.max_abs_err, cosine: m.cosine })
}

#[cfg(test)]
mod speed_panel_tests {
    use super::*;
    use crate::kernels::gemm::{self, PackedF32, PackedI4, PackedI8};
    use crate::quant::dynamic::{self, ActGranularity};
    use crate::quant::ScaleDType;

    #[test]
    fn output_error_hand_worked() {
        // e = [0, 0.5, −1, 0]: Σe² = 1.25, Σx² = 1 + 4 + 9 + 16 = 30 → 10·log10(24) dB; max |e| = 1.
        let e = output_error(&[1.0, 2.0, 3.0, 4.0], &[1.0, 1.5, 4.0, 4.0]).unwrap();
        assert_eq!(e.mse, 1.25 / 4.0);
        assert_eq!(e.sqnr_db, 10.0 * (30.0f64 / 1.25).log10());
        assert_eq!(e.max_abs_err, 1.0);
        let dot = 1.0 + 3.0 + 12.0 + 16.0;
        let want = dot / (30.0f64.sqrt() * (1.0f64 + 2.25 + 16.0 + 16.0).sqrt());
        assert!((e.cosine.unwrap() - want).abs() < 1e-12);
        // Exact: +Inf dB, cosine 1; a length mismatch is an error, not a panic.
        let same = output_error(&[0.5, -2.0], &[0.5, -2.0]).unwrap();
        assert_eq!((same.sqnr_db, same.max_abs_err, same.cosine), (f64::INFINITY, 0.0, Some(1.0)));
        assert!(output_error(&[1.0], &[1.0, 2.0]).is_err());
    }

    #[test]
    fn activations_follow_the_seed() {
        let a = gaussian_activations(3, 5, 7);
        assert_eq!(a.len(), 15);
        assert_eq!(a, gaussian_activations(3, 5, 7));
        assert_ne!(a, gaussian_activations(3, 5, 8));
        assert_eq!(a, synthetic::generate(Dist::Gaussian, 15, 1.0, 7));
    }

    /// What the page's speed panel shows for the example's fc2.weight [128, 256] with x from seed 42:
    /// INT8 (per-channel weights, per-row u8 activations) well above 30 dB, INT4 g32 above 10 dB.
    #[test]
    fn example_fc2_outputs_against_fp32() {
        let file = synthetic::example_safetensors(42);
        let index = crate::formats::parse_index("example.safetensors", &file, file.len() as u64).unwrap();
        let info = index.tensors.iter().find(|t| t.name == "fc2.weight").unwrap();
        let bytes = &file[info.offset as usize..(info.offset + info.byte_len) as usize];
        let w = crate::tensor::decode_to_f32(info, bytes).unwrap();
        let (n, k) = (info.shape[0], info.shape[1]);
        for m in [1, 8, 64] {
            let x = gaussian_activations(m, k, 42);
            let mut y = vec![0.0f32; m * n];
            gemm::gemm_f32(&x, m, &PackedF32::pack(&w, n, k).unwrap(), None, &mut y).unwrap();
            let i8w = PackedI8::quantize(&w, n, k).unwrap();
            let y8 = dynamic::dynamic_quantized_matmul(&x, m, &i8w, ActGranularity::PerRow, None).unwrap();
            let i4w = PackedI4::quantize(&w, n, k, 32, Scheme::Symmetric, ScaleDType::F32).unwrap();
            let y4 = dynamic::dynamic_quantized_matmul_i4(&x, m, &i4w, None).unwrap();
            let (e8, e4) = (output_error(&y, &y8).unwrap(), output_error(&y, &y4).unwrap());
            assert!(e8.sqnr_db > 30.0 && e4.sqnr_db > 10.0 && e8.sqnr_db > e4.sqnr_db, "m = {m}: {e8:?} {e4:?}");
            assert!(e8.cosine.unwrap() > 0.999, "m = {m}: {e8:?}");
        }
    }
}
