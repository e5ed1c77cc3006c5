//! The per-tensor passes fed in chunks: a tensor arrives as consecutive pieces of its elements in
//! memory order (a whole tensor is one piece), and every pass gives the same numbers for any cut.
//! The error sums keep the block grid of the kernels (LANE_BLOCK elements from the start of each
//! run, each block folded and added in f64, in order), carrying a block cut by a chunk edge over to
//! the next chunk; ranges and counts are folds that do not care where the cuts fall.

use super::{params_from_range, QuantParams, QuantSpec, Scheme, SlotLayout, SlotRanges};
use crate::error::{Error, Result};
use crate::kernels::{self, Codes, ErrorSums, LANE_BLOCK};

/// Error sums over runs fed in pieces: the same as `kernels::error_sums_f32` over each whole run,
/// the runs' sums merged in order.
#[derive(Debug, Clone, Default)]
pub struct BlockSums {
    total: ErrorSums,
    run: ErrorSums,
    carry_x: Vec<f32>,
    carry_y: Vec<f32>,
}

impl BlockSums {
    /// Adds the next elements of the current run: x and its reconstruction y.
    pub fn add(&mut self, mut x: &[f32], mut y: &[f32]) {
        debug_assert_eq!(x.len(), y.len());
        if !self.carry_x.is_empty() {
            let take = (LANE_BLOCK - self.carry_x.len()).min(x.len());
            self.carry_x.extend_from_slice(&x[..take]);
            self.carry_y.extend_from_slice(&y[..take]);
            (x, y) = (&x[take..], &y[take..]);
            if self.carry_x.len() < LANE_BLOCK {
                return;
            }
            let block = kernels::error_sums_f32(&self.carry_x, &self.carry_y);
            add_block(&mut self.run, &block);
            self.carry_x.clear();
            self.carry_y.clear();
        }
        let body = x.len() / LANE_BLOCK * LANE_BLOCK;
        for (xb, yb) in x[..body].chunks_exact(LANE_BLOCK).zip(y[..body].chunks_exact(LANE_BLOCK)) {
            add_block(&mut self.run, &kernels::error_sums_f32(xb, yb));
        }
        self.carry_x.extend_from_slice(&x[body..]);
        self.carry_y.extend_from_slice(&y[body..]);
    }

