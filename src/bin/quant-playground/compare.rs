//! `compare`: the page's comparison for one tensor, and a row for each `--format LABEL` after it.

use crate::common::{load, open, print_json, print_rows, SpecArgs};
use quant_playground::app::report;
use quant_playground::quant::NumberFormat;
use quant_playground::Result;

#[derive(clap::Args)]
pub struct Args {
    file: String,
    #[arg(long = "tensor")]
    tensor: String,
    #[command(flatten)]
    spec: SpecArgs,
    #[arg(long)]
    json: bool,
    /// One more row: any number format label (fp8-e4m3, mxfp4, nvfp4, nf4, q4_k, …); repeat for several.
    #[arg(long = "format")]
    formats: Vec<String>,
}

pub fn run(args: Args) -> Result<()> {
    let Args { file, tensor, spec, json, formats } = args;
    let specs = [spec.spec(8)?, spec.spec(4)?];
    let formats = formats.iter().map(|l| NumberFormat::parse(l)).collect::<Result<Vec<_>>>()?;
    let (index, mut source) = open(&file)?;
    let info = index.tensor(&tensor)?.clone();
    let x = load(&mut source, &info)?;
    let mut rows = report::compare(&info.name, info.dtype, &info.shape, &x, &specs)?;
    for format in &formats {
        rows.push(report::format_report(&info.name, info.dtype, &info.shape, &x, format)?);
    }
    if json {
        print_json(&serde_json::json!({ "file": file, "format": index.format, "tensors": rows }));
    } else {
        print_rows(&rows);
    }
    Ok(())
}
