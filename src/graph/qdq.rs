//! Static QDQ quantization of a whole model as onnxruntime's `quantize_static(...,
//! quant_format=QuantFormat.QDQ)` writes it (onnxruntime/python/tools/quantization/qdq_quantizer.py
//! `QDQQuantizer.quantize_model`, the QDQ op quantizers of operators/*.py, registry.py's op lists):
//! the same tensors marked in the same order, the same Q/DQ names
//! (`<t>_QuantizeLinear`, `<t>_QuantizeLinear_Output`, `<t>_DequantizeLinear[_Output]`,
//! `<w>_quantized`, `<w>_scale`, `<w>_zero_point`, `<b>_quantized_scale` …), the same removal of
//! Relu/Clip into their producer, int32 biases, shared parameters for data-movement ops, and the
//! same final node order (onnx_model.py `topological_sort`).
//!
//! Defaults are ORT's: activations asymmetric (ActivationSymmetric=False), int8 weights symmetric,
//! per-channel weights symmetric, no reduce_range, QuantizeBias on, removable activations removed.
//! Differences, by design: ORT first runs ONNX shape inference and keeps the inferred value_info
//! and an `onnx.infer` metadata entry in its output; here element types are inferred without
//! shapes (model.rs `elem_types`) and no value_info is added. FLOAT16 tensors are refused (ORT
//! would write FLOAT16 scales), as are models below opset 10 (ORT converts them to opset 11).

use super::model::{Initializer, Model, Node, FLOAT, FLOAT16, INT32};
use super::params::{self, QType};
use crate::error::{Error, Result};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// ORT's default op types for quantize_static: the keys of QLinearOpsRegistry and QDQRegistry.
pub const DEFAULT_OP_TYPES: &[&str] = &[
    "ArgMax", "Conv", "Gemm", "MatMul", "Add", "Mul", "Relu", "Clip", "LeakyRelu", "Sigmoid", "MaxPool",
    "GlobalAveragePool", "Split", "Pad", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Resize", "AveragePool",
    "Concat", "Softmax", "Where", "Gather", "Transpose", "EmbedLayerNormalization", "ConvTranspose", "Slice",
    "GatherElements", "InstanceNormalization", "LayerNormalization", "BatchNormalization", "TopK", "CumSum",
];

/// quantize_static's settings that this rewrite follows.
#[derive(Debug, Clone, PartialEq)]
pub struct QdqOptions {
    pub activation: QType,
    pub weight: QType,
    pub per_channel: bool,
    pub reduce_range: bool,
    /// extra_options ActivationSymmetric.
    pub activation_symmetric: bool,
    pub op_types: Vec<String>,
    pub nodes_to_exclude: Vec<String>,
    /// ORT nodes_to_quantize: when not empty, only these nodes are quantized.
    pub nodes_to_quantize: Vec<String>,
}

impl Default for QdqOptions {
    fn default() -> Self {
        QdqOptions {
            activation: QType::U8,
            weight: QType::S8,
            per_channel: false,
            reduce_range: false,
            activation_symmetric: false,
            op_types: DEFAULT_OP_TYPES.iter().map(|s| s.to_string()).collect(),
            nodes_to_exclude: Vec::new(),
            nodes_to_quantize: Vec::new(),
        }
    }
}

/// One tensor's quantization in the written model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuantizedTensor {
    pub name: String,
    /// "activation", "weight" (an initializer behind a DequantizeLinear) or "bias" (int32).
    pub kind: &'static str,
    /// "u8", "s8" or "s32".
    pub qtype: &'static str,
    pub scale_name: String,
    pub zero_point_name: String,
    pub scale: Vec<f32>,
    pub zero_point: Vec<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub axis: Option<usize>,
    /// The tensor its consumers read after the rewrite (the DequantizeLinear's output): compare it
    /// with the float model's `name` to see what quantizing this tensor does.
    pub read_as: String,
}

/// A quantized node's own output: which float-model tensor it computes and what its consumers read
/// in the written model, for per-node errors as ORT's qdq_loss_debug pairs them
/// (`create_activation_matching`: the float model's tensor against the QDQ model's post-QDQ tensor).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeOutput {
    pub node: String,
    pub op_type: String,
    /// The tensor of the float model: the node's first output, or the output of the Relu / Clip
    /// that was removed into it (the node now computes that tensor).
    pub output: String,
    /// Its name in the written model after the rewrite: `<output>_DequantizeLinear_Output` when the
    /// output is quantized (the name itself for a graph output, whose DequantizeLinear takes it),
    /// `output` unchanged when it is not.
    pub read_as: String,
}

/// What the rewrite did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QdqReport {
    pub tensors: Vec<QuantizedTensor>,
    /// Every quantized node that stays in the graph, in the float model's order.
    pub node_outputs: Vec<NodeOutput>,
    /// Nodes removed into their producer (Relu, Clip).
    pub removed_nodes: Vec<String>,
    /// Node op types of the written graph, in order.
    pub nodes: Vec<String>,
    pub opset: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Activation,
    Weight,
}

#[derive(Debug, Clone, PartialEq)]
struct TensorInfo {
    kind: Kind,
    /// Shares the parameters of (input, node name).
    provider: Option<(String, String)>,
    axis: Option<usize>,
}

#[derive(Debug, Clone)]
struct BiasInfo {
    input: String,
    weight: String,
    beta: f32,
}

