//! The embedded example: a stack of Linear layers with ReLU between them (an MLP such as
//! 64→256→128→10 on scikit-learn's digits, trained by scripts/train_digits.py), read from
//! safetensors, run on a test split read from .npy at FP32 and in each quantized configuration of
//! the lecture's accuracy table ("Results on ImageNet": accuracy, drop, size, compression, time).
//!
//! Configurations (names as the CLI's JSON and the page use them):
//! - `fp32`: the f32 GEMM kernel.
//! - `int8-dynamic`: int8 weights per output channel (symmetric), activations quantized per row at run
//!   time to u8 (min-max), i32 accumulation, f32 out: torch.quantization.quantize_dynamic for nn.Linear.
//! - `int8-static-{minmax,percentile,mse,entropy}`: activations calibrated once on the calibration
//!   split, the integer-only pipeline of `int8_static` (Jacob et al. 2017; TFLite semantics).
//! - `int4-g16`, `int4-g32`, `int4-tensor`, `int2-g16`: symmetric 4-bit (or 2-bit) weights per group
//!   of G inputs (or one scale per tensor), int8 activations per row, the INT4 kernel.

pub mod int8_static;

use crate::calib::Method;
use crate::error::{Error, Result};
use crate::formats::{self, ByteSource};
use crate::kernels::gemm::{self, PackedF32, PackedI4, PackedI8};
use crate::quant::dynamic::{self, ActGranularity};
use crate::quant::{self, Granularity, QuantSpec, ScaleDType, Scheme};
use crate::tensor::{decode_to_f32, DType, TensorInfo};
use serde::Serialize;

pub use int8_static::{StaticInt8Mlp, StaticParams};

/// One nn.Linear: weight [out, in] (torch layout), bias [out] (zeros when the file has none).
#[derive(Debug, Clone, PartialEq)]
pub struct Linear {
    pub name: String,
    pub out_features: usize,
    pub in_features: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    /// Whether the file stores a bias (sizes count only what is stored).
    pub has_bias: bool,
}

/// Linear layers applied in order with ReLU between them (not after the last).
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    pub layers: Vec<Linear>,
}

/// The trailing number of a layer prefix (`fc3` → 3, `layers.10` → 10), to order fc1, fc2, … fc10.
fn trailing_number(prefix: &str) -> Option<u64> {
    let digits: String = prefix.chars().rev().take_while(|c| c.is_ascii_digit()).collect();
    digits.chars().rev().collect::<String>().parse().ok()
}

fn read_f32(file: &str, source: &mut dyn ByteSource, info: &TensorInfo) -> Result<Vec<f32>> {
    let bytes = formats::read_tensor_bytes(source, info).map_err(|e| match e {
        Error::Malformed { detail, .. } => Error::malformed(file, detail),
        e => e,
    })?;
    decode_to_f32(info, &bytes)
}

impl Mlp {
    /// Reads every 2-D `<prefix>.weight` (and its `<prefix>.bias`) of a safetensors file, ordered by the
    /// number that ends each prefix (fc1, fc2, …; file order when there is none), and checks that the
    /// layers chain (in_features of each = out_features of the one before).
    pub fn from_safetensors(file: &str, source: &mut dyn ByteSource) -> Result<Mlp> {
        let index = formats::read_index(file, source)?;
        let mut weights: Vec<&TensorInfo> =
            index.tensors.iter().filter(|t| t.name.ends_with(".weight") && t.shape.len() == 2).collect();
        if weights.is_empty() {
            return Err(Error::malformed(file, "no 2-D '<layer>.weight' tensor: not a stack of Linear layers"));
        }
        // Stable: prefixes without a number keep the file's order, after the numbered ones.
        weights.sort_by_key(|t| trailing_number(t.name.trim_end_matches(".weight")).unwrap_or(u64::MAX));
        let mut layers = Vec::with_capacity(weights.len());
        for info in weights {
            let prefix = info.name.trim_end_matches(".weight").to_string();
            let (out_features, in_features) = (info.shape[0], info.shape[1]);
            let weight = read_f32(file, source, info)?;
            let (bias, has_bias) = match index.tensors.iter().find(|t| t.name == format!("{prefix}.bias")) {
                Some(b) => {
                    if b.shape.iter().product::<usize>() != out_features {
                        return Err(Error::malformed(
                            file,
                            format!("{} has shape {:?}, expected [{out_features}] for {}", b.name, b.shape, info.name),
                        ));
                    }
                    (read_f32(file, source, b)?, true)
                }
                None => (vec![0.0; out_features], false),
            };
            if let Some(prev) = layers.last() {
                let prev: &Linear = prev;
                if prev.out_features != in_features {
                    return Err(Error::malformed(
                        file,
                        format!(
                            "{} takes {in_features} inputs but {} gives {}: the layers do not chain",
                            info.name, prev.name, prev.out_features
                        ),
                    ));
                }
            }
            layers.push(Linear { name: prefix, out_features, in_features, weight, bias, has_bias });
        }
        Ok(Mlp { layers })
    }

