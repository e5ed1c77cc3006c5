//! The command-line face of the same core the page runs: inspect a weight file, quantize its
//! tensors and print the report (text or the page's JSON), dump the integers for numpy. One file per
//! subcommand (its flags and what it does); common.rs holds what they share.

// The CLI reads files from disk; in the browser the page is the front end, so on wasm32 (where
// `cargo test --target wasm32-unknown-unknown` still builds every binary) it is an empty program.
#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
#[macro_use]
mod common;
#[cfg(not(target_arch = "wasm32"))]
mod calibrate;
#[cfg(not(target_arch = "wasm32"))]
mod compare;
#[cfg(not(target_arch = "wasm32"))]
mod convert;
#[cfg(not(target_arch = "wasm32"))]
mod diff;
#[cfg(not(target_arch = "wasm32"))]
mod eval;
#[cfg(not(target_arch = "wasm32"))]
mod export;
#[cfg(not(target_arch = "wasm32"))]
mod formats;
#[cfg(not(target_arch = "wasm32"))]
mod inspect;
#[cfg(not(target_arch = "wasm32"))]
mod lesson;
#[cfg(not(target_arch = "wasm32"))]
mod ptq;
#[cfg(not(target_arch = "wasm32"))]
mod quantize;
#[cfg(not(target_arch = "wasm32"))]
mod synth;
#[cfg(not(target_arch = "wasm32"))]
mod trace;

#[cfg(not(target_arch = "wasm32"))]
#[derive(clap::Parser)]
#[command(name = "quant-playground", version, about = "What FP16, BF16, INT8 and INT4 do to your weights")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[cfg(not(target_arch = "wasm32"))]
#[derive(clap::Subcommand)]
enum Command {
    /// List the tensors of a file: name, dtype, shape, bytes.
    Inspect(inspect::Args),
    /// Quantize tensors (every float tensor unless --tensor is given) and report the error and size.
    Quantize(quantize::Args),
    /// Write a seeded synthetic activation set (rows × 768 F32) as .safetensors, as the page makes it.
    Synth(synth::Args),
    /// The number formats the comparison offers (label, title, family, bits per weight), or one
    /// LABEL described in canonical form.
    Formats(formats::Args),
    /// Compare calibration methods on one activation set: range, scale, zero point and the error each
    /// causes. Several FILEs are batches of one set (each file's --tensor, or its only float tensor);
    /// with --batches every float tensor of every FILE is a batch (the arrays of an .npz). Batches are
    /// streamed: read once per pass, never held together.
    Calibrate(calibrate::Args),
    /// One output element of y = W·x through the static INT8 pipeline, step by step with its real
    /// numbers (the page's Outputs view), and the whole output's error for static INT8, dynamic INT8
    /// and INT4 against FP32. x is a seeded synthetic set (--dist, --seed, --rows) or --acts FILE.
    Trace(trace::Args),
    /// The page's comparison for one tensor: FP32 | FP16 | BF16 | INT8 | INT4 with one scheme and granularity.
    Compare(compare::Args),
    /// Write the quantized weights as a file other tools load: safetensors (codes, scales, zero
    /// points), gguf:TYPE (F16, Q8_0, Q4_0, Q4_1, Q4_K, Q6_K, Q2_K, Q3_K, Q5_K, IQ4_NL) or onnx-qdq (an .onnx input written
    /// back with DequantizeLinear weights). Written to OUT.tmp, renamed to OUT when complete.
    Export(export::Args),
    /// Write every tensor the file lists to a .safetensors under the name it is listed by: as F32
    /// where the playground reads values (dequantized with the file's own parameters where it is
    /// stored quantized), integers and quantization parameters copied in their own dtype.
    Convert(convert::Args),
    /// A quantized copy of a model against ours: per matched tensor (by name, or by shape and a value
    /// fingerprint) the error of their quantization and of ours at the same bits and granularity,
    /// worst first, with a summary over every element.
    Diff(diff::Args),
    /// The embedded example's accuracy table: an MLP at fp32, int8 (dynamic and static with four
    /// calibration methods), int4 and int2 on its test split (defaults: www/examples/digits-*).
    Eval(eval::Args),
    /// The numbers of each section of the page's walk-through (?view=lesson): types, formula,
    /// schemes, granularity, calibration.
    Lesson(lesson::Args),
    /// Post-training quantization of a whole ONNX model as onnxruntime's tools write it: static QDQ
    /// calibrated on sample inputs (run by a real engine), --dynamic, or --int4 (MatMulNBits).
    Ptq(ptq::Args),
}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    use clap::Parser;
    let result = match Cli::parse().command {
        Command::Inspect(args) => inspect::run(args),
        Command::Quantize(args) => quantize::run(args),
        Command::Export(args) => export::run(args),
        Command::Convert(args) => convert::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Synth(args) => synth::run(args),
        Command::Calibrate(args) => calibrate::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Trace(args) => trace::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Formats(args) => formats::run(args),
        Command::Lesson(args) => lesson::run(args),
        Command::Ptq(args) => ptq::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
