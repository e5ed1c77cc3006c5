//! Calibration: the clipping range of a tensor or of a stream of activation batches, by min-max,
//! percentile, MSE, entropy (KL) or ORT's distribution, with what each searched (curve) and the
//! histogram, for the page.
//!
//! Each method belongs to a dialect (`Method::dialect`) and reproduces that reference's arithmetic,
//! quirks included: `Dialect::Ort` — onnxruntime/quantization/calibrate.py 1.32 (`MinMaxCalibrater`,
//! `HistogramCollector`: 2048 bins, 128 quantized bins; numpy's float32 sums and log, calib::numpy);
//! `Dialect::Trt` — modelopt's calib/histogram.py; `Dialect::Ours` where the crate chooses otherwise.
//! Memory is bounded: batches are folded into histograms and min/max, never kept.
//!
//! Two ways to stream: `Calibrator::add_batch` alone is one pass, the histograms growing by ORT's rule
//! (`merge_histogram`, `collect_absolute_value`): N batches through `add_batch` give exactly what ORT's
//! calibrator gives for the same N batches (quantize_static's `collect_data` over one reader; for its
//! defaults, `CalibConfig::ort_quantize_static`). ORT's ranges then depend on the batching, as ORT's
//! do. `calibrate_batches` (or `Calibrator::preset_range` after a min/max pass) fixes the signed
//! histograms' range first — the crate's two-pass variant: over 2 or 100 batches every method then
//! gives the same range (one batch is left to ORT's own layout; the |x| histogram of symmetric
//! percentile spans [0, max|x|] when preset, [min|x|, max|x|] on one batch, so those two agree within
//! a bin). Entry points for front ends: `calibration_report` /
//! `run_calibrate_json` (the `calibrate` command) and `calibrate_slots` (`quantize --calib`).

pub mod batches;
pub mod entropy;
pub mod histogram;
pub mod minmax;
pub mod mse;
pub mod numpy;
pub mod ort;
pub mod percentile;
pub mod slots;

use crate::error::{Error, Result};
use crate::kernels;
use crate::metrics::metrics_from_sums;
use crate::quant::{self, Granularity, QuantSpec, Scheme, SlotLayout, SlotRanges};
use histogram::{HistKind, Histogram, HistogramView};
use minmax::MinMax;
use serde::Serialize;

/// Whose arithmetic a method follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// onnxruntime/quantization/calibrate.py (1.32): `MinMaxCalibrater`, `HistogramCollector`.
    Ort,
    /// TensorRT's calibrators as NVIDIA ships them in nvidia-modelopt
    /// (modelopt/torch/quantization/calib/histogram.py).
    Trt,
    /// This crate's own choice where it differs from both (documented on the method).
    Ours,
}

/// A calibration method, as parsed from `minmax|minmax:ma|minmax:ema|percentile[:P]|percentile:trt[:P]|
/// mse|mse:trt|entropy|entropy:f64|entropy:trt|distribution`. Every method name is parsed here only.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// ORT `MinMaxCalibrater`: nanmin / nanmax of the batch extremes (ORT's symmetric (−a, a) is the
    /// same scale; the range stays the data's).
    MinMax,
    /// ORT `moving_average=True` within one collect_data call: the mean of the batch extremes.
    MovingAverage,
    /// ORT `merge_range` with moving_average across collect_data calls, one call per batch:
    /// old + c·(new − old), c = averaging_constant (0.01).
    MovingAverageEma,
    /// ORT `compute_percentile`, P in [0, 100] (99.99 here, as DESIGN.md fixes it; ORT's
    /// quantize_static defaults to 99.999).
    Percentile(f64),
    /// modelopt `_compute_amax_percentile` on the |x| histogram.
    PercentileTrt(f64),
    /// Ours: the expected-MSE search (mse.rs).
    Mse,
    /// modelopt `_compute_amax_mse`: fake-quantizes the bin centres at each candidate amax.
    MseTrt,
    /// KL divergence exactly as ORT's `get_entropy_threshold` (int64 q, float32 KL).
    Entropy,
    /// ORT's candidates and int64 q, the KL in float64: the true minimum of the same curve.
    EntropyF64,
    /// KL divergence, TensorRT's rule (modelopt `_compute_amax_entropy`).
    EntropyTrt,
    /// ORT `compute_distribution` (scenario "same"): the histogram's outer edges, with mean and std.
    Distribution,
}

pub const DEFAULT_PERCENTILE: f64 = 99.99;

