//! The one report schema the CLI prints and the page shows (serde; JSON for both).

use crate::error::{Error, Result};
use crate::kernels;
use crate::metrics::{bits_per_weight, metrics_from_sums, Metrics};
use crate::quant::ggml::{self, GgmlType};
use crate::quant::block::{self, BlockQuantized, BlockScales};
use crate::quant::stream::{BlockSums, RangePass, ScaledOutcome, ScaledPass};
use crate::quant::{self, BlockFormat, FloatCast, NumberFormat, QuantParams, QuantSpec, QuantizedTensor, SlotLayout};
use crate::tensor::DType;
use serde::Serialize;

/// Many scales or zero points are summarised; up to `LIST_LIMIT` are listed in full.
pub const LIST_LIMIT: usize = 64;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub count: usize,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<f64>>,
}

impl Summary {
    pub fn of(values: impl Iterator<Item = f64>) -> Summary {
        let mut s = SummaryStream::new();
        values.for_each(|v| s.push(v));
        s.finish()
    }
}

/// A `Summary` of values that arrive one at a time (the scales of a streamed tensor): the same
/// fold in the same order, and the list kept only while it is short.
#[derive(Debug, Clone)]
pub struct SummaryStream {
    count: usize,
    min: f64,
    max: f64,
    sum: f64,
    listed: Vec<f64>,
}

impl Default for SummaryStream {
    fn default() -> Self {
        Self::new()
    }
}

impl SummaryStream {
    pub fn new() -> Self {
        SummaryStream { count: 0, min: f64::INFINITY, max: f64::NEG_INFINITY, sum: 0.0, listed: Vec::new() }
    }

    pub fn push(&mut self, v: f64) {
        self.count += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sum += v;
        if self.count <= LIST_LIMIT {
            self.listed.push(v);
        } else if !self.listed.is_empty() {
            self.listed = Vec::new();
        }
    }

    pub fn finish(self) -> Summary {
        let empty = self.count == 0;
        Summary {
            count: self.count,
            min: if empty { 0.0 } else { self.min },
            max: if empty { 0.0 } else { self.max },
            mean: if empty { 0.0 } else { self.sum / self.count as f64 },
            values: (self.count <= LIST_LIMIT).then_some(self.listed),
        }
    }
}

/// One row of a comparison: a tensor under one number format (quant::format).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorReport {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
    pub elements: usize,
    /// The format's label: "fp32", "fp16", "bf16", "int8 sym channel:0", "q4_k".
    pub config: String,
    pub bits: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_range: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub granularity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scales: Option<Summary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zero_points: Option<Summary>,
    #[serde(flatten)]
    pub metrics: Metrics,
    pub bytes_fp32: u64,
    pub bytes_quantized: u64,
    pub bits_per_weight: f64,
    /// NaN / ±Inf elements in the input (left out of the metrics).
    pub nonfinite: usize,
    /// Per-group: the length of each row's last group when shorter than G.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub short_last_group: Option<usize>,
}

fn base(name: &str, dtype: DType, shape: &[usize], n: usize, config: &str, bits: u8, metrics: Metrics, bytes: u64, nonfinite: usize) -> TensorReport {
    TensorReport {
        name: name.to_string(),
        dtype: dtype.name().to_string(),
        shape: shape.to_vec(),
        elements: n,
        config: config.to_string(),
        bits,
        scheme: None,
        full_range: None,
        granularity: None,
        calibration: None,
        scales: None,
        zero_points: None,
        metrics,
        bytes_fp32: n as u64 * 4,
        bytes_quantized: bytes,
        bits_per_weight: bits_per_weight(bytes, n as u64),
        nonfinite,
        short_last_group: None,
    }
}

/// The report of an integer quantization.
pub fn int_report(name: &str, dtype: DType, q: &QuantizedTensor, calibration: &str) -> TensorReport {
    let outcome = ScaledOutcome {
        params: q.scales.iter().zip(&q.zero_points).map(|(&scale, &zero_point)| QuantParams { scale, zero_point }).collect(),
        error: q.error,
        clipped: q.clipped,
        nonfinite: q.nonfinite,
    };
    scaled_report(name, dtype, &q.shape, &q.spec, &q.layout, &outcome, calibration)
}

