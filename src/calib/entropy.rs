//! KL-divergence thresholds.
//!
//! `ort`: onnxruntime/quantization/calibrate.py `HistogramCollector.get_entropy_threshold` on the signed
//! histogram (2048 bins, 128 quantized bins), candidate by candidate as written there — including its
//! quirks, because the contract is "the same range as ORT": the slice is bins [z−i, z+i] around the zero
//! bin z = n/2; the expanded q is an int64 array (so quantized_bin / nonzero_count is truncated) and is
//! spread over every bin of its chunk; p and q are smoothed (`smooth_distribution`, eps 1e-4, float32);
//! the first minimum wins; the range (edge[z−i], edge[z+i+1]) is clamped to the data's [min, max].
//!
//! `trt`: TensorRT's calibration (Migacz 2017, "8-bit inference with TensorRT") as pytorch_quantization's
//! `_compute_amax_entropy` implements it on the |x| histogram: bins[0] is replaced by bins[1] (the spike
//! at 0 carries no information about the threshold), candidates i = 128..=n bins, P = bins[..i] with the
//! tail added to its last bin, Q = bins[..i] merged into 2^(b−1) levels (128 for int8) and spread
//! back over the non-empty bins only; the last minimum wins; amax = edge[i].

use super::histogram::Histogram;
use super::numpy;
use super::Curve;

/// ORT smooth_distribution in float32: zeros become eps, non-zeros lose eps·zeros/nonzeros.
fn smooth(p: &[f32], out: &mut Vec<f32>) -> bool {
    const EPS: f32 = 0.0001;
    let zeros = p.iter().filter(|&&v| v == 0.0).count();
    let nonzeros = p.len() - zeros;
    if nonzeros == 0 {
        return false;
    }
    let eps1 = (0.0001f64 * zeros as f64 / nonzeros as f64) as f32;
    out.clear();
    out.extend(p.iter().map(|&v| if v == 0.0 { EPS } else { v - eps1 }));
    // ORT asserts eps1 < 1 and stops when a slice is nearly all zeros; such a candidate gets KL = ∞ here.
    out.iter().all(|&v| v > 0.0)
}

/// KL(p‖q) as onnxruntime/quantization/calibrate.py `entropy` and `rel_entr` compute it: in float32
/// throughout — each vector divided by its numpy pairwise sum, p·log(p/q) with numpy's float32 log,
/// the terms summed pairwise. A term with p = 0 is 0; one with p > 0 and q = 0 is +∞.
pub fn kl_f32(p: &[f32], q: &[f32], terms: &mut Vec<f32>) -> f32 {
    let (sp, sq) = (numpy::sum_f32(p), numpy::sum_f32(q));
    terms.clear();
    terms.extend(p.iter().zip(q).map(|(&a, &b)| {
        let (a, b) = (1.0 * a / sp, b / sq);
        if a == 0.0 && b >= 0.0 {
            0.0
        } else if !(a > 0.0 && b > 0.0) {
            f32::INFINITY
        } else {
            a * numpy::log_f32(a / b)
        }
    }));
    numpy::sum_f32(terms)
}

/// The same divergence in float64 with a correctly rounded log: what the KL is, without float32's
/// rounding (for the `entropy:f64` variant).
fn kl_f64(p: &[f32], q: &[f32]) -> f64 {
    let sp: f64 = p.iter().map(|&v| v as f64).sum();
    let sq: f64 = q.iter().map(|&v| v as f64).sum();
    p.iter()
        .zip(q)
        .map(|(&a, &b)| {
            let (a, b) = (a as f64 / sp, b as f64 / sq);
            a * (a / b).ln()
        })
        .sum()
}

/// How the KL of each candidate is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KlArithmetic {
    /// ORT's: float32 with numpy's sums and log (the `entropy` method).
    NumpyF32,
    /// float64, correctly rounded log (the `entropy:f64` variant): a flat curve's minimum is where
    /// the divergence is smallest, not where float32 rounding happens to put it.
    F64,
}

/// ORT's entropy threshold: (range, curve of upper threshold → KL).
pub fn ort(h: &Histogram, quantized_bins: usize) -> ((f32, f32), Curve) {
    ort_with(h, quantized_bins, KlArithmetic::NumpyF32)
}

