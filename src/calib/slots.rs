//! Per-slot calibration (per channel, per group, or the one slot of a tensor) streamed over chunks of
//! the tensor in memory order, so that a tensor of any size calibrates with memory bounded by a chunk,
//! a slot's histogram and the per-slot answers — never the tensor.
//!
//! Each slot is one batch of its own `Calibrator` (as `calibrate_slots` has always done it: the slot's
//! values, in memory order, through `add_batch`). Two ways to get there, chosen from the layout:
//! - Contiguous slots (per-group; per-channel along the first axis; each slot one run of at most
//!   `BUFFERED_SLOT` elements): one read. A slot a chunk holds whole goes to `add_batch` at once; one a
//!   chunk edge cuts waits in a buffer (one slot's values) for its rest. The same calls on the same
//!   values as the whole tensor, so the same ranges by construction.
//! - Otherwise (per-tensor; per-channel along a later axis, whose slots interleave; very long slots):
//!   a range read (each slot's finite min, max, min|x|, max|x|, non-finite count), then histogram
//!   reads in which each slot's histograms get the layout that slot fed whole would give
//!   (`Calibrator::preset_one_batch`) before its parts are binned. Bin counts are integers, so the
//!   order of the parts cannot change them. Interleaved slots are live together; at most
//!   `LIVE_HISTOGRAM_BYTES` of them per read, so a tensor with many such channels takes several
//!   histogram reads, a window of channels each.
//!
//! Methods without a histogram (min-max and its moving averages) need only the range read.

use super::{CalibConfig, Calibrator, Method};
use crate::error::{Error, Result};
use crate::kernels;
use crate::quant::{Granularity, QuantSpec, SlotLayout, SlotRanges};
use std::collections::BTreeMap;

/// Longest slot kept in the one-read path's buffer (4 MiB of f32); longer slots take the range read.
pub const BUFFERED_SLOT: usize = 1 << 20;

/// Memory for the histograms of the slots live together in one histogram read of interleaved slots.
pub const LIVE_HISTOGRAM_BYTES: usize = 64 << 20;

/// Which read of the tensor a `SlotCalibration` wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotPass {
    /// Each slot's finite extremes and non-finite count (the two-read path only).
    Range,
    /// The slots' histograms: the one read of contiguous slots, or window `k` of the interleaved ones.
    Histogram(usize),
}

/// One slot's extremes from the range read.
#[derive(Debug, Clone, Copy)]
struct SlotExtremes {
    lo: f32,
    hi: f32,
    min_abs: f32,
    max_abs: f32,
    nonfinite: usize,
}

impl Default for SlotExtremes {
    fn default() -> Self {
        // As kernels::min_max_finite and WeightCalibration's |x| fold start.
        SlotExtremes { lo: f32::INFINITY, hi: f32::NEG_INFINITY, min_abs: f32::INFINITY, max_abs: 0.0, nonfinite: 0 }
    }
}

/// A slot whose parts are arriving: its calibrator and how many of its values it has seen.
#[derive(Debug, Clone)]
struct LiveSlot {
    calibrator: Calibrator,
    seen: usize,
}

/// The per-slot calibration of one tensor by one method, fed in chunks in memory order over the
/// reads `next_pass` names; `finish` gives `calibrate_slots`'s ranges for any chunking.
#[derive(Debug, Clone)]
pub struct SlotCalibration {
    slot_spec: QuantSpec,
    method: Method,
    cfg: CalibConfig,
    layout: SlotLayout,
    /// Values in each slot (all slots of a per-channel layout are the same length).
    slot_len: usize,
    /// The one-read path (contiguous slots of at most BUFFERED_SLOT values).
    contiguous: bool,
    /// Channels along a later axis: their runs interleave, so all are live in a histogram read.
    interleaved: bool,
    /// Slots per histogram read of the two-read path.
    window: usize,
    pass: Option<SlotPass>,
    fed: usize,
    extremes: Vec<SlotExtremes>,
    live: BTreeMap<usize, LiveSlot>,
    /// The one-read path: the values of the slot a chunk edge cut.
    pending: Vec<f32>,
    ranges: SlotRanges,
    done: Vec<bool>,
    finished: bool,
}