/// The row of a scaled format from what its pass measured.
fn scaled_report(
    name: &str,
    dtype: DType,
    shape: &[usize],
    spec: &QuantSpec,
    layout: &SlotLayout,
    out: &ScaledOutcome,
    calibration: &str,
) -> TensorReport {
    let n = layout.len();
    let metrics = metrics_from_sums(&out.error, n - out.nonfinite, out.clipped);
    let bytes = quant::stored_bytes(spec, n as u64, layout.slots as u64);
    let mut r = base(name, dtype, shape, n, &spec.label(), spec.format.bits, metrics, bytes, out.nonfinite);
    r.scheme = Some(spec.format.scheme.short_name().into());
    r.full_range = Some(spec.format.is_full_range());
    r.granularity = Some(spec.granularity.label());
    r.calibration = Some(calibration.into());
    r.scales = Some(Summary::of(out.params.iter().map(|p| p.scale as f64)));
    r.zero_points = Some(Summary::of(out.params.iter().map(|p| p.zero_point as f64)));
    r.short_last_group = layout.short_last_group;
    r
}

/// The float rows: fp32 (exact, the baseline), fp16 and bf16 (round-to-nearest-even casts).
pub fn float_report(name: &str, dtype: DType, shape: &[usize], x: &[f32], cast: FloatCast) -> Result<TensorReport> {
    format_report(name, dtype, shape, x, &NumberFormat::Float(cast))
}

/// A ggml block type's row: ggml's reference quantizer, then its dequantizer (rows in whole blocks).
pub fn ggml_report(name: &str, dtype: DType, shape: &[usize], x: &[f32], t: GgmlType) -> Result<TensorReport> {
    first_row(comparison(name, dtype, shape, x, &[NumberFormat::Ggml(t)], x.len().max(1))?)
}

/// The row of an FP8 / MX / NVFP4 / NF4 tensor: its scales summarised, bytes = codes at their width
/// plus the scales.
pub fn block_report(name: &str, dtype: DType, x: &[f32], q: &BlockQuantized) -> TensorReport {
    let n = x.len();
    let nonfinite = x.iter().filter(|v| !v.is_finite()).count();
    let metrics = metrics_from_sums(&kernels::error_sums_f32(x, &q.values), n - nonfinite, 0);
    let label = NumberFormat::Block(q.format).label();
    let mut r = base(name, dtype, &q.shape, n, &label, q.format.code_bits(), metrics, q.stored_bits().div_ceil(8), nonfinite);
    r.scales = Some(Summary::of(q.scales.values().into_iter().map(|s| s as f64)));
    r
}

/// The row of any number format; integer specs take min-max ranges.
pub fn format_report(name: &str, dtype: DType, shape: &[usize], x: &[f32], format: &NumberFormat) -> Result<TensorReport> {
    first_row(comparison(name, dtype, shape, x, std::slice::from_ref(format), x.len().max(1))?)
}

fn first_row(rows: Vec<TensorReport>) -> Result<TensorReport> {
    rows.into_iter().next().ok_or_else(|| Error::InvalidSpec("a comparison of one format gave no row".into()))
}

/// The comparison the page shows: FP32 | FP16 | BF16 | each integer spec (min-max ranges).
pub fn compare(name: &str, dtype: DType, shape: &[usize], x: &[f32], specs: &[QuantSpec]) -> Result<Vec<TensorReport>> {
    comparison(name, dtype, shape, x, &compare_formats(specs), x.len().max(1))
}

/// The columns of `compare`: the float casts, then the integer specs.
pub fn compare_formats(specs: &[QuantSpec]) -> Vec<NumberFormat> {
    FloatCast::ALL.into_iter().map(NumberFormat::Float).chain(specs.iter().map(|s| NumberFormat::Scaled(*s))).collect()
}

/// The rows of `formats` on an in-memory tensor fed to the stream in chunks of `chunk` elements.
pub fn comparison(name: &str, dtype: DType, shape: &[usize], x: &[f32], formats: &[NumberFormat], chunk: usize) -> Result<Vec<TensorReport>> {
    let mut stream = ComparisonStream::new(name, dtype, shape, formats)?;
    if x.len() != stream.elements() {
        return Err(Error::InvalidSpec(format!("{} values given for shape {shape:?} ({} elements)", x.len(), stream.elements())));
    }
    let chunk = chunk.max(1);
    if stream.needs_range_pass() {
        for c in x.chunks(chunk) {
            stream.feed_range(c)?;
        }
        stream.end_range_pass()?;
    }
    for c in x.chunks(chunk) {
        stream.feed(c)?;
    }
    stream.finish()
}

