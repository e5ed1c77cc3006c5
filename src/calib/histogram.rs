//! Streaming histograms with bounded memory: raw values are binned and dropped, never kept.
//!
//! Two kinds, after onnxruntime/quantization/calibrate.py `HistogramCollector`:
//! - `Signed`: `collect_value` — bins over [−t, t] with t = max|x| of the first batch; when a later
//!   batch has a larger |x|, `merge_histogram` adds `⌊(t' − t) / stride⌋ + 1` bins of the same stride on
//!   each side, so old counts stay where they were and 0 stays an edge. Used by entropy, asymmetric
//!   percentile and mse.
//!   ORT lets the bin count grow without limit; here, past `max_bins`, adjacent bins are merged in
//!   pairs (stride doubles, 0 stays an edge), which only happens when the range grows more than
//!   max_bins / bins times beyond the first batch's.
//! - `Abs`: `bins` bins of |x| over [0, bins·w] with w a power of two, anchored at 0 as TensorRT /
//!   pytorch_quantization's `HistogramCalibrator` is. When a batch exceeds it, w doubles and bins merge
//!   in pairs. ORT's `collect_absolute_value` instead starts at the first batch's min|x| (dropping later
//!   values below it) and appends bins of the first batch's width; its layout — and so its ranges —
//!   then depend on how the data was batched. Ours does not: the same data in 1 or 100 batches gives
//!   the same counts. It covers the data with 1024 to 2048 of its bins. Used by symmetric percentile
//!   and `entropy:trt`.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HistKind {
    Signed,
    /// |x| on a power-of-two grid from 0 (TensorRT's layout, batch-independent).
    Abs,
    /// |x| from the first batch's min|x|, growing by appended bins: ORT's `collect_absolute_value`
    /// (calib::ort::AbsValueHistogram).
    AbsFromMin,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    kind: HistKind,
    /// Bins of a fresh histogram (ORT's `num_bins`).
    bins: usize,
    max_bins: usize,
    /// Outer edges, f32 as ORT keeps them: (−t, t) for Signed, (0, a) for Abs; equal until a non-zero value.
    first: f32,
    last: f32,
    /// Inner edges as numpy computes them: `np.linspace(first, last, n + 1)` in float32.
    edges: Vec<f32>,
    counts: Vec<u64>,
    /// Zeros seen before any non-zero value fixed the range; folded into the bin holding 0 later.
    pending_zeros: u64,
    /// Exact zeros (ReLU outputs, padding): quantization keeps them exact, mse needs to know.
    zeros: u64,
    min: f32,
    max: f32,
    finite: u64,
    nonfinite: u64,
}

/// What the page plots: counts of bins `[edge_i, edge_i+1)` (the last bin closed), edges
/// `lo + i·width` up to float32 rounding.
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

/// The |x| histogram's width: the smallest power of two w with a ≤ n·w. A power-of-two grid anchored
/// at 0 makes the histogram independent of how the data was split into batches: widths only double,
/// merged bins stay aligned, and |x| / w is exact.
fn pow2_width(a: f32, n: usize) -> f32 {
    let mut w = 2f32.powi(((a as f64 / n as f64).log2().ceil() as i32).clamp(-126, 127));
    while (n as f32) * w < a {
        w *= 2.0;
    }
    while w > f32::MIN_POSITIVE && (n as f32) * (w / 2.0) >= a {
        w /= 2.0;
    }
    w
}

/// `np.linspace(first, last, n + 1, dtype=float32)`: i·step + first in float32, last edge exact.
pub(crate) fn linspace_f32(first: f32, last: f32, n: usize) -> Vec<f32> {
    let step = (last - first) / n as f32;
    let mut e: Vec<f32> = (0..=n).map(|i| i as f32 * step + first).collect();
    e[n] = last;
    e
}

impl Histogram {
    pub fn new(kind: HistKind, bins: usize, max_bins: usize) -> Self {
        let bins = bins.max(2).next_multiple_of(2);
        Histogram {
            kind,
            bins,
            max_bins: max_bins.max(bins),
            first: 0.0,
            last: 0.0,
            edges: Vec::new(),
            counts: Vec::new(),
            pending_zeros: 0,
            zeros: 0,
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            finite: 0,
            nonfinite: 0,
        }
    }

