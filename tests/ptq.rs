//! Whole-model PTQ (src/graph/): ORT's scale arithmetic on hand-worked cases, the rewrite of a small
//! model against what onnxruntime's quantize_static wrote for it (scripts/make_ptq_reference.py),
//! streaming calibration, and clear errors for malformed models. scripts/check_ptq.py compares whole
//! real models with ORT.

use quant_playground::graph::calibration::{PtqCalibration, PtqMethod, PtqRanges};
use quant_playground::graph::model::{Dim, Graph, Initializer, Model, Node, ValueInfo, FLOAT, INT64};
use quant_playground::graph::params::{self, QType};
use quant_playground::graph::qdq::{self, QdqOptions};
use quant_playground::graph::{self as ptq, PtqOptions};
use std::collections::HashMap;

#[test]
fn scale_and_zero_point_follow_quant_utils_compute_scale_zp() {
    // u8 asymmetric [-1, 3]: scale = 4/255 (float64, stored float32); zp = round(0 + 1/scale) = round(63.75) = 64.
    assert_eq!(params::compute_scale_zp(-1.0, 3.0, 0, 255, false), (64, (4.0f64 / 255.0) as f32));
    // s8 asymmetric, same range: zp = round(−128 + 63.75) = −64.
    assert_eq!(params::compute_scale_zp(-1.0, 3.0, -128, 127, false), (-64, (4.0f64 / 255.0) as f32));
    // s8 symmetric weights [−0.5, 0.25]: absmax 0.5 over −127..127, scale 1/254, zp 0.
    let (qmin, qmax) = QType::S8.qmin_qmax(false, true);
    assert_eq!(params::compute_scale_zp(-0.5, 0.25, qmin, qmax, true), (0, (1.0f64 / 254.0) as f32));
    // u8 symmetric (per-channel weights stored as uint8): zp = round(255 / 2) = 128, half to even.
    assert_eq!(params::compute_scale_zp(-1.0, 1.0, 0, 255, true).0, 128);
    // Zero points round half to even: −1.5/1 → 1.5 → 2; −2.5/1 → 2.5 → 2.
    assert_eq!(params::compute_scale_zp(-1.5, 253.5, 0, 255, false), (2, 1.0));
    assert_eq!(params::compute_scale_zp(-2.5, 252.5, 0, 255, false), (2, 1.0));
    // A positive-only range widens to include 0: [2, 4] → [0, 4], zp 0.
    assert_eq!(params::compute_scale_zp(2.0, 4.0, 0, 255, false), (0, (4.0f64 / 255.0) as f32));
    // A range narrower than float32's tiny: scale 1, zp 0.
    assert_eq!(params::compute_scale_zp(0.0, 1e-40, 0, 255, false), (0, 1.0));
    // reduce_range: u8 0..127, s8 −64..64.
    assert_eq!(QType::U8.qmin_qmax(true, false), (0, 127));
    assert_eq!(QType::S8.qmin_qmax(true, true), (-64, 64));
}

#[test]
fn codes_round_half_to_even_in_float32_and_clip_to_the_whole_type() {
    assert_eq!(params::quantize_value(2.5, 1.0, 0, QType::U8), 2);
    assert_eq!(params::quantize_value(3.5, 1.0, 0, QType::U8), 4);
    assert_eq!(params::quantize_value(300.0, 1.0, 0, QType::U8), 255);
    // Symmetric s8 weights use −127..127 for the scale but clip to −128..127, as quantize_nparray does.
    assert_eq!(params::quantize_value(-200.0, 1.0, 0, QType::S8), -128);
    assert_eq!(params::quantize_value(-1.0, 0.5, 10, QType::S8), 8);
    // Bias: round(b / s) in float64 to int32, clipped.
    assert_eq!(params::quantize_bias(&[1.0, -2.0, 1e10], &[0.5]), vec![2, -4, i32::MAX]);
    assert_eq!(params::quantize_bias(&[1.0, 1.0], &[0.5, 0.25]), vec![2, 4]);
}