/// One column of a streamed comparison.
// A handful of columns per comparison: boxing the larger variants buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum Column {
    Float { cast: FloatCast, sums: BlockSums, nonfinite: usize },
    Scaled { spec: QuantSpec, layout: SlotLayout, range: Option<RangePass>, pass: Option<ScaledPass> },
    Ggml { t: GgmlType, row_len: usize, pending: Vec<f32>, sums: BlockSums, bytes: u64, nonfinite: usize },
    /// FP8 / MX / NVFP4 / NF4, quantized a piece of whole blocks at a time (block::piece_unit: rows
    /// for MX and NVFP4, NF4's 64 of the flattened tensor) with the tensor's amax from the first pass
    /// (FP8, NVFP4); a block a chunk edge cuts waits in `pending` for the rest.
    Block { format: BlockFormat, unit: usize, row_len: usize, amax: f32, pending: Vec<f32>, pieces: BlockPieces },
}

/// What a block format's pieces have measured so far.
#[derive(Debug, Clone, Default)]
struct BlockPieces {
    sums: BlockSums,
    scales: SummaryStream,
    codes: u64,
    block_scale_bits: u64,
    nonfinite: usize,
}

impl BlockPieces {
    /// Whole blocks of the tensor (`x`, rows of `row_len` for the row-blocked formats) quantized and
    /// measured; a tensor scale (FP8) is summarised once, in `finish_block`.
    fn add(&mut self, format: BlockFormat, x: &[f32], row_len: usize, amax: f32) {
        if x.is_empty() {
            return;
        }
        let q = block::quantize_piece(format, x, &piece_shape(format, x.len(), row_len), amax);
        self.sums.add(x, &q.values);
        self.codes += x.len() as u64;
        self.block_scale_bits += q.scales.block_bits();
        self.nonfinite += x.iter().filter(|v| !v.is_finite()).count();
        if !matches!(q.scales, BlockScales::Tensor(_)) {
            q.scales.values().into_iter().for_each(|s| self.scales.push(s as f64));
        }
    }
}

/// The shape of a piece of `len` elements: rows for the row-blocked formats, flat for the others.
fn piece_shape(format: BlockFormat, len: usize, row_len: usize) -> Vec<usize> {
    if block::is_row_blocked(format) {
        vec![len / row_len, row_len]
    } else {
        vec![len]
    }
}

/// The comparison of a tensor in several number formats, fed in chunks of its elements in memory
/// order (any cut: the numbers are the same for every chunking). Scaled formats take min-max ranges
/// from a first pass (`feed_range` over every chunk, then `end_range_pass`); every format then
/// measures in the second (`feed`). Memory is the chunk plus per-slot parameters.
#[derive(Debug, Clone)]
pub struct ComparisonStream {
    name: String,
    dtype: DType,
    shape: Vec<usize>,
    elements: usize,
    /// Elements each column has measured (columns are fed one by one).
    fed: Vec<usize>,
    columns: Vec<Column>,
    ranged: bool,
}

impl ComparisonStream {
    pub fn new(name: &str, dtype: DType, shape: &[usize], formats: &[NumberFormat]) -> Result<Self> {
        let elements = SlotLayout::new(shape, quant::Granularity::PerTensor)?.len();
        let mut columns = Vec::with_capacity(formats.len());
        for format in formats {
            columns.push(match *format {
                NumberFormat::Float(cast) => Column::Float { cast, sums: BlockSums::default(), nonfinite: 0 },
                NumberFormat::Scaled(spec) => {
                    spec.validate()?;
                    let layout = SlotLayout::new(shape, spec.granularity)?;
                    Column::Scaled { spec, range: Some(RangePass::new(layout.clone())), layout, pass: None }
                }
                NumberFormat::Ggml(t) => {
                    ggml::row_codec(t, shape)?;
                    let row_len = if shape.is_empty() { 1 } else { shape[shape.len() - 1] };
                    Column::Ggml { t, row_len, pending: Vec::new(), sums: BlockSums::default(), bytes: 0, nonfinite: 0 }
                }
                NumberFormat::Block(format) => Column::Block {
                    format,
                    unit: block::piece_unit(format, shape),
                    row_len: shape.last().copied().unwrap_or(1).max(1),
                    amax: 0.0,
                    pending: Vec::new(),
                    pieces: BlockPieces::default(),
                },
            });
        }
        let ranged = !columns.iter().any(|c| match c {
            Column::Scaled { .. } => true,
            Column::Block { format, .. } => block::needs_tensor_amax(*format),
            _ => false,
        });
        let fed = vec![0; columns.len()];
        Ok(ComparisonStream { name: name.into(), dtype, shape: shape.to_vec(), elements, fed, columns, ranged })
    }