#[derive(Debug, Clone)]
struct WeightParams {
    zero_point: Vec<i32>,
    scale: Vec<f32>,
    qtype: QType,
    axis: Option<usize>,
}

#[derive(Debug, Clone)]
struct QuantizedValue {
    scale_name: String,
    zp_name: String,
}

/// A Python dict's behaviour: insertion order, an existing key keeps its place when reassigned.
#[derive(Debug, Clone)]
struct OrderedMap<V> {
    entries: Vec<Option<(String, V)>>,
    index: HashMap<String, usize>,
}

impl<V: Clone> OrderedMap<V> {
    fn new() -> Self {
        OrderedMap { entries: Vec::new(), index: HashMap::new() }
    }
    fn contains(&self, k: &str) -> bool {
        self.index.contains_key(k)
    }
    fn get(&self, k: &str) -> Option<&V> {
        self.index.get(k).and_then(|&i| self.entries[i].as_ref()).map(|(_, v)| v)
    }
    fn insert(&mut self, k: &str, v: V) {
        match self.index.get(k) {
            Some(&i) => self.entries[i] = Some((k.to_string(), v)),
            None => {
                self.index.insert(k.to_string(), self.entries.len());
                self.entries.push(Some((k.to_string(), v)));
            }
        }
    }
    fn remove(&mut self, k: &str) {
        if let Some(i) = self.index.remove(k) {
            self.entries[i] = None;
        }
    }
    fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
    fn snapshot(&self) -> Vec<(String, V)> {
        self.entries.iter().flatten().cloned().collect()
    }
}

struct Quantizer {
    model: Model,
    opts: QdqOptions,
    opset: u64,
    op_types: HashSet<String>,
    types: HashMap<String, i32>,
    quantization_params: HashMap<String, (i32, f32)>,
    tensors_to_quantize: OrderedMap<TensorInfo>,
    bias_to_quantize: OrderedMap<BiasInfo>,
    removed: HashSet<usize>,
    producing_dq: HashSet<String>,
    /// The initializers of the model as given (BaseQuantizer.initializers).
    original_initializers: HashSet<String>,
    initializer_params: HashMap<String, WeightParams>,
    quantized: HashMap<String, QuantizedValue>,
    report: Vec<QuantizedTensor>,
}

fn is_float(t: i32) -> bool {
    t == FLOAT || t == FLOAT16
}

/// ORT quant_utils.normalize_axis.
fn normalize_axis(axis: i64, rank: usize) -> Option<usize> {
    let r = rank as i64;
    (-r..r).contains(&axis).then(|| if axis < 0 { (axis + r) as usize } else { axis as usize })
}

impl Quantizer {
    fn file(&self) -> &str {
        &self.model.file
    }

    fn initializer(&self, name: &str) -> Option<&Initializer> {
        self.model.initializer(name)
    }

    fn should_quantize_node(&self, n: &Node) -> bool {
        self.op_types.contains(&n.op_type)
            && n.op_type != "DequantizeLinear"
            && n.op_type != "QuantizeLinear"
            && !self.opts.nodes_to_exclude.contains(&n.name)
            && (self.opts.nodes_to_quantize.is_empty() || self.opts.nodes_to_quantize.contains(&n.name))
    }

    fn is_tensor_quantizable(&self, name: &str) -> bool {
        match self.initializer(name) {
            Some(i) => is_float(i.data_type),
            None => self.types.get(name).is_some_and(|&t| is_float(t)),
        }
    }

    fn mark(&mut self, name: &str, provider: Option<(String, String)>, kind: Kind) {
        if !self.is_tensor_quantizable(name) {
            return;
        }
        if provider.is_some() {
            self.tensors_to_quantize.insert(name, TensorInfo { kind, provider, axis: None });
        } else if !self.tensors_to_quantize.contains(name) {
            self.tensors_to_quantize.insert(name, TensorInfo { kind, provider: None, axis: None });
        }
    }

    fn activation(&mut self, name: &str) {
        self.mark(name, None, Kind::Activation)
    }

    fn output_same_as_input(&mut self, output: &str, input: &str, node: &str) {
        self.mark(output, Some((input.to_string(), node.to_string())), Kind::Activation)
    }

    fn weight(&mut self, name: &str) {
        self.mark(name, None, Kind::Weight)
    }

    fn weight_per_channel(&mut self, name: &str, axis: usize) {
        if self.initializer(name).is_some_and(|i| is_float(i.data_type)) {
            self.tensors_to_quantize.insert(name, TensorInfo { kind: Kind::Weight, provider: None, axis: Some(axis) });
        }
    }

    fn is_tensor_quantized(&self, name: &str) -> bool {
        self.tensors_to_quantize.contains(name) || self.bias_to_quantize.contains(name)
    }

    /// `is_tensor_per_channel`: the axis when per_channel is on and the axis fits the weight.
    fn per_channel_axis(&self, name: &str, default_axis: i64) -> Option<usize> {
        if !self.original_initializers.contains(name) || !self.opts.per_channel {
            return None;
        }
        let rank = self.initializer(name)?.dims.len();
        normalize_axis(default_axis, rank)
    }

    fn weight_maybe_per_channel(&mut self, name: &str, default_axis: i64) {
        match self.per_channel_axis(name, default_axis) {
            Some(axis) => self.weight_per_channel(name, axis),
            None => self.weight(name),
        }
    }

