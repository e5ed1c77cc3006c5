//! `calibrate`: calibration methods compared on one activation set streamed from one or more files.

use crate::common::{load, only_or_named, open, print_json};
use quant_playground::calib;
use quant_playground::formats;
use quant_playground::quant::{Granularity, QuantSpec, Scheme};
use quant_playground::tensor::TensorInfo;
use quant_playground::{Error, Result};
use serde::Serialize;

#[derive(clap::Args)]
pub struct Args {
    #[arg(required = true, num_args = 1..)]
    files: Vec<String>,
    /// The tensor to calibrate in each file (may be left out when a file holds one float tensor).
    #[arg(long = "tensor", conflicts_with = "batches")]
    tensor: Option<String>,
    /// Every float tensor of every file is one batch of the set.
    #[arg(long)]
    batches: bool,
    /// minmax, minmax:ma, minmax:ema, percentile[:P], percentile:trt[:P], mse, mse:trt, entropy,
    /// entropy:f64, entropy:trt, distribution, a comma-separated list, or all.
    #[arg(long, default_value = "all", long_help = calib::Method::help())]
    method: String,
    /// Over several batches: `two-pass` fixes the histograms' range from every batch's min/max first,
    /// so the split into batches does not move the answer; `ort` grows it batch by batch as
    /// onnxruntime's HistogramCollector does, giving ORT's ranges for the same batches (which then
    /// depend on the batching, as ORT's do).
    #[arg(long, default_value = "two-pass", value_parser = ["two-pass", "ort"])]
    histogram: String,
    #[arg(long, default_value_t = 8)]
    bits: u8,
    #[arg(long, default_value = "sym", value_parser = ["sym", "asym", "symmetric", "asymmetric"])]
    scheme: String,
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let Args { files, tensor, batches, method, histogram, bits, scheme, json } = args;
    let range = if histogram == "ort" { calib::batches::HistogramRange::Growing } else { calib::batches::HistogramRange::Preset };
    calibrate(&files, tensor.as_deref(), batches, &method, range, bits, &scheme, json)
}

/// Values per chunk read from the file when one tensor is calibrated (16 MiB of f32, as `compare`).
const CHUNK_ELEMENTS: usize = 1 << 22;

/// One batch: a tensor of a file.
struct Batch {
    file: usize,
    info: TensorInfo,
}

#[allow(clippy::too_many_arguments)]
fn calibrate(
    files: &[String],
    tensor: Option<&str>,
    every_tensor: bool,
    methods: &str,
    histogram_range: calib::batches::HistogramRange,
    bits: u8,
    scheme: &str,
    json: bool,
) -> Result<()> {
    let mut sources = Vec::with_capacity(files.len());
    let mut batches = Vec::new();
    for (f, file) in files.iter().enumerate() {
        let (index, source) = open(file)?;
        if every_tensor {
            let floats: Vec<&TensorInfo> = index.tensors.iter().filter(|t| t.is_quantizable()).collect();
            if floats.is_empty() {
                return Err(Error::InvalidSpec(format!("nothing to calibrate: {}", index.holdings())));
            }
            batches.extend(floats.into_iter().map(|t| Batch { file: f, info: t.clone() }));
        } else {
            let info = only_or_named(file, &index, tensor)
                .map_err(|e| match e {
                    Error::InvalidSpec(m) if tensor.is_none() => Error::InvalidSpec(format!("{m}; pick one with --tensor, or use --batches for all")),
                    e => e,
                })?
                .clone();
            batches.push(Batch { file: f, info });
        }
        sources.push(source);
    }
    let scheme = if scheme.starts_with("asym") { Scheme::Asymmetric } else { Scheme::Symmetric };
    let spec = QuantSpec::new(bits, scheme, Granularity::PerTensor);
    spec.validate()?;
    let methods = calib::Method::parse_list(methods)?;
    let report = if let [b] = &batches[..] {
        // One tensor: the three reads of calib::WeightCalibration (range, histograms, error) in chunks
        // of rows, so memory holds a chunk, not the tensor; the report is the one-batch report
        // (tests/streamed.rs a_chunked_weight_calibrates_as_one_batch).
        let context = |e: Error| Error::InvalidSpec(format!("{}: {}: {e}", files[b.file], b.info.name));
        let elements = quant_playground::tensor::checked_element_count(&b.info.shape)
            .ok_or_else(|| Error::InvalidSpec(format!("{}: tensor '{}': shape {:?} overflows the element count", files[b.file], b.info.name, b.info.shape)))?;
        let mut c = calib::WeightCalibration::new(elements, &spec, &methods, calib::CalibConfig::default())?;
        while let Some(pass) = c.next_pass().map_err(context)? {
            formats::for_each_chunk(&mut sources[b.file], &b.info, CHUNK_ELEMENTS, |x| c.feed(pass, x)).map_err(context)?;
        }
        calib::batches::BatchCalibReport { report: c.finish(false).map_err(context)?, batches: 1, batch_values: vec![elements] }
    } else {
        // Three passes (calib/batches.rs): min/max, histograms, error; each batch read, used and dropped.
        let mut c = calib::batches::BatchCalibration::new(&spec, &methods, calib::CalibConfig::default())?.with_histogram_range(histogram_range);
        for pass in 0..3 {
            for b in &batches {
                let x = load(&mut sources[b.file], &b.info)?;
                let context = |e: Error| Error::InvalidSpec(format!("{}: {}: {e}", files[b.file], b.info.name));
                match pass {
                    0 => c.scan(&x),
                    1 => c.add(&x),
                    _ => c.measure(&x),
                }
                .map_err(context)?;
            }
        }
        c.report(false)?
    };
    if json {
        let names: Vec<serde_json::Value> =
            batches.iter().map(|b| serde_json::json!({ "file": files[b.file], "tensor": b.info.name })).collect();
        // Flattened rather than through serde_json::Value, so that f32 fields print as f32.
        #[derive(Serialize)]
        struct CalibrateDocument<'a> {
            file: &'a str,
            tensor: &'a str,
            sources: Vec<serde_json::Value>,
            #[serde(flatten)]
            report: &'a calib::batches::BatchCalibReport,
        }
        let first = &batches[0];
        print_json(&CalibrateDocument { file: &files[first.file], tensor: &first.info.name, sources: names, report: &report });
    } else {
        if batches.len() == 1 {
            let b = &batches[0];
            outln!("{}: {} {:?}, {} values, int{bits} {}", files[b.file], b.info.name, b.info.shape, report.report.elements, scheme.short_name());
        } else {
            let from = if files.len() == 1 { files[0].clone() } else { format!("{} files", files.len()) };
            outln!("{} ({from}), int{bits} {}", report.summary(), scheme.short_name());
        }
        out!("{}", report.report.table());
    }
    Ok(())
}