    pub fn elements(&self) -> usize {
        self.elements
    }

    /// Whether a first pass over the chunks must come before `feed` (any scaled format, and the
    /// block formats with a tensor scale).
    pub fn needs_range_pass(&self) -> bool {
        !self.ranged
    }

    /// Whether column `i` (in the order of the formats given to `new`) takes part in the first pass.
    pub fn column_needs_range(&self, i: usize) -> bool {
        match self.columns.get(i) {
            Some(Column::Scaled { .. }) => true,
            Some(Column::Block { format, .. }) => block::needs_tensor_amax(*format),
            _ => false,
        }
    }

    /// How many columns (formats) the comparison has.
    pub fn columns(&self) -> usize {
        self.columns.len()
    }

    /// The first pass: the next chunk's per-slot min and max, and the finite amax.
    pub fn feed_range(&mut self, x: &[f32]) -> Result<()> {
        for i in 0..self.columns.len() {
            self.feed_range_column(i, x)?;
        }
        Ok(())
    }

    /// The first pass of column `i` alone (the caller times each column): the next chunk's ranges.
    pub fn feed_range_column(&mut self, i: usize, x: &[f32]) -> Result<()> {
        if self.ranged {
            return Err(Error::InvalidSpec("the range pass has ended (or this comparison needs none): feed the chunks with feed".into()));
        }
        match self.columns.get_mut(i) {
            Some(Column::Scaled { range: Some(r), .. }) => r.feed(x),
            Some(Column::Block { format, amax, .. }) if block::needs_tensor_amax(*format) => {
                *amax = amax.max(block::finite_amax(x));
                Ok(())
            }
            Some(_) => Ok(()),
            None => Err(no_column(i, self.columns.len())),
        }
    }

    /// Ends the first pass: the scaled formats' parameters are fixed from here on.
    pub fn end_range_pass(&mut self) -> Result<()> {
        for c in &mut self.columns {
            if let Column::Scaled { spec, layout, range, pass } = c {
                if let Some(r) = range.take() {
                    *pass = Some(ScaledPass::new(spec, layout.clone(), &r.finish()?)?);
                }
            }
        }
        self.ranged = true;
        Ok(())
    }

    /// The measuring pass: quantizes the next chunk in every format and folds in its errors.
    pub fn feed(&mut self, x: &[f32]) -> Result<()> {
        let nonfinite = kernels::count_nonfinite(x);
        for i in 0..self.columns.len() {
            self.feed_column(i, x, nonfinite)?;
        }
        Ok(())
    }

