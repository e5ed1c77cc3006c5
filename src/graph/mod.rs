//! ONNX graph rewriting for whole models, no interpreter: a real engine (onnxruntime in python,
//! onnxruntime-web in the page and under Node) runs the models this module writes.
//!
//! - `expose`: the model with every tensor ORT's calibrater collects added as a graph output;
//! - `calibration`: those tensors' batches streamed into per-tensor ranges, every method;
//! - `qdq`: the static QDQ model onnxruntime's `quantize_static` writes from those ranges;
//! - `dynamic`: the weights-only model onnxruntime's `quantize_dynamic` writes (MatMulInteger, ConvInteger);
//! - `int4`: INT4 weight-only MatMulNBits as onnxruntime's `MatMulNBitsQuantizer` writes it;
//! - `node_errors`: each quantized node's own output against FP32 (qdq_loss_debug's pairs), streamed;
//! - `model`: the in-memory ONNX model they share (read with the crate's protobuf reader,
//!   written with the ONNX QDQ export's protobuf writer); `params`: ORT's scale arithmetic.

pub mod calibration;
pub mod dynamic;
#[cfg(not(target_arch = "wasm32"))]
pub mod engine;
pub mod expose;
pub mod int4;
pub mod model;
pub mod node_errors;
pub mod params;
pub mod qdq;

use crate::error::{Error, Result};
use model::Model;
use params::QType;
use serde::{Deserialize, Serialize};

/// The settings of a rewrite, as the CLI flags and the page's JSON give them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PtqOptions {
    /// "u8" or "s8".
    pub activations: String,
    /// "s8" or "u8".
    pub weights: String,
    /// "tensor" or "channel".
    pub granularity: String,
    pub reduce_range: bool,
    /// Op types to quantize; None: ORT's default list.
    pub op_types: Option<Vec<String>>,
    pub nodes_to_exclude: Vec<String>,
    /// Static QDQ: when not empty, only these nodes are quantized (ORT nodes_to_quantize; one at a
    /// time shows which layer hurts).
    pub nodes_to_quantize: Vec<String>,
    /// ptq_expose: expose exactly these tensors (e.g. every node output of the float and the QDQ
    /// model, for per-layer errors) instead of the ones calibration needs.
    pub tensors: Option<Vec<String>>,
    /// INT4 weight-only: MatMulNBits block size (16..256, a power of two).
    pub int4_block_size: usize,
    /// INT4 weight-only: symmetric blocks (no zero points).
    pub int4_symmetric: bool,
}

impl Default for PtqOptions {
    fn default() -> Self {
        PtqOptions {
            activations: "u8".into(),
            weights: "s8".into(),
            granularity: "tensor".into(),
            reduce_range: false,
            op_types: None,
            nodes_to_exclude: Vec::new(),
            nodes_to_quantize: Vec::new(),
            tensors: None,
            int4_block_size: 128,
            int4_symmetric: false,
        }
    }
}

fn qtype(text: &str, what: &str) -> Result<QType> {
    match text {
        "u8" | "uint8" => Ok(QType::U8),
        "s8" | "int8" => Ok(QType::S8),
        t => Err(Error::InvalidSpec(format!("{what} '{t}': expected u8 or s8"))),
    }
}

impl PtqOptions {
    pub fn from_json(text: &str) -> Result<PtqOptions> {
        if text.trim().is_empty() {
            return Ok(PtqOptions::default());
        }
        serde_json::from_str(text).map_err(|e| Error::InvalidSpec(format!("ptq options JSON: {e}")))
    }

    pub fn op_types(&self) -> Vec<String> {
        self.op_types.clone().unwrap_or_else(expose::default_op_types)
    }

    pub fn qdq(&self) -> Result<qdq::QdqOptions> {
        let per_channel = match self.granularity.as_str() {
            "tensor" => false,
            "channel" => true,
            g => return Err(Error::InvalidSpec(format!("granularity '{g}': expected tensor or channel"))),
        };
        Ok(qdq::QdqOptions {
            activation: qtype(&self.activations, "activations")?,
            weight: qtype(&self.weights, "weights")?,
            per_channel,
            reduce_range: self.reduce_range,
            activation_symmetric: false,
            op_types: self.op_types(),
            nodes_to_exclude: self.nodes_to_exclude.clone(),
            nodes_to_quantize: self.nodes_to_quantize.clone(),
        })
    }
}

