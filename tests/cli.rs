//! The CLI end to end: it reads the numpy/safetensors fixtures, its --dump output holds numpy's
//! reference integers, its --json report is the page's schema, and bad input exits non-zero with a
//! message naming the file.
// Native only: wasm-pack builds every test target for wasm32; the browser tests are in tests/wasm.rs.
#![cfg(not(target_arch = "wasm32"))]

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

fn cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_quant-playground")).args(args).output().expect("the CLI runs");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

fn fixture(rel: &str) -> String {
    format!("{}/tests/fixtures/{rel}", env!("CARGO_MANIFEST_DIR"))
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("qp-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn reference_case(name: &str) -> Value {
    let cases: Value = serde_json::from_str(include_str!("fixtures/reference/quant_cases.json")).unwrap();
    cases.as_array().unwrap().iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("case {name}")).clone()
}

/// Reads a dumped .npy back with the crate's own reader (the fixture tests prove it against numpy).
fn read_npy(path: &PathBuf) -> (Vec<usize>, Vec<u8>, String) {
    let bytes = std::fs::read(path).unwrap();
    let idx = quant_playground::formats::parse_index(path.to_str().unwrap(), &bytes, bytes.len() as u64).unwrap();
    let t = &idx.tensors[0];
    (t.shape.clone(), bytes[t.offset as usize..].to_vec(), t.dtype.name().to_string())
}

