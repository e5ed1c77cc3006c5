//! What the page draws, computed by the core so that every picture has a number behind it that
//! `cargo test` checks: value and error histograms, every slot's scale and range, the calibration
//! ranges to mark on the histogram, and sweeps of many specs with their Pareto front.

use crate::app::report::{self, TensorReport};
use crate::calib::{self, CalibConfig, Calibrator, Method};
use crate::error::{Error, Result};
use crate::kernels;
use crate::quant::stream::{RangePass, ScaledPass};
use crate::quant::{self, Granularity, NumberFormat, QuantSpec, Scheme, SlotLayout, SlotRanges};
use crate::tensor::DType;
use serde::Serialize;

/// Bins the page asks for by default: fine enough to show the shape of a weight distribution.
pub const DEFAULT_BINS: usize = 256;

/// Calibration methods this core can quantize with, in the order the page lists them (src/calib's
/// labels, which `calib::Method::parse` reads back).
pub fn calibration_methods() -> Vec<String> {
    Method::all().iter().map(Method::label).collect()
}

/// `counts[i]` finite values fell in [lo + i·w, lo + (i+1)·w) with w = (hi − lo) / bins; the last
/// bin also holds hi. When every finite value is the same (lo == hi), they are all in bin 0.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Histogram {
    pub lo: f64,
    pub hi: f64,
    pub counts: Vec<u64>,
    /// Finite values counted.
    pub finite: usize,
    /// NaN / ±Inf values, left out.
    pub nonfinite: usize,
}

/// A histogram of the finite values of `x` with `bins` bins over [min, max] of those values.
pub fn histogram(x: &[f32], bins: usize) -> Histogram {
    let mut h = HistogramStream::new(bins);
    h.feed_range(x);
    h.end_range_pass();
    h.feed(x);
    h.finish()
}

/// `histogram` fed in chunks over two reads: the range, then the bins.
#[derive(Debug, Clone)]
pub struct HistogramStream {
    lo: f32,
    hi: f32,
    nonfinite: usize,
    counts: Vec<u64>,
    finite: usize,
    binning: bool,
}

impl HistogramStream {
    pub fn new(bins: usize) -> Self {
        HistogramStream { lo: f32::INFINITY, hi: f32::NEG_INFINITY, nonfinite: 0, counts: vec![0; bins.max(1)], finite: 0, binning: false }
    }

    /// The first read: the finite min and max.
    pub fn feed_range(&mut self, x: &[f32]) {
        let (lo, hi, bad) = kernels::min_max_finite(x);
        self.lo = self.lo.min(lo);
        self.hi = self.hi.max(hi);
        self.nonfinite += bad;
        self.finite += x.len() - bad;
    }

    pub fn end_range_pass(&mut self) {
        self.binning = true;
    }

    /// The second read: counts the chunk's finite values into the bins.
    pub fn feed(&mut self, x: &[f32]) {
        if !self.binning || self.finite == 0 {
            return;
        }
        let bins = self.counts.len();
        let (lo, hi) = (self.lo as f64, self.hi as f64);
        let width = hi - lo;
        for &v in x.iter().filter(|v| v.is_finite()) {
            // f64 so that a range near ±f32::MAX cannot overflow; the top value lands in the last bin.
            let i = if width > 0.0 { (((v as f64 - lo) / width) * bins as f64) as usize } else { 0 };
            self.counts[i.min(bins - 1)] += 1;
        }
    }

    pub fn finish(self) -> Histogram {
        let (finite, nonfinite) = (self.finite, self.nonfinite);
        if finite == 0 {
            return Histogram { lo: 0.0, hi: 0.0, counts: self.counts, finite, nonfinite };
        }
        Histogram { lo: self.lo as f64, hi: self.hi as f64, counts: self.counts, finite, nonfinite }
    }
}

/// The quantization errors x − x̂ of the finite elements under `spec` with `method`'s ranges.
pub fn errors(x: &[f32], shape: &[usize], spec: &QuantSpec, method: &Method) -> Result<Vec<f32>> {
    let q = calib::quantize_calibrated(x, shape, spec, method)?;
    let mut y = q.dequantize();
    drop(q);
    // In place over x̂ (written index ≤ read index): no third tensor-sized buffer in wasm memory.
    let mut kept = 0;
    for (i, &v) in x.iter().enumerate() {
        if v.is_finite() {
            y[kept] = v - y[i];
            kept += 1;
        }
    }
    y.truncate(kept);
    Ok(y)
}

/// A histogram of x − x̂ under `spec` and `method`, `bins` bins over [min, max] of the errors.
pub fn error_histogram(x: &[f32], shape: &[usize], spec: &QuantSpec, method: &Method, bins: usize) -> Result<Histogram> {
    error_histogram_chunked(x, shape, spec, method, bins, x.len().max(1))
}

/// `error_histogram` with `x` fed to the pictures' stream in chunks of `chunk` elements.
pub fn error_histogram_chunked(x: &[f32], shape: &[usize], spec: &QuantSpec, method: &Method, bins: usize, chunk: usize) -> Result<Histogram> {
    Ok(pictures_chunked(x, shape, spec, spec, method, bins, chunk)?.errors)
}

/// Every slot's calibrated range, scale and zero point, and the range its codes can represent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlotParams {
    pub config: String,
    pub calibration: String,
    pub granularity: String,
    pub slots: usize,
    /// Calibrated range of each slot's finite values.
    pub lo: Vec<f32>,
    pub hi: Vec<f32>,
    pub scales: Vec<f32>,
    pub zero_points: Vec<i32>,
    /// (qmin − zp)·scale and (qmax − zp)·scale: values outside are clipped.
    pub grid_lo: Vec<f32>,
    pub grid_hi: Vec<f32>,
}

/// Scales, zero points and ranges of every slot of `x` under `spec` with `method`'s ranges.
pub fn slot_params(x: &[f32], shape: &[usize], spec: &QuantSpec, method: &Method) -> Result<SlotParams> {
    Ok(pictures(x, shape, spec, spec, method, 1)?.slots)
}

