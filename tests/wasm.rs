//! The same numerics in real Chromium (wasm-pack test --headless --chrome -- --test wasm):
//! the numpy reference vectors, and every SIMD128 kernel against its scalar twin bit for bit.
#![cfg(target_arch = "wasm32")]

use quant_playground::app::synthetic::{generate, Dist};
use quant_playground::kernels::{self, scalar};
use quant_playground::quant::{self, Codes, Granularity, QuantSpec, Scheme};
use wasm_bindgen_test::*;

// In a dedicated worker of Chromium: the runner polls the page (webdriver execute/sync, ~20 s limit) while
// the tests run, and a few of the streamed tests take seconds each in a debug build; on the page's own
// thread they blocked the poll and the run timed out.
wasm_bindgen_test_configure!(run_in_dedicated_worker);

#[wasm_bindgen_test]
fn build_is_simd128() {
    assert_eq!(kernels::build_name(), "simd128");
}

/// Data with every awkward value the kernels must treat identically: NaN, ±Inf, ±0, huge, ties.
fn awkward(n: usize, seed: u64) -> Vec<f32> {
    let mut x = generate(Dist::GaussianOutliers, n, 1.0, seed);
    let specials = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 0.0, 3.0e38, -3.0e38, 0.5, 1.5, -2.5, 1e-40];
    for (i, v) in x.iter_mut().enumerate() {
        if i % 7 == 3 {
            *v = specials[(i / 7) % specials.len()];
        }
    }
    x
}

#[wasm_bindgen_test]
fn min_max_matches_scalar_twin() {
    for n in [0usize, 1, 3, 4, 5, 15, 16, 17, 63, 64, 65, 200, 1031] {
        let x = awkward(n, n as u64);
        let (a, b) = (kernels::min_max_finite(&x), scalar::min_max_finite(&x));
        assert_eq!((a.0.to_bits(), a.1.to_bits(), a.2), (b.0.to_bits(), b.1.to_bits(), b.2), "n = {n}");
    }
}

#[wasm_bindgen_test]
fn quantize_dequantize_and_error_sums_match_scalar_twins() {
    for n in [0usize, 1, 7, 16, 17, 64, 65, 127, 128, 129, 1000] {
        let x = awkward(n, 100 + n as u64);
        for (scale, zp, qmin, qmax) in [(0.05f32, 0, -127, 127), (0.013, 0, -8, 7), (0.02, 131, 0, 255), (1.0, 3, 0, 15)] {
            let (mut a, mut b) = (vec![0i8; n], vec![0i8; n]);
            let (mut ua, mut ub) = (vec![0u8; n], vec![0u8; n]);
            if qmin < 0 {
                assert_eq!(kernels::quantize(&x, scale, zp, qmin, qmax, &mut a), scalar::quantize(&x, scale, zp, qmin, qmax, &mut b));
                assert_eq!(a, b, "i8 codes n = {n} scale = {scale}");
                let (mut da, mut db) = (vec![0f32; n], vec![0f32; n]);
                kernels::dequantize(&a, scale, zp, &mut da);
                scalar::dequantize(&b, scale, zp, &mut db);
                assert_eq!(bits(&da), bits(&db));
                assert_sums_equal(kernels::error_sums(&x, &a, scale, zp), scalar::error_sums(&x, &b, scale, zp));
            } else {
                assert_eq!(kernels::quantize(&x, scale, zp, qmin, qmax, &mut ua), scalar::quantize(&x, scale, zp, qmin, qmax, &mut ub));
                assert_eq!(ua, ub, "u8 codes n = {n} scale = {scale}");
                let (mut da, mut db) = (vec![0f32; n], vec![0f32; n]);
                kernels::dequantize(&ua, scale, zp, &mut da);
                scalar::dequantize(&ub, scale, zp, &mut db);
                assert_eq!(bits(&da), bits(&db));
                assert_sums_equal(kernels::error_sums(&x, &ua, scale, zp), scalar::error_sums(&x, &ub, scale, zp));
            }
        }
        let y = quant_playground::tensor::round_trip_f16(&x);
        assert_sums_equal(kernels::error_sums_f32(&x, &y), scalar::error_sums_f32(&x, &y));
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|f| f.to_bits()).collect()
}

