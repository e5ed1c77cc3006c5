//! Calibration: the clipping range of a tensor or of a stream of activation batches, by min-max,
//! percentile, MSE or entropy (KL), with what each searched (curve) and the histogram, for the page.
//!
//! Defaults follow onnxruntime/quantization/calibrate.py (`MinMaxCalibrater`, `HistogramCollector`:
//! 2048 bins, 128 quantized bins, percentile 99.99); `entropy:trt` follows TensorRT (Migacz 2017).
//! Memory is bounded: batches are folded into histograms and min/max, never kept.
//!
//! Two ways to stream: `Calibrator::add_batch` alone is one pass, the histograms growing by ORT's rule
//! (ORT's `entropy` then depends on the batching, as it does in ORT); `calibrate_batches` (or
//! `Calibrator::preset_range` after a min/max pass) fixes the range first, and every method then gives
//! the same range for 1 or 100 batches. Entry points for front ends: `calibration_report` /
//! `run_calibrate_json` (the `calibrate` command) and `calibrate_slots` (`quantize --calib`).

pub mod batches;
pub mod entropy;
pub mod histogram;
pub mod minmax;
pub mod mse;
pub mod percentile;

use crate::error::{Error, Result};
use crate::kernels;
use crate::metrics::metrics_from_sums;
use crate::quant::{self, Granularity, QuantSpec, Scheme, SlotLayout, SlotRanges};
use histogram::{HistKind, Histogram, HistogramView};
use minmax::MinMax;
use serde::Serialize;

/// A calibration method, as parsed from `minmax|minmax:ma|percentile[:P]|mse|entropy|entropy:trt`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    MinMax,
    /// Min-max with a moving average over batches (ORT `moving_average=True`).
    MovingAverage,
    /// Percentile P in [0, 100] (ORT default 99.99 here, as DESIGN.md fixes it).
    Percentile(f64),
    Mse,
    /// KL divergence, ORT's `HistogramCollector` rule.
    Entropy,
    /// KL divergence, TensorRT's rule.
    EntropyTrt,
}

pub const DEFAULT_PERCENTILE: f64 = 99.99;

impl Method {
    pub fn parse(text: &str) -> Result<Method> {
        let bad = || {
            Error::InvalidSpec(format!(
                "calibration method '{text}': expected minmax, minmax:ma, percentile, percentile:P (0..=100), mse, entropy, entropy:trt or all"
            ))
        };
        Ok(match text.trim() {
            "minmax" => Method::MinMax,
            "minmax:ma" | "minmax:avg" => Method::MovingAverage,
            "percentile" => Method::Percentile(DEFAULT_PERCENTILE),
            "mse" => Method::Mse,
            "entropy" | "entropy:ort" => Method::Entropy,
            "entropy:trt" => Method::EntropyTrt,
            t => match t.split_once(':') {
                Some(("percentile", p)) => {
                    let p: f64 = p.parse().map_err(|_| bad())?;
                    if !(0.0..=100.0).contains(&p) {
                        return Err(bad());
                    }
                    Method::Percentile(p)
                }
                _ => return Err(bad()),
            },
        })
    }

    /// A comma-separated list; `all` is minmax, percentile, mse, entropy and entropy:trt.
    pub fn parse_list(text: &str) -> Result<Vec<Method>> {
        let mut out = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part == "all" {
                out.extend(Method::all());
            } else {
                out.push(Method::parse(part)?);
            }
        }
        if out.is_empty() {
            return Err(Error::InvalidSpec("no calibration method given".into()));
        }
        Ok(out)
    }

    pub fn all() -> [Method; 5] {
        [Method::MinMax, Method::Percentile(DEFAULT_PERCENTILE), Method::Mse, Method::Entropy, Method::EntropyTrt]
    }

    pub fn label(&self) -> String {
        match self {
            Method::MinMax => "minmax".into(),
            Method::MovingAverage => "minmax:ma".into(),
            Method::Percentile(p) => format!("percentile:{p}"),
            Method::Mse => "mse".into(),
            Method::Entropy => "entropy".into(),
            Method::EntropyTrt => "entropy:trt".into(),
        }
    }

    /// The histogram the method reads, for this scheme.
    pub fn histogram(&self, scheme: Scheme) -> Option<HistKind> {
        match (self, scheme) {
            (Method::MinMax | Method::MovingAverage, _) => None,
            // ORT: collect_absolute_value when symmetric, collect_value otherwise.
            (Method::Percentile(_), Scheme::Symmetric) => Some(HistKind::Abs),
            (Method::Percentile(_), Scheme::Asymmetric) => Some(HistKind::Signed),
            (Method::Mse | Method::Entropy, _) => Some(HistKind::Signed),
            (Method::EntropyTrt, _) => Some(HistKind::Abs),
        }
    }
}

