//! `formats`: the number formats the page's comparison offers (quant::format), or one label described.

use crate::common::print_json;
use quant_playground::quant::{format, NumberFormat};
use quant_playground::Result;

#[derive(clap::Args)]
pub struct Args {
    /// A label to describe and give in canonical form ("int3 asym tensor f16-scales", "q4_k").
    label: Option<String>,
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let Args { label, json } = args;
    let infos = match label {
        Some(label) => vec![NumberFormat::parse(&label)?.describe()],
        None => format::number_formats().into_iter().map(|f| f.info).collect(),
    };
    if json {
        print_json(&infos);
    } else {
        for f in infos {
            outln!("{:<32} {:<6} {:<6} {:>7} bits/weight  {}", f.label, f.title, f.family.name(), f.bits_per_weight, f.note);
        }
    }
    Ok(())
}
