//! The page's whole-model PTQ entry points in real Chromium (wasm-pack test --headless --chrome --
//! --test wasm_graph): expose, stream batches into a PtqCalibrator, quantize; the same model and
//! report as the native core writes for the same ranges.
#![cfg(target_arch = "wasm32")]

use quant_playground::graph::calibration::PtqRanges;
use quant_playground::graph::model::{Dim, Graph, Initializer, Model, Node, ValueInfo, FLOAT};
use quant_playground::graph::{self, PtqOptions};
use quant_playground::wasm::{ptq_dynamic, ptq_expose, ptq_int4, ptq_quantize, PtqCalibrator, PtqNodeErrors};
use serde_json::Value;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Conv(x, w, b) → Relu → y, then MatMul by a 2×3 weight (tests/ptq.rs's model plus a MatMul).
fn model() -> Vec<u8> {
    let io = |n: &str, dims: Vec<i64>| ValueInfo::tensor(n, FLOAT, Some(dims.into_iter().map(Dim::Value).collect()));
    let nodes = vec![
        Node::new("Conv", "conv", vec!["x".into(), "w".into(), "b".into()], vec!["c".into()]),
        Node::new("Relu", "relu", vec!["c".into()], vec!["r".into()]),
        Node::new("MatMul", "mm", vec!["r".into(), "m".into()], vec!["y".into()]),
    ];
    let inits = vec![
        Initializer::f32s(&[0.5, -0.25, 1.0, 0.75], "w", vec![2, 2, 1, 1]),
        Initializer::f32s(&[0.1, -0.2], "b", vec![2]),
        Initializer::f32s(&[0.3, -0.6, 0.9, 1.2, -0.1, 0.4], "m", vec![2, 3]),
    ];
    let g = Graph::new("tiny", nodes, inits, vec![io("x", vec![1, 2, 2, 2])], vec![io("y", vec![1, 2, 2, 3])]);
    Model::new("tiny.onnx", 13, g).encode()
}

#[wasm_bindgen_test]
fn expose_calibrate_and_quantize_as_natively() {
    let exposed = ptq_expose(model(), "{}").unwrap();
    let info: Value = serde_json::from_str(&exposed.json()).unwrap();
    let names: Vec<String> = info["tensors"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, ["x", "c", "r", "y"]);
    assert!(Model::parse("exposed.onnx", exposed.model()).unwrap().graph.outputs.len() == 4);

    let mut c = PtqCalibrator::new("minmax", &serde_json::to_string(&names).unwrap()).unwrap();
    assert_eq!(c.passes(), 1);
    for (lo, hi) in [(-1.0f32, 0.5f32), (-0.25, 1.0)] {
        for n in &names {
            c.add_batch(n, &[lo, hi, 0.0]).unwrap();
        }
    }
    let ranges = c.ranges().unwrap();
    let parsed = PtqRanges::from_json(&ranges).unwrap();
    assert_eq!(parsed.ranges["x"], [-1.0, 1.0]);
    assert_eq!(parsed.batches, 2);

    let options = r#"{"activations":"u8","granularity":"channel"}"#;
    let q = ptq_quantize(model(), &ranges, options).unwrap();
    let (native, report) = graph::quantize_static_model("model.onnx", model(), &parsed, &PtqOptions::from_json(options).unwrap()).unwrap();
    assert_eq!(q.model(), native);
    assert_eq!(q.json(), serde_json::to_string(&report).unwrap());
    assert!(c.add_batch("nope", &[1.0]).is_err());
}

#[wasm_bindgen_test]
fn dynamic_and_int4_as_natively() {
    let d = ptq_dynamic(model(), "{}").unwrap();
    assert_eq!(d.model(), graph::quantize_dynamic_model("model.onnx", model(), &PtqOptions::default()).unwrap().0);
    let i = ptq_int4(model(), r#"{"int4_block_size":16}"#).unwrap();
    let report: Value = serde_json::from_str(&i.json()).unwrap();
    assert_eq!(report["weights"][0]["weight"], "m");
    assert!(ptq_int4(model(), r#"{"int4_block_size":12}"#).is_err());
    assert!(ptq_expose(b"not a model".to_vec(), "{}").is_err());
}

#[wasm_bindgen_test]
fn node_errors_from_the_reports_node_outputs() {
    let ranges = r#"{"ranges": {"x": [-1, 1], "c": [-0.3, 1.4], "r": [0, 1.4], "y": [-1, 2]}}"#;
    let q = ptq_quantize(model(), ranges, "{}").unwrap();
    let report: Value = serde_json::from_str(&q.json()).unwrap();
    // The Conv computes the removed Relu's r; the MatMul's y is a graph output, its DequantizeLinear writes "y".
    let pairs: Vec<(&str, &str, &str)> = report["node_outputs"].as_array().unwrap().iter().map(|n| (n["node"].as_str().unwrap(), n["output"].as_str().unwrap(), n["read_as"].as_str().unwrap())).collect();
    assert_eq!(pairs, [("conv", "r", "r_DequantizeLinear_Output"), ("mm", "y", "y")]);
    let exposed = ptq_expose(q.model(), r#"{"tensors": ["r_DequantizeLinear_Output"]}"#).unwrap();
    assert!(Model::parse("e.onnx", exposed.model()).unwrap().graph.outputs.iter().any(|o| o.name == "r_DequantizeLinear_Output"));
    let mut e = PtqNodeErrors::new(&report["node_outputs"].to_string()).unwrap();
    // x = [1, 2], x̂ = [1, 1.5] then [3, 4] against [4, 4]: 10·log10(30 / 1.25) dB.
    e.add(0, &[1.0, 2.0], &[1.0, 1.5]).unwrap();
    e.add(0, &[3.0, 4.0], &[4.0, 4.0]).unwrap();
    let rows: Value = serde_json::from_str(&e.rows().unwrap()).unwrap();
    assert_eq!(rows[0]["sqnr_db"].as_f64().unwrap(), 10.0 * (30.0f64 / 1.25).log10());
    assert_eq!((rows[0]["node"].as_str(), rows[0]["samples"].as_u64()), (Some("conv"), Some(2)));
    assert!(e.add(1, &[1.0], &[1.0, 2.0]).is_err());
    assert!(PtqNodeErrors::new("[]").is_err());
}
