//! Streaming calibration of every exposed tensor of a model, one batch at a time, in bounded
//! memory: per tensor a min/max pair and, for the histogram methods, one histogram.
//!
//! What ORT does (onnxruntime/python/tools/quantization/calibrate.py, `create_calibrator` defaults):
//! - `minmax`: the min of each batch's ReduceMin and the max of each batch's ReduceMax — the float32
//!   extremes of all batches (NaN skipped as np.nanmin does). Exact here.
//! - `distribution` (CalibrationMethod.Distribution, for integer types): `HistogramCollector
//!   .collect_value` histograms every batch at once over ±max|x| and the range is the histogram's
//!   outer edges, (−max|x|, +max|x|). Exact here, no histogram needed.
//! - `percentile` (symmetric, 2048 bins of |x|, 99.999) and `entropy` (128 bins, 128 quantized bins):
//!   ORT's `HistogramCalibrater.collect_data` runs the whole reader first and hands the collector
//!   each tensor's batches as ONE list, which `collect_absolute_value` / `collect_value` turn into
//!   one array (`np.asarray(data_arr)`) and histogram in one `np.histogram` call. So ORT's layout is
//!   one batch's: percentile's |x| bins over [min|x|, max|x|] of all the data, entropy's signed bins
//!   over ±max|x|. Here a first pass gathers those extremes and a second streams the batches into
//!   that fixed layout (calib::Calibrator::preset_one_batch / preset_range), so the answer is ORT's
//!   and no batch is kept.
//! - `mse`: the calib module's MSE search on the same two-pass histogram (ORT has no such method).

use crate::calib::{self, CalibConfig, Calibrator};
use crate::error::{Error, Result};
use crate::quant::{Granularity, QuantSpec, Scheme};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// ORT's default percentile for CalibrationMethod.Percentile.
pub const ORT_PERCENTILE: f64 = 99.999;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PtqMethod {
    MinMax,
    Distribution,
    Percentile(f64),
    Entropy,
    Mse,
}

impl PtqMethod {
    pub fn parse(text: &str) -> Result<PtqMethod> {
        let bad = || Error::InvalidSpec(format!("ptq calibration method '{text}': expected minmax, percentile, percentile:P (0..=100), entropy, distribution or mse"));
        Ok(match text.trim() {
            "minmax" => PtqMethod::MinMax,
            "distribution" => PtqMethod::Distribution,
            "percentile" => PtqMethod::Percentile(ORT_PERCENTILE),
            "entropy" => PtqMethod::Entropy,
            "mse" => PtqMethod::Mse,
            t => match t.split_once(':') {
                Some(("percentile", p)) => {
                    let p: f64 = p.parse().map_err(|_| bad())?;
                    if !(0.0..=100.0).contains(&p) {
                        return Err(bad());
                    }
                    PtqMethod::Percentile(p)
                }
                _ => return Err(bad()),
            },
        })
    }

    pub fn label(&self) -> String {
        match self {
            PtqMethod::MinMax => "minmax".into(),
            PtqMethod::Distribution => "distribution".into(),
            PtqMethod::Percentile(p) => format!("percentile:{p}"),
            PtqMethod::Entropy => "entropy".into(),
            PtqMethod::Mse => "mse".into(),
        }
    }

    /// How many passes over the calibration batches the method needs.
    pub fn passes(&self) -> usize {
        match self {
            PtqMethod::MinMax | PtqMethod::Distribution => 1,
            _ => 2,
        }
    }

    /// The calib method, histogram scheme and sizes of ORT's calibrater for this method.
    fn histogram_method(&self) -> Option<(calib::Method, Scheme, CalibConfig)> {
        let cfg = CalibConfig::default();
        match *self {
            PtqMethod::MinMax | PtqMethod::Distribution => None,
            PtqMethod::Percentile(p) => Some((calib::Method::Percentile(p), Scheme::Symmetric, CalibConfig { bins: 2048, ..cfg })),
            PtqMethod::Entropy => Some((calib::Method::Entropy, Scheme::Asymmetric, CalibConfig { bins: 128, quantized_bins: 128, ..cfg })),
            PtqMethod::Mse => Some((calib::Method::Mse, Scheme::Asymmetric, CalibConfig { bins: 2048, ..cfg })),
        }
    }
}

