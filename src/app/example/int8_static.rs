//! Static INT8: the integer-only pipeline of Jacob et al. 2017 (arXiv 1712.05877, §2.2–2.4) with
//! TFLite's fixed-point requantization, for a stack of Linear layers with ReLU between them.
//!
//! Per layer with input scale sa / zero point za (u8, asymmetric, calibrated on the calibration split
//! by one method), per-channel symmetric s8 weights sw[c], and the next layer's input sy / zy:
//!
//!   acc[r, c]  = Σ_k (a[r, k] − za) · w[c, k]                       (i32, the INT8 kernel)
//!   bias_q[c]  = round_half_even(b[c] / (sa · sw[c]))               (i32; f32 division, f32 sa·sw)
//!   y[r, c]    = MultiplyByQuantizedMultiplier(acc + bias_q, M0[c], shift[c]) + zy
//!                with (M0, shift) = QuantizeMultiplier(sa · sw[c] / sy) (computed in f64)
//!   a'[r, c]   = clamp(y, zy, 255)                                   (u8: ReLU fused as the clamp at zy)
//!
//! The last layer keeps its i32 logits acc + bias_q and dequantizes them with sa · sw[c] (f32): a final
//! requantization to 8 bits would only add ties to the argmax. scripts/digits_int_reference.py
//! recomputes this in numpy from the float weights and these parameters, bit for bit.

use super::{Linear, Mlp};
use crate::calib::{self, CalibConfig, Method};
use crate::error::{Error, Result};
use crate::kernels::gemm::{self, multiply_by_quantized_multiplier, quantize_multiplier, I8Output, PackedActs, PackedI8};
use crate::quant::{self, Granularity, QuantParams, QuantSpec, Scheme};
use serde::{Deserialize, Serialize};

/// The u8 activation spec: asymmetric 8-bit per tensor (the numerics contract).
pub fn activation_spec() -> QuantSpec {
    QuantSpec::new(8, Scheme::Asymmetric, Granularity::PerTensor)
}

/// The calibrated quantization of one layer's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputParams {
    pub layer: String,
    /// The range the calibration method chose.
    pub range: [f32; 2],
    pub scale: f32,
    pub zero_point: i32,
}

/// Everything static quantization learned from the calibration split: one entry per layer input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaticParams {
    pub method: String,
    pub layers: Vec<InputParams>,
}

/// Runs the FP32 model (f32 GEMM kernel) over the calibration rows and calibrates each layer's input
/// (the features, then each ReLU output) with `method`, as u8 asymmetric per tensor.
pub fn calibrate(mlp: &Mlp, calib_x: &[f32], rows: usize, method: &Method) -> Result<StaticParams> {
    let acts = mlp.forward_with_inputs(calib_x, rows)?;
    let spec = activation_spec();
    let mut layers = Vec::with_capacity(mlp.layers.len());
    for (l, x) in mlp.layers.iter().zip(&acts) {
        let run = calib::calibrate_batches(&[x], &spec, std::slice::from_ref(method), CalibConfig::default())?;
        let r = &run.results[0];
        layers.push(InputParams { layer: l.name.clone(), range: r.range, scale: r.scale, zero_point: r.zero_point });
    }
    Ok(StaticParams { method: super::static_method_name(method), layers })
}

struct StaticLayer {
    weights: PackedI8,
    input: QuantParams,
    bias: Vec<i32>,
    has_bias: bool,
    /// Hidden layers: Q31 multipliers and shifts per channel, and the next input's zero point.
    multipliers: Vec<i32>,
    shifts: Vec<i32>,
    output_zero_point: i32,
    /// Last layer: sa · sw[c] to dequantize the i32 logits.
    dequant: Vec<f32>,
}

/// The integer-only network for one set of calibrated parameters.
pub struct StaticInt8Mlp {
    layers: Vec<StaticLayer>,
    pub params: StaticParams,
}

