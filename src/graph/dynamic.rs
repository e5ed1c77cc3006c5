//! Dynamic quantization as onnxruntime's `quantize_dynamic` writes it (quantize.py; onnx_quantizer.py
//! `ONNXQuantizer` in IntegerOps mode; operators/matmul.py `MatMulInteger`, conv.py `ConvInteger`,
//! gather.py `GatherQuant`, direct_q8.py `Direct8BitOp`; onnx_model.py `replace_gemm_with_matmul`):
//! weights quantized ahead (int8 symmetric by default), activations at run time by
//! `DynamicQuantizeLinear` (uint8), MatMul → MatMulInteger and Conv → ConvInteger followed by Cast and
//! the product of the two scales, Gather reading a uint8 table, Transpose moving uint8 values, and a
//! DequantizeLinear wherever a float consumer reads a quantized value. Gemm with alpha = beta = 1
//! and transA = 0 is first rewritten into MatMul (+ Add), as ORT does.
//!
//! Not written here: Attention, LSTM and EmbedLayerNormalization (com.microsoft contrib ops) are
//! refused; models below opset 11 are refused (ORT would use ReduceMin/ReduceMax chains at opset 10).

use super::model::{Initializer, Model, Node, FLOAT, FLOAT16, INT64};
use super::params::{self, QType};
use super::qdq::{clean_initializers, ort_topological_sort};
use crate::error::{Error, Result};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// IntegerOpsRegistry's keys: quantize_dynamic's default op types.
pub const DEFAULT_OP_TYPES: &[&str] = &["Conv", "MatMul", "Attention", "LSTM", "Gather", "Transpose", "EmbedLayerNormalization"];

#[derive(Debug, Clone, PartialEq)]
pub struct DynamicOptions {
    pub weight: QType,
    pub per_channel: bool,
    pub reduce_range: bool,
    pub nodes_to_exclude: Vec<String>,
}

