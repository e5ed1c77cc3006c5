//! The tensors ORT's calibrater collects for quantize_static, and the model that exposes them as
//! graph outputs (onnxruntime/python/tools/quantization/calibrate.py: `select_tensors_to_calibrate`,
//! `HistogramCalibrater.augment_graph`). ORT's MinMaxCalibrater adds ReduceMin/ReduceMax nodes
//! instead; the min and max of the exposed tensor are the same float32 numbers, so one exposed
//! model serves every method.

use super::model::{Model, ValueInfo, FLOAT, FLOAT16};
use crate::error::{Error, Result};
use super::qdq::DEFAULT_OP_TYPES;
use serde::Serialize;
use std::collections::HashSet;

/// One tensor to calibrate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExposedTensor {
    pub name: String,
    /// Already an output of the model as given.
    pub model_output: bool,
}

/// Every float input and output of the nodes of `op_types` that is not an initializer and whose
/// type is known, in first-use order (ORT keeps a set; the order does not change a range).
pub fn tensors_to_calibrate(model: &Model, op_types: &[String]) -> Vec<ExposedTensor> {
    let types = model.elem_types();
    let initializers: HashSet<&str> = model.graph.initializers.iter().map(|i| i.name.as_str()).collect();
    let outputs: HashSet<&str> = model.graph.outputs.iter().map(|o| o.name.as_str()).collect();
    let ops: HashSet<&str> = op_types.iter().map(|s| s.as_str()).collect();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for n in &model.graph.nodes {
        if !ops.contains(n.op_type.as_str()) {
            continue;
        }
        for t in n.inputs.iter().chain(&n.outputs) {
            let float = types.get(t).is_some_and(|&ty| ty == FLOAT || ty == FLOAT16);
            if float && !initializers.contains(t.as_str()) && seen.insert(t.clone()) {
                out.push(ExposedTensor { name: t.clone(), model_output: outputs.contains(t.as_str()) });
            }
        }
    }
    out
}

pub fn default_op_types() -> Vec<String> {
    DEFAULT_OP_TYPES.iter().map(|s| s.to_string()).collect()
}

/// The model with each tensor to calibrate added as a graph output (after the model's own).
pub fn expose(model: &Model, op_types: &[String]) -> (Model, Vec<ExposedTensor>) {
    let tensors = tensors_to_calibrate(model, op_types);
    (with_outputs(model, &tensors), tensors)
}

/// The model with the named tensors (node outputs or graph inputs) added as graph outputs.
pub fn expose_named(model: &Model, names: &[String]) -> Result<(Model, Vec<ExposedTensor>)> {
    let known: HashSet<&str> = model.graph.nodes.iter().flat_map(|n| n.outputs.iter()).chain(model.graph.inputs.iter().map(|i| &i.name)).map(|s| s.as_str()).collect();
    let outputs: HashSet<&str> = model.graph.outputs.iter().map(|o| o.name.as_str()).collect();
    let mut tensors = Vec::new();
    for n in names {
        if !known.contains(n.as_str()) {
            return Err(Error::InvalidSpec(format!("{}: no node output or graph input is named '{n}'", model.file)));
        }
        tensors.push(ExposedTensor { name: n.clone(), model_output: outputs.contains(n.as_str()) });
    }
    Ok((with_outputs(model, &tensors), tensors))
}

fn with_outputs(model: &Model, tensors: &[ExposedTensor]) -> Model {
    let types = model.elem_types();
    let mut exposed = model.clone();
    for t in tensors.iter().filter(|t| !t.model_output) {
        let known = model.graph.value_info.iter().chain(&model.graph.inputs).find(|v| v.name == t.name);
        let vi = match known {
            Some(v) => ValueInfo::tensor(&t.name, v.elem_type.unwrap_or(FLOAT), v.dims.clone()),
            None => ValueInfo::tensor(&t.name, types.get(&t.name).copied().unwrap_or(FLOAT), None),
        };
        exposed.graph.outputs.push(vi);
    }
    exposed
}
