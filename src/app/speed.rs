//! How the page times the module: the speed panel's policy (warm-up calls, calls per run, runs per
//! kernel, the median) and the comparison's per-call timing, both for a clock that ticks in 0.1 ms steps
//! (a worker without cross-origin isolation). The clock and the calls are the caller's: the wasm layer
//! hands in `performance.now()` and the kernels, the tests a counted clock. The numbers live here only.

use super::explore::OutputError;
use crate::error::{Error, Result};
use crate::kernels::gemm::{gemm_f32, PackedF32, PackedI4, PackedI8};
use crate::kernels::lut4::{matmul_lut4, PackedLut4};
use crate::quant::dynamic::{dynamic_quantized_matmul, dynamic_quantized_matmul_i4, ActGranularity};
use crate::quant::format::BlockFormat;
use crate::quant::{ScaleDType, Scheme};
use serde::Serialize;

/// The kernels the speed panel times, in its table's order (the first is the reference): FP32, INT8
/// (dynamic: u8 x per row × int8 W per channel), INT4 (int8 x per row × int4 W per group of 32), and
/// the dequantize-on-the-fly GEMVs of MXFP4 and NF4 (f32 x × W as codes + scales, one GEMV per row of x).
pub const SPEED_KERNELS: [&str; 5] = ["fp32", "int8", "int4", "mxfp4", "nf4"];

/// W [n, k] packed once for every kernel of SPEED_KERNELS.
pub struct SpeedKernels {
    pub n: usize,
    pub k: usize,
    f32_weights: PackedF32,
    int8_weights: PackedI8,
    int4_weights: PackedI4,
    mxfp4_weights: PackedLut4,
    nf4_weights: PackedLut4,
}

impl SpeedKernels {
    pub fn new(w: &[f32], n: usize, k: usize) -> Result<SpeedKernels> {
        Ok(SpeedKernels {
            n,
            k,
            f32_weights: PackedF32::pack(w, n, k)?,
            int8_weights: PackedI8::quantize(w, n, k)?,
            int4_weights: PackedI4::quantize(w, n, k, 32, Scheme::Symmetric, ScaleDType::F32)?,
            mxfp4_weights: PackedLut4::quantize(BlockFormat::Mxfp4, w, n, k)?,
            nf4_weights: PackedLut4::quantize(BlockFormat::Nf4, w, n, k)?,
        })
    }

    /// Y [m, n] = X [m, k] · Wᵀ by kernel `kernel` (an index into SPEED_KERNELS).
    pub fn call(&self, kernel: usize, x: &[f32], m: usize) -> Result<Vec<f32>> {
        match kernel {
            0 => {
                let mut y = vec![0.0f32; m * self.n];
                gemm_f32(x, m, &self.f32_weights, None, &mut y)?;
                Ok(y)
            }
            1 => dynamic_quantized_matmul(x, m, &self.int8_weights, ActGranularity::PerRow, None),
            2 => dynamic_quantized_matmul_i4(x, m, &self.int4_weights, None),
            3 => matmul_lut4(&self.mxfp4_weights, x, m),
            4 => matmul_lut4(&self.nf4_weights, x, m),
            _ => Err(Error::InvalidSpec(format!("speed kernel {kernel}: there are {}", SPEED_KERNELS.len()))),
        }
    }
}

/// FNV-1a (64-bit) of y's f32 values as little-endian bytes, 16 hex digits: two runs of the kernels
/// (the page's SIMD build, the CLI's scalar twins) gave the same y bit for bit when these are equal.
pub fn output_checksum(y: &[f32]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in y.iter().flat_map(|v| v.to_le_bytes()) {
        h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// One kernel's output on the speed panel's inputs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KernelOutput {
    pub kernel: String,
    pub checksum: String,
    /// y[0, 0..min(n, 4)], to read beside the checksum.
    pub head: Vec<f32>,
}

/// What the speed panel computes before timing, without timing: every kernel's y for W [n, k] and
/// x [m, k] ~ N(0, 1) from `seed` (app::explore::gaussian_activations, the page's x).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpeedOutputs {
    pub tensor: String,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub seed: u64,
    pub build: &'static str,
    pub kernels: Vec<KernelOutput>,
}