    /// Completes a block carried over from the last chunk with the front of `x` (x̂ made one element
    /// at a time by `y_of`), adding it onto the run once whole; returns what `y_of` flagged and the
    /// rest of `x` (empty while the carried block is still short).
    fn fill_carry<'a>(&mut self, x: &'a [f32], y_of: &impl Fn(f32) -> (f32, bool)) -> (usize, &'a [f32]) {
        if self.carry_x.is_empty() {
            return (0, x);
        }
        let take = (LANE_BLOCK - self.carry_x.len()).min(x.len());
        let mut flagged = 0;
        for &v in &x[..take] {
            let (y, f) = y_of(v);
            self.carry_x.push(v);
            self.carry_y.push(y);
            flagged += f as usize;
        }
        if self.carry_x.len() == LANE_BLOCK {
            let block = kernels::error_sums_f32(&self.carry_x, &self.carry_y);
            add_block(&mut self.run, &block);
            self.carry_x.clear();
            self.carry_y.clear();
        }
        (flagged, &x[take..])
    }

    /// Adds the next elements of the current run measured in one read: `blocks` folds blocks onto
    /// the run (a fused kernel: whole blocks here), `y_of` makes x̂ one element at a time for the
    /// block a chunk edge cuts. Both flag elements (clipped ones); returns how many were flagged.
    pub fn add_measured(
        &mut self,
        x: &[f32],
        y_of: impl Fn(f32) -> (f32, bool),
        blocks: impl Fn(&mut ErrorSums, &[f32]) -> usize,
    ) -> usize {
        let (mut flagged, x) = self.fill_carry(x, &y_of);
        if !self.carry_x.is_empty() {
            return flagged;
        }
        let body = x.len() / LANE_BLOCK * LANE_BLOCK;
        flagged += blocks(&mut self.run, &x[..body]);
        for &v in &x[body..] {
            let (y, f) = y_of(v);
            self.carry_x.push(v);
            self.carry_y.push(y);
            flagged += f as usize;
        }
        flagged
    }

    /// `add_measured` of the last elements of the run, then `end_run`: `blocks` also takes the run's
    /// short last block.
    pub fn add_measured_and_end_run(
        &mut self,
        x: &[f32],
        y_of: impl Fn(f32) -> (f32, bool),
        blocks: impl Fn(&mut ErrorSums, &[f32]) -> usize,
    ) -> usize {
        let (mut flagged, x) = self.fill_carry(x, &y_of);
        if self.carry_x.is_empty() {
            flagged += blocks(&mut self.run, x);
        }
        self.end_run();
        flagged
    }

    /// Adds whole runs at once (a kernel onto the total: `kernels::quantize_error_runs`), between
    /// runs: no run is open and nothing is carried. Returns what `runs` flagged.
    pub fn add_whole_runs(&mut self, runs: impl FnOnce(&mut ErrorSums) -> usize) -> usize {
        debug_assert!(self.carry_x.is_empty() && self.run == ErrorSums::default(), "whole runs added inside a run");
        runs(&mut self.total)
    }

    /// Closes the current run: its last short block is summed in lanes, as the kernels do.
    pub fn end_run(&mut self) {
        if !self.carry_x.is_empty() {
            self.run.merge(&kernels::error_sums_f32(&self.carry_x, &self.carry_y));
            self.carry_x.clear();
            self.carry_y.clear();
        }
        self.total.merge(&std::mem::take(&mut self.run));
    }

    /// The sums of every run closed so far.
    pub fn sums(&self) -> ErrorSums {
        self.total
    }
}

/// A whole block's sums (from zero) added onto the run, as the kernels' block loop adds them.
fn add_block(run: &mut ErrorSums, block: &ErrorSums) {
    run.sum_xx += block.sum_xx;
    run.sum_yy += block.sum_yy;
    run.sum_xy += block.sum_xy;
    run.sum_ee += block.sum_ee;
    if run.max_abs_err < block.max_abs_err {
        run.max_abs_err = block.max_abs_err;
    }
}

/// A run of elements cut by a chunk: where it starts in the chunk, its length, its slot, and
/// whether the run ends inside this chunk.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    pub start: usize,
    pub len: usize,
    pub slot: usize,
    pub ends_run: bool,
}

impl SlotLayout {
    /// Elements in the tensor.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The run holding element `i`: (its first element, its length, its slot).
    fn run_at(&self, i: usize) -> (usize, usize, usize) {
        match self.granularity {
            super::Granularity::PerTensor => (0, self.len, 0),
            super::Granularity::PerChannel { .. } => {
                let r = i / self.inner;
                (r * self.inner, self.inner, r % self.channels)
            }
            super::Granularity::PerGroup { size } => {
                let (row, at) = (i / self.inner, i % self.inner);
                let g = at / size;
                (row * self.inner + g * size, size.min(self.inner - g * size), row * self.channels + g)
            }
        }
    }

