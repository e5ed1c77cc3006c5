//! `export`: quantized weights written as a file other tools load (safetensors, GGUF, ONNX QDQ).

use crate::common::{open, print_json, SpecArgs};
use indicatif::{ProgressBar, ProgressStyle};
use quant_playground::calib;
use quant_playground::export::{self, ExportReport};
use quant_playground::formats;
use quant_playground::{Error, Result};

#[derive(clap::Args)]
pub struct Args {
    file: String,
    /// safetensors, safetensors:FORMAT (fp8-e4m3, mxfp4, nvfp4, nf4, …), onnx-qdq or gguf:TYPE.
    #[arg(long = "to")]
    to: String,
    /// The file to write.
    #[arg(short, long)]
    out: String,
    /// Only these tensors (repeat for several; safetensors and gguf); all when left out.
    #[arg(long = "tensor")]
    tensors: Vec<String>,
    #[command(flatten)]
    spec: SpecArgs,
    /// How each slot's range is chosen: minmax, percentile[:P], mse, entropy or entropy:trt.
    #[arg(long, default_value = "minmax")]
    calib: String,
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let Args { file, to, out, tensors, spec, calib, json } = args;
    let config = export::IntExport { spec: spec.spec(spec.bits)?, method: calib::Method::parse(&calib)? };
    export_file(&file, &export::ExportTarget::parse(&to)?, &out, &tensors, config, json)
}

fn export_file(file: &str, target: &export::ExportTarget, out: &str, only: &[String], config: export::IntExport, json: bool) -> Result<()> {
    let (index, mut source) = open(file)?;
    if !only.is_empty() && *target == export::ExportTarget::OnnxQdq {
        return Err(Error::InvalidSpec("--tensor is not used with onnx-qdq: the whole model is written back".into()));
    }
    let index = export::select_tensors(&index, only)?;
    let mut plan = export::make_plan(target, &index, &mut formats::SourceReader { file, source: &mut source }, config)?;
    let report = write_plan_file(plan.as_mut(), &mut source, out, json)?;
    if json {
        print_json(&serde_json::json!({ "file": file, "out": out, "to": target.label(), "export": report }));
    } else {
        print_export(out, &report);
    }
    Ok(())
}

/// Writes a plan to OUT.tmp with a progress bar, then renames it to OUT: a failed write leaves no
/// half-written file behind.
pub fn write_plan_file(plan: &mut dyn export::ExportPlan, source: &mut formats::FileSource, out: &str, json: bool) -> Result<ExportReport> {
    let tmp = format!("{out}.tmp");
    let io = |e: std::io::Error| Error::Io { path: tmp.clone(), detail: e.to_string() };
    let bar = ProgressBar::new(plan.sources().len() as u64);
    bar.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}").expect("valid template"));
    if json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let written = (|| {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io)?);
        let report = export::write_plan(plan, source, &mut w, &tmp, &mut |done, _, name| {
            bar.set_message(name.to_string());
            bar.set_position(done as u64);
        })?;
        w.into_inner().map_err(|e| io(e.into_error()))?.sync_all().map_err(io)?;
        Ok(report)
    })();
    bar.finish_and_clear();
    match written.and_then(|r| std::fs::rename(&tmp, out).map(|_| r).map_err(|e| Error::Io { path: out.into(), detail: e.to_string() })) {
        Ok(r) => Ok(r),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

pub fn print_export(out: &str, report: &ExportReport) {
    let width = report.tensors.iter().map(|t| t.name.len()).max().unwrap_or(6).max(6);
    outln!("{:width$}  {:10}  {:>12}  note", "tensor", "written as", "bytes");
    for t in &report.tensors {
        outln!("{:width$}  {:10}  {:>12}  {}", t.name, t.written_as, t.bytes, t.note.as_deref().unwrap_or(""));
    }
    outln!("wrote {out}: {}, {} tensors, {} bytes", report.format, report.tensors.len(), report.total_bytes);
}
