//! Calibration on the seeded synthetic sets (app::synthetic): non-finite values, per-channel ranges,
//! the report's rows, and one batch against the single-set report. Integration tests because the
//! synthetic sets sit above the library in `app`, which calib must not use.
// Native only: wasm-pack builds every test target for wasm32; the browser tests are in tests/wasm*.rs.
#![cfg(not(target_arch = "wasm32"))]

use quant_playground::app::synthetic::{generate, Dist};
use quant_playground::calib::batches::calibration_report_batches;
use quant_playground::calib::{calibrate_batches, calibrate_slots, calibration_report, CalibConfig, Method};
use quant_playground::quant::{self, Granularity, QuantSpec, Scheme};

fn spec(bits: u8, scheme: Scheme) -> QuantSpec {
    QuantSpec::new(bits, scheme, Granularity::PerTensor)
}

#[test]
fn nonfinite_is_ignored_and_counted() {
    let mut x = generate(Dist::Gaussian, 10_000, 1.0, 1);
    let clean =
        calibrate_batches(&[&x], &spec(8, Scheme::Symmetric), &Method::all(), CalibConfig::default()).unwrap();
    x.extend([f32::NAN, f32::INFINITY, f32::NEG_INFINITY]);
    let dirty =
        calibrate_batches(&[&x], &spec(8, Scheme::Symmetric), &Method::all(), CalibConfig::default()).unwrap();
    assert_eq!(dirty.nonfinite, 3);
    for (a, b) in clean.results.iter().zip(&dirty.results) {
        assert_eq!(a.range, b.range, "{}", a.method);
    }
}

#[test]
fn per_channel_ranges_follow_each_channel() {
    // Two rows: one of scale 1, one of scale 10.
    let mut x = generate(Dist::Laplace, 2 * 4096, 1.0, 5);
    x[4096..].iter_mut().for_each(|v| *v *= 10.0);
    let s = QuantSpec::new(8, Scheme::Symmetric, Granularity::PerChannel { axis: 0 });
    for m in [Method::Percentile(99.9), Method::Mse, Method::MinMax] {
        let r = calibrate_slots(&x, &[2, 4096], &s, &m, CalibConfig::default()).unwrap();
        assert_eq!(r.lo.len(), 2);
        let ratio = r.hi[1] / r.hi[0];
        assert!(ratio > 5.0 && ratio < 20.0, "{} {ratio}", m.label());
        let q = quant::quantize_with_ranges(&x, &[2, 4096], &s, &r).unwrap();
        assert_eq!(q.scales.len(), 2);
    }
}

#[test]
fn report_measures_each_range() {
    let x = generate(Dist::GaussianOutliers, 50_000, 1.0, 3);
    let rep =
        calibration_report(&x, &spec(4, Scheme::Symmetric), &Method::all(), CalibConfig::default(), false).unwrap();
    let mm = &rep.methods[0];
    assert_eq!(mm.method, "minmax");
    assert_eq!(mm.clipped_share, 0.0);
    assert!(rep.methods.iter().all(|r| r.mse > 0.0 && r.sqnr_db.is_finite()));
    let json = serde_json::to_value(&rep).unwrap();
    let row = &json["methods"][2];
    for k in ["method", "range", "scale", "zero_point", "mse", "sqnr_db", "clipped_share"] {
        assert!(row.get(k).is_some(), "{k}");
    }
    assert!(!rep.table().is_empty());
}

#[test]
fn one_batch_equals_the_single_set_report() {
    let x = generate(Dist::Laplace, 5000, 1.0, 3);
    let spec = QuantSpec::new(8, Scheme::Asymmetric, Granularity::PerTensor);
    let methods = Method::parse_list("all").unwrap();
    let single = calibration_report(&x, &spec, &methods, CalibConfig::default(), false).unwrap();
    let batched = calibration_report_batches(&[&x], &spec, &methods, CalibConfig::default(), false).unwrap();
    assert_eq!(batched.report, single);
    assert_eq!((batched.batches, batched.batch_values.clone()), (1, vec![5000]));
}

/// Every method's label parses back to itself, has a dialect and a line of help; `calibrate --help`
/// lists each one.
#[test]
fn every_method_round_trips_with_its_dialect() {
    use quant_playground::calib::Dialect;
    for m in Method::every() {
        assert_eq!(Method::parse(&m.label()).unwrap(), m, "{}", m.label());
        assert!(!m.about().is_empty());
        assert!(Method::help().contains(m.about()));
    }
    assert_eq!(Method::parse("percentile:trt:99.9").unwrap(), Method::PercentileTrt(99.9));
    assert_eq!(Method::parse("entropy:ort").unwrap().dialect(), Dialect::Ort);
    assert_eq!(Method::parse("entropy:f64").unwrap().dialect(), Dialect::Ours);
    assert_eq!(Method::parse("mse:trt").unwrap().dialect(), Dialect::Trt);
    assert!(Method::parse("percentile:trt:101").is_err());
    assert!(Method::parse("entropy:xyz").is_err());
}