    /// Calls `f` for the pieces of runs that elements `offset..offset + len` hold, in memory order;
    /// with `offset` 0 and the whole length, these are the runs of `for_each_run`. Only the first run
    /// is found by division; each next one follows from the last (a chunk holds many small groups).
    pub fn for_each_segment(&self, offset: usize, len: usize, mut f: impl FnMut(Segment)) {
        let end = (offset + len).min(self.len);
        if offset >= end {
            return;
        }
        let (mut run_start, mut run_len, mut slot) = self.run_at(offset);
        // Per group: where the run starts in its row.
        let mut in_row = if self.inner == 0 { 0 } else { run_start % self.inner };
        let mut i = offset;
        loop {
            let run_end = run_start + run_len;
            let stop = run_end.min(end);
            f(Segment { start: i - offset, len: stop - i, slot, ends_run: stop == run_end });
            if stop == end {
                return;
            }
            i = stop;
            run_start = run_end;
            match self.granularity {
                super::Granularity::PerTensor => unreachable!("one run holds the whole tensor"),
                super::Granularity::PerChannel { .. } => slot = if slot + 1 == self.channels { 0 } else { slot + 1 },
                super::Granularity::PerGroup { size } => {
                    // The next group of this row, or the first of the next row; slots count on.
                    in_row += run_len;
                    if in_row == self.inner {
                        in_row = 0;
                    }
                    run_len = size.min(self.inner - in_row);
                    slot += 1;
                }
            }
        }
    }
}

/// Where a pass stands in the tensor, and the check that chunks do not run past its end.
#[derive(Debug, Clone)]
struct Cursor {
    at: usize,
    len: usize,
}

impl Cursor {
    fn advance(&mut self, n: usize) -> Result<usize> {
        if n > self.len - self.at {
            return Err(Error::InvalidSpec(format!(
                "a chunk of {n} values at element {} runs past the tensor's {} elements",
                self.at, self.len
            )));
        }
        let at = self.at;
        self.at += n;
        Ok(at)
    }

    fn check_done(&self) -> Result<()> {
        if self.at != self.len {
            return Err(Error::InvalidSpec(format!("{} values given for a tensor of {} elements", self.at, self.len)));
        }
        Ok(())
    }
}

/// Min-max ranges per slot, fed in chunks (the first pass of every scaled format).
#[derive(Debug, Clone)]
pub struct RangePass {
    layout: SlotLayout,
    cursor: Cursor,
    ranges: SlotRanges,
}

impl RangePass {
    pub fn new(layout: SlotLayout) -> Self {
        let slots = layout.slots;
        RangePass {
            cursor: Cursor { at: 0, len: layout.len },
            layout,
            ranges: SlotRanges { lo: vec![f32::INFINITY; slots], hi: vec![f32::NEG_INFINITY; slots], nonfinite: 0 },
        }
    }

    pub fn feed(&mut self, x: &[f32]) -> Result<()> {
        let offset = self.cursor.advance(x.len())?;
        let r = &mut self.ranges;
        self.layout.for_each_segment(offset, x.len(), |s| {
            let (lo, hi, bad) = kernels::min_max_finite(&x[s.start..s.start + s.len]);
            r.lo[s.slot] = r.lo[s.slot].min(lo);
            r.hi[s.slot] = r.hi[s.slot].max(hi);
            r.nonfinite += bad;
        });
        Ok(())
    }

    pub fn finish(self) -> Result<SlotRanges> {
        self.cursor.check_done()?;
        Ok(self.ranges)
    }

    /// The ranges of what has been fed so far.
    pub fn ranges(self) -> SlotRanges {
        self.ranges
    }
}

/// What a scaled pass has measured: the error sums, the clipped and non-finite counts.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaledOutcome {
    pub params: Vec<QuantParams>,
    pub error: ErrorSums,
    pub clipped: usize,
    pub nonfinite: usize,
}

/// What a scaled pass keeps of a chunk besides its measurements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    Nothing,
    Codes,
    Reconstruction,
}

/// Quantizes chunks with fixed per-slot parameters, measures the error against the dequantized
/// codes, and hands each chunk's codes to the caller (who may keep or drop them).
#[derive(Debug, Clone)]
pub struct ScaledPass {
    layout: SlotLayout,
    cursor: Cursor,
    params: Vec<QuantParams>,
    qmin: i32,
    qmax: i32,
    codes: Codes,
    back: Vec<f32>,
    sums: BlockSums,
    clipped: usize,
    nonfinite: usize,
}