    fn bias(&mut self, node_name: &str, bias: &str, input: &str, weight: &str, beta: f32) -> Result<()> {
        let Some(init) = self.initializer(bias) else { return Ok(()) };
        if !is_float(init.data_type) {
            return Ok(());
        }
        let mut actual = bias.to_string();
        if self.bias_to_quantize.contains(bias) {
            // _dup_initializer: the bias shared by two nodes gets a copy named <bias><n>.
            let suffix = self.largest_initializer_suffix(bias) + 1;
            let copy = Initializer::f32s(&self.model.initializer_values(init)?, &format!("{bias}{suffix}"), init.dims.clone());
            actual = copy.name.clone();
            self.model.graph.initializers.push(copy);
            for n in self.model.graph.nodes.iter_mut().filter(|n| n.name == node_name) {
                for i in n.inputs.iter_mut().filter(|i| *i == bias) {
                    *i = actual.clone();
                }
            }
        }
        let info = BiasInfo { input: input.into(), weight: weight.into(), beta };
        self.bias_to_quantize.insert(&actual, info);
        Ok(())
    }

    fn largest_initializer_suffix(&self, prefix: &str) -> i64 {
        let mut suffix = -1;
        for i in &self.model.graph.initializers {
            if let Some(rest) = i.name.strip_prefix(prefix) {
                if let Ok(v) = rest.trim().parse::<i64>() {
                    suffix = suffix.max(v);
                }
            }
        }
        suffix
    }

    fn consumers(&self, name: &str) -> usize {
        self.model.graph.nodes.iter().map(|n| n.inputs.iter().any(|i| i == name) as usize).sum()
    }

    fn is_graph_output(&self, name: &str) -> bool {
        self.model.graph.outputs.iter().any(|o| o.name == name)
    }

    fn is_graph_input(&self, name: &str) -> bool {
        self.model.graph.inputs.iter().any(|o| o.name == name)
    }

    fn replace_input_of_all_nodes(&mut self, old: &str, new: &str) {
        for n in &mut self.model.graph.nodes {
            for i in n.inputs.iter_mut().filter(|i| *i == old) {
                *i = new.to_string();
            }
        }
    }

    fn replace_output_of_all_nodes(&mut self, old: &str, new: &str) {
        for n in &mut self.model.graph.nodes {
            for o in n.outputs.iter_mut().filter(|o| *o == old) {
                *o = new.to_string();
            }
        }
    }

    /// `try_replacing_upstream_output`: a Relu/Clip whose input has no other use is folded away.
    fn try_replacing_upstream_output(&mut self, upstream: &str, output: &str) -> bool {
        if self.quantization_params.contains_key(output)
            && self.consumers(upstream) == 1
            && !self.is_graph_output(upstream)
            && !self.is_graph_input(upstream)
        {
            self.replace_output_of_all_nodes(upstream, output);
            self.tensors_to_quantize.remove(upstream);
            return true;
        }
        false
    }

    fn pad_output_shares_input(&self, n: &Node) -> Result<bool> {
        let mode = n.attr_string("mode").unwrap_or(b"constant");
        if matches!(mode, b"reflect" | b"edge" | b"wrap") {
            return Ok(true);
        }
        if mode != b"constant" {
            return Ok(false);
        }
        let Some(&input_type) = n.inputs.first().and_then(|i| self.types.get(i)) else { return Ok(false) };
        let value = if self.opset < 11 {
            Some((input_type, n.attr_float("value").unwrap_or(0.0)))
        } else if let Some(c) = n.inputs.get(2).filter(|c| !c.is_empty()) {
            // get_constant_value: a Constant node's value, else an initializer.
            let constant = self.model.graph.nodes.iter().find(|m| m.op_type == "Constant" && m.outputs.first() == Some(c));
            match constant.and_then(|m| m.attr_tensor("value").map(|b| (m, b))) {
                Some((_, body)) => {
                    let t = Model::tensor_body_type(body).unwrap_or(0);
                    if is_float(t) {
                        self.model.tensor_body_values(c, body)?.first().map(|&v| (t, v))
                    } else {
                        None
                    }
                }
                None => match self.initializer(c) {
                    Some(i) if is_float(i.data_type) => self.model.initializer_values(i)?.first().map(|&v| (i.data_type, v)),
                    _ => None,
                },
            }
        } else {
            Some((input_type, 0.0))
        };
        Ok(matches!(value, Some((t, v)) if is_float(t) && v == 0.0))
    }