    /// The measuring pass of column `i` alone (the caller times each column): the next chunk of
    /// the tensor, which holds `nonfinite` NaN or ±Inf values (its decoder counted them: every
    /// column reads the same chunk, decoded once).
    pub fn feed_column(&mut self, i: usize, x: &[f32], nonfinite_here: usize) -> Result<()> {
        if !self.ranged {
            return Err(Error::InvalidSpec("the range pass of the scaled formats has not ended: call end_range_pass first".into()));
        }
        let n = self.columns.len();
        let (Some(c), Some(fed)) = (self.columns.get_mut(i), self.fed.get_mut(i)) else {
            return Err(no_column(i, n));
        };
        if x.len() > self.elements - *fed {
            return Err(Error::InvalidSpec(format!(
                "a chunk of {} values at element {} runs past the tensor's {} elements",
                x.len(),
                *fed,
                self.elements
            )));
        }
        *fed += x.len();
        let all_finite = nonfinite_here == 0;
        match c {
            Column::Float { cast, sums, nonfinite } => {
                let cast = *cast;
                let blocks = match cast {
                    FloatCast::F32 => kernels::f32_error_blocks,
                    FloatCast::F16 => kernels::f16_error_blocks,
                    FloatCast::Bf16 => kernels::bf16_error_blocks,
                };
                sums.add_measured(x, |v| (cast.cast_one(v), false), |run, xb| {
                    blocks(run, xb, all_finite);
                    0
                });
                *nonfinite += nonfinite_here;
            }
            Column::Scaled { pass: Some(p), .. } => {
                p.feed_counted(x, nonfinite_here)?;
            }
            Column::Scaled { pass: None, .. } => {}
            Column::Ggml { t, row_len, pending, sums, bytes, nonfinite } => {
                *nonfinite += nonfinite_here;
                let mut rest = x;
                if !pending.is_empty() {
                    let take = (*row_len - pending.len()).min(rest.len());
                    pending.extend_from_slice(&rest[..take]);
                    rest = &rest[take..];
                    if pending.len() == *row_len {
                        ggml_rows(*t, *row_len, pending, sums, bytes)?;
                        pending.clear();
                    }
                }
                let whole = rest.len() / *row_len * *row_len;
                if whole > 0 {
                    ggml_rows(*t, *row_len, &rest[..whole], sums, bytes)?;
                }
                pending.extend_from_slice(&rest[whole..]);
            }
            Column::Block { format, unit, row_len, amax, pending, pieces } => {
                let (format, unit, row_len, amax) = (*format, *unit, *row_len, *amax);
                let mut rest = x;
                if !pending.is_empty() {
                    let take = (unit - pending.len()).min(rest.len());
                    pending.extend_from_slice(&rest[..take]);
                    rest = &rest[take..];
                    if pending.len() == unit {
                        pieces.add(format, pending, row_len, amax);
                        pending.clear();
                    }
                }
                let whole = rest.len() / unit * unit;
                pieces.add(format, &rest[..whole], row_len, amax);
                pending.extend_from_slice(&rest[whole..]);
            }
        }
        Ok(())
    }

    /// The rows, in the order of the formats given to `new`.
    pub fn finish(self) -> Result<Vec<TensorReport>> {
        // A column short of the tensor, or a range pass never ended.
        if let Some(fed) = self.fed.iter().copied().find(|&f| f != self.elements).or((!self.ranged).then_some(0)) {
            return Err(Error::InvalidSpec(format!("{fed} values given for shape {:?} ({} elements)", self.shape, self.elements)));
        }
        let (name, dtype, shape, n) = (&self.name, self.dtype, &self.shape[..], self.elements);
        let mut rows = Vec::with_capacity(self.columns.len());
        for c in self.columns {
            rows.push(match c {
                Column::Float { cast, mut sums, nonfinite, .. } => {
                    sums.end_run();
                    let metrics = metrics_from_sums(&sums.sums(), n - nonfinite, 0);
                    let bits = cast.bits();
                    base(name, dtype, shape, n, cast.label(), bits, metrics, n as u64 * bits as u64 / 8, nonfinite)
                }
                Column::Scaled { spec, layout, pass, .. } => {
                    let out = pass.ok_or_else(|| Error::InvalidSpec("a scaled format was never measured".into()))?.finish()?;
                    scaled_report(name, dtype, shape, &spec, &layout, &out, "minmax")
                }
                Column::Ggml { t, mut sums, bytes, nonfinite, .. } => {
                    sums.end_run();
                    let metrics = metrics_from_sums(&sums.sums(), n - nonfinite, 0);
                    let bits = t.codec().map_or(0, |c| c.code_bits);
                    base(name, dtype, shape, n, &NumberFormat::Ggml(t).label(), bits, metrics, bytes, nonfinite)
                }
                Column::Block { format, row_len, amax, pending, mut pieces, .. } => {
                    // NF4's short last block of the flattened tensor.
                    pieces.add(format, &pending, row_len, amax);
                    pieces.sums.end_run();
                    // The tensor scale (FP8's summary, FP8's and NVFP4's 32 stored bits) from an empty piece.
                    let tensor = block::quantize_piece(format, &[], &piece_shape(format, 0, row_len), amax).scales;
                    if let BlockScales::Tensor(scale) = tensor {
                        pieces.scales.push(scale as f64);
                    }
                    let bits = pieces.codes * format.code_bits() as u64 + pieces.block_scale_bits + tensor.tensor_bits();
                    let metrics = metrics_from_sums(&pieces.sums.sums(), n - pieces.nonfinite, 0);
                    let label = NumberFormat::Block(format).label();
                    let mut r = base(name, dtype, shape, n, &label, format.code_bits(), metrics, bits.div_ceil(8), pieces.nonfinite);
                    r.scales = Some(pieces.scales.finish());
                    r
                }
            });
        }
        Ok(rows)
    }
}