impl ScaledPass {
    /// The pass for `spec` with the calibrated `ranges` of its slots.
    pub fn new(spec: &QuantSpec, layout: SlotLayout, ranges: &SlotRanges) -> Result<Self> {
        spec.validate()?;
        if ranges.lo.len() != layout.slots || ranges.hi.len() != layout.slots {
            return Err(Error::InvalidSpec(format!("{} ranges given for {} slots", ranges.lo.len(), layout.slots)));
        }
        let params = ranges.lo.iter().zip(&ranges.hi).map(|(&lo, &hi)| params_from_range(spec, lo, hi)).collect();
        let (qmin, qmax) = spec.code_range();
        let codes = match spec.format.scheme {
            Scheme::Symmetric => Codes::I8(Vec::new()),
            Scheme::Asymmetric => Codes::U8(Vec::new()),
        };
        Ok(ScaledPass {
            cursor: Cursor { at: 0, len: layout.len },
            layout,
            params,
            qmin,
            qmax,
            codes,
            back: Vec::new(),
            sums: BlockSums::default(),
            clipped: 0,
            nonfinite: 0,
        })
    }

    /// Measures the next chunk in one read, keeping neither codes nor x̂.
    pub fn feed(&mut self, x: &[f32]) -> Result<()> {
        self.feed_as(x, kernels::count_nonfinite(x), Keep::Nothing)
    }

    /// `feed` of a chunk whose count of NaN and ±Inf is known (its decoder counted them).
    pub fn feed_counted(&mut self, x: &[f32], nonfinite: usize) -> Result<()> {
        self.feed_as(x, nonfinite, Keep::Nothing)
    }

    /// Measures the next chunk and returns its codes (valid until the next call).
    pub fn feed_codes(&mut self, x: &[f32]) -> Result<&Codes> {
        self.feed_as(x, kernels::count_nonfinite(x), Keep::Codes)?;
        Ok(&self.codes)
    }

    /// Measures the next chunk and returns its dequantized values (valid until the next call).
    pub fn feed_reconstruction(&mut self, x: &[f32]) -> Result<&[f32]> {
        self.feed_as(x, kernels::count_nonfinite(x), Keep::Reconstruction)?;
        Ok(&self.back)
    }

    fn feed_as(&mut self, x: &[f32], nonfinite: usize, keep: Keep) -> Result<()> {
        let offset = self.cursor.advance(x.len())?;
        match keep {
            Keep::Nothing => {}
            Keep::Codes => match &mut self.codes {
                Codes::I8(q) => q.resize(x.len(), 0),
                Codes::U8(q) => q.resize(x.len(), 0),
            },
            Keep::Reconstruction => self.back.resize(x.len(), 0.0),
        }
        let (params, qmin, qmax) = (&self.params, self.qmin, self.qmax);
        let (codes, back, sums, clipped) = (&mut self.codes, &mut self.back, &mut self.sums, &mut self.clipped);
        let all_finite = nonfinite == 0;
        // Whole short runs (the groups inside a chunk: every segment after the first that ends its
        // run) wait in `batch` (first element, run length, first slot, runs) and are measured
        // together by one kernel call; the others one segment at a time.
        let mut batch: Option<(usize, usize, usize, usize)> = None;
        let flush = |batch: &mut Option<(usize, usize, usize, usize)>, sums: &mut BlockSums, clipped: &mut usize| {
            if let Some((start, len, slot, runs)) = batch.take() {
                *clipped += sums.add_whole_runs(|total| {
                    let params_of = |j: usize| {
                        let p = params[slot + j];
                        (p.scale, (qmin - p.zero_point) as f32, (qmax - p.zero_point) as f32)
                    };
                    kernels::quantize_error_runs(total, &x[start..start + len * runs], len, params_of, all_finite)
                });
            }
        };
        let mut first = true;
        self.layout.for_each_segment(offset, x.len(), |s| {
            let whole = !first && s.ends_run;
            first = false;
            if keep == Keep::Nothing && whole && s.len <= LANE_BLOCK {
                match &mut batch {
                    Some((start, len, slot, runs)) if *len == s.len && *slot + *runs == s.slot && *start + *len * *runs == s.start => *runs += 1,
                    _ => {
                        flush(&mut batch, sums, clipped);
                        batch = Some((s.start, s.len, s.slot, 1));
                    }
                }
                return;
            }
            flush(&mut batch, sums, clipped);
            let p = params[s.slot];
            let r = s.start..s.start + s.len;
            let xs = &x[r.clone()];
            let (lo, hi) = ((qmin - p.zero_point) as f32, (qmax - p.zero_point) as f32);
            let y_of = |v| kernels::scalar::quantize_round_trip(v, p.scale, lo, hi);
            let blocks = |run: &mut ErrorSums, xb: &[f32]| kernels::quantize_error_blocks(run, xb, p.scale, lo, hi, all_finite);
            *clipped += if s.ends_run {
                sums.add_measured_and_end_run(xs, y_of, blocks)
            } else {
                sums.add_measured(xs, y_of, blocks)
            };
            match keep {
                Keep::Nothing => {}
                Keep::Codes => match codes {
                    Codes::I8(q) => {
                        kernels::quantize(xs, p.scale, p.zero_point, qmin, qmax, &mut q[r]);
                    }
                    Codes::U8(q) => {
                        kernels::quantize(xs, p.scale, p.zero_point, qmin, qmax, &mut q[r]);
                    }
                },
                Keep::Reconstruction => {
                    for (y, &v) in back[r].iter_mut().zip(xs) {
                        *y = kernels::scalar::quantize_round_trip(v, p.scale, lo, hi).0;
                    }
                }
            }
        });
        flush(&mut batch, sums, clipped);
        self.nonfinite += nonfinite;
        Ok(())
    }