/// `ort` with a choice of KL arithmetic; the candidates, p and the int64 q are ORT's either way.
pub fn ort_with(h: &Histogram, quantized_bins: usize, arithmetic: KlArithmetic) -> ((f32, f32), Curve) {
    let empty = Curve::new("kl");
    let hist = h.counts();
    let n = hist.len();
    let zero = n / 2;
    let half_q = quantized_bins / 2;
    if !h.has_bins() || quantized_bins == 0 || zero < half_q {
        return (super::zero_or_extremes(h), empty);
    }
    // Prefix sums for the outlier counts of each candidate.
    let mut prefix = vec![0u64; n + 1];
    for (i, &c) in hist.iter().enumerate() {
        prefix[i + 1] = prefix[i] + c;
    }
    let mut curve = Curve::new("kl");
    let mut best = (f64::INFINITY, 0usize, (0.0f32, 0.0f32));
    let (mut p, mut q, mut ps, mut qs, mut terms) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in half_q..=zero {
        let start = zero - i;
        let end = (zero + i + 1).min(n);
        let sliced = &hist[start..end];
        let m = sliced.len();
        // Reference p: the slice with the outliers added to its end bins.
        p.clear();
        p.extend(sliced.iter().map(|&c| c as f32));
        p[0] = (sliced[0] + prefix[start]) as f32;
        p[m - 1] = (sliced[m - 1] + prefix[n] - prefix[end]) as f32;
        // Candidate q: the slice merged into quantized_bins bins (the remainder joins the last one),
        // then spread over each chunk's bins as an int64 quotient by the chunk's non-zero p count.
        let merged = m / quantized_bins;
        q.clear();
        q.resize(m, 0.0f32);
        for j in 0..quantized_bins {
            let (a, b) = (j * merged, (j + 1) * merged);
            let mut sum: u64 = sliced[a..b].iter().sum();
            if j == quantized_bins - 1 {
                sum += sliced[quantized_bins * merged..].iter().sum::<u64>();
            }
            let norm = p[a..b].iter().filter(|&&v| v != 0.0).count() as u64;
            if let Some(v) = sum.checked_div(norm) {
                q[a..b].iter_mut().for_each(|e| *e = v as f32);
            }
        }
        // calibrate.py get_entropy_threshold: `div = np.array(entropy(p, q), dtype=float32)`.
        let div = if smooth(&p, &mut ps) && smooth(&q, &mut qs) {
            match arithmetic {
                KlArithmetic::NumpyF32 => kl_f32(&ps, &qs, &mut terms) as f64,
                KlArithmetic::F64 => kl_f64(&ps, &qs),
            }
        } else {
            f64::INFINITY
        };
        let range = (h.edge(start), h.edge(end));
        curve.push(range.1, div);
        if div < best.0 || curve.values.len() == 1 {
            best = (div, curve.values.len() - 1, range);
        }
    }
    curve.best = Some(best.1);
    let (lo, hi) = best.2;
    ((lo.max(h.min()), hi.min(h.max())), curve)
}

/// TensorRT's entropy amax on the |x| histogram; `levels` = 2^(b−1).
pub fn trt(abs: &Histogram, levels: usize) -> ((f32, f32), Curve) {
    const START_BIN: usize = 128;
    let mut curve = Curve::new("kl");
    if !abs.has_bins() {
        return (super::zero_or_extremes(abs), curve);
    }
    let mut bins: Vec<u64> = abs.counts().to_vec();
    let n = bins.len();
    if n < START_BIN || levels == 0 {
        // Fewer bins than the first candidate: nothing to search, keep the whole range.
        return ((abs.min(), abs.max()), curve);
    }
    bins[0] = bins[1];
    let mut suffix = vec![0u64; n + 1];
    for i in (0..n).rev() {
        suffix[i] = suffix[i + 1] + bins[i];
    }
    let mut density = vec![0.0f64; levels];
    let mut nonempty = vec![0u32; levels];
    let (mut new_density, mut terms) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut best = (f64::INFINITY, START_BIN);
    let mut last_nan = None;
    for i in START_BIN..=n {
        // digitize(range(i), linspace(0, i, levels + 1)) − 1 = ⌊j·levels / i⌋, exact as levels is 2^k.
        density.iter_mut().for_each(|d| *d = 0.0);
        nonempty.iter_mut().for_each(|c| *c = 0);
        for (j, &c) in bins[..i].iter().enumerate() {
            if c != 0 {
                let k = j * levels / i;
                density[k] += c as f64;
                nonempty[k] += 1;
            }
        }
        // scipy.stats.entropy(reference, new_density) as modelopt calls it: each divided by its numpy
        // sum (the int reference's exactly, new_density's pairwise in float64), rel_entr's terms with
        // libm's log, summed pairwise. Equal KLs are common (few distinct values: a flat curve), and
        // the last minimum among them is the one this rounding makes smallest.
        let tail = suffix[i];
        new_density.clear();
        new_density.extend(bins[..i].iter().enumerate().map(|(j, &c)| {
            if c == 0 {
                0.0
            } else {
                let k = j * levels / i;
                density[k] / nonempty[k] as f64
            }
        }));
        let q_total = numpy::sum_f64(&new_density);
        let p_total = (bins[..i].iter().sum::<u64>() + tail) as f64;
        terms.clear();
        terms.extend(bins[..i].iter().zip(&new_density).enumerate().map(|(j, (&c, &d))| {
            let pj = if j == i - 1 { c + tail } else { c };
            let (a, b) = (1.0 * pj as f64 / p_total, d / q_total);
            // scipy.special.rel_entr: NaN in, NaN out (q sums to 0 when every in-range bin is empty).
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else if a > 0.0 && b > 0.0 {
                a * (a / b).ln()
            } else if a == 0.0 && b >= 0.0 {
                0.0
            } else {
                f64::INFINITY
            }
        }));
        let div = numpy::sum_f64(&terms);
        curve.push(abs.edge(i), div);
        // Last minimum wins (modelopt: len − 1 − argmin(divergences[::-1])); np.argmin takes a NaN
        // as the minimum, so the last NaN candidate wins over every number.
        if div.is_nan() {
            last_nan = Some(i);
        } else if div <= best.0 {
            best = (div, i);
        }
    }
    let chosen = last_nan.unwrap_or(best.1);
    curve.best = Some(chosen - START_BIN);
    let amax = abs.edge(chosen);
    (((-amax).max(abs.min()), amax.min(abs.max())), curve)
}