fn no_column(i: usize, n: usize) -> Error {
    Error::InvalidSpec(format!("column {i} asked of a comparison of {n} columns"))
}

/// Whole rows through ggml's reference quantizer and back, their errors folded in.
fn ggml_rows(t: GgmlType, row_len: usize, x: &[f32], sums: &mut BlockSums, bytes: &mut u64) -> Result<()> {
    let (b, back) = ggml::round_trip(t, x, &[x.len() / row_len, row_len])?;
    *bytes += b.len() as u64;
    sums.add(x, &back);
    Ok(())
}

/// Which read of the tensor a `CalibratedColumn` wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalibratedPass {
    /// The calibration's reads (calib::slots: ranges, then the histograms per slot; min-max one read).
    Calibrate(usize),
    /// Quantizing with the calibrated ranges and measuring.
    Measure,
}

/// One integer spec's column under a calibration method (percentile, MSE, entropy, … per tensor,
/// channel or group), streamed: the per-slot calibration's reads (calib::slots::SlotCalibration),
/// then the measuring read. Its row is `int_report` of `calib::quantize_calibrated` on the whole
/// tensor, for any chunking; memory is a chunk, one slot's histogram and the per-slot parameters.
/// Kept beside `ComparisonStream` (not a column of it) so that a comparison's other columns keep
/// their two reads; the page runs it after them for the calibrated specs.
#[derive(Debug, Clone)]
pub struct CalibratedColumn {
    name: String,
    dtype: DType,
    shape: Vec<usize>,
    spec: QuantSpec,
    layout: SlotLayout,
    method: crate::calib::Method,
    /// Min-max: the range pass of `quant::quantize_minmax` (as `quantize_calibrated` takes it).
    minmax: Option<RangePass>,
    calibration: Option<crate::calib::slots::SlotCalibration>,
    calibration_pass: Option<crate::calib::slots::SlotPass>,
    reads: usize,
    pass: Option<CalibratedPass>,
    measure: Option<ScaledPass>,
    measured: bool,
}

impl CalibratedColumn {
    pub fn new(name: &str, dtype: DType, shape: &[usize], spec: &QuantSpec, method: &crate::calib::Method) -> Result<Self> {
        spec.validate()?;
        let layout = SlotLayout::new(shape, spec.granularity)?;
        let is_minmax = *method == crate::calib::Method::MinMax;
        let calibration = (!is_minmax)
            .then(|| crate::calib::slots::SlotCalibration::new(shape, spec, method, crate::calib::CalibConfig::default()))
            .transpose()?;
        Ok(CalibratedColumn {
            name: name.into(),
            dtype,
            shape: shape.to_vec(),
            spec: *spec,
            minmax: is_minmax.then(|| RangePass::new(layout.clone())),
            layout,
            method: *method,
            calibration,
            calibration_pass: None,
            reads: 0,
            pass: None,
            measure: None,
            measured: false,
        })
    }

    pub fn elements(&self) -> usize {
        self.layout.len()
    }

    /// Ends the read under way and names the next, if any (calibration reads, then one measuring read).
    pub fn next_pass(&mut self) -> Result<Option<CalibratedPass>> {
        let ranges = match self.pass {
            Some(CalibratedPass::Measure) => {
                self.measured = true;
                self.pass = None;
                return Ok(None);
            }
            None if self.measured => return Ok(None),
            None if self.minmax.is_some() => None,
            Some(CalibratedPass::Calibrate(_)) if self.minmax.is_some() => {
                Some(self.minmax.take().expect("checked").finish()?)
            }
            _ => {
                let c = self.calibration.as_mut().ok_or_else(|| Error::InvalidSpec("the calibration has ended".into()))?;
                self.calibration_pass = c.next_pass()?;
                match self.calibration_pass {
                    Some(_) => None,
                    None => Some(self.calibration.take().expect("checked").finish()?),
                }
            }
        };
        self.pass = match ranges {
            None => {
                self.reads += 1;
                Some(CalibratedPass::Calibrate(self.reads - 1))
            }
            Some(r) => {
                self.measure = Some(ScaledPass::new(&self.spec, self.layout.clone(), &r)?);
                Some(CalibratedPass::Measure)
            }
        };
        Ok(self.pass)
    }

