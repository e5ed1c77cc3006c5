//! Per-slot calibration streamed (calib::slots, app::report::CalibratedColumn): for every method and
//! dialect, per tensor, per channel (first and later axes) and per group, the ranges and the report
//! row are the same bit for bit whatever the chunking (one chunk, a few, many; edges inside groups and
//! channels; interleaved channels in one histogram read or several), and equal to the whole-tensor
//! path as it was written before the stream (each slot's values gathered, one `add_batch`).

use quant_playground::app::report;
use quant_playground::calib::slots::{calibrate_slots_chunked, SlotCalibration};
use quant_playground::calib::{self, CalibConfig, Calibrator, Method};
use quant_playground::quant::{self, Granularity, QuantSpec, Scheme, SlotLayout, SlotRanges};
use quant_playground::tensor::DType;

/// Weight-like values with outliers, plus rows that are all zero, all NaN, one value, ±0 only.
fn tensor(rows: usize, cols: usize) -> Vec<f32> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut x: Vec<f32> = (0..rows * cols)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let u = (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            match i % 211 {
                3 => 25.0 * u,
                17 => 0.0,
                _ if i == 177 => f32::NAN,
                _ if i == 301 => f32::NEG_INFINITY,
                _ => u * (1.0 + (i % 5) as f32 * 0.3) + if (i / cols) % 4 == 1 { 0.4 } else { 0.0 },
            }
        })
        .collect();
    let row = |r: usize| r * cols..(r + 1) * cols;
    x[row(2)].fill(0.0);
    x[row(5)].fill(f32::NAN);
    x[row(7)].fill(0.0);
    x[7 * cols + 3] = 1.5;
    for (k, v) in x[row(9)].iter_mut().enumerate() {
        *v = if k % 2 == 0 { 0.0 } else { -0.0 };
    }
    x
}

/// The whole-tensor path as calibrate_slots wrote it before the stream: each slot's runs gathered in
/// memory order into one batch of a fresh calibrator.
fn gathered_ranges(x: &[f32], shape: &[usize], spec: &QuantSpec, method: &Method, cfg: CalibConfig) -> SlotRanges {
    let layout = SlotLayout::new(shape, spec.granularity).unwrap();
    let mut runs: Vec<Vec<(usize, usize)>> = vec![Vec::new(); layout.slots];
    layout.for_each_run(|start, n, slot| runs[slot].push((start, n)));
    let slot_spec = QuantSpec { granularity: Granularity::PerTensor, ..*spec };
    let mut ranges = SlotRanges { lo: Vec::new(), hi: Vec::new(), nonfinite: 0 };
    for slot_runs in &runs {
        let values: Vec<f32> = slot_runs.iter().flat_map(|&(s, n)| x[s..s + n].iter().copied()).collect();
        let mut c = Calibrator::new(&slot_spec, std::slice::from_ref(method), cfg).unwrap();
        c.add_batch(&values);
        let r = c.result(method).unwrap();
        ranges.lo.push(r.range[0]);
        ranges.hi.push(r.range[1]);
        ranges.nonfinite += c.run().nonfinite as usize;
    }
    ranges
}

/// Smaller histograms than the default (256 bins, 32 quantized bins), so that every method's search
/// over hundreds of slots stays quick in a debug build; the code path is the default's.
fn small() -> CalibConfig {
    CalibConfig { bins: 256, quantized_bins: 32, ..CalibConfig::default() }
}

fn bits_of(r: &SlotRanges) -> (Vec<u32>, Vec<u32>, usize) {
    (r.lo.iter().map(|v| v.to_bits()).collect(), r.hi.iter().map(|v| v.to_bits()).collect(), r.nonfinite)
}

/// Chunk lengths for a [12, 40] tensor: whole, a few (rows cut), groups of 32 cut, many.
const CHUNKS: [usize; 4] = [usize::MAX, 130, 41, 7];

fn streamed(x: &[f32], shape: &[usize], spec: &QuantSpec, method: &Method, chunk: usize, window: Option<usize>) -> SlotRanges {
    let mut s = SlotCalibration::new(shape, spec, method, small()).unwrap();
    if let Some(w) = window {
        s = s.with_histogram_window(w);
    }
    while let Some(pass) = s.next_pass().unwrap() {
        for c in x.chunks(chunk) {
            s.feed(pass, c).unwrap();
        }
    }
    s.finish().unwrap()
}

