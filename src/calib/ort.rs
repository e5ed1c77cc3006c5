//! What onnxruntime's calibrators keep that the other dialects do not: the |x| histogram of
//! `HistogramCollector.collect_absolute_value` (symmetric `percentile`), the `distribution` method's
//! range and moments, and `MinMaxCalibrater`'s per-batch extremes (its moving average is their mean).
//! All in the float32 / numpy arithmetic those functions use
//! (onnxruntime/quantization/calibrate.py, onnxruntime 1.32).

use super::histogram::{linspace_f32, HistKind, Histogram, HistogramView};
use super::numpy;
use serde::Serialize;

/// `collect_absolute_value`'s histogram of |x|. The first batch sets 2048 bins over
/// [min|x|, max|x|] (not from 0: a later |x| below the first batch's smallest is dropped, as
/// `np.histogram` over explicit edges drops it); a later batch reaching past the last edge appends
/// bins of the first width by `np.arange(last + w, amax + w, w)` (one more than needed when amax
/// lands on an edge, as ORT's own comment says). So the layout — and the percentile read from it —
/// depends on how the data was batched.
#[derive(Debug, Clone, PartialEq)]
pub struct AbsValueHistogram {
    bins: usize,
    edges: Vec<f32>,
    counts: Vec<u64>,
    min: f32,
    max: f32,
    finite: u64,
    nonfinite: u64,
}

/// `np.arange(start, stop, step)` for float32 scalars: length ceil((stop − start) / step) in float32,
/// then `start`, `start + step`, and `start + i·delta` (delta = that second value − start), all float32
/// (numpy/_core/src/multiarray/ctors.c `PyArray_ArangeObj`, arraytypes.c.src `FLOAT_fill`).
pub fn arange_f32(start: f32, stop: f32, step: f32) -> Vec<f32> {
    let len = ((stop - start) / step) as f64;
    let len = if len.is_finite() && len > 0.0 {
        len.ceil() as usize
    } else {
        0
    };
    let mut out = Vec::with_capacity(len);
    if len >= 1 {
        out.push(start);
    }
    if len >= 2 {
        out.push(start + step);
        let delta = out[1] - start;
        for i in 2..len {
            out.push(start + i as f32 * delta);
        }
    }
    out
}

impl AbsValueHistogram {
    pub fn new(bins: usize) -> Self {
        AbsValueHistogram {
            bins: bins.max(1),
            edges: Vec::new(),
            counts: Vec::new(),
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            finite: 0,
            nonfinite: 0,
        }
    }

    /// The two-pass variant: bins over [0, reach] fixed before the first batch (reach = the global
    /// max|x| from a first pass), so every batch falls inside and the batching cannot move a bin.
    pub fn preset_range(&mut self, reach: f32) {
        if self.edges.is_empty() && reach > 0.0 && reach.is_finite() {
            self.edges = linspace_f32(0.0, reach, self.bins);
            self.counts = vec![0; self.bins];
        }
    }

    /// Adds one batch's finite values (ORT raises on NaN in the first batch and on ±Inf in any; the
    /// core drops and counts them, so the result is ORT's on the finite values).
    pub fn add(&mut self, x: &[f32], lo: f32, hi: f32, nonfinite: usize) {
        self.nonfinite += nonfinite as u64;
        let finite = x.len() - nonfinite;
        if finite == 0 && !self.edges.is_empty() {
            return; // ORT: np.nanmax of an empty batch raises; nothing to add.
        }
        self.finite += finite as u64;
        // ORT: min/max of the signed values, 0 for an empty batch.
        let (lo, hi) = if finite == 0 { (0.0, 0.0) } else { (lo, hi) };
        self.min = self.min.min(lo);
        self.max = self.max.max(hi);
        if self.edges.is_empty() {
            self.first_batch(x, finite);
        } else {
            let amax = x
                .iter()
                .filter(|v| v.is_finite())
                .fold(0.0f32, |m, v| m.max(v.abs()));
            let last = self.edges[self.edges.len() - 1];
            if amax > last {
                let width = self.edges[1] - self.edges[0];
                let more = arange_f32(last + width, amax + width, width);
                self.counts.resize(self.counts.len() + more.len(), 0);
                self.edges.extend(more);
            }
            // np.histogram over explicit edges: [e_i, e_i+1), the last bin closed, outside dropped.
            let (first, last, n) = (
                self.edges[0],
                self.edges[self.edges.len() - 1],
                self.counts.len(),
            );
            for v in x.iter().filter(|v| v.is_finite()).map(|v| v.abs()) {
                if v < first || v > last {
                    continue;
                }
                let i = (self.edges.partition_point(|&e| e <= v) - 1).min(n - 1);
                self.counts[i] += 1;
            }
        }
    }

