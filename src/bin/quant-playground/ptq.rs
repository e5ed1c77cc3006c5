//! `quant-playground ptq`: post-training quantization of a whole ONNX model. The CLI has no
//! interpreter: the activations come from a real engine run as a subprocess on the exposed model
//! (src/graph/engine.rs; default scripts/ptq_engine.py, onnxruntime python), or from a ranges
//! JSON that any engine's calibration wrote (`--ranges`, the page's PtqCalibrator.ranges()).

use crate::common::print_json;
use quant_playground::graph::calibration::{PtqCalibration, PtqMethod, PtqRanges};
use quant_playground::graph::{self, engine, PtqOptions};
use quant_playground::{Error, Result};
use std::path::Path;

#[derive(clap::Args)]
pub struct Args {
    /// The ONNX model (self-contained: no external data).
    model: String,
    /// Calibration inputs: a .npz with one array per model input (first axis: samples, each fed
    /// as a batch of 1), or a folder of .npz files, each one batch.
    #[arg(long)]
    calib_data: Option<String>,
    /// minmax, percentile (99.999), percentile:P, entropy, distribution or mse.
    #[arg(long, default_value = "minmax")]
    method: String,
    /// Weights per tensor or per output channel (ORT per_channel).
    #[arg(long, default_value = "tensor")]
    granularity: String,
    /// Activation type: u8 or s8.
    #[arg(long, default_value = "u8")]
    activations: String,
    /// Weight type: s8 or u8.
    #[arg(long, default_value = "s8")]
    weights: String,
    /// ORT reduce_range (7-bit weights).
    #[arg(long)]
    reduce_range: bool,
    /// A node to keep in FP32 (ORT nodes_to_exclude); repeat for several.
    #[arg(long = "exclude")]
    exclude: Vec<String>,
    /// Quantize only this node (ORT nodes_to_quantize); repeat for several.
    #[arg(long = "only-node")]
    only_node: Vec<String>,
    /// The activation engine command; the exposed model's path is appended.
    /// Default: python3 scripts/ptq_engine.py (onnxruntime python).
    #[arg(long)]
    engine: Option<String>,
    /// Calibrated ranges from a file (JSON {"ranges": {tensor: [min, max]}}) instead of running an engine.
    #[arg(long)]
    ranges: Option<String>,
    /// Also write the calibrated ranges as JSON.
    #[arg(long)]
    save_ranges: Option<String>,
    /// Write the exposed model (every calibrated tensor an output) here too.
    #[arg(long)]
    save_exposed: Option<String>,
    /// Dynamic quantization instead (ORT quantize_dynamic: int8 weights, uint8 activations quantized at
    /// run time by DynamicQuantizeLinear, MatMulInteger / ConvInteger); needs no calibration.
    #[arg(long)]
    dynamic: bool,
    /// INT4 weight-only instead: every MatMul with a 2-D float weight becomes com.microsoft MatMulNBits
    /// (ORT MatMulNBitsQuantizer's default form); needs no calibration.
    #[arg(long)]
    int4: bool,
    /// INT4 block size along K (16, 32, 64, 128 or 256).
    #[arg(long, default_value_t = 128)]
    int4_block_size: usize,
    /// INT4 symmetric blocks (no zero points).
    #[arg(long)]
    int4_symmetric: bool,
    #[arg(short, long)]
    out: String,
    #[arg(long)]
    json: bool,
}

fn read(path: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Io { path: path.into(), detail: e.to_string() })
}

fn write(path: &str, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::Io { path: path.into(), detail: e.to_string() })
}

/// scripts/ptq_engine.py from the working directory, else from the source tree of this binary.
fn default_engine() -> Vec<String> {
    let local = "scripts/ptq_engine.py";
    let script = if Path::new(local).exists() { local.to_string() } else { format!("{}/{local}", env!("CARGO_MANIFEST_DIR")) };
    vec!["python3".into(), script]
}

/// Writes the model and prints the report (JSON) or one line.
fn finish(a: &Args, out: &[u8], report: serde_json::Value, line: &str) -> Result<()> {
    write(&a.out, out)?;
    if a.json {
        print_json(&serde_json::json!({ "model": a.model, "out": a.out, "bytes": out.len(), "report": report }));
    } else {
        outln!("{}: {line}; {} bytes", a.out, out.len());
    }
    Ok(())
}