pub fn speed_outputs(tensor: &str, w: &[f32], n: usize, k: usize, m: usize, seed: u64) -> Result<SpeedOutputs> {
    let kernels = SpeedKernels::new(w, n, k)?;
    let x = super::explore::gaussian_activations(m, k, seed);
    let rows = SPEED_KERNELS
        .iter()
        .enumerate()
        .map(|(i, &name)| {
            let y = kernels.call(i, &x, m)?;
            Ok(KernelOutput { kernel: name.to_string(), checksum: output_checksum(&y), head: y[..n.min(4)].to_vec() })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(SpeedOutputs { tensor: tensor.to_string(), m, n, k, seed, build: crate::kernels::build_name(), kernels: rows })
}

/// Section 7 of the walk-through on `tensor` (say `fc2.weight`) of a stack of Linear layers in
/// safetensors bytes: the outputs `lesson hardware` prints and the page's checksums must equal.
pub fn speed_outputs_of_model(file: &str, bytes: &[u8], tensor: &str, m: usize, seed: u64) -> Result<SpeedOutputs> {
    let mlp = super::example::Mlp::from_safetensors_bytes(file, bytes)?;
    let names: Vec<String> = mlp.layers.iter().map(|l| format!("{}.weight", l.name)).collect();
    let l = mlp
        .layers
        .iter()
        .find(|l| format!("{}.weight", l.name) == tensor)
        .ok_or_else(|| Error::InvalidSpec(format!("{file}: no tensor '{tensor}' (the layers' weights are {})", names.join(", "))))?;
    speed_outputs(tensor, &l.weight, l.out_features, l.in_features, m, seed)
}

/// The speed panel's timing policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeedPolicy {
    /// Timed runs per kernel; the median of them is the time (at least 9 keeps one stall out of it).
    pub samples: usize,
    /// Calls before timing: unoptimised code, first-touch memory growth.
    pub warmup_calls: usize,
    /// Warm-up stops early after this long (a large tensor's calls are slow enough already).
    pub warmup_budget_ms: f64,
    /// The least one timed run lasts: many ticks of the clock, so its rounding does not show.
    pub run_ms: f64,
    /// The most calls one run makes (a tiny tensor on a fast kernel).
    pub max_calls: usize,
}

impl SpeedPolicy {
    pub const PAGE: SpeedPolicy = SpeedPolicy { samples: 11, warmup_calls: 5, warmup_budget_ms: 20.0, run_ms: 5.0, max_calls: 4096 };

    /// Warms `call` up, then counts how many calls make one run last `run_ms`: the calls per run.
    pub fn warm_up(&self, clock: &dyn Fn() -> f64, call: &mut dyn FnMut()) -> usize {
        let started = clock();
        for _ in 0..self.warmup_calls {
            if clock() - started >= self.warmup_budget_ms {
                break;
            }
            call();
        }
        let started = clock();
        let mut calls = 0usize;
        let mut elapsed;
        loop {
            call();
            calls += 1;
            elapsed = clock() - started;
            if elapsed >= self.run_ms || calls >= self.max_calls {
                break;
            }
        }
        let per_call = elapsed / calls as f64;
        if per_call > 0.0 {
            ((self.run_ms / per_call).ceil() as usize).clamp(1, self.max_calls)
        } else {
            self.max_calls // a clock that did not move: as many calls as a run may make
        }
    }

    /// One timed run of `calls` calls: the time per call in ms.
    pub fn run(&self, clock: &dyn Fn() -> f64, calls: usize, call: &mut dyn FnMut()) -> f64 {
        let started = clock();
        for _ in 0..calls {
            call();
        }
        (clock() - started) / calls.max(1) as f64
    }
}

/// One kernel's timing: calls per run and the time per call of each run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KernelTiming {
    pub calls: usize,
    pub samples: Vec<f64>,
}

/// The speed panel's schedule over several kernels, one step at a time so that the caller can let the
/// page in between: first each kernel's warm-up, then `samples` rounds in which the kernels take turns
/// (a busy moment of the machine hits all of them alike).
#[derive(Debug, Clone)]
pub struct SpeedRun {
    pub policy: SpeedPolicy,
    pub timings: Vec<KernelTiming>,
}

impl SpeedRun {
    pub fn new(policy: SpeedPolicy, kernels: usize) -> SpeedRun {
        SpeedRun { policy, timings: vec![KernelTiming::default(); kernels] }
    }

    pub fn steps(&self) -> usize {
        self.timings.len() * (1 + self.policy.samples)
    }

