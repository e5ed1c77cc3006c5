//! The embedded example in real Chromium (wasm-pack test --headless --chrome -- --test wasm_model):
//! the same accuracies as natively (the numpy reference, ±0.5 points), the static INT8 pipeline's
//! logits equal to numpy's bit for bit through the SIMD128 kernels, and the page's entry points.
#![cfg(target_arch = "wasm32")]

use quant_playground::app::example::{Config, Evaluation, Example, StaticInt8Mlp, StaticParams};
use quant_playground::wasm::{now_ms, ExampleModel};
use serde_json::Value;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const MODEL: &[u8] = include_bytes!("../www/examples/digits-mlp.safetensors");
const TEST_X: &[u8] = include_bytes!("../www/examples/digits-test-x.npy");
const TEST_Y: &[u8] = include_bytes!("../www/examples/digits-test-y.npy");
const CALIB_X: &[u8] = include_bytes!("../www/examples/digits-calib-x.npy");
const EXPECTED: &str = include_str!("fixtures/reference/digits_expected.json");
const STATIC_PARAMS: &str = include_str!("fixtures/reference/digits_int8_static_params.json");
const NUMPY_LOGITS: [(&str, &[u8]); 4] = [
    ("minmax", include_bytes!("fixtures/reference/digits_int8_static_minmax_logits.npy")),
    ("percentile", include_bytes!("fixtures/reference/digits_int8_static_percentile_logits.npy")),
    ("mse", include_bytes!("fixtures/reference/digits_int8_static_mse_logits.npy")),
    ("entropy", include_bytes!("fixtures/reference/digits_int8_static_entropy_logits.npy")),
];

fn example() -> Example {
    Example::from_bytes(MODEL, TEST_X, TEST_Y, CALIB_X).unwrap()
}

#[wasm_bindgen_test]
fn accuracies_match_native_and_numpy() {
    let expected: Value = serde_json::from_str(EXPECTED).unwrap();
    let tol = expected["tolerance_points"].as_f64().unwrap();
    let ev = Evaluation::prepare(example(), &Config::all()).unwrap();
    let report = ev.run(&now_ms, 1).unwrap();
    assert_eq!(report.kernel_build, "simd128");
    assert_eq!(report.rows.len(), 10);
    for r in &report.rows {
        let want = expected["accuracy"][&r.config].as_f64().unwrap();
        assert!((r.accuracy - want).abs() * 100.0 <= tol, "{}: {} vs {}", r.config, r.accuracy, want);
    }
    assert_eq!(report.row("fp32").unwrap().correct, 526);
}

#[wasm_bindgen_test]
fn static_int8_logits_equal_numpy_bit_for_bit_in_simd128() {
    let ex = example();
    let v: Value = serde_json::from_str(STATIC_PARAMS).unwrap();
    let all: Vec<StaticParams> = serde_json::from_value(v["static"].clone()).unwrap();
    for (method, npy) in NUMPY_LOGITS {
        let params = all.iter().find(|p| p.method == method).unwrap();
        let idx = quant_playground::formats::parse_index("logits.npy", npy, npy.len() as u64).unwrap();
        let want: Vec<i32> =
            npy[idx.tensors[0].offset as usize..].chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap())).collect();
        let got = StaticInt8Mlp::new(&ex.mlp, params).unwrap().forward_int(&ex.test_x, ex.test_rows).unwrap();
        assert!(got == want, "{method}: first difference at {:?}", got.iter().zip(&want).position(|(a, b)| a != b));
    }
}

#[wasm_bindgen_test]
fn the_page_entry_points() {
    let m = ExampleModel::new(MODEL, TEST_X, TEST_Y, CALIB_X, "").unwrap();
    let configs: Vec<String> = serde_json::from_str(&m.configs()).unwrap();
    assert_eq!(configs.len(), 10);
    let page: Value = serde_json::from_str(&m.evaluate(1, 8).unwrap()).unwrap();
    assert_eq!(page["rows"].as_array().unwrap().len(), 10);
    assert_eq!(page["worst"], "int2-g16");
    assert_eq!(page["confusion"].as_array().unwrap().len(), 10);
    assert_eq!(page["misclassified"].as_array().unwrap().len(), 8);
    let x = m.test_example(0).unwrap();
    let label = m.test_label(0).unwrap();
    let p: Value = serde_json::from_str(&m.predict("int8-static-entropy", &x).unwrap()).unwrap();
    assert_eq!(p["probabilities"].as_array().unwrap().len(), 10);
    assert_eq!(m.predict_class("fp32", &x).unwrap(), label);
    assert!(m.predict("fp32", &x[..10]).is_err());
}
