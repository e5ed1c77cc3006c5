//! Percentile ranges by onnxruntime's rule (`HistogramCollector.compute_percentile`):
//! cdf = cumsum(hist / total); the threshold is `hist_edges[searchsorted(cdf, q)]` — the left edge of
//! the first bin whose cdf reaches q. Symmetric: one cut of the |x| histogram at p, range (−e, e).
//! Asymmetric: (100 − p)/2 % cut from each tail of the signed histogram. Either way the range is then
//! clamped to the data's [min, max].

use super::histogram::Histogram;
use super::ort::AbsValueHistogram;

/// First index whose cdf reaches q (np.searchsorted side='left'); `len` when none does.
fn searchsorted(cdf: &[f64], q: f64) -> usize {
    cdf.partition_point(|&c| c < q)
}

fn cdf(h: &Histogram) -> Vec<f64> {
    cdf_of(h.counts())
}

/// `np.cumsum(hist / total)`: each count divided in float64, then a sequential running sum.
fn cdf_of(counts: &[u64]) -> Vec<f64> {
    let total: u64 = counts.iter().sum();
    let total = total as f64;
    let mut acc = 0.0;
    counts
        .iter()
        .map(|&c| {
            acc += c as f64 / total;
            acc
        })
        .collect()
}

fn clamp_to_data(h: &Histogram, lo: f32, hi: f32) -> (f32, f32) {
    (if lo < h.min() { h.min() } else { lo }, if hi > h.max() { h.max() } else { hi })
}

/// Symmetric, ORT's: from `collect_absolute_value`'s |x| histogram (calibrate.py compute_percentile),
/// (−e, e) clamped to the signed data's [min, max].
pub fn symmetric(abs: &AbsValueHistogram, p: f64) -> (f32, f32) {
    if !abs.has_bins() || abs.finite() == 0 {
        return (0.0, 0.0);
    }
    let e = abs.edge(searchsorted(&cdf_of(abs.counts()), p / 100.0));
    let (lo, hi) = (-e, e);
    (if lo < abs.min() { abs.min() } else { lo }, if hi > abs.max() { abs.max() } else { hi })
}

/// modelopt `_compute_amax_percentile` (modelopt/torch/quantization/calib/histogram.py): the same
/// cdf and searchsorted on the |x| histogram, amax = edge[idx] with no clamp; range (−amax, amax).
pub fn trt(abs: &Histogram, p: f64) -> (f32, f32) {
    if !abs.has_bins() {
        return super::zero_or_extremes(abs);
    }
    let e = abs.edge(searchsorted(&cdf(abs), p / 100.0));
    (-e, e)
}

/// Asymmetric: from the signed histogram, one tail cut each side.
pub fn asymmetric(signed: &Histogram, p: f64) -> (f32, f32) {
    if !signed.has_bins() {
        return super::zero_or_extremes(signed);
    }
    let cdf = cdf(signed);
    let cut = (100.0 - p) / 200.0;
    let right = signed.edge(searchsorted(&cdf, 1.0 - cut));
    let left = signed.edge(searchsorted(&cdf, cut));
    clamp_to_data(signed, left, right)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calib::histogram::HistKind;

    #[test]
    fn left_edge_of_the_crossing_bin() {
        // 64 values 0, 0.25, …, 15.75 in |x| bins of width 1 (four per bin):
        // cdf[12] = 52/64 < 0.85 ≤ cdf[13] = 56/64 → the left edge of bin 13.
        let x: Vec<f32> = (0..64).map(|i| i as f32 * 0.25).collect();
        let mut h = Histogram::new(HistKind::Abs, 16, 16);
        h.add(&x);
        assert_eq!(h.width(), 1.0);
        assert_eq!(trt(&h, 85.0), (-13.0, 13.0));
        // ORT's |x| histogram spans [0, 15.75] in 16 bins of 0.984375: 4 values per bin but the
        // last, cdf[12] = 52/64 < 0.85 ≤ cdf[13] → edge 13 = 12.796875, clamped below to min 0.
        let mut o = AbsValueHistogram::new(16);
        o.add(&x, 0.0, 15.75, 0);
        let (lo, hi) = symmetric(&o, 85.0);
        assert_eq!(hi, 12.796875);
        assert_eq!(lo, 0.0); // −e clamped to the data's min
        let mut s = Histogram::new(HistKind::Signed, 10, 10);
        let y: Vec<f32> = (-50..50).map(|i| i as f32).collect();
        s.add(&y);
        let (lo, hi) = asymmetric(&s, 80.0);
        assert!(lo < -35.0 && hi > 35.0 && lo >= -50.0 && hi <= 49.0, "{lo} {hi}");
    }
}