    /// Runs step `i` of `steps()`; `call(kernel)` calls one kernel once.
    pub fn step(&mut self, i: usize, clock: &dyn Fn() -> f64, call: &mut dyn FnMut(usize)) -> Result<()> {
        let kernels = self.timings.len();
        if i >= self.steps() {
            return Err(Error::InvalidSpec(format!("speed run: step {i} of {}", self.steps())));
        }
        if i < kernels {
            self.timings[i].calls = self.policy.warm_up(clock, &mut || call(i));
        } else {
            let kernel = (i - kernels) % kernels;
            let calls = self.timings[kernel].calls;
            let per_call = self.policy.run(clock, calls, &mut || call(kernel));
            self.timings[kernel].samples.push(per_call);
        }
        Ok(())
    }
}

/// The middle value (the mean of the two middle ones for an even count); NaN for none.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[mid],
        _ => (sorted[mid - 1] + sorted[mid]) / 2.0,
    }
}

/// One row of the speed table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpeedRow {
    pub kernel: String,
    /// The output against the reference kernel's (null for the reference itself).
    pub error: Option<OutputError>,
    pub median_ms: f64,
    pub samples: Vec<f64>,
    pub calls: usize,
    /// 2·m·n·k operations a call / the median time.
    pub gops: f64,
    /// The reference kernel's median / this one's.
    pub speedup: f64,
    /// output_checksum of the output (the same as `lesson hardware` prints for the same inputs).
    pub checksum: String,
    /// The reference row only: its largest |y|, the scale the errors are read against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_abs_output: Option<f32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpeedReport {
    pub rows: Vec<SpeedRow>,
    pub m: usize,
    pub n: usize,
    pub k: usize,
}

/// The table of a finished run: `kernels` (name, output, timing), the first the reference.
pub fn speed_report(kernels: &[(&str, &[f32], &KernelTiming)], m: usize, n: usize, k: usize) -> Result<SpeedReport> {
    let Some(&(_, reference, reference_timing)) = kernels.first() else {
        return Err(Error::InvalidSpec("speed run: no kernel was timed".into()));
    };
    let reference_ms = median(&reference_timing.samples);
    let ops = 2.0 * (m * n * k) as f64;
    let mut rows = Vec::with_capacity(kernels.len());
    for (i, &(name, output, timing)) in kernels.iter().enumerate() {
        let median_ms = median(&timing.samples);
        rows.push(SpeedRow {
            kernel: name.to_string(),
            error: if i == 0 { None } else { Some(super::explore::output_error(reference, output)?) },
            median_ms,
            samples: timing.samples.clone(),
            calls: timing.calls,
            gops: ops / (median_ms * 1e6),
            speedup: reference_ms / median_ms,
            checksum: output_checksum(output),
            max_abs_output: (i == 0).then(|| reference.iter().fold(0.0f32, |a, v| a.max(v.abs()))),
        });
    }
    Ok(SpeedReport { rows, m, n, k })
}

/// How one call of the comparison is timed: below `repeat_below` elements the call is repeated in
/// batches, doubled until a batch lasts `min_batch_ms`, for `budget_ms` and at least `min_batches`
/// batches, and the fastest batch's mean per call counts; a larger tensor's one call is timed alone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallTiming {
    pub repeat_below: f64,
    pub min_batch_ms: f64,
    pub budget_ms: f64,
    pub min_batches: u32,
    pub max_batches: u32,
    pub max_calls: u32,
}

impl CallTiming {
    pub const PAGE: CallTiming =
        CallTiming { repeat_below: (1u32 << 20) as f64, min_batch_ms: 1.0, budget_ms: 10.0, min_batches: 3, max_batches: 20, max_calls: 1 << 16 };
}

/// The comparison's timing as a loop the caller executes: `next_calls(now)` says how many calls the next
/// batch makes (0: done), `record(calls, elapsed_ms)` what that batch took, `best_ms()` the time.
#[derive(Debug, Clone)]
pub struct CallTimer {
    policy: CallTiming,
    repeat: bool,
    recorded: bool,
    calls: u32,
    batches: u32,
    deadline: Option<f64>,
    best_ms: f64,
    last_mean_ms: f64,
}

impl CallTimer {
    /// A timer for one call on a tensor of `elements` values (infinity: time one call).
    pub fn new(policy: CallTiming, elements: f64) -> CallTimer {
        CallTimer {
            policy,
            repeat: elements < policy.repeat_below,
            recorded: false,
            calls: 1,
            batches: 0,
            deadline: None,
            best_ms: f64::INFINITY,
            last_mean_ms: f64::NAN,
        }
    }

