//! Each quantized node's own output against FP32, streamed one evaluation sample at a time: the
//! float model's tensor (`NodeOutput::output`) against the QDQ model's post-QDQ tensor
//! (`NodeOutput::read_as`), the pairs onnxruntime's qdq_loss_debug matches
//! (`create_activation_matching`, "float" vs "post_qdq") and whose SQNR its
//! `compute_activation_error` reports as `xmodel_err`, over all samples concatenated. The error
//! sums add up sample by sample, so no activation is kept; the metrics are the numerics contract's
//! (metrics.rs: sqnr_db = 10·log10(Σx² / Σ(x − x̂)²), the same number as ORT's 20·log10(‖x‖ / ‖x − x̂‖)
//! but for ORT's floor at float epsilon where x̂ = x).

use super::qdq::NodeOutput;
use crate::error::{Error, Result};
use crate::kernels::{self, ErrorSums};
use crate::metrics::{self, Metrics};
use serde::Serialize;

/// One node's row: which tensors were compared and their error over the samples added.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeError {
    pub node: String,
    pub op_type: String,
    pub output: String,
    pub read_as: String,
    pub samples: usize,
    pub values: u64,
    #[serde(flatten)]
    pub metrics: Metrics,
}

#[derive(Debug, Clone)]
struct Accumulated {
    sums: ErrorSums,
    finite: u64,
    samples: usize,
}

/// The running error sums of every node's own output.
#[derive(Debug, Clone)]
pub struct NodeErrors {
    nodes: Vec<NodeOutput>,
    sums: Vec<Accumulated>,
}

impl NodeErrors {
    pub fn new(nodes: Vec<NodeOutput>) -> Result<Self> {
        if nodes.is_empty() {
            return Err(Error::InvalidSpec("per-node errors: the quantized model has no quantized node".into()));
        }
        let sums = vec![Accumulated { sums: ErrorSums::default(), finite: 0, samples: 0 }; nodes.len()];
        Ok(NodeErrors { nodes, sums })
    }

    /// Reads `[NodeOutput…]` as the QDQ report's `node_outputs` serializes them.
    pub fn from_json(text: &str) -> Result<Self> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| Error::InvalidSpec(format!("node outputs JSON: {e}")))?;
        let list = v.as_array().ok_or_else(|| Error::InvalidSpec("node outputs JSON: expected a list of {node, op_type, output, read_as}".into()))?;
        let mut nodes = Vec::with_capacity(list.len());
        for (i, n) in list.iter().enumerate() {
            let field = |k: &str| {
                n.get(k).and_then(|s| s.as_str()).map(String::from).ok_or_else(|| Error::InvalidSpec(format!("node outputs JSON: entry {i} has no string '{k}'")))
            };
            nodes.push(NodeOutput { node: field("node")?, op_type: field("op_type")?, output: field("output")?, read_as: field("read_as")? });
        }
        NodeErrors::new(nodes)
    }

    pub fn nodes(&self) -> &[NodeOutput] {
        &self.nodes
    }

    /// One sample of node `index`: its FP32 tensor and the quantized model's, the same length.
    pub fn add(&mut self, index: usize, reference: &[f32], quantized: &[f32]) -> Result<()> {
        let n = self.nodes.len();
        let node = self.nodes.get(index).ok_or_else(|| Error::InvalidSpec(format!("per-node errors: node {index} of {n}")))?;
        if reference.len() != quantized.len() {
            return Err(Error::InvalidSpec(format!(
                "per-node errors: node '{}': FP32 '{}' has {} values, the quantized model's '{}' {}",
                node.node,
                node.output,
                reference.len(),
                node.read_as,
                quantized.len()
            )));
        }
        let acc = &mut self.sums[index];
        acc.sums.merge(&kernels::error_sums_f32(reference, quantized));
        acc.finite += reference.iter().filter(|v| v.is_finite()).count() as u64;
        acc.samples += 1;
        Ok(())
    }

    /// Every node's row, in the report's order (the float model's).
    pub fn rows(&self) -> Vec<NodeError> {
        self.nodes
            .iter()
            .zip(&self.sums)
            .map(|(n, a)| NodeError {
                node: n.node.clone(),
                op_type: n.op_type.clone(),
                output: n.output.clone(),
                read_as: n.read_as.clone(),
                samples: a.samples,
                values: a.finite,
                metrics: metrics::metrics_from_sums(&a.sums, a.finite as usize, 0),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(node: &str) -> NodeOutput {
        NodeOutput { node: node.into(), op_type: "Conv".into(), output: format!("{node}_out"), read_as: format!("{node}_out_DequantizeLinear_Output") }
    }

    #[test]
    fn sums_add_up_over_samples() {
        let mut e = NodeErrors::new(vec![pair("a"), pair("b")]).unwrap();
        // Sample 1: x = [1, 2], x̂ = [1, 1.5]; sample 2: x = [3, 4], x̂ = [4, 4]. Over both:
        // Σx² = 30, Σe² = 0.25 + 1 = 1.25 → 10·log10(24) dB, max |e| 1, mse 1.25 / 4.
        e.add(0, &[1.0, 2.0], &[1.0, 1.5]).unwrap();
        e.add(0, &[3.0, 4.0], &[4.0, 4.0]).unwrap();
        e.add(1, &[0.5, -2.0], &[0.5, -2.0]).unwrap();
        let rows = e.rows();
        assert_eq!((rows[0].samples, rows[0].values), (2, 4));
        assert_eq!(rows[0].metrics.sqnr_db, 10.0 * (30.0f64 / 1.25).log10());
        assert_eq!((rows[0].metrics.max_abs_err, rows[0].metrics.mse), (1.0, 1.25 / 4.0));
        assert_eq!((rows[1].metrics.sqnr_db, rows[1].metrics.cosine), (f64::INFINITY, Some(1.0)));
        assert_eq!(rows[1].read_as, "b_out_DequantizeLinear_Output");
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        let mut e = NodeErrors::new(vec![pair("a")]).unwrap();
        let m = e.add(0, &[1.0, 2.0], &[1.0]).unwrap_err().to_string();
        assert!(m.contains("'a'") && m.contains("2 values") && m.contains("a_out_DequantizeLinear_Output"), "{m}");
        assert!(e.add(3, &[1.0], &[1.0]).unwrap_err().to_string().contains("node 3 of 1"));
        assert!(NodeErrors::new(Vec::new()).is_err());
        assert!(NodeErrors::from_json("[{\"node\": \"a\"}]").unwrap_err().to_string().contains("'op_type'"));
        assert!(NodeErrors::from_json("{}").is_err());
        let json = serde_json::to_string(&[pair("c")]).unwrap();
        assert_eq!(NodeErrors::from_json(&json).unwrap().nodes(), &[pair("c")]);
    }
}
