//! `quantize`: every (or each named) float tensor quantized, the report, and the integers dumped for numpy.
//! `--type LABEL` takes any number format of the axis (quant::format): fp8-e4m3, mxfp4, nvfp4, nf4, q4_k,
//! an int label, …; without it the integer spec comes from --bits/--scheme/--granularity.

use crate::common::{load, open, print_json, print_rows, SpecArgs};
use indicatif::{ProgressBar, ProgressStyle};
use quant_playground::app::report::{self, TensorReport};
use quant_playground::calib;
use quant_playground::formats;
use quant_playground::quant::block::{self, BlockQuantized, BlockScales};
use quant_playground::quant::ggml;
use quant_playground::quant::{self, Granularity, NumberFormat, QuantSpec, QuantizedTensor, SlotLayout};
use quant_playground::tensor::TensorInfo;
use quant_playground::{Error, Result};
use serde::Serialize;
use std::path::Path;

#[derive(clap::Args)]
pub struct Args {
    file: String,
    /// A tensor to quantize; repeat for several.
    #[arg(long = "tensor")]
    tensors: Vec<String>,
    #[command(flatten)]
    spec: SpecArgs,
    #[arg(long)]
    json: bool,
    /// Write DIR/<tensor>.q.npy, .scale.npy and .zero_point.npy (integer specs; the codes and scales of
    /// the other formats, the blocks of a ggml type) and .dq.npy, the dequantized f32, for each tensor.
    #[arg(long)]
    dump: Option<String>,
    /// A number format label instead of the integer spec flags: fp8-e4m3, fp8-e5m2, mxfp4, mxfp6-e2m3,
    /// mxfp6-e3m2, mxfp8-e4m3, mxint8, nvfp4, nf4, a ggml type (q4_k, …), fp16, bf16 or an int label.
    #[arg(long = "type")]
    format_type: Option<String>,
    /// How each slot's range is chosen: minmax, percentile[:P], mse, entropy or entropy:trt.
    #[arg(long, default_value = "minmax")]
    calib: String,
}

pub fn run(args: Args) -> Result<()> {
    let Args { file, tensors, spec, json, dump, calib, format_type } = args;
    let method = calib::Method::parse(&calib)?;
    let format = match format_type {
        Some(label) => NumberFormat::parse(&label)?,
        None => NumberFormat::Scaled(spec.spec(spec.bits)?),
    };
    quantize(&file, &tensors, &format, &method, json, dump.as_deref())
}

#[derive(Serialize)]
struct Skipped {
    name: String,
    dtype: &'static str,
    reason: &'static str,
}

fn quantize(file: &str, wanted: &[String], format: &NumberFormat, method: &calib::Method, json: bool, dump: Option<&str>) -> Result<()> {
    let (index, mut source) = open(file)?;
    let mut chosen: Vec<TensorInfo> = Vec::new();
    let mut skipped = Vec::new();
    if wanted.is_empty() {
        for t in &index.tensors {
            if t.is_quantizable() {
                chosen.push(t.clone());
            } else {
                skipped.push(Skipped { name: t.name.clone(), dtype: t.dtype.name(), reason: "not a float tensor" });
            }
        }
    } else {
        for name in wanted {
            let t = index.tensor(name)?;
            if !t.is_quantizable() {
                return Err(Error::NotQuantizable { tensor: t.name.clone(), dtype: t.dtype.name().into() });
            }
            chosen.push(t.clone());
        }
    }
    if let Some(dir) = dump {
        std::fs::create_dir_all(dir).map_err(|e| Error::Io { path: dir.into(), detail: e.to_string() })?;
    }
    let bar = ProgressBar::new(chosen.len() as u64);
    if chosen.len() > 1 {
        bar.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}").expect("valid template"));
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut reports: Vec<TensorReport> = Vec::new();
    for info in &chosen {
        bar.set_message(info.name.clone());
        let x = load(&mut source, info)?;
        let dir = dump.map(Path::new);
        let row = match format {
            NumberFormat::Scaled(spec) => int_row(info, &x, spec, method, dir)?,
            NumberFormat::Block(b) => {
                let q = block::quantize(*b, &x, &info.shape);
                if let Some(dir) = dir {
                    dump_block(dir, &info.name, &q)?;
                }
                report::block_report(&info.name, info.dtype, &x, &q)
            }
            NumberFormat::Ggml(t) => {
                let (bytes, values) = ggml::round_trip(*t, &x, &info.shape)?;
                if let Some(dir) = dir {
                    write_file(dir, &info.name, &format!("{}.bin", t.name()), bytes)?;
                    write_dq(dir, &info.name, &info.shape, &values)?;
                }
                report::ggml_report(&info.name, info.dtype, &info.shape, &x, *t)?
            }
            NumberFormat::Float(cast) => {
                if let Some(dir) = dir {
                    write_dq(dir, &info.name, &info.shape, &cast.round_trip(&x))?;
                }
                report::float_report(&info.name, info.dtype, &info.shape, &x, *cast)?
            }
        };
        reports.push(row);
        bar.inc(1);
    }
    bar.finish_and_clear();
    if json {
        print_json(&serde_json::json!({ "file": file, "format": index.format, "tensors": reports, "skipped": skipped }));
    } else {
        print_rows(&reports);
        for s in &skipped {
            outln!("skipped {} ({}): {}", s.name, s.dtype, s.reason);
        }
        let fp32: u64 = reports.iter().map(|r| r.bytes_fp32).sum();
        let stored: u64 = reports.iter().map(|r| r.bytes_quantized).sum();
        if reports.len() > 1 {
            outln!("total: {fp32} B fp32 → {stored} B ({:.2}× smaller)", fp32 as f64 / stored.max(1) as f64);
        }
    }
    Ok(())
}