/// One calibration method's range over the whole tensor, and the range the per-tensor grid covers
/// with it under `spec`'s scheme and bits (symmetric grids are ±amax; asymmetric ones include 0).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RangeMark {
    pub method: String,
    pub lo: f32,
    pub hi: f32,
    pub grid_lo: f32,
    pub grid_hi: f32,
}

/// The ranges to draw on the value histogram: one per calibration method the core has, each over the
/// whole tensor (src/calib's per-tensor answer, the `calibrate` command's ranges).
pub fn calibration_ranges(x: &[f32], spec: &QuantSpec) -> Result<Vec<RangeMark>> {
    let per_tensor = QuantSpec { granularity: Granularity::PerTensor, ..*spec };
    Ok(pictures(x, &[x.len()], &per_tensor, &per_tensor, &Method::MinMax, 1)?.ranges)
}

/// What the tensor view draws of one tensor (www/views/comparison/pictures.js): the value histogram
/// with the calibration ranges of `spec`'s scheme and bits, the error histogram under `error_spec`,
/// and every slot's scale under `spec`, both with `method`'s ranges.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pictures {
    pub values: Histogram,
    pub ranges: Vec<RangeMark>,
    pub errors: Histogram,
    pub slots: SlotParams,
}

/// The pictures of an in-memory tensor: the stream fed one chunk.
pub fn pictures(x: &[f32], shape: &[usize], spec: &QuantSpec, error_spec: &QuantSpec, method: &Method, bins: usize) -> Result<Pictures> {
    pictures_chunked(x, shape, spec, error_spec, method, bins, x.len().max(1))
}

/// `pictures` with `x` fed to the stream in chunks of `chunk` elements (any cut).
pub fn pictures_chunked(
    x: &[f32],
    shape: &[usize],
    spec: &QuantSpec,
    error_spec: &QuantSpec,
    method: &Method,
    bins: usize,
    chunk: usize,
) -> Result<Pictures> {
    let mut stream = PicturesStream::new(shape, spec, error_spec, method, bins)?;
    if x.len() != stream.elements() {
        return Err(Error::InvalidSpec(format!("{} values given for shape {shape:?} ({} elements)", x.len(), stream.elements())));
    }
    while stream.next_read()? {
        for c in x.chunks(chunk.max(1)) {
            stream.feed(c)?;
        }
    }
    stream.finish()
}

/// A tensor-wide calibration fed in chunks over two reads, as calib::WeightCalibration's first two:
/// the finite range (and |x| range), then the histograms with the layout the tensor as one batch
/// gives (`Calibrator::preset_one_batch`), so that any chunking gives `calibrate_slots`'s answer.
#[derive(Debug, Clone)]
struct TensorCalibration {
    spec: QuantSpec,
    methods: Vec<Method>,
    elements: usize,
    lo: f32,
    hi: f32,
    abs: (f32, f32),
    nonfinite: usize,
    calibrator: Option<Calibrator>,
}

impl TensorCalibration {
    fn new(elements: usize, spec: &QuantSpec, methods: &[Method]) -> Result<Self> {
        let spec = QuantSpec { granularity: Granularity::PerTensor, ..*spec };
        Calibrator::new(&spec, methods, CalibConfig::default())?;
        Ok(TensorCalibration {
            spec,
            methods: methods.to_vec(),
            elements,
            lo: f32::INFINITY,
            hi: f32::NEG_INFINITY,
            abs: (f32::INFINITY, 0.0),
            nonfinite: 0,
            calibrator: None,
        })
    }

    fn feed_range(&mut self, x: &[f32]) {
        let (lo, hi, bad) = kernels::min_max_finite(x);
        if lo <= hi {
            self.lo = self.lo.min(lo);
            self.hi = self.hi.max(hi);
        }
        self.abs = x.iter().filter(|v| v.is_finite()).map(|v| v.abs()).fold(self.abs, |(a, b), v| (a.min(v), b.max(v)));
        self.nonfinite += bad;
    }

    fn end_range_pass(&mut self) -> Result<()> {
        let mut c = Calibrator::new(&self.spec, &self.methods, CalibConfig::default())?;
        if self.lo <= self.hi {
            let finite = self.elements - self.nonfinite.min(self.elements);
            c.preset_one_batch(self.lo, self.hi, self.abs.0, self.abs.1, finite);
        }
        c.begin_batch(self.elements, self.lo, self.hi, self.nonfinite);
        self.calibrator = Some(c);
        Ok(())
    }

    fn feed_histograms(&mut self, x: &[f32]) {
        if let Some(c) = &mut self.calibrator {
            c.add_batch_part(x);
        }
    }

    fn result(&self, method: &Method) -> Result<calib::CalibResult> {
        self.calibrator.as_ref().ok_or_else(|| Error::InvalidSpec("the calibration's histograms were never read".into()))?.result(method)
    }
}

/// Per-slot ranges by one method, fed in chunks: min-max in one read; a histogram method per tensor
/// in two (TensorCalibration); per channel of axis 0 or per group (each slot one run of consecutive
/// elements) in one read, each slot calibrated by `calibrate_slots` as its run ends; per channel of
/// another axis (slots strided over the whole tensor) from the values kept whole.
#[derive(Debug, Clone)]
enum SlotRangeStream {
    MinMax(RangePass),
    Tensor(Box<TensorCalibration>, Method),
    Runs { spec: QuantSpec, method: Method, layout: SlotLayout, at: usize, pending: Vec<f32>, ranges: SlotRanges },
    Strided { spec: QuantSpec, shape: Vec<usize>, method: Method, values: Vec<f32> },
    Done(SlotRanges),
}