    /// The op quantizer of one node (registry.py CreateQDQQuantizer).
    fn quantize_node(&mut self, index: usize) -> Result<()> {
        let n = self.model.graph.nodes[index].clone();
        let input = |i: usize| n.inputs.get(i).cloned().unwrap_or_default();
        let output0 = n.outputs.first().cloned().unwrap_or_default();
        match n.op_type.as_str() {
            "Conv" | "ConvTranspose" => {
                self.activation(&input(0));
                self.activation(&output0);
                self.weight_maybe_per_channel(&input(1), if n.op_type == "Conv" { 0 } else { 1 });
                if n.inputs.len() == 3 {
                    self.bias(&n.name, &input(2), &input(0), &input(1), 1.0)?;
                }
            }
            "Gemm" => {
                self.activation(&input(0));
                self.activation(&output0);
                let trans_b = n.attr_int("transB").unwrap_or(0) > 0;
                self.weight_maybe_per_channel(&input(1), if trans_b { 0 } else { 1 });
                if n.inputs.len() == 3 && self.initializer(&input(2)).is_some() {
                    let beta = n.attr_float("beta").unwrap_or(1.0);
                    self.bias(&n.name, &input(2), &input(0), &input(1), beta)?;
                    // set_default_beta: the bias now carries beta.
                    if n.attr_float("beta").is_some() {
                        self.model.graph.nodes[index].set_float("beta", 1.0);
                    }
                }
            }
            "MatMul" => {
                for t in n.inputs.iter().chain(&n.outputs) {
                    if self.initializer(t).is_some() {
                        self.weight_maybe_per_channel(t, 1);
                    } else {
                        self.activation(t);
                    }
                }
            }
            "Clip" | "Relu" => {
                if !self.is_tensor_quantized(&input(0)) {
                    return Ok(());
                }
                if !self.opts.activation_symmetric && self.try_replacing_upstream_output(&input(0), &output0) {
                    self.removed.insert(index);
                } else {
                    self.activation(&input(0));
                }
                self.activation(&output0);
            }
            "Reshape" | "Transpose" | "Squeeze" | "Unsqueeze" | "Flatten" | "AveragePool" | "Slice" | "TopK" | "Resize"
            | "MaxPool" => {
                if (n.op_type == "Resize" && self.opset < 11) || (n.op_type == "MaxPool" && self.opset < 12) {
                    return Ok(());
                }
                if self.is_tensor_quantized(&input(0)) {
                    self.output_same_as_input(&output0, &input(0), &n.name);
                }
            }
            "Pad" => {
                for i in n.inputs.iter().filter(|i| !i.is_empty()) {
                    self.activation(i);
                }
                if self.pad_output_shares_input(&n)? {
                    self.output_same_as_input(&output0, &input(0), &n.name);
                } else {
                    self.activation(&output0);
                }
            }
            "Split" => {
                if !self.is_tensor_quantized(&input(0)) {
                    self.activation(&input(0));
                }
                for o in &n.outputs {
                    self.output_same_as_input(o, &input(0), &n.name);
                }
            }
            "Gather" | "GatherElements" => {
                if self.initializer(&input(0)).is_some_and(|i| is_float(i.data_type)) {
                    self.activation(&input(0));
                    self.output_same_as_input(&output0, &input(0), &n.name);
                } else if self.is_tensor_quantized(&input(0)) {
                    self.output_same_as_input(&output0, &input(0), &n.name);
                }
            }
            "Where" => {
                if self.is_tensor_quantized(&input(1)) && self.is_tensor_quantized(&input(2)) {
                    for o in &n.outputs {
                        self.activation(o);
                    }
                }
            }
            "InstanceNormalization" | "LayerNormalization" | "BatchNormalization" => {
                self.activation(&input(0));
                let scale_is_initializer = self.initializer(&input(1)).is_some();
                match self.per_channel_axis(&input(1), 1) {
                    Some(axis) => self.weight_per_channel(&input(1), axis),
                    None if scale_is_initializer => self.weight(&input(1)),
                    None => self.activation(&input(1)),
                }
                if n.inputs.len() > 2 && !input(2).is_empty() {
                    self.bias(&n.name, &input(2), &input(0), &input(1), 1.0)?;
                }
                for o in &n.outputs {
                    self.activation(o);
                }
            }
            // QDQOperatorBase: every input and output.
            _ => {
                for t in n.inputs.iter().chain(&n.outputs) {
                    self.activation(t);
                }
            }
        }
        Ok(())
    }

    /// `_calc_initializer_quant_params`.
    fn initializer_quant_params(&mut self) -> Result<()> {
        for (name, info) in self.tensors_to_quantize.snapshot() {
            let Some(init) = self.initializer(&name) else { continue };
            if init.data_type == FLOAT16 {
                return Err(Error::unsupported(self.file(), format!("initializer '{name}' is FLOAT16; this tool writes float32 scales only")));
            }
            let data = self.model.initializer_values(init)?;
            let is_weight = info.kind == Kind::Weight;
            let qtype = if is_weight { self.opts.weight } else { self.opts.activation };
            let symmetric = info.axis.is_some()
                || if is_weight { qtype == QType::S8 } else { self.opts.activation_symmetric };
            let reduce = self.opts.reduce_range;
            let (zero_point, scale) = params::weight_scale_zp(&data, &init.dims, info.axis, qtype, symmetric, reduce);
            self.initializer_params.insert(name, WeightParams { zero_point, scale, qtype, axis: info.axis });
        }
        Ok(())
    }

    /// `_adjust_weight_quant_params_for_bias_tensors`.
    fn adjust_weights_for_bias(&mut self) -> Result<()> {
        for (bias_name, b) in self.bias_to_quantize.snapshot() {
            let Some(&(_, input_scale)) = self.quantization_params.get(&b.input) else { continue };
            if !self.tensors_to_quantize.contains(&b.input) {
                continue;
            }
            let Some(w) = self.initializer_params.get(&b.weight) else { continue };
            if w.qtype != QType::S8 || w.zero_point.iter().any(|&z| z != 0) {
                continue;
            }
            let Some(bias) = self.initializer(&bias_name) else { continue };
            let bias = self.model.initializer_values(bias)?;
            let per_channel = w.axis.is_some();
            if let Some(new) = params::adjust_weight_scale_for_int32_bias(input_scale, &w.scale, &bias, per_channel) {
                if let Some(w) = self.initializer_params.get_mut(&b.weight) {
                    w.scale = new;
                }
            }
        }
        Ok(())
    }