/// One line per method for the page and `calibrate --help`: label, dialect, what it follows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MethodInfo {
    pub label: String,
    pub dialect: Dialect,
    pub about: &'static str,
}

impl Method {
    pub fn parse(text: &str) -> Result<Method> {
        let bad = || {
            Error::InvalidSpec(format!(
                "calibration method '{text}': expected minmax, minmax:ma, minmax:ema, percentile, percentile:P (0..=100), percentile:trt, percentile:trt:P, mse, mse:trt, entropy, entropy:f64, entropy:trt, distribution or all"
            ))
        };
        let percent = |p: &str| -> Result<f64> {
            let p: f64 = p.parse().map_err(|_| bad())?;
            if !(0.0..=100.0).contains(&p) {
                return Err(bad());
            }
            Ok(p)
        };
        Ok(match text.trim() {
            "minmax" => Method::MinMax,
            "minmax:ma" | "minmax:avg" => Method::MovingAverage,
            "minmax:ema" => Method::MovingAverageEma,
            "percentile" => Method::Percentile(DEFAULT_PERCENTILE),
            "percentile:trt" => Method::PercentileTrt(DEFAULT_PERCENTILE),
            "mse" => Method::Mse,
            "mse:trt" => Method::MseTrt,
            "entropy" | "entropy:ort" => Method::Entropy,
            "entropy:f64" => Method::EntropyF64,
            "entropy:trt" => Method::EntropyTrt,
            "distribution" => Method::Distribution,
            t => match t.strip_prefix("percentile:trt:") {
                Some(p) => Method::PercentileTrt(percent(p)?),
                None => match t.split_once(':') {
                    Some(("percentile", p)) => Method::Percentile(percent(p)?),
                    _ => return Err(bad()),
                },
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

    /// Every method, each dialect's at its default parameter.
    pub fn every() -> [Method; 11] {
        [
            Method::MinMax,
            Method::MovingAverage,
            Method::MovingAverageEma,
            Method::Percentile(DEFAULT_PERCENTILE),
            Method::PercentileTrt(DEFAULT_PERCENTILE),
            Method::Mse,
            Method::MseTrt,
            Method::Entropy,
            Method::EntropyF64,
            Method::EntropyTrt,
            Method::Distribution,
        ]
    }

    pub fn label(&self) -> String {
        match self {
            Method::MinMax => "minmax".into(),
            Method::MovingAverage => "minmax:ma".into(),
            Method::MovingAverageEma => "minmax:ema".into(),
            Method::Percentile(p) => format!("percentile:{p}"),
            Method::PercentileTrt(p) => format!("percentile:trt:{p}"),
            Method::Mse => "mse".into(),
            Method::MseTrt => "mse:trt".into(),
            Method::Entropy => "entropy".into(),
            Method::EntropyF64 => "entropy:f64".into(),
            Method::EntropyTrt => "entropy:trt".into(),
            Method::Distribution => "distribution".into(),
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Method::MinMax
            | Method::MovingAverage
            | Method::MovingAverageEma
            | Method::Percentile(_)
            | Method::Entropy
            | Method::Distribution => Dialect::Ort,
            Method::PercentileTrt(_) | Method::MseTrt | Method::EntropyTrt => Dialect::Trt,
            Method::Mse | Method::EntropyF64 => Dialect::Ours,
        }
    }

    /// What the method follows, for people (the page's method list, `calibrate --help`).
    pub fn about(&self) -> &'static str {
        match self {
            Method::MinMax => "onnxruntime MinMaxCalibrater: the extremes over all batches; symmetric (-a, a)",
            Method::MovingAverage => "onnxruntime moving_average=True: the mean of each batch's min and max (one collect_data call)",
            Method::MovingAverageEma => "onnxruntime merge_range: old + 0.01*(new - old), each batch its own collect_data call",
            Method::Percentile(_) => "onnxruntime compute_percentile: |x| histogram from the first batch's min|x| (symmetric) or the signed one (asymmetric)",
            Method::PercentileTrt(_) => "modelopt _compute_amax_percentile on the |x| histogram from 0",
            Method::Mse => "ours: the clipping that minimises the expected quantization MSE of the histogram",
            Method::MseTrt => "modelopt _compute_amax_mse: fake-quantizes the |x| bin centres at each candidate amax",
            Method::Entropy => "onnxruntime get_entropy_threshold exactly: int64-truncated q, float32 KL, first minimum",
            Method::EntropyF64 => "ORT's candidates and q with the KL in float64: float32 rounding makes ORT's flat KL curves pick by noise",
            Method::EntropyTrt => "TensorRT / modelopt _compute_amax_entropy on the |x| histogram; last minimum",
            Method::Distribution => "onnxruntime compute_distribution: the histogram's outer edges, mean and std (float8)",
        }
    }

    pub fn info(&self) -> MethodInfo {
        MethodInfo { label: self.label(), dialect: self.dialect(), about: self.about() }
    }

    /// Every method, one line each, for `calibrate --help`.
    pub fn help() -> String {
        let mut s = String::from("A comma-separated list of methods, or all (minmax, percentile, mse, entropy, entropy:trt).\n");
        for m in Method::every() {
            let name = match m {
                Method::Percentile(_) => "percentile[:P]".to_string(),
                Method::PercentileTrt(_) => "percentile:trt[:P]".to_string(),
                m => m.label(),
            };
            s.push_str(&format!("  {name:<20} {:<5} {}\n", format!("{:?}", m.dialect()).to_lowercase(), m.about()));
        }
        s
    }

    /// The histogram the method reads, for this scheme.
    pub fn histogram(&self, scheme: Scheme) -> Option<HistKind> {
        match (self, scheme) {
            (Method::MinMax | Method::MovingAverage | Method::MovingAverageEma, _) => None,
            // ORT: collect_absolute_value when symmetric, collect_value otherwise.
            (Method::Percentile(_), Scheme::Symmetric) => Some(HistKind::AbsFromMin),
            (Method::Percentile(_), Scheme::Asymmetric) => Some(HistKind::Signed),
            (Method::Mse | Method::Entropy | Method::EntropyF64 | Method::Distribution, _) => Some(HistKind::Signed),
            (Method::EntropyTrt | Method::PercentileTrt(_) | Method::MseTrt, _) => Some(HistKind::Abs),
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
    /// Memory bound: past this many bins, adjacent bins of the signed histogram are merged. ORT's
    /// merge_histogram never merges (its histogram grows without limit), so ORT's methods equal ORT's
    /// only while the range grows less than max_bins / bins times beyond the first batch's.
    pub max_bins: usize,
    /// ORT averaging_constant for `minmax:ema`.
    pub averaging_constant: f32,
}

impl Default for CalibConfig {
    fn default() -> Self {
        CalibConfig { bins: 2048, quantized_bins: 128, max_bins: 2048 * 8, averaging_constant: 0.01 }
    }
}

impl CalibConfig {
    /// What onnxruntime's `quantize_static` gives each method when extra_options leave it alone
    /// (calibrate.py `create_calibrator`): entropy 128 bins and 128 quantized bins — a single KL
    /// candidate, the whole histogram, so on one batch ORT's default entropy is min-max — and 2048
    /// bins for percentile (whose default P is 99.999, symmetric) and distribution.
    pub fn ort_quantize_static(method: &Method) -> Self {
        let bins = match method {
            Method::Entropy | Method::EntropyF64 => 128,
            _ => 2048,
        };
        CalibConfig { bins, max_bins: usize::MAX, ..CalibConfig::default() }
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
    /// `distribution` only: ORT's bin-centre mean and standard deviation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distribution: Option<ort::Distribution>,
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
    extremes: ort::BatchExtremes,
    signed: Option<Histogram>,
    abs: Option<Histogram>,
    abs_from_min: Option<ort::AbsValueHistogram>,
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
            extremes: ort::BatchExtremes::default(),
            signed: make(HistKind::Signed),
            abs: make(HistKind::Abs),
            abs_from_min: wants(HistKind::AbsFromMin).then(|| ort::AbsValueHistogram::new(cfg.bins)),
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
            if let Some(h) = &mut self.abs_from_min {
                h.preset_range(min.abs().max(max.abs()));
            }
        }
    }

    /// `preset_range` for ONE batch that will arrive in parts (a tensor read in chunks): the histograms
    /// get the layout that batch would give fed whole — for the signed and |x| histograms the preset
    /// itself, for ORT's |x|-from-min histogram its first-batch layout over [min|x|, max|x|] — so any
    /// chunking gives the one-batch result of `calibrate_batches`.
    pub fn preset_one_batch(&mut self, min: f32, max: f32, min_abs: f32, max_abs: f32, finite: usize) {
        if min <= max {
            for h in [&mut self.signed, &mut self.abs].into_iter().flatten() {
                h.preset_range(min, max);
            }
        }
        if let Some(h) = &mut self.abs_from_min {
            h.preset_one_batch(min_abs, max_abs, finite);
        }
    }

    /// Folds one batch in; the batch can be dropped afterwards.
    pub fn add_batch(&mut self, x: &[f32]) {
        let (lo, hi, bad) = kernels::min_max_finite(x);
        self.add_batch_with_extremes(x, lo, hi, bad);
    }

    /// `add_batch` when the caller already has the batch's finite min, max and non-finite count.
    pub fn add_batch_with_extremes(&mut self, x: &[f32], lo: f32, hi: f32, bad: usize) {
        self.begin_batch(x.len(), lo, hi, bad);
        self.add_batch_part_with_extremes(x, lo, hi, bad);
    }

    /// Opens a batch that arrives in parts: its length, finite extremes and non-finite count (from a
    /// first pass). The parts then go to `add_batch_part`; the histograms must have a preset range.
    pub fn begin_batch(&mut self, len: usize, lo: f32, hi: f32, bad: usize) {
        self.batches += 1;
        self.finite += (len - bad.min(len)) as u64;
        self.nonfinite += bad as u64;
        self.extremes.add(lo, hi, self.cfg.averaging_constant);
    }

    /// Bins one part of the batch opened by `begin_batch`.
    pub fn add_batch_part(&mut self, x: &[f32]) {
        let (lo, hi, bad) = kernels::min_max_finite(x);
        self.add_batch_part_with_extremes(x, lo, hi, bad);
    }

    fn add_batch_part_with_extremes(&mut self, x: &[f32], lo: f32, hi: f32, bad: usize) {
        for h in [&mut self.signed, &mut self.abs].into_iter().flatten() {
            h.add_with_extremes(x, lo, hi, bad);
        }
        if let Some(h) = &mut self.abs_from_min {
            h.add(x, lo, hi, bad);
        }
    }

    /// The histogram of `kind` (Signed or Abs), built because a method given to `new` reads it.
    fn hist(&self, kind: HistKind) -> Result<&Histogram> {
        let h = match kind {
            HistKind::Signed => &self.signed,
            HistKind::Abs | HistKind::AbsFromMin => &self.abs,
        };
        h.as_ref().ok_or_else(|| Error::InvalidSpec(format!("the {kind:?} histogram was not built")))
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
            Some(HistKind::AbsFromMin) => self.abs_from_min.is_some(),
        };
        if !built {
            return Err(Error::InvalidSpec(format!(
                "calibration method '{}' was not among the methods this calibrator was built for",
                method.label()
            )));
        }
        let sym = scheme == Scheme::Symmetric;
        let mut distribution = None;
        let ((lo, hi), curve) = match *method {
            // ORT returns (−a, a) when symmetric; the core keeps the data's [min, max] (the same
            // symmetric scale, max(|min|, |max|), is taken by quant::params_from_range).
            Method::MinMax => (self.extremes.range(false), None),
            Method::MovingAverage => (self.extremes.mean_range(false), None),
            // Averaged after symmetrizing each call's range, as merge_range does: kept as ORT gives it.
            Method::MovingAverageEma => (self.extremes.ema_range(sym), None),
            Method::Percentile(p) => match (scheme, &self.abs_from_min) {
                (Scheme::Symmetric, Some(h)) => (percentile::symmetric(h, p), None),
                _ => (percentile::asymmetric(self.hist(HistKind::Signed)?, p), None),
            },
            Method::PercentileTrt(p) => (percentile::trt(self.hist(HistKind::Abs)?, p), None),
            Method::Mse => {
                let (r, c) = mse::search(self.hist(HistKind::Signed)?, &self.spec);
                (r, Some(c))
            }
            Method::MseTrt => {
                let (r, c) = mse::trt(self.hist(HistKind::Abs)?, self.spec.format.bits);
                (r, Some(c))
            }
            Method::Entropy | Method::EntropyF64 => {
                let arithmetic = if *method == Method::Entropy {
                    entropy::KlArithmetic::NumpyF32
                } else {
                    entropy::KlArithmetic::F64
                };
                let (r, c) = entropy::ort_with(self.hist(HistKind::Signed)?, self.cfg.quantized_bins, arithmetic);
                (r, Some(c))
            }
            Method::EntropyTrt => {
                // Migacz 2017: 2^(b−1) levels (128 for int8) over the |x| histogram, whatever the scheme.
                let levels = 1usize << (self.spec.format.bits as u32 - 1);
                let (r, c) = entropy::trt(self.hist(HistKind::Abs)?, levels);
                (r, Some(c))
            }
            Method::Distribution => {
                let d = ort::distribution(self.hist(HistKind::Signed)?, self.cfg.bins);
                distribution = Some(d);
                (d.range, None)
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
            distribution,
        })
    }

    pub fn run(&self) -> CalibRun {
        CalibRun {
            results: self
                .methods
                .iter()
                .map(|m| self.result(m).expect("new() built the histograms of its own methods"))
                .collect(),
            histograms: [&self.signed, &self.abs]
                .into_iter()
                .flatten()
                .map(|h| h.view())
                .chain(self.abs_from_min.as_ref().map(|h| h.view()))
                .collect(),
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
    // One batch needs no preset: ORT's own first-batch layout is the one the preset gives (and, for
    // the |x| histogram of symmetric percentile, the preset's [0, max|x|] is not ORT's).
    if range.batches > 1 {
        c.preset_range(range.min, range.max);
    }
    for (b, &(lo, hi, bad)) in batches.iter().zip(&extremes) {
        c.add_batch_with_extremes(b, lo, hi, bad);
    }
    Ok(c.run())
}

/// Per-slot ranges (per-tensor, per-channel along the spec's axis, or per-group) by one method, for
/// `quant::quantize_with_ranges`. Each slot gets its own histogram; `slots::SlotCalibration` is the
/// same calibration fed in chunks.
pub fn calibrate_slots(
    x: &[f32],
    shape: &[usize],
    spec: &QuantSpec,
    method: &Method,
    cfg: CalibConfig,
) -> Result<SlotRanges> {
    // The streamed calibration fed the whole tensor as one chunk (slots.rs).
    slots::calibrate_slots_chunked(x, shape, spec, method, cfg, x.len().max(1))
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

impl CalibRow {
    /// A method's range and what fake-quantizing with it cost.
    pub fn measured(r: &CalibResult, metrics: &crate::metrics::Metrics) -> CalibRow {
        CalibRow {
            method: r.method.clone(),
            range: r.range,
            scale: r.scale,
            zero_point: r.zero_point,
            mse: metrics.mse,
            sqnr_db: metrics.sqnr_db,
            clipped_share: metrics.clipped_share,
        }
    }
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
    calibration_report_chunked(x, spec, methods, cfg, details, x.len().max(1))
}

/// `calibration_report` with `x` fed to the stream in chunks of `chunk` elements.
pub fn calibration_report_chunked(
    x: &[f32],
    spec: &QuantSpec,
    methods: &[Method],
    cfg: CalibConfig,
    details: bool,
    chunk: usize,
) -> Result<CalibReport> {
    let mut stream = WeightCalibration::new(x.len(), spec, methods, cfg)?;
    while let Some(pass) = stream.next_pass()? {
        for c in x.chunks(chunk.max(1)) {
            stream.feed(pass, c)?;
        }
    }
    stream.finish(details)
}

/// Which read of the tensor a `WeightCalibration` wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalibPass {
    /// The finite min and max, which fix the histograms' range.
    Range,
    /// The histograms of the methods that read one.
    Histogram,
    /// Fake-quantizing with each method's range, to measure it.
    Measure,
}

/// The calibration of one weight tensor (one batch, fed in chunks over three reads), so that any
/// chunking gives the report of the whole tensor at once: range, histograms, then measurement.
#[derive(Debug, Clone)]
pub struct WeightCalibration {
    spec: QuantSpec,
    methods: Vec<Method>,
    cfg: CalibConfig,
    elements: usize,
    pass: Option<CalibPass>,
    fed: usize,
    range: MinMax,
    /// The finite |x| extremes, for ORT's |x| histogram (symmetric percentile).
    abs_range: (f32, f32),
    nonfinite: usize,
    calibrator: Option<Calibrator>,
    run: Option<CalibRun>,
    measures: Vec<quant::stream::ScaledPass>,
    done: bool,
}

impl WeightCalibration {
    pub fn new(elements: usize, spec: &QuantSpec, methods: &[Method], cfg: CalibConfig) -> Result<Self> {
        let spec = QuantSpec { granularity: Granularity::PerTensor, ..*spec };
        Calibrator::new(&spec, methods, cfg)?;
        Ok(WeightCalibration {
            spec,
            methods: methods.to_vec(),
            cfg,
            elements,
            pass: None,
            fed: 0,
            range: MinMax::default(),
            abs_range: (f32::INFINITY, 0.0),
            nonfinite: 0,
            calibrator: None,
            run: None,
            measures: Vec::new(),
            done: false,
        })
    }

    /// Ends the read under way (checking that it saw the whole tensor) and names the next, if any.
    pub fn next_pass(&mut self) -> Result<Option<CalibPass>> {
        if self.pass.is_some() && self.fed != self.elements {
            return Err(Error::InvalidSpec(format!("{} values given for a tensor of {} elements", self.fed, self.elements)));
        }
        if self.pass == Some(CalibPass::Measure) {
            self.done = true;
            return Ok(None);
        }
        self.fed = 0;
        self.pass = match self.pass {
            None => Some(CalibPass::Range),
            Some(CalibPass::Range) => {
                let mut c = Calibrator::new(&self.spec, &self.methods, self.cfg)?;
                if self.range.batches > 0 {
                    let (min_abs, max_abs) = self.abs_range;
                    c.preset_one_batch(self.range.min, self.range.max, min_abs, max_abs, self.elements - self.nonfinite.min(self.elements));
                }
                let (lo, hi) = (self.range.min, self.range.max);
                c.begin_batch(self.elements, lo, hi, self.nonfinite);
                self.calibrator = Some(c);
                Some(CalibPass::Histogram)
            }
            Some(CalibPass::Histogram) => {
                let run = self.calibrator.take().map(|c| c.run()).ok_or_else(|| Error::InvalidSpec("no histogram pass ran".into()))?;
                let layout = SlotLayout::new(&[self.elements], Granularity::PerTensor)?;
                self.measures = run
                    .results
                    .iter()
                    .map(|r| {
                        let ranges = SlotRanges { lo: vec![r.range[0]], hi: vec![r.range[1]], nonfinite: run.nonfinite as usize };
                        quant::stream::ScaledPass::new(&self.spec, layout.clone(), &ranges)
                    })
                    .collect::<Result<_>>()?;
                self.run = Some(run);
                Some(CalibPass::Measure)
            }
            Some(CalibPass::Measure) => None,
        };
        
        Ok(self.pass)
    }

    /// The next chunk of the read `pass` (the one `next_pass` named).
    pub fn feed(&mut self, pass: CalibPass, x: &[f32]) -> Result<()> {
        if self.pass != Some(pass) {
            return Err(Error::InvalidSpec(format!("a chunk for the {pass:?} read came during the {:?} read", self.pass)));
        }
        if x.len() > self.elements - self.fed {
            return Err(Error::InvalidSpec(format!("a chunk of {} values runs past the tensor's {} elements", x.len(), self.elements)));
        }
        self.fed += x.len();
        match pass {
            CalibPass::Range => {
                let (lo, hi, bad) = kernels::min_max_finite(x);
                // One batch: the extremes fold without averaging.
                self.range.add_extremes(lo, hi, 0.0);
                self.abs_range = x
                    .iter()
                    .filter(|v| v.is_finite())
                    .map(|v| v.abs())
                    .fold(self.abs_range, |(a, b), v| (a.min(v), b.max(v)));
                self.nonfinite += bad;
            }
            CalibPass::Histogram => {
                if let Some(c) = &mut self.calibrator {
                    c.add_batch_part(x);
                }
            }
            CalibPass::Measure => {
                for m in &mut self.measures {
                    m.feed(x)?;
                }
            }
        }
        Ok(())
    }

    /// The report, after the three reads.
    pub fn finish(self, details: bool) -> Result<CalibReport> {
        let run = self.run.ok_or_else(|| Error::InvalidSpec("the calibration was finished before its reads".into()))?;
        if !self.done {
            return Err(Error::InvalidSpec("the calibration was finished before its measuring read ended".into()));
        }
        let mut rows = Vec::with_capacity(run.results.len());
        for (r, m) in run.results.iter().zip(self.measures) {
            let out = m.finish()?;
            rows.push(CalibRow::measured(r, &metrics_from_sums(&out.error, self.elements - out.nonfinite, out.clipped)));
        }
        Ok(CalibReport {
            bits: self.spec.format.bits,
            scheme: self.spec.format.scheme,
            elements: self.elements,
            nonfinite: run.nonfinite,
            methods: rows,
            details: details.then_some(run),
        })
    }
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