fn assert_sums_equal(a: kernels::ErrorSums, b: kernels::ErrorSums) {
    assert_eq!(
        (a.sum_xx.to_bits(), a.sum_yy.to_bits(), a.sum_xy.to_bits(), a.sum_ee.to_bits(), a.max_abs_err.to_bits()),
        (b.sum_xx.to_bits(), b.sum_yy.to_bits(), b.sum_xy.to_bits(), b.sum_ee.to_bits(), b.max_abs_err.to_bits()),
        "{a:?} vs {b:?}"
    );
}

#[wasm_bindgen_test]
fn lecture_example() {
    let q = quant::quantize_minmax(&[0.1, 0.5, 0.9, 1.2], &[4], &QuantSpec::new(8, Scheme::Symmetric, Granularity::PerTensor)).unwrap();
    assert_eq!(q.codes, Codes::I8(vec![11, 53, 95, 127]));
    assert_eq!(q.scales[0], 1.2f32 / 127.0);
}

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    shape: Vec<usize>,
    x: Vec<f32>,
    bits: u8,
    scheme: Scheme,
    full_range: bool,
    granularity: Granularity,
    scales: Vec<f32>,
    zero_points: Vec<i32>,
    q: Vec<i32>,
    dequantized: Vec<f32>,
}

#[wasm_bindgen_test]
fn numpy_reference_vectors() {
    let cases: Vec<Case> = serde_json::from_str(include_str!("fixtures/reference/quant_cases.json")).unwrap();
    assert!(cases.len() >= 10);
    for c in &cases {
        let mut spec = QuantSpec::new(c.bits, c.scheme, c.granularity);
        spec.format.full_range = c.full_range;
        let q = quant::quantize_minmax(&c.x, &c.shape, &spec).unwrap();
        assert_eq!(bits(&q.scales), bits(&c.scales), "{}: scales", c.name);
        assert_eq!(q.zero_points, c.zero_points, "{}: zero points", c.name);
        assert_eq!(q.codes.to_i32(), c.q, "{}: codes", c.name);
        assert_eq!(bits(&q.dequantize()), bits(&c.dequantized), "{}: dequantized", c.name);
    }
}