    fn add_initializer(&mut self, init: Initializer) {
        // onnx_model.add_initializer keeps an existing initializer of that name.
        if self.initializer(&init.name).is_none() {
            self.model.graph.initializers.push(init);
        }
    }

    fn scale_zp_initializers(&mut self, name: &str, zero_point: &[i32], scale: &[f32], qtype: QType, per_axis: bool) -> (String, String) {
        let zp_name = format!("{name}_zero_point");
        let scale_name = format!("{name}_scale");
        let dims = if per_axis { vec![scale.len()] } else { vec![] };
        let zp_bytes: Vec<u8> = zero_point.iter().map(|&z| z as u8).collect();
        self.add_initializer(Initializer::new(&zp_name, qtype.onnx(), dims.clone(), &zp_bytes));
        self.add_initializer(Initializer::f32s(scale, &scale_name, dims));
        (scale_name, zp_name)
    }

    fn add_node(&mut self, n: Node) {
        self.model.graph.nodes.push(n);
    }

    fn qdq_for_initializer(&mut self, name: &str) -> Result<()> {
        if self.quantized.contains_key(name) {
            return Ok(());
        }
        let p = self.initializer_params.get(name).cloned().ok_or_else(|| {
            Error::malformed(self.file(), format!("initializer '{name}' has no quantization parameters"))
        })?;
        let (scale_name, zp_name) = self.scale_zp_initializers(name, &p.zero_point, &p.scale, p.qtype, p.axis.is_some());
        let dq_output = format!("{name}_DequantizeLinear_Output");
        self.replace_input_of_all_nodes(name, &dq_output);
        let init = self.initializer(name).cloned().ok_or_else(|| Error::malformed(self.file(), format!("no initializer '{name}'")))?;
        let data = self.model.initializer_values(&init)?;
        let codes = params::weight_codes(&data, &init.dims, p.axis, &p.scale, &p.zero_point, p.qtype);
        let q_name = format!("{name}_quantized");
        self.add_initializer(Initializer::new(&q_name, p.qtype.onnx(), init.dims.clone(), &codes));
        let mut dq = Node::new("DequantizeLinear", &format!("{name}_DequantizeLinear"), vec![q_name, scale_name.clone(), zp_name.clone()], vec![dq_output]);
        if let Some(axis) = p.axis {
            dq = dq.with_int("axis", axis as i64);
        }
        self.add_node(dq);
        let info = self.tensors_to_quantize.get(name).cloned();
        self.report.push(QuantizedTensor {
            name: name.to_string(),
            kind: if info.is_some_and(|i| i.kind == Kind::Activation) { "activation" } else { "weight" },
            qtype: p.qtype.label(),
            scale_name: scale_name.clone(),
            zero_point_name: zp_name.clone(),
            scale: p.scale.clone(),
            zero_point: p.zero_point.clone(),
            axis: p.axis,
            read_as: format!("{name}_DequantizeLinear_Output"),
        });
        self.quantized.insert(name.to_string(), QuantizedValue { scale_name, zp_name });
        Ok(())
    }

    /// Returns the tensor the consumers read now.
    fn qdq_pair_for_activation(&mut self, name: &str, scale_name: &str, zp_name: &str) -> String {
        let (q_input, dq_output) = if self.is_graph_output(name) {
            let q_input = format!("{name}_QuantizeLinear_Input");
            self.replace_output_of_all_nodes(name, &q_input);
            (q_input, name.to_string())
        } else {
            let dq_output = format!("{name}_DequantizeLinear_Output");
            self.replace_input_of_all_nodes(name, &dq_output);
            (name.to_string(), dq_output)
        };
        let q_output = format!("{name}_QuantizeLinear_Output");
        let inputs = |x: &str| vec![x.to_string(), scale_name.to_string(), zp_name.to_string()];
        self.add_node(Node::new("QuantizeLinear", &format!("{name}_QuantizeLinear"), inputs(&q_input), vec![q_output.clone()]));
        self.add_node(Node::new("DequantizeLinear", &format!("{name}_DequantizeLinear"), inputs(&q_output), vec![dq_output.clone()]));
        self.quantized.insert(name.to_string(), QuantizedValue { scale_name: scale_name.into(), zp_name: zp_name.into() });
        dq_output
    }

    /// `_quantize_normal_tensors`.
    fn quantize_normal_tensors(&mut self) -> Result<()> {
        for (name, info) in self.tensors_to_quantize.snapshot() {
            if self.quantized.contains_key(&name) || info.provider.is_some() {
                continue;
            }
            if self.initializer(&name).is_some() {
                self.qdq_for_initializer(&name)?;
            } else {
                if self.producing_dq.contains(&name) {
                    self.tensors_to_quantize.remove(&name);
                    continue;
                }
                if self.types.get(&name) == Some(&FLOAT16) {
                    return Err(Error::unsupported(self.file(), format!("tensor '{name}' is FLOAT16; this tool writes float32 scales only")));
                }
                let Some(&(zp, scale)) = self.quantization_params.get(&name) else {
                    return Err(Error::InvalidSpec(format!(
                        "{}: no calibrated range for tensor '{name}' (static quantization needs one for every input and output of the quantized nodes; calibrate with the tensors ptq_expose lists)",
                        self.file()
                    )));
                };
                let (scale_name, zp_name) = self.scale_zp_initializers(&name, &[zp], &[scale], self.opts.activation, false);
                let read_as = self.qdq_pair_for_activation(&name, &scale_name, &zp_name);
                self.report.push(QuantizedTensor {
                    name: name.clone(),
                    kind: "activation",
                    qtype: self.opts.activation.label(),
                    scale_name,
                    zero_point_name: zp_name,
                    scale: vec![scale],
                    zero_point: vec![zp],
                    axis: None,
                    read_as,
                });
            }
            self.tensors_to_quantize.remove(&name);
        }
        Ok(())
    }