#[test]
fn a_weight_scale_too_small_for_an_int32_bias_is_raised() {
    // qdq_quantizer._adjust_weight_scale_for_int32_bias: input 1e-5 × weight 1e-6 = 1e-11 < 1.0001 × 2 × 100 / (2^32 − 2).
    let smallest = 1.0001f64 * (2.0 * 100.0) / 4294967294.0;
    let new = params::adjust_weight_scale_for_int32_bias(1e-5, &[1e-6], &[100.0, -3.0], false).unwrap();
    assert_eq!(new, vec![(1e-6f32 as f64 * (smallest / (1e-5f32 as f64 * 1e-6f32 as f64))) as f32]);
    assert_eq!(params::adjust_weight_scale_for_int32_bias(0.1, &[0.1], &[1.0], false), None);
}

fn value(name: &str) -> ValueInfo {
    ValueInfo::tensor(name, FLOAT, Some(vec![Dim::Value(1), Dim::Value(2), Dim::Value(2), Dim::Value(2)]))
}

/// Conv(x, w, b) → Relu → y, as scripts/make_ptq_reference.py makes it.
fn conv_relu() -> Model {
    let w = Initializer::f32s(&[0.5, -0.25, 1.0, 0.75], "w", vec![2, 2, 1, 1]);
    let b = Initializer::f32s(&[0.1, -0.2], "b", vec![2]);
    let nodes = vec![
        Node::new("Conv", "conv", vec!["x".into(), "w".into(), "b".into()], vec!["c".into()]),
        Node::new("Relu", "relu", vec!["c".into()], vec!["y".into()]),
    ];
    Model::new("tiny.onnx", 13, Graph::new("tiny", nodes, vec![w, b], vec![value("x")], vec![value("y")]))
}

fn ranges(pairs: &[(&str, f32, f32)]) -> HashMap<String, (f32, f32)> {
    pairs.iter().map(|&(n, lo, hi)| (n.to_string(), (lo, hi))).collect()
}

