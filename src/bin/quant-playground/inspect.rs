//! `inspect`: the tensors of a file, their dtype, shape and bytes.

use crate::common::{open, print_json};
use quant_playground::tensor::stored::{StoredGranularity, StoredQuant};
use quant_playground::Result;
use serde::Serialize;

#[derive(clap::Args)]
pub struct Args {
    file: String,
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let Args { file, json } = args;
    inspect(&file, json)
}

#[derive(Serialize)]
struct InspectRow<'a> {
    name: &'a str,
    dtype: &'static str,
    shape: &'a [usize],
    bytes: u64,
    quantizable: bool,
    /// The quantization the file stores the tensor in, with its parameters.
    #[serde(skip_serializing_if = "Option::is_none")]
    quant: Option<&'a StoredQuant>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameter_of: Option<&'a str>,
}

/// "stored 8-bit per_axis(1), onnx_dequantize_linear (DequantizeLinear 'fc_dq')".
fn stored_label(q: &StoredQuant) -> String {
    let granularity = match q.granularity {
        StoredGranularity::PerTensor => "per tensor".to_string(),
        StoredGranularity::PerAxis { axis } => format!("per axis {axis}"),
        StoredGranularity::Blocked { axis, block_size } => format!("blocks of {block_size} along axis {axis}"),
    };
    let scheme = q.scheme.label();
    format!("stored {}-bit, {granularity}, {scheme} ({})", q.bits, q.op)
}

fn inspect(file: &str, json: bool) -> Result<()> {
    let (index, _) = open(file)?;
    let rows: Vec<InspectRow> = index
        .tensors
        .iter()
        .map(|t| InspectRow {
            name: &t.name,
            dtype: t.dtype.name(),
            shape: &t.shape,
            bytes: t.byte_len,
            quantizable: t.is_quantizable(),
            quant: t.quant.as_ref(),
            parameter_of: t.parameter_of.as_deref(),
        })
        .collect();
    if json {
        print_json(&serde_json::json!({ "format": index.format, "tensors": rows, "metadata": index.metadata }));
        return Ok(());
    }
    outln!("{file}: {:?}, {} tensors, {} bytes", index.format, rows.len(), index.file_len);
    for (k, v) in &index.metadata {
        outln!("  metadata {k} = {v}");
    }
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
    outln!("  {:width$}  {:8}  {:>20}  {:>12}", "name", "dtype", "shape", "bytes");
    for r in &rows {
        let note = match (r.quant, r.parameter_of) {
            (Some(q), _) => format!("  {}", stored_label(q)),
            (None, Some(of)) => format!("  (quantization parameter of {of})"),
            (None, None) if !r.quantizable => "  (not quantizable)".to_string(),
            _ => String::new(),
        };
        outln!("  {:width$}  {:8}  {:>20}  {:>12}{note}", r.name, r.dtype, format!("{:?}", r.shape), r.bytes);
    }
    Ok(())
}