impl SlotCalibration {
    pub fn new(shape: &[usize], spec: &QuantSpec, method: &Method, cfg: CalibConfig) -> Result<Self> {
        spec.validate()?;
        let layout = SlotLayout::new(shape, spec.granularity)?;
        let shape: Vec<usize> = if shape.is_empty() { vec![1] } else { shape.to_vec() };
        let slot_spec = QuantSpec { granularity: Granularity::PerTensor, ..*spec };
        // Fails here, not mid-read, for a spec the calibrator cannot take.
        Calibrator::new(&slot_spec, std::slice::from_ref(method), cfg)?;
        let len = layout.len();
        let (slot_len, contiguous) = match spec.granularity {
            Granularity::PerTensor => (len, len <= BUFFERED_SLOT),
            Granularity::PerChannel { axis } => {
                let outer: usize = shape[..axis].iter().product();
                let inner: usize = shape[axis + 1..].iter().product();
                (outer * inner, outer == 1 && inner <= BUFFERED_SLOT)
            }
            Granularity::PerGroup { size } => (size, size <= BUFFERED_SLOT),
        };
        // Only channels along a later axis interleave; other slots come one after another, so at most
        // two are live at a chunk edge and one read holds them all.
        let interleaved = matches!(spec.granularity, Granularity::PerChannel { axis } if shape[..axis].iter().product::<usize>() > 1);
        // A histogram's counts (u64) and edges (f32), and the rest of its calibrator.
        let hist_bytes = method.histogram(spec.format.scheme).map_or(0, |_| cfg.bins.max(2) * 12 + 256);
        let window = if interleaved && hist_bytes > 0 { (LIVE_HISTOGRAM_BYTES / hist_bytes).max(1) } else { layout.slots.max(1) };
        let slots = layout.slots;
        Ok(SlotCalibration {
            slot_spec,
            method: *method,
            cfg,
            slot_len,
            contiguous,
            interleaved,
            window,
            pass: None,
            fed: 0,
            extremes: Vec::new(),
            live: BTreeMap::new(),
            pending: Vec::new(),
            ranges: SlotRanges { lo: vec![f32::NAN; slots], hi: vec![f32::NAN; slots], nonfinite: 0 },
            done: vec![false; slots],
            finished: false,
            layout,
        })
    }

    /// At most `slots` interleaved slots per histogram read (default: LIVE_HISTOGRAM_BYTES of them),
    /// so that tests can cut a small tensor's channels into several windows.
    pub fn with_histogram_window(mut self, slots: usize) -> Self {
        if self.interleaved && self.method.histogram(self.slot_spec.format.scheme).is_some() {
            self.window = slots.max(1);
        }
        self
    }

    /// Histogram reads of interleaved slots (one when the slots come one after another).
    pub fn histogram_reads(&self) -> usize {
        if self.contiguous || self.window >= self.layout.slots { 1 } else { self.layout.slots.div_ceil(self.window) }
    }

    /// Elements of the tensor.
    pub fn elements(&self) -> usize {
        self.layout.len()
    }

    /// Slots calibrated.
    pub fn slots(&self) -> usize {
        self.layout.slots
    }

    /// Ends the read under way (checking that it saw the whole tensor) and names the next, if any.
    pub fn next_pass(&mut self) -> Result<Option<SlotPass>> {
        if self.finished {
            return Ok(None);
        }
        if self.pass.is_some() && self.fed != self.layout.len() {
            return Err(Error::InvalidSpec(format!("{} values given for a tensor of {} elements", self.fed, self.layout.len())));
        }
        self.fed = 0;
        let reads_histogram = self.method.histogram(self.slot_spec.format.scheme).is_some();
        self.pass = match self.pass {
            None if self.contiguous => Some(SlotPass::Histogram(0)),
            None => {
                self.extremes = vec![SlotExtremes::default(); self.layout.slots];
                Some(SlotPass::Range)
            }
            Some(SlotPass::Range) if !reads_histogram => {
                for slot in 0..self.layout.slots {
                    let c = self.opened(slot)?;
                    self.complete(slot, &c)?;
                }
                None
            }
            Some(SlotPass::Range) => Some(SlotPass::Histogram(0)),
            Some(SlotPass::Histogram(k)) => {
                if !self.contiguous && !self.live.is_empty() {
                    return Err(Error::InvalidSpec("a histogram read ended with slots short of values".into()));
                }
                let next = k + 1;
                (!self.contiguous && next * self.window < self.layout.slots).then_some(SlotPass::Histogram(next))
            }
        };
        if self.pass.is_none() {
            self.finish_empty_slots()?;
            self.finished = true;
        }
        Ok(self.pass)
    }

    /// The calibrator of a slot of the two-read path, its layout fixed from the range read.
    fn opened(&self, slot: usize) -> Result<Calibrator> {
        let e = self.extremes[slot];
        let mut c = Calibrator::new(&self.slot_spec, std::slice::from_ref(&self.method), self.cfg)?;
        let finite = self.slot_len - e.nonfinite.min(self.slot_len);
        c.preset_one_batch(e.lo, e.hi, e.min_abs, e.max_abs, finite);
        c.begin_batch(self.slot_len, e.lo, e.hi, e.nonfinite);
        Ok(c)
    }

    /// A slot's range, from its calibrator after its last value.
    fn complete(&mut self, slot: usize, c: &Calibrator) -> Result<()> {
        let r = c.result(&self.method)?;
        self.ranges.lo[slot] = r.range[0];
        self.ranges.hi[slot] = r.range[1];
        self.ranges.nonfinite += c.nonfinite as usize;
        self.done[slot] = true;
        Ok(())
    }