    /// The next chunk of the read under way, in memory order.
    pub fn feed(&mut self, x: &[f32]) -> Result<()> {
        match self.pass {
            Some(CalibratedPass::Calibrate(_)) => match (&mut self.minmax, &mut self.calibration, self.calibration_pass) {
                (Some(r), _, _) => r.feed(x),
                (None, Some(c), Some(p)) => c.feed(p, x),
                _ => Err(Error::InvalidSpec("no calibration read is under way".into())),
            },
            Some(CalibratedPass::Measure) => self.measure.as_mut().expect("set with the pass").feed(x),
            None => Err(Error::InvalidSpec("no read is under way: call next_pass first".into())),
        }
    }

    /// The row, after every read (`next_pass` gave None).
    pub fn finish(self) -> Result<TensorReport> {
        let pass = self.measure.filter(|_| self.measured).ok_or_else(|| Error::InvalidSpec("the calibrated column was finished before its reads ended".into()))?;
        let out = pass.finish()?;
        Ok(scaled_report(&self.name, self.dtype, &self.shape, &self.spec, &self.layout, &out, &self.method.label()))
    }
}

/// `CalibratedColumn` over an in-memory tensor fed in chunks of `chunk` elements.
pub fn calibrated_column(name: &str, dtype: DType, shape: &[usize], x: &[f32], spec: &QuantSpec, method: &crate::calib::Method, chunk: usize) -> Result<TensorReport> {
    let mut column = CalibratedColumn::new(name, dtype, shape, spec, method)?;
    if x.len() != column.elements() {
        return Err(Error::InvalidSpec(format!("{} values given for shape {shape:?} ({} elements)", x.len(), column.elements())));
    }
    while column.next_pass()?.is_some() {
        for c in x.chunks(chunk.max(1)) {
            column.feed(c)?;
        }
    }
    column.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{Granularity, Scheme};

    #[test]
    fn every_family_makes_a_row_under_its_label() {
        // [2, 32]: row 0 is −16..15 scaled by 0.5 (Q8_0 with amax 15.5 is not exact), row 1 all zero.
        let x: Vec<f32> = (0..64).map(|i| if i < 32 { (i as f32 - 16.0) * 0.5 } else { 0.0 }).collect();
        let row = |label: &str| format_report("w", DType::F32, &[2, 32], &x, &NumberFormat::parse(label).unwrap()).unwrap();
        let fp32 = row("fp32");
        assert_eq!((fp32.config.as_str(), fp32.bits, fp32.bytes_quantized), ("fp32", 32, 256));
        assert_eq!(fp32.metrics.mse, 0.0);
        assert_eq!(row("bf16").bytes_quantized, 128);
        let int4 = row("int4 asym group:32");
        assert_eq!((int4.config.as_str(), int4.bits, int4.granularity.as_deref()), ("int4 asym group:32", 4, Some("group:32")));
        // Q8_0: two blocks of 34 bytes; d = 8/127 rounded to f16, every value within d/2 of x.
        let q8 = row("q8_0");
        assert_eq!((q8.config.as_str(), q8.bits, q8.bytes_quantized), ("q8_0", 8, 68));
        let d = half::f16::from_f32(8.0 / 127.0).to_f32() as f64;
        assert!(q8.metrics.max_abs_err <= d / 2.0 + 1e-9 && q8.metrics.max_abs_err > 0.0, "{}", q8.metrics.max_abs_err);
        assert!(format_report("w", DType::F32, &[64], &x, &NumberFormat::parse("q4_k").unwrap()).is_err());
    }

    #[test]
    fn compare_leads_with_the_float_casts() {
        let x = [0.1f32, -0.5, 0.9, 1.2];
        let spec = QuantSpec::new(8, Scheme::Symmetric, Granularity::PerTensor);
        let rows = compare("w", DType::F32, &[4], &x, &[spec]).unwrap();
        let labels: Vec<&str> = rows.iter().map(|r| r.config.as_str()).collect();
        assert_eq!(labels, ["fp32", "fp16", "bf16", "int8 sym tensor"]);
    }
}