/// Histogram sizes and the moving-average constant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CalibConfig {
    /// Bins of a fresh histogram (ORT num_bins).
    pub bins: usize,
    /// ORT num_quantized_bins for `entropy`.
    pub quantized_bins: usize,
    /// Memory bound: past this many bins, adjacent bins are merged.
    pub max_bins: usize,
    /// ORT averaging_constant for `minmax:ma`.
    pub averaging_constant: f32,
}

impl Default for CalibConfig {
    fn default() -> Self {
        CalibConfig { bins: 2048, quantized_bins: 128, max_bins: 2048 * 8, averaging_constant: 0.01 }
    }
}

/// What a method searched: candidate threshold → KL divergence or expected MSE (null in JSON when infinite).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Curve {
    /// "kl" or "mse".
    pub metric: String,
    pub thresholds: Vec<f32>,
    pub values: Vec<f64>,
    /// Index of the chosen candidate.
    pub best: Option<usize>,
}

impl Curve {
    fn new(metric: &str) -> Self {
        Curve { metric: metric.into(), thresholds: Vec::new(), values: Vec::new(), best: None }
    }
    fn push(&mut self, threshold: f32, value: f64) {
        self.thresholds.push(threshold);
        self.values.push(value);
    }
}

/// One method's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibResult {
    pub method: String,
    pub range: [f32; 2],
    pub scale: f32,
    pub zero_point: i32,
    /// Which histogram it read (see `CalibRun::histograms`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub histogram: Option<HistKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub curve: Option<Curve>,
}

/// Every method's answer over one stream of batches, with the histograms they read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibRun {
    pub results: Vec<CalibResult>,
    pub histograms: Vec<HistogramView>,
    pub batches: usize,
    pub finite: u64,
    pub nonfinite: u64,
}

/// [0, 0] when no finite value was seen, else the data's extremes (an all-zero histogram has no bins).
fn zero_or_extremes(h: &Histogram) -> (f32, f32) {
    if h.finite() == 0 {
        (0.0, 0.0)
    } else {
        (h.min(), h.max())
    }
}

/// Streams batches into what the chosen methods need: min/max always, each histogram only if read.
#[derive(Debug, Clone)]
pub struct Calibrator {
    cfg: CalibConfig,
    spec: QuantSpec,
    methods: Vec<Method>,
    minmax: MinMax,
    signed: Option<Histogram>,
    abs: Option<Histogram>,
    batches: usize,
    finite: u64,
    nonfinite: u64,
}

impl Calibrator {
    pub fn new(spec: &QuantSpec, methods: &[Method], cfg: CalibConfig) -> Result<Self> {
        spec.validate()?;
        let wants = |k| methods.iter().any(|m| m.histogram(spec.format.scheme) == Some(k));
        let make = |k| wants(k).then(|| Histogram::new(k, cfg.bins, cfg.max_bins));
        Ok(Calibrator {
            cfg,
            spec: *spec,
            methods: methods.to_vec(),
            minmax: MinMax::default(),
            signed: make(HistKind::Signed),
            abs: make(HistKind::Abs),
            batches: 0,
            finite: 0,
            nonfinite: 0,
        })
    }

    /// Two-pass streaming: fixes the histograms' range from the global finite [min, max] (a first pass
    /// over the batches) before the first `add_batch`. The result is then the same for any batching.
    /// Without it, the histograms grow as batches arrive, by ORT's rule — and so ORT's `entropy`
    /// (whose KL search is sensitive to the bin layout) depends on the batching as ORT's does.
    pub fn preset_range(&mut self, min: f32, max: f32) {
        if min <= max {
            for h in [&mut self.signed, &mut self.abs].into_iter().flatten() {
                h.preset_range(min, max);
            }
        }
    }