impl SlotRangeStream {
    fn new(shape: &[usize], spec: &QuantSpec, method: &Method) -> Result<Self> {
        spec.validate()?;
        let layout = SlotLayout::new(shape, spec.granularity)?;
        if *method == Method::MinMax {
            return Ok(SlotRangeStream::MinMax(RangePass::new(layout)));
        }
        if spec.granularity == Granularity::PerTensor {
            return Ok(SlotRangeStream::Tensor(Box::new(TensorCalibration::new(layout.len(), spec, std::slice::from_ref(method))?), method.clone()));
        }
        let mut next = 0;
        let mut in_order = true;
        layout.for_each_run(|_, _, slot| {
            in_order &= slot == next;
            next = slot + 1;
        });
        if in_order && next == layout.slots && !layout.is_empty() {
            let slot_spec = QuantSpec { granularity: Granularity::PerTensor, ..*spec };
            let ranges = SlotRanges { lo: Vec::with_capacity(layout.slots), hi: Vec::with_capacity(layout.slots), nonfinite: 0 };
            return Ok(SlotRangeStream::Runs { spec: slot_spec, method: method.clone(), layout, at: 0, pending: Vec::new(), ranges });
        }
        Ok(SlotRangeStream::Strided { spec: *spec, shape: shape.to_vec(), method: method.clone(), values: Vec::new() })
    }

    /// Reads of the tensor it needs.
    fn reads(&self) -> usize {
        if matches!(self, SlotRangeStream::Tensor(..)) { 2 } else { 1 }
    }

    fn feed(&mut self, read: usize, x: &[f32]) -> Result<()> {
        match (read, self) {
            (0, SlotRangeStream::MinMax(r)) => r.feed(x)?,
            (0, SlotRangeStream::Tensor(c, _)) => c.feed_range(x),
            (1, SlotRangeStream::Tensor(c, _)) => c.feed_histograms(x),
            (0, SlotRangeStream::Runs { spec, method, layout, at, pending, ranges }) => {
                let mut failure = None;
                layout.for_each_segment(*at, x.len(), |s| {
                    pending.extend_from_slice(&x[s.start..s.start + s.len]);
                    if s.ends_run && failure.is_none() {
                        match calib::calibrate_slots(pending, &[pending.len()], spec, method, CalibConfig::default()) {
                            Ok(r) => {
                                ranges.lo.push(r.lo[0]);
                                ranges.hi.push(r.hi[0]);
                                ranges.nonfinite += r.nonfinite;
                            }
                            Err(e) => failure = Some(e),
                        }
                        pending.clear();
                    }
                });
                *at += x.len();
                if let Some(e) = failure {
                    return Err(e);
                }
            }
            (0, SlotRangeStream::Strided { values, .. }) => values.extend_from_slice(x),
            _ => {}
        }
        Ok(())
    }

    fn end_read(&mut self, read: usize) -> Result<()> {
        let empty = SlotRanges { lo: Vec::new(), hi: Vec::new(), nonfinite: 0 };
        let this = std::mem::replace(self, SlotRangeStream::Done(empty));
        *self = match (read, this) {
            (0, SlotRangeStream::MinMax(r)) => SlotRangeStream::Done(r.finish()?),
            (0, SlotRangeStream::Tensor(mut c, method)) => {
                c.end_range_pass()?;
                SlotRangeStream::Tensor(c, method)
            }
            (1, SlotRangeStream::Tensor(c, method)) => {
                let r = c.result(&method)?;
                SlotRangeStream::Done(SlotRanges { lo: vec![r.range[0]], hi: vec![r.range[1]], nonfinite: c.nonfinite })
            }
            (0, SlotRangeStream::Runs { layout, ranges, pending, .. }) => {
                if !pending.is_empty() || ranges.lo.len() != layout.slots {
                    return Err(Error::InvalidSpec(format!("{} of {} slots were read whole", ranges.lo.len(), layout.slots)));
                }
                SlotRangeStream::Done(ranges)
            }
            (0, SlotRangeStream::Strided { spec, shape, method, values }) => {
                SlotRangeStream::Done(calib::calibrate_slots(&values, &shape, &spec, &method, CalibConfig::default())?)
            }
            (_, other) => other,
        };
        Ok(())
    }

    fn ranges(&self) -> Result<&SlotRanges> {
        match self {
            SlotRangeStream::Done(r) => Ok(r),
            _ => Err(Error::InvalidSpec("the slots' ranges were asked for before their reads ended".into())),
        }
    }
}

/// Elements quantized again per step of an error read (bounds its scratch to 2 × 256 KiB).
const ERROR_BLOCK: usize = 1 << 16;

/// The pictures of a tensor fed in chunks of its elements in memory order (any cut: the pictures
/// are the same for every chunking), over a few reads: `next_read` ends the read under way and says
/// whether another is wanted; `feed` takes that read's next chunk. Read 0 takes the value range,
/// the calibrations' ranges and the slots' min-max (or per-slot) ranges; read 1 the value bins and
/// the calibration histograms; the last two quantize again under `error_spec`, for the errors' range
/// and then their bins (the first of them is read 1 when the error's ranges are ready after read 0).
/// Memory is the chunk, the histograms and the per-slot parameters (per channel of an axis other
/// than 0 under a histogram method, the tensor: those slots are strided over all of it).
#[derive(Debug, Clone)]
pub struct PicturesStream {
    spec: QuantSpec,
    error_spec: QuantSpec,
    method: Method,
    elements: usize,
    read: Option<usize>,
    fed: usize,
    done: bool,
    /// The first of the two error reads.
    error_from: usize,
    values: HistogramStream,
    marks: TensorCalibration,
    slots: SlotRangeStream,
    /// None when the error picture's spec is the slots' spec: their ranges serve both.
    error_ranges: Option<SlotRangeStream>,
    error_layout: SlotLayout,
    error_pass: Option<ScaledPass>,
    errors: HistogramStream,
    scratch: Vec<f32>,
}