#[test]
fn a_conv_relu_model_is_rewritten_as_ort_writes_it() {
    // ORT's calibration of x = [−1, 1, 0.5, 0.25, −0.5, 0.75, 1, −1]: x ∈ [−1, 1], y ∈ [0, 1.3625];
    // the Relu folds into the Conv, whose output takes y's range.
    let model = Model::parse("tiny.onnx", conv_relu().encode()).unwrap();
    let y_max = 1.3625f32;
    let r = ranges(&[("x", -1.0, 1.0), ("c", -0.3, 1.3625), ("y", 0.0, y_max)]);
    let opts = QdqOptions::default();
    let (out, report) = qdq::quantize_static(model, &r, &opts).unwrap();
    let out = Model::parse("tiny-q.onnx", out.encode()).unwrap();
    let nodes: Vec<(String, String, Vec<String>, Vec<String>)> =
        out.graph.nodes.iter().map(|n| (n.op_type.clone(), n.name.clone(), n.inputs.clone(), n.outputs.clone())).collect();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let expected = vec![
        ("DequantizeLinear", "b_DequantizeLinear", s(&["b_quantized", "b_quantized_scale", "b_quantized_zero_point"]), s(&["b"])),
        ("DequantizeLinear", "w_DequantizeLinear", s(&["w_quantized", "w_scale", "w_zero_point"]), s(&["w_DequantizeLinear_Output"])),
        ("QuantizeLinear", "x_QuantizeLinear", s(&["x", "x_scale", "x_zero_point"]), s(&["x_QuantizeLinear_Output"])),
        ("DequantizeLinear", "x_DequantizeLinear", s(&["x_QuantizeLinear_Output", "x_scale", "x_zero_point"]), s(&["x_DequantizeLinear_Output"])),
        ("Conv", "conv", s(&["x_DequantizeLinear_Output", "w_DequantizeLinear_Output", "b"]), s(&["y_QuantizeLinear_Input"])),
        ("QuantizeLinear", "y_QuantizeLinear", s(&["y_QuantizeLinear_Input", "y_scale", "y_zero_point"]), s(&["y_QuantizeLinear_Output"])),
        ("DequantizeLinear", "y_DequantizeLinear", s(&["y_QuantizeLinear_Output", "y_scale", "y_zero_point"]), s(&["y"])),
    ];
    let expected: Vec<(String, String, Vec<String>, Vec<String>)> = expected.into_iter().map(|(a, b, c, d)| (a.into(), b.into(), c, d)).collect();
    assert_eq!(nodes, expected);
    assert_eq!(report.removed_nodes, vec!["relu".to_string()]);
    // The Conv now computes the Relu's output y, a graph output: its DequantizeLinear writes "y".
    let own = |r: &qdq::QdqReport| r.node_outputs.iter().map(|o| (o.node.clone(), o.op_type.clone(), o.output.clone(), o.read_as.clone())).collect::<Vec<_>>();
    assert_eq!(own(&report), vec![("conv".into(), "Conv".into(), "y".into(), "y".into())]);

    let f32s = |name: &str| out.initializer_values(out.initializer(name).unwrap()).unwrap();
    assert_eq!(f32s("x_scale"), vec![0.007843138]);
    assert_eq!(f32s("w_scale"), vec![0.007874016]);
    assert_eq!(f32s("y_scale"), vec![0.005343137]);
    assert_eq!(f32s("b_quantized_scale"), vec![6.175699e-05]);
    let find = |name: &str| report.tensors.iter().find(|t| t.name == name).unwrap().clone();
    assert_eq!((find("x").zero_point, find("x").qtype), (vec![128], "u8"));
    assert_eq!((find("w").zero_point, find("w").qtype), (vec![0], "s8"));
    assert_eq!(find("y").zero_point, vec![0]);
    // Initializers written: the quantized weight's codes and the int32 bias as ORT wrote them.
    let names: Vec<&str> = out.graph.initializers.iter().map(|i| i.name.as_str()).collect();
    for n in ["w_quantized", "b_quantized", "x_scale", "y_zero_point", "b_quantized_zero_point"] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    assert!(!names.contains(&"w") && !names.contains(&"b"), "float weights stay: {names:?}");
    let w_q = out.initializer("w_quantized").unwrap();
    assert_eq!((w_q.data_type, w_q.dims.clone()), (3, vec![2, 2, 1, 1]));
}

#[test]
fn per_channel_weights_get_one_symmetric_scale_per_output_channel() {
    let model = conv_relu();
    let r = ranges(&[("x", -1.0, 1.0), ("c", -0.3, 1.3625), ("y", 0.0, 1.3625)]);
    let opts = QdqOptions { per_channel: true, ..QdqOptions::default() };
    let (_, report) = qdq::quantize_static(model, &r, &opts).unwrap();
    let w = report.tensors.iter().find(|t| t.name == "w").unwrap();
    // Channel 0: absmax 0.5 → 1/254; channel 1: absmax 1.0 → 2/254.
    assert_eq!(w.scale, vec![(1.0f64 / 254.0) as f32, (2.0f64 / 254.0) as f32]);
    assert_eq!((w.zero_point.clone(), w.axis), (vec![0, 0], Some(0)));
    let b = report.tensors.iter().find(|t| t.name == "b").unwrap();
    assert_eq!(b.scale, vec![(2.0f64 / 255.0) as f32 * w.scale[0], (2.0f64 / 255.0) as f32 * w.scale[1]]);
}