    pub fn next_calls(&mut self, now_ms: f64) -> u32 {
        if !self.recorded {
            return 1; // the call whose result is kept
        }
        if !self.repeat {
            return 0;
        }
        let deadline = *self.deadline.get_or_insert(now_ms + self.policy.budget_ms);
        // A busy machine can stall one batch: take at least a few, and the fastest.
        let enough = now_ms > deadline && self.batches >= self.policy.min_batches;
        if enough || self.batches >= self.policy.max_batches || self.calls > self.policy.max_calls {
            return 0;
        }
        self.calls
    }

    pub fn record(&mut self, calls: u32, elapsed_ms: f64) {
        let mean = elapsed_ms / calls.max(1) as f64;
        self.last_mean_ms = mean;
        if !self.recorded {
            self.recorded = true;
            if !self.repeat {
                self.best_ms = elapsed_ms;
            }
        } else if elapsed_ms >= self.policy.min_batch_ms {
            self.best_ms = self.best_ms.min(mean);
            self.batches += 1;
        } else {
            self.calls = self.calls.saturating_mul(2);
        }
    }

    /// The time of one call in ms (the last batch's mean when no batch lasted long enough to count).
    pub fn best_ms(&self) -> f64 {
        if self.best_ms.is_finite() {
            self.best_ms
        } else {
            self.last_mean_ms
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// A clock that moves only when a fake kernel runs: each call costs its kernel's ms.
    struct Counted {
        now: Cell<f64>,
    }

    impl Counted {
        fn new() -> Counted {
            Counted { now: Cell::new(0.0) }
        }
        fn spend(&self, ms: f64) {
            self.now.set(self.now.get() + ms);
        }
    }

    #[test]
    fn output_checksum_is_fnv1a_64_of_the_le_bytes() {
        // Python: FNV-1a 64 over struct.pack('<ff', 1.0, -2.5).
        assert_eq!(output_checksum(&[]), "cbf29ce484222325");
        assert_eq!(output_checksum(&[1.0, -2.5]), "09e629ee2dfdb3f8");
        assert_ne!(output_checksum(&[0.0]), output_checksum(&[-0.0]));
    }

    #[test]
    fn speed_outputs_run_every_kernel_on_the_seeded_x() {
        let (n, k, m) = (9, 70, 3);
        let w: Vec<f32> = (0..n * k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 64.0).collect();
        let out = speed_outputs("w", &w, n, k, m, 7).unwrap();
        assert_eq!(out.kernels.iter().map(|r| r.kernel.as_str()).collect::<Vec<_>>(), SPEED_KERNELS);
        let kernels = SpeedKernels::new(&w, n, k).unwrap();
        let x = crate::app::explore::gaussian_activations(m, k, 7);
        for (i, row) in out.kernels.iter().enumerate() {
            let y = kernels.call(i, &x, m).unwrap();
            assert_eq!(row.checksum, output_checksum(&y));
            assert_eq!(row.head, y[..4]);
        }
        assert!(kernels.call(5, &x, m).is_err());
        assert!(kernels.call(3, &x[1..], m).is_err());
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[7.0]), 7.0);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn warm_up_finds_the_calls_that_fill_a_run() {
        let clock = Counted::new();
        let policy = SpeedPolicy::PAGE;
        let mut made = 0;
        let calls = policy.warm_up(&|| clock.now.get(), &mut || {
            made += 1;
            clock.spend(0.3)
        });
        // 5 warm-up calls, then 17 calls reach 5.1 ms ≥ 5 ms: 0.3 ms a call → ceil(5 / 0.3) = 17 per run.
        assert_eq!(made, 5 + 17);
        assert_eq!(calls, 17);
        // A slow kernel: warm-up stops at its 20 ms budget, and one call is a run.
        let mut slow = 0;
        assert_eq!(policy.warm_up(&|| clock.now.get(), &mut || { slow += 1; clock.spend(12.0) }), 1);
        assert_eq!(slow, 2 + 1);
    }

    #[test]
    fn a_clock_that_never_moves_still_ends() {
        let policy = SpeedPolicy::PAGE;
        let mut made = 0;
        let calls = policy.warm_up(&|| 0.0, &mut || made += 1);
        assert_eq!(calls, policy.max_calls);
        assert_eq!(made, policy.warmup_calls + policy.max_calls);
    }

    #[test]
    fn kernels_take_turns_and_the_report_reads_the_medians() {
        let clock = Counted::new();
        let cost = [0.5, 0.25, 0.125];
        let mut run = SpeedRun::new(SpeedPolicy::PAGE, 3);
        assert_eq!(run.steps(), 3 * 12);
        let mut order = Vec::new();
        for i in 0..run.steps() {
            run.step(i, &|| clock.now.get(), &mut |kernel| {
                order.push(kernel);
                clock.spend(cost[kernel])
            })
            .unwrap();
        }
        assert!(run.step(run.steps(), &|| 0.0, &mut |_| {}).is_err());
        // After the three warm-ups, each timed run is one kernel's calls, in turn 0, 1, 2, 0, 1, 2, …
        let warmups: usize = (0..3).map(|k| 5 + run.timings[k].calls).sum();
        let runs: Vec<usize> = order[warmups..].chunk_by(|a, b| a == b).map(|c| c[0]).collect();
        assert_eq!(runs, (0..11).flat_map(|_| 0..3).collect::<Vec<_>>());
        assert_eq!(run.timings.iter().map(|t| t.calls).collect::<Vec<_>>(), [10, 20, 40]);
        for (t, &c) in run.timings.iter().zip(&cost) {
            assert_eq!(t.samples, vec![c; 11]);
        }

        let y = [1.0f32, -2.0, 0.5, 4.0];
        let y8 = [1.0f32, -2.0, 0.5, 3.5];
        let (m, n, k) = (2, 2, 8);
        let kernels = [("fp32", &y[..], &run.timings[0]), ("int8", &y8[..], &run.timings[1]), ("int4", &y[..], &run.timings[2])];
        let report = speed_report(&kernels, m, n, k).unwrap();
        let rows = &report.rows;
        assert_eq!(rows[0].speedup, 1.0);
        assert_eq!((rows[1].speedup, rows[2].speedup), (2.0, 4.0));
        assert_eq!(rows[0].gops, 64.0 / (0.5 * 1e6));
        assert_eq!(rows[0].max_abs_output, Some(4.0));
        assert_eq!(rows[1].max_abs_output, None);
        assert!(rows[0].error.is_none());
        assert_eq!(rows[1].error.as_ref().unwrap().max_abs_err, 0.5);
        let json = serde_json::to_value(&report).unwrap();
        assert!(json["rows"][1].get("max_abs_output").is_none());
        assert_eq!(json["rows"][0]["max_abs_output"], 4.0);
    }

    #[test]
    fn call_timer_times_a_large_tensor_once() {
        let mut timer = CallTimer::new(CallTiming::PAGE, 4e6);
        assert_eq!(timer.next_calls(0.0), 1);
        timer.record(1, 12.5);
        assert_eq!(timer.next_calls(12.5), 0);
        assert_eq!(timer.best_ms(), 12.5);
        let mut once = CallTimer::new(CallTiming::PAGE, f64::INFINITY);
        once.next_calls(0.0);
        once.record(1, 3.0);
        assert_eq!((once.next_calls(3.0), once.best_ms()), (0, 3.0));
    }

    #[test]
    fn call_timer_batches_a_small_tensor_until_a_batch_counts() {
        // 0.01 ms a call: batches of 1, 2, …, 64 are too short; 128 calls last 1.28 ms ≥ 1 ms and count.
        let clock = Counted::new();
        let mut timer = CallTimer::new(CallTiming::PAGE, 1000.0);
        let mut sizes = Vec::new();
        loop {
            let calls = timer.next_calls(clock.now.get());
            if calls == 0 {
                break;
            }
            sizes.push(calls);
            let started = clock.now.get();
            clock.spend(0.01 * calls as f64);
            timer.record(calls, clock.now.get() - started);
        }
        assert_eq!(&sizes[..9], &[1, 1, 2, 4, 8, 16, 32, 64, 128]);
        // Then batches of 128 until the 10 ms budget is spent (and at least 3 counted): 7 of them in all.
        assert!(sizes[9..].iter().all(|&c| c == 128));
        assert_eq!(sizes.len() - 8, 7);
        assert!((timer.best_ms() - 0.01).abs() < 1e-12);
    }

    #[test]
    fn call_timer_on_a_frozen_clock_gives_up_and_reports_the_last_batch() {
        let mut timer = CallTimer::new(CallTiming::PAGE, 10.0);
        let mut total = 0u64;
        loop {
            let calls = timer.next_calls(0.0);
            if calls == 0 {
                break;
            }
            total += calls as u64;
            timer.record(calls, 0.0);
        }
        assert!(total < 1 << 18, "{total} calls");
        assert_eq!(timer.best_ms(), 0.0);
    }
}