impl PicturesStream {
    pub fn new(shape: &[usize], spec: &QuantSpec, error_spec: &QuantSpec, method: &Method, bins: usize) -> Result<Self> {
        let elements = SlotLayout::new(shape, Granularity::PerTensor)?.len();
        let slots = SlotRangeStream::new(shape, spec, method)?;
        let error_ranges = if error_spec == spec { None } else { Some(SlotRangeStream::new(shape, error_spec, method)?) };
        let error_from = error_ranges.as_ref().unwrap_or(&slots).reads();
        Ok(PicturesStream {
            spec: *spec,
            error_spec: *error_spec,
            method: method.clone(),
            elements,
            read: None,
            fed: 0,
            done: false,
            error_from,
            values: HistogramStream::new(bins),
            marks: TensorCalibration::new(elements, spec, &Method::all())?,
            slots,
            error_ranges,
            error_layout: SlotLayout::new(shape, error_spec.granularity)?,
            error_pass: None,
            errors: HistogramStream::new(bins),
            scratch: Vec::new(),
        })
    }

    pub fn elements(&self) -> usize {
        self.elements
    }

    /// Whether the stream keeps the tensor's values (per-channel slots of an axis other than 0 under a
    /// histogram method): then it needs the memory of reading the tensor whole.
    pub fn keeps_tensor(&self) -> bool {
        std::iter::once(&self.slots).chain(&self.error_ranges).any(|s| matches!(s, SlotRangeStream::Strided { .. }))
    }

    /// How many reads of the tensor the pictures take (3 or 4), for progress.
    pub fn reads(&self) -> usize {
        self.error_from + 2
    }

    /// Ends the read under way (checking that it saw the whole tensor); true when another is wanted.
    pub fn next_read(&mut self) -> Result<bool> {
        if self.done {
            return Ok(false);
        }
        if let Some(read) = self.read {
            if self.fed != self.elements {
                return Err(Error::InvalidSpec(format!("{} values given for a tensor of {} elements", self.fed, self.elements)));
            }
            self.end_read(read)?;
        }
        let next = self.read.map_or(0, |r| r + 1);
        if next == self.reads() {
            self.read = None;
            self.done = true;
            return Ok(false);
        }
        self.read = Some(next);
        self.fed = 0;
        if next == self.error_from || next == self.error_from + 1 {
            let ranges = self.error_ranges.as_ref().unwrap_or(&self.slots).ranges()?;
            self.error_pass = Some(ScaledPass::new(&self.error_spec, self.error_layout.clone(), ranges)?);
        }
        Ok(true)
    }

    fn end_read(&mut self, read: usize) -> Result<()> {
        if read == 0 {
            self.values.end_range_pass();
            self.marks.end_range_pass()?;
        }
        self.slots.end_read(read)?;
        if let Some(e) = &mut self.error_ranges {
            e.end_read(read)?;
        }
        if read == self.error_from || read == self.error_from + 1 {
            self.error_pass.take().ok_or_else(|| Error::InvalidSpec("no error read was under way".into()))?.finish()?;
            if read == self.error_from {
                self.errors.end_range_pass();
            }
        }
        Ok(())
    }

    /// The next chunk of the read under way.
    pub fn feed(&mut self, x: &[f32]) -> Result<()> {
        let read = self.read.ok_or_else(|| Error::InvalidSpec("no read is under way: call next_read first".into()))?;
        if x.len() > self.elements - self.fed {
            return Err(Error::InvalidSpec(format!(
                "a chunk of {} values at element {} runs past the tensor's {} elements",
                x.len(),
                self.fed,
                self.elements
            )));
        }
        self.fed += x.len();
        match read {
            0 => {
                self.values.feed_range(x);
                self.marks.feed_range(x);
            }
            1 => {
                self.values.feed(x);
                self.marks.feed_histograms(x);
            }
            _ => {}
        }
        self.slots.feed(read, x)?;
        if let Some(e) = &mut self.error_ranges {
            e.feed(read, x)?;
        }
        if let Some(pass) = &mut self.error_pass {
            // A block at a time: x̂ and the errors hold a block, not the chunk (a whole tensor fed as one
            // chunk would need two more tensor-sized buffers); any cut gives the same numbers.
            for block in x.chunks(ERROR_BLOCK) {
                let back = pass.feed_reconstruction(block)?;
                self.scratch.clear();
                self.scratch.extend(block.iter().zip(back).filter(|(v, _)| v.is_finite()).map(|(&v, &y)| v - y));
                if read == self.error_from {
                    self.errors.feed_range(&self.scratch);
                } else {
                    self.errors.feed(&self.scratch);
                }
            }
        }
        Ok(())
    }

    /// The pictures, after every read.
    pub fn finish(self) -> Result<Pictures> {
        if !self.done {
            return Err(Error::InvalidSpec("the pictures were finished before their reads ended".into()));
        }
        let finite_or_zero = |v: f32| if v.is_finite() { v } else { 0.0 };
        let (qmin, qmax) = self.spec.code_range();
        let mut ranges = Vec::new();
        for method in Method::all() {
            let r = self.marks.result(&method)?;
            ranges.push(RangeMark {
                method: method.label(),
                lo: finite_or_zero(r.range[0]),
                hi: finite_or_zero(r.range[1]),
                grid_lo: (qmin - r.zero_point) as f32 * r.scale,
                grid_hi: (qmax - r.zero_point) as f32 * r.scale,
            });
        }
        let slot_ranges = self.slots.ranges()?;
        let params: Vec<quant::QuantParams> =
            slot_ranges.lo.iter().zip(&slot_ranges.hi).map(|(&lo, &hi)| quant::params_from_range(&self.spec, lo, hi)).collect();
        let grid = |code: i32| -> Vec<f32> { params.iter().map(|p| (code - p.zero_point) as f32 * p.scale).collect() };
        let slots = SlotParams {
            config: self.spec.label(),
            calibration: self.method.label(),
            granularity: self.spec.granularity.label(),
            slots: params.len(),
            // A slot without finite values has the range (+Inf, −Inf): report it as [0, 0], as its codes are.
            lo: slot_ranges.lo.iter().map(|&v| finite_or_zero(v)).collect(),
            hi: slot_ranges.hi.iter().map(|&v| finite_or_zero(v)).collect(),
            grid_lo: grid(qmin),
            grid_hi: grid(qmax),
            scales: params.iter().map(|p| p.scale).collect(),
            zero_points: params.iter().map(|p| p.zero_point).collect(),
        };
        Ok(Pictures { values: self.values.finish(), ranges, errors: self.errors.finish(), slots })
    }
}