    /// `_quantize_sharing_param_tensors`; ORT loops forever when a provider is never quantized,
    /// this says which.
    fn quantize_sharing_param_tensors(&mut self) -> Result<()> {
        while !self.tensors_to_quantize.is_empty() {
            let mut progressed = false;
            for (name, info) in self.tensors_to_quantize.snapshot() {
                let Some((input, _)) = &info.provider else { continue };
                let Some(q) = self.quantized.get(input).cloned() else { continue };
                self.tensors_to_quantize.remove(&name);
                progressed = true;
                if self.initializer(&name).is_some() {
                    return Err(Error::unsupported(self.file(), format!("'{name}': parameter sharing is not supported for weights")));
                }
                if self.producing_dq.contains(&name) {
                    return Err(Error::unsupported(self.file(), format!("'{name}' is already dequantized; it cannot share parameters")));
                }
                let read_as = self.qdq_pair_for_activation(&name, &q.scale_name, &q.zp_name);
                if let Some(src) = self.report.iter().find(|t| t.scale_name == q.scale_name).cloned() {
                    self.report.push(QuantizedTensor { name: name.clone(), kind: "activation", read_as, ..src });
                }
            }
            if !progressed {
                let left: Vec<String> = self.tensors_to_quantize.snapshot().into_iter().map(|(n, i)| format!("{n} (from {})", i.provider.map(|p| p.0).unwrap_or_default())).collect();
                return Err(Error::unsupported(self.file(), format!("tensors share the parameters of tensors that are never quantized: {}", left.join(", "))));
            }
        }
        Ok(())
    }

    fn scale_values(&self, scale_name: &str) -> Result<Vec<f32>> {
        let init = self.initializer(scale_name).ok_or_else(|| Error::malformed(self.file(), format!("no scale initializer '{scale_name}'")))?;
        self.model.initializer_values(init)
    }

    /// `_get_tensor_quantization_scale`.
    fn tensor_scale(&self, name: &str) -> Result<Option<Vec<f32>>> {
        if let Some(q) = self.quantized.get(name) {
            return Ok(Some(self.scale_values(&q.scale_name)?));
        }
        if let Some(dq) = self.model.graph.nodes.iter().find(|n| n.op_type == "DequantizeLinear" && n.outputs.iter().any(|o| o == name)) {
            if let Some(s) = dq.inputs.get(1) {
                if self.initializer(s).is_some() {
                    return Ok(Some(self.scale_values(s)?));
                }
            }
        }
        Ok(None)
    }

    /// `_quantize_bias_tensors` with `quantize_bias_static`.
    fn quantize_bias_tensors(&mut self) -> Result<()> {
        for (bias_name, b) in self.bias_to_quantize.snapshot() {
            if self.quantized.contains_key(&bias_name) {
                continue;
            }
            let weight_scale = self.tensor_scale(&b.weight)?.ok_or_else(|| {
                Error::unsupported(self.file(), format!("no quantization scale for weight input '{}' when quantizing bias '{bias_name}' to int32", b.weight))
            })?;
            let input_scale = self.tensor_scale(&b.input)?.ok_or_else(|| {
                Error::unsupported(self.file(), format!("no quantization scale for input '{}' when quantizing bias '{bias_name}' to int32", b.input))
            })?;
            let input_scale = input_scale.first().copied().unwrap_or(1.0);
            let init = self.initializer(&bias_name).cloned().ok_or_else(|| Error::malformed(self.file(), format!("no bias initializer '{bias_name}'")))?;
            if init.data_type == FLOAT16 {
                return Err(Error::unsupported(self.file(), format!("bias '{bias_name}' is FLOAT16; this tool writes float32 scales only")));
            }
            let mut data = self.model.initializer_values(&init)?;
            let mut beta = b.beta;
            if beta == 0.0 {
                data.iter_mut().for_each(|v| *v = 0.0);
                beta = 1.0;
            }
            // float32 products, as numpy computes input_scale * weight_scale * beta.
            let bias_scale: Vec<f32> = weight_scale.iter().map(|&w| input_scale * w * beta).collect();
            let codes = params::quantize_bias(&data, &bias_scale);
            let q_name = format!("{bias_name}_quantized");
            let raw: Vec<u8> = codes.iter().flat_map(|c| c.to_le_bytes()).collect();
            self.model.graph.initializers.push(Initializer::new(&q_name, INT32, init.dims.clone(), &raw));
            let scale_name = format!("{q_name}_scale");
            self.model.graph.initializers.push(Initializer::f32s(&bias_scale, &scale_name, vec![bias_scale.len()]));
            let zp_name = format!("{q_name}_zero_point");
            let per_channel = bias_scale.len() > 1;
            let zp_dims = if per_channel { vec![bias_scale.len()] } else { vec![] };
            let zeros = vec![0u8; 4 * bias_scale.len().max(1) * per_channel as usize + 4 * (!per_channel) as usize];
            self.model.graph.initializers.push(Initializer::new(&zp_name, INT32, zp_dims, &zeros));
            // remove_initializer: the float bias and a graph input of its name.
            self.model.graph.initializers.retain(|i| i.name != bias_name);
            if let Some(p) = self.model.graph.inputs.iter().position(|i| i.name == bias_name) {
                self.model.graph.inputs.remove(p);
            }
            let mut dq = Node::new("DequantizeLinear", &format!("{bias_name}_DequantizeLinear"), vec![q_name, scale_name.clone(), zp_name.clone()], vec![bias_name.clone()]);
            if per_channel {
                dq = dq.with_int("axis", 0);
            }
            self.add_node(dq);
            self.report.push(QuantizedTensor {
                name: bias_name.clone(),
                kind: "bias",
                qtype: "s32",
                scale_name: scale_name.clone(),
                zero_point_name: zp_name.clone(),
                scale: bias_scale.clone(),
                zero_point: vec![0; bias_scale.len()],
                axis: per_channel.then_some(0),
                read_as: bias_name.clone(),
            });
            self.quantized.insert(bias_name, QuantizedValue { scale_name, zp_name });
        }
        Ok(())
    }
}