    /// Fixes the range before the first batch, from extremes found by a first pass over the data.
    /// Batches inside it never grow the histogram, so the counts are those of one batch of all the
    /// data — whatever the batching — and a single batch gets ORT's layout exactly.
    pub fn preset_range(&mut self, lo: f32, hi: f32) {
        let reach = lo.abs().max(hi.abs());
        if self.counts.is_empty() && reach > 0.0 && reach.is_finite() {
            self.start(reach);
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
        // ORT: threshold = max(|min|, |max|) in the data's dtype.
        let reach = lo.abs().max(hi.abs());
        if reach == 0.0 {
            self.zeros += finite;
            // Every finite value is 0: nothing fixes a width yet, or 0 has its bin.
            if self.counts.is_empty() {
                self.pending_zeros += finite;
            } else {
                let z = self.bin_of(0.0);
                self.counts[z] += finite;
            }
            return;
        }
        if self.counts.is_empty() {
            self.start(reach);
        } else {
            self.grow_to(reach);
        }
        self.bin_values(x);
    }

    fn start(&mut self, reach: f32) {
        (self.first, self.last) = match self.kind {
            HistKind::Signed => (-reach, reach),
            // AbsFromMin is kept by calib::ort::AbsValueHistogram; asked of this type it is Abs.
            // Above 2^127 the grid's top edge would be 2^128, past f32::MAX: the last edge stops there.
            HistKind::Abs | HistKind::AbsFromMin => (0.0, (self.bins as f64 * pow2_width(reach, self.bins) as f64).min(f32::MAX as f64) as f32),
        };
        self.counts = vec![0; self.bins];
        self.edges = linspace_f32(self.first, self.last, self.bins);
        let z = self.bin_of(0.0);
        self.counts[z] += std::mem::take(&mut self.pending_zeros);
    }

    fn grow_to(&mut self, reach: f32) {
        if reach <= self.last {
            return;
        }
        let n = self.counts.len();
        match self.kind {
            HistKind::Signed => {
                // merge_histogram, in float32: stride = 2·t / n; h = int((t' − t) // stride + 1);
                // the new threshold is h·stride + t.
                let t = self.last;
                let stride = 2.0 * t / n as f32;
                let h = ((reach - t) / stride).floor() as usize + 1;
                let t_new = h as f32 * stride + t;
                let mut counts = vec![0; n + 2 * h];
                counts[h..h + n].copy_from_slice(&self.counts);
                self.counts = counts;
                (self.first, self.last) = (-t_new, t_new);
                while self.counts.len() > self.max_bins {
                    self.merge_pairs();
                }
            }
            HistKind::Abs | HistKind::AbsFromMin => {
                // Double the power-of-two width until the range fits, merging bins in pairs.
                while reach > self.last {
                    let mut merged: Vec<u64> = self.counts.chunks(2).map(|p| p.iter().sum()).collect();
                    merged.resize(n, 0);
                    self.counts = merged;
                    self.last = (self.last as f64 * 2.0).min(f32::MAX as f64) as f32;
                }
            }
        }
        self.edges = linspace_f32(self.first, self.last, self.counts.len());
    }

    /// Signed only: halves the resolution, keeping 0 on an edge (the half-length must be even).
    fn merge_pairs(&mut self) {
        let w = (self.last - self.first) / self.counts.len() as f32;
        if (self.counts.len() / 2) % 2 == 1 {
            self.counts.insert(0, 0);
            self.counts.push(0);
            self.first -= w;
            self.last += w;
        }
        self.counts = self.counts.chunks_exact(2).map(|p| p[0] + p[1]).collect();
    }

    /// np.histogram's bin of v: the float32 estimate ((v − first) / (last − first))·n, then one
    /// correction step against the float32 edges; the right edge belongs to the last bin.
    #[inline]
    fn bin_of(&self, v: f32) -> usize {
        let n = self.counts.len();
        let f = (v - self.first) / (self.last - self.first) * n as f32;
        let mut i = (f as usize).min(n - 1);
        if v < self.edges[i] {
            i = i.saturating_sub(1);
        } else if i + 1 < n && v >= self.edges[i + 1] {
            i += 1;
        }
        i
    }

    fn bin_values(&mut self, x: &[f32]) {
        match self.kind {
            HistKind::Signed => self.bin_mapped(x, |v| v),
            HistKind::Abs | HistKind::AbsFromMin => self.bin_mapped(x, f32::abs),
        }
    }

    /// The hot loop. The first guess multiplies by n / (last − first) instead of dividing as numpy does:
    /// either guess is within one bin, and the step against the float32 edges then lands both on the
    /// same bin — the one the edges say. Four u32 sub-histograms (one per lane of four consecutive
    /// values) keep runs of equal bins from serialising on one counter; they are folded in per chunk.
    #[inline(always)]
    fn bin_mapped(&mut self, x: &[f32], map: impl Fn(f32) -> f32) {
        const LANES: usize = 4;
        const CHUNK: usize = 1 << 24; // well below u32::MAX per lane
        let n = self.counts.len();
        let (first, per_unit) = (self.first, n as f32 / (self.last - self.first));
        let edges = &self.edges[..];
        let bin = |v: f32| -> usize {
            let mut i = (((v - first) * per_unit) as usize).min(n - 1);
            if v < edges[i] {
                i = i.saturating_sub(1);
            } else if i + 1 < n && v >= edges[i + 1] {
                i += 1;
            }
            i
        };
        let mut lanes = vec![0u32; LANES * n];
        let mut zeros = 0u64;
        for chunk in x.chunks(CHUNK) {
            let quads = chunk.chunks_exact(LANES);
            let tail = quads.remainder();
            for q in quads {
                for (l, &v) in q.iter().enumerate() {
                    if v.is_finite() {
                        let v = map(v);
                        zeros += (v == 0.0) as u64;
                        lanes[l * n + bin(v)] += 1;
                    }
                }
            }
            for &v in tail {
                if v.is_finite() {
                    let v = map(v);
                    zeros += (v == 0.0) as u64;
                    lanes[bin(v)] += 1;
                }
            }
            for l in lanes.chunks_exact_mut(n) {
                for (c, k) in self.counts.iter_mut().zip(l.iter_mut()) {
                    *c += *k as u64;
                    *k = 0;
                }
            }
        }
        self.zeros += zeros;
    }

    pub fn kind(&self) -> HistKind {
        self.kind
    }

    /// Bin counts; empty while no non-zero finite value has been seen.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Nominal bin width (last − first) / n.
    pub fn width(&self) -> f64 {
        if self.counts.is_empty() {
            0.0
        } else {
            (self.last as f64 - self.first as f64) / self.counts.len() as f64
        }
    }

    pub fn first_edge(&self) -> f64 {
        self.first as f64
    }

    /// Edge i (0..=len), the float32 value numpy's `hist_edges[i]` has.
    pub fn edge(&self, i: usize) -> f32 {
        self.edges[i]
    }

    pub fn edge_f64(&self, i: usize) -> f64 {
        self.edges[i] as f64
    }

    /// Exact zeros among the finite values.
    pub fn zeros(&self) -> u64 {
        self.zeros
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
            lo: self.first_edge(),
            width: self.width(),
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
    fn abs_grid_is_power_of_two_and_batch_independent() {
        let mut h = Histogram::new(HistKind::Abs, 4, 4);
        h.add(&[-1.5, 0.75]);
        // Smallest power of two w with 1.5 ≤ 4·w: 0.5.
        assert_eq!(h.width(), 0.5);
        assert_eq!(h.counts(), &[0, 1, 0, 1]);
        h.add(&[3.1]);
        // w doubles: bins merge in pairs.
        assert_eq!(h.width(), 1.0);
        assert_eq!(h.counts(), &[1, 1, 0, 1]);
        let mut once = Histogram::new(HistKind::Abs, 4, 4);
        once.add(&[-1.5, 0.75, 3.1]);
        assert_eq!(once.counts(), h.counts());
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
        assert_eq!(h.edge(z), 0.0);
        let mut a = Histogram::new(HistKind::Abs, 8, 16);
        a.add(&[1.0]);
        a.add(&[1000.0]);
        assert_eq!(a.counts().len(), 8);
        assert_eq!(a.counts().iter().sum::<u64>(), 2);
    }

    #[test]
    fn preset_range_makes_batching_irrelevant() {
        let x: Vec<f32> = (0..1000).map(|i| ((i * 7919) % 1000) as f32 / 100.0 - 4.0).collect();
        let mut one = Histogram::new(HistKind::Signed, 64, 1024);
        one.add(&x);
        let mut many = Histogram::new(HistKind::Signed, 64, 1024);
        let (lo, hi, _) = crate::kernels::min_max_finite(&x);
        many.preset_range(lo, hi);
        x.chunks(7).for_each(|b| many.add(b));
        assert_eq!(one, many);
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
        assert_eq!(h.zeros(), 3);
    }
}