    /// Slots that hold no values (an empty tensor) get what `add_batch` of nothing gives.
    fn finish_empty_slots(&mut self) -> Result<()> {
        for slot in 0..self.layout.slots {
            if !self.done[slot] {
                if self.slot_len != 0 && self.layout.len() != 0 {
                    return Err(Error::InvalidSpec(format!("slot {slot} of the calibration got none of its values")));
                }
                let mut c = Calibrator::new(&self.slot_spec, std::slice::from_ref(&self.method), self.cfg)?;
                c.add_batch(&[]);
                self.complete(slot, &c)?;
            }
        }
        Ok(())
    }

    /// The next chunk of the read `pass` (the one `next_pass` named), in memory order.
    pub fn feed(&mut self, pass: SlotPass, x: &[f32]) -> Result<()> {
        if self.pass != Some(pass) {
            return Err(Error::InvalidSpec(format!("a chunk for the {pass:?} read came during the {:?} read", self.pass)));
        }
        if x.len() > self.layout.len() - self.fed {
            return Err(Error::InvalidSpec(format!(
                "a chunk of {} values at element {} runs past the tensor's {} elements",
                x.len(),
                self.fed,
                self.layout.len()
            )));
        }
        let offset = self.fed;
        self.fed += x.len();
        let mut failed = None;
        match pass {
            SlotPass::Range => {
                let extremes = &mut self.extremes;
                self.layout.for_each_segment(offset, x.len(), |s| {
                    let part = &x[s.start..s.start + s.len];
                    let (lo, hi, bad) = kernels::min_max_finite(part);
                    let e = &mut extremes[s.slot];
                    // One batch: the extremes fold without averaging (as WeightCalibration's range read).
                    e.lo = e.lo.min(lo);
                    e.hi = e.hi.max(hi);
                    (e.min_abs, e.max_abs) =
                        part.iter().filter(|v| v.is_finite()).map(|v| v.abs()).fold((e.min_abs, e.max_abs), |(a, b), v| (a.min(v), b.max(v)));
                    e.nonfinite += bad;
                });
            }
            SlotPass::Histogram(_) if self.contiguous => {
                let mut segments = Vec::new();
                self.layout.for_each_segment(offset, x.len(), |s| segments.push(s));
                for s in segments {
                    let part = &x[s.start..s.start + s.len];
                    if self.pending.is_empty() && s.ends_run {
                        // The whole slot is in this chunk (a slot is one run here).
                        self.calibrate_whole(s.slot, part)?;
                    } else {
                        self.pending.extend_from_slice(part);
                        if s.ends_run {
                            let values = std::mem::take(&mut self.pending);
                            self.calibrate_whole(s.slot, &values)?;
                            self.pending = values;
                            self.pending.clear();
                        }
                    }
                }
            }
            SlotPass::Histogram(k) => {
                let window = k * self.window..((k + 1) * self.window).min(self.layout.slots);
                let mut segments = Vec::new();
                self.layout.for_each_segment(offset, x.len(), |s| {
                    if window.contains(&s.slot) {
                        segments.push(s)
                    }
                });
                for s in segments {
                    if !self.live.contains_key(&s.slot) {
                        let c = self.opened(s.slot)?;
                        self.live.insert(s.slot, LiveSlot { calibrator: c, seen: 0 });
                    }
                    let live = self.live.get_mut(&s.slot).expect("inserted above");
                    live.calibrator.add_batch_part(&x[s.start..s.start + s.len]);
                    live.seen += s.len;
                    if live.seen == self.slot_len {
                        let live = self.live.remove(&s.slot).expect("present");
                        if let Err(e) = self.complete(s.slot, &live.calibrator) {
                            failed = Some(e);
                        }
                    }
                }
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// One slot's values, all of them: `add_batch` on a fresh calibrator, as `calibrate_slots` does.
    fn calibrate_whole(&mut self, slot: usize, values: &[f32]) -> Result<()> {
        let mut c = Calibrator::new(&self.slot_spec, std::slice::from_ref(&self.method), self.cfg)?;
        c.add_batch(values);
        self.complete(slot, &c)
    }

    /// The ranges, once `next_pass` has said no read is left.
    pub fn finish(self) -> Result<SlotRanges> {
        if !self.finished {
            return Err(Error::InvalidSpec("the per-slot calibration was finished before its reads ended".into()));
        }
        Ok(self.ranges)
    }
}

/// `calibrate_slots` over `x` fed in chunks of `chunk` elements (the whole tensor: one chunk).
pub fn calibrate_slots_chunked(x: &[f32], shape: &[usize], spec: &QuantSpec, method: &Method, cfg: CalibConfig, chunk: usize) -> Result<SlotRanges> {
    let mut stream = SlotCalibration::new(shape, spec, method, cfg)?;
    if x.len() != stream.elements() {
        return Err(Error::InvalidSpec(format!("{} values given for shape {shape:?} ({} elements)", x.len(), stream.elements())));
    }
    while let Some(pass) = stream.next_pass()? {
        for c in x.chunks(chunk.max(1)) {
            stream.feed(pass, c)?;
        }
    }
    stream.finish()
}
