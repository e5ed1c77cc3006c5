//! `convert`: every listed tensor to a .safetensors, F32 where the playground reads values.

use crate::common::{open, print_json};
use crate::export::{print_export, write_plan_file};
use quant_playground::export::convert::plan_convert;
use quant_playground::Result;

#[derive(clap::Args)]
pub struct Args {
    file: String,
    /// The .safetensors file to write.
    #[arg(short, long)]
    out: String,
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let Args { file, out, json } = args;
    let (index, mut source) = open(&file)?;
    let mut plan = plan_convert(&index)?;
    let report = write_plan_file(&mut plan, &mut source, &out, json)?;
    if json {
        print_json(&serde_json::json!({ "file": file, "out": out, "convert": report }));
    } else {
        print_export(&out, &report);
    }
    Ok(())
}