/// The configurations of the Pareto view: bits 2..=8 × per tensor, per channel (axis 0, only for
/// tensors of two or more axes: a 1-D tensor would get one scale per element), per group of 32, 64
/// and 128 × symmetric and asymmetric. f32 scales, narrow range.
pub fn sweep_specs(shape: &[usize]) -> Vec<QuantSpec> {
    let mut granularities = vec![Granularity::PerTensor];
    if shape.len() >= 2 {
        granularities.push(Granularity::PerChannel { axis: 0 });
    }
    granularities.extend([32, 64, 128].map(|size| Granularity::PerGroup { size }));
    let mut specs = Vec::new();
    for scheme in [Scheme::Symmetric, Scheme::Asymmetric] {
        for &g in &granularities {
            for bits in 2..=8 {
                specs.push(QuantSpec::new(bits, scheme, g));
            }
        }
    }
    specs
}

/// Specs per piece of a sweep read whole (www/app/fanout.js, www/worker/compare.js): small enough that
/// progress moves and a cancel is heard soon; each format is a piece of its own.
pub const SWEEP_SPECS_PER_PIECE: usize = 7;

/// Per-slot state a piece of a streamed sweep may hold: a scaled column keeps its slots' min and max
/// during the range read and their parameters after it (16 bytes a slot at the hand-over).
pub const SWEEP_PIECE_SLOT_BYTES: usize = 96 << 20;

/// One piece of a sweep: indices into its specs and into its formats, measured by one comparison
/// stream; its rows are the specs' then the formats', each in the order given.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepPiece {
    pub specs: Vec<usize>,
    pub formats: Vec<usize>,
}

/// How a sweep of `specs` and `formats` formats over a tensor of `shape` is cut into pieces. Read
/// whole: SWEEP_SPECS_PER_PIECE specs a piece, then a piece per format. Streamed (read in chunks):
/// every piece reads the tensor once per pass, so pieces are as large as SWEEP_PIECE_SLOT_BYTES of
/// per-slot state allows (a column above it alone), and the formats, which hold no per-slot state,
/// are dealt over those pieces in turn.
pub fn sweep_pieces(shape: &[usize], specs: &[QuantSpec], formats: usize, streamed: bool) -> Result<Vec<SweepPiece>> {
    let mut pieces = Vec::new();
    if !streamed {
        for start in (0..specs.len()).step_by(SWEEP_SPECS_PER_PIECE) {
            pieces.push(SweepPiece { specs: (start..specs.len().min(start + SWEEP_SPECS_PER_PIECE)).collect(), formats: Vec::new() });
        }
        pieces.extend((0..formats).map(|f| SweepPiece { specs: Vec::new(), formats: vec![f] }));
        return Ok(pieces);
    }
    let mut held = 0usize;
    for (i, spec) in specs.iter().enumerate() {
        let bytes = SlotLayout::new(shape, spec.granularity)?.slots.saturating_mul(16);
        match pieces.last_mut() {
            Some(p) if held.saturating_add(bytes) <= SWEEP_PIECE_SLOT_BYTES => {
                p.specs.push(i);
                held += bytes;
            }
            _ => {
                pieces.push(SweepPiece { specs: vec![i], formats: Vec::new() });
                held = bytes;
            }
        }
    }
    if pieces.is_empty() && formats > 0 {
        pieces.push(SweepPiece { specs: Vec::new(), formats: Vec::new() });
    }
    let n = pieces.len();
    for f in 0..formats {
        pieces[f % n].formats.push(f);
    }
    Ok(pieces)
}

/// A report row of a sweep, and whether no other row of the sweep beats it on both axes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepRow {
    #[serde(flatten)]
    pub report: TensorReport,
    pub pareto: bool,
}

/// For points (cost, benefit): true where no other point has cost ≤ and benefit ≥ with one strict.
/// NaN benefits are never on the front and never dominate.
pub fn pareto_front(points: &[(f64, f64)]) -> Vec<bool> {
    points
        .iter()
        .map(|&(c, b)| {
            !b.is_nan()
                && !points.iter().any(|&(c2, b2)| !b2.is_nan() && c2 <= c && b2 >= b && (c2 < c || b2 > b))
        })
        .collect()
}

/// A number as the report writes it (metrics::ser_f64): a JSON number, "inf", "-inf", or null for NaN.
pub fn report_f64(value: &serde_json::Value) -> f64 {
    match value {
        serde_json::Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        serde_json::Value::String(s) if s == "inf" => f64::INFINITY,
        serde_json::Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        _ => f64::NAN,
    }
}

/// Each spec's report row on one tensor (min-max ranges), with the Pareto front of bits per
/// weight (lower is better) against SQNR (higher is better) among them.
pub fn sweep(name: &str, dtype: DType, shape: &[usize], x: &[f32], specs: &[QuantSpec]) -> Result<Vec<SweepRow>> {
    sweep_chunked(name, dtype, shape, x, specs, x.len().max(1))
}

