//! The clipping threshold that minimises the expected quantization MSE, searched over the signed
//! histogram's edges: candidate k clips at t = k·width (k = 1..=n/2), range (−t, t) clamped to the data's
//! [min, max] as the other histogram methods do. The expected error of a candidate is computed for the
//! exact grid `quant::params_from_range` gives (bits, scheme, narrow/full range, f16 scales) with each
//! bin's mass spread uniformly over the bin — rounding and clipping error together, as in
//! Banner et al. 2019 (ACIQ) or PyTorch's HistogramObserver, but without the Δ²/12 approximation.
//!
//! `search` integrates cell by cell from prefix moments (O(2^b) per candidate); `expected_mse_direct`
//! integrates bin by bin and is the brute-force reference the tests compare it with.

use super::histogram::Histogram;
use super::Curve;
use crate::quant::{params_from_range, QuantSpec};

/// The fake-quantization grid of one range.
#[derive(Debug, Clone, Copy)]
struct Grid {
    scale: f64,
    zp: i32,
    qmin: i32,
    qmax: i32,
}

impl Grid {
    fn new(spec: &QuantSpec, lo: f32, hi: f32) -> Self {
        let p = params_from_range(spec, lo, hi);
        let (qmin, qmax) = spec.code_range();
        Grid { scale: p.scale as f64, zp: p.zero_point, qmin, qmax }
    }
    /// The value code q dequantizes to.
    fn level(&self, q: i32) -> f64 {
        (q - self.zp) as f64 * self.scale
    }
    /// Code of x (ties at cell boundaries do not matter to an integral).
    fn code(&self, x: f64) -> i32 {
        ((x / self.scale + 0.5).floor() as i64 + self.zp as i64).clamp(self.qmin as i64, self.qmax as i64) as i32
    }
}

/// ∫_u^v (t − g)² dt.
fn sq_integral(u: f64, v: f64, g: f64) -> f64 {
    let (a, b) = (u - g, v - g);
    (b - a) * (a * a + a * b + b * b) / 3.0
}

/// Brute force: Σ over bins of ∫ density · (x − x̂(x))², cell by cell inside each bin; divided by the count.
pub fn expected_mse_direct(h: &Histogram, spec: &QuantSpec, lo: f32, hi: f32) -> f64 {
    let g = Grid::new(spec, lo, hi);
    let w = h.width();
    let total: u64 = h.counts().iter().sum();
    if total == 0 {
        return 0.0;
    }
    let mut sum = 0.0;
    for (b, &c) in h.counts().iter().enumerate() {
        if c == 0 {
            continue;
        }
        let (e0, e1) = (h.edge_f64(b), h.edge_f64(b + 1));
        let density = c as f64 / w;
        let (q0, q1) = (g.code(e0), g.code(e1));
        for q in q0..=q1 {
            // The part of the bin that rounds to q.
            let u = if q == q0 { e0 } else { g.level(q) - 0.5 * g.scale };
            let v = if q == q1 { e1 } else { g.level(q) + 0.5 * g.scale };
            if v > u {
                sum += density * sq_integral(u, v, g.level(q));
            }
        }
    }
    sum / total as f64
}

/// Cumulative moments of the piecewise-uniform density: F_k(x) = ∫_{−∞}^x t^k dens(t) dt, k = 0, 1, 2.
struct Moments<'a> {
    h: &'a Histogram,
    /// Prefix sums over whole bins of c, c·mid, c·(mid² + w²/12).
    p: [Vec<f64>; 3],
}

impl<'a> Moments<'a> {
    fn new(h: &'a Histogram) -> Self {
        let n = h.counts().len();
        let w = h.width();
        let mut p = [vec![0.0; n + 1], vec![0.0; n + 1], vec![0.0; n + 1]];
        for (b, &c) in h.counts().iter().enumerate() {
            let (c, mid) = (c as f64, h.edge_f64(b) + 0.5 * w);
            p[0][b + 1] = p[0][b] + c;
            p[1][b + 1] = p[1][b] + c * mid;
            p[2][b + 1] = p[2][b] + c * (mid * mid + w * w / 12.0);
        }
        Moments { h, p }
    }

    fn at(&self, x: f64) -> [f64; 3] {
        let n = self.h.counts().len();
        let (lo, w) = (self.h.first_edge(), self.h.width());
        if x <= lo {
            return [0.0; 3];
        }
        let b = ((x - lo) / w).floor();
        if b >= n as f64 {
            return [self.p[0][n], self.p[1][n], self.p[2][n]];
        }
        let b = b as usize;
        let e = self.h.edge_f64(b);
        let d = self.h.counts()[b] as f64 / w;
        let dx = x - e;
        // ∫_e^x t^k dt, factored so that nearby x and e do not cancel.
        [
            self.p[0][b] + d * dx,
            self.p[1][b] + d * dx * (x + e) / 2.0,
            self.p[2][b] + d * dx * (x * x + x * e + e * e) / 3.0,
        ]
    }

    fn expected_mse(&self, g: &Grid) -> f64 {
        let total = self.p[0][self.h.counts().len()];
        if total == 0.0 {
            return 0.0;
        }
        let (lo, hi) = (self.h.first_edge(), self.h.edge_f64(self.h.counts().len()));
        let mut sum = 0.0;
        let mut below = [0.0; 3];
        for q in g.qmin..=g.qmax {
            let upper = if q == g.qmax { f64::INFINITY } else { g.level(q) + 0.5 * g.scale };
            if upper <= lo {
                continue;
            }
            let at = if upper >= hi { self.at(hi) } else { self.at(upper) };
            let m = [at[0] - below[0], at[1] - below[1], at[2] - below[2]];
            let c = g.level(q);
            sum += m[2] - 2.0 * c * m[1] + c * c * m[0];
            below = at;
            if upper >= hi {
                break;
            }
        }
        sum.max(0.0) / total
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

/// The MSE-optimal range and the curve threshold → expected MSE.
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
