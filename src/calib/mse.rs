//! The clipping threshold that minimises the expected quantization MSE, searched over the signed
//! histogram's edges: candidate k clips at t = edge[z + k] (z = the bin starting at 0, k = 1..=n/2),
//! range (−t, t) clamped to the data's [min, max] as the other histogram methods do.
//!
//! Expected error of a candidate, for the grid `quant::params_from_range` gives it (bits, scheme,
//! narrow/full range, f16 scales, the rounded zero point): with L, H the lowest and highest
//! representable values and s the step,
//!   E = [ Σ_{L ≤ x ≤ H} s²/12  +  ∫_{x<L} (x − L)²  +  ∫_{x>H} (x − H)² ] / N,
//! each bin's mass spread uniformly over the bin. The rounding term is the uniform-noise model of
//! Banner et al. 2019 (ACIQ): it does not alias with the bin layout the way an exact per-cell integral
//! over a piecewise-uniform density does. Exact zeros (ReLU outputs) are exactly representable in every
//! scheme, so they are left out of the rounding term. Asymmetric ranges symmetric about 0 put the zero
//! point on a float32 tie (t / s = 127.5), so its rounding, and the curve, can step between neighbours.
//!
//! `search` evaluates each candidate in O(1) from prefix moments; `expected_mse_direct` walks every
//! bin and is the brute-force reference the tests compare it with.

use super::histogram::Histogram;
use super::Curve;
use crate::quant::{params_from_range, QuantSpec};

/// The fake-quantization grid of one range: step and the lowest / highest representable values.
#[derive(Debug, Clone, Copy)]
struct Grid {
    scale: f64,
    lowest: f64,
    highest: f64,
}

impl Grid {
    fn new(spec: &QuantSpec, lo: f32, hi: f32) -> Self {
        let p = params_from_range(spec, lo, hi);
        let (qmin, qmax) = spec.code_range();
        let scale = p.scale as f64;
        Grid { scale, lowest: (qmin - p.zero_point) as f64 * scale, highest: (qmax - p.zero_point) as f64 * scale }
    }
}

/// ∫_u^v (x − g)² dx.
fn sq_integral(u: f64, v: f64, g: f64) -> f64 {
    let (a, b) = (u - g, v - g);
    (b - a) * (a * a + a * b + b * b) / 3.0
}

/// Brute force: the expected error bin by bin.
pub fn expected_mse_direct(h: &Histogram, spec: &QuantSpec, lo: f32, hi: f32) -> f64 {
    let g = Grid::new(spec, lo, hi);
    let total: u64 = h.counts().iter().sum();
    if total == 0 {
        return 0.0;
    }
    let noise = g.scale * g.scale / 12.0;
    let mut sum = 0.0;
    for (b, &c) in h.counts().iter().enumerate() {
        if c == 0 {
            continue;
        }
        let (e0, e1) = (h.edge_f64(b), h.edge_f64(b + 1));
        let d = c as f64 / (e1 - e0);
        if e0 < g.lowest {
            sum += d * sq_integral(e0, e1.min(g.lowest), g.lowest);
        }
        if e1 > g.highest {
            sum += d * sq_integral(e0.max(g.highest), e1, g.highest);
        }
        let inside = e1.min(g.highest) - e0.max(g.lowest);
        if inside > 0.0 {
            sum += d * inside * noise;
        }
    }
    // Exact zeros were counted as rounding noise above; they quantize exactly.
    sum -= h.zeros() as f64 * noise;
    sum.max(0.0) / total as f64
}

/// Cumulative moments of the piecewise-uniform density: F_k(x) = ∫_{−∞}^x t^k dens(t) dt, k = 0, 1, 2.
struct Moments<'a> {
    h: &'a Histogram,
    /// Prefix sums over whole bins of ∫ t^k dens.
    p: [Vec<f64>; 3],
}

impl<'a> Moments<'a> {
    fn new(h: &'a Histogram) -> Self {
        let n = h.counts().len();
        let mut p = [vec![0.0; n + 1], vec![0.0; n + 1], vec![0.0; n + 1]];
        for (b, &c) in h.counts().iter().enumerate() {
            let (e0, e1) = (h.edge_f64(b), h.edge_f64(b + 1));
            let (c, mid, w) = (c as f64, 0.5 * (e0 + e1), e1 - e0);
            p[0][b + 1] = p[0][b] + c;
            p[1][b + 1] = p[1][b] + c * mid;
            p[2][b + 1] = p[2][b] + c * (mid * mid + w * w / 12.0);
        }
        Moments { h, p }
    }

    fn total(&self) -> [f64; 3] {
        let n = self.h.counts().len();
        [self.p[0][n], self.p[1][n], self.p[2][n]]
    }