/// A graph input of the model: what a calibration batch must feed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelInput {
    pub name: String,
    /// ONNX TensorProto data type (1 float, 7 int64 …).
    pub elem_type: i32,
    /// Each dim a number, or a name for a symbolic one; empty when the rank is unknown.
    pub dims: Vec<serde_json::Value>,
}

/// The exposed model and what it exposes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exposed {
    #[serde(skip)]
    pub model: Vec<u8>,
    pub tensors: Vec<expose::ExposedTensor>,
    pub inputs: Vec<ModelInput>,
    /// The model's own outputs (first in the exposed model's outputs).
    pub outputs: Vec<String>,
}

/// `model_bytes` with every tensor to calibrate as an extra output.
pub fn expose_model(file: &str, model_bytes: Vec<u8>, options: &PtqOptions) -> Result<Exposed> {
    let model = Model::parse(file, model_bytes)?;
    let (exposed, tensors) = match &options.tensors {
        Some(names) => expose::expose_named(&model, names)?,
        None => expose::expose(&model, &options.op_types()),
    };
    let initializers: std::collections::HashSet<&str> = model.graph.initializers.iter().map(|i| i.name.as_str()).collect();
    let inputs = model
        .graph
        .inputs
        .iter()
        .filter(|i| !initializers.contains(i.name.as_str()))
        .map(|i| ModelInput {
            name: i.name.clone(),
            elem_type: i.elem_type.unwrap_or(0),
            dims: i
                .dims
                .iter()
                .flatten()
                .map(|d| match d {
                    model::Dim::Value(v) => serde_json::json!(v),
                    model::Dim::Param(p) => serde_json::json!(p),
                    model::Dim::Unknown => serde_json::Value::Null,
                })
                .collect(),
        })
        .collect();
    let outputs = model.graph.outputs.iter().map(|o| o.name.clone()).collect();
    Ok(Exposed { model: exposed.encode(), tensors, inputs, outputs })
}

/// The static QDQ model of `model_bytes` for the calibrated `ranges`.
pub fn quantize_static_model(file: &str, model_bytes: Vec<u8>, ranges: &calibration::PtqRanges, options: &PtqOptions) -> Result<(Vec<u8>, qdq::QdqReport)> {
    let model = Model::parse(file, model_bytes)?;
    let (out, report) = qdq::quantize_static(model, &ranges.as_map(), &options.qdq()?)?;
    Ok((out.encode(), report))
}

/// The INT4 weight-only (MatMulNBits) model of `model_bytes`.
pub fn quantize_int4_model(file: &str, model_bytes: Vec<u8>, options: &PtqOptions) -> Result<(Vec<u8>, int4::Int4Report)> {
    let model = Model::parse(file, model_bytes)?;
    let opts = int4::Int4Options {
        block_size: options.int4_block_size,
        symmetric: options.int4_symmetric,
        accuracy_level: None,
        nodes_to_exclude: options.nodes_to_exclude.clone(),
    };
    let (out, report) = int4::quantize_int4(model, &opts)?;
    Ok((out.encode(), report))
}

/// The dynamic (weights ahead, activations at run time) model of `model_bytes`, as quantize_dynamic writes it.
pub fn quantize_dynamic_model(file: &str, model_bytes: Vec<u8>, options: &PtqOptions) -> Result<(Vec<u8>, dynamic::DynamicReport)> {
    let model = Model::parse(file, model_bytes)?;
    let q = options.qdq()?;
    let opts = dynamic::DynamicOptions { weight: q.weight, per_channel: q.per_channel, reduce_range: q.reduce_range, nodes_to_exclude: q.nodes_to_exclude };
    let (out, report) = dynamic::quantize_dynamic(model, &opts)?;
    Ok((out.encode(), report))
}
