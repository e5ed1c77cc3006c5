//! `diff FLOAT QUANTIZED`: theirs against ours on real pairs. Their figures are checked against the
//! values the quantizing library itself reads back (onnxruntime's own DequantizeLinear /
//! MatMulNBits output in tests/fixtures/quantized/expected, made by make_quantized_fixtures.py;
//! gguf-py's dequantize in tests/fixtures/diff/expected.json, made by make_diff_fixtures.py),
//! measured here in f64; ours is checked where it must equal theirs (the same rule: onnxruntime's
//! symmetric / asymmetric INT8, our own GGUF export), and the matches by name and by fingerprint.
// Native only: wasm-pack builds every test target for wasm32.
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
    let d = std::env::temp_dir().join(format!("qp-diff-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn diff_json(float: &str, quantized: &str) -> Value {
    let (code, out, err) = cli(&["diff", float, quantized, "--json"]);
    assert_eq!(code, 0, "diff {float} {quantized}: {err}");
    serde_json::from_str(&out).unwrap()
}

fn f32_file(path: &str) -> Vec<f32> {
    std::fs::read(path).unwrap().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// (sqnr dB, cosine, max |err|, mse) of x̂ against x, in f64 element by element.
fn figures(x: &[f32], y: &[f32]) -> (f64, f64, f64, f64) {
    assert_eq!(x.len(), y.len());
    let (mut xx, mut yy, mut xy, mut ee, mut max) = (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f32);
    for (&a, &b) in x.iter().zip(y) {
        let (a64, b64) = (a as f64, b as f64);
        xx += a64 * a64;
        yy += b64 * b64;
        xy += a64 * b64;
        ee += (a64 - b64) * (a64 - b64);
        max = max.max((a - b).abs());
    }
    (10.0 * (xx / ee).log10(), xy / (xx.sqrt() * yy.sqrt()), max as f64, ee / x.len() as f64)
}

fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) if s == "inf" => f64::INFINITY,
        Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        _ => v.as_f64().unwrap_or_else(|| panic!("a number: {v}")),
    }
}

fn close(what: &str, got: f64, want: f64, rel: f64) {
    if got == want {
        return; // also two equal infinities
    }
    assert!((got - want).abs() <= rel * want.abs().max(1e-30), "{what}: {got} where {want} is expected");
}

fn row<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["tensors"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap_or_else(|| panic!("no row {name} in {report}"))
}

/// Their figures of one row against the values the quantizing library read back.
fn check_theirs(report: &Value, name: &str, float_values: &[f32], their_values: &[f32]) {
    let (sqnr, cosine, max, mse) = figures(float_values, their_values);
    let t = &row(report, name)["theirs"];
    // Our sums add f32 lane partials (kernels::error_sums_f32), f64 across blocks: a few ulps of f32 apart.
    close(&format!("{name} sqnr"), num(&t["sqnr_db"]), sqnr, 1e-6);
    close(&format!("{name} cosine"), num(&t["cosine"]), cosine, 1e-6);
    close(&format!("{name} mse"), num(&t["mse"]), mse, 1e-5);
    // |x − x̂| is one f32 rounding either way: exact.
    assert_eq!(num(&t["max_abs_err"]), max, "{name} max abs");
}

