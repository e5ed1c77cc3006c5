//! The command-line face of the same core the page runs: inspect a weight file, quantize its
//! tensors and print the report (text or the page's JSON), dump the integers for numpy.


// The CLI reads files from disk; in the browser the page is the front end, so on wasm32 (where
// `cargo test --target wasm32-unknown-unknown` still builds every binary) it is an empty program.
#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
#[path = "quant-playground/ptq.rs"]
mod ptq;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    native::main()
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
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
    use clap::{Parser, Subcommand};
    use indicatif::{ProgressBar, ProgressStyle};
    use quant_playground::calib;
    use quant_playground::export::{self, ExportReport};
    use quant_playground::formats::{self, FileIndex, FileSource};
    use quant_playground::model;
    use quant_playground::quant::{self, Granularity, QuantSpec, QuantizedTensor, ScaleDType, Scheme, SlotLayout};
    use quant_playground::report::{self, TensorReport};
    use quant_playground::tensor::{decode_to_f32, TensorInfo};
    use quant_playground::{Error, Result};
    use serde::Serialize;
    use std::path::Path;
    use std::process::ExitCode;

    #[derive(Parser)]
    #[command(name = "quant-playground", version, about = "What FP16, BF16, INT8 and INT4 do to your weights")]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(clap::Args, Clone)]
    struct SpecArgs {
        /// Bit width of the integer codes, 2..=8.
        #[arg(long, default_value_t = 8)]
        bits: u8,
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
        fn spec(&self, bits: u8) -> Result<QuantSpec> {
            let scheme = if self.scheme.starts_with("asym") { Scheme::Asymmetric } else { Scheme::Symmetric };
            let mut spec = QuantSpec::new(bits, scheme, Granularity::parse(&self.granularity)?);
            spec.full_range = self.full_range;
            spec.scale_dtype = if self.scale_dtype == "f16" { ScaleDType::F16 } else { ScaleDType::F32 };
            spec.validate()?;
            Ok(spec)
        }
    }

    #[derive(Subcommand)]
    enum Command {
        /// Post-training quantization of a whole ONNX model: calibrate on sample inputs (run by a real
        /// engine), write the static QDQ model onnxruntime's quantize_static writes.
        Ptq(crate::ptq::PtqArgs),
        /// List the tensors of a file: name, dtype, shape, bytes.
        Inspect {
            file: String,
            #[arg(long)]
            json: bool,
        },
        /// Quantize tensors (every float tensor unless --tensor is given) and report the error and size.
        Quantize {
            file: String,
            /// A tensor to quantize; repeat for several.
            #[arg(long = "tensor")]
            tensors: Vec<String>,
            #[command(flatten)]
            spec: SpecArgs,
            #[arg(long)]
            json: bool,
            /// Write DIR/<tensor>.q.npy, .scale.npy and .zero_point.npy for each tensor.
            #[arg(long)]
            dump: Option<String>,
            /// How each slot's range is chosen: minmax, percentile[:P], mse, entropy or entropy:trt.
            #[arg(long, default_value = "minmax")]
            calib: String,
        },
        /// Write a seeded synthetic activation set (rows × 768 F32) as .safetensors, as the page makes it.
        Synth {
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
        },
        /// Compare calibration methods on one activation set: range, scale, zero point and the error each
        /// causes. Several FILEs are batches of one set (each file's --tensor, or its only float tensor);
        /// with --batches every float tensor of every FILE is a batch (the arrays of an .npz). Batches are
        /// streamed: read once per pass, never held together.
        Calibrate {
            #[arg(required = true, num_args = 1..)]
            files: Vec<String>,
            /// The tensor to calibrate in each file (may be left out when a file holds one float tensor).
            #[arg(long = "tensor", conflicts_with = "batches")]
            tensor: Option<String>,
            /// Every float tensor of every file is one batch of the set.
            #[arg(long)]
            batches: bool,
            /// minmax, minmax:ma, percentile[:P], mse, entropy, entropy:trt, a comma-separated list, or all.
            #[arg(long, default_value = "all")]
            method: String,
            #[arg(long, default_value_t = 8)]
            bits: u8,
            #[arg(long, default_value = "sym", value_parser = ["sym", "asym", "symmetric", "asymmetric"])]
            scheme: String,
            #[arg(long)]
            json: bool,
        },
        /// One output element of y = W·x through the static INT8 pipeline, step by step with its real
        /// numbers (the page's Outputs view), and the whole output's error for static INT8, dynamic INT8
        /// and INT4 against FP32. x is a seeded synthetic set (--dist, --seed, --rows) or --acts FILE.
        Trace {
            file: String,
            /// The 2-D weight W [out, in] (its `<prefix>.bias` is added when the file has one).
            #[arg(long = "tensor")]
            tensor: String,
            /// The output channel (row of W) to trace.
            #[arg(long, default_value_t = 0)]
            row: usize,
            /// The row of X (which input of the batch) to trace.
            #[arg(long, default_value_t = 0)]
            sample: usize,
            /// Synthetic x: gaussian, laplace, relu-gaussian, gaussian-outliers or llm-like.
            #[arg(long, default_value = "gaussian")]
            dist: String,
            /// Seed of the synthetic x (a fresh one from the operating system when left out; it is printed).
            #[arg(long)]
            seed: Option<u64>,
            /// Rows of the synthetic x.
            #[arg(long, default_value_t = 8)]
            rows: usize,
            /// Activations from a file instead (.npy, .npz, .safetensors…): rows of the weight's input size.
            #[arg(long)]
            acts: Option<String>,
            /// The tensor of --acts (may be left out when it holds one float tensor).
            #[arg(long)]
            acts_tensor: Option<String>,
            /// Calibration of the input and output ranges: minmax, percentile[:P], mse, entropy, entropy:trt.
            #[arg(long, default_value = "minmax")]
            method: String,
            /// Leave the bias out even when the file has one.
            #[arg(long)]
            no_bias: bool,
            /// Fuse a ReLU after the layer (the clamp starts at the output zero point).
            #[arg(long)]
            relu: bool,
            #[arg(long)]
            json: bool,
        },
        /// The page's comparison for one tensor: FP32 | FP16 | BF16 | INT8 | INT4 with one scheme and granularity.
        Compare {
            file: String,
            #[arg(long = "tensor")]
            tensor: String,
            #[command(flatten)]
            spec: SpecArgs,
            #[arg(long)]
            json: bool,
        },
        /// Write the quantized weights as a file other tools load: safetensors (codes, scales, zero
        /// points), gguf:TYPE (F16, Q8_0, Q4_0, Q4_1, Q4_K, Q6_K) or onnx-qdq (an .onnx input written
        /// back with DequantizeLinear weights). Written to OUT.tmp, renamed to OUT when complete.
        Export {
            file: String,
            /// safetensors, onnx-qdq or gguf:TYPE.
            #[arg(long = "to")]
            to: String,
            /// The file to write.
            #[arg(short, long)]
            out: String,
            /// Only these tensors (repeat for several; safetensors and gguf); all when left out.
            #[arg(long = "tensor")]
            tensors: Vec<String>,
            #[command(flatten)]
            spec: SpecArgs,
            /// How each slot's range is chosen: minmax, percentile[:P], mse, entropy or entropy:trt.
            #[arg(long, default_value = "minmax")]
            calib: String,
            #[arg(long)]
            json: bool,
        },
        /// The embedded example's accuracy table: an MLP at fp32, int8 (dynamic and static with four
        /// calibration methods), int4 and int2 on its test split (defaults: www/examples/digits-*).
        Eval {
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
        },
    }

    pub fn main() -> ExitCode {
        match run(Cli::parse()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    }

    fn open(path: &str) -> Result<(FileIndex, FileSource)> {
        let mut source = FileSource::open(path)?;
        let index = formats::read_index(path, &mut source)?;
        Ok((index, source))
    }

    fn load(source: &mut FileSource, info: &TensorInfo) -> Result<Vec<f32>> {
        let bytes = formats::read_tensor_bytes(source, info)?;
        decode_to_f32(info, &bytes)
    }

    fn print_json<T: Serialize>(value: &T) {
        outln!("{}", serde_json::to_string_pretty(value).expect("reports serialize"));
    }

    fn run(cli: Cli) -> Result<()> {
        match cli.command {
            Command::Ptq(args) => crate::ptq::run(args),
            Command::Inspect { file, json } => inspect(&file, json),
            Command::Quantize { file, tensors, spec, json, dump, calib } => {
                let spec = spec.spec(spec.bits)?;
                let method = calib::Method::parse(&calib)?;
                quantize(&file, &tensors, &spec, &method, json, dump.as_deref())
            }
            Command::Export { file, to, out, tensors, spec, calib, json } => {
                let config = export::IntExport { spec: spec.spec(spec.bits)?, method: calib::Method::parse(&calib)? };
                export_file(&file, &export::ExportTarget::parse(&to)?, &out, &tensors, config, json)
            }
            Command::Synth { dist, rows, seed, out } => {
                let dist = quant_playground::synthetic::Dist::parse(&dist)?;
                let seed = seed.unwrap_or_else(quant_playground::synthetic::random_seed);
                let bytes = quant_playground::synthetic::activations_safetensors(dist, rows, seed);
                std::fs::write(&out, bytes).map_err(|e| Error::Io { path: out.clone(), detail: e.to_string() })?;
                outln!("{out}: {} activations, {rows} × 768, seed {seed}", dist.name());
                Ok(())
            }
            Command::Calibrate { files, tensor, batches, method, bits, scheme, json } => {
                calibrate(&files, tensor.as_deref(), batches, &method, bits, &scheme, json)
            }
            Command::Eval { json, model, test_x, test_y, calib_x, configs, repeats, export_static_params } => {
                let paths = [model, test_x, test_y, calib_x];
                eval(paths, configs.as_deref(), repeats, json, export_static_params.as_deref())
            }
            Command::Trace { file, tensor, row, sample, dist, seed, rows, acts, acts_tensor, method, no_bias, relu, json } => {
                let inputs = match acts {
                    Some(path) => TraceInputs::File { path, tensor: acts_tensor },
                    None => TraceInputs::Synthetic { dist, seed: seed.unwrap_or_else(quant_playground::synthetic::random_seed), rows },
                };
                trace(&file, &tensor, row, sample, inputs, &method, !no_bias, relu, json)
            }
            Command::Compare { file, tensor, spec, json } => {
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
        }
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
        let mlp = model::Mlp::from_safetensors(&model, &mut FileSource::open(&model)?)?;
        let test = model::read_npy_matrix(&test_x, &mut FileSource::open(&test_x)?)?;
        let labels = model::read_npy_labels(&test_y, &mut FileSource::open(&test_y)?)?;
        let calib = model::read_npy_matrix(&calib_x, &mut FileSource::open(&calib_x)?)?;
        let example = model::Example::new(mlp, test, labels, calib)?;
        let configs = match configs {
            Some(list) => list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(model::Config::parse).collect::<Result<Vec<_>>>()?,
            None => model::Config::all(),
        };
        let evaluation = model::Evaluation::prepare(example, &configs)?;
        if let Some(path) = export {
            let params: Vec<&model::StaticParams> = evaluation.models.iter().filter_map(|m| m.static_int8()).map(|n| &n.params).collect();
            let text = serde_json::to_string_pretty(&serde_json::json!({ "model": model, "static": params })).expect("params serialize");
            std::fs::write(path, text + "\n").map_err(|e| Error::Io { path: path.into(), detail: e.to_string() })?;
        }
        let clock = model::native_clock();
        let report = evaluation.run(&clock, repeats)?;
        if json {
            print_json(&report);
        } else {
            print!("{}", report.table());
        }
        Ok(())
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

    #[derive(Serialize)]
    struct Skipped {
        name: String,
        dtype: &'static str,
        reason: &'static str,
    }

    fn quantize(file: &str, wanted: &[String], spec: &QuantSpec, method: &calib::Method, json: bool, dump: Option<&str>) -> Result<()> {
        let (index, mut source) = open(file)?;
        let mut chosen: Vec<TensorInfo> = Vec::new();
        let mut skipped = Vec::new();
        if wanted.is_empty() {
            for t in &index.tensors {
                if t.dtype.is_quantizable() {
                    chosen.push(t.clone());
                } else {
                    skipped.push(Skipped { name: t.name.clone(), dtype: t.dtype.name(), reason: "not a float tensor" });
                }
            }
        } else {
            for name in wanted {
                let t = index.tensor(name)?;
                if !t.dtype.is_quantizable() {
                    return Err(Error::NotQuantizable { tensor: t.name.clone(), dtype: t.dtype.name().into() });
                }
                chosen.push(t.clone());
            }
        }
        if let Some(dir) = dump {
            std::fs::create_dir_all(dir).map_err(|e| Error::Io { path: dir.into(), detail: e.to_string() })?;
        }
        let bar = ProgressBar::new(chosen.len() as u64);
        if chosen.len() > 1 {
            bar.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}").expect("valid template"));
        } else {
            bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        let mut reports: Vec<TensorReport> = Vec::new();
        for info in &chosen {
            bar.set_message(info.name.clone());
            let x = load(&mut source, info)?;
            let q = calib::quantize_calibrated(&x, &info.shape, spec, method)?;
            if let Some(dir) = dump {
                dump_tensor(Path::new(dir), &info.name, &q)?;
            }
            reports.push(report::int_report(&info.name, info.dtype, &q, &method.label()));
            bar.inc(1);
        }
        bar.finish_and_clear();
        if json {
            print_json(&serde_json::json!({ "file": file, "format": index.format, "tensors": reports, "skipped": skipped }));
        } else {
            print_rows(&reports);
            for s in &skipped {
                outln!("skipped {} ({}): {}", s.name, s.dtype, s.reason);
            }
            let fp32: u64 = reports.iter().map(|r| r.bytes_fp32).sum();
            let stored: u64 = reports.iter().map(|r| r.bytes_quantized).sum();
            if reports.len() > 1 {
                outln!("total: {fp32} B fp32 → {stored} B ({:.2}× smaller)", fp32 as f64 / stored.max(1) as f64);
            }
        }
        Ok(())
    }

    fn export_file(file: &str, target: &export::ExportTarget, out: &str, only: &[String], config: export::IntExport, json: bool) -> Result<()> {
        let (index, mut source) = open(file)?;
        if !only.is_empty() && *target == export::ExportTarget::OnnxQdq {
            return Err(Error::InvalidSpec("--tensor is not used with onnx-qdq: the whole model is written back".into()));
        }
        let index = export::select_tensors(&index, only)?;
        let mut plan = export::make_plan(target, &index, &mut formats::SourceReader { file, source: &mut source }, config)?;
        let tmp = format!("{out}.tmp");
        let io = |e: std::io::Error| Error::Io { path: tmp.clone(), detail: e.to_string() };
        let bar = ProgressBar::new(plan.sources().len() as u64);
        bar.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}").expect("valid template"));
        if json {
            bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        let written = (|| {
            let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io)?);
            let report = export::write_plan(plan.as_mut(), &mut source, &mut w, &tmp, &mut |done, _, name| {
                bar.set_message(name.to_string());
                bar.set_position(done as u64);
            })?;
            w.into_inner().map_err(|e| io(e.into_error()))?.sync_all().map_err(io)?;
            Ok(report)
        })();
        bar.finish_and_clear();
        let report = match written.and_then(|r| std::fs::rename(&tmp, out).map(|_| r).map_err(|e| Error::Io { path: out.into(), detail: e.to_string() })) {
            Ok(r) => r,
            Err(e) => {
                // A failed export leaves no half-written file behind.
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        if json {
            print_json(&serde_json::json!({ "file": file, "out": out, "to": target.label(), "export": report }));
        } else {
            print_export(out, &report);
        }
        Ok(())
    }

    fn print_export(out: &str, report: &ExportReport) {
        let width = report.tensors.iter().map(|t| t.name.len()).max().unwrap_or(6).max(6);
        outln!("{:width$}  {:10}  {:>12}  note", "tensor", "written as", "bytes");
        for t in &report.tensors {
            outln!("{:width$}  {:10}  {:>12}  {}", t.name, t.written_as, t.bytes, t.note.as_deref().unwrap_or(""));
        }
        outln!("wrote {out}: {}, {} tensors, {} bytes", report.format, report.tensors.len(), report.total_bytes);
    }

    /// One batch: a tensor of a file.
    struct Batch {
        file: usize,
        info: TensorInfo,
    }

    fn calibrate(files: &[String], tensor: Option<&str>, every_tensor: bool, methods: &str, bits: u8, scheme: &str, json: bool) -> Result<()> {
        let mut sources = Vec::with_capacity(files.len());
        let mut batches = Vec::new();
        for (f, file) in files.iter().enumerate() {
            let (index, source) = open(file)?;
            if every_tensor {
                let floats: Vec<&TensorInfo> = index.tensors.iter().filter(|t| t.dtype.is_quantizable()).collect();
                if floats.is_empty() {
                    return Err(Error::InvalidSpec(format!("{file} holds no float tensor to calibrate")));
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
        // Three passes (calib/batches.rs): min/max, histograms, error; each batch read, used and dropped.
        let mut c = calib::batches::BatchCalibration::new(&spec, &methods, calib::CalibConfig::default())?;
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
        let report = c.report(false)?;
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

    enum TraceInputs {
        Synthetic { dist: String, seed: u64, rows: usize },
        File { path: String, tensor: Option<String> },
    }

    /// The one float tensor of a file, or the named one.
    fn only_or_named<'a>(file: &str, index: &'a FileIndex, tensor: Option<&str>) -> Result<&'a TensorInfo> {
        if let Some(name) = tensor {
            return index.tensor(name);
        }
        let floats: Vec<&TensorInfo> = index.tensors.iter().filter(|t| t.dtype.is_quantizable()).collect();
        match floats.as_slice() {
            [one] => Ok(one),
            _ => {
                let names: Vec<&str> = floats.iter().map(|t| t.name.as_str()).collect();
                Err(Error::InvalidSpec(format!("{file} holds {} float tensors; choose one ({})", floats.len(), names.join(", "))))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn trace(file: &str, tensor: &str, row: usize, sample: usize, inputs: TraceInputs, method: &str, with_bias: bool, relu: bool, json: bool) -> Result<()> {
        use quant_playground::pipeline;
        let (index, mut source) = open(file)?;
        let info = index.tensor(tensor)?.clone();
        if info.shape.len() < 2 {
            return Err(Error::InvalidSpec(format!("{file}: '{tensor}' has shape {:?}; the trace needs a weight [out, in…]", info.shape)));
        }
        let n = info.shape[0];
        let k: usize = info.shape[1..].iter().product();
        let w = load(&mut source, &info)?;
        let bias_info = pipeline::bias_name(tensor).filter(|_| with_bias).and_then(|b| index.tensors.iter().find(|t| t.name == b)).cloned();
        let bias = match &bias_info {
            Some(b) => Some(load(&mut source, b)?),
            None => None,
        };
        let (x, source_json) = match inputs {
            TraceInputs::Synthetic { dist, seed, rows } => {
                let d = quant_playground::synthetic::Dist::parse(&dist)?;
                let x = pipeline::synthetic_inputs(d, rows, k, seed);
                (x, serde_json::json!({ "kind": "synthetic", "distribution": d.name(), "seed": seed, "rows": rows }))
            }
            TraceInputs::File { path, tensor } => {
                let (aindex, mut asource) = open(&path)?;
                let ainfo = only_or_named(&path, &aindex, tensor.as_deref())?.clone();
                let x = load(&mut asource, &ainfo)?;
                let rows = pipeline::rows_of(&x, k, &format!("{path}: {}", ainfo.name))?;
                (x, serde_json::json!({ "kind": "file", "file": path, "tensor": ainfo.name, "rows": rows }))
            }
        };
        let m = x.len() / k.max(1);
        let method = calib::Method::parse(method)?;
        let t = pipeline::trace_outputs(&w, n, k, bias.as_deref(), &x, m, sample, row, &method, relu)
            .map_err(|e| Error::InvalidSpec(format!("{file}: '{tensor}': {e}")))?;
        if json {
            // Flattened rather than through serde_json::Value, so that f32 fields print as f32 (the page's digits).
            #[derive(Serialize)]
            struct TraceDocument<'a> {
                file: &'a str,
                tensor: &'a str,
                bias_tensor: Option<String>,
                inputs: serde_json::Value,
                #[serde(flatten)]
                trace: &'a pipeline::OutputsTrace,
            }
            print_json(&TraceDocument { file, tensor, bias_tensor: bias_info.map(|b| b.name), inputs: source_json, trace: &t });
        } else {
            outln!("{file}: {tensor} [{n}, {k}] × x [{m}, {k}] ({}), element y[{sample}, {row}]", source_json);
            out!("{}", t.text());
        }
        Ok(())
    }

    fn fmt_db(v: f64) -> String {
        if v.is_infinite() {
            if v > 0.0 { "∞".into() } else { "-∞".into() }
        } else {
            format!("{v:.2}")
        }
    }

    fn print_rows(rows: &[TensorReport]) {
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

    /// Shape of the scale / zero-point arrays so that they broadcast naturally in numpy:
    /// per-tensor (), per-channel (C,), per-group the tensor's leading axes + (groups per row,).
    fn params_shape(shape: &[usize], layout: &SlotLayout, g: Granularity) -> Vec<usize> {
        match g {
            Granularity::PerTensor => vec![],
            Granularity::PerChannel { .. } => vec![layout.slots],
            Granularity::PerGroup { .. } => {
                let mut s: Vec<usize> = if shape.is_empty() { vec![] } else { shape[..shape.len() - 1].to_vec() };
                let rows: usize = s.iter().product();
                s.push(layout.slots.checked_div(rows).unwrap_or(0));
                s
            }
        }
    }

    fn dump_tensor(dir: &Path, name: &str, q: &QuantizedTensor) -> Result<()> {
        let safe: String = name.chars().map(|c| if c == '/' || c == '\\' { '_' } else { c }).collect();
        let write = |suffix: &str, bytes: Vec<u8>| -> Result<()> {
            let path = dir.join(format!("{safe}.{suffix}.npy"));
            std::fs::write(&path, bytes).map_err(|e| Error::Io { path: path.display().to_string(), detail: e.to_string() })
        };
        let codes = match &q.codes {
            quant::Codes::I8(v) => formats::npy::write("|i1", &q.shape, &v.iter().map(|&c| c as u8).collect::<Vec<_>>()),
            quant::Codes::U8(v) => formats::npy::write("|u1", &q.shape, v),
        };
        write("q", codes)?;
        let pshape = params_shape(&q.shape, &q.layout, q.spec.granularity);
        let scales: Vec<u8> = q.scales.iter().flat_map(|s| s.to_le_bytes()).collect();
        write("scale", formats::npy::write("<f4", &pshape, &scales))?;
        let zps: Vec<u8> = q.zero_points.iter().flat_map(|z| z.to_le_bytes()).collect();
        write("zero_point", formats::npy::write("<i4", &pshape, &zps))
    }
}