    /// Folds one batch in; the batch can be dropped afterwards.
    pub fn add_batch(&mut self, x: &[f32]) {
        let (lo, hi, bad) = kernels::min_max_finite(x);
        self.add_batch_with_extremes(x, lo, hi, bad);
    }

    /// `add_batch` when the caller already has the batch's finite min, max and non-finite count.
    pub fn add_batch_with_extremes(&mut self, x: &[f32], lo: f32, hi: f32, bad: usize) {
        self.batches += 1;
        self.finite += (x.len() - bad) as u64;
        self.nonfinite += bad as u64;
        self.minmax.add_extremes(lo, hi, self.cfg.averaging_constant);
        for h in [&mut self.signed, &mut self.abs].into_iter().flatten() {
            h.add_with_extremes(x, lo, hi, bad);
        }
    }

    fn hist(&self, kind: HistKind) -> &Histogram {
        let h = match kind {
            HistKind::Signed => &self.signed,
            HistKind::Abs => &self.abs,
        };
        h.as_ref().expect("result() checked that the histogram was built")
    }

    /// The range of one of the methods given to `new`, with its curve; an error for a method whose
    /// histogram this calibrator was not asked to build.
    pub fn result(&self, method: &Method) -> Result<CalibResult> {
        let scheme = self.spec.format.scheme;
        let kind = method.histogram(scheme);
        let built = match kind {
            None => true,
            Some(HistKind::Signed) => self.signed.is_some(),
            Some(HistKind::Abs) => self.abs.is_some(),
        };
        if !built {
            return Err(Error::InvalidSpec(format!(
                "calibration method '{}' was not among the methods this calibrator was built for",
                method.label()
            )));
        }
        let ((lo, hi), curve) = match *method {
            Method::MinMax => (self.minmax.range(), None),
            Method::MovingAverage => (self.minmax.moving_average_range(), None),
            Method::Percentile(p) => match scheme {
                Scheme::Symmetric => (percentile::symmetric(self.hist(HistKind::Abs), p), None),
                Scheme::Asymmetric => (percentile::asymmetric(self.hist(HistKind::Signed), p), None),
            },
            Method::Mse => {
                let (r, c) = mse::search(self.hist(HistKind::Signed), &self.spec);
                (r, Some(c))
            }
            Method::Entropy => {
                let (r, c) = entropy::ort(self.hist(HistKind::Signed), self.cfg.quantized_bins);
                (r, Some(c))
            }
            Method::EntropyTrt => {
                // Migacz 2017: 2^(b−1) levels (128 for int8) over the |x| histogram, whatever the scheme.
                let levels = 1usize << (self.spec.format.bits as u32 - 1);
                let (r, c) = entropy::trt(self.hist(HistKind::Abs), levels);
                (r, Some(c))
            }
        };
        let p = quant::params_from_range(&self.spec, lo, hi);
        Ok(CalibResult {
            method: method.label(),
            range: [lo, hi],
            scale: p.scale,
            zero_point: p.zero_point,
            histogram: kind,
            curve,
        })
    }

    pub fn run(&self) -> CalibRun {
        CalibRun {
            results: self
                .methods
                .iter()
                .map(|m| self.result(m).expect("new() built the histograms of its own methods"))
                .collect(),
            histograms: [&self.signed, &self.abs].into_iter().flatten().map(|h| h.view()).collect(),
            batches: self.batches,
            finite: self.finite,
            nonfinite: self.nonfinite,
        }
    }
}