#[test]
fn onnxruntime_quantizations_against_the_float_model() {
    let exp = |f: &str| f32_file(&fixture(&format!("quantized/expected/{f}.f32")));
    let float = fixture("quantized/float.onnx");
    for (file, codes) in [
        ("qdq_per_tensor.onnx", "_quantized"),
        ("qdq_per_channel.onnx", "_quantized"),
        ("qoperator.onnx", "_quantized"),
        ("dynamic.onnx", "_quantized"),
        ("nbits4.onnx", "_Q4"),
        ("nbits4_sym.onnx", "_Q4"),
        ("nbits2.onnx", "_Q2"),
        ("nbits4_qdq.onnx", "_DQ_Q4"),
    ] {
        let report = diff_json(&float, &fixture(&format!("quantized/{file}")));
        assert_eq!(report["summary"]["matched"], 4, "{file}: {report}");
        assert!(report["unmatched"].as_array().unwrap().is_empty(), "{file}");
        let weights = if file.starts_with("nbits") { vec!["fc.weight"] } else { vec!["fc.weight", "conv.weight"] };
        for w in &weights {
            let r = row(&report, w);
            assert_eq!(r["quantized_name"], format!("{w}{codes}"), "{file}");
            assert_eq!(r["matched_by"], "renamed_name", "{file} {w}");
            // Even 2-bit codes (4 levels, many ties) keep the rank order above the fingerprint threshold.
            assert!(num(&r["fingerprint_score"]) >= 0.9, "{file} {w}: {r}");
            check_theirs(&report, w, &exp(&format!("float.onnx.{w}")), &exp(&format!("{file}.{w}{codes}")));
        }
        // Worst first.
        let sqnr: Vec<f64> = report["tensors"].as_array().unwrap().iter().map(|t| num(&t["sqnr_db"])).collect();
        assert!(sqnr.windows(2).all(|w| w[0] <= w[1]), "{file}: {sqnr:?}");
    }
}

#[test]
fn ours_equals_onnxruntime_where_the_rules_are_the_same() {
    // onnxruntime's symmetric INT8 weights (QInt8) are min-max, −127..127 with scale amax/127: the
    // numerics contract, so ours lands on the same values and the same figures.
    for (file, tensors, format) in [
        ("qdq_per_channel.onnx", ["fc.weight", "conv.weight"], ["int8 sym channel:1", "int8 sym channel:0"]),
        ("qdq_per_tensor.onnx", ["fc.weight", "conv.weight"], ["int8 sym tensor", "int8 sym tensor"]),
    ] {
        let report = diff_json(&fixture("quantized/float.onnx"), &fixture(&format!("quantized/{file}")));
        for (t, f) in tensors.iter().zip(format) {
            let r = row(&report, t);
            assert_eq!(r["ours"]["format"], f, "{file} {t}");
            for key in ["sqnr_db", "cosine", "max_abs_err", "mse"] {
                assert_eq!(r["ours"][key], r["theirs"][key], "{file} {t} {key}");
            }
        }
    }
    // Asymmetric UINT8 (quantize_dynamic): onnxruntime subtracts the range in float64
    // (quant_utils.py compute_scale_zp: dr = float64(rmax) − float64(rmin)), the contract in f32, so
    // fc.weight's scale differs in its last bits and the figures agree to about 1e-7, not exactly.
    let report = diff_json(&fixture("quantized/float.onnx"), &fixture("quantized/dynamic.onnx"));
    for t in ["fc.weight", "conv.weight"] {
        let r = row(&report, t);
        assert_eq!(r["ours"]["format"], "int8 asym tensor");
        close(&format!("dynamic {t} ours"), num(&r["ours"]["sqnr_db"]), num(&r["theirs"]["sqnr_db"]), 1e-6);
    }
    // Their stored bytes: codes + the scale and zero-point tensors listed with them. fc.weight
    // per channel (axis 1): 1024 int8 codes + 16 f32 scales + 16 int8 zero points = 1104 bytes;
    // ours stores no zero points when symmetric: 1088.
    let report = diff_json(&fixture("quantized/float.onnx"), &fixture("quantized/qdq_per_channel.onnx"));
    let r = row(&report, "fc.weight");
    assert_eq!(r["theirs"]["bytes"], 1104);
    assert_eq!(r["ours"]["bytes"], 1088);
    assert_eq!(num(&r["theirs"]["bits_per_weight"]), 1104.0 * 8.0 / 1024.0);
    // MatMulNBits 4-bit, blocks of 32 along K of [64, 16]: 512 code bytes + [16, 2] f32 scales +
    // [16, 1] packed zero points = 656 bytes; ours (int4 asym group:32 after moving K last) the same layout.
    let report = diff_json(&fixture("quantized/float.onnx"), &fixture("quantized/nbits4.onnx"));
    let r = row(&report, "fc.weight");
    assert_eq!(r["theirs"]["bytes"], 656);
    assert_eq!(r["ours"]["format"], "int4 asym group:32");
    assert!(r["ours_note"].as_str().unwrap().contains("axis 0 moved last"), "{r}");
    // The int32 biases have no 2..8-bit counterpart: theirs only, and the summary compares the rest.
    let report = diff_json(&fixture("quantized/float.onnx"), &fixture("quantized/qoperator.onnx"));
    let bias = row(&report, "conv.bias");
    assert!(bias["ours"].is_null() && bias["ours_note"].as_str().unwrap().contains("32-bit"), "{bias}");
    assert_eq!(report["summary"]["theirs"]["tensors"], 3);
    assert_eq!(report["summary"]["theirs_all"]["tensors"], 4);
}