#[test]
fn per_slot_ranges_do_not_depend_on_the_chunking_for_any_method() {
    let (rows, cols) = (12, 40);
    let x = tensor(rows, cols);
    let shape = [rows, cols];
    for granularity in ["tensor", "channel:0", "channel:1", "group:32", "group:64"] {
        for (scheme, bits) in [(Scheme::Symmetric, 8), (Scheme::Asymmetric, 4)] {
            {
                let spec = QuantSpec::new(bits, scheme, Granularity::parse(granularity).unwrap());
                for method in Method::every() {
                    let what = format!("{} {granularity} {scheme:?} int{bits}", method.label());
                    let reference = bits_of(&gathered_ranges(&x, &shape, &spec, &method, small()));
                    let whole = calib::calibrate_slots(&x, &shape, &spec, &method, small()).unwrap();
                    assert_eq!(bits_of(&whole), reference, "{what}: the one-chunk stream left the gathered path");
                    for chunk in CHUNKS {
                        assert_eq!(bits_of(&streamed(&x, &shape, &spec, &method, chunk, None)), reference, "{what}, chunks of {chunk}");
                    }
                    if granularity == "channel:1" {
                        // 40 interleaved channels in windows of 7 (6 histogram reads) and of 1.
                        for window in [7, 1] {
                            assert_eq!(bits_of(&streamed(&x, &shape, &spec, &method, 41, Some(window))), reference, "{what}, windows of {window}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn a_three_axis_tensor_calibrates_per_channel_along_each_axis() {
    let shape = [3, 8, 20];
    let x = tensor(24, 20);
    for axis in 0..3 {
        let spec = QuantSpec::new(8, Scheme::Asymmetric, Granularity::PerChannel { axis });
        for method in [Method::Percentile(99.9), Method::Mse, Method::Entropy, Method::EntropyTrt, Method::Distribution] {
            let reference = bits_of(&gathered_ranges(&x, &shape, &spec, &method, small()));
            for chunk in [usize::MAX, 49, 13] {
                assert_eq!(bits_of(&calibrate_slots_chunked(&x, &shape, &spec, &method, small(), chunk).unwrap()), reference, "axis {axis} {} chunks of {chunk}", method.label());
            }
        }
    }
}

#[test]
fn how_many_reads_each_layout_takes() {
    let reads = |shape: &[usize], g: &str, method: Method, window: Option<usize>| {
        let spec = QuantSpec::new(8, Scheme::Symmetric, Granularity::parse(g).unwrap());
        let mut s = SlotCalibration::new(shape, &spec, &method, CalibConfig::default()).unwrap();
        if let Some(w) = window {
            s = s.with_histogram_window(w);
        }
        let n: usize = shape.iter().product();
        let mut passes = Vec::new();
        while let Some(p) = s.next_pass().unwrap() {
            passes.push(p);
            s.feed(p, &vec![0.5; n]).unwrap();
        }
        passes.len()
    };
    // Groups and first-axis channels: one read (a cut slot waits in a buffer).
    assert_eq!(reads(&[4, 64], "group:32", Method::Entropy, None), 1);
    assert_eq!(reads(&[4, 64], "channel:0", Method::Mse, None), 1);
    // Per tensor (above the buffered size) and interleaved channels: a range read, then histograms.
    assert_eq!(reads(&[2048, 1024], "tensor", Method::Percentile(99.99), None), 2);
    assert_eq!(reads(&[4, 64], "channel:1", Method::Mse, None), 2);
    assert_eq!(reads(&[4, 64], "channel:1", Method::Mse, Some(10)), 1 + 7);
    // No histogram: the range read alone.
    assert_eq!(reads(&[4, 64], "channel:1", Method::MovingAverage, Some(10)), 1);
}

#[test]
fn the_calibrated_column_is_the_whole_tensor_quantized_with_calibrated_ranges() {
    // The default histograms here (the page's and the CLI's), so a smaller tensor: [10, 24].
    let (rows, cols) = (10, 24);
    let x = tensor(rows, cols);
    let shape = [rows, cols];
    for label in ["int8 sym tensor", "int4 asym channel:1", "int8 sym group:16 full f16-scales"] {
        let spec = match quant::NumberFormat::parse(label).unwrap() {
            quant::NumberFormat::Scaled(s) => s,
            f => panic!("{label}: {f:?}"),
        };
        for method in Method::every() {
            let q = calib::quantize_calibrated(&x, &shape, &spec, &method).unwrap();
            let whole = report::int_report("w", DType::BF16, &q, &method.label());
            for chunk in [41, 5] {
                let row = report::calibrated_column("w", DType::BF16, &shape, &x, &spec, &method, chunk).unwrap();
                assert_eq!(format!("{row:?}"), format!("{whole:?}"), "{label} {} chunks of {chunk}", method.label());
            }
        }
    }
}

#[test]
fn chunks_out_of_turn_are_errors() {
    let spec = QuantSpec::new(8, Scheme::Symmetric, Granularity::PerChannel { axis: 1 });
    let mut s = SlotCalibration::new(&[2, 3], &spec, &Method::Mse, CalibConfig::default()).unwrap();
    let p = s.next_pass().unwrap().unwrap();
    assert!(s.feed(p, &[0.0; 7]).unwrap_err().to_string().contains("runs past the tensor's 6 elements"));
    s.feed(p, &[0.0; 4]).unwrap();
    assert!(s.next_pass().unwrap_err().to_string().contains("4 values given for a tensor of 6 elements"));
    let spec = QuantSpec::new(8, Scheme::Symmetric, Granularity::PerTensor);
    let s = SlotCalibration::new(&[2, 3], &spec, &Method::Mse, CalibConfig::default()).unwrap();
    assert!(s.finish().unwrap_err().to_string().contains("before its reads ended"));
    let mut c = report::CalibratedColumn::new("w", DType::F32, &[2, 3], &spec, &Method::Entropy).unwrap();
    assert!(c.feed(&[1.0]).unwrap_err().to_string().contains("call next_pass first"));
}