#[test]
fn exposed_model_lists_the_inputs_and_outputs_of_quantizable_nodes() {
    let mut model = conv_relu();
    // A Shape (not quantized, int64 output) and an Identity (not an op type ORT quantizes).
    model.graph.nodes.push(Node::new("Shape", "shape", vec!["y".into()], vec!["s".into()]));
    model.graph.nodes.push(Node::new("Identity", "id", vec!["y".into()], vec!["z".into()]));
    model.graph.outputs.push(ValueInfo::tensor("s", INT64, None));
    let exposed = ptq::expose_model("tiny.onnx", model.encode(), &PtqOptions::default()).unwrap();
    let names: Vec<&str> = exposed.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, vec!["x", "c", "y"]);
    assert_eq!(exposed.outputs, vec!["y".to_string(), "s".to_string()]);
    let m = Model::parse("exposed.onnx", exposed.model).unwrap();
    let outs: Vec<&str> = m.graph.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(outs, vec!["y", "s", "x", "c"]);
    assert_eq!(exposed.inputs[0].name, "x");
}

#[test]
fn streaming_calibration_gives_ort_ranges_for_any_batching() {
    let names = vec!["a".to_string()];
    let mut c = PtqCalibration::new(PtqMethod::MinMax, &names).unwrap();
    c.add_batch("a", &[1.0, -2.0, f32::NAN]).unwrap();
    c.add_batch("a", &[3.5, 0.0]).unwrap();
    assert_eq!(c.ranges().unwrap().ranges["a"], [-2.0, 3.5]);
    let mut d = PtqCalibration::new(PtqMethod::Distribution, &names).unwrap();
    d.add_batch("a", &[1.0, -2.0, 0.5]).unwrap();
    assert_eq!(d.ranges().unwrap().ranges["a"], [-2.0, 2.0]);
    // Histogram methods: two passes, the same batches each time.
    let mut p = PtqCalibration::new(PtqMethod::Percentile(100.0), &names).unwrap();
    assert_eq!(p.passes(), 2);
    let x: Vec<f32> = (0..1000).map(|i| i as f32 / 100.0 - 3.0).collect();
    p.add_batch("a", &x[..500]).unwrap();
    p.add_batch("a", &x[500..]).unwrap();
    assert!(p.ranges().unwrap_err().to_string().contains("pass 1 of 2 is running"));
    p.next_pass().unwrap();
    p.add_batch("a", &x[..500]).unwrap();
    p.add_batch("a", &x[500..]).unwrap();
    let r = p.ranges().unwrap().ranges["a"];
    assert!(r[1] <= 6.99 && r[1] > 6.9 && r[0] >= -3.0, "{r:?}");
    // ORT's layout is the whole set's |x| over [min|x|, max|x|] = [0.5, 5.5] in ONE np.histogram call
    // of 2048 bins, whatever the batching; the lower end is clamped to min(y) = −1.5. The values are
    // numpy 2.4's (np.histogram(np.abs(y), bins=2048), edges as float32, np.searchsorted(np.cumsum(h /
    // h.sum()), p / 100)): bins 409 and 1638. Bins over [0, 5.5], the previous two-pass layout, give
    // 4.498291 for P = 87.5.
    let y = [-1.5f32, -0.5, 0.5, 1.5, 2.5, 3.5, 4.5, 5.5];
    for (p, want) in [(50.0, [-1.4985352f32, 1.4985352]), (87.5, [-1.5, 4.4990234])] {
        let mut c = PtqCalibration::new(PtqMethod::Percentile(p), &names).unwrap();
        for part in [&y[..2], &y[2..]] {
            c.add_batch("a", part).unwrap();
        }
        c.next_pass().unwrap();
        for part in [&y[..2], &y[2..]] {
            c.add_batch("a", part).unwrap();
        }
        assert_eq!(c.ranges().unwrap().ranges["a"], want, "P = {p}");
    }
    assert!(c.add_batch("nope", &[1.0]).unwrap_err().to_string().contains("'nope' is not one of the tensors"));
    let json = serde_json::to_string(&c.ranges().unwrap()).unwrap();
    assert_eq!(PtqRanges::from_json(&json).unwrap().ranges["a"], [-2.0, 3.5]);
}