pub fn run(a: Args) -> Result<()> {
    let options = PtqOptions {
        activations: a.activations.clone(),
        weights: a.weights.clone(),
        granularity: a.granularity.clone(),
        reduce_range: a.reduce_range,
        op_types: None,
        nodes_to_exclude: a.exclude.clone(),
        nodes_to_quantize: a.only_node.clone(),
        tensors: None,
        int4_block_size: a.int4_block_size,
        int4_symmetric: a.int4_symmetric,
    };
    options.qdq()?;
    let bytes = read(&a.model)?;
    if a.dynamic {
        let (out, report) = graph::quantize_dynamic_model(&a.model, bytes, &options)?;
        let line = format!(
            "dynamic ({} weights, {}): {} nodes rewritten, {} weights quantized",
            options.weights,
            options.granularity,
            report.rewritten.len(),
            report.weights.len()
        );
        return finish(&a, &out, serde_json::json!(report), &line);
    }
    if a.int4 {
        let (out, report) = graph::quantize_int4_model(&a.model, bytes, &options)?;
        let line = format!(
            "INT4 weight-only (MatMulNBits, block {}, {}): {} MatMul weights quantized, {} left in float",
            report.block_size,
            if report.symmetric { "symmetric" } else { "asymmetric" },
            report.weights.len(),
            report.skipped.len()
        );
        return finish(&a, &out, serde_json::json!(report), &line);
    }
    let ranges = match (&a.ranges, &a.calib_data) {
        (Some(path), _) => PtqRanges::from_json(&String::from_utf8_lossy(&read(path)?))?,
        (None, Some(data)) => {
            let method = PtqMethod::parse(&a.method)?;
            let exposed = graph::expose_model(&a.model, bytes.clone(), &options)?;
            let dir = std::env::temp_dir().join(format!("quant-playground-ptq-{}", std::process::id()));
            std::fs::create_dir_all(&dir).map_err(|e| Error::Io { path: dir.display().to_string(), detail: e.to_string() })?;
            let exposed_path = a.save_exposed.clone().unwrap_or_else(|| dir.join("exposed.onnx").display().to_string());
            write(&exposed_path, &exposed.model)?;
            let batches = engine::calibration_batches(data)?;
            let names: Vec<String> = exposed.tensors.iter().map(|t| t.name.clone()).collect();
            let mut calibration = PtqCalibration::new(method, &names)?;
            let command = match &a.engine {
                Some(c) => c.split_whitespace().map(String::from).collect(),
                None => default_engine(),
            };
            let quiet = a.json;
            let result = engine::calibrate_with_engine(&command, &exposed_path, &batches, &mut calibration, |done, all| {
                if !quiet {
                    eprint!("\rcalibrating: {done}/{all} batch runs");
                }
            });
            if !quiet {
                eprintln!();
            }
            let _ = std::fs::remove_dir_all(&dir);
            result?
        }
        (None, None) => return Err(Error::InvalidSpec("ptq needs --calib-data (inputs to run through an engine) or --ranges (calibrated ranges)".into())),
    };
    if let Some(path) = &a.save_ranges {
        write(path, serde_json::to_string_pretty(&ranges).map_err(|e| Error::InvalidSpec(e.to_string()))?.as_bytes())?;
    }
    let (out, report) = graph::quantize_static_model(&a.model, bytes, &ranges, &options)?;
    write(&a.out, &out)?;
    if a.json {
        print_json(&serde_json::json!({ "model": a.model, "out": a.out, "bytes": out.len(), "method": ranges.method, "batches": ranges.batches, "ranges": ranges.ranges, "report": report }));
    } else {
        let count = |k: &str| report.tensors.iter().filter(|t| t.kind == k).count();
        outln!(
            "{}: static QDQ ({} activations, {} weights, {}), {} calibration by {} over {} batches",
            a.out,
            options.activations,
            options.weights,
            options.granularity,
            ranges.ranges.len(),
            ranges.method,
            ranges.batches
        );
        outln!(
            "  {} activations, {} weights, {} biases quantized; {} nodes ({} removed into their producer); {} bytes",
            count("activation"),
            count("weight"),
            count("bias"),
            report.nodes.len(),
            report.removed_nodes.len(),
            out.len()
        );
    }
    Ok(())
}