    fn at(&self, x: f64) -> [f64; 3] {
        let n = self.h.counts().len();
        let (lo, w) = (self.h.first_edge(), self.h.width());
        if x <= lo {
            return [0.0; 3];
        }
        if x >= self.h.edge_f64(n) {
            return self.total();
        }
        // The bin holding x: estimate from the nominal width, then settle on the float32 edges.
        let mut b = (((x - lo) / w) as usize).min(n - 1);
        while b > 0 && x < self.h.edge_f64(b) {
            b -= 1;
        }
        while b + 1 < n && x >= self.h.edge_f64(b + 1) {
            b += 1;
        }
        let e = self.h.edge_f64(b);
        let d = self.h.counts()[b] as f64 / (self.h.edge_f64(b + 1) - e);
        let dx = x - e;
        // ∫_e^x t^k dt, factored so that nearby x and e do not cancel.
        [
            self.p[0][b] + d * dx,
            self.p[1][b] + d * dx * (x + e) / 2.0,
            self.p[2][b] + d * dx * (x * x + x * e + e * e) / 3.0,
        ]
    }

    fn expected_mse(&self, g: &Grid) -> f64 {
        let tot = self.total();
        if tot[0] == 0.0 {
            return 0.0;
        }
        let (fl, fh) = (self.at(g.lowest), self.at(g.highest));
        let (l, u) = (g.lowest, g.highest);
        // ∫_{x<L} (x − L)² = F2(L) − 2L·F1(L) + L²·F0(L); the upper tail likewise from the totals.
        let below = fl[2] - 2.0 * l * fl[1] + l * l * fl[0];
        let above = (tot[2] - fh[2]) - 2.0 * u * (tot[1] - fh[1]) + u * u * (tot[0] - fh[0]);
        let inside = (fh[0] - fl[0] - self.h.zeros() as f64) * g.scale * g.scale / 12.0;
        (below.max(0.0) + above.max(0.0) + inside).max(0.0) / tot[0]
    }
}

/// The candidate ranges, in order of increasing threshold t.
pub fn candidates(h: &Histogram) -> Vec<(f32, (f32, f32))> {
    let n = h.counts().len();
    let z = n / 2;
    (1..=n - z)
        .map(|k| {
            let t = h.edge(z + k);
            (t, ((-t).max(h.min()), t.min(h.max())))
        })
        .collect()
}

/// The MSE-optimal range and the curve threshold → expected MSE; the first minimum wins.
pub fn search(h: &Histogram, spec: &QuantSpec) -> ((f32, f32), Curve) {
    let mut curve = Curve::new("mse");
    if !h.has_bins() {
        return (super::zero_or_extremes(h), curve);
    }
    let moments = Moments::new(h);
    let mut best = (f64::INFINITY, (h.min(), h.max()));
    for (t, (lo, hi)) in candidates(h) {
        let e = moments.expected_mse(&Grid::new(spec, lo, hi));
        curve.push(t, e);
        if e < best.0 {
            best = (e, (lo, hi));
            curve.best = Some(curve.values.len() - 1);
        }
    }
    (best.1, curve)
}

/// modelopt `_compute_amax_mse` (modelopt/torch/quantization/calib/histogram.py) on the |x|
/// histogram: bin centres (e_i + e_i+1)/2 in float32; for each candidate amax = centre[i],
/// i = 128.., the centres fake-quantized as `_tensor_quant` does (scale = (2^(b−1) − 1) / amax,
/// round half to even, clamp to ±(2^(b−1) − 1), divide back; float32) and the count-weighted mean
/// squared error; the first minimum wins; range (−amax, amax). torch's float32 mean is summed in
/// float64 here (torch's reduction order is not numpy's and cannot be run here without torch).
pub fn trt(abs: &Histogram, bits: u8) -> ((f32, f32), Curve) {
    const START_BIN: usize = 128;
    let mut curve = Curve::new("mse");
    if !abs.has_bins() {
        return (super::zero_or_extremes(abs), curve);
    }
    let n = abs.counts().len();
    let centres: Vec<f32> = (0..n).map(|i| (abs.edge(i + 1) + abs.edge(i)) / 2.0).collect();
    if n <= START_BIN {
        return ((abs.min(), abs.max()), curve);
    }
    let max_bound = (2f64.powi(bits as i32 - 1) - 1.0) as f32;
    let counts = abs.counts();
    let mut best = (f64::INFINITY, START_BIN);
    for i in START_BIN..n {
        let amax = centres[i];
        let zero = amax <= 1.0 / (1u32 << 24) as f32;
        let scale = if zero { 0.0 } else { max_bound / amax };
        let back = if zero { 1.0 } else { scale };
        let mut sum = 0.0f64;
        for (&c, &k) in centres.iter().zip(counts) {
            let q = (c * scale).round_ties_even().clamp(-max_bound, max_bound) / back;
            let d = q - c;
            sum += (d * d * k as f32) as f64;
        }
        let mse = sum / n as f64;
        curve.push(amax, mse);
        if mse < best.0 {
            best = (mse, i);
            curve.best = Some(i - START_BIN);
        }
    }
    let amax = centres[best.1];
    ((-amax, amax), curve)
}