    pub fn from_safetensors_bytes(file: &str, bytes: &[u8]) -> Result<Mlp> {
        let mut source: &[u8] = bytes;
        Mlp::from_safetensors(file, &mut source)
    }

    pub fn in_features(&self) -> usize {
        self.layers[0].in_features
    }

    pub fn out_features(&self) -> usize {
        self.layers.last().expect("at least one layer").out_features
    }

    /// Weights and biases as f32.
    pub fn fp32_bytes(&self) -> u64 {
        self.layers.iter().map(|l| 4 * (l.weight.len() + if l.has_bias { l.bias.len() } else { 0 }) as u64).sum()
    }

    /// The FP32 forward pass through the f32 GEMM kernel; `inputs[l]` of the result is what layer l
    /// read (the calibration data of static quantization), the last entry the logits.
    pub fn forward_with_inputs(&self, x: &[f32], m: usize) -> Result<Vec<Vec<f32>>> {
        let mut acts = vec![x.to_vec()];
        for (i, l) in self.layers.iter().enumerate() {
            let w = PackedF32::pack(&l.weight, l.out_features, l.in_features)?;
            let mut y = vec![0.0f32; m * l.out_features];
            gemm::gemm_f32(acts.last().expect("input"), m, &w, Some(&l.bias), &mut y)?;
            if i + 1 < self.layers.len() {
                relu(&mut y);
            }
            acts.push(y);
        }
        Ok(acts)
    }
}

fn relu(y: &mut [f32]) {
    for v in y.iter_mut() {
        // max(NaN, 0) would hide a NaN; keep it visible.
        if *v < 0.0 {
            *v = 0.0;
        }
    }
}

/// A 2-D f32 .npy (any float dtype, decoded to f32): (values, rows, columns).
pub fn read_npy_matrix(file: &str, source: &mut dyn ByteSource) -> Result<(Vec<f32>, usize, usize)> {
    let index = formats::read_index(file, source)?;
    let info = index.tensors.first().ok_or_else(|| Error::malformed(file, "no array"))?.clone();
    if info.shape.len() != 2 {
        return Err(Error::malformed(file, format!("shape {:?}: expected [rows, features]", info.shape)));
    }
    let x = read_f32(file, source, &info)?;
    Ok((x, info.shape[0], info.shape[1]))
}

/// A 1-D integer .npy of class labels (u8…i64, either byte order).
pub fn read_npy_labels(file: &str, source: &mut dyn ByteSource) -> Result<Vec<u32>> {
    let index = formats::read_index(file, source)?;
    let info = index.tensors.first().ok_or_else(|| Error::malformed(file, "no array"))?.clone();
    if info.shape.len() != 1 {
        return Err(Error::malformed(file, format!("shape {:?}: expected [rows] of labels", info.shape)));
    }
    let bytes = formats::read_tensor_bytes(source, &info)?;
    let size = info.dtype.size();
    let signed = matches!(info.dtype, DType::I8 | DType::I16 | DType::I32 | DType::I64);
    if !signed && !matches!(info.dtype, DType::U8 | DType::U16 | DType::U32 | DType::U64) {
        return Err(Error::unsupported(file, format!("labels of dtype {}: expected an integer type", info.dtype.name())));
    }
    bytes
        .chunks_exact(size)
        .map(|c| {
            let mut b = [0u8; 8];
            if info.big_endian {
                b[8 - size..].copy_from_slice(c);
                b.reverse();
            } else {
                b[..size].copy_from_slice(c);
            }
            // Sign-extend the narrow signed types.
            let v = if signed {
                let shift = 64 - 8 * size as u32;
                ((i64::from_le_bytes(b) << shift) >> shift) as i128
            } else {
                u64::from_le_bytes(b) as i128
            };
            u32::try_from(v).map_err(|_| Error::malformed(file, format!("label {v} is not a class index")))
        })
        .collect()
}

