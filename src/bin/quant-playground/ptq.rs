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
    /// Which layer hurts (static QDQ): for each layer with weights, the final output with only that
    /// layer quantized, run on --eval-data through --engine against FP32, worst SQNR first; then the
    /// "keep N in FP32" suggestion (the worst 1, 2, … up to 5 excluded) until it matches FP32, measured.
    #[arg(long, requires_all = ["eval_data", "eval_output"])]
    blame: bool,
    /// --blame's evaluation inputs: a .npz like --calib-data's; an int array 'label' holds the labels.
    #[arg(long)]
    eval_data: Option<String>,
    /// --blame: the float output compared with FP32's.
    #[arg(long)]
    eval_output: Option<String>,
    /// --blame: the engine that runs the evaluated models (default: --engine's). The page measures with
    /// onnxruntime-web's graph optimizations on: "node scripts/ort_runner.mjs --optimization all".
    #[arg(long)]
    eval_engine: Option<String>,
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
    if a.blame && (a.dynamic || a.int4) {
        return Err(Error::InvalidSpec("--blame measures static QDQ one layer at a time; drop --dynamic / --int4".into()));
    }
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
    let blame = if a.blame { Some(blame(&a, &bytes, &ranges, &options)?) } else { None };
    let (out, report) = graph::quantize_static_model(&a.model, bytes, &ranges, &options)?;
    write(&a.out, &out)?;
    if a.json {
        let mut json = serde_json::json!({ "model": a.model, "out": a.out, "bytes": out.len(), "method": ranges.method, "batches": ranges.batches, "ranges": ranges.ranges, "report": report });
        if let Some(b) = blame {
            json["blame"] = b;
        }
        print_json(&json);
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
        if let Some(b) = &blame {
            print_blame(b);
        }
    }
    Ok(())
}

/// How many of the worst layers the suggestion tries keeping in FP32 (the page's MAX_KEPT, www/views/ptq).
const MAX_KEPT: usize = 5;

/// The page's ORIGINAL_OPS (www/worker/ptq.js): the op a dynamic rewrite names, back to the float ops.
fn original_ops(written: &str) -> Vec<String> {
    match written {
        "ConvInteger" => vec!["Conv".into()],
        "MatMulInteger" => vec!["MatMul".into(), "Gemm".into()],
        op => vec![op.into()],
    }
}

/// The evaluation samples without their 'label' array, and the labels (the page's ptq-inputs.js).
fn evaluation(path: &str) -> Result<(Vec<engine::Batch>, Option<Vec<i64>>)> {
    let mut batches = engine::calibration_batches(path)?;
    let mut labels = Vec::new();
    for b in &mut batches {
        if let Some(i) = b.iter().position(|x| x.name == "label") {
            let l = b.remove(i);
            let value = match (l.dtype, l.data.len()) {
                ("int64", 8) => i64::from_le_bytes(l.data[..8].try_into().expect("8 bytes")),
                ("int32", 4) => i32::from_le_bytes(l.data[..4].try_into().expect("4 bytes")) as i64,
                (dtype, n) => return Err(Error::malformed(path, format!("'label' should hold one int64 or int32 per sample, found {dtype} of {n} bytes"))),
            };
            labels.push(value);
        }
    }
    if labels.is_empty() {
        return Ok((batches, None));
    }
    if labels.len() != batches.len() {
        return Err(Error::malformed(path, format!("'label' has {} values for {} samples", labels.len(), batches.len())));
    }
    Ok((batches, Some(labels)))
}

/// The first index of each row's largest value (the page's argmax: ties go to the first).
fn argmax_rows(values: &[f32], rows: usize) -> Vec<usize> {
    let len = values.len() / rows.max(1);
    (0..rows)
        .map(|r| {
            let row = &values[r * len..(r + 1) * len];
            (1..len).fold(0, |best, j| if row[j] > row[best] { j } else { best })
        })
        .collect()
}

struct Measured {
    error: quant_playground::app::explore::OutputError,
    top1_agreement: f64,
    accuracy: Option<f64>,
}

impl Measured {
    fn json(&self) -> serde_json::Value {
        let mut j = serde_json::json!(self.error);
        j["top1_agreement"] = serde_json::json!(self.top1_agreement);
        j["accuracy"] = serde_json::json!(self.accuracy);
        j
    }
}