    /// `np.histogram(|x|, bins=2048)`: the range [min|x|, max|x|] ((0, 1) when empty, ±0.5 around a
    /// single value), float32 edges, and numpy's index arithmetic with its one-step correction.
    fn first_batch(&mut self, x: &[f32], finite: usize) {
        let (mut first, mut last) = if finite == 0 {
            (0.0f32, 1.0f32)
        } else {
            x.iter()
                .filter(|v| v.is_finite())
                .map(|v| v.abs())
                .fold((f32::INFINITY, 0.0f32), |(a, b), v| (a.min(v), b.max(v)))
        };
        if first == last {
            first -= 0.5;
            last += 0.5;
        }
        let n = self.bins;
        self.edges = linspace_f32(first, last, n);
        self.counts = vec![0; n];
        let denom = last - first;
        for v in x.iter().filter(|v| v.is_finite()).map(|v| v.abs()) {
            if !(v >= first && v <= last) {
                continue;
            }
            let mut i = (((v - first) / denom) * n as f32) as usize;
            if i == n {
                i -= 1;
            }
            if v < self.edges[i] {
                i -= 1;
            }
            if v >= self.edges[i + 1] && i != n - 1 {
                i += 1;
            }
            self.counts[i] += 1;
        }
    }

    pub fn counts(&self) -> &[u64] {
        &self.counts
    }
    pub fn edge(&self, i: usize) -> f32 {
        self.edges[i]
    }
    pub fn has_bins(&self) -> bool {
        !self.counts.is_empty()
    }
    /// Signed finite extremes, as ORT records them beside the |x| histogram.
    pub fn min(&self) -> f32 {
        self.min
    }
    pub fn max(&self) -> f32 {
        self.max
    }
    pub fn finite(&self) -> u64 {
        self.finite
    }
    pub fn nonfinite(&self) -> u64 {
        self.nonfinite
    }
    pub fn width(&self) -> f64 {
        if self.edges.len() < 2 {
            0.0
        } else {
            (self.edges[1] - self.edges[0]) as f64
        }
    }
    pub fn first_edge(&self) -> f64 {
        self.edges.first().map_or(0.0, |&e| e as f64)
    }

    pub fn view(&self) -> HistogramView {
        HistogramView {
            kind: HistKind::AbsFromMin,
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

/// The `distribution` method's answer (`compute_distribution`, scenario "same"): the range is the
/// signed histogram's outer edges (−t, t) — not clamped to the data — with the bin-centre mean and
/// standard deviation that ORT's float8 quantizer reads.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Distribution {
    pub range: (f32, f32),
    pub avg: f32,
    pub std: f32,
}

/// `compute_distribution` / `_avg_std(power=1)`: centres (e_i + e_i+1)·0.5 in float32; the products
/// hist·centre and hist·centre² (centre² in float32) in float64, summed as numpy sums; std =
/// (E[c²] − avg²)^½, NaN when rounding makes it negative; both cast to float32.
pub fn distribution(h: &Histogram, bins: usize) -> Distribution {
    // A histogram that has seen only zeros (or nothing) is ORT's np.histogram over (−0.5, 0.5).
    let (edges, counts): (Vec<f32>, Vec<u64>) = if h.has_bins() {
        (
            (0..=h.counts().len()).map(|i| h.edge(i)).collect(),
            h.counts().to_vec(),
        )
    } else {
        let n = bins.max(1);
        let mut c = vec![0; n];
        if h.finite() > 0 {
            c[n / 2] = h.finite();
        }
        (linspace_f32(-0.5, 0.5, n), c)
    };
    let centres: Vec<f32> = edges.windows(2).map(|e| (e[0] + e[1]) * 0.5).collect();
    let total = counts.iter().sum::<u64>() as f64;
    let first: Vec<f64> = counts
        .iter()
        .zip(&centres)
        .map(|(&c, &v)| c as f64 * v as f64)
        .collect();
    let second: Vec<f64> = counts
        .iter()
        .zip(&centres)
        .map(|(&c, &v)| c as f64 * (v * v) as f64)
        .collect();
    let avg = numpy::sum_f64(&first) / total;
    let std = (numpy::sum_f64(&second) / total - avg * avg).sqrt();
    Distribution {
        range: (edges[0], edges[edges.len() - 1]),
        avg: avg as f32,
        std: std as f32,
    }
}

/// `MinMaxCalibrater` over the batches of one `collect_data` call: each batch's ReduceMin/ReduceMax
/// kept; the range is their nanmin/nanmax, or with `moving_average` their nanmean (float32 numpy sum
/// divided in float64 by the count) — not an exponential average: `averaging_constant` only enters
/// `merge_range`, between `collect_data` calls (kept here as `ema`, one call per batch).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchExtremes {
    mins: Vec<f32>,
    maxs: Vec<f32>,
    /// merge_range's running (min, max) and (−a, a), one collect_data call per batch.
    ema: Option<((f32, f32), (f32, f32))>,
}

/// Symmetric ranges as ORT makes them: a = max(|min|, |max|), range (−a, a).
pub fn symmetric(lo: f32, hi: f32) -> (f32, f32) {
    let a = lo.abs().max(hi.abs());
    (-a, a)
}

impl BatchExtremes {
    /// One batch's finite extremes (batches without a finite value are skipped, as nanmin skips NaN).
    pub fn add(&mut self, lo: f32, hi: f32, averaging_constant: f32) {
        if lo > hi {
            return;
        }
        self.mins.push(lo);
        self.maxs.push(hi);
        let c = averaging_constant;
        let step = |old: (f32, f32), new: (f32, f32)| {
            (old.0 + c * (new.0 - old.0), old.1 + c * (new.1 - old.1))
        };
        self.ema = Some(match self.ema {
            None => ((lo, hi), symmetric(lo, hi)),
            Some((plain, sym)) => (step(plain, (lo, hi)), step(sym, symmetric(lo, hi))),
        });
    }