/// The finite values' extremes, signed and absolute, and their count.
#[derive(Debug, Clone, Copy)]
struct Finite {
    min: f32,
    max: f32,
    min_abs: f32,
    max_abs: f32,
    count: usize,
}

impl Finite {
    fn new() -> Self {
        Finite { min: f32::INFINITY, max: f32::NEG_INFINITY, min_abs: f32::INFINITY, max_abs: 0.0, count: 0 }
    }
}

#[derive(Debug, Clone)]
struct TensorState {
    /// NaN skipped, ±Inf counted: np.nanmin / nanmax of ORT's ReduceMin / ReduceMax outputs.
    min: f32,
    max: f32,
    values: u64,
    /// Over the finite values only: what the histogram layouts are made from.
    finite: Finite,
    batches: [usize; 2],
    histogram: Option<Calibrator>,
}

/// The calibrated range of each tensor, as ptq_quantize takes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PtqRanges {
    pub method: String,
    pub batches: usize,
    pub ranges: BTreeMap<String, [f32; 2]>,
}

impl PtqRanges {
    pub fn as_map(&self) -> HashMap<String, (f32, f32)> {
        self.ranges.iter().map(|(k, v)| (k.clone(), (v[0], v[1]))).collect()
    }

    /// Reads `{"ranges": {"name": [lo, hi], …}}` (what `PtqCalibrator.ranges()` writes).
    pub fn from_json(text: &str) -> Result<PtqRanges> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| Error::InvalidSpec(format!("ranges JSON: {e}")))?;
        let obj = v.get("ranges").and_then(|r| r.as_object()).ok_or_else(|| Error::InvalidSpec("ranges JSON: no \"ranges\" object".into()))?;
        let mut ranges = BTreeMap::new();
        for (name, r) in obj {
            let pair = r.as_array().filter(|a| a.len() == 2).and_then(|a| Some([a[0].as_f64()? as f32, a[1].as_f64()? as f32]));
            let pair = pair.ok_or_else(|| Error::InvalidSpec(format!("ranges JSON: tensor '{name}' should map to [min, max]")))?;
            ranges.insert(name.clone(), pair);
        }
        Ok(PtqRanges {
            method: v.get("method").and_then(|m| m.as_str()).unwrap_or("given").to_string(),
            batches: v.get("batches").and_then(|b| b.as_u64()).unwrap_or(0) as usize,
            ranges,
        })
    }
}

/// Streams batches of named tensors into per-tensor calibration.
#[derive(Debug, Clone)]
pub struct PtqCalibration {
    method: PtqMethod,
    pass: usize,
    tensors: Vec<String>,
    state: HashMap<String, TensorState>,
}

impl PtqCalibration {
    pub fn new(method: PtqMethod, tensors: &[String]) -> Result<Self> {
        if tensors.is_empty() {
            return Err(Error::InvalidSpec("ptq calibration: no tensors to calibrate (the model has no float inputs or outputs of quantizable nodes)".into()));
        }
        let state = tensors
            .iter()
            .map(|t| (t.clone(), TensorState { min: f32::INFINITY, max: f32::NEG_INFINITY, values: 0, finite: Finite::new(), batches: [0, 0], histogram: None }))
            .collect();
        Ok(PtqCalibration { method, pass: 0, tensors: tensors.to_vec(), state })
    }

    pub fn method(&self) -> PtqMethod {
        self.method
    }

    pub fn passes(&self) -> usize {
        self.method.passes()
    }

    /// The pass batches go into now: 0, then 1 after `next_pass`.
    pub fn pass(&self) -> usize {
        self.pass
    }

    pub fn tensors(&self) -> &[String] {
        &self.tensors
    }