impl Default for DynamicOptions {
    fn default() -> Self {
        DynamicOptions { weight: QType::S8, per_channel: false, reduce_range: false, nodes_to_exclude: Vec::new() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DynamicWeight {
    pub name: String,
    pub qtype: &'static str,
    pub scale: Vec<f32>,
    pub zero_point: Vec<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub axis: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DynamicReport {
    pub weights: Vec<DynamicWeight>,
    /// Nodes rewritten to integer ops: (node, op type written).
    pub rewritten: Vec<(String, String)>,
    pub nodes: Vec<String>,
}

#[derive(Debug, Clone)]
struct QValue {
    q_name: String,
    scale: String,
    zp: String,
    axis: Option<usize>,
}

struct Dynamic {
    model: Model,
    opts: DynamicOptions,
    types: HashMap<String, i32>,
    /// Every tensor name the model knows (ONNXQuantizer.tensor_names): graph inputs, outputs, node outputs.
    tensor_names: HashSet<String>,
    generated: HashSet<String>,
    quantized: HashMap<String, QValue>,
    new_nodes: Vec<Node>,
    report: DynamicReport,
}

fn is_float(t: i32) -> bool {
    t == FLOAT || t == FLOAT16
}

/// `replace_gemm_with_matmul`: Gemm(alpha = beta = 1, transA = 0) → MatMul (+ Add), a transB weight
/// transposed into `<B>_Transposed`.
fn replace_gemm_with_matmul(model: &mut Model) -> Result<()> {
    let mut names: HashSet<String> = model.graph.initializers.iter().map(|i| i.name.clone()).collect();
    for v in model.graph.inputs.iter().chain(&model.graph.outputs).chain(&model.graph.value_info) {
        names.insert(v.name.clone());
    }
    for n in &model.graph.nodes {
        names.extend(n.inputs.iter().cloned());
        names.extend(n.outputs.iter().cloned());
    }
    let mut transposed: HashMap<String, String> = HashMap::new();
    let nodes = std::mem::take(&mut model.graph.nodes);
    let mut out = Vec::with_capacity(nodes.len());
    for n in nodes {
        let plain = n.op_type == "Gemm"
            && n.attr_float("alpha").unwrap_or(1.0) == 1.0
            && n.attr_float("beta").unwrap_or(1.0) == 1.0
            && n.attr_int("transA").unwrap_or(0) == 0;
        if !plain {
            out.push(n);
            continue;
        }
        let mut b = n.inputs.get(1).cloned().unwrap_or_default();
        if n.attr_int("transB").unwrap_or(0) == 1 {
            if let Some(init) = model.initializer(&b).cloned() {
                if !transposed.contains_key(&b) {
                    let mut name = format!("{b}_Transposed");
                    let suffixes = ["", "_quantized", "_scale", "_zero_point"];
                    let mut k = 0;
                    while suffixes.iter().any(|s| names.contains(&format!("{name}{s}"))) {
                        k += 1;
                        name = format!("{b}_Transposed_{k}");
                    }
                    names.extend(suffixes.iter().map(|s| format!("{name}{s}")));
                    if init.dims.len() != 2 || init.data_type != FLOAT {
                        return Err(Error::unsupported(&model.file, format!("Gemm weight '{b}' is not a 2-D float32 initializer; it cannot be transposed here")));
                    }
                    let v = model.initializer_values(&init)?;
                    let (r, c) = (init.dims[0], init.dims[1]);
                    let t: Vec<f32> = (0..c * r).map(|i| v[(i % r) * c + i / r]).collect();
                    model.graph.initializers.push(Initializer::f32s(&t, &name, vec![c, r]));
                    transposed.insert(b.clone(), name);
                }
                b = transposed[&b].clone();
            } else {
                let t = format!("{b}_Transposed");
                let name = if n.name.is_empty() { String::new() } else { format!("{}_Transpose", n.name) };
                out.push(Node::new("Transpose", &name, vec![b.clone()], vec![t.clone()]));
                b = t;
            }
        }
        let has_bias = n.inputs.len() > 2;
        let out0 = n.outputs.first().cloned().unwrap_or_default();
        let mm_out = if has_bias { format!("{out0}_MatMul") } else { out0.clone() };
        let mm_name = if n.name.is_empty() { String::new() } else { format!("{}_MatMul", n.name) };
        out.push(Node::new("MatMul", &mm_name, vec![n.inputs.first().cloned().unwrap_or_default(), b], vec![mm_out.clone()]));
        if has_bias {
            let add_name = if n.name.is_empty() { String::new() } else { format!("{}_Add", n.name) };
            out.push(Node::new("Add", &add_name, vec![mm_out, n.inputs[2].clone()], n.outputs.clone()));
        }
    }
    model.graph.nodes = out;
    Ok(())
}

impl Dynamic {
    fn file(&self) -> String {
        self.model.file.clone()
    }

    fn should_quantize_node(&self, n: &Node) -> bool {
        DEFAULT_OP_TYPES.contains(&n.op_type.as_str())
            && n.op_type != "QuantizeLinear"
            && n.op_type != "DequantizeLinear"
            && !self.opts.nodes_to_exclude.contains(&n.name)
    }

    fn initializer(&self, name: &str) -> Option<&Initializer> {
        self.model.initializer(name)
    }

    fn is_valid_quantize_weight(&self, name: &str) -> bool {
        self.initializer(name).is_some_and(|i| is_float(i.data_type))
    }

    fn is_float_tensor(&self, name: &str) -> bool {
        if self.initializer(name).is_some() {
            return self.is_valid_quantize_weight(name);
        }
        self.types.get(name).is_some_and(|&t| is_float(t))
    }

    /// `quantize_initializer` / `quantize_weight_per_channel`.
    fn quantize_initializer(&mut self, name: &str, qtype: QType, reduce_range: bool, axis: Option<i64>) -> Result<QValue> {
        if let Some(q) = self.quantized.get(name) {
            return Ok(q.clone());
        }
        let init = self.initializer(name).cloned().ok_or_else(|| Error::malformed(&self.file(), format!("no initializer '{name}'")))?;
        if init.data_type != FLOAT {
            return Err(Error::unsupported(&self.file(), format!("initializer '{name}' is not float32; this tool writes float32 scales only")));
        }
        let data = self.model.initializer_values(&init)?;
        let symmetric = if qtype == self.opts.weight { qtype == QType::S8 } else { false };
        let reduce = self.opts.reduce_range && reduce_range;
        let rank = init.dims.len();
        let axis = match axis {
            Some(a) => Some(
                (-(rank as i64)..rank as i64)
                    .contains(&a)
                    .then(|| if a < 0 { (a + rank as i64) as usize } else { a as usize })
                    .ok_or_else(|| Error::unsupported(&self.file(), format!("weight '{name}' of rank {rank} has no axis {a}")))?,
            ),
            None => None,
        };
        let (zps, scales) = params::weight_scale_zp(&data, &init.dims, axis, qtype, symmetric, reduce);
        let codes = params::weight_codes(&data, &init.dims, axis, &scales, &zps, qtype);
        let dims = if axis.is_some() { vec![scales.len()] } else { vec![] };
        let (scale_name, zp_name, q_name) = (format!("{name}_scale"), format!("{name}_zero_point"), format!("{name}_quantized"));
        let zp_bytes: Vec<u8> = zps.iter().map(|&z| z as u8).collect();
        self.model.graph.initializers.push(Initializer::f32s(&scales, &scale_name, dims.clone()));
        self.model.graph.initializers.push(Initializer::new(&zp_name, qtype.onnx(), dims, &zp_bytes));
        self.model.graph.initializers.push(Initializer::new(&q_name, qtype.onnx(), init.dims.clone(), &codes));
        self.report.weights.push(DynamicWeight { name: name.to_string(), qtype: qtype.label(), scale: scales, zero_point: zps, axis });
        let q = QValue { q_name, scale: scale_name, zp: zp_name, axis };
        self.quantized.insert(name.to_string(), q.clone());
        Ok(q)
    }

    /// `__quantize_inputs` for one input: its quantized name, zero point and scale, with the
    /// DynamicQuantizeLinear node it needs (if any) pushed to `nodes`.
    fn quantize_input(&mut self, node: &Node, index: usize, weight: bool, reduce_range: bool, per_channel_axis: Option<i64>, nodes: &mut Vec<Node>) -> Result<QValue> {
        let input = node.inputs.get(index).cloned().unwrap_or_default();
        if let Some(q) = self.quantized.get(&input) {
            return Ok(q.clone());
        }
        if input.is_empty() {
            return Ok(QValue { q_name: String::new(), scale: String::new(), zp: String::new(), axis: None });
        }
        if self.initializer(&input).is_some() {
            let qtype = if weight { self.opts.weight } else { QType::U8 };
            let axis = if self.opts.per_channel { per_channel_axis } else { None };
            return self.quantize_initializer(&input, qtype, reduce_range, axis);
        }
        if self.types.contains_key(&input) || self.tensor_names.contains(&input) || self.generated.contains(&input) {
            let ql_name = format!("{input}_QuantizeLinear");
            let existing = self.model.graph.nodes.iter().chain(&self.new_nodes).chain(nodes.iter()).find(|n| n.name == ql_name).cloned();
            let ql = match existing {
                Some(n) => n,
                None => {
                    let (q, s, z) = (format!("{input}_quantized"), format!("{input}_scale"), format!("{input}_zero_point"));
                    let n = Node::new("DynamicQuantizeLinear", &ql_name, vec![input.clone()], vec![q.clone(), s.clone(), z.clone()]);
                    self.quantized.insert(input.clone(), QValue { q_name: q, scale: s, zp: z, axis: None });
                    nodes.push(n.clone());
                    n
                }
            };
            let at = |v: &[String], i: usize| v.get(i).cloned().unwrap_or_default();
            return Ok(if ql.op_type == "QuantizeLinear" {
                QValue { q_name: at(&ql.outputs, 0), scale: at(&ql.inputs, 1), zp: at(&ql.inputs, 2), axis: None }
            } else {
                QValue { q_name: at(&ql.outputs, 0), scale: at(&ql.outputs, 1), zp: at(&ql.outputs, 2), axis: None }
            });
        }
        Err(Error::malformed(&self.file(), format!("node '{}' reads '{input}', which nothing in the graph produces", node.name)))
    }

    /// `_dequantize_value`: a DequantizeLinear for a quantized value read as float.
    fn dequantize_value(&self, name: &str) -> Option<Node> {
        let q = self.quantized.get(name)?;
        if self.generated.contains(name) {
            return None;
        }
        let dq_name = format!("{name}_DequantizeLinear");
        if self.model.graph.nodes.iter().chain(&self.new_nodes).any(|n| n.name == dq_name) {
            return None;
        }
        let mut n = Node::new("DequantizeLinear", &dq_name, vec![q.q_name.clone(), q.scale.clone(), q.zp.clone()], vec![name.to_string()]);
        if let Some(a) = q.axis {
            n = n.with_int("axis", a as i64);
        }
        Some(n)
    }

    fn pass_through(&mut self, node: Node) {
        for i in node.inputs.clone() {
            if let Some(dq) = self.dequantize_value(&i) {
                self.new_nodes.push(dq);
            }
        }
        self.new_nodes.push(node);
    }

    fn output_type(&self, name: &str) -> Result<i32> {
        self.types.get(name).copied().ok_or_else(|| {
            Error::unsupported(&self.file(), format!("the type of '{name}' is unknown (a node this tool cannot type); ORT would ask for DefaultTensorType"))
        })
    }

    /// MatMulInteger / ConvInteger followed by Cast, the scales' product and the output Mul.
    fn integer_op(&mut self, node: &Node, op: &str) -> Result<()> {
        let mut nodes = Vec::new();
        let a = self.quantize_input(node, 0, false, false, None, &mut nodes)?;
        let w = if op == "MatMulInteger" {
            self.quantize_input(node, 1, true, true, Some(-1), &mut nodes)?
        } else {
            self.quantize_input(node, 1, true, self.opts.reduce_range, None, &mut nodes)?
        };
        let out0 = node.outputs.first().cloned().unwrap_or_default();
        let int_out = format!("{out0}_output_quantized");
        let int_name = if node.name.is_empty() { String::new() } else { format!("{}_quant", node.name) };
        let mut int_node = Node::new(op, &int_name, vec![a.q_name.clone(), w.q_name.clone(), a.zp.clone(), w.zp.clone()], vec![int_out.clone()]);
        if op == "ConvInteger" {
            // attribute_to_kwarg then make_node: the Conv's attributes, sorted by name.
            let mut attrs = node.attributes.clone();
            attrs.sort_by(|x, y| x.name().cmp(y.name()));
            int_node.attributes = attrs;
        }
        nodes.push(int_node);
        let cast_out = format!("{int_out}_cast_output");
        let to = self.output_type(&out0)?;
        nodes.push(Node::new("Cast", &format!("{int_out}_cast"), vec![int_out.clone()], vec![cast_out.clone()]).with_int("to", to as i64));
        let scales_mul = if int_name.is_empty() { format!("{}_{}_mul", a.scale, w.scale) } else { format!("{int_name}_scales_mul") };
        let existing = self.new_nodes.iter().find(|n| n.name == scales_mul).and_then(|n| n.outputs.first().cloned());
        let scales_out = match existing {
            Some(o) => o,
            None => {
                let o = format!("{scales_mul}:0");
                nodes.push(Node::new("Mul", &scales_mul, vec![a.scale.clone(), w.scale.clone()], vec![o.clone()]));
                o
            }
        };
        let has_bias = op == "ConvInteger" && node.inputs.len() == 3;
        let scaled = if has_bias { format!("{out0}quant_scaled_output") } else { out0.clone() };
        let mul_name = if int_name.is_empty() { String::new() } else { format!("{int_name}_output_scale_mul") };
        nodes.push(Node::new("Mul", &mul_name, vec![cast_out, scales_out], vec![scaled.clone()]));
        if has_bias {
            let rank = self.initializer(&node.inputs[1]).map(|i| i.dims.len()).ok_or_else(|| Error::unsupported(&self.file(), format!("Conv '{}': its weight is not an initializer", node.name)))?;
            let shape_name = format!("{out0}_bias_reshape_shape");
            let mut shape = vec![1i64; rank];
            if rank > 1 {
                shape[1] = -1;
            }
            let raw: Vec<u8> = shape.iter().flat_map(|v| v.to_le_bytes()).collect();
            if self.initializer(&shape_name).is_none() {
                self.model.graph.initializers.push(Initializer::new(&shape_name, INT64, vec![rank], &raw));
            }
            let reshaped = format!("{out0}_bias_reshape_output");
            nodes.push(Node::new("Reshape", "", vec![node.inputs[2].clone(), shape_name], vec![reshaped.clone()]));
            nodes.push(Node::new("Add", &format!("{out0}_bias_add"), vec![scaled, reshaped], vec![out0]));
        }
        self.report.rewritten.push((node.name.clone(), op.to_string()));
        self.new_nodes.extend(nodes);
        Ok(())
    }

    fn quantize_node(&mut self, node: Node) -> Result<()> {
        if !self.should_quantize_node(&node) {
            self.pass_through(node);
            return Ok(());
        }
        let input0 = node.inputs.first().cloned().unwrap_or_default();
        match node.op_type.as_str() {
            "MatMul" => {
                let b = node.inputs.get(1).cloned().unwrap_or_default();
                let any_float = self.is_float_tensor(&input0) || self.is_float_tensor(&b);
                // MatMulConstBOnly (quantize_dynamic's default): B must be an initializer.
                if any_float && self.initializer(&b).is_some() {
                    return self.integer_op(&node, "MatMulInteger");
                }
            }
            "Conv" if self.is_float_tensor(&input0) => return self.integer_op(&node, "ConvInteger"),
            "Gather" if self.is_valid_quantize_weight(&input0) && !node.outputs.is_empty() => {
                let mut nodes = Vec::new();
                let q = self.quantize_input(&node, 0, false, false, None, &mut nodes)?;
                let mut n = node.clone();
                let out = format!("{}_quantized", node.outputs[0]);
                self.quantized.insert(node.outputs[0].clone(), QValue { q_name: out.clone(), scale: q.scale, zp: q.zp, axis: None });
                n.outputs[0] = out;
                n.inputs[0] = q.q_name;
                nodes.push(n);
                self.report.rewritten.push((node.name.clone(), "Gather".into()));
                self.new_nodes.extend(nodes);
                return Ok(());
            }
            "Transpose" if self.is_float_tensor(&input0) && !node.outputs.is_empty() => {
                let Some(q) = self.quantized.get(&input0).cloned() else {
                    self.new_nodes.push(node);
                    return Ok(());
                };
                let mut n = node.clone();
                let out = format!("{}_quantized", node.outputs[0]);
                self.quantized.insert(node.outputs[0].clone(), QValue { q_name: out.clone(), scale: q.scale, zp: q.zp, axis: q.axis });
                n.inputs[0] = q.q_name;
                n.outputs[0] = out;
                self.new_nodes.push(n);
                return Ok(());
            }
            "Attention" | "LSTM" | "EmbedLayerNormalization" if self.is_float_tensor(&input0) => {
                return Err(Error::unsupported(
                    &self.file(),
                    format!("node '{}' ({}): quantize_dynamic rewrites it with a contrib op this tool does not write; exclude it (--exclude) to keep it in float", node.name, node.op_type),
                ));
            }
            _ => {}
        }
        self.pass_through(node);
        Ok(())
    }
}

/// The model quantize_dynamic writes.
pub fn quantize_dynamic(mut model: Model, opts: &DynamicOptions) -> Result<(Model, DynamicReport)> {
    let opset = model.default_opset()?;
    if opset < 11 {
        return Err(Error::unsupported(&model.file, format!("the model imports opset {opset}; dynamic quantization is written for opset 11 and later (DynamicQuantizeLinear)")));
    }
    replace_gemm_with_matmul(&mut model)?;
    let types = model.elem_types();
    let mut tensor_names: HashSet<String> = model.graph.outputs.iter().chain(&model.graph.inputs).map(|v| v.name.clone()).collect();
    for n in &model.graph.nodes {
        tensor_names.extend(n.outputs.iter().cloned());
    }
    let initializers: HashSet<String> = model.graph.initializers.iter().map(|i| i.name.clone()).collect();
    let generated = model.graph.inputs.iter().filter(|i| !initializers.contains(&i.name)).map(|i| i.name.clone()).collect();
    let nodes = std::mem::take(&mut model.graph.nodes);
    let mut d = Dynamic {
        model,
        opts: opts.clone(),
        types,
        tensor_names,
        generated,
        quantized: HashMap::new(),
        new_nodes: Vec::new(),
        report: DynamicReport { weights: Vec::new(), rewritten: Vec::new(), nodes: Vec::new() },
    };
    for node in nodes {
        let before = d.new_nodes.len();
        d.quantize_node(node)?;
        let outs: Vec<String> = d.new_nodes[before..].iter().flat_map(|n| n.outputs.clone()).collect();
        d.generated.extend(outs);
    }
    // _dequantize_outputs.
    for o in d.model.graph.outputs.clone() {
        if let Some(dq) = d.dequantize_value(&o.name) {
            d.new_nodes.push(dq);
        }
    }
    let mut model = d.model;
    model.graph.nodes = d.new_nodes;
    clean_initializers(&mut model)?;
    model.producer_name = Some("quant-playground".into());
    model.producer_version = Some(env!("CARGO_PKG_VERSION").into());
    ort_topological_sort(&mut model)?;
    let mut report = d.report;
    report.nodes = model.graph.nodes.iter().map(|n| n.op_type.clone()).collect();
    Ok((model, report))
}