/// i32 bias quantized with scale sa·sw (saturating; f32 arithmetic, round half to even).
pub(crate) fn quantize_bias(b: f32, scale: f32) -> i32 {
    let q = (b / scale).round_ties_even();
    // `as` saturates (and maps NaN to 0).
    q as i32
}

impl StaticInt8Mlp {
    pub fn new(mlp: &Mlp, params: &StaticParams) -> Result<Self> {
        if params.layers.len() != mlp.layers.len() {
            return Err(Error::InvalidSpec(format!(
                "{} calibrated layer inputs for {} layers",
                params.layers.len(),
                mlp.layers.len()
            )));
        }
        let last = mlp.layers.len() - 1;
        let mut layers = Vec::with_capacity(mlp.layers.len());
        for (i, l) in mlp.layers.iter().enumerate() {
            let Linear { out_features: n, in_features: k, .. } = *l;
            let weights = PackedI8::quantize(&l.weight, n, k)?;
            let p = &params.layers[i];
            let input = QuantParams { scale: p.scale, zero_point: p.zero_point };
            check_params(p)?;
            let sw = &weights.scales[..n];
            let bias: Vec<i32> = (0..n).map(|c| quantize_bias(l.bias[c], input.scale * sw[c])).collect();
            let mut layer = StaticLayer {
                input,
                bias,
                has_bias: l.has_bias,
                multipliers: vec![],
                shifts: vec![],
                output_zero_point: 0,
                dequant: vec![],
                weights: weights.clone(),
            };
            if i < last {
                let next = &params.layers[i + 1];
                let real: Vec<f64> = sw.iter().map(|&s| input.scale as f64 * s as f64 / next.scale as f64).collect();
                let (m, s): (Vec<i32>, Vec<i32>) = real.iter().map(|&r| quantize_multiplier(r)).unzip();
                if let Some(bad) = s.iter().find(|s| !(-31..=30).contains(*s)) {
                    return Err(Error::InvalidSpec(format!("requantization shift {bad} of {} is out of range", l.name)));
                }
                layer.multipliers = m;
                layer.shifts = s;
                layer.output_zero_point = next.zero_point;
            } else {
                layer.dequant = sw.iter().map(|&s| input.scale * s).collect();
            }
            layers.push(layer);
        }
        Ok(StaticInt8Mlp { layers, params: params.clone() })
    }

    /// Bytes stored: s8 weights, f32 weight scales, i32 biases, and per layer input an f32 scale and a
    /// u8 zero point.
    pub fn stored_bytes(&self) -> u64 {
        let spec = QuantSpec::new(8, Scheme::Symmetric, Granularity::PerChannel { axis: 0 });
        self.layers
            .iter()
            .map(|l| {
                let (n, k) = (l.weights.n as u64, l.weights.k as u64);
                quant::stored_bytes(&spec, n * k, n) + if l.has_bias { 4 * n } else { 0 } + 5
            })
            .sum()
    }

    /// The u8 codes of the network's input.
    pub fn quantize_input(&self, x: &[f32]) -> Vec<u8> {
        let p = self.layers[0].input;
        let mut q = vec![0u8; x.len()];
        crate::kernels::quantize(x, p.scale, p.zero_point, 0, 255, &mut q);
        q
    }

    /// The integer pipeline: i32 logits (acc + bias_q of the last layer), [m, classes].
    pub fn forward_int(&self, x: &[f32], m: usize) -> Result<Vec<i32>> {
        Ok(self.run(x, m, false)?.0)
    }

    /// The u8 codes entering each layer, [m, in_features] per layer (the quantized input, then each
    /// hidden layer's requantized, ReLU-clamped output): what the Outputs view's trace is checked against.
    pub fn layer_inputs(&self, x: &[f32], m: usize) -> Result<Vec<Vec<u8>>> {
        Ok(self.run(x, m, true)?.1)
    }