/// The page's format list and labels through the bindings it calls (quant::format serves them).
#[wasm_bindgen_test]
fn number_formats_and_labels_through_the_bindings() {
    use quant_playground::wasm;
    let list: serde_json::Value = serde_json::from_str(&wasm::number_formats()).unwrap();
    let columns: Vec<&str> =
        list.as_array().unwrap().iter().filter(|f| f["default_column"] == true).map(|f| f["title"].as_str().unwrap()).collect();
    assert_eq!(columns, ["FP32", "FP16", "BF16", "INT8", "INT4"]);
    let d: serde_json::Value = serde_json::from_str(&wasm::describe_format("int3 sym tensor f16-scales full").map_err(|_| "describe").unwrap()).unwrap();
    assert_eq!(d["label"], "int3 sym tensor full f16-scales");
    assert_eq!((d["title"].as_str(), d["family"].as_str(), d["bits_per_weight"].as_f64()), (Some("INT3"), Some("int"), Some(3.0)));
    assert!(wasm::describe_format("int9 sym tensor").is_err());
    let page = r#"{"bits":4,"scheme":"asymmetric","full_range":false,"granularity":"group:32","scale_dtype":"f16"}"#;
    assert_eq!(wasm::format_label(page).map_err(|_| "label").unwrap(), "int4 asym group:32 f16-scales");
    assert!(wasm::format_label(r#"{"bits":4}"#).is_err());
}

/// FP8, MX, NVFP4 and NF4 in the browser build: the numpy references of scripts/make_dtype_fixtures.py
/// code for code, and the page's `format_tensor` row is the CLI's `format_report` row.
#[wasm_bindgen_test]
fn block_formats_match_their_references_and_the_cli_row() {
    use quant_playground::app::report::format_report;
    use quant_playground::quant::{block, NumberFormat};
    use quant_playground::tensor::{DType, TensorInfo};
    use quant_playground::wasm;
    let blocks: serde_json::Value = serde_json::from_str(include_str!("fixtures/dtypes/blocks.json")).unwrap();
    let u32s = |v: &serde_json::Value| v.as_array().unwrap().iter().map(|b| b.as_u64().unwrap() as u32).collect::<Vec<u32>>();
    for case in blocks["edge"].as_array().unwrap() {
        let shape: Vec<usize> = case["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        let x: Vec<f32> = u32s(&case["x"]).into_iter().map(f32::from_bits).collect();
        for (label, want) in case["formats"].as_object().unwrap() {
            let NumberFormat::Block(format) = NumberFormat::parse(label).unwrap() else { panic!("{label}") };
            let q = block::quantize(format, &x, &shape);
            let codes: Vec<u32> = q.codes.iter().map(|&c| c as u32).collect();
            assert_eq!(codes, u32s(&want["codes"]), "{} {label}: codes", case["name"]);
            let values: Vec<u32> = q.values.iter().map(|v| if v.is_nan() { u32::MAX } else { v.to_bits() }).collect();
            let want_values: Vec<u32> =
                u32s(&want["values"]).into_iter().map(|b| if f32::from_bits(b).is_nan() { u32::MAX } else { b }).collect();
            assert_eq!(values, want_values, "{} {label}: values", case["name"]);
        }
    }
    // A [4, 64] ramp through the binding the page calls, against the native row.
    let x: Vec<f32> = (0..256).map(|i| (i as f32 - 100.0) / 37.0).collect();
    let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    for label in ["fp8-e4m3", "mxfp4", "mxfp6-e2m3", "mxint8", "nvfp4", "nf4", "q5_k", "ggml-mxfp4"] {
        // Q5_K needs rows of 256.
        let shape = if label == "q5_k" { vec![1, 256] } else { vec![4, 64] };
        let json = serde_json::to_string(&TensorInfo::raw("w", DType::F32, shape.clone(), 0, 1024)).unwrap();
        let row: serde_json::Value = serde_json::from_str(&wasm::format_tensor(&json, bytes.clone(), label).map_err(|_| label).unwrap()).unwrap();
        let want = format_report("w", DType::F32, &shape, &x, &NumberFormat::parse(label).unwrap()).unwrap();
        let want: serde_json::Value = serde_json::from_str(&serde_json::to_string(&want).unwrap()).unwrap();
        assert_eq!(row, want, "{label}");
    }
}

/// The worker's streamed comparison (ComparisonJob fed chunks of 1, 5 or all 48 rows; the per-tensor
/// block grid cut at every edge) gives compare_tensor's rows exactly, in the browser's SIMD build.
#[wasm_bindgen_test]
fn comparison_job_in_chunks_equals_compare_tensor() {
    use quant_playground::wasm;
    let (rows, cols) = (48usize, 96usize);
    let x = generate(Dist::GaussianOutliers, rows * cols, 1.0, 7);
    let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    let info = format!(
        r#"{{"name":"w","dtype":"F32","shape":[{rows},{cols}],"offset":0,"byte_len":{},"big_endian":false,"fortran_order":false}}"#,
        bytes.len()
    );
    let specs = r#"[{"bits":8,"scheme":"symmetric","granularity":"channel:0"},{"bits":4,"scheme":"asymmetric","granularity":"group:32"},{"bits":8,"scheme":"symmetric","granularity":"tensor"}]"#;
    let whole = wasm::compare_tensor(&info, bytes.clone(), specs).map_err(|_| "compare").unwrap();
    for chunk_rows in [1usize, 5, 48] {
        let mut job = wasm::ComparisonJob::new(&info, specs).map_err(|_| "job").unwrap();
        let chunks: Vec<&[u8]> = bytes.chunks(chunk_rows * cols * 4).collect();
        assert!(job.needs_range_pass());
        for c in &chunks {
            job.feed_range(c).map_err(|_| "range").unwrap();
        }
        job.end_range_pass().map_err(|_| "end").unwrap();
        for c in &chunks {
            job.feed(c).map_err(|_| "feed").unwrap();
        }
        assert_eq!(job.finish().map_err(|_| "finish").unwrap(), whole, "chunks of {chunk_rows} rows");
    }
    // A chunk that is not whole rows is refused.
    let mut job = wasm::ComparisonJob::new(&info, specs).map_err(|_| "job").unwrap();
    assert!(job.feed_range(&bytes[..cols * 4 + 4]).is_err());
}

/// The streamed comparison: a ComparisonJob of one column fed a BF16 tensor in 1 chunk (feed_whole)
/// and in 7 chunks of 8 rows (both reads) gives the same JSON for every family (floats, scaled specs,
/// FP8 / MX / NVFP4 / NF4, a ggml type), and equals the rows format_tensor makes from the whole
/// tensor; the page's job of all columns (www/worker/compare.js: each chunk decoded once, then fed to
/// one column at a time) gives those rows too, in 7 chunks and in 56 (chunk edges at every row: the
/// channels of channel:0); the weight calibration read in 7 chunks equals calibrate_tensor's report.
#[wasm_bindgen_test]
fn a_tensor_in_one_chunk_and_in_seven_gives_the_same_report() {
    use quant_playground::wasm;
    let (rows, cols) = (56usize, 96usize);
    let x = generate(Dist::GaussianOutliers, rows * cols, 1.0, 11);
    let bytes: Vec<u8> = x.iter().flat_map(|v| half::bf16::from_f32(*v).to_bits().to_le_bytes()).collect();
    let info = format!(
        r#"{{"name":"w","dtype":"BF16","shape":[{rows},{cols}],"offset":0,"byte_len":{},"big_endian":false,"fortran_order":false}}"#,
        bytes.len()
    );
    assert_eq!(wasm::tensor_row_reads(&info).map_err(|_| "row reads").unwrap(), [rows as f64, (cols * 2) as f64]);
    let columns = [
        r#""fp32""#,
        r#""fp16""#,
        r#""bf16""#,
        r#"{"bits":8,"scheme":"symmetric","granularity":"channel:0"}"#,
        r#"{"bits":4,"scheme":"asymmetric","granularity":"group:32"}"#,
        r#""int8 sym tensor""#,
        r#""fp8-e4m3""#,
        r#""mxfp4""#,
        r#""nvfp4""#,
        r#""nf4""#,
        r#""q4_0""#,
    ];
    let chunks: Vec<&[u8]> = bytes.chunks(8 * cols * 2).collect();
    assert_eq!(chunks.len(), 7);
    let mut single = Vec::new();
    for column in columns {
        let list = format!("[{column}]");
        let mut one = wasm::ComparisonJob::of_columns(&info, &list).map_err(|_| "job").unwrap();
        one.feed_whole(bytes.clone()).map_err(|_| "whole").unwrap();
        let one = one.finish().map_err(|_| "finish").unwrap();
        let mut seven = wasm::ComparisonJob::of_columns(&info, &list).map_err(|_| "job").unwrap();
        if seven.needs_range_pass() {
            for c in &chunks {
                seven.feed_range(c).map_err(|_| "range").unwrap();
            }
            seven.end_range_pass().map_err(|_| "end").unwrap();
        }
        for c in &chunks {
            seven.feed(c).map_err(|_| "feed").unwrap();
        }
        let seven = seven.finish().map_err(|_| "finish").unwrap();
        assert_eq!(one, seven, "{column}: 1 chunk vs 7");
        single.push(serde_json::from_str::<serde_json::Value>(&one).unwrap()[0].clone());
        // The whole tensor's row by the in-memory entry point, for the columns given as labels.
        if let Ok(label) = serde_json::from_str::<String>(column) {
            let row = wasm::format_tensor(&info, bytes.clone(), &label).map_err(|_| "format").unwrap();
            assert_eq!(format!("[{row}]"), one, "{label}: stream vs format_tensor");
        }
    }
    let all = format!("[{}]", columns.join(","));
    for rows_per_chunk in [8, 1] {
        let mut job = wasm::ComparisonJob::of_columns(&info, &all).map_err(|_| "job").unwrap();
        assert_eq!(job.columns(), columns.len());
        for pass in ["range", "measure"] {
            for c in bytes.chunks(rows_per_chunk * cols * 2) {
                assert_eq!(job.decode(c).map_err(|_| "decode").unwrap(), rows_per_chunk * cols);
                for i in 0..columns.len() {
                    if pass == "measure" {
                        job.feed_column(i).map_err(|_| "feed column").unwrap();
                    } else if job.column_needs_range(i) {
                        job.feed_range_column(i).map_err(|_| "range column").unwrap();
                    }
                }
            }
            if pass == "range" {
                job.end_range_pass().map_err(|_| "end").unwrap();
            }
        }
        assert!(job.feed_column(columns.len()).is_err(), "a column past the last");
        let rows: serde_json::Value = serde_json::from_str(&job.finish().map_err(|_| "finish").unwrap()).unwrap();
        assert_eq!(rows, serde_json::Value::Array(single.clone()), "one job of all columns, chunks of {rows_per_chunk} rows");
    }
    let whole: serde_json::Value =
        serde_json::from_str(&wasm::calibrate_tensor(&info, bytes.clone(), 8, "symmetric", "all", true).map_err(|_| "calibrate").unwrap()).unwrap();
    let mut job = wasm::WeightCalibrationJob::new(&info, 8, "symmetric", "all").map_err(|_| "calibration job").unwrap();
    let mut reads = 0;
    while job.next_pass().map_err(|_| "next pass").unwrap() {
        for c in &chunks {
            job.feed(c).map_err(|_| "calibration feed").unwrap();
        }
        reads += 1;
    }
    assert_eq!(reads, 3);
    let chunked: serde_json::Value = serde_json::from_str(&job.finish(true).map_err(|_| "calibration finish").unwrap()).unwrap();
    assert_eq!(whole, chunked);
}

/// The page's pictures (www/worker/compare.js `explore`): a PicturesJob fed a BF16 tensor whole
/// (feed_whole) and in 7 chunks of 8 rows over each of its reads gives the same JSON, equal to the
/// core's `pictures` on the decoded tensor, for min-max and a histogram method, per channel and per
/// group; a chunk that is not whole rows is refused.
#[wasm_bindgen_test]
fn the_pictures_in_one_chunk_and_in_seven_are_the_same() {
    use quant_playground::app::explore;
    use quant_playground::calib::Method;
    use quant_playground::wasm;
    let (rows, cols) = (56usize, 96usize);
    let x = generate(Dist::GaussianOutliers, rows * cols, 1.0, 12);
    let bytes: Vec<u8> = x.iter().flat_map(|v| half::bf16::from_f32(*v).to_bits().to_le_bytes()).collect();
    let decoded: Vec<f32> = x.iter().map(|v| half::bf16::from_f32(*v).to_f32()).collect();
    let info = format!(
        r#"{{"name":"w","dtype":"BF16","shape":[{rows},{cols}],"offset":0,"byte_len":{},"big_endian":false,"fortran_order":false}}"#,
        bytes.len()
    );
    let chunks: Vec<&[u8]> = bytes.chunks(8 * cols * 2).collect();
    assert_eq!(chunks.len(), 7);
    let per_channel = r#"{"bits":8,"scheme":"symmetric","granularity":"channel:0"}"#;
    let per_group = r#"{"bits":4,"scheme":"asymmetric","granularity":"group:32"}"#;
    for (spec, error_spec, method) in [(per_channel, per_channel, "minmax"), (per_channel, per_group, "percentile"), (per_group, per_channel, "minmax")] {
        let mut one = wasm::PicturesJob::new(&info, spec, error_spec, method, 64).map_err(|_| "job").unwrap();
        one.feed_whole(bytes.clone()).map_err(|_| "whole").unwrap();
        let one = one.finish().map_err(|_| "finish").unwrap();
        let mut seven = wasm::PicturesJob::new(&info, spec, error_spec, method, 64).map_err(|_| "job").unwrap();
        let mut reads = 0;
        while seven.next_read().map_err(|_| "next read").unwrap() {
            for c in &chunks {
                seven.feed(c).map_err(|_| "feed").unwrap();
            }
            reads += 1;
        }
        assert_eq!(reads, 3, "min-max and per-channel / per-group ranges: errors from the second read");
        assert_eq!(one, seven.finish().map_err(|_| "finish").unwrap(), "{spec} / {error_spec} {method}: 1 chunk vs 7");
        let (s, e): (QuantSpec, QuantSpec) = (serde_json::from_str(spec).unwrap(), serde_json::from_str(error_spec).unwrap());
        let core = explore::pictures(&decoded, &[rows, cols], &s, &e, &Method::parse(method).unwrap(), 64).unwrap();
        assert_eq!(one, serde_json::to_string(&core).unwrap(), "the binding is the core's stream");
    }
    let mut job = wasm::PicturesJob::new(&info, per_channel, per_channel, "minmax", 64).map_err(|_| "job").unwrap();
    assert!(job.next_read().map_err(|_| "next read").unwrap());
    assert!(job.feed(&bytes[..cols * 2 + 2]).is_err(), "not whole rows");
}

/// The page's streamed calibrated columns (CalibratedColumnJob, as www/worker/compare.js drives it)
/// fed a BF16 [6, 12] tensor in 1, 2 and 6 chunks of rows give quantize_tensor_calibrated's row on the
/// whole tensor exactly, for every calibration method. Small, and one test per granularity, since each
/// slot searches the default 2048-bin histogram in a debug build (a test holds the page's thread).
fn calibrated_column_in_chunks_equals_the_whole_tensor_quantized(spec: &str) {
    use quant_playground::wasm;
    let (rows, cols) = (6usize, 12usize);
    let x = generate(Dist::GaussianOutliers, rows * cols, 1.0, 23);
    let bytes: Vec<u8> = x.iter().flat_map(|v| half::bf16::from_f32(*v).to_bits().to_le_bytes()).collect();
    let info = format!(
        r#"{{"name":"w","dtype":"BF16","shape":[{rows},{cols}],"offset":0,"byte_len":{},"big_endian":false,"fortran_order":false}}"#,
        bytes.len()
    );
    for method in quant_playground::calib::Method::every() {
        let label = method.label();
        let whole = wasm::quantize_tensor_calibrated(&info, bytes.clone(), spec, &label).map_err(|_| "whole").unwrap();
        for chunk_rows in [6usize, 4, 1] {
            let mut job = wasm::CalibratedColumnJob::new(&info, spec, &label).map_err(|_| "job").unwrap();
            let mut reads = 0;
            while !job.next_pass().map_err(|_| "pass").unwrap().is_empty() {
                reads += 1;
                for c in bytes.chunks(chunk_rows * cols * 2) {
                    job.feed(c).map_err(|_| "feed").unwrap();
                }
            }
            assert!((2..=3).contains(&reads), "{spec} {label}: {reads} reads");
            assert_eq!(job.finish().map_err(|_| "finish").unwrap(), whole, "{spec} {label}, chunks of {chunk_rows} rows");
        }
    }
}

#[wasm_bindgen_test]
fn a_calibrated_column_per_tensor_in_chunks_equals_the_whole_tensor() {
    calibrated_column_in_chunks_equals_the_whole_tensor_quantized(r#"{"bits":8,"scheme":"symmetric","granularity":"tensor"}"#);
}

/// Channels along the second axis interleave: a range read, then the histograms.
#[wasm_bindgen_test]
fn a_calibrated_column_per_second_axis_channel_in_chunks_equals_the_whole_tensor() {
    calibrated_column_in_chunks_equals_the_whole_tensor_quantized(r#"{"bits":4,"scheme":"asymmetric","granularity":"channel:1"}"#);
}

/// Groups of 8 in rows of 12 (a short last group of 4): one read, a cut group buffered.
#[wasm_bindgen_test]
fn a_calibrated_column_per_group_in_chunks_equals_the_whole_tensor() {
    calibrated_column_in_chunks_equals_the_whole_tensor_quantized(r#"{"bits":4,"scheme":"symmetric","granularity":"group:8"}"#);
}