/// Shape of the scale / zero-point arrays so that they broadcast naturally in numpy:
/// per-tensor (), per-channel (C,), per-group the tensor's leading axes + (groups per row,).
fn params_shape(shape: &[usize], layout: &SlotLayout, g: Granularity) -> Vec<usize> {
    match g {
        Granularity::PerTensor => vec![],
        Granularity::PerChannel { .. } => vec![layout.slots],
        Granularity::PerGroup { .. } => {
            let mut s: Vec<usize> = if shape.is_empty() { vec![] } else { shape[..shape.len() - 1].to_vec() };
            let rows: usize = s.iter().product();
            s.push(layout.slots.checked_div(rows).unwrap_or(0));
            s
        }
    }
}

/// An integer spec through the chosen calibration: its row, and its dump with the dequantized values.
fn int_row(info: &TensorInfo, x: &[f32], spec: &QuantSpec, method: &calib::Method, dir: Option<&Path>) -> Result<TensorReport> {
    let q = calib::quantize_calibrated(x, &info.shape, spec, method)?;
    if let Some(dir) = dir {
        dump_tensor(dir, &info.name, &q)?;
        write_dq(dir, &info.name, &q.shape, &q.dequantize())?;
    }
    Ok(report::int_report(&info.name, info.dtype, &q, &method.label()))
}

/// DIR/<tensor, with '/' and '\' made '_'>.<suffix>.
fn write_file(dir: &Path, name: &str, suffix: &str, bytes: Vec<u8>) -> Result<()> {
    let safe: String = name.chars().map(|c| if c == '/' || c == '\\' { '_' } else { c }).collect();
    let path = dir.join(format!("{safe}.{suffix}"));
    std::fs::write(&path, bytes).map_err(|e| Error::Io { path: path.display().to_string(), detail: e.to_string() })
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// <tensor>.dq.npy: the dequantized values as f32, in the tensor's shape.
fn write_dq(dir: &Path, name: &str, shape: &[usize], values: &[f32]) -> Result<()> {
    write_file(dir, name, "dq.npy", formats::npy::write("<f4", shape, &f32_bytes(values)))
}

/// A block format's codes (one per byte, in the tensor's shape), its scales — E8M0 / E4M3 codes as u8
/// (leading axes + blocks per row), NF4's absmax as f32 per block of the flattened tensor, FP8's and
/// NVFP4's tensor scale as a 0-d f32 — and the dequantized values.
fn dump_block(dir: &Path, name: &str, q: &BlockQuantized) -> Result<()> {
    write_file(dir, name, "q.npy", formats::npy::write("|u1", &q.shape, &q.codes))?;
    let per_row = |blocks: usize| {
        let mut s: Vec<usize> = q.shape.split_last().map(|(_, lead)| lead.to_vec()).unwrap_or_default();
        let rows: usize = s.iter().product();
        s.push(blocks.checked_div(rows).unwrap_or(0));
        s
    };
    match &q.scales {
        BlockScales::Tensor(s) => write_file(dir, name, "scale.npy", formats::npy::write("<f4", &[], &f32_bytes(&[*s])))?,
        BlockScales::E8m0(c) => write_file(dir, name, "scale.npy", formats::npy::write("|u1", &per_row(c.len()), c))?,
        BlockScales::E4m3 { codes, tensor_scale } => {
            write_file(dir, name, "scale.npy", formats::npy::write("|u1", &per_row(codes.len()), codes))?;
            write_file(dir, name, "tensor_scale.npy", formats::npy::write("<f4", &[], &f32_bytes(&[*tensor_scale])))?;
        }
        BlockScales::Absmax(a) => write_file(dir, name, "scale.npy", formats::npy::write("<f4", &[a.len()], &f32_bytes(a)))?,
    }
    write_dq(dir, name, &q.shape, &q.values)
}

fn dump_tensor(dir: &Path, name: &str, q: &QuantizedTensor) -> Result<()> {
    let write = |suffix: &str, bytes: Vec<u8>| write_file(dir, name, &format!("{suffix}.npy"), bytes);
    let codes = match &q.codes {
        quant::Codes::I8(v) => formats::npy::write("|i1", &q.shape, &v.iter().map(|&c| c as u8).collect::<Vec<_>>()),
        quant::Codes::U8(v) => formats::npy::write("|u1", &q.shape, v),
    };
    write("q", codes)?;
    let pshape = params_shape(&q.shape, &q.layout, q.spec.granularity);
    let scales: Vec<u8> = q.scales.iter().flat_map(|s| s.to_le_bytes()).collect();
    write("scale", formats::npy::write("<f4", &pshape, &scales))?;
    let zps: Vec<u8> = q.zero_points.iter().flat_map(|z| z.to_le_bytes()).collect();
    write("zero_point", formats::npy::write("<i4", &pshape, &zps))
}