/// onnx_model.py `clean_initializers`: initializers no node reads and no graph output names are
/// dropped, with graph inputs of their names.
pub(crate) fn clean_initializers(model: &mut Model) -> Result<()> {
    let file = model.file.clone();
    let g = &mut model.graph;
    let mut requested: HashSet<String> = g.nodes.iter().flat_map(|n| n.inputs.iter().filter(|i| !i.is_empty()).cloned()).collect();
    requested.extend(g.outputs.iter().map(|o| o.name.clone()));
    for n in &g.nodes {
        requested.extend(n.subgraph_inputs(&file)?);
    }
    for n in &g.nodes {
        for o in &n.outputs {
            requested.remove(o);
        }
    }
    let unused: HashSet<String> = g.initializers.iter().filter(|i| !requested.contains(&i.name)).map(|i| i.name.clone()).collect();
    g.initializers.retain(|i| !unused.contains(&i.name));
    g.inputs.retain(|i| !unused.contains(&i.name));
    Ok(())
}

/// onnx_model.py `topological_sort`, step for step (its order is the order ORT writes).
pub fn ort_topological_sort(model: &mut Model) -> Result<()> {
    let g = &mut model.graph;
    let nodes = std::mem::take(&mut g.nodes);
    // Counts may fall below zero (a tensor produced twice, or both an input and a node output), as
    // Python's ints do in ORT; a node is placed when its count reaches exactly zero.
    let mut deps = vec![0i64; nodes.len()];
    let mut deps_to_nodes: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut sorted: Vec<usize> = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        deps[i] = n.inputs.iter().filter(|s| !s.is_empty()).count() as i64;
        if deps[i] == 0 {
            sorted.push(i);
            continue;
        }
        for s in n.inputs.iter().filter(|s| !s.is_empty()) {
            deps_to_nodes.entry(s.as_str()).or_default().push(i);
        }
    }
    let mut names: Vec<&str> = g.initializers.iter().map(|i| i.name.as_str()).chain(g.inputs.iter().map(|i| i.name.as_str())).collect();
    names.sort();
    names.dedup();
    for name in names {
        if let Some(list) = deps_to_nodes.get(name) {
            for &j in list {
                deps[j] -= 1;
                if deps[j] == 0 {
                    sorted.push(j);
                }
            }
        }
    }
    let mut start = 0;
    while start < sorted.len() {
        for o in &nodes[sorted[start]].outputs {
            if let Some(list) = deps_to_nodes.get(o.as_str()) {
                for &j in list {
                    deps[j] -= 1;
                    if deps[j] == 0 {
                        sorted.push(j);
                    }
                }
            }
        }
        start += 1;
    }
    if sorted.len() != nodes.len() {
        let file = model.file.clone();
        let missing: Vec<String> = (0..nodes.len()).filter(|i| !sorted.contains(i)).take(5).map(|i| format!("'{}' ({})", nodes[i].name, nodes[i].op_type)).collect();
        return Err(Error::malformed(&file, format!("the graph is not a DAG or reads tensors nothing produces: nodes {} never become ready", missing.join(", "))));
    }
    let mut slots: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
    model.graph.nodes = sorted.into_iter().filter_map(|i| slots[i].take()).collect();
    Ok(())
}