/// The example's inputs: the model, the test split (with labels) and the calibration split.
#[derive(Debug, Clone)]
pub struct Example {
    pub mlp: Mlp,
    pub test_x: Vec<f32>,
    pub test_y: Vec<u32>,
    pub test_rows: usize,
    pub calib_x: Vec<f32>,
    pub calib_rows: usize,
}

impl Example {
    pub fn new(mlp: Mlp, test: (Vec<f32>, usize, usize), test_y: Vec<u32>, calib: (Vec<f32>, usize, usize)) -> Result<Self> {
        let k = mlp.in_features();
        let classes = mlp.out_features() as u32;
        if test.2 != k || calib.2 != k {
            return Err(Error::InvalidSpec(format!(
                "the model takes {k} features; the test split has {}, the calibration split {}",
                test.2, calib.2
            )));
        }
        if test_y.len() != test.1 {
            return Err(Error::InvalidSpec(format!("{} labels for {} test rows", test_y.len(), test.1)));
        }
        if let Some(&bad) = test_y.iter().find(|&&y| y >= classes) {
            return Err(Error::InvalidSpec(format!("label {bad} but the model has {classes} classes")));
        }
        Ok(Example { mlp, test_x: test.0, test_y, test_rows: test.1, calib_x: calib.0, calib_rows: calib.1 })
    }

    /// From the bytes of the four files (the page's path; the CLI reads the same files from disk).
    pub fn from_bytes(model: &[u8], test_x: &[u8], test_y: &[u8], calib_x: &[u8]) -> Result<Self> {
        let mlp = Mlp::from_safetensors_bytes("model", model)?;
        let test = read_npy_matrix("test-x", &mut { test_x })?;
        let labels = read_npy_labels("test-y", &mut { test_y })?;
        let calib = read_npy_matrix("calib-x", &mut { calib_x })?;
        Example::new(mlp, test, labels, calib)
    }
}

/// One row of the accuracy table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Config {
    Fp32,
    Int8Dynamic,
    Int8Static(Method),
    /// Symmetric int4, one scale per group of G inputs.
    Int4Group(usize),
    /// Symmetric int4, one scale per tensor.
    Int4Tensor,
    /// Symmetric int2 (codes −1, 0, 1), one scale per group of G inputs.
    Int2Group(usize),
}

impl Config {
    /// The table's rows, in order.
    pub fn all() -> Vec<Config> {
        vec![
            Config::Fp32,
            Config::Int8Dynamic,
            Config::Int8Static(Method::MinMax),
            Config::Int8Static(Method::Percentile(crate::calib::DEFAULT_PERCENTILE)),
            Config::Int8Static(Method::Mse),
            Config::Int8Static(Method::Entropy),
            Config::Int4Group(16),
            Config::Int4Group(32),
            Config::Int4Tensor,
            Config::Int2Group(16),
        ]
    }

    pub fn name(&self) -> String {
        match self {
            Config::Fp32 => "fp32".into(),
            Config::Int8Dynamic => "int8-dynamic".into(),
            Config::Int8Static(m) => format!("int8-static-{}", static_method_name(m)),
            Config::Int4Group(g) => format!("int4-g{g}"),
            Config::Int4Tensor => "int4-tensor".into(),
            Config::Int2Group(g) => format!("int2-g{g}"),
        }
    }