    pub fn batches(&self) -> usize {
        self.mins.len()
    }

    /// nanmin / nanmax; [0, 0] when no batch had a finite value.
    pub fn range(&self, symmetric_range: bool) -> (f32, f32) {
        if self.mins.is_empty() {
            return (0.0, 0.0);
        }
        let lo = self.mins.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = self.maxs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if symmetric_range {
            symmetric(lo, hi)
        } else {
            (lo, hi)
        }
    }

    /// `moving_average=True` within one collect_data call: the mean of the batch extremes.
    pub fn mean_range(&self, symmetric_range: bool) -> (f32, f32) {
        if self.mins.is_empty() {
            return (0.0, 0.0);
        }
        let n = self.mins.len() as f64;
        let lo = (numpy::sum_f32(&self.mins) as f64 / n) as f32;
        let hi = (numpy::sum_f32(&self.maxs) as f64 / n) as f32;
        if symmetric_range {
            symmetric(lo, hi)
        } else {
            (lo, hi)
        }
    }

    /// merge_range with moving_average, each batch its own collect_data call (e.g. CalibStridedMinMax=1).
    pub fn ema_range(&self, symmetric_range: bool) -> (f32, f32) {
        match self.ema {
            None => (0.0, 0.0),
            Some((plain, sym)) => {
                if symmetric_range {
                    sym
                } else {
                    plain
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arange_is_numpys_float32_arange() {
        // np.arange(np.float32(1), np.float32(2.05), np.float32(0.25)): 5 values, the last past 2.
        assert_eq!(arange_f32(1.0, 2.05, 0.25), vec![1.0, 1.25, 1.5, 1.75, 2.0]);
        assert_eq!(arange_f32(1.0, 2.0, 0.25), vec![1.0, 1.25, 1.5, 1.75]);
        assert!(arange_f32(2.0, 1.0, 0.25).is_empty());
    }

    #[test]
    fn abs_histogram_starts_at_the_first_batch_and_appends_bins() {
        let mut h = AbsValueHistogram::new(4);
        let x = [-1.0f32, 2.0, 3.0, -5.0];
        h.add(&x, -5.0, 3.0, 0);
        // [1, 5] in 4 bins of 1: |x| = 1, 2, 3, 5.
        assert_eq!(h.counts(), &[1, 1, 1, 1]);
        assert_eq!((h.edge(0), h.edge(4)), (1.0, 5.0));
        // 0.5 lies below the first edge and is dropped; 6.5 appends arange(6, 7.5, 1) = [6, 7].
        h.add(&[0.5, 6.5], 0.5, 6.5, 0);
        assert_eq!(h.counts(), &[1, 1, 1, 1, 0, 1]);
        assert_eq!(h.edge(6), 7.0);
        assert_eq!((h.min(), h.max()), (-5.0, 6.5));
    }

    #[test]
    fn moving_average_is_the_mean_of_batch_extremes() {
        let mut m = BatchExtremes::default();
        m.add(-1.0, 1.0, 0.5);
        m.add(-3.0, 2.0, 0.5);
        m.add(f32::INFINITY, f32::NEG_INFINITY, 0.5); // no finite value
        assert_eq!(m.range(false), (-3.0, 2.0));
        assert_eq!(m.range(true), (-3.0, 3.0));
        assert_eq!(m.mean_range(false), (-2.0, 1.5));
        assert_eq!(m.mean_range(true), (-2.0, 2.0));
        // merge_range: −1 + 0.5·(−3 + 1) = −2; 1 + 0.5·(2 − 1) = 1.5; symmetric 1 + 0.5·(3 − 1) = 2.
        assert_eq!(m.ema_range(false), (-2.0, 1.5));
        assert_eq!(m.ema_range(true), (-2.0, 2.0));
        assert_eq!(BatchExtremes::default().range(true), (0.0, 0.0));
    }
}
