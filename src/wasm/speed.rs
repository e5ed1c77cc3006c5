//! The speed view (www/views/speed, www/worker/speed.js) and the comparison's call timing: conversion
//! only; the timing policy is src/app/speed.rs, run here on performance.now().

use super::example::now_ms;
use super::kernels::{F32Weights, Int4Weights, Int8Weights};
use super::{decode, js_err, to_json};
use wasm_bindgen::prelude::*;

/// A tensor's values as f32 (the weights W the speed panel packs into F32Weights, Int8Weights, Int4Weights).
#[wasm_bindgen]
pub fn tensor_values(info_json: &str, bytes: Vec<u8>) -> Result<Vec<f32>, JsError> {
    Ok(decode(info_json, bytes)?.1)
}

/// The speed panel's X [m, k]: N(0, 1) from `seed` (an integer below 2^53, as `random_seed` gives).
#[wasm_bindgen]
pub fn gaussian_activations(m: usize, k: usize, seed: f64) -> Result<Vec<f32>, JsError> {
    if !((0.0..=9007199254740991.0).contains(&seed) && seed.fract() == 0.0) {
        return Err(JsError::new(&format!("seed {seed}: expected a whole number from 0 to 2^53 − 1")));
    }
    Ok(crate::app::explore::gaussian_activations(m, k, seed as u64))
}

/// MSE, SQNR, max abs error and cosine of `output` against `reference` (JSON).
#[wasm_bindgen]
pub fn output_error(reference: &[f32], output: &[f32]) -> Result<String, JsError> {
    to_json("output error", &crate::app::explore::output_error(reference, output).map_err(js_err)?)
}

/// The kernels the speed panel times, in its table's order (the first is the reference).
const SPEED_KERNELS: [&str; 3] = ["fp32", "int8", "int4"];

/// The speed panel's run on one weight W [n, k]: x [m, k] from N(0, 1) with `seed`, W packed for the
/// FP32, INT8 (dynamic, u8 x per row) and INT4 (groups of 32) kernels, and each kernel's output kept.
/// The worker runs `step(i)` for i in 0..steps() with a yield between, then takes `report()`.
#[wasm_bindgen]
pub struct SpeedBench {
    f32_weights: F32Weights,
    int8_weights: Int8Weights,
    int4_weights: Int4Weights,
    x: Vec<f32>,
    m: usize,
    n: usize,
    k: usize,
    outputs: Vec<Vec<f32>>,
    run: crate::app::speed::SpeedRun,
}

/// One call of kernel `kernel` (an index into SPEED_KERNELS).
fn speed_call(kernel: usize, f32w: &F32Weights, i8w: &Int8Weights, i4w: &Int4Weights, x: &[f32], m: usize) -> Result<Vec<f32>, JsError> {
    match kernel {
        0 => f32w.matmul(x, m),
        1 => i8w.matmul_dynamic(x, m, true),
        _ => i4w.matmul_dynamic(x, m),
    }
}

#[wasm_bindgen]
impl SpeedBench {
    #[wasm_bindgen(constructor)]
    pub fn new(w: &[f32], n: usize, k: usize, m: usize, seed: f64) -> Result<SpeedBench, JsError> {
        let x = gaussian_activations(m, k, seed)?;
        let f32_weights = F32Weights::new(w, n, k)?;
        let int8_weights = Int8Weights::quantize(w, n, k)?;
        let int4_weights = Int4Weights::quantize(w, n, k, 32, false, false)?;
        let outputs = (0..SPEED_KERNELS.len())
            .map(|i| speed_call(i, &f32_weights, &int8_weights, &int4_weights, &x, m))
            .collect::<Result<Vec<_>, _>>()?;
        let run = crate::app::speed::SpeedRun::new(crate::app::speed::SpeedPolicy::PAGE, SPEED_KERNELS.len());
        Ok(SpeedBench { f32_weights, int8_weights, int4_weights, x, m, n, k, outputs, run })
    }

    pub fn steps(&self) -> usize {
        self.run.steps()
    }

    /// Step `i` of the policy: a kernel's warm-up, or one timed run of one kernel.
    pub fn step(&mut self, i: usize) -> Result<(), JsError> {
        let SpeedBench { f32_weights, int8_weights, int4_weights, x, m, run, .. } = self;
        let mut failed = None;
        run.step(i, &now_ms, &mut |kernel| match speed_call(kernel, f32_weights, int8_weights, int4_weights, x, *m) {
            Ok(y) => drop(std::hint::black_box(y)),
            Err(e) => failed = failed.take().or(Some(e)),
        })
        .map_err(js_err)?;
        failed.map_or(Ok(()), Err)
    }

    /// The table (JSON): per kernel its error against FP32's output, the median time per call, the runs,
    /// GOPS and speedup (app/speed.rs SpeedReport).
    pub fn report(&self) -> Result<String, JsError> {
        let kernels: Vec<_> = SPEED_KERNELS.iter().enumerate().map(|(i, &name)| (name, &self.outputs[i][..], &self.run.timings[i])).collect();
        to_json("speed report", &crate::app::speed::speed_report(&kernels, self.m, self.n, self.k).map_err(js_err)?)
    }
}

/// The comparison's timing of one call (app/speed.rs CallTimer): the worker asks `next_calls(now)` how
/// many calls the next batch makes (0: done), tells `record(calls, elapsed_ms)`, and reads `best_ms()`.
#[wasm_bindgen]
pub struct CallTimer(crate::app::speed::CallTimer);

#[wasm_bindgen]
impl CallTimer {
    /// For a call on a tensor of `elements` values.
    #[wasm_bindgen(constructor)]
    pub fn new(elements: f64) -> CallTimer {
        CallTimer(crate::app::speed::CallTimer::new(crate::app::speed::CallTiming::PAGE, elements))
    }

    pub fn next_calls(&mut self, now_ms: f64) -> u32 {
        self.0.next_calls(now_ms)
    }

    pub fn record(&mut self, calls: u32, elapsed_ms: f64) {
        self.0.record(calls, elapsed_ms);
    }

    pub fn best_ms(&self) -> f64 {
        self.0.best_ms()
    }
}
