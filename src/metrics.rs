//! Error metrics and size accounting, from the sums the kernels accumulate.

use crate::kernels::ErrorSums;
use serde::{Serialize, Serializer};

/// JSON has no Inf or NaN: write them as the strings "inf" / "-inf" and NaN as null.
pub fn ser_f64<S: Serializer>(v: &f64, s: S) -> std::result::Result<S::Ok, S::Error> {
    if v.is_finite() {
        s.serialize_f64(*v)
    } else if v.is_nan() {
        s.serialize_none()
    } else if *v > 0.0 {
        s.serialize_str("inf")
    } else {
        s.serialize_str("-inf")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Metrics {
    /// mean((x − x̂)²) over the finite elements.
    pub mse: f64,
    /// 10·log10(Σx² / Σ(x − x̂)²); +Inf when exact.
    #[serde(serialize_with = "crate::metrics::ser_f64")]
    pub sqnr_db: f64,
    #[serde(serialize_with = "crate::metrics::ser_f64")]
    pub max_abs_err: f64,
    /// x·x̂ / (|x|·|x̂|); 1 when both are zero vectors, 0 when only one is; null when undefined (overflow).
    pub cosine: Option<f64>,
    /// Share of finite elements that were clamped to qmin or qmax.
    pub clipped_share: f64,
}

/// Metrics from error sums over `finite` elements, `clipped` of which were clamped.
pub fn metrics_from_sums(s: &ErrorSums, finite: usize, clipped: usize) -> Metrics {
    let n = finite.max(1) as f64;
    let mse = if finite == 0 { 0.0 } else { s.sum_ee / n };
    let sqnr_db = if s.sum_ee == 0.0 {
        f64::INFINITY
    } else if s.sum_xx == 0.0 {
        f64::NEG_INFINITY
    } else {
        10.0 * (s.sum_xx / s.sum_ee).log10()
    };
    let cosine = if s.sum_ee == 0.0 || (s.sum_xx == 0.0 && s.sum_yy == 0.0) {
        // Identical vectors (exact reconstruction) have cosine 1, without rounding in the ratio.
        Some(1.0)
    } else if s.sum_xx == 0.0 || s.sum_yy == 0.0 {
        Some(0.0)
    } else {
        let c = s.sum_xy / (s.sum_xx.sqrt() * s.sum_yy.sqrt());
        c.is_finite().then_some(c.clamp(-1.0, 1.0))
    };
    Metrics {
        mse,
        sqnr_db: if sqnr_db.is_nan() { f64::NEG_INFINITY } else { sqnr_db },
        max_abs_err: s.max_abs_err as f64,
        cosine,
        clipped_share: if finite == 0 { 0.0 } else { clipped as f64 / n },
    }
}

/// Bits per weight of `bytes` stored for `elements` values.
pub fn bits_per_weight(bytes: u64, elements: u64) -> f64 {
    if elements == 0 {
        0.0
    } else {
        bytes as f64 * 8.0 / elements as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::scalar;

    #[test]
    fn hand_worked_metrics() {
        let x = [1.0f32, -2.0, 3.0, 0.5];
        let y = [1.0f32, -2.5, 3.0, 0.0];
        let s = scalar::error_sums_f32(&x, &y);
        let m = metrics_from_sums(&s, 4, 1);
        // errors 0, 0.5, 0, 0.5 → mse = 0.5/4; Σx² = 14.25 → sqnr = 10·log10(14.25/0.5).
        assert_eq!(m.mse, 0.125);
        assert!((m.sqnr_db - 10.0 * (28.5f64).log10()).abs() < 1e-12);
        assert_eq!(m.max_abs_err, 0.5);
        let dot = 1.0 + 5.0 + 9.0;
        let want = dot / (14.25f64.sqrt() * (1.0f64 + 6.25 + 9.0).sqrt());
        assert!((m.cosine.unwrap() - want).abs() < 1e-12);
        assert_eq!(m.clipped_share, 0.25);
    }

    #[test]
    fn exact_and_empty_are_defined() {
        let s = scalar::error_sums_f32(&[0.0, 0.0], &[0.0, 0.0]);
        let m = metrics_from_sums(&s, 2, 0);
        assert_eq!(m.sqnr_db, f64::INFINITY);
        assert_eq!(m.cosine, Some(1.0));
        let m = metrics_from_sums(&ErrorSums::default(), 0, 0);
        assert_eq!((m.mse, m.clipped_share), (0.0, 0.0));
    }

    #[test]
    fn fp16_overflow_shows_as_infinite_error_not_nan() {
        let x = [1.0e5f32, 1.0];
        let y = crate::tensor::round_trip_f16(&x);
        let m = metrics_from_sums(&scalar::error_sums_f32(&x, &y), 2, 0);
        assert_eq!(m.max_abs_err, f64::INFINITY);
        assert_eq!(m.sqnr_db, f64::NEG_INFINITY);
        assert!(!m.mse.is_nan());
    }
}