/// The QDQ model quantize_static writes, from the calibrated range of each activation
/// (`ranges`: tensor → [min, max] as float32, as ORT's TensorsData holds them).
pub fn quantize_static(model: Model, ranges: &HashMap<String, (f32, f32)>, opts: &QdqOptions) -> Result<(Model, QdqReport)> {
    if opts.activation == QType::S8 && opts.weight == QType::U8 {
        return Err(Error::InvalidSpec("int8 activations with uint8 weights: onnxruntime's quantize_static refuses this pair (check_static_quant_arguments)".into()));
    }
    let opset = model.default_opset()?;
    if opset < 10 {
        return Err(Error::unsupported(
            &model.file,
            format!("the model imports opset {opset}; QuantizeLinear needs opset 10 (ORT converts such a model to opset 11 first — convert it with onnx.version_converter and quantize that)"),
        ));
    }
    if model.ir_version < 4 {
        return Err(Error::unsupported(&model.file, format!("IR version {} lists initializers as graph inputs; IR 4 or later is rewritten", model.ir_version)));
    }
    let types = model.elem_types();
    let original_initializers = model.graph.initializers.iter().map(|i| i.name.clone()).collect();
    let mut q = Quantizer {
        opset,
        op_types: opts.op_types.iter().cloned().collect(),
        opts: opts.clone(),
        types,
        quantization_params: HashMap::new(),
        tensors_to_quantize: OrderedMap::new(),
        bias_to_quantize: OrderedMap::new(),
        removed: HashSet::new(),
        producing_dq: HashSet::new(),
        original_initializers,
        initializer_params: HashMap::new(),
        quantized: HashMap::new(),
        report: Vec::new(),
        model,
    };

    // adjust_tensor_ranges: a Relu/Clip's lone input takes its output's range; Softmax's output is [0, 1].
    let mut ranges = ranges.clone();
    for n in &q.model.graph.nodes {
        if !q.should_quantize_node(n) {
            continue;
        }
        match n.op_type.as_str() {
            "Clip" | "Relu" => {
                let (Some(i), Some(o)) = (n.inputs.first(), n.outputs.first()) else { continue };
                if q.consumers(i) != 1 || !ranges.contains_key(i) {
                    continue;
                }
                if let Some(&r) = ranges.get(o) {
                    ranges.insert(i.clone(), r);
                }
            }
            "Softmax" => {
                if let Some(o) = n.outputs.first() {
                    ranges.insert(o.clone(), (0.0, 1.0));
                }
            }
            _ => {}
        }
    }
    // calc_graph_quant_params.
    let (qmin, qmax) = opts.activation.qmin_qmax(false, opts.activation_symmetric);
    for (name, &(lo, hi)) in &ranges {
        q.quantization_params.insert(name.clone(), params::compute_scale_zp(lo, hi, qmin, qmax, opts.activation_symmetric));
    }

    let count = q.model.graph.nodes.len();
    for i in 0..count {
        let n = &q.model.graph.nodes[i];
        if q.should_quantize_node(n) {
            q.quantize_node(i)?;
        }
        let n = &q.model.graph.nodes[i];
        if n.op_type == "DequantizeLinear" {
            let outs = n.outputs.clone();
            q.producing_dq.extend(outs);
        }
    }
    // After every node's turn a producer carries the name of the Relu / Clip removed into it; later
    // steps only rename graph outputs' producers (their DequantizeLinear takes the name).
    let quantized_nodes: Vec<(usize, String, String, String)> = (0..count)
        .filter(|&i| q.should_quantize_node(&q.model.graph.nodes[i]) && !q.removed.contains(&i))
        .filter_map(|i| {
            let n = &q.model.graph.nodes[i];
            Some((i, n.name.clone(), n.op_type.clone(), n.outputs.first()?.clone()))
        })
        .collect();
    q.initializer_quant_params()?;
    q.adjust_weights_for_bias()?;
    q.quantize_normal_tensors()?;
    q.quantize_sharing_param_tensors()?;
    q.quantize_bias_tensors()?;
    // A node counts as quantized when it reads a DequantizeLinear's output (ORT's QDQ form); a node of
    // a quantized op type whose inputs were never marked (a lone Relu) stays float. By index: the
    // original nodes are still 0..count (Q/DQ nodes were appended), and names may be empty.
    let dq_outputs: HashSet<&str> = q.model.graph.nodes.iter().filter(|n| n.op_type == "DequantizeLinear").flat_map(|n| n.outputs.iter().map(|o| o.as_str())).collect();
    let quantized_nodes: Vec<(String, String, String)> = quantized_nodes
        .into_iter()
        .filter(|(i, ..)| q.model.graph.nodes[*i].inputs.iter().any(|t| dq_outputs.contains(t.as_str())))
        .map(|(_, node, op_type, output)| (node, op_type, output))
        .collect();
    let mut removed_nodes = Vec::new();
    let mut kept = Vec::new();
    for (i, n) in std::mem::take(&mut q.model.graph.nodes).into_iter().enumerate() {
        if q.removed.contains(&i) {
            removed_nodes.push(n.name.clone());
        } else {
            kept.push(n);
        }
    }
    q.model.graph.nodes = kept;
    let node_outputs = quantized_nodes
        .into_iter()
        .map(|(node, op_type, output)| {
            let read_as = q.report.iter().find(|t| t.kind == "activation" && t.name == output).map_or_else(|| output.clone(), |t| t.read_as.clone());
            NodeOutput { node, op_type, output, read_as }
        })
        .collect();
    clean_initializers(&mut q.model)?;
    q.model.producer_name = Some("quant-playground".into());
    q.model.producer_version = Some(env!("CARGO_PKG_VERSION").into());
    ort_topological_sort(&mut q.model)?;
    let nodes = q.model.graph.nodes.iter().map(|n| n.op_type.clone()).collect();
    let report = QdqReport { tensors: q.report, node_outputs, removed_nodes, nodes, opset };
    Ok((q.model, report))
}