/// Calibrates batches (one batch: a whole tensor) with each method, in two passes (min/max, then
/// histograms), so that the split into batches does not change the result. Memory stays bounded:
/// nothing but the histograms is kept between batches.
pub fn calibrate_batches(
    batches: &[&[f32]],
    spec: &QuantSpec,
    methods: &[Method],
    cfg: CalibConfig,
) -> Result<CalibRun> {
    let extremes: Vec<(f32, f32, usize)> = batches.iter().map(|b| kernels::min_max_finite(b)).collect();
    let mut range = MinMax::default();
    for &(lo, hi, _) in &extremes {
        range.add_extremes(lo, hi, 0.0);
    }
    let mut c = Calibrator::new(spec, methods, cfg)?;
    if range.batches > 0 {
        c.preset_range(range.min, range.max);
    }
    for (b, &(lo, hi, bad)) in batches.iter().zip(&extremes) {
        c.add_batch_with_extremes(b, lo, hi, bad);
    }
    Ok(c.run())
}

/// Per-slot ranges (per-tensor, per-channel along the spec's axis, or per-group) by one method, for
/// `quant::quantize_with_ranges`. Each slot gets its own histogram.
pub fn calibrate_slots(
    x: &[f32],
    shape: &[usize],
    spec: &QuantSpec,
    method: &Method,
    cfg: CalibConfig,
) -> Result<SlotRanges> {
    spec.validate()?;
    let layout = SlotLayout::new(shape, spec.granularity)?;
    let len = crate::tensor::checked_element_count(if shape.is_empty() { &[1] } else { shape }).unwrap_or(usize::MAX);
    if x.len() != len {
        return Err(Error::InvalidSpec(format!("{} values given for shape {shape:?} ({len} elements)", x.len())));
    }
    let mut runs: Vec<Vec<(usize, usize)>> = vec![Vec::new(); layout.slots];
    layout.for_each_run(|start, n, slot| runs[slot].push((start, n)));
    let mut ranges =
        SlotRanges { lo: Vec::with_capacity(layout.slots), hi: Vec::with_capacity(layout.slots), nonfinite: 0 };
    let slot_spec = QuantSpec { granularity: Granularity::PerTensor, ..*spec };
    let mut values = Vec::new();
    for slot_runs in &runs {
        values.clear();
        for &(start, n) in slot_runs {
            values.extend_from_slice(&x[start..start + n]);
        }
        let mut c = Calibrator::new(&slot_spec, std::slice::from_ref(method), cfg)?;
        c.add_batch(&values);
        let r = c.result(method)?;
        ranges.lo.push(r.range[0]);
        ranges.hi.push(r.range[1]);
        ranges.nonfinite += c.nonfinite as usize;
    }
    Ok(ranges)
}

/// Quantizes with the ranges `method` chooses per slot (`quantize --calib`, the page's method select).
/// Min-max takes the direct path of quant::quantize_minmax (the same ranges, no histogram).
pub fn quantize_calibrated(x: &[f32], shape: &[usize], spec: &QuantSpec, method: &Method) -> Result<quant::QuantizedTensor> {
    if *method == Method::MinMax {
        return quant::quantize_minmax(x, shape, spec);
    }
    let ranges = calibrate_slots(x, shape, spec, method, CalibConfig::default())?;
    quant::quantize_with_ranges(x, shape, spec, &ranges)
}

/// One row of `calibrate`: the method's range and what fake-quantizing the data with it costs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibRow {
    pub method: String,
    pub range: [f32; 2],
    pub scale: f32,
    pub zero_point: i32,
    pub mse: f64,
    #[serde(serialize_with = "crate::metrics::ser_f64")]
    pub sqnr_db: f64,
    pub clipped_share: f64,
}

/// `{"methods": [...]}` as the CLI prints it; `details` (curves and histograms) only when asked for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibReport {
    pub bits: u8,
    pub scheme: Scheme,
    pub elements: usize,
    pub nonfinite: u64,
    pub methods: Vec<CalibRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<CalibRun>,
}

