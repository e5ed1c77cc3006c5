//! What the subcommands share: stdout that survives a closed pipe, the integer spec's flags, opening
//! a file and decoding a tensor, JSON and the report table.

use quant_playground::app::report::TensorReport;
use quant_playground::formats::{self, FileIndex, FileSource};
use quant_playground::quant::{Granularity, QuantSpec, ScaleDType, Scheme};
use quant_playground::tensor::{decode_to_f32, TensorInfo};
use quant_playground::{Error, Result};
use serde::Serialize;

/// println! panics when stdout is closed (`quant-playground … | head`); end quietly instead, with the
/// status a Unix tool killed by SIGPIPE has.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write;
        if writeln!(std::io::stdout(), $($t)*).is_err() {
            std::process::exit(141);
        }
    }};
}
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write;
        if write!(std::io::stdout(), $($t)*).is_err() {
            std::process::exit(141);
        }
    }};
}

#[derive(clap::Args, Clone)]
pub struct SpecArgs {
    /// Bit width of the integer codes, 2..=8.
    #[arg(long, default_value_t = 8)]
    pub bits: u8,
    /// sym (signed, zero point 0) or asym (unsigned with a zero point).
    #[arg(long, default_value = "sym", value_parser = ["sym", "asym", "symmetric", "asymmetric"])]
    scheme: String,
    /// Symmetric only: use −2^(b−1) too (default narrow range −qmax..qmax).
    #[arg(long)]
    full_range: bool,
    /// tensor, channel, channel:AXIS or group:G.
    #[arg(long, default_value = "tensor")]
    granularity: String,
    /// Store scales as f32 or f16.
    #[arg(long, default_value = "f32", value_parser = ["f32", "f16"])]
    scale_dtype: String,
}

impl SpecArgs {
    pub fn spec(&self, bits: u8) -> Result<QuantSpec> {
        let scheme = if self.scheme.starts_with("asym") { Scheme::Asymmetric } else { Scheme::Symmetric };
        let mut spec = QuantSpec::new(bits, scheme, Granularity::parse(&self.granularity)?);
        spec.format.full_range = self.full_range;
        spec.scale_dtype = if self.scale_dtype == "f16" { ScaleDType::F16 } else { ScaleDType::F32 };
        spec.validate()?;
        Ok(spec)
    }
}

pub fn open(path: &str) -> Result<(FileIndex, FileSource)> {
    let mut source = FileSource::open(path)?;
    let index = formats::read_index(path, &mut source)?;
    Ok((index, source))
}

pub fn load(source: &mut FileSource, info: &TensorInfo) -> Result<Vec<f32>> {
    let bytes = formats::read_tensor_bytes(source, info)?;
    decode_to_f32(info, &bytes)
}

pub fn print_json<T: Serialize>(value: &T) {
    outln!("{}", serde_json::to_string_pretty(value).expect("reports serialize"));
}

/// The one float tensor of a file, or the named one.
pub fn only_or_named<'a>(file: &str, index: &'a FileIndex, tensor: Option<&str>) -> Result<&'a TensorInfo> {
    if let Some(name) = tensor {
        return index.tensor(name);
    }
    let floats: Vec<&TensorInfo> = index.tensors.iter().filter(|t| t.is_quantizable()).collect();
    match floats.as_slice() {
        [one] => Ok(one),
        [] => Err(Error::InvalidSpec(index.holdings())),
        _ => {
            let names: Vec<&str> = floats.iter().map(|t| t.name.as_str()).collect();
            Err(Error::InvalidSpec(format!("{file} holds {} float tensors; choose one ({})", floats.len(), names.join(", "))))
        }
    }
}

pub fn fmt_db(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "∞".into() } else { "-∞".into() }
    } else {
        format!("{v:.2}")
    }
}

pub fn print_rows(rows: &[TensorReport]) {
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(6);
    outln!(
        "{:width$}  {:24}  {:>9}  {:>11}  {:>11}  {:>9}  {:>8}  {:>12}  {:>6}",
        "tensor", "config", "SQNR dB", "MSE", "max |err|", "cosine", "clipped", "bytes", "bits/w"
    );
    for r in rows {
        let m = &r.metrics;
        outln!(
            "{:width$}  {:24}  {:>9}  {:>11.4e}  {:>11.4e}  {:>9}  {:>7.3}%  {:>12}  {:>6.3}",
            r.name,
            r.config,
            fmt_db(m.sqnr_db),
            m.mse,
            m.max_abs_err,
            m.cosine.map(|c| format!("{c:.6}")).unwrap_or_else(|| "-".into()),
            m.clipped_share * 100.0,
            r.bytes_quantized,
            r.bits_per_weight
        );
    }
}
