//! One activation set given as several batches (several .npy files, or the arrays of one .npz), calibrated
//! in streaming fashion: nothing but min/max, the histograms and the error sums is kept between batches.
//!
//! Three passes over the batches, each batch read, used and dropped: (1) `scan` — the global finite
//! [min, max], which fixes the histograms' range so that the split into batches cannot change a
//! histogram method's answer (as `calibrate_batches` does); (2) `add` — the histograms; (3) `measure` —
//! each method's range fake-quantizes the batch and the error sums add up. A front end that holds the
//! batches in memory anyway can call `calibration_report_batches`.

use super::minmax::MinMax;
use super::{CalibConfig, CalibReport, CalibRow, CalibRun, Calibrator, Method};
use crate::error::{Error, Result};
use crate::kernels::{self, ErrorSums};
use crate::metrics::metrics_from_sums;
use crate::quant::{self, Granularity, QuantSpec, SlotRanges};
use serde::Serialize;

/// `calibrate`'s report over several batches: the single-set report plus how the set was split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchCalibReport {
    #[serde(flatten)]
    pub report: CalibReport,
    /// How many batches, and how many values each held (in the order given).
    pub batches: usize,
    pub batch_values: Vec<usize>,
}

impl BatchCalibReport {
    /// One line for people: "calibrated 3 batches of 1000 + 1000 + 1000 = 3000 values".
    pub fn summary(&self) -> String {
        let total: usize = self.batch_values.iter().sum();
        let parts: Vec<String> = self.batch_values.iter().map(|v| v.to_string()).collect();
        let plural = if self.batches == 1 { "" } else { "es" };
        if self.batches <= 8 && self.batches > 1 {
            format!("calibrated {} batch{plural} of {} = {total} values", self.batches, parts.join(" + "))
        } else {
            format!("calibrated {} batch{plural} of {total} values in all", self.batches)
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Measured {
    sums: ErrorSums,
    finite: usize,
    clipped: usize,
}

/// How the histograms' range is set over several batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistogramRange {
    /// The crate's two-pass histogram: over several batches, the global [min, max] of pass 1 fixes
    /// the range, so the split into batches does not change a range.
    Preset,
    /// ORT's: the first batch sets the range and later batches grow it (merge_histogram,
    /// collect_absolute_value) — the ranges ORT's calibrators give for the same batches.
    Growing,
}

/// The three passes' state.
#[derive(Debug, Clone)]
pub struct BatchCalibration {
    spec: QuantSpec,
    methods: Vec<Method>,
    cfg: CalibConfig,
    histogram_range: HistogramRange,
    extremes: MinMax,
    batch_values: Vec<usize>,
    calibrator: Option<Calibrator>,
    added: usize,
    run: Option<CalibRun>,
    measured: Vec<Measured>,
    measured_batches: usize,
}

impl BatchCalibration {
    /// Per-tensor calibration (one range for the whole set) at `spec`'s bits and scheme.
    pub fn new(spec: &QuantSpec, methods: &[Method], cfg: CalibConfig) -> Result<Self> {
        let spec = QuantSpec { granularity: Granularity::PerTensor, ..*spec };
        spec.validate()?;
        if methods.is_empty() {
            return Err(Error::InvalidSpec("no calibration method given".into()));
        }
        Ok(BatchCalibration {
            spec,
            methods: methods.to_vec(),
            cfg,
            histogram_range: HistogramRange::Preset,
            extremes: MinMax::default(),
            batch_values: Vec::new(),
            calibrator: None,
            added: 0,
            run: None,
            measured: vec![Measured::default(); methods.len()],
            measured_batches: 0,
        })
    }

    pub fn with_histogram_range(mut self, range: HistogramRange) -> Self {
        self.histogram_range = range;
        self
    }

    /// Pass 1: a batch's finite extremes.
    pub fn scan(&mut self, x: &[f32]) -> Result<()> {
        if self.calibrator.is_some() {
            return Err(Error::InvalidSpec("batch calibration: every batch must be scanned before the first is added".into()));
        }
        let (lo, hi, _) = kernels::min_max_finite(x);
        self.extremes.add_extremes(lo, hi, 0.0);
        self.batch_values.push(x.len());
        Ok(())
    }

    fn check_batch(&self, pass: &str, i: usize, x: &[f32]) -> Result<()> {
        match self.batch_values.get(i) {
            Some(&len) if len == x.len() => Ok(()),
            Some(&len) => Err(Error::InvalidSpec(format!("batch {}: {} values in the {pass} pass, {len} when scanned", i + 1, x.len()))),
            None => Err(Error::InvalidSpec(format!("batch {}: only {} batches were scanned", i + 1, self.batch_values.len()))),
        }
    }

    /// Pass 2: a batch into the histograms (the range fixed by pass 1).
    pub fn add(&mut self, x: &[f32]) -> Result<()> {
        if self.run.is_some() {
            return Err(Error::InvalidSpec("batch calibration: every batch must be added before the first is measured".into()));
        }
        self.check_batch("histogram", self.added, x)?;
        if self.calibrator.is_none() {
            let mut c = Calibrator::new(&self.spec, &self.methods, self.cfg)?;
            if self.extremes.batches > 1 && self.histogram_range == HistogramRange::Preset {
                c.preset_range(self.extremes.min, self.extremes.max);
            }
            self.calibrator = Some(c);
        }
        let c = self.calibrator.as_mut().expect("made above");
        c.add_batch(x);
        self.added += 1;
        Ok(())
    }

    /// Every method's range, once all batches are added.
    pub fn run(&mut self) -> Result<&CalibRun> {
        if self.run.is_none() {
            if self.added != self.batch_values.len() || self.batch_values.is_empty() {
                return Err(Error::InvalidSpec(format!(
                    "batch calibration: {} of {} scanned batches were added",
                    self.added,
                    self.batch_values.len()
                )));
            }
            self.run = Some(self.calibrator.as_ref().expect("batches were added").run());
        }
        Ok(self.run.as_ref().expect("set above"))
    }

    /// Pass 3: fake-quantizes a batch with each method's range and adds up the error.
    pub fn measure(&mut self, x: &[f32]) -> Result<()> {
        self.check_batch("error", self.measured_batches, x)?;
        let spec = self.spec;
        let ranges: Vec<[f32; 2]> = self.run()?.results.iter().map(|r| r.range).collect();
        for (m, range) in self.measured.iter_mut().zip(ranges) {
            let slot = SlotRanges { lo: vec![range[0]], hi: vec![range[1]], nonfinite: 0 };
            let q = quant::quantize_with_ranges(x, &[x.len()], &spec, &slot)?;
            m.sums.merge(&q.error);
            m.finite += q.finite_count();
            m.clipped += q.clipped;
        }
        self.measured_batches += 1;
        Ok(())
    }

    /// The report once every batch has been measured; `details` adds the curves and histograms.
    pub fn report(&mut self, details: bool) -> Result<BatchCalibReport> {
        if self.measured_batches != self.batch_values.len() {
            return Err(Error::InvalidSpec(format!(
                "batch calibration: {} of {} batches were measured",
                self.measured_batches,
                self.batch_values.len()
            )));
        }
        let run = self.run()?.clone();
        let rows = run
            .results
            .iter()
            .zip(&self.measured)
            .map(|(r, m)| CalibRow::measured(r, &metrics_from_sums(&m.sums, m.finite, m.clipped)))
            .collect();
        Ok(BatchCalibReport {
            report: CalibReport {
                bits: self.spec.format.bits,
                scheme: self.spec.format.scheme,
                elements: self.batch_values.iter().sum(),
                nonfinite: run.nonfinite,
                methods: rows,
                details: details.then_some(run),
            },
            batches: self.batch_values.len(),
            batch_values: self.batch_values.clone(),
        })
    }
}

/// All three passes over batches held in memory.
pub fn calibration_report_batches(batches: &[&[f32]], spec: &QuantSpec, methods: &[Method], cfg: CalibConfig, details: bool) -> Result<BatchCalibReport> {
    let mut c = BatchCalibration::new(spec, methods, cfg)?;
    for b in batches {
        c.scan(b)?;
    }
    for b in batches {
        c.add(b)?;
    }
    for b in batches {
        c.measure(b)?;
    }
    c.report(details)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::Scheme;

    #[test]
    fn passes_out_of_order_are_errors() {
        let spec = QuantSpec::new(8, Scheme::Symmetric, Granularity::PerTensor);
        let mut c = BatchCalibration::new(&spec, &[Method::MinMax], CalibConfig::default()).unwrap();
        c.scan(&[1.0, 2.0]).unwrap();
        assert!(c.measure(&[1.0, 2.0]).unwrap_err().to_string().contains("0 of 1 scanned batches were added"));
        assert!(c.add(&[1.0]).unwrap_err().to_string().contains("batch 1: 1 values in the histogram pass, 2 when scanned"));
        c.add(&[1.0, 2.0]).unwrap();
        assert!(c.scan(&[3.0]).is_err());
        assert!(c.report(false).unwrap_err().to_string().contains("0 of 1 batches were measured"));
        c.measure(&[1.0, 2.0]).unwrap();
        let r = c.report(false).unwrap();
        assert_eq!(r.report.methods[0].range, [1.0, 2.0]);
        assert_eq!(r.summary(), "calibrated 1 batch of 2 values in all");
    }
}