    /// The logits, and (when `keep`) every layer's u8 input codes.
    fn run(&self, x: &[f32], m: usize, keep: bool) -> Result<(Vec<i32>, Vec<Vec<u8>>)> {
        let k0 = self.layers[0].weights.k;
        if x.len() != m * k0 {
            return Err(Error::InvalidSpec(format!("{} values for [{m}, {k0}]", x.len())));
        }
        let mut kept = Vec::new();
        let mut a = self.quantize_input(x);
        let last = self.layers.len() - 1;
        for (i, l) in self.layers.iter().enumerate() {
            let n = l.weights.n;
            let packed = PackedActs::pack(&a, m, l.weights.k, &[l.input.zero_point], &[l.input.scale], 0)?;
            if keep {
                kept.push(std::mem::take(&mut a));
            }
            let mut acc = vec![0i32; m * n];
            gemm::gemm_i8(&packed, &l.weights, I8Output::I32(&mut acc))?;
            if i == last {
                for r in 0..m {
                    for c in 0..n {
                        acc[r * n + c] = acc[r * n + c].wrapping_add(l.bias[c]);
                    }
                }
                return Ok((acc, kept));
            }
            let zy = l.output_zero_point;
            let mut next = vec![0u8; m * n];
            for r in 0..m {
                for c in 0..n {
                    let v = multiply_by_quantized_multiplier(acc[r * n + c].wrapping_add(l.bias[c]), l.multipliers[c], l.shifts[c]);
                    // ReLU fused: codes below zy stand for negative values.
                    next[r * n + c] = v.wrapping_add(zy).clamp(zy.max(0), 255) as u8;
                }
            }
            a = next;
        }
        unreachable!("the loop returns at the last layer")
    }

    /// The logits dequantized: (acc + bias_q) · sa · sw[c] in f32.
    pub fn forward(&self, x: &[f32], m: usize) -> Result<Vec<f32>> {
        let logits = self.forward_int(x, m)?;
        let d = &self.layers.last().expect("layers").dequant;
        let n = d.len();
        Ok(logits.iter().enumerate().map(|(i, &v)| v as f32 * d[i % n]).collect())
    }
}

fn check_params(p: &InputParams) -> Result<()> {
    if !(p.scale.is_finite() && p.scale > 0.0 && (0..=255).contains(&p.zero_point)) {
        return Err(Error::InvalidSpec(format!(
            "input of {}: scale {} and zero point {} are not a u8 quantization",
            p.layer, p.scale, p.zero_point
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bias_rounds_half_to_even_and_saturates() {
        assert_eq!(quantize_bias(2.5, 1.0), 2);
        assert_eq!(quantize_bias(-3.5, 1.0), -4);
        assert_eq!(quantize_bias(1e30, 1e-10), i32::MAX);
    }

    #[test]
    fn one_layer_matches_the_real_arithmetic() {
        // 2 inputs → 2 outputs → 1 output; integer result close to the float one.
        let mlp = Mlp {
            layers: vec![
                Linear { name: "fc1".into(), out_features: 2, in_features: 2, weight: vec![1.0, -0.5, 0.25, 0.75], bias: vec![0.1, -0.2], has_bias: true },
                Linear { name: "fc2".into(), out_features: 1, in_features: 2, weight: vec![1.0, 2.0], bias: vec![0.5], has_bias: true },
            ],
        };
        let x = vec![0.0, 1.0, 1.0, 0.0, 0.5, 0.5];
        let params = calibrate(&mlp, &x, 3, &Method::MinMax).unwrap();
        assert_eq!(params.layers[0].zero_point, 0);
        let net = StaticInt8Mlp::new(&mlp, &params).unwrap();
        let y = net.forward(&x, 3).unwrap();
        let fp = mlp.forward_with_inputs(&x, 3).unwrap().pop().unwrap();
        for (a, b) in y.iter().zip(&fp) {
            assert!((a - b).abs() < 0.02, "{a} vs {b}");
        }
    }
}