    /// One batch's values of one tensor, into the current pass.
    pub fn add_batch(&mut self, tensor: &str, values: &[f32]) -> Result<()> {
        let method = self.method;
        let pass = self.pass;
        let s = self.state.get_mut(tensor).ok_or_else(|| Error::InvalidSpec(format!("ptq calibration: '{tensor}' is not one of the tensors being calibrated")))?;
        s.batches[pass] += 1;
        if pass == 0 {
            for &v in values {
                // np.nanmin / nanmax over ReduceMin / ReduceMax: NaN does not count.
                if !v.is_nan() {
                    s.min = s.min.min(v);
                    s.max = s.max.max(v);
                }
                if v.is_finite() {
                    let f = &mut s.finite;
                    f.min = f.min.min(v);
                    f.max = f.max.max(v);
                    f.min_abs = f.min_abs.min(v.abs());
                    f.max_abs = f.max_abs.max(v.abs());
                    f.count += 1;
                }
            }
            s.values += values.len() as u64;
        } else if let Some(h) = s.histogram.as_mut() {
            if matches!(method, PtqMethod::Percentile(_)) {
                // A part of the one batch opened by next_pass (ORT's single collect_absolute_value call).
                h.add_batch_part(values);
            } else {
                h.add_batch(values);
            }
        } else {
            return Err(Error::InvalidSpec(format!("ptq calibration ({}): no second pass was started", method.label())));
        }
        Ok(())
    }

    /// Ends the first pass (histogram methods): every tensor's range fixes its histogram.
    pub fn next_pass(&mut self) -> Result<()> {
        let Some((method, scheme, cfg)) = self.method.histogram_method() else {
            return Err(Error::InvalidSpec(format!("ptq calibration: {} needs one pass only", self.method.label())));
        };
        if self.pass != 0 {
            return Err(Error::InvalidSpec("ptq calibration: the second pass has already started".into()));
        }
        let spec = QuantSpec::new(8, scheme, Granularity::PerTensor);
        for t in &self.tensors {
            let s = self.state.get_mut(t).ok_or_else(|| Error::InvalidSpec(format!("no state for '{t}'")))?;
            if s.batches[0] == 0 {
                return Err(Error::InvalidSpec(format!("ptq calibration: tensor '{t}' received no batch in the first pass")));
            }
            let mut c = Calibrator::new(&spec, &[method], cfg)?;
            if let PtqMethod::Percentile(_) = self.method {
                // ORT's |x| histogram of all batches as one array: bins over [min|x|, max|x|] of the
                // whole calibration set, the batches then arriving as parts of that one batch.
                let f = s.finite;
                c.preset_one_batch(f.min, f.max, f.min_abs, f.max_abs, f.count);
                c.begin_batch(s.values as usize, f.min, f.max, s.values as usize - f.count);
            } else if s.min <= s.max {
                c.preset_range(s.min, s.max);
            }
            s.histogram = Some(c);
        }
        self.pass = 1;
        Ok(())
    }

    /// Every tensor's range once all passes are done.
    pub fn ranges(&self) -> Result<PtqRanges> {
        if self.pass + 1 != self.passes() {
            return Err(Error::InvalidSpec(format!(
                "ptq calibration ({}): pass {} of {} is running; the ranges come after the last (call next_pass after the first)",
                self.method.label(),
                self.pass + 1,
                self.passes()
            )));
        }
        let mut ranges = BTreeMap::new();
        let mut batches = 0;
        for t in &self.tensors {
            let s = &self.state[t];
            if s.batches[self.pass] == 0 || s.batches[self.pass] != s.batches[0] {
                return Err(Error::InvalidSpec(format!(
                    "ptq calibration: tensor '{t}' received {} batches in pass 1 and {} in pass {}",
                    s.batches[0],
                    s.batches[self.pass],
                    self.pass + 1
                )));
            }
            batches = batches.max(s.batches[0]);
            let (lo, hi) = if s.values == 0 || s.min > s.max { (0.0, 0.0) } else { (s.min, s.max) };
            let range = match (self.method, &s.histogram) {
                (PtqMethod::MinMax, _) => (lo, hi),
                (PtqMethod::Distribution, _) => {
                    let t = lo.abs().max(hi.abs());
                    (-t, t)
                }
                (m, Some(h)) => {
                    let (method, ..) = m.histogram_method().ok_or_else(|| Error::InvalidSpec("no histogram method".into()))?;
                    let r = h.result(&method)?;
                    (r.range[0], r.range[1])
                }
                (m, None) => return Err(Error::InvalidSpec(format!("ptq calibration ({}): no histogram for '{t}'", m.label()))),
            };
            ranges.insert(t.clone(), [range.0, range.1]);
        }
        Ok(PtqRanges { method: self.method.label(), batches, ranges })
    }
}