#[test]
fn a_constant_at_the_float32_limit_gets_a_finite_range_from_every_histogram_method() {
    // The attention mask's additive constant in exported transformers (MiniLM's Constant_13): every
    // value -3.4028235e38, |x| past 2^127, so a power-of-two |x| grid would end at 2^128 = inf.
    let names = vec!["mask".to_string()];
    let x = vec![f32::MIN; 64];
    for method in [PtqMethod::Percentile(99.999), PtqMethod::Entropy, PtqMethod::Mse] {
        let mut c = PtqCalibration::new(method, &names).unwrap();
        c.add_batch("mask", &x).unwrap();
        c.next_pass().unwrap();
        c.add_batch("mask", &x).unwrap();
        let ranges = c.ranges().unwrap();
        let r = ranges.ranges["mask"];
        assert!(r[0].is_finite() && r[1].is_finite(), "{}: {r:?}", method.label());
        let json = serde_json::to_string(&ranges).unwrap();
        assert_eq!(PtqRanges::from_json(&json).unwrap().ranges["mask"], r, "{}: {json}", method.label());
    }
    // Percentile (symmetric, ORT compute_percentile) over ORT's |x| layout [min|x|, max|x|], here one
    // point: numpy's ±0.5 widening vanishes at 3.4e38, so every edge is f32::MAX and the range is
    // (−MAX, MAX) clamped to the data, [MIN, MIN]. ORT itself stops at this tensor: np.histogram
    // raises "Too many bins for data range" (numpy 2.4), and quantize_static with it.
    let mut p = PtqCalibration::new(PtqMethod::Percentile(99.999), &names).unwrap();
    p.add_batch("mask", &x).unwrap();
    p.next_pass().unwrap();
    p.add_batch("mask", &x).unwrap();
    let r = p.ranges().unwrap().ranges["mask"];
    assert_eq!(r, [f32::MIN, f32::MIN]);
}