    pub fn finish(self) -> Result<ScaledOutcome> {
        self.cursor.check_done()?;
        Ok(ScaledOutcome { params: self.params, error: self.sums.sums(), clipped: self.clipped, nonfinite: self.nonfinite })
    }
}

/// Cuts `x` into chunks of `rows` rows of `row_len` elements (the last chunk may be shorter): the
/// in-memory tensor fed as a stream, for tests and callers that want bounded scratch.
pub fn row_chunks(x: &[f32], row_len: usize, rows: usize) -> impl Iterator<Item = &[f32]> {
    let step = (row_len.max(1) * rows.max(1)).max(1);
    x.chunks(step)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::Granularity;

    #[test]
    fn segments_cut_runs_at_chunk_edges() {
        let layout = SlotLayout::new(&[2, 5], Granularity::PerGroup { size: 2 }).unwrap();
        let mut segs = vec![];
        layout.for_each_segment(3, 4, |s| segs.push((s.start, s.len, s.slot, s.ends_run)));
        // Elements 3..7: the rest of group (2,4) of row 0 → slot 1, then 4 (slot 2), then row 1's 5..7 (slot 3).
        assert_eq!(segs, vec![(0, 1, 1, true), (1, 1, 2, true), (2, 2, 3, true)]);
        let mut segs = vec![];
        layout.for_each_segment(0, 10, |s| segs.push((s.start, s.len, s.slot)));
        let mut runs = vec![];
        layout.for_each_run(|s, l, slot| runs.push((s, l, slot)));
        assert_eq!(segs, runs);
    }

    #[test]
    fn block_sums_do_not_depend_on_the_cut() {
        let x: Vec<f32> = (0..1000).map(|i| ((i * 7919) % 1013) as f32 * 0.01 - 5.0).collect();
        let y: Vec<f32> = x.iter().map(|v| (v * 8.0).round() / 8.0).collect();
        let whole = kernels::error_sums_f32(&x, &y);
        for cut in [1, 3, 63, 64, 65, 130, 999] {
            let mut s = BlockSums::default();
            for (xc, yc) in x.chunks(cut).zip(y.chunks(cut)) {
                s.add(xc, yc);
            }
            s.end_run();
            assert_eq!(s.sums(), whole, "chunks of {cut}");
        }
    }
}
