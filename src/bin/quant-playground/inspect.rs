//! `inspect`: the tensors of a file, their dtype, shape and bytes.

use crate::common::{open, print_json};
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
}

fn inspect(file: &str, json: bool) -> Result<()> {
    let (index, _) = open(file)?;
    let rows: Vec<InspectRow> = index
        .tensors
        .iter()
        .map(|t| InspectRow { name: &t.name, dtype: t.dtype.name(), shape: &t.shape, bytes: t.byte_len, quantizable: t.dtype.is_quantizable() })
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
        let note = if r.quantizable { "" } else { "  (not quantizable)" };
        outln!("  {:width$}  {:8}  {:>20}  {:>12}{note}", r.name, r.dtype, format!("{:?}", r.shape), r.bytes);
    }
    Ok(())
}
