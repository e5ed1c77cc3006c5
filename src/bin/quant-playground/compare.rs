//! `compare`: the page's comparison for one tensor.

use crate::common::{load, open, print_json, print_rows, SpecArgs};
use quant_playground::app::report;
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
}

pub fn run(args: Args) -> Result<()> {
    let Args { file, tensor, spec, json } = args;
    let specs = [spec.spec(8)?, spec.spec(4)?];
    let (index, mut source) = open(&file)?;
    let info = index.tensor(&tensor)?.clone();
    let x = load(&mut source, &info)?;
    let rows = report::compare(&info.name, info.dtype, &info.shape, &x, &specs)?;
    if json {
        print_json(&serde_json::json!({ "file": file, "format": index.format, "tensors": rows }));
    } else {
        print_rows(&rows);
    }
    Ok(())
}
