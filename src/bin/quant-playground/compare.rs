//! `compare`: the page's comparison for one tensor, and a row for each `--format LABEL` after it.

use crate::common::{open, print_json, print_rows, SpecArgs};
use quant_playground::app::report;
use quant_playground::formats;
use quant_playground::quant::NumberFormat;

/// Values per chunk read from the file: 16 MiB of f32, whatever the tensor's size.
const CHUNK_ELEMENTS: usize = 1 << 22;
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
    let Args { file, tensor, spec, json, formats: labels } = args;
    let specs = [spec.spec(8)?, spec.spec(4)?];
    let extra = labels.iter().map(|l| NumberFormat::parse(l)).collect::<Result<Vec<_>>>()?;
    let (index, mut source) = open(&file)?;
    let info = index.tensor(&tensor)?.clone();
    if !info.is_quantizable() {
        return Err(quant_playground::Error::NotQuantizable { tensor: info.name.clone(), dtype: info.dtype.name().into() });
    }
    // Two reads in chunks of rows (the scaled formats' ranges, then every format measured): memory
    // holds a chunk, not the tensor (FP8 and NVFP4 take their tensor amax in the first read).
    let mut columns = report::compare_formats(&specs);
    columns.extend(extra);
    let mut stream = report::ComparisonStream::new(&info.name, info.dtype, &info.shape, &columns)?;
    if stream.needs_range_pass() {
        formats::for_each_chunk(&mut source, &info, CHUNK_ELEMENTS, |c| stream.feed_range(c))?;
        stream.end_range_pass()?;
    }
    formats::for_each_chunk(&mut source, &info, CHUNK_ELEMENTS, |c| stream.feed(c))?;
    let rows = stream.finish()?;
    if json {
        print_json(&serde_json::json!({ "file": file, "format": index.format, "tensors": rows }));
    } else {
        print_rows(&rows);
    }
    Ok(())
}
