//! `quantize`: every (or each named) float tensor quantized, the report, and the integers dumped for numpy.

use crate::common::{load, open, print_json, print_rows, SpecArgs};
use indicatif::{ProgressBar, ProgressStyle};
use quant_playground::app::report::{self, TensorReport};
use quant_playground::calib;
use quant_playground::formats;
use quant_playground::quant::{self, Granularity, QuantSpec, QuantizedTensor, SlotLayout};
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
    /// Write DIR/<tensor>.q.npy, .scale.npy and .zero_point.npy for each tensor.
    #[arg(long)]
    dump: Option<String>,
    /// How each slot's range is chosen: minmax, percentile[:P], mse, entropy or entropy:trt.
    #[arg(long, default_value = "minmax")]
    calib: String,
}

pub fn run(args: Args) -> Result<()> {
    let Args { file, tensors, spec, json, dump, calib } = args;
    let spec = spec.spec(spec.bits)?;
    let method = calib::Method::parse(&calib)?;
    quantize(&file, &tensors, &spec, &method, json, dump.as_deref())
}

#[derive(Serialize)]
struct Skipped {
    name: String,
    dtype: &'static str,
    reason: &'static str,
}

fn quantize(file: &str, wanted: &[String], spec: &QuantSpec, method: &calib::Method, json: bool, dump: Option<&str>) -> Result<()> {
    let (index, mut source) = open(file)?;
    let mut chosen: Vec<TensorInfo> = Vec::new();
    let mut skipped = Vec::new();
    if wanted.is_empty() {
        for t in &index.tensors {
            if t.dtype.is_quantizable() {
                chosen.push(t.clone());
            } else {
                skipped.push(Skipped { name: t.name.clone(), dtype: t.dtype.name(), reason: "not a float tensor" });
            }
        }
    } else {
        for name in wanted {
            let t = index.tensor(name)?;
            if !t.dtype.is_quantizable() {
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
        let q = calib::quantize_calibrated(&x, &info.shape, spec, method)?;
        if let Some(dir) = dump {
            dump_tensor(Path::new(dir), &info.name, &q)?;
        }
        reports.push(report::int_report(&info.name, info.dtype, &q, &method.label()));
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

fn dump_tensor(dir: &Path, name: &str, q: &QuantizedTensor) -> Result<()> {
    let safe: String = name.chars().map(|c| if c == '/' || c == '\\' { '_' } else { c }).collect();
    let write = |suffix: &str, bytes: Vec<u8>| -> Result<()> {
        let path = dir.join(format!("{safe}.{suffix}.npy"));
        std::fs::write(&path, bytes).map_err(|e| Error::Io { path: path.display().to_string(), detail: e.to_string() })
    };
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