/// `sweep` with the tensor fed to the comparison stream in chunks of `chunk` elements.
pub fn sweep_chunked(name: &str, dtype: DType, shape: &[usize], x: &[f32], specs: &[QuantSpec], chunk: usize) -> Result<Vec<SweepRow>> {
    let formats: Vec<NumberFormat> = specs.iter().map(|s| NumberFormat::Scaled(*s)).collect();
    let rows = report::comparison(name, dtype, shape, x, &formats, chunk)?;
    let points: Vec<(f64, f64)> = rows.iter().map(|r| (r.bits_per_weight, r.metrics.sqnr_db)).collect();
    Ok(rows.into_iter().zip(pareto_front(&points)).map(|(report, pareto)| SweepRow { report, pareto }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(bits: u8, scheme: Scheme, granularity: Granularity) -> QuantSpec {
        QuantSpec::new(bits, scheme, granularity)
    }

    #[test]
    fn histogram_puts_the_maximum_in_the_last_bin() {
        let h = histogram(&[0.0, 1.0, 2.0, 3.0, 4.0], 4);
        assert_eq!((h.lo, h.hi), (0.0, 4.0));
        assert_eq!(h.counts, vec![1, 1, 1, 2]);
        assert_eq!((h.finite, h.nonfinite), (5, 0));
    }

    #[test]
    fn histogram_skips_nonfinite_values() {
        let h = histogram(&[f32::NAN, -1.0, 1.0, f32::INFINITY, 0.5, f32::NEG_INFINITY], 2);
        assert_eq!((h.lo, h.hi), (-1.0, 1.0));
        // width 1: −1 → bin 0; 0.5 → bin 1 (1.5 / 2 · 2 = 1.5); 1 → bin 1.
        assert_eq!(h.counts, vec![1, 2]);
        assert_eq!((h.finite, h.nonfinite), (3, 3));
    }

    #[test]
    fn histogram_of_constant_or_empty_input() {
        let h = histogram(&[2.5; 3], 8);
        assert_eq!((h.lo, h.hi), (2.5, 2.5));
        assert_eq!(h.counts[0], 3);
        assert_eq!(h.counts.iter().sum::<u64>(), 3);
        let h = histogram(&[f32::NAN], 4);
        assert_eq!((h.lo, h.hi, h.counts.clone(), h.finite, h.nonfinite), (0.0, 0.0, vec![0; 4], 0, 1));
        assert_eq!(histogram(&[], 0).counts, vec![0]); // at least one bin
    }

    #[test]
    fn histogram_of_extreme_values_does_not_overflow() {
        let h = histogram(&[-f32::MAX, 0.0, f32::MAX], 2);
        assert_eq!(h.counts, vec![1, 2]);
    }

    #[test]
    fn error_histogram_hand_worked_int2() {
        // 2-bit symmetric narrow: codes −1..1, scale = amax / 1 = 1, so x̂ = round_half_even(x).
        // x  = [−1, −0.25, 0, 0.25, 0.75, 1] → x̂ = [−1, 0, 0, 0, 1, 1]
        // e  = [ 0, −0.25, 0, 0.25, −0.25, 0]
        let x = [-1.0, -0.25, 0.0, 0.25, 0.75, 1.0];
        let s = spec(2, Scheme::Symmetric, Granularity::PerTensor);
        assert_eq!(errors(&x, &[6], &s, &Method::MinMax).unwrap(), vec![0.0, -0.25, 0.0, 0.25, -0.25, 0.0]);
        let h = error_histogram(&x, &[6], &s, &Method::MinMax, 4).unwrap();
        // range [−0.25, 0.25], width 0.125: −0.25 → 0; 0 → 2; 0.25 → last bin.
        assert_eq!((h.lo, h.hi), (-0.25, 0.25));
        assert_eq!(h.counts, vec![2, 0, 3, 1]);
    }

    #[test]
    fn errors_leave_out_nonfinite_inputs() {
        let s = spec(8, Scheme::Symmetric, Granularity::PerTensor);
        let e = errors(&[f32::NAN, 1.0, -1.0, f32::INFINITY], &[4], &s, &Method::MinMax).unwrap();
        assert_eq!(e, vec![0.0, 0.0]);
    }

    #[test]
    fn slot_params_per_channel_hand_worked() {
        // Rows [−1, 0.5] and [0, 2]; 8-bit symmetric per channel: scales 1/127 and 2/127.
        let x = [-1.0, 0.5, 0.0, 2.0];
        let p = slot_params(&x, &[2, 2], &spec(8, Scheme::Symmetric, Granularity::PerChannel { axis: 0 }), &Method::MinMax).unwrap();
        assert_eq!(p.slots, 2);
        assert_eq!(p.lo, vec![-1.0, 0.0]);
        assert_eq!(p.hi, vec![0.5, 2.0]);
        assert_eq!(p.scales, vec![1.0 / 127.0, 2.0 / 127.0]);
        assert_eq!(p.zero_points, vec![0, 0]);
        assert_eq!(p.grid_lo, vec![-127.0 * (1.0f32 / 127.0), -127.0 * (2.0f32 / 127.0)]);
        assert_eq!(p.grid_hi[1], 127.0 * (2.0f32 / 127.0));
        assert_eq!(p.config, "int8 sym channel:0");
    }

    #[test]
    fn slot_params_asymmetric_grid_and_groups() {
        // Range [−1, 3], 8-bit asymmetric: scale 4/255, zero point 64 (the contract's hand-worked case).
        let p = slot_params(&[-1.0, 3.0, 0.0, 0.0, 0.0], &[5], &spec(8, Scheme::Asymmetric, Granularity::PerGroup { size: 2 }), &Method::MinMax).unwrap();
        assert_eq!(p.slots, 3);
        assert_eq!(p.scales[0], 4.0 / 255.0);
        assert_eq!(p.zero_points[0], 64);
        assert_eq!(p.grid_lo[0], -64.0 * (4.0f32 / 255.0));
        assert_eq!(p.grid_hi[0], 191.0 * (4.0f32 / 255.0));
        // The all-zero groups: scale 1 (degenerate range), zero point 0.
        assert_eq!((p.scales[1], p.zero_points[1], p.lo[2], p.hi[2]), (1.0, 0, 0.0, 0.0));
    }

    #[test]
    fn calibration_ranges_mark_the_symmetric_grid() {
        let x = [-1.0, 0.5, 0.0, 2.0];
        let marks = calibration_ranges(&x, &spec(8, Scheme::Symmetric, Granularity::PerChannel { axis: 0 })).unwrap();
        assert_eq!(marks.len(), calibration_methods().len());
        let m = marks.iter().find(|m| m.method == "minmax").unwrap();
        assert_eq!((m.method.as_str(), m.lo, m.hi), ("minmax", -1.0, 2.0));
        // ±amax with amax = 2: the grid reaches −2 although no value is below −1.
        assert_eq!((m.grid_lo, m.grid_hi), (-127.0 * (2.0f32 / 127.0), 127.0 * (2.0f32 / 127.0)));
        let names: Vec<&str> = marks.iter().map(|m| m.method.as_str()).collect();
        assert_eq!(names, calibration_methods());
    }

    #[test]
    fn a_clipping_method_narrows_the_range_and_the_scales() {
        // 100 000 values in ±1 and one outlier at 50 (0.001 %): percentile 99.99 cuts it, min-max keeps ±50.
        let mut x: Vec<f32> = (0..100_000).map(|i| (i as f32 / 99_999.0) * 2.0 - 1.0).collect();
        x.push(50.0);
        let s = spec(8, Scheme::Symmetric, Granularity::PerTensor);
        let marks = calibration_ranges(&x, &s).unwrap();
        let minmax = marks.iter().find(|m| m.method == "minmax").unwrap();
        assert_eq!((minmax.lo, minmax.hi), (-1.0, 50.0));
        for m in &marks {
            assert!(m.lo >= -50.0 && m.hi <= 50.0, "{}: [{}, {}] is inside the data", m.method, m.lo, m.hi);
        }
        let percentile = Method::parse("percentile").unwrap();
        let narrow = slot_params(&x, &[x.len()], &s, &percentile).unwrap();
        let wide = slot_params(&x, &[x.len()], &s, &Method::MinMax).unwrap();
        assert!(narrow.scales[0] < wide.scales[0] / 5.0, "{} vs {}", narrow.scales[0], wide.scales[0]);
        assert_eq!(narrow.calibration, "percentile:99.99");
        // The error picture follows the method: clipping the outlier costs one large error.
        let e = errors(&x, &[x.len()], &s, &percentile).unwrap();
        assert!(e.iter().any(|v| *v > 40.0));
    }

    #[test]
    fn sweep_specs_cover_the_grid() {
        assert_eq!(sweep_specs(&[16, 32]).len(), 7 * 5 * 2);
        // No per-channel for a 1-D tensor.
        let specs = sweep_specs(&[48]);
        assert_eq!(specs.len(), 7 * 4 * 2);
        assert!(specs.iter().all(|s| !matches!(s.granularity, Granularity::PerChannel { .. })));
        assert!(specs.iter().all(|s| s.validate().is_ok()));
    }

    #[test]
    fn sweep_pieces_cover_every_column_once() {
        // [128256, 4096] (an 8B model's embedding): read in chunks, a group:32 column holds 16 Mi slots
        // (256 MiB of per-slot state) and goes alone; the per-tensor and per-channel ones share pieces.
        let shape = [128256, 4096];
        let specs = sweep_specs(&shape);
        let pieces = sweep_pieces(&shape, &specs, 5, true).unwrap();
        let mut seen: Vec<usize> = pieces.iter().flat_map(|p| p.specs.clone()).collect();
        seen.sort();
        assert_eq!(seen, (0..specs.len()).collect::<Vec<_>>());
        let mut formats: Vec<usize> = pieces.iter().flat_map(|p| p.formats.clone()).collect();
        formats.sort();
        assert_eq!(formats, vec![0, 1, 2, 3, 4]);
        let g32 = specs.iter().position(|s| s.granularity == Granularity::PerGroup { size: 32 }).unwrap();
        assert!(pieces.iter().any(|p| p.specs == vec![g32]));
        assert!(pieces.iter().any(|p| p.specs.len() >= 14), "the 14 per-tensor specs share a piece: {pieces:?}");
        // Read whole: 7 specs a piece, then a piece per format.
        let whole = sweep_pieces(&[16, 32], &sweep_specs(&[16, 32]), 2, false).unwrap();
        assert_eq!(whole.len(), 10 + 2);
        assert_eq!(whole[0], SweepPiece { specs: (0..7).collect(), formats: vec![] });
        assert_eq!(whole[11], SweepPiece { specs: vec![], formats: vec![1] });
        assert_eq!(sweep_pieces(&[4], &[], 3, true).unwrap(), vec![SweepPiece { specs: vec![], formats: vec![0, 1, 2] }]);
    }

    #[test]
    fn pareto_front_hand_worked() {
        // (bits per weight, SQNR dB): (4, 20) beats (5, 19); (4, 20) and (8, 40) trade off; a tie
        // on both axes is not a domination; NaN is never on the front.
        let points = [(4.0, 20.0), (5.0, 19.0), (8.0, 40.0), (8.0, 40.0), (3.0, f64::NAN), (9.0, 40.0), (2.0, f64::NEG_INFINITY)];
        assert_eq!(pareto_front(&points), vec![true, false, true, true, false, false, true]);
        // +Inf SQNR (exact) dominates anything costing as much or more.
        assert_eq!(pareto_front(&[(8.0, f64::INFINITY), (9.0, 50.0)]), vec![true, false]);
    }

    #[test]
    fn report_numbers_read_back() {
        use serde_json::json;
        assert_eq!(report_f64(&json!(1.5)), 1.5);
        assert_eq!(report_f64(&json!("inf")), f64::INFINITY);
        assert_eq!(report_f64(&json!("-inf")), f64::NEG_INFINITY);
        assert!(report_f64(&json!(null)).is_nan());
    }

    #[test]
    fn sweep_rows_equal_the_quantize_report() {
        let x: Vec<f32> = (0..64).map(|i| ((i * 37 % 64) as f32 - 31.5) / 8.0).collect();
        let specs = sweep_specs(&[4, 16]);
        let rows = sweep("w", DType::F32, &[4, 16], &x, &specs).unwrap();
        assert_eq!(rows.len(), specs.len());
        for (row, s) in rows.iter().zip(&specs) {
            let q = quant::quantize_minmax(&x, &[4, 16], s).unwrap();
            assert_eq!(row.report, report::int_report("w", DType::F32, &q, "minmax"));
        }
        assert!(rows.iter().any(|r| r.pareto));
        let json = serde_json::to_value(&rows[0]).unwrap();
        assert_eq!(json["config"], "int2 sym tensor");
        assert!(json["pareto"].is_boolean());
    }
}

// ---- The speed view (www/views/speed): y = W·x with a seeded x, and how far an output is from FP32's --

use crate::app::synthetic::{self, Dist};

/// The speed panel's activations X [m, k]: N(0, 1) values from `seed` (synthetic.rs, PCG-64), so that
/// the seed the page shows gives the same X in any build, natively included.
pub fn gaussian_activations(m: usize, k: usize, seed: u64) -> Vec<f32> {
    synthetic::generate(Dist::Gaussian, m * k, 1.0, seed)
}

/// How far an output is from the reference output: the contract's metrics (metrics.rs) with the
/// reference as x and the output as x̂, over the reference's finite values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OutputError {
    pub mse: f64,
    #[serde(serialize_with = "crate::metrics::ser_f64")]
    pub sqnr_db: f64,
    #[serde(serialize_with = "crate::metrics::ser_f64")]
    pub max_abs_err: f64,
    pub cosine: Option<f64>,
}

/// The error of `output` against `reference` (same length: the FP32 and the INT8 / INT4 y of one x).
pub fn output_error(reference: &[f32], output: &[f32]) -> Result<OutputError> {
    if reference.len() != output.len() {
        return Err(crate::error::Error::InvalidSpec(format!(
            "outputs of {} and {} values cannot be compared",
            reference.len(),
            output.len()
        )));
    }
    let sums = kernels::error_sums_f32(reference, output);
    let finite = reference.iter().filter(|v| v.is_finite()).count();
    let m = crate::metrics::metrics_from_sums(&sums, finite, 0);
    Ok(OutputError { mse: m.mse, sqnr_db: m.sqnr_db, max_abs_err: m.max_abs_err, cosine: m.cosine })
}

#[cfg(test)]
mod speed_panel_tests {
    use super::*;
    use crate::kernels::gemm::{self, PackedF32, PackedI4, PackedI8};
    use crate::quant::dynamic::{self, ActGranularity};
    use crate::quant::ScaleDType;

    #[test]
    fn output_error_hand_worked() {
        // e = [0, 0.5, −1, 0]: Σe² = 1.25, Σx² = 1 + 4 + 9 + 16 = 30 → 10·log10(24) dB; max |e| = 1.
        let e = output_error(&[1.0, 2.0, 3.0, 4.0], &[1.0, 1.5, 4.0, 4.0]).unwrap();
        assert_eq!(e.mse, 1.25 / 4.0);
        assert_eq!(e.sqnr_db, 10.0 * (30.0f64 / 1.25).log10());
        assert_eq!(e.max_abs_err, 1.0);
        let dot = 1.0 + 3.0 + 12.0 + 16.0;
        let want = dot / (30.0f64.sqrt() * (1.0f64 + 2.25 + 16.0 + 16.0).sqrt());
        assert!((e.cosine.unwrap() - want).abs() < 1e-12);
        // Exact: +Inf dB, cosine 1; a length mismatch is an error, not a panic.
        let same = output_error(&[0.5, -2.0], &[0.5, -2.0]).unwrap();
        assert_eq!((same.sqnr_db, same.max_abs_err, same.cosine), (f64::INFINITY, 0.0, Some(1.0)));
        assert!(output_error(&[1.0], &[1.0, 2.0]).is_err());
    }

    #[test]
    fn activations_follow_the_seed() {
        let a = gaussian_activations(3, 5, 7);
        assert_eq!(a.len(), 15);
        assert_eq!(a, gaussian_activations(3, 5, 7));
        assert_ne!(a, gaussian_activations(3, 5, 8));
        assert_eq!(a, synthetic::generate(Dist::Gaussian, 15, 1.0, 7));
    }

    /// What the page's speed panel shows for the example's fc2.weight [128, 256] with x from seed 42:
    /// INT8 (per-channel weights, per-row u8 activations) well above 30 dB, INT4 g32 above 10 dB.
    #[test]
    fn example_fc2_outputs_against_fp32() {
        let file = synthetic::example_safetensors(42);
        let index = crate::formats::parse_index("example.safetensors", &file, file.len() as u64).unwrap();
        let info = index.tensors.iter().find(|t| t.name == "fc2.weight").unwrap();
        let bytes = &file[info.offset as usize..(info.offset + info.byte_len) as usize];
        let w = crate::tensor::decode_to_f32(info, bytes).unwrap();
        let (n, k) = (info.shape[0], info.shape[1]);
        for m in [1, 8, 64] {
            let x = gaussian_activations(m, k, 42);
            let mut y = vec![0.0f32; m * n];
            gemm::gemm_f32(&x, m, &PackedF32::pack(&w, n, k).unwrap(), None, &mut y).unwrap();
            let i8w = PackedI8::quantize(&w, n, k).unwrap();
            let y8 = dynamic::dynamic_quantized_matmul(&x, m, &i8w, ActGranularity::PerRow, None).unwrap();
            let i4w = PackedI4::quantize(&w, n, k, 32, Scheme::Symmetric, ScaleDType::F32).unwrap();
            let y4 = dynamic::dynamic_quantized_matmul_i4(&x, m, &i4w, None).unwrap();
            let (e8, e4) = (output_error(&y, &y8).unwrap(), output_error(&y, &y4).unwrap());
            assert!(e8.sqnr_db > 30.0 && e4.sqnr_db > 10.0 && e8.sqnr_db > e4.sqnr_db, "m = {m}: {e8:?} {e4:?}");
            assert!(e8.cosine.unwrap() > 0.999, "m = {m}: {e8:?}");
        }
    }
}