    /// Parses a name as `name` writes it (`int8-static-percentile:99.9` and `int4-g64` work too).
    pub fn parse(text: &str) -> Result<Config> {
        let bad = || {
            Error::InvalidSpec(format!(
                "configuration '{text}': expected fp32, int8-dynamic, int8-static-METHOD (minmax, percentile, mse, entropy), int4-gG, int4-tensor or int2-gG"
            ))
        };
        let t = text.trim();
        let group = |g: &str| -> Result<usize> {
            let g: usize = g.parse().map_err(|_| bad())?;
            if g == 0 || g % 4 != 0 {
                return Err(Error::InvalidSpec(format!("group size {g}: the INT4 kernel takes multiples of 4")));
            }
            Ok(g)
        };
        Ok(match t {
            "fp32" => Config::Fp32,
            "int8-dynamic" => Config::Int8Dynamic,
            "int4-tensor" => Config::Int4Tensor,
            _ => {
                if let Some(m) = t.strip_prefix("int8-static-") {
                    Config::Int8Static(Method::parse(m).map_err(|_| bad())?)
                } else if let Some(g) = t.strip_prefix("int4-g") {
                    Config::Int4Group(group(g)?)
                } else if let Some(g) = t.strip_prefix("int2-g") {
                    Config::Int2Group(group(g)?)
                } else {
                    return Err(bad());
                }
            }
        })
    }

    /// The weight spec of the low-bit rows (the spec that their stored size follows).
    fn weight_spec(&self) -> QuantSpec {
        match *self {
            Config::Fp32 | Config::Int8Dynamic | Config::Int8Static(_) => {
                QuantSpec::new(8, Scheme::Symmetric, Granularity::PerChannel { axis: 0 })
            }
            Config::Int4Group(g) => QuantSpec::new(4, Scheme::Symmetric, Granularity::PerGroup { size: g }),
            Config::Int4Tensor => QuantSpec::new(4, Scheme::Symmetric, Granularity::PerTensor),
            Config::Int2Group(g) => QuantSpec::new(2, Scheme::Symmetric, Granularity::PerGroup { size: g }),
        }
    }
}

/// minmax, percentile, mse, entropy (the default percentile needs no suffix).
fn static_method_name(m: &Method) -> String {
    match m {
        Method::Percentile(p) if *p == crate::calib::DEFAULT_PERCENTILE => "percentile".into(),
        m => m.label(),
    }
}

enum Prepared {
    Fp32(Vec<(PackedF32, Vec<f32>)>),
    Int8Dynamic(Vec<(PackedI8, Vec<f32>)>),
    Int8Static(StaticInt8Mlp),
    Int4(Vec<(PackedI4, Vec<f32>)>),
}

/// A model ready to run in one configuration: weights quantized and packed once, activations
/// calibrated once (static rows).
pub struct QuantizedModel {
    pub config: Config,
    /// Bytes stored: weights (codes) + scales + zero points + biases (+ the static rows' activation
    /// scale and zero point per layer input). The int2 row counts 2 bits per weight although it runs
    /// in the INT4 kernel's nibbles.
    pub size_bytes: u64,
    pub classes: usize,
    prepared: Prepared,
}

fn bias_bytes(l: &Linear, bytes_per_value: u64) -> u64 {
    if l.has_bias {
        l.out_features as u64 * bytes_per_value
    } else {
        0
    }
}

/// Symmetric low-bit weights in the INT4 kernel's container: per group (or one scale for the whole
/// tensor, replicated into one whole-row group per row, which the kernel reads identically).
fn quantize_low_bit(l: &Linear, spec: &QuantSpec) -> Result<PackedI4> {
    let (n, k) = (l.out_features, l.in_features);
    let q = quant::quantize_minmax(&l.weight, &[n, k], spec)?;
    match spec.granularity {
        Granularity::PerGroup { size } => PackedI4::pack(&q.codes, n, k, size, &q.scales, &q.zero_points, ScaleDType::F32),
        Granularity::PerTensor => {
            let group = k.max(1).div_ceil(4) * 4;
            PackedI4::pack(&q.codes, n, k, group, &vec![q.scales[0]; n], &vec![0; n], ScaleDType::F32)
        }
        Granularity::PerChannel { .. } => unreachable!("low-bit rows are per group or per tensor"),
    }
}

