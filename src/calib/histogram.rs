//! Streaming histograms with bounded memory: raw values are binned and dropped, never kept.
//!
//! Two kinds, after onnxruntime/quantization/calibrate.py `HistogramCollector`:
//! - `Signed`: `collect_value` — bins over [−t, t] with t = max|x| of the first batch; when a later
//!   batch has a larger |x|, `merge_histogram` adds `⌊(t' − t) / stride⌋ + 1` bins of the same stride on
//!   each side, so old counts stay where they were and 0 stays an edge. Used by entropy, asymmetric
//!   percentile and mse.
//! - `Abs`: bins of |x| over [0, a], grown on the right by whole bins of the same width
//!   (`collect_absolute_value`). ORT starts this histogram at the first batch's min|x| and drops later
//!   values below it; we anchor it at 0 as TensorRT / pytorch_quantization's `HistogramCalibrator`
//!   does, so nothing is dropped. Used by symmetric percentile and `entropy:trt`.
//!
//! ORT lets the bin count grow without limit; here, past `max_bins`, adjacent bins are merged in pairs
//! (stride doubles, 0 stays an edge). That only happens when the range grows more than
//! max_bins / bins times beyond the first batch's.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HistKind {
    Signed,
    Abs,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    kind: HistKind,
    /// Bins of a fresh histogram (ORT's `num_bins`).
    bins: usize,
    max_bins: usize,
    /// First edge (−t for Signed, 0 for Abs) and bin width; width 0 until a non-zero value arrives.
    lo: f64,
    width: f64,
    counts: Vec<u64>,
    /// Zeros seen before any non-zero value fixed the range; folded into the bin holding 0 later.
    pending_zeros: u64,
    min: f32,
    max: f32,
    finite: u64,
    nonfinite: u64,
}

/// What the page plots: counts of bins `[lo + i·width, lo + (i+1)·width)` (the last bin closed).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistogramView {
    pub kind: HistKind,
    pub lo: f64,
    pub width: f64,
    pub counts: Vec<u64>,
    /// Extremes of the finite values (signed, whatever the kind).
    pub min: f32,
    pub max: f32,
    pub finite: u64,
    pub nonfinite: u64,
}

impl Histogram {
    pub fn new(kind: HistKind, bins: usize, max_bins: usize) -> Self {
        let bins = bins.max(2).next_multiple_of(2);
        Histogram {
            kind,
            bins,
            max_bins: max_bins.max(bins),
            lo: 0.0,
            width: 0.0,
            counts: Vec::new(),
            pending_zeros: 0,
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            finite: 0,
            nonfinite: 0,
        }
    }

    /// Adds one batch.
    pub fn add(&mut self, x: &[f32]) {
        let (lo, hi, bad) = crate::kernels::min_max_finite(x);
        self.add_with_extremes(x, lo, hi, bad);
    }

    /// Adds one batch whose finite min, max and non-finite count the caller already has.
    pub fn add_with_extremes(&mut self, x: &[f32], lo: f32, hi: f32, nonfinite: usize) {
        self.nonfinite += nonfinite as u64;
        let finite = (x.len() - nonfinite) as u64;
        if finite == 0 {
            return;
        }
        self.finite += finite;
        self.min = self.min.min(lo);
        self.max = self.max.max(hi);
        let reach = lo.abs().max(hi.abs()) as f64;
        if reach == 0.0 {
            // Every finite value is 0: nothing fixes a width yet, or 0 has its bin.
            if self.width == 0.0 {
                self.pending_zeros += finite;
            } else {
                let z = self.bin_of(0.0);
                self.counts[z] += finite;
            }
            return;
        }
        if self.width == 0.0 {
            self.start(reach);
        } else {
            self.grow_to(reach);
        }
        self.bin_values(x);
    }

    fn start(&mut self, reach: f64) {
        match self.kind {
            HistKind::Signed => {
                self.lo = -reach;
                self.width = 2.0 * reach / self.bins as f64;
            }
            HistKind::Abs => {
                self.lo = 0.0;
                self.width = reach / self.bins as f64;
            }
        }
        self.counts = vec![0; self.bins];
        let z = self.bin_of(0.0);
        self.counts[z] += std::mem::take(&mut self.pending_zeros);
    }

    fn hi(&self) -> f64 {
        self.lo + self.width * self.counts.len() as f64
    }

    fn grow_to(&mut self, reach: f64) {
        let hi = self.hi();
        if reach <= hi {
            return;
        }
        match self.kind {
            HistKind::Signed => {
                // merge_histogram: half_increased_bins = int((new − old) // stride + 1).
                let h = ((reach - hi) / self.width).floor() as usize + 1;
                let mut counts = vec![0; self.counts.len() + 2 * h];
                counts[h..h + self.counts.len()].copy_from_slice(&self.counts);
                self.counts = counts;
                self.lo -= h as f64 * self.width;
            }
            HistKind::Abs => {
                // collect_absolute_value: np.arange(last + w, amax + w, w) new edges.
                let mut k = ((reach - hi) / self.width).ceil().max(1.0) as usize;
                if hi + k as f64 * self.width < reach {
                    k += 1;
                }
                self.counts.resize(self.counts.len() + k, 0);
            }
        }
        while self.counts.len() > self.max_bins {
            self.merge_pairs();
        }
    }