#[test]
fn malformed_models_and_settings_are_clear_errors() {
    let err = |r: quant_playground::Result<Model>| r.unwrap_err().to_string();
    assert!(err(Model::parse("m.onnx", Vec::new())).contains("empty"));
    let bytes = conv_relu().encode();
    let cut = err(Model::parse("m.onnx", bytes[..bytes.len() - 5].to_vec()));
    assert!(cut.contains("m.onnx") && cut.contains("truncated"), "{cut}");
    assert!(err(Model::parse("m.onnx", b"not an onnx model at all".to_vec())).contains("m.onnx"));

    // No range for a tensor the rewrite must quantize.
    let r = ranges(&[("x", -1.0, 1.0)]);
    let e = qdq::quantize_static(conv_relu(), &r, &QdqOptions::default()).unwrap_err().to_string();
    assert!(e.contains("no calibrated range for tensor 'c'"), "{e}");
    // Opset 9 has no QuantizeLinear.
    let mut old = conv_relu();
    old.opsets = vec![(String::new(), 9)];
    let e = qdq::quantize_static(old, &r, &QdqOptions::default()).unwrap_err().to_string();
    assert!(e.contains("opset 9"), "{e}");
    // s8 activations with u8 weights: ORT refuses the pair.
    let opts = QdqOptions { activation: QType::S8, weight: QType::U8, ..QdqOptions::default() };
    assert!(qdq::quantize_static(conv_relu(), &r, &opts).unwrap_err().to_string().contains("refuses"));
    // A node reading a tensor nothing produces cannot be sorted.
    let mut broken = conv_relu();
    broken.graph.nodes[1].inputs = vec!["missing".into()];
    let r = ranges(&[("x", -1.0, 1.0), ("c", 0.0, 1.0), ("y", 0.0, 1.0), ("missing", 0.0, 1.0)]);
    let e = qdq::quantize_static(broken, &r, &QdqOptions::default()).unwrap_err().to_string();
    assert!(e.contains("never become ready"), "{e}");
    assert!(PtqOptions::from_json(r#"{"granularity":"row"}"#).unwrap().qdq().unwrap_err().to_string().contains("granularity 'row'"));
    assert!(PtqOptions::from_json(r#"{"bogus":1}"#).unwrap_err().to_string().contains("bogus"));
    assert!(PtqMethod::parse("percentile:120").is_err());
    assert!(PtqRanges::from_json(r#"{"ranges":{"a":[1]}}"#).unwrap_err().to_string().contains("'a'"));
}

fn node_list(m: &Model) -> Vec<(String, String, Vec<String>, Vec<String>)> {
    m.graph.nodes.iter().map(|n| (n.op_type.clone(), n.name.clone(), n.inputs.clone(), n.outputs.clone())).collect()
}

fn expect(rows: &[(&str, &str, &[&str], &[&str])]) -> Vec<(String, String, Vec<String>, Vec<String>)> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    rows.iter().map(|(a, b, c, d)| (a.to_string(), b.to_string(), s(c), s(d))).collect()
}

#[test]
fn dynamic_quantization_writes_conv_integer_as_ort_does() {
    // What quantize_dynamic wrote for the same model (scripts/make_ptq_reference.py).
    let (out, report) = quant_playground::graph::dynamic::quantize_dynamic(conv_relu(), &Default::default()).unwrap();
    let out = Model::parse("tiny-dyn.onnx", out.encode()).unwrap();
    assert_eq!(
        node_list(&out),
        expect(&[
            ("Reshape", "", &["b", "c_bias_reshape_shape"], &["c_bias_reshape_output"]),
            ("DynamicQuantizeLinear", "x_QuantizeLinear", &["x"], &["x_quantized", "x_scale", "x_zero_point"]),
            ("Mul", "conv_quant_scales_mul", &["x_scale", "w_scale"], &["conv_quant_scales_mul:0"]),
            ("ConvInteger", "conv_quant", &["x_quantized", "w_quantized", "x_zero_point", "w_zero_point"], &["c_output_quantized"]),
            ("Cast", "c_output_quantized_cast", &["c_output_quantized"], &["c_output_quantized_cast_output"]),
            ("Mul", "conv_quant_output_scale_mul", &["c_output_quantized_cast_output", "conv_quant_scales_mul:0"], &["cquant_scaled_output"]),
            ("Add", "c_bias_add", &["cquant_scaled_output", "c_bias_reshape_output"], &["c"]),
            ("Relu", "relu", &["c"], &["y"]),
        ])
    );
    assert_eq!(out.graph.nodes[4].attr_int("to"), Some(1));
    let w = &report.weights[0];
    assert_eq!((w.name.as_str(), w.scale.clone(), w.zero_point.clone()), ("w", vec![0.007874016], vec![0]));
    let names: Vec<&str> = out.graph.initializers.iter().map(|i| i.name.as_str()).collect();
    for n in ["b", "w_scale", "w_zero_point", "w_quantized", "c_bias_reshape_shape"] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    assert!(!names.contains(&"w"));
}

#[test]
fn int4_turns_a_matmul_into_matmulnbits_with_ort_names() {
    // y = x · W, W [K = 20, N = 2]: one block of 32 rows per column (rows 20..32 padded with 0).
    let w: Vec<f32> = (0..40).map(|i| (i as f32 - 17.0) / 8.0).collect();
    let nodes = vec![Node::new("MatMul", "mm", vec!["x".into(), "w".into()], vec!["y".into()])];
    let io = |n: &str, d: i64| ValueInfo::tensor(n, FLOAT, Some(vec![Dim::Value(1), Dim::Value(d)]));
    let g = Graph::new("mm", nodes, vec![Initializer::f32s(&w, "w", vec![20, 2])], vec![io("x", 20)], vec![io("y", 2)]);
    let model = Model::new("mm.onnx", 13, g);
    let opts = quant_playground::graph::int4::Int4Options { block_size: 32, ..Default::default() };
    let (out, report) = quant_playground::graph::int4::quantize_int4(model, &opts).unwrap();
    let out = Model::parse("mm-int4.onnx", out.encode()).unwrap();
    assert_eq!(node_list(&out), expect(&[("MatMulNBits", "mm_Q4", &["x", "w_Q4", "w_scales", "w_zero_points"], &["y"])]));
    let n = &out.graph.nodes[0];
    assert_eq!(n.domain, "com.microsoft");
    assert_eq!([n.attr_int("K"), n.attr_int("N"), n.attr_int("bits"), n.attr_int("block_size")], [Some(20), Some(2), Some(4), Some(32)]);
    assert!(out.opsets.contains(&("com.microsoft".to_string(), 1)));
    let q = out.initializer("w_Q4").unwrap();
    assert_eq!(q.dims, vec![2, 1, 16]);
    // Column 0 holds −17/8, −15/8, …, 21/8: scale (21/8 + 17/8)/15 in float32.
    let scales = out.initializer_values(out.initializer("w_scales").unwrap()).unwrap();
    assert_eq!(scales[0], (21.0f32 / 8.0 + 17.0 / 8.0) / 15.0);
    assert_eq!(report.weights[0].blocks, 1);
    assert!(out.initializer("w").is_none());
}

/// A length-delimited protobuf field (tag byte for field numbers below 16).
fn ld(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let mut len = body.len();
    while len >= 0x80 {
        out.push((len as u8) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
    out.extend_from_slice(body);
    out
}

#[test]
fn an_initializer_read_only_inside_a_subgraph_is_kept() {
    // If(cond) { then_branch: Identity(k) } — k is an outer-scope initializer no top-level node reads.
    let body = Graph::new("then", vec![Node::new("Identity", "id", vec!["k".into()], vec!["t".into()])], vec![], vec![], vec![ValueInfo::tensor("t", FLOAT, None)]);
    let body = Model::new("then", 13, body).graph_bytes();
    // AttributeProto: name 1, g 6, type 20 = GRAPH (5). NodeProto: input 1, output 2, op_type 4, attribute 5.
    let mut attr = ld(0x0a, b"then_branch");
    attr.extend(ld(0x32, &body));
    attr.extend_from_slice(&[0xa0, 0x01, 5]);
    let mut node = ld(0x0a, b"cond");
    node.extend(ld(0x12, b"o"));
    node.extend(ld(0x22, b"If"));
    node.extend(ld(0x2a, &attr));
    // ModelProto: ir_version 1, graph 7 (node 1), opset_import 8 (version 2).
    let mut m = vec![0x08, 8];
    m.extend(ld(0x3a, &ld(0x0a, &node)));
    m.extend(ld(0x42, &[0x10, 13]));
    let if_node = Model::parse("if.onnx", m).unwrap().graph.nodes.remove(0);
    assert_eq!(if_node.subgraph_inputs("if.onnx").unwrap(), vec!["k".to_string()]);

    let mut model = conv_relu();
    model.graph.initializers.push(Initializer::f32s(&[1.0], "k", vec![1]));
    model.graph.inputs.push(ValueInfo::tensor("cond", quant_playground::graph::model::BOOL, Some(vec![])));
    model.graph.nodes.push(if_node);
    let r = ranges(&[("x", -1.0, 1.0), ("c", 0.0, 1.0), ("y", 0.0, 1.0)]);
    let (out, _) = qdq::quantize_static(model, &r, &QdqOptions::default()).unwrap();
    assert!(out.initializer("k").is_some(), "k was dropped although the If body reads it");
    assert!(out.initializer("w").is_none());
}

#[test]
fn truncated_or_corrupted_models_never_panic() {
    let bytes = conv_relu().encode();
    let r = ranges(&[("x", -1.0, 1.0), ("c", 0.0, 1.0), ("y", 0.0, 1.0)]);
    // Every prefix, and every byte flipped: an error or a model, never a panic.
    for n in 0..bytes.len() {
        let _ = Model::parse("m.onnx", bytes[..n].to_vec());
    }
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[i] ^= flip;
            if let Ok(m) = Model::parse("m.onnx", b.clone()) {
                let _ = qdq::quantize_static(m.clone(), &r, &QdqOptions::default());
                let _ = quant_playground::graph::dynamic::quantize_dynamic(m.clone(), &Default::default());
                let _ = quant_playground::graph::int4::quantize_int4(m, &Default::default());
                let _ = ptq::expose_model("m.onnx", b, &PtqOptions::default());
            }
        }
    }
}

#[test]
fn one_node_at_a_time_and_named_tensors_for_which_layer_hurts() {
    // quantize_static(..., nodes_to_quantize=["conv"]) writes this (checked with onnxruntime 1.32):
    // the Relu is not quantized, so the Conv's output keeps its own Q/DQ pair and the Relu reads it.
    let r = ranges(&[("x", -1.0, 1.0), ("c", -0.3, 1.3625), ("y", 0.0, 1.3625)]);
    let opts = QdqOptions { nodes_to_quantize: vec!["conv".into()], ..QdqOptions::default() };
    let (out, report) = qdq::quantize_static(conv_relu(), &r, &opts).unwrap();
    let ops: Vec<(String, Vec<String>)> = out.graph.nodes.iter().map(|n| (n.name.clone(), n.inputs.clone())).collect();
    assert_eq!(ops.len(), 8);
    assert_eq!(ops[7], ("relu".to_string(), vec!["c_DequantizeLinear_Output".to_string()]));
    let c = report.tensors.iter().find(|t| t.name == "c").unwrap();
    assert_eq!((c.read_as.as_str(), c.scale.clone()), ("c_DequantizeLinear_Output", vec![(1.6625f64 / 255.0) as f32]));
    // The Conv's own output: the float model's c against the QDQ model's c_DequantizeLinear_Output
    // (the pair onnxruntime's qdq_loss_debug.create_activation_matching makes).
    let own: Vec<(&str, &str, &str)> = report.node_outputs.iter().map(|o| (o.node.as_str(), o.output.as_str(), o.read_as.as_str())).collect();
    assert_eq!(own, vec![("conv", "c", "c_DequantizeLinear_Output")]);
    // Only the Relu: nothing of it is quantized (its input was never marked), as in ORT.
    let opts = QdqOptions { nodes_to_quantize: vec!["relu".into()], ..QdqOptions::default() };
    let (out, report) = qdq::quantize_static(conv_relu(), &r, &opts).unwrap();
    assert_eq!(out.graph.nodes.len(), 2);
    assert!(report.tensors.is_empty());
    assert!(report.node_outputs.is_empty(), "a Relu reading no DequantizeLinear is not a quantized node: {:?}", report.node_outputs);

    // The float model with chosen tensors exposed, to compare with the QDQ model's read_as tensors.
    let opts = PtqOptions { tensors: Some(vec!["c".into(), "x".into()]), ..PtqOptions::default() };
    let exposed = ptq::expose_model("tiny.onnx", conv_relu().encode(), &opts).unwrap();
    let m = Model::parse("e.onnx", exposed.model).unwrap();
    assert_eq!(m.graph.outputs.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(), ["y", "c", "x"]);
    let opts = PtqOptions { tensors: Some(vec!["nope".into()]), ..PtqOptions::default() };
    let e = ptq::expose_model("tiny.onnx", conv_relu().encode(), &opts).unwrap_err().to_string();
    assert!(e.contains("'nope'"), "{e}");
}