/// Which layer hurts, as the page's ptqBlame and ptqKeepInFp32 (www/worker/ptq.js) measure it: each
/// layer with weights (the ones a dynamic rewrite touches) quantized alone, its op types narrowed to its
/// own and every other such layer excluded (ORT's op_types_to_quantize and nodes_to_exclude); sorted by
/// the final output's SQNR, worst first; then the worst 1, 2, … kept in FP32 until FP32's accuracy (or,
/// without labels, full top-1 agreement) is reached.
fn blame(a: &Args, bytes: &[u8], ranges: &PtqRanges, options: &PtqOptions) -> Result<serde_json::Value> {
    let eval = a.eval_data.as_deref().expect("clap requires --eval-data");
    let output = a.eval_output.as_deref().expect("clap requires --eval-output");
    let (batches, labels) = evaluation(eval)?;
    let command: Vec<String> = match a.eval_engine.as_ref().or(a.engine.as_ref()) {
        Some(c) => c.split_whitespace().map(String::from).collect(),
        None => default_engine(),
    };
    let dir = std::env::temp_dir().join(format!("quant-playground-blame-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Error::Io { path: dir.display().to_string(), detail: e.to_string() })?;
    let path = dir.join("model.onnx").display().to_string();
    let quiet = a.json;
    let rows = batches.len();
    let result = (|| {
        let run = |model: &[u8], what: &str| -> Result<Vec<f32>> {
            write(&path, model)?;
            let got = engine::run_output_with_engine(&command, &path, &batches, output);
            if !quiet {
                eprint!("\r{what}                ");
            }
            got
        };
        let fp32 = run(bytes, "FP32")?;
        let fp32_top = argmax_rows(&fp32, rows);
        let share = |n: usize| n as f64 / rows as f64;
        let fp32_accuracy = labels.as_ref().map(|l| share(fp32_top.iter().zip(l).filter(|(p, l)| **p as i64 == **l).count()));
        let measure = |model: &[u8], what: &str| -> Result<Measured> {
            let got = run(model, what)?;
            let error = quant_playground::app::explore::output_error(&fp32, &got)?;
            let top = argmax_rows(&got, rows);
            Ok(Measured {
                error,
                top1_agreement: share(top.iter().zip(&fp32_top).filter(|(a, b)| a == b).count()),
                accuracy: labels.as_ref().map(|l| share(top.iter().zip(l).filter(|(p, l)| **p as i64 == **l).count())),
            })
        };
        let (_, listed) = graph::quantize_dynamic_model(&a.model, bytes.to_vec(), &PtqOptions::default())?;
        let nodes: Vec<(String, Vec<String>)> = listed.rewritten.iter().map(|(n, op)| (n.clone(), original_ops(op))).collect();
        let mut layers = Vec::new();
        for (k, (node, ops)) in nodes.iter().enumerate() {
            let only = PtqOptions {
                op_types: Some(ops.clone()),
                nodes_to_exclude: nodes.iter().filter(|(n, _)| n != node).map(|(n, _)| n.clone()).collect(),
                nodes_to_quantize: Vec::new(),
                ..options.clone()
            };
            let (model, _) = graph::quantize_static_model(&a.model, bytes.to_vec(), ranges, &only)?;
            let m = measure(&model, &format!("only {node} quantized ({} of {})", k + 1, nodes.len()))?;
            layers.push((node.clone(), ops.join(" or "), m));
        }
        // A stable sort on the SQNR, as the page's Array.prototype.sort.
        layers.sort_by(|x, y| x.2.error.sqnr_db.partial_cmp(&y.2.error.sqnr_db).unwrap_or(std::cmp::Ordering::Equal));
        let reached = |m: &Measured| match (m.accuracy, fp32_accuracy) {
            (Some(acc), Some(target)) => acc >= target,
            _ => m.top1_agreement >= 1.0,
        };
        let mut suggestion = serde_json::Value::Null;
        for n in 1..=MAX_KEPT.min(layers.len()) {
            let kept: Vec<String> = layers[..n].iter().map(|l| l.0.clone()).collect();
            let keep = PtqOptions { nodes_to_exclude: kept.clone(), nodes_to_quantize: Vec::new(), ..options.clone() };
            let (model, _) = graph::quantize_static_model(&a.model, bytes.to_vec(), ranges, &keep)?;
            let m = measure(&model, &format!("{n} kept in FP32"))?;
            let mut j = m.json();
            j["kept"] = serde_json::json!(kept);
            suggestion = j;
            if reached(&m) {
                break;
            }
        }
        if !quiet {
            eprintln!();
        }
        let layers: Vec<serde_json::Value> = layers
            .iter()
            .map(|(node, op, m)| {
                let mut j = m.json();
                j["node"] = serde_json::json!(node);
                j["op_type"] = serde_json::json!(op);
                j
            })
            .collect();
        Ok(serde_json::json!({ "output": output, "samples": rows, "fp32_accuracy": fp32_accuracy, "layers": layers, "suggestion": suggestion }))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn print_blame(b: &serde_json::Value) {
    outln!("  which layer hurts (final output '{}' with only that layer quantized, worst first):", b["output"].as_str().unwrap_or_default());
    for l in b["layers"].as_array().into_iter().flatten() {
        outln!("    {:<40} {:<12} SQNR {} dB, top-1 = FP32 {}, accuracy {}", l["node"].as_str().unwrap_or_default(), l["op_type"].as_str().unwrap_or_default(), l["sqnr_db"], l["top1_agreement"], l["accuracy"]);
    }
    let s = &b["suggestion"];
    outln!("  keep in FP32: {} → SQNR {} dB, top-1 = FP32 {}, accuracy {} (FP32: {})", s["kept"], s["sqnr_db"], s["top1_agreement"], s["accuracy"], b["fp32_accuracy"]);
}