impl QuantizedModel {
    /// Quantizes (and for static rows calibrates on `calib_x`, `calib_rows` rows) the model.
    pub fn prepare(mlp: &Mlp, config: Config, calib_x: &[f32], calib_rows: usize) -> Result<Self> {
        let classes = mlp.out_features();
        let spec = config.weight_spec();
        let (prepared, size_bytes) = match config {
            Config::Fp32 => {
                let layers = mlp
                    .layers
                    .iter()
                    .map(|l| Ok((PackedF32::pack(&l.weight, l.out_features, l.in_features)?, l.bias.clone())))
                    .collect::<Result<Vec<_>>>()?;
                (Prepared::Fp32(layers), mlp.fp32_bytes())
            }
            Config::Int8Dynamic => {
                let mut size = 0;
                let mut layers = Vec::new();
                for l in &mlp.layers {
                    layers.push((PackedI8::quantize(&l.weight, l.out_features, l.in_features)?, l.bias.clone()));
                    size += quant::stored_bytes(&spec, l.weight.len() as u64, l.out_features as u64) + bias_bytes(l, 4);
                }
                (Prepared::Int8Dynamic(layers), size)
            }
            Config::Int8Static(method) => {
                let params = int8_static::calibrate(mlp, calib_x, calib_rows, &method)?;
                let net = StaticInt8Mlp::new(mlp, &params)?;
                let size = net.stored_bytes();
                (Prepared::Int8Static(net), size)
            }
            Config::Int4Group(_) | Config::Int4Tensor | Config::Int2Group(_) => {
                let mut size = 0;
                let mut layers = Vec::new();
                for l in &mlp.layers {
                    let w = quantize_low_bit(l, &spec)?;
                    let slots = quant::SlotLayout::new(&[l.out_features, l.in_features], spec.granularity)?.slots;
                    size += quant::stored_bytes(&spec, l.weight.len() as u64, slots as u64) + bias_bytes(l, 4);
                    layers.push((w, l.bias.clone()));
                }
                (Prepared::Int4(layers), size)
            }
        };
        Ok(QuantizedModel { config, size_bytes, classes, prepared })
    }

    /// The logits (dequantized to f32 for the integer rows) of `m` rows of features.
    pub fn forward(&self, x: &[f32], m: usize) -> Result<Vec<f32>> {
        fn run<W>(layers: &[(W, Vec<f32>)], x: &[f32], step: impl Fn(&W, &[f32], &[f32]) -> Result<Vec<f32>>) -> Result<Vec<f32>> {
            let mut h = x.to_vec();
            for (i, (w, b)) in layers.iter().enumerate() {
                h = step(w, &h, b)?;
                if i + 1 < layers.len() {
                    relu(&mut h);
                }
            }
            Ok(h)
        }
        match &self.prepared {
            Prepared::Fp32(layers) => run(layers, x, |w, h, b| {
                let mut y = vec![0.0f32; m * w.n];
                gemm::gemm_f32(h, m, w, Some(b), &mut y)?;
                Ok(y)
            }),
            Prepared::Int8Dynamic(layers) => {
                run(layers, x, |w, h, b| dynamic::dynamic_quantized_matmul(h, m, w, ActGranularity::PerRow, Some(b)))
            }
            Prepared::Int4(layers) => run(layers, x, |w, h, b| dynamic::dynamic_quantized_matmul_i4(h, m, w, Some(b))),
            Prepared::Int8Static(net) => net.forward(x, m),
        }
    }

    /// The class of each row: the first largest logit (numpy's argmax).
    pub fn predict(&self, x: &[f32], m: usize) -> Result<Vec<u32>> {
        Ok(argmax_rows(&self.forward(x, m)?, self.classes))
    }

