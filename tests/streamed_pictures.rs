//! The tensor view's pictures (app::explore::PicturesStream): value histogram, calibration ranges,
//! error histogram and slot scales fed in one chunk, a few or many (edges inside rows, groups and
//! channels) are the same JSON bit for bit, and equal what the whole-tensor rules give: the
//! histogram of the materialised errors, calib::quantize_calibrated's scales and zero points, and
//! calib::calibrate_slots' per-tensor range for each method.

use quant_playground::app::explore::{self, Pictures};
use quant_playground::calib::{self, CalibConfig, Method};
use quant_playground::quant::{self, Granularity, NumberFormat, QuantSpec, SlotLayout};

/// A deterministic weight-like tensor with outliers, exact zeros and a few non-finite values
/// (tests/streamed.rs's pattern).
fn tensor(n: usize) -> Vec<f32> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let u = (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            match i % 997 {
                5 => 40.0 * u,
                11 => 0.0,
                500 if i == 500 => f32::NAN,
                _ if i == 1234 => f32::INFINITY,
                _ => u * (1.0 + (i % 7) as f32 * 0.1),
            }
        })
        .collect()
}

fn spec(label: &str) -> QuantSpec {
    match NumberFormat::parse(label).unwrap() {
        NumberFormat::Scaled(s) => s,
        other => panic!("{label} is {other:?}"),
    }
}

fn json(p: &Pictures) -> String {
    serde_json::to_string(p).unwrap()
}

/// The pictures as the page computed them before they streamed: each from the whole tensor.
fn whole_tensor_reference(x: &[f32], shape: &[usize], s: &QuantSpec, e: &QuantSpec, method: &Method, bins: usize) -> Pictures {
    let finite_or_zero = |v: f32| if v.is_finite() { v } else { 0.0 };
    let values = explore::histogram(x, bins);
    let errors = explore::histogram(&explore::errors(x, shape, e, method).unwrap(), bins);
    let layout = SlotLayout::new(shape, s.granularity).unwrap();
    let q = calib::quantize_calibrated(x, shape, s, method).unwrap();
    let ranges = match method {
        Method::MinMax => quant::minmax_ranges(x, &layout),
        _ => calib::calibrate_slots(x, shape, s, method, CalibConfig::default()).unwrap(),
    };
    let (qmin, qmax) = s.code_range();
    let grid = |code: i32| -> Vec<f32> { q.scales.iter().zip(&q.zero_points).map(|(&sc, &z)| (code - z) as f32 * sc).collect() };
    let slots = explore::SlotParams {
        config: s.label(),
        calibration: method.label(),
        granularity: s.granularity.label(),
        slots: layout.slots,
        lo: ranges.lo.iter().map(|&v| finite_or_zero(v)).collect(),
        hi: ranges.hi.iter().map(|&v| finite_or_zero(v)).collect(),
        grid_lo: grid(qmin),
        grid_hi: grid(qmax),
        scales: q.scales.clone(),
        zero_points: q.zero_points.clone(),
    };
    let per_tensor = QuantSpec { granularity: Granularity::PerTensor, ..*s };
    let marks = Method::all()
        .iter()
        .map(|m| {
            let r = calib::calibrate_slots(x, &[x.len()], &per_tensor, m, CalibConfig::default()).unwrap();
            let p = quant::params_from_range(&per_tensor, r.lo[0], r.hi[0]);
            explore::RangeMark {
                method: m.label(),
                lo: finite_or_zero(r.lo[0]),
                hi: finite_or_zero(r.hi[0]),
                grid_lo: (qmin - p.zero_point) as f32 * p.scale,
                grid_hi: (qmax - p.zero_point) as f32 * p.scale,
            }
        })
        .collect();
    Pictures { values, ranges: marks, errors, slots }
}