    /// Halves the resolution, keeping 0 on an edge (Signed: the half-length must be even).
    fn merge_pairs(&mut self) {
        match self.kind {
            HistKind::Signed => {
                if (self.counts.len() / 2) % 2 == 1 {
                    self.counts.insert(0, 0);
                    self.counts.push(0);
                    self.lo -= self.width;
                }
            }
            HistKind::Abs => {
                if self.counts.len() % 2 == 1 {
                    self.counts.push(0);
                }
            }
        }
        self.counts = self.counts.chunks_exact(2).map(|p| p[0] + p[1]).collect();
        self.width *= 2.0;
    }

    #[inline]
    fn bin_of(&self, v: f64) -> usize {
        let last = self.counts.len() - 1;
        // `as usize` saturates negatives at 0; the right edge belongs to the last bin, as in np.histogram.
        (((v - self.lo) / self.width) as usize).min(last)
    }

    fn bin_values(&mut self, x: &[f32]) {
        let (lo, inv, last) = (self.lo, 1.0 / self.width, self.counts.len() - 1);
        let counts = &mut self.counts;
        match self.kind {
            HistKind::Signed => {
                for &v in x {
                    if v.is_finite() {
                        counts[(((v as f64 - lo) * inv) as usize).min(last)] += 1;
                    }
                }
            }
            HistKind::Abs => {
                for &v in x {
                    if v.is_finite() {
                        counts[((v.abs() as f64 * inv) as usize).min(last)] += 1;
                    }
                }
            }
        }
    }

    pub fn kind(&self) -> HistKind {
        self.kind
    }

    /// Bin counts; empty while no non-zero finite value has been seen.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    pub fn width(&self) -> f64 {
        self.width
    }

    pub fn first_edge(&self) -> f64 {
        self.lo
    }

    /// Edge i (0..=len), as f32 like ORT's float32 `hist_edges`.
    pub fn edge(&self, i: usize) -> f32 {
        self.edge_f64(i) as f32
    }

    pub fn edge_f64(&self, i: usize) -> f64 {
        self.lo + i as f64 * self.width
    }

    /// Finite values seen, and the finite extremes; (+Inf, −Inf) when none.
    pub fn finite(&self) -> u64 {
        self.finite
    }
    pub fn nonfinite(&self) -> u64 {
        self.nonfinite
    }
    pub fn min(&self) -> f32 {
        self.min
    }
    pub fn max(&self) -> f32 {
        self.max
    }

    /// True when the histogram has bins (some finite value was non-zero).
    pub fn has_bins(&self) -> bool {
        !self.counts.is_empty()
    }

    pub fn view(&self) -> HistogramView {
        HistogramView {
            kind: self.kind,
            lo: self.lo,
            width: self.width,
            counts: self.counts.clone(),
            min: if self.finite == 0 { 0.0 } else { self.min },
            max: if self.finite == 0 { 0.0 } else { self.max },
            finite: self.finite,
            nonfinite: self.nonfinite,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_bins_are_symmetric_and_zero_is_an_edge() {
        let mut h = Histogram::new(HistKind::Signed, 8, 64);
        h.add(&[-4.0, -1.0, 0.0, 0.5, 4.0, f32::NAN]);
        assert_eq!(h.width(), 1.0);
        assert_eq!(h.first_edge(), -4.0);
        // bins [-4,-3) [-3,-2) [-2,-1) [-1,0) [0,1) [1,2) [2,3) [3,4]
        assert_eq!(h.counts(), &[1, 0, 0, 1, 2, 0, 0, 1]);
        assert_eq!((h.finite(), h.nonfinite()), (5, 1));
    }

    #[test]
    fn signed_growth_follows_ort_merge_rule() {
        let mut h = Histogram::new(HistKind::Signed, 8, 64);
        h.add(&[-4.0, 4.0]);
        // new threshold 5.5: half_increased_bins = int((5.5 − 4) // 1 + 1) = 2 → 12 bins over [−6, 6].
        h.add(&[5.5]);
        assert_eq!(h.counts().len(), 12);
        assert_eq!(h.first_edge(), -6.0);
        assert_eq!(h.counts(), &[0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1]);
    }

    #[test]
    fn abs_growth_appends_whole_bins() {
        let mut h = Histogram::new(HistKind::Abs, 4, 64);
        h.add(&[-2.0, 1.0]);
        assert_eq!(h.width(), 0.5);
        h.add(&[3.1]);
        // ceil((3.1 − 2) / 0.5) = 3 new bins: edges up to 3.5.
        assert_eq!(h.counts(), &[0, 0, 1, 1, 0, 0, 1]);
    }

    #[test]
    fn memory_is_bounded_and_counts_are_kept() {
        let mut h = Histogram::new(HistKind::Signed, 8, 16);
        h.add(&[-1.0, 0.1, 1.0]);
        h.add(&[100.0, -0.2]);
        assert!(h.counts().len() <= 16);
        assert_eq!(h.counts().iter().sum::<u64>(), 5);
        // 0 is still an edge: −0.2 and 0.1 sit on either side of it.
        let z = (-h.first_edge() / h.width()).round() as usize;
        assert!((h.edge_f64(z)).abs() < 1e-9);
        let mut a = Histogram::new(HistKind::Abs, 8, 16);
        a.add(&[1.0]);
        a.add(&[1000.0]);
        assert!(a.counts().len() <= 16);
        assert_eq!(a.counts().iter().sum::<u64>(), 2);
    }

    #[test]
    fn zeros_before_range_are_folded_in() {
        let mut h = Histogram::new(HistKind::Signed, 4, 64);
        h.add(&[0.0, 0.0]);
        assert!(!h.has_bins());
        h.add(&[-2.0, 2.0]);
        assert_eq!(h.counts(), &[1, 0, 2, 1]);
        h.add(&[0.0]);
        assert_eq!(h.counts(), &[1, 0, 3, 1]);
    }
}