/// Calibrates `x` per tensor with each method and measures each range by fake-quantizing `x`.
pub fn calibration_report(
    x: &[f32],
    spec: &QuantSpec,
    methods: &[Method],
    cfg: CalibConfig,
    details: bool,
) -> Result<CalibReport> {
    let spec = QuantSpec { granularity: Granularity::PerTensor, ..*spec };
    let run = calibrate_batches(&[x], &spec, methods, cfg)?;
    let mut rows = Vec::with_capacity(run.results.len());
    for r in &run.results {
        let ranges = SlotRanges { lo: vec![r.range[0]], hi: vec![r.range[1]], nonfinite: run.nonfinite as usize };
        let q = quant::quantize_with_ranges(x, &[x.len()], &spec, &ranges)?;
        let m = metrics_from_sums(&q.error, q.finite_count(), q.clipped);
        rows.push(CalibRow {
            method: r.method.clone(),
            range: r.range,
            scale: r.scale,
            zero_point: r.zero_point,
            mse: m.mse,
            sqnr_db: m.sqnr_db,
            clipped_share: m.clipped_share,
        });
    }
    Ok(CalibReport {
        bits: spec.format.bits,
        scheme: spec.format.scheme,
        elements: x.len(),
        nonfinite: run.nonfinite,
        methods: rows,
        details: details.then_some(run),
    })
}

/// The CLI's `calibrate` in one call: `methods` as typed (`all`, `percentile:99.9,mse`, …); JSON out.
pub fn run_calibrate_json(x: &[f32], bits: u8, scheme: Scheme, methods: &str, details: bool) -> Result<String> {
    let spec = QuantSpec::new(bits, scheme, Granularity::PerTensor);
    let report = calibration_report(x, &spec, &Method::parse_list(methods)?, CalibConfig::default(), details)?;
    Ok(serde_json::to_string_pretty(&report).expect("the report serialises"))
}

impl CalibReport {
    /// A plain-text table: method × (range, scale, zero point, mse, SQNR, clipped share).
    pub fn table(&self) -> String {
        let mut s = format!(
            "{:<16} {:>26} {:>12} {:>5} {:>12} {:>9} {:>9}\n",
            "method", "range", "scale", "zp", "mse", "sqnr dB", "clipped"
        );
        for r in &self.methods {
            s.push_str(&format!(
                "{:<16} {:>26} {:>12.6e} {:>5} {:>12.4e} {:>9.2} {:>8.4}%\n",
                r.method,
                format!("[{:.6}, {:.6}]", r.range[0], r.range[1]),
                r.scale,
                r.zero_point,
                r.mse,
                r.sqnr_db,
                r.clipped_share * 100.0
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(bits: u8, scheme: Scheme) -> QuantSpec {
        QuantSpec::new(bits, scheme, Granularity::PerTensor)
    }

    #[test]
    fn asking_for_a_method_not_built_is_an_error() {
        let mut c = Calibrator::new(&spec(8, Scheme::Symmetric), &[Method::MinMax], CalibConfig::default()).unwrap();
        c.add_batch(&[1.0, -2.0]);
        assert_eq!(c.result(&Method::MinMax).unwrap().range, [-2.0, 1.0]);
        assert!(c.result(&Method::Entropy).is_err());
    }

    #[test]
    fn parses_methods() {
        assert_eq!(Method::parse("percentile:99.9").unwrap(), Method::Percentile(99.9));
        assert_eq!(Method::parse("percentile").unwrap(), Method::Percentile(99.99));
        assert_eq!(Method::parse("entropy:trt").unwrap(), Method::EntropyTrt);
        assert!(Method::parse("percentile:101").is_err());
        assert!(Method::parse("kl").is_err());
        assert_eq!(Method::parse_list("all").unwrap().len(), 5);
        assert_eq!(Method::parse_list("mse, minmax").unwrap(), vec![Method::Mse, Method::MinMax]);
        assert_eq!(Method::Percentile(99.99).label(), "percentile:99.99");
    }

    #[test]
    fn degenerate_inputs_give_defined_ranges() {
        for scheme in [Scheme::Symmetric, Scheme::Asymmetric] {
            for x in [vec![], vec![0.0f32; 10], vec![f32::NAN; 3], vec![2.5f32]] {
                let run = calibrate_batches(&[&x], &spec(8, scheme), &Method::all(), CalibConfig::default()).unwrap();
                for r in &run.results {
                    assert!(r.range[0].is_finite() && r.range[1].is_finite(), "{} {x:?}", r.method);
                    assert!(r.scale.is_finite() && r.scale > 0.0);
                }
                let json = run_calibrate_json(&x, 8, scheme, "all", true).unwrap();
                assert!(json.contains("\"methods\""));
            }
        }
    }
}
