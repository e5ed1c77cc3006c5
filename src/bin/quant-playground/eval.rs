//! `eval`: the embedded example's accuracy table.

use crate::common::print_json;
use quant_playground::app::example;
use quant_playground::formats::FileSource;
use quant_playground::{Error, Result};
use std::path::Path;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    json: bool,
    /// safetensors with fc1..fcN .weight [out, in] and .bias (ReLU between the layers).
    #[arg(long)]
    model: Option<String>,
    /// float .npy [rows, features].
    #[arg(long)]
    test_x: Option<String>,
    /// integer .npy [rows] of class labels.
    #[arg(long)]
    test_y: Option<String>,
    /// float .npy [rows, features] for static calibration.
    #[arg(long)]
    calib_x: Option<String>,
    /// Comma-separated configurations (default: the whole table).
    #[arg(long)]
    configs: Option<String>,
    /// Timed forward passes per configuration (the best is reported).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Write the calibrated parameters of the int8-static rows as JSON (for the numpy reference).
    #[arg(long)]
    export_static_params: Option<String>,
}

pub fn run(args: Args) -> Result<()> {
    let Args { json, model, test_x, test_y, calib_x, configs, repeats, export_static_params } = args;
    let paths = [model, test_x, test_y, calib_x];
    eval(paths, configs.as_deref(), repeats, json, export_static_params.as_deref())
}

/// The example's file: the given path, else www/examples/NAME from the working directory or,
/// failing that, from the source tree this binary was built from.
fn example_path(given: Option<String>, name: &str) -> String {
    given.unwrap_or_else(|| {
        let local = format!("www/examples/{name}");
        if Path::new(&local).exists() {
            local
        } else {
            format!("{}/www/examples/{name}", env!("CARGO_MANIFEST_DIR"))
        }
    })
}

fn eval(paths: [Option<String>; 4], configs: Option<&str>, repeats: usize, json: bool, export: Option<&str>) -> Result<()> {
    let [model, test_x, test_y, calib_x] = paths;
    let names = ["digits-mlp.safetensors", "digits-test-x.npy", "digits-test-y.npy", "digits-calib-x.npy"];
    let [model, test_x, test_y, calib_x] =
        [model, test_x, test_y, calib_x].into_iter().zip(names).map(|(p, n)| example_path(p, n)).collect::<Vec<_>>().try_into().expect("four paths");
    let mlp = example::Mlp::from_safetensors(&model, &mut FileSource::open(&model)?)?;
    let test = example::read_npy_matrix(&test_x, &mut FileSource::open(&test_x)?)?;
    let labels = example::read_npy_labels(&test_y, &mut FileSource::open(&test_y)?)?;
    let calib = example::read_npy_matrix(&calib_x, &mut FileSource::open(&calib_x)?)?;
    let example = example::Example::new(mlp, test, labels, calib)?;
    let configs = match configs {
        Some(list) => list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(example::Config::parse).collect::<Result<Vec<_>>>()?,
        None => example::Config::all(),
    };
    let evaluation = example::Evaluation::prepare(example, &configs)?;
    if let Some(path) = export {
        let params: Vec<&example::StaticParams> = evaluation.models.iter().filter_map(|m| m.static_int8()).map(|n| &n.params).collect();
        let text = serde_json::to_string_pretty(&serde_json::json!({ "model": model, "static": params })).expect("params serialize");
        std::fs::write(path, text + "\n").map_err(|e| Error::Io { path: path.into(), detail: e.to_string() })?;
    }
    let clock = example::native_clock();
    let report = evaluation.run(&clock, repeats)?;
    if json {
        print_json(&report);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}
