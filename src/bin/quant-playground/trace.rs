//! `trace`: one output element through the static INT8 pipeline, and the whole output's error.

use crate::common::{load, only_or_named, open, print_json};
use quant_playground::calib;
use quant_playground::{Error, Result};
use serde::Serialize;

#[derive(clap::Args)]
pub struct Args {
    file: String,
    /// The 2-D weight W [out, in] (its `<prefix>.bias` is added when the file has one).
    #[arg(long = "tensor")]
    tensor: String,
    /// The output channel (row of W) to trace.
    #[arg(long, default_value_t = 0)]
    row: usize,
    /// The row of X (which input of the batch) to trace.
    #[arg(long, default_value_t = 0)]
    sample: usize,
    /// Synthetic x: gaussian, laplace, relu-gaussian, gaussian-outliers or llm-like.
    #[arg(long, default_value = "gaussian")]
    dist: String,
    /// Seed of the synthetic x (a fresh one from the operating system when left out; it is printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Rows of the synthetic x.
    #[arg(long, default_value_t = 8)]
    rows: usize,
    /// Activations from a file instead (.npy, .npz, .safetensors…): rows of the weight's input size.
    #[arg(long)]
    acts: Option<String>,
    /// The tensor of --acts (may be left out when it holds one float tensor).
    #[arg(long)]
    acts_tensor: Option<String>,
    /// Calibration of the input and output ranges: minmax, percentile[:P], mse, entropy, entropy:trt.
    #[arg(long, default_value = "minmax")]
    method: String,
    /// Leave the bias out even when the file has one.
    #[arg(long)]
    no_bias: bool,
    /// Fuse a ReLU after the layer (the clamp starts at the output zero point).
    #[arg(long)]
    relu: bool,
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let Args { file, tensor, row, sample, dist, seed, rows, acts, acts_tensor, method, no_bias, relu, json } = args;
    let inputs = match acts {
        Some(path) => TraceInputs::File { path, tensor: acts_tensor },
        None => TraceInputs::Synthetic { dist, seed: seed.unwrap_or_else(quant_playground::app::synthetic::random_seed), rows },
    };
    trace(&file, &tensor, row, sample, inputs, &method, !no_bias, relu, json)
}

enum TraceInputs {
    Synthetic { dist: String, seed: u64, rows: usize },
    File { path: String, tensor: Option<String> },
}

#[allow(clippy::too_many_arguments)]
fn trace(file: &str, tensor: &str, row: usize, sample: usize, inputs: TraceInputs, method: &str, with_bias: bool, relu: bool, json: bool) -> Result<()> {
    use quant_playground::app::trace;
    let (index, mut source) = open(file)?;
    let info = index.tensor(tensor)?.clone();
    if info.shape.len() < 2 {
        return Err(Error::InvalidSpec(format!("{file}: '{tensor}' has shape {:?}; the trace needs a weight [out, in…]", info.shape)));
    }
    let n = info.shape[0];
    let k: usize = info.shape[1..].iter().product();
    let w = load(&mut source, &info)?;
    let bias_info = trace::bias_name(tensor).filter(|_| with_bias).and_then(|b| index.tensors.iter().find(|t| t.name == b)).cloned();
    let bias = match &bias_info {
        Some(b) => Some(load(&mut source, b)?),
        None => None,
    };
    let (x, source_json) = match inputs {
        TraceInputs::Synthetic { dist, seed, rows } => {
            let d = quant_playground::app::synthetic::Dist::parse(&dist)?;
            let x = trace::synthetic_inputs(d, rows, k, seed);
            (x, serde_json::json!({ "kind": "synthetic", "distribution": d.name(), "seed": seed, "rows": rows }))
        }
        TraceInputs::File { path, tensor } => {
            let (aindex, mut asource) = open(&path)?;
            let ainfo = only_or_named(&path, &aindex, tensor.as_deref())?.clone();
            let x = load(&mut asource, &ainfo)?;
            let rows = trace::rows_of(&x, k, &format!("{path}: {}", ainfo.name))?;
            (x, serde_json::json!({ "kind": "file", "file": path, "tensor": ainfo.name, "rows": rows }))
        }
    };
    let m = x.len() / k.max(1);
    let method = calib::Method::parse(method)?;
    let t = trace::trace_outputs(&w, n, k, bias.as_deref(), &x, m, sample, row, &method, relu)
        .map_err(|e| Error::InvalidSpec(format!("{file}: '{tensor}': {e}")))?;
    if json {
        // Flattened rather than through serde_json::Value, so that f32 fields print as f32 (the page's digits).
        #[derive(Serialize)]
        struct TraceDocument<'a> {
            file: &'a str,
            tensor: &'a str,
            bias_tensor: Option<String>,
            inputs: serde_json::Value,
            #[serde(flatten)]
            trace: &'a trace::OutputsTrace,
        }
        print_json(&TraceDocument { file, tensor, bias_tensor: bias_info.map(|b| b.name), inputs: source_json, trace: &t });
    } else {
        outln!("{file}: {tensor} [{n}, {k}] × x [{m}, {k}] ({}), element y[{sample}, {row}]", source_json);
        out!("{}", t.text());
    }
    Ok(())
}