#[test]
fn inspect_json_lists_every_tensor() {
    let (code, out, _) = cli(&["inspect", &fixture("small.safetensors"), "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["format"], "safetensors");
    let tensors = v["tensors"].as_array().unwrap();
    let w = tensors.iter().find(|t| t["name"] == "weight_f32").unwrap();
    assert_eq!((w["dtype"].as_str(), w["shape"].clone(), w["bytes"].as_u64()), (Some("F32"), serde_json::json!([16, 32]), Some(2048)));
    let ints = tensors.iter().find(|t| t["dtype"] == "I64").unwrap();
    assert_eq!(ints["quantizable"], false);
}

#[test]
fn dump_holds_numpys_integers_for_every_format_of_the_shared_tensor() {
    for (file, tensor) in [("small.safetensors", "shared_f32"), ("npy/shared_f32.npy", "shared_f32"), ("npy/shared_fortran.npy", "shared_fortran")] {
        for (case, args) in [
            ("shared_int8_sym_channel0", ["--bits", "8", "--scheme", "sym", "--granularity", "channel"]),
            ("shared_int4_asym_group8", ["--bits", "4", "--scheme", "asym", "--granularity", "group:8"]),
        ] {
            let want = reference_case(case);
            let dir = temp_dir(case);
            let f = fixture(file);
            let mut a = vec!["quantize", &f, "--tensor", tensor, "--dump", dir.to_str().unwrap()];
            a.extend_from_slice(&args);
            let (code, _, err) = cli(&a);
            assert_eq!(code, 0, "{err}");
            let (shape, q, dtype) = read_npy(&dir.join(format!("{tensor}.q.npy")));
            assert_eq!(shape, vec![6, 10]);
            let codes: Vec<i64> = if dtype == "I8" { q.iter().map(|&b| b as i8 as i64).collect() } else { q.iter().map(|&b| b as i64).collect() };
            let want_q: Vec<i64> = want["q"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
            assert_eq!(codes, want_q, "{file} {case}");
            let (_, s, _) = read_npy(&dir.join(format!("{tensor}.scale.npy")));
            let scales: Vec<f32> = s.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
            let want_s: Vec<f32> = want["scales"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
            assert_eq!(scales, want_s, "{file} {case}");
            let (zshape, z, _) = read_npy(&dir.join(format!("{tensor}.zero_point.npy")));
            assert_eq!(zshape, if case.contains("group8") { vec![6, 2] } else { vec![6] });
            let zps: Vec<i64> = z.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap()) as i64).collect();
            let want_z: Vec<i64> = want["zero_points"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
            assert_eq!(zps, want_z);
            // .dq.npy is numpy's (q − zp) · scale, bit for bit.
            let (dshape, d, ddtype) = read_npy(&dir.join(format!("{tensor}.dq.npy")));
            assert_eq!((dshape, ddtype.as_str()), (vec![6, 10], "F32"));
            let dq: Vec<u32> = d.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect();
            let want_dq: Vec<u32> = want["dequantized"].as_array().unwrap().iter().map(|v| (v.as_f64().unwrap() as f32).to_bits()).collect();
            assert_eq!(dq, want_dq, "{file} {case}");
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

#[test]
fn quantize_json_reports_every_float_tensor_and_skips_integers() {
    let (code, out, _) = cli(&["quantize", &fixture("small.safetensors"), "--bits", "4", "--scheme", "sym", "--granularity", "group:16", "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    let rows = v["tensors"].as_array().unwrap();
    assert!(rows.iter().all(|r| r["dtype"] != "I64"));
    assert!(v["skipped"].as_array().unwrap().iter().any(|s| s["dtype"] == "I64"));
    let w = rows.iter().find(|r| r["name"] == "weight_f32").unwrap();
    // 512 values × 4 bits = 256 bytes + 32 groups × 4-byte scales = 384 bytes → 6 bits per weight.
    assert_eq!(w["bytes_quantized"], 384);
    assert_eq!(w["bits_per_weight"], 6.0);
    assert_eq!(w["config"], "int4 sym group:16");
    assert_eq!(w["scales"]["count"], 32);
    let empty = rows.iter().find(|r| r["elements"] == 0).unwrap();
    assert_eq!(empty["sqnr_db"], "inf");
}

#[test]
fn bad_input_exits_non_zero_with_a_message_naming_the_file() {
    let dir = temp_dir("bad");
    std::fs::create_dir_all(&dir).unwrap();
    let lying = dir.join("lying.safetensors");
    let mut bytes = 500u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{\"a\":1}");
    std::fs::write(&lying, &bytes).unwrap();
    let empty = dir.join("empty.npy");
    std::fs::write(&empty, b"").unwrap();
    for (path, needle) in [(lying.to_str().unwrap(), "past the end"), (empty.to_str().unwrap(), "empty")] {
        let (code, out, err) = cli(&["quantize", path, "--bits", "8"]);
        assert_eq!(code, 1, "{out}{err}");
        assert!(err.contains(path) && err.contains(needle), "{err}");
    }
    let (code, _, err) = cli(&["quantize", &fixture("small.safetensors"), "--tensor", "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("no tensor named 'nope'"), "{err}");
    let (code, _, err) = cli(&["quantize", &fixture("small.safetensors"), "--bits", "9"]);
    assert_eq!(code, 1);
    assert!(err.contains("bits must be 2..=8"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn calibrate_compares_methods_and_quantize_uses_the_chosen_one() {
    // Gaussian with 0.1% outliers at 20σ (written by scripts/make_calib_reference.py with numpy).
    let file = fixture("reference/calib_gaussian_outliers.npy");
    let (code, out, err) = cli(&["calibrate", &file, "--method", "all", "--bits", "8", "--scheme", "asym", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let rows = v["methods"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["method"].as_str().unwrap()).collect();
    assert_eq!(names, ["minmax", "percentile:99.99", "mse", "entropy", "entropy:trt"]);
    // minmax is the data's exact range: compare with the values read back by the crate.
    let bytes = std::fs::read(&file).unwrap();
    let idx = quant_playground::formats::parse_index(&file, &bytes, bytes.len() as u64).unwrap();
    let x = quant_playground::tensor::decode_to_f32(&idx.tensors[0], &bytes[idx.tensors[0].offset as usize..]).unwrap();
    let (lo, hi) = x.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    assert_eq!(rows[0]["range"], serde_json::json!([lo, hi]));
    let mse = |name: &str| rows.iter().find(|r| r["method"] == name).unwrap()["mse"].as_f64().unwrap();
    // On heavy-tailed data the MSE search beats min-max: that is what it is for.
    assert!(mse("mse") < mse("minmax"), "{out}");
    // Every clipping method clips inside the min-max range.
    for r in rows {
        let (a, b) = (r["range"][0].as_f64().unwrap(), r["range"][1].as_f64().unwrap());
        assert!(a >= lo as f64 && b <= hi as f64, "{r}");
    }
    // quantize --calib mse reports the same error per tensor as calibrate measured.
    let (code, out, err) = cli(&["quantize", &file, "--bits", "8", "--scheme", "asym", "--calib", "mse", "--json"]);
    assert_eq!(code, 0, "{err}");
    let q: Value = serde_json::from_str(&out).unwrap();
    let row = &q["tensors"][0];
    assert_eq!(row["calibration"], "mse");
    assert!((row["mse"].as_f64().unwrap() - mse("mse")).abs() <= 1e-12 * mse("mse").max(1e-30), "{row} vs {}", mse("mse"));
    let (code, _, err) = cli(&["quantize", &file, "--calib", "kl"]);
    assert_eq!(code, 1);
    assert!(err.contains("calibration method 'kl'"), "{err}");
}

#[test]
fn synth_writes_the_same_activations_for_the_same_seed() {
    let dir = temp_dir("synth");
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("a.safetensors"), dir.join("b.safetensors"));
    for p in [&a, &b] {
        let (code, out, err) = cli(&["synth", "--dist", "llm-like", "--rows", "8", "--seed", "1234", "-o", p.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("seed 1234"), "{out}");
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    // The library gives the same bytes the page's wasm function wraps.
    let lib = quant_playground::app::synthetic::activations_safetensors(quant_playground::app::synthetic::Dist::LlmLike, 8, 1234);
    assert_eq!(std::fs::read(&a).unwrap(), lib);
    let (code, _, err) = cli(&["synth", "--dist", "cauchy", "-o", a.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("distribution 'cauchy'"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn formats_lists_the_served_formats_and_describes_a_label() {
    let (code, out, _) = cli(&["formats", "--json"]);
    assert_eq!(code, 0);
    let list: Value = serde_json::from_str(&out).unwrap();
    let labels: Vec<&str> = list.as_array().unwrap().iter().map(|f| f["label"].as_str().unwrap()).collect();
    assert_eq!(&labels[..5], ["fp32", "fp16", "bf16", "int8 sym channel:0", "int4 asym group:32"]);
    assert!(labels.contains(&"q4_k"));
    let (code, out, _) = cli(&["formats", "int8 sym tensor f16-scales full", "--json"]);
    assert_eq!(code, 0);
    let d: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(d[0]["label"], "int8 sym tensor full f16-scales");
    let (code, _, err) = cli(&["formats", "int4 asym tensor full"]);
    assert_ne!(code, 0);
    assert!(err.contains("'full' range applies to sym only"), "{err}");
}

#[test]
fn quantize_type_dumps_codes_scales_and_dequantized_values_of_a_block_format() {
    use quant_playground::app::report::format_report;
    use quant_playground::quant::{block, NumberFormat};
    // digits-mlp fc1.weight is [256, 64]: MXFP4 has 2 blocks of 32 per row, NVFP4 4 of 16, NF4 256 of 64.
    let file = format!("{}/www/examples/digits-mlp.safetensors", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&file).unwrap();
    let index = quant_playground::formats::parse_index(&file, &bytes, bytes.len() as u64).unwrap();
    let info = index.tensor("fc1.weight").unwrap();
    let start = info.offset as usize;
    let x = quant_playground::tensor::decode_to_f32(info, &bytes[start..start + info.byte_len as usize]).unwrap();
    for (label, scale_shape, scale_dtype) in [("mxfp4", vec![256, 2], "U8"), ("nvfp4", vec![256, 4], "U8"), ("nf4", vec![256], "F32"), ("fp8-e4m3", vec![], "F32")] {
        let dir = temp_dir(label);
        let (code, out, err) = cli(&["quantize", &file, "--tensor", "fc1.weight", "--type", label, "--json", "--dump", dir.to_str().unwrap()]);
        assert_eq!(code, 0, "{label}: {err}");
        let report: Value = serde_json::from_str(&out).unwrap();
        let row = &report["tensors"][0];
        let want = format_report("fc1.weight", info.dtype, &info.shape, &x, &NumberFormat::parse(label).unwrap()).unwrap();
        // Through the same text → f64 parse as the CLI's output.
        let want: Value = serde_json::from_str(&serde_json::to_string(&want).unwrap()).unwrap();
        assert_eq!(row, &want, "{label}");
        let NumberFormat::Block(format) = NumberFormat::parse(label).unwrap() else { panic!("{label}") };
        let q = block::quantize(format, &x, &info.shape);
        let (shape, codes, dtype) = read_npy(&dir.join("fc1.weight.q.npy"));
        assert_eq!((shape, dtype.as_str(), codes), (vec![256, 64], "U8", q.codes.clone()), "{label}");
        let (shape, _, dtype) = read_npy(&dir.join("fc1.weight.scale.npy"));
        assert_eq!((shape, dtype.as_str()), (scale_shape, scale_dtype), "{label}");
        let (shape, d, dtype) = read_npy(&dir.join("fc1.weight.dq.npy"));
        assert_eq!((shape, dtype.as_str()), (vec![256, 64], "F32"));
        let dq: Vec<f32> = d.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        assert_eq!(dq, q.values, "{label}");
        assert_eq!(dir.join("fc1.weight.tensor_scale.npy").exists(), label == "nvfp4");
        let _ = std::fs::remove_dir_all(&dir);
    }
    let (code, _, err) = cli(&["quantize", &file, "--type", "fp8"]);
    assert_ne!(code, 0);
    assert!(err.contains("'fp8' is not a number format"), "{err}");
}

#[test]
fn compare_adds_a_row_per_format() {
    let file = format!("{}/www/examples/digits-mlp.safetensors", env!("CARGO_MANIFEST_DIR"));
    let (code, out, err) = cli(&["compare", &file, "--tensor", "fc1.weight", "--format", "mxfp4", "--format", "nf4", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let rows: Vec<(&str, f64)> =
        v["tensors"].as_array().unwrap().iter().map(|r| (r["config"].as_str().unwrap(), r["bits_per_weight"].as_f64().unwrap())).collect();
    assert_eq!(rows[5..], [("mxfp4", 4.25), ("nf4", 4.5)]);
}

#[test]
fn convert_writes_every_listed_tensor_as_onnxruntime_dequantizes_it() {
    let dir = temp_dir("convert");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("qdq.safetensors");
    let src = fixture("quantized/qdq_per_channel.onnx");
    let (code, stdout, stderr) = cli(&["convert", &src, "-o", out.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let (_, listed, _) = cli(&["inspect", &src, "--json"]);
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let names = |v: &Value| -> Vec<String> { v.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect() };
    assert_eq!(names(&report["convert"]["tensors"]), names(&listed["tensors"]), "convert writes what inspect lists");
    // Read back with the crate's safetensors reader: F32, and onnxruntime's values bit for bit.
    let bytes = std::fs::read(&out).unwrap();
    let index = quant_playground::formats::parse_index("qdq.safetensors", &bytes, bytes.len() as u64).unwrap();
    let w = index.tensor("fc.weight_quantized").unwrap();
    assert_eq!((w.dtype.name(), w.shape.clone()), ("F32", vec![64, 16]));
    let got: Vec<u8> = bytes[w.offset as usize..(w.offset + w.byte_len) as usize].to_vec();
    let want = std::fs::read(fixture("quantized/expected/qdq_per_channel.onnx.fc.weight_quantized.f32")).unwrap();
    assert_eq!(got, want);
    let zp = index.tensor("fc.weight_zero_point").unwrap();
    assert_eq!(zp.dtype.name(), "I8", "a parameter keeps its dtype");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn lesson_sections_print_their_numbers_and_refuse_bad_input() {
    // The lecture's example: scale 1.2/127, codes [11, 53, 95, 127] (0.9 / scale = 95.25 → 95).
    let (code, out, _) = cli(&["lesson", "formula", "--json"]);
    assert_eq!(code, 0);
    let f: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(f["codes"], serde_json::json!([11, 53, 95, 127]));
    assert_eq!(f["scale"].as_f64().unwrap() as f32, 1.2f32 / 127.0);
    assert_eq!(f["steps"][2]["divided"].as_f64().unwrap() as f32, 0.9f32 / (1.2f32 / 127.0));

    let (code, out, _) = cli(&["lesson", "types", "--value", "-2", "--json"]);
    assert_eq!(code, 0);
    let t: Value = serde_json::from_str(&out).unwrap();
    // −2 in FP32: sign 1, exponent 128 (bias 127 + 1), mantissa 0.
    assert_eq!(t["types"][0]["fields"][1]["bits"], "10000000");
    assert_eq!(t["types"][5]["label"], "int8");
    assert_eq!(t["types"][5]["code"], -127); // clipped to −qmax at range ±1
    assert_eq!(t["types"][5]["class"], "clipped");

    let (code, out, _) = cli(&["lesson", "schemes", "--json"]);
    assert_eq!(code, 0);
    let s: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(s["grids"][0]["wasted_codes"], 127);
    assert_eq!(s["grids"][1]["wasted_codes"], 0);

    let (code, out, _) = cli(&["lesson", "granularity", "--json"]);
    assert_eq!(code, 0);
    let g: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((g["rows"].as_u64(), g["cols"].as_u64()), (Some(256), Some(64)));
    let scales: Vec<usize> = g["maps"].as_array().unwrap().iter().map(|m| m["scales"].as_array().unwrap().len()).collect();
    assert_eq!(scales, [1, 256, 256 * 64 / 16]);

    let (code, _, err) = cli(&["lesson", "formula", "--values", "0.1,zero"]);
    assert_eq!(code, 1);
    assert!(err.contains("--values: 'zero' is not a number"), "{err}");
    let (code, _, err) = cli(&["lesson", "granularity", "--layer", "fc9"]);
    assert_eq!(code, 1);
    assert!(err.contains("no layer 'fc9' (there are fc1, fc2, fc3)"), "{err}");
    let (code, _, err) = cli(&["lesson", "calibration", "--threshold", "-1"]);
    assert_eq!(code, 1);
    assert!(err.contains("clipping threshold must be a positive number"), "{err}");
}

/// `lesson hardware`: every speed-panel kernel's y on the digits model's fc2.weight and the seeded x, as
/// the checksums the walk-through's section 7 must equal; FP32's y against the f64 product of the same W and x.
#[test]
fn lesson_hardware_prints_each_kernels_checksum() {
    let (code, out, _) = cli(&["lesson", "hardware", "--m", "2", "--seed", "42", "--json"]);
    assert_eq!(code, 0);
    let h: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((h["n"].as_u64(), h["k"].as_u64(), h["m"].as_u64()), (Some(128), Some(256), Some(2)));
    let kernels = h["kernels"].as_array().unwrap();
    let names: Vec<&str> = kernels.iter().map(|r| r["kernel"].as_str().unwrap()).collect();
    assert_eq!(names, ["fp32", "int8", "int4", "mxfp4", "nf4"]);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/www/examples/digits-mlp.safetensors");
    let mlp = quant_playground::app::example::Mlp::from_safetensors_bytes("digits", &std::fs::read(path).unwrap()).unwrap();
    let w = &mlp.layers.iter().find(|l| l.name == "fc2").unwrap().weight;
    let x = quant_playground::app::explore::gaussian_activations(2, 256, 42);
    for (j, y) in kernels[0]["head"].as_array().unwrap().iter().enumerate() {
        let want: f64 = (0..256).map(|i| w[j * 256 + i] as f64 * x[i] as f64).sum();
        assert!((y.as_f64().unwrap() - want).abs() < 1e-5 * want.abs().max(1.0), "y[0, {j}] = {y} vs {want}");
    }
    for r in kernels {
        let c = r["checksum"].as_str().unwrap();
        assert!(c.len() == 16 && c.chars().all(|ch| ch.is_ascii_hexdigit()), "{c}");
    }
    let (code, _, err) = cli(&["lesson", "hardware", "--tensor", "fc9.weight"]);
    assert_eq!(code, 1);
    assert!(err.contains("no tensor 'fc9.weight' (the layers' weights are fc1.weight, fc2.weight, fc3.weight)"), "{err}");
}

#[test]
fn ptq_blame_refuses_what_it_cannot_measure_with_a_clear_message() {
    // --blame measures static QDQ one layer at a time (its values: tests/e2e/ptq.test.mjs, page = CLI).
    let model = fixture("export/mlp.onnx");
    let dir = temp_dir("ptq-blame");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("q.onnx");
    let out = out.to_str().unwrap();
    let (code, _, err) = cli(&["ptq", &model, "--dynamic", "--blame", "--eval-data", "e.npz", "--eval-output", "y", "-o", out]);
    assert_ne!(code, 0);
    assert!(err.contains("--blame measures static QDQ"), "{err}");
    let (code, _, err) = cli(&["ptq", &model, "--blame", "-o", out]);
    assert_ne!(code, 0);
    assert!(err.contains("--eval-data") && err.contains("--eval-output"), "{err}");
    // Ranges from a file, so no engine runs before the evaluation inputs are read: a missing file is named.
    let ranges = dir.join("ranges.json");
    std::fs::write(&ranges, r#"{"method":"minmax","batches":1,"ranges":{}}"#).unwrap();
    let missing = dir.join("no-such-eval.npz");
    let (code, _, err) = cli(&["ptq", &model, "--ranges", ranges.to_str().unwrap(), "--blame", "--eval-data", missing.to_str().unwrap(), "--eval-output", "y", "-o", out]);
    assert_ne!(code, 0);
    assert!(err.contains("no-such-eval.npz"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