#[test]
fn our_own_gguf_export_equals_ours_and_pools_by_element() {
    let dir = temp_dir("gguf");
    let float = format!("{}/www/examples/digits-mlp.safetensors", env!("CARGO_MANIFEST_DIR"));
    let gguf = dir.join("digits-q4_k.gguf");
    let (code, _, err) = cli(&["export", &float, "--to", "gguf:Q4_K", "-o", gguf.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let report = diff_json(&float, gguf.to_str().unwrap());
    assert_eq!(report["summary"]["matched"], 6);
    assert_eq!(report["summary"]["by_name"], 6);
    // fc2.weight [128, 256] is Q4_K; fc1 [256, 64] and fc3 [10, 128] rows are not whole 256-blocks,
    // so llama.cpp's fallback (and our export) writes Q5_0. Ours runs ggml's reference quantizer
    // of the same type: the same values.
    for (t, ty) in [("fc2.weight", "Q4_K"), ("fc1.weight", "Q5_0"), ("fc3.weight", "Q5_0")] {
        let r = row(&report, t);
        assert_eq!(r["quantized_dtype"], ty);
        assert_eq!(r["ours"]["format"], ty.to_ascii_lowercase());
        for key in ["sqnr_db", "cosine", "max_abs_err", "mse", "bytes"] {
            assert_eq!(r["ours"][key], r["theirs"][key], "{t} {key}");
        }
    }
    // The biases stay F32: exact, and outside the compared summary.
    let b = row(&report, "fc1.bias");
    assert_eq!(b["sqnr_db"], "inf");
    assert!(b["ours"].is_null());
    // Pooled over elements: Σ over tensors of the per-tensor sums. Rebuild Σe² from each row's mse
    // and Σx² from its SQNR: the pooled SQNR must be their ratio.
    let s = &report["summary"]["theirs"];
    assert!(s.is_object(), "{}", report["summary"]);
    let (mut xx, mut ee, mut n) = (0.0, 0.0, 0.0);
    for t in ["fc1.weight", "fc2.weight", "fc3.weight"] {
        let r = row(&report, t);
        let e = num(&r["theirs"]["mse"]) * num(&r["elements"]);
        ee += e;
        xx += e * 10f64.powf(num(&r["theirs"]["sqnr_db"]) / 10.0);
        n += num(&r["elements"]);
    }
    assert_eq!(num(&s["elements"]), n);
    close("pooled sqnr", num(&s["sqnr_db"]), 10.0 * (xx / ee).log10(), 1e-9);
    let bytes: f64 = ["fc1.weight", "fc2.weight", "fc3.weight"].iter().map(|t| num(&row(&report, t)["theirs"]["bytes"])).sum();
    assert_eq!(num(&s["bits_per_weight"]), bytes * 8.0 / n);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_gguf_written_and_renamed_by_gguf_py_is_matched_by_fingerprint() {
    // tests/fixtures/diff/digits_ggufpy.gguf: the digits MLP written by gguf-py's GGUFWriter under
    // llama.cpp-style names, weights quantized by gguf-py (Q8_0, Q4_0), fc3.weight stored
    // transposed as F16; expected.json holds numpy's figures against gguf-py's own dequantize.
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(fixture("diff/expected.json")).unwrap()).unwrap();
    let float = format!("{}/www/examples/digits-mlp.safetensors", env!("CARGO_MANIFEST_DIR"));
    let report = diff_json(&float, &fixture("diff/digits_ggufpy.gguf"));
    let pairs = expected["digits_ggufpy.gguf"].as_object().unwrap();
    assert_eq!(report["summary"]["matched"], pairs.len());
    assert_eq!(report["summary"]["by_fingerprint"], pairs.len(), "{}", report["summary"]);
    for (name, want) in pairs {
        let r = row(&report, name);
        assert_eq!(r["quantized_name"], want["quantized_name"], "{name}");
        assert_eq!(r["matched_by"], "fingerprint");
        assert_eq!(r["transposed"], want["transposed"], "{name}");
        assert_eq!(r["quantized_dtype"], want["dtype"], "{name}");
        close(&format!("{name} fingerprint"), num(&r["fingerprint_score"]), num(&want["spearman"]), 1e-12);
        let t = &r["theirs"];
        close(&format!("{name} sqnr"), num(&t["sqnr_db"]), num(&want["sqnr_db"]), 1e-6);
        close(&format!("{name} cosine"), num(&t["cosine"]), num(&want["cosine"]), 1e-6);
        close(&format!("{name} mse"), num(&t["mse"]), num(&want["mse"]), 1e-5);
        assert_eq!(num(&t["max_abs_err"]), num(&want["max_abs_err"]), "{name}");
        assert_eq!(num(&t["bytes"]), num(&want["bytes"]), "{name}");
    }
    // gguf-py's Q8_0 / Q4_0 are ggml's reference rules: ours (ggml's quantize_row_*_ref) the same values.
    for r in report["tensors"].as_array().unwrap().iter().filter(|r| matches!(r["quantized_dtype"].as_str(), Some("Q8_0" | "Q4_0"))) {
        assert_eq!(r["ours"]["sqnr_db"], r["theirs"]["sqnr_db"], "{}", r["name"]);
    }
}

#[test]
fn what_is_left_unmatched_says_why() {
    // The ONNX float model against the digits MLP: no names and no shapes in common.
    let report = diff_json(&fixture("quantized/float.onnx"), &format!("{}/www/examples/digits-mlp.safetensors", env!("CARGO_MANIFEST_DIR")));
    assert_eq!(report["summary"]["matched"], 0);
    let unmatched = report["unmatched"].as_array().unwrap();
    assert_eq!(unmatched.len(), 4 + 6);
    let conv = unmatched.iter().find(|u| u["name"] == "conv.weight").unwrap();
    assert_eq!(conv["file"], "float");
    assert!(conv["reason"].as_str().unwrap().contains("no tensor left on the other side has shape [4, 1, 3, 3]"), "{conv}");
    // The same file twice: every tensor by name, exact, kept as F32.
    let same = diff_json(&fixture("quantized/float.onnx"), &fixture("quantized/float.onnx"));
    assert_eq!(same["summary"]["by_name"], 4);
    assert!(same["tensors"].as_array().unwrap().iter().all(|t| t["sqnr_db"] == "inf" && t["ours"].is_null()));
    // Nothing to set ours beside: no pooled theirs / ours, only every matched tensor's.
    assert!(same["summary"]["theirs"].is_null() && same["summary"]["ours"].is_null(), "{}", same["summary"]);
    assert_eq!(same["summary"]["theirs_all"]["tensors"], 4);
    // A file that is not there, and one that is not a model: a message naming it, no panic.
    let (code, _, err) = cli(&["diff", &fixture("quantized/float.onnx"), "/nonexistent/q.gguf"]);
    assert_ne!(code, 0);
    assert!(err.contains("/nonexistent/q.gguf") && !err.contains("panicked"), "{err}");
    let dir = temp_dir("junk");
    let junk = dir.join("junk.onnx");
    std::fs::write(&junk, b"not a model at all").unwrap();
    let (code, _, err) = cli(&["diff", junk.to_str().unwrap(), &fixture("quantized/float.onnx")]);
    assert_ne!(code, 0);
    assert!(err.contains("junk.onnx") && !err.contains("panicked"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_llama_gguf_against_its_hf_safetensors_compares_row_for_row() {
    // tests/fixtures/diff/llama_ggufpy.gguf: llama_hf.safetensors as llama.cpp's convert_hf_to_gguf.py
    // writes it (gguf-py, architecture llama, 4 heads / 2 KV heads, attn_q / attn_k rows permuted,
    // weights Q8_0); expected.json: numpy's figures of gguf-py's dequantized values un-permuted.
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(fixture("diff/expected.json")).unwrap()).unwrap();
    let (hf, gguf) = (fixture("diff/llama_hf.safetensors"), fixture("diff/llama_ggufpy.gguf"));
    let report = diff_json(&hf, &gguf);
    let pairs = expected["llama_ggufpy.gguf"].as_object().unwrap();
    assert_eq!((report["summary"]["matched"].as_u64(), report["summary"]["by_renamed_name"].as_u64()), (Some(pairs.len() as u64), Some(pairs.len() as u64)));
    assert!(report["unmatched"].as_array().unwrap().is_empty(), "{}", report["unmatched"]);
    let mut permuted = 0;
    for (name, want) in pairs {
        let r = row(&report, name);
        assert_eq!(r["quantized_name"], want["quantized_name"], "{name}");
        match want["heads"].as_u64() {
            Some(heads) => {
                assert_eq!(r["llama_rows"], serde_json::json!({"heads": heads, "float_is_gguf": false}), "{name}");
                // Row for row without the un-permutation the copy would look like noise.
                assert!(num(&want["naive_sqnr_db"]) < 0.0 && num(&want["sqnr_db"]) > 40.0 || num(&want["sqnr_db"]).is_infinite(), "{name}: {want}");
                permuted += 1;
            }
            None => assert!(r.get("llama_rows").is_none(), "{name}"),
        }
        assert_eq!(r["values_disagree"], Value::Null, "{name}: the fingerprint agrees once the rows are in order");
        let t = &r["theirs"];
        close(&format!("{name} sqnr"), num(&t["sqnr_db"]), num(&want["sqnr_db"]), 1e-6);
        close(&format!("{name} cosine"), num(&t["cosine"]), num(&want["cosine"]), 1e-6);
        close(&format!("{name} mse"), num(&t["mse"]), num(&want["mse"]), 1e-5);
        assert_eq!(num(&t["max_abs_err"]), num(&want["max_abs_err"]), "{name}");
        assert_eq!(num(&t["bytes"]), num(&want["bytes"]), "{name}");
    }
    assert_eq!(permuted, 4, "attn_q and attn_k, weight and bias");
    // The GGUF as the float side: its rows are put back in the HF order; |x − x̂| is the same per element.
    let back = diff_json(&gguf, &hf);
    for (name, want) in pairs {
        let q = want["quantized_name"].as_str().unwrap();
        let r = row(&back, q);
        assert_eq!(r["quantized_name"], name.as_str());
        if let Some(heads) = want["heads"].as_u64() {
            assert_eq!(r["llama_rows"], serde_json::json!({"heads": heads, "float_is_gguf": true}), "{q}");
        }
        assert_eq!(num(&r["theirs"]["max_abs_err"]), num(&want["max_abs_err"]), "{q}");
    }
}
