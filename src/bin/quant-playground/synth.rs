//! `synth`: a seeded synthetic activation set written as .safetensors, as the page makes it.

use quant_playground::{Error, Result};

#[derive(clap::Args)]
pub struct Args {
    /// gaussian, laplace, relu-gaussian, gaussian-outliers or llm-like.
    #[arg(long, default_value = "gaussian")]
    dist: String,
    #[arg(long, default_value_t = 64)]
    rows: usize,
    /// The seed (a fresh one from the operating system when left out; it is printed).
    #[arg(long)]
    seed: Option<u64>,
    /// The file to write.
    #[arg(short, long)]
    out: String,
}

pub fn run(args: Args) -> Result<()> {
    let Args { dist, rows, seed, out } = args;
    let dist = quant_playground::app::synthetic::Dist::parse(&dist)?;
    let seed = seed.unwrap_or_else(quant_playground::app::synthetic::random_seed);
    let bytes = quant_playground::app::synthetic::activations_safetensors(dist, rows, seed);
    std::fs::write(&out, bytes).map_err(|e| Error::Io { path: out.clone(), detail: e.to_string() })?;
    outln!("{out}: {} activations, {rows} × 768, seed {seed}", dist.name());
    Ok(())
}
