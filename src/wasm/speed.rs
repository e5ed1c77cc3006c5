//! The speed view (www/views/speed, www/worker/speed.js) and the comparison's call timing: conversion
//! only; the timing policy is src/app/speed.rs, run here on performance.now().

use super::example::now_ms;
use crate::app::speed::{SpeedKernels, SPEED_KERNELS};
use super::{decode, js_err, to_json};
use wasm_bindgen::prelude::*;

/// A tensor's values as f32 (the weights W the speed panel packs for each of its kernels).
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

/// The speed panel's run on one weight W [n, k]: x [m, k] from N(0, 1) with `seed`, W packed once for
/// every kernel of app::speed::SPEED_KERNELS (FP32, INT8 dynamic, INT4 g32, the MXFP4 and NF4 GEMVs),
/// and each kernel's output kept. The worker runs `step(i)` for i in 0..steps() with a yield between,
/// then takes `report()`.
#[wasm_bindgen]
pub struct SpeedBench {
    kernels: SpeedKernels,
    x: Vec<f32>,
    m: usize,
    outputs: Vec<Vec<f32>>,
    run: crate::app::speed::SpeedRun,
}

#[wasm_bindgen]
impl SpeedBench {
    #[wasm_bindgen(constructor)]
    pub fn new(w: &[f32], n: usize, k: usize, m: usize, seed: f64) -> Result<SpeedBench, JsError> {
        let x = gaussian_activations(m, k, seed)?;
        let kernels = SpeedKernels::new(w, n, k).map_err(js_err)?;
        let outputs = (0..SPEED_KERNELS.len()).map(|i| kernels.call(i, &x, m)).collect::<Result<Vec<_>, _>>().map_err(js_err)?;
        let run = crate::app::speed::SpeedRun::new(crate::app::speed::SpeedPolicy::PAGE, SPEED_KERNELS.len());
        Ok(SpeedBench { kernels, x, m, outputs, run })
    }

    pub fn steps(&self) -> usize {
        self.run.steps()
    }

    /// Step `i` of the policy: a kernel's warm-up, or one timed run of one kernel.
    pub fn step(&mut self, i: usize) -> Result<(), JsError> {
        let SpeedBench { kernels, x, m, run, .. } = self;
        let mut failed = None;
        run.step(i, &now_ms, &mut |kernel| match kernels.call(kernel, x, *m) {
            Ok(y) => drop(std::hint::black_box(y)),
            Err(e) => failed = failed.take().or(Some(e)),
        })
        .map_err(js_err)?;
        failed.map_or(Ok(()), |e| Err(js_err(e)))
    }

    /// The table (JSON): per kernel its error against FP32's output, the median time per call, the runs,
    /// GOPS, speedup and the output's checksum (app/speed.rs SpeedReport).
    pub fn report(&self) -> Result<String, JsError> {
        let kernels: Vec<_> = SPEED_KERNELS.iter().enumerate().map(|(i, &name)| (name, &self.outputs[i][..], &self.run.timings[i])).collect();
        to_json("speed report", &crate::app::speed::speed_report(&kernels, self.m, self.kernels.n, self.kernels.k).map_err(js_err)?)
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