    /// The static pipeline, for the rows that have one.
    pub fn static_int8(&self) -> Option<&StaticInt8Mlp> {
        match &self.prepared {
            Prepared::Int8Static(net) => Some(net),
            _ => None,
        }
    }
}

/// Index of the first maximum of each row of `classes` values (NaN never wins).
pub fn argmax_rows(logits: &[f32], classes: usize) -> Vec<u32> {
    logits
        .chunks_exact(classes)
        .map(|row| {
            let mut best = 0;
            for (j, &v) in row.iter().enumerate() {
                if v > row[best] || row[best].is_nan() && !v.is_nan() {
                    best = j;
                }
            }
            best as u32
        })
        .collect()
}

/// Softmax of one row of logits (in f64 then f32, shifted by the max), for the page's bars.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f64> = logits.iter().map(|&v| ((v - max) as f64).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|&v| (v / s) as f32).collect()
}

/// counts[true][predicted].
pub fn confusion_matrix(labels: &[u32], predictions: &[u32], classes: usize) -> Vec<Vec<u32>> {
    let mut m = vec![vec![0u32; classes]; classes];
    for (&y, &p) in labels.iter().zip(predictions) {
        m[y as usize][p as usize] += 1;
    }
    m
}

/// One row of the table, as the CLI's JSON and the page show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalRow {
    pub config: String,
    /// Share of the test split classified correctly, in [0, 1].
    pub accuracy: f64,
    pub size_bytes: u64,
    /// Time of one forward pass over the whole test split (best of the repeats), in milliseconds.
    pub ms: f64,
    pub correct: usize,
    /// Accuracy points lost against the fp32 row (percent points; negative = better than fp32).
    pub drop_points: f64,
    /// fp32 size / this size.
    pub compression: f64,
}

/// The whole table plus what the page draws from it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    pub rows: Vec<EvalRow>,
    pub test_rows: usize,
    pub classes: usize,
    pub kernel_build: &'static str,
    /// Per row of `rows`, the class predicted for each test example (for confusion matrices).
    #[serde(skip)]
    pub predictions: Vec<Vec<u32>>,
}

impl EvalReport {
    /// Index into `rows` of the least accurate configuration (the first one on a tie).
    pub fn worst(&self) -> usize {
        let mut w = 0;
        for (i, r) in self.rows.iter().enumerate() {
            if r.accuracy < self.rows[w].accuracy {
                w = i;
            }
        }
        w
    }

    pub fn row(&self, config: &str) -> Option<&EvalRow> {
        self.rows.iter().find(|r| r.config == config)
    }

    /// The table as the CLI prints it: the lecture's "Results on ImageNet" layout.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{:<24} {:>9} {:>9} {:>11} {:>12} {:>9}\n",
            "config", "accuracy", "vs fp32", "size", "compression", "ms"
        );
        for r in &self.rows {
            s.push_str(&format!(
                "{:<24} {:>8.2}% {:>9} {:>11} {:>11.2}× {:>9.3}\n",
                r.config,
                r.accuracy * 100.0,
                if r.config == "fp32" { "-".to_string() } else { signed_points(-r.drop_points) },
                human_bytes(r.size_bytes),
                r.compression,
                r.ms
            ));
        }
        s.push_str(&format!(
            "{} test examples; kernels: {}; vs fp32 in accuracy points; ms: one forward pass over the test split (best of the repeats)\n",
            self.test_rows, self.kernel_build
        ));
        s
    }
}

/// "+0.19", "-0.37", and "0.00" rather than "-0.00".
fn signed_points(v: f64) -> String {
    let r = (v * 100.0).round() / 100.0;
    if r == 0.0 {
        "0.00".into()
    } else {
        format!("{r:+.2}")
    }
}

fn human_bytes(b: u64) -> String {
    if b >= 10 * 1024 {
        format!("{:.1} KiB", b as f64 / 1024.0)
    } else {
        format!("{b} B")
    }
}

/// Each configuration prepared once, kept for `predict` (the page's draw-a-digit canvas).
pub struct Evaluation {
    pub example: Example,
    pub models: Vec<QuantizedModel>,
}