#[test]
fn pictures_equal_the_whole_tensor_rules_and_do_not_depend_on_the_chunking() {
    let shape = [40, 96];
    let x = tensor(40 * 96);
    // Each slot of a histogram method builds its own 2048-bin histograms: per-slot cases take the
    // cheaper methods (debug builds), the per-tensor ones every kind of histogram.
    let cheap = vec![Method::MinMax, Method::parse("percentile").unwrap()];
    let all = vec![Method::MinMax, Method::parse("percentile").unwrap(), Method::Mse, Method::parse("entropy").unwrap()];
    let cases = [
        ("int8 sym channel:0", "int8 sym channel:0", &cheap),
        ("int4 asym group:32", "int8 sym tensor", &cheap),
        ("int8 sym tensor", "int3 asym tensor", &all),
        ("int4 sym channel:1", "int4 sym channel:1", &cheap),
        ("int8 asym group:100 f16-scales", "int2 sym channel:0", &cheap),
    ];
    let mut checked = 0;
    for (s, e, methods) in cases {
        let (s, e) = (spec(s), spec(e));
        for method in methods.iter() {
            let want = json(&whole_tensor_reference(&x, &shape, &s, &e, method, 64));
            let whole = explore::pictures(&x, &shape, &s, &e, method, 64).unwrap();
            assert_eq!(json(&whole), want, "{} / {} {method:?}: one chunk vs the whole-tensor rules", s.label(), e.label());
            for chunk in [96 * 7, 1000, 97, 31] {
                let got = explore::pictures_chunked(&x, &shape, &s, &e, method, 64, chunk).unwrap();
                assert_eq!(json(&got), want, "{} / {} {method:?} in chunks of {chunk}", s.label(), e.label());
                checked += 1;
            }
        }
    }
    assert_eq!(checked, (4 * 2 + 4) * 4);
}

#[test]
fn a_three_axis_tensor_and_a_constant_one() {
    // Channel 0 of [6, 10, 70] spans 700 elements; channel:1's slots are strided over the tensor.
    let shape = [6, 10, 70];
    let x = tensor(6 * 10 * 70);
    for (s, e) in [("int8 sym channel:1", "int4 asym channel:2"), ("int4 asym channel:0", "int8 sym group:16")] {
        let (s, e) = (spec(s), spec(e));
        for method in [Method::MinMax, Method::parse("percentile").unwrap()] {
            let want = json(&whole_tensor_reference(&x, &shape, &s, &e, &method, 256));
            for chunk in [64, 333, 700, 4199] {
                assert_eq!(json(&explore::pictures_chunked(&x, &shape, &s, &e, &method, 256, chunk).unwrap()), want, "chunks of {chunk}");
            }
        }
    }
    // Every value the same: all in bin 0, errors all 0 (x = scale · qmax exactly).
    let x = vec![0.5f32; 300];
    let s = spec("int8 sym channel:0");
    let p = explore::pictures_chunked(&x, &[3, 100], &s, &s, &Method::MinMax, 8, 7).unwrap();
    assert_eq!((p.values.lo, p.values.hi, p.values.counts[0]), (0.5, 0.5, 300));
    assert_eq!((p.errors.lo, p.errors.hi, p.errors.finite), (0.0, 0.0, 300));
    assert_eq!(p.slots.scales, vec![0.5 / 127.0; 3]);
}

#[test]
fn the_stream_refuses_chunks_out_of_turn_with_a_message() {
    let s = spec("int8 sym channel:0");
    let mut p = explore::PicturesStream::new(&[4, 8], &s, &s, &Method::MinMax, 16).unwrap();
    assert_eq!(p.reads(), 3); // min-max ranges are ready after the first read: errors in reads 2 and 3
    let err = p.feed(&[0.0; 8]).unwrap_err().to_string();
    assert!(err.contains("next_read"), "{err}");
    assert!(p.next_read().unwrap());
    let err = p.feed(&[0.0; 33]).unwrap_err().to_string();
    assert!(err.contains("runs past the tensor's 32 elements"), "{err}");
    p.feed(&[0.0; 16]).unwrap();
    let err = p.next_read().unwrap_err().to_string();
    assert!(err.contains("16 values given for a tensor of 32 elements"), "{err}");
    let p = explore::PicturesStream::new(&[4, 8], &s, &s, &Method::Mse, 16).unwrap();
    assert!(p.clone().finish().is_err(), "finished before its reads");
    // A histogram method per tensor takes a histogram read before the errors can be measured.
    let t = spec("int8 sym tensor");
    assert_eq!(explore::PicturesStream::new(&[4, 8], &s, &t, &Method::Mse, 16).unwrap().reads(), 4);
    assert!(explore::PicturesStream::new(&[4, 8], &spec("int4 sym group:3"), &s, &Method::MinMax, 16).is_ok());
}