impl Evaluation {
    /// Quantizes and calibrates every configuration of `configs`.
    pub fn prepare(example: Example, configs: &[Config]) -> Result<Self> {
        let models = configs
            .iter()
            .map(|&c| QuantizedModel::prepare(&example.mlp, c, &example.calib_x, example.calib_rows))
            .collect::<Result<Vec<_>>>()?;
        Ok(Evaluation { example, models })
    }

    pub fn model(&self, config: &str) -> Result<&QuantizedModel> {
        let c = Config::parse(config)?.name();
        self.models
            .iter()
            .find(|m| m.config.name() == c)
            .ok_or_else(|| Error::InvalidSpec(format!("configuration '{config}' was not prepared")))
    }

    /// Runs the test split through every configuration; `now` is a millisecond clock (Instant natively,
    /// performance.now() in the browser) and the time is the best of `repeats` runs.
    pub fn run(&self, now: &dyn Fn() -> f64, repeats: usize) -> Result<EvalReport> {
        let ex = &self.example;
        let fp32_bytes = ex.mlp.fp32_bytes();
        let mut rows = Vec::new();
        let mut predictions = Vec::new();
        for model in &self.models {
            let mut best = f64::INFINITY;
            let mut pred = Vec::new();
            for _ in 0..repeats.max(1) {
                let t0 = now();
                let logits = model.forward(&ex.test_x, ex.test_rows)?;
                let t1 = now();
                best = best.min(t1 - t0);
                pred = argmax_rows(&logits, model.classes);
            }
            let correct = pred.iter().zip(&ex.test_y).filter(|(p, y)| p == y).count();
            rows.push(EvalRow {
                config: model.config.name(),
                accuracy: correct as f64 / ex.test_rows.max(1) as f64,
                size_bytes: model.size_bytes,
                ms: best,
                correct,
                drop_points: 0.0,
                compression: fp32_bytes as f64 / model.size_bytes.max(1) as f64,
            });
            predictions.push(pred);
        }
        let fp32 = rows.iter().find(|r| r.config == "fp32").map(|r| r.accuracy);
        if let Some(a) = fp32 {
            for r in rows.iter_mut() {
                r.drop_points = (a - r.accuracy) * 100.0;
            }
        }
        Ok(EvalReport {
            rows,
            test_rows: ex.test_rows,
            classes: ex.mlp.out_features(),
            kernel_build: crate::kernels::build_name(),
            predictions,
        })
    }

    /// One input (e.g. a drawn digit, `in_features` values in the test split's scale) in one configuration.
    pub fn predict(&self, config: &str, x: &[f32]) -> Result<Prediction> {
        let k = self.example.mlp.in_features();
        if x.len() != k {
            return Err(Error::InvalidSpec(format!("{} values given, the model takes {k}", x.len())));
        }
        let model = self.model(config)?;
        let logits = model.forward(x, 1)?;
        Ok(Prediction {
            config: model.config.name(),
            class: argmax_rows(&logits, model.classes)[0],
            probabilities: softmax(&logits),
            logits,
        })
    }
}

/// What one configuration says about one input.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    pub config: String,
    pub class: u32,
    pub logits: Vec<f32>,
    pub probabilities: Vec<f32>,
}

/// The page's whole first view in one value: the table, the confusion matrix of the worst row and
/// the test examples it gets wrong.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PageReport {
    #[serde(flatten)]
    pub report: EvalReport,
    pub worst: String,
    /// confusion[true class][predicted class] of the worst configuration.
    pub confusion: Vec<Vec<u32>>,
    /// Up to `limit` misclassified test examples of the worst configuration: index, label, prediction,
    /// the fp32 prediction, and the pixels (`in_features` values) to draw.
    pub misclassified: Vec<Misclassified>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Misclassified {
    pub index: usize,
    pub label: u32,
    pub predicted: u32,
    pub fp32_predicted: Option<u32>,
    pub pixels: Vec<f32>,
}

impl Evaluation {
    pub fn page_report(&self, report: EvalReport, limit: usize) -> PageReport {
        let ex = &self.example;
        let w = report.worst();
        let pred = &report.predictions[w];
        let fp32 = report.rows.iter().position(|r| r.config == "fp32").map(|i| &report.predictions[i]);
        let k = ex.mlp.in_features();
        let misclassified = (0..ex.test_rows)
            .filter(|&i| pred[i] != ex.test_y[i])
            .take(limit)
            .map(|i| Misclassified {
                index: i,
                label: ex.test_y[i],
                predicted: pred[i],
                fp32_predicted: fp32.map(|p| p[i]),
                pixels: ex.test_x[i * k..(i + 1) * k].to_vec(),
            })
            .collect();
        PageReport {
            worst: report.rows[w].config.clone(),
            confusion: confusion_matrix(&ex.test_y, pred, report.classes),
            misclassified,
            report,
        }
    }
}

/// A millisecond clock for native callers.
#[cfg(not(target_arch = "wasm32"))]
pub fn native_clock() -> impl Fn() -> f64 {
    let t0 = std::time::Instant::now();
    move || t0.elapsed().as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_names_round_trip() {
        for c in Config::all() {
            assert_eq!(Config::parse(&c.name()).unwrap(), c, "{}", c.name());
        }
        let names: Vec<String> = Config::all().iter().map(|c| c.name()).collect();
        assert_eq!(
            names,
            [
                "fp32",
                "int8-dynamic",
                "int8-static-minmax",
                "int8-static-percentile",
                "int8-static-mse",
                "int8-static-entropy",
                "int4-g16",
                "int4-g32",
                "int4-tensor",
                "int2-g16"
            ]
        );
        assert!(Config::parse("int4-g6").is_err());
        assert!(Config::parse("int8-static-kl").is_err());
        assert_eq!(Config::parse("int8-static-percentile:99.9").unwrap(), Config::Int8Static(Method::Percentile(99.9)));
    }

    #[test]
    fn argmax_takes_the_first_maximum() {
        assert_eq!(argmax_rows(&[1.0, 3.0, 3.0, f32::NAN, 0.0, -1.0], 3), vec![1, 1]);
    }

    #[test]
    fn layers_are_ordered_by_number_and_must_chain() {
        let mk = |n: usize, k: usize| vec![0u8; n * k * 4];
        let (w1, w2, w10) = (mk(4, 3), mk(5, 4), mk(2, 5));
        let b1 = vec![0u8; 16];
        // fc10 before fc2 in the file: still ordered fc1, fc2, fc10.
        let bytes = formats::safetensors::write(
            &[
                ("fc10.weight", DType::F32, &[2, 5], &w10),
                ("fc1.weight", DType::F32, &[4, 3], &w1),
                ("fc1.bias", DType::F32, &[4], &b1),
                ("fc2.weight", DType::F32, &[5, 4], &w2),
            ],
            &[],
        );
        let mlp = Mlp::from_safetensors_bytes("t", &bytes).unwrap();
        let names: Vec<&str> = mlp.layers.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["fc1", "fc2", "fc10"]);
        assert_eq!(mlp.fp32_bytes(), (12 + 4 + 20 + 10) * 4);
        let bad = formats::safetensors::write(&[("a1.weight", DType::F32, &[4, 3], &w1), ("a2.weight", DType::F32, &[2, 5], &w10)], &[]);
        let e = Mlp::from_safetensors_bytes("t", &bad).unwrap_err().to_string();
        assert!(e.contains("do not chain"), "{e}");
    }

    #[test]
    fn labels_of_every_integer_type() {
        let le = formats::npy::write("<i2", &[3], &[1, 0, 255, 255, 9, 0]);
        let e = read_npy_labels("y", &mut le.as_slice()).unwrap_err();
        assert!(e.to_string().contains("-1"), "{e}");
        let be = formats::npy::write(">u4", &[2], &[0, 0, 0, 7, 0, 0, 0, 3]);
        assert_eq!(read_npy_labels("y", &mut be.as_slice()).unwrap(), vec![7, 3]);
        let f = formats::npy::write("<f4", &[1], &[0, 0, 0, 0]);
        assert!(read_npy_labels("y", &mut f.as_slice()).is_err());
    }
}
