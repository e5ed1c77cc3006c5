//! The static INT8 pipeline of one output element, step by step with its real numbers: what the page's
//! Outputs view shows and `quant-playground trace --json` prints (one schema for both).
//!
//! Jacob et al. 2017 (arXiv 1712.05877) §2.2–2.4 with TFLite's fixed-point requantization, in the
//! conventions of app/example/int8_static.rs: activations u8 asymmetric per tensor (calibrated range →
//! scale s_a, zero point z_a), weights s8 symmetric per output channel (s_w[c], z_w = 0), bias i32 at
//! scale s_a·s_w[c], output u8 asymmetric (s_y, z_y, calibrated on the FP32 output). Every number comes
//! from the functions the pipeline itself runs: PackedI8::quantize, kernels::quantize, the i32 kernel,
//! quantize_multiplier, saturating_rounding_doubling_high_mul, rounding_divide_by_pot.

use crate::app::example::int8_static::{activation_spec, quantize_bias};
use crate::app::explore::{output_error, OutputError};
use crate::calib::{self, CalibConfig, Method};
use crate::error::{Error, Result};
use crate::kernels::gemm::{
    self, multiply_by_quantized_multiplier, quantize_multiplier, rounding_divide_by_pot, saturating_rounding_doubling_high_mul,
    PackedF32, PackedI4, PackedI8,
};
use crate::quant::dynamic::{self, ActGranularity};
use crate::quant::{QuantParams, ScaleDType, Scheme};
use serde::Serialize;

/// How many leading codes of the row and of x the trace lists.
pub const SHOWN: usize = 8;

/// The calibrated quantization of one layer's input and output (u8 asymmetric, int8_static.rs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LayerQuantization {
    pub input_range: [f32; 2],
    pub input_scale: f32,
    pub input_zero_point: i32,
    pub output_range: [f32; 2],
    pub output_scale: f32,
    pub output_zero_point: i32,
    /// ReLU fused as the clamp at z_y (int8_static's hidden layers); otherwise the clamp is 0..255.
    pub relu: bool,
}

/// The three zero-point terms of Σ(q_a − z_a)(q_w − z_w) = Σq_a·q_w − z_w·Σq_a − z_a·Σq_w + K·z_a·z_w
/// (Jacob et al. 2017, eq. 7), each with its value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ZeroPointTerms {
    /// −z_w·Σq_a (0: the weights are symmetric).
    pub weight_zero_point_term: i64,
    /// −z_a·Σq_w.
    pub input_zero_point_term: i64,
    /// +K·z_a·z_w.
    pub constant_term: i64,
}

/// One output element y[sample, row] through the integer pipeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ElementTrace {
    /// Output channel: the row of W.
    pub row: usize,
    /// The row of X (which input of the batch).
    pub sample: usize,
    pub k: usize,
    /// s_w[row] and z_w (per-channel symmetric, min-max over the row).
    pub weight_scale: f32,
    /// The first SHOWN channels' scales s_w[0..] (one per row of W).
    pub weight_scales_shown: Vec<f32>,
    pub weight_zero_point: i32,
    /// The first SHOWN values and codes of the row of W and of x.
    pub weights_shown: Vec<f32>,
    pub weight_codes_shown: Vec<i32>,
    pub inputs_shown: Vec<f32>,
    pub input_codes_shown: Vec<i32>,
    /// Σ q_a·q_w over k (i64: the exact sum; the kernel's i32 wraps only past 2^31).
    pub sum_products: i64,
    pub sum_input_codes: i64,
    pub sum_weight_codes: i64,
    pub zero_point_terms: ZeroPointTerms,
    /// Σ(q_a − z_a)(q_w − z_w): the sum plus the three terms, as the INT8 kernel returns it (i32).
    pub accumulator: i32,
    /// The same, read from the kernel's output for this element (gemm_u8s8_i32).
    pub kernel_accumulator: i32,
    /// The float bias, its i32 code round(b / (s_a·s_w)), and accumulator + bias code.
    pub bias: Option<f32>,
    pub bias_code: i32,
    pub accumulator_with_bias: i32,
    /// (acc + bias code)·s_a·s_w: the real value the accumulator stands for.
    pub accumulator_real: f64,
    /// M = s_a·s_w / s_y (f64), and TFLite's QuantizeMultiplier: M = M0·2^(shift − 31), M0 in [2^30, 2^31).
    pub real_multiplier: f64,
    pub multiplier_q31: i32,
    pub shift: i32,
    /// n in M = (M0 / 2^31)·2^−n, i.e. −shift: the right shift when positive.
    pub exponent_n: i32,
    /// max(shift, 0): the accumulator is first multiplied by 2^left_shift.
    pub left_shift: i32,
    /// SaturatingRoundingDoublingHighMul(acc·2^left_shift, M0) = round(acc·2^left_shift·M0 / 2^31).
    pub high_mul: i32,
    /// max(−shift, 0) and RoundingDivideByPOT(high_mul, right_shift).
    pub right_shift: i32,
    pub divided: i32,
    /// divided + z_y, then clamped to [clamp_min, clamp_max]: the final u8 code.
    pub with_zero_point: i32,
    pub clamp_min: i32,
    pub clamp_max: i32,
    pub code: i32,
    /// (code − z_y)·s_y, the FP32 y it stands for (with ReLU when fused), and the difference.
    pub dequantized: f32,
    pub fp32: f32,
    pub error: f32,
}

/// The Outputs view: the parameters, one element's trace, and the whole output's error of the static
/// INT8 pipeline, the dynamic INT8 kernel and the INT4 (g32) kernel against FP32.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputsTrace {
    pub n: usize,
    pub k: usize,
    /// Rows of X.
    pub m: usize,
    /// The calibration method of the input and output ranges.
    pub method: String,
    pub quantization: LayerQuantization,
    pub element: ElementTrace,
    /// Whole output y [m, n] against FP32's (the same bias added in each).
    pub static_int8: OutputError,
    pub dynamic_int8: OutputError,
    pub int4_g32: OutputError,
    /// The largest |y| of the FP32 output, for scale.
    pub max_abs_fp32: f32,
}

#[allow(clippy::too_many_arguments)]
fn check_shapes(w: &[f32], n: usize, k: usize, bias: Option<&[f32]>, x: &[f32], m: usize, sample: usize, row: usize) -> Result<()> {
    let bad = |msg: String| Err(Error::InvalidSpec(msg));
    if n == 0 || k == 0 || w.len() != n * k {
        return bad(format!("weights: {} values for [{n}, {k}]", w.len()));
    }
    if m == 0 || x.len() != m * k {
        return bad(format!("activations: {} values are not rows of k = {k} (the weight's input size)", x.len()));
    }
    if let Some(b) = bias {
        if b.len() != n {
            return bad(format!("bias: {} values for {n} output channels", b.len()));
        }
    }
    if row >= n {
        return bad(format!("row {row}: the weight has {n} output channels (rows 0..{})", n - 1));
    }
    if sample >= m {
        return bad(format!("sample {sample}: the activations have {m} rows (0..{})", m - 1));
    }
    Ok(())
}

/// y = X·Wᵀ + bias in f32 by the FP32 kernel, then ReLU when fused.
fn fp32_output(w: &PackedF32, x: &[f32], m: usize, bias: Option<&[f32]>, relu: bool) -> Result<Vec<f32>> {
    let mut y = vec![0.0f32; m * w.n];
    gemm::gemm_f32(x, m, w, bias, &mut y)?;
    if relu {
        y.iter_mut().for_each(|v| *v = v.max(0.0));
    }
    Ok(y)
}

fn calibrate_u8(x: &[f32], method: &Method) -> Result<(f32, f32, QuantParams)> {
    let run = calib::calibrate_batches(&[x], &activation_spec(), std::slice::from_ref(method), CalibConfig::default())?;
    let r = &run.results[0];
    Ok((r.range[0], r.range[1], QuantParams { scale: r.scale, zero_point: r.zero_point }))
}

/// Calibrates the input (X) and the output (the FP32 y, after ReLU when fused) with `method`, as
/// int8_static::calibrate does for a layer's input and the next layer's input.
#[allow(clippy::too_many_arguments)]
pub fn calibrate_layer(w: &[f32], n: usize, k: usize, bias: Option<&[f32]>, x: &[f32], m: usize, method: &Method, relu: bool) -> Result<LayerQuantization> {
    check_shapes(w, n, k, bias, x, m, 0, 0)?;
    let (ilo, ihi, input) = calibrate_u8(x, method)?;
    let y = fp32_output(&PackedF32::pack(w, n, k)?, x, m, bias, relu)?;
    let (olo, ohi, output) = calibrate_u8(&y, method)?;
    Ok(LayerQuantization {
        input_range: [ilo, ihi],
        input_scale: input.scale,
        input_zero_point: input.zero_point,
        output_range: [olo, ohi],
        output_scale: output.scale,
        output_zero_point: output.zero_point,
        relu,
    })
}

/// The requantization of one channel: (M0, shift) of M = s_a·s_w / s_y, computed in f64 as int8_static.rs does.
fn channel_multiplier(q: &LayerQuantization, weight_scale: f32) -> Result<(f64, i32, i32)> {
    let real = q.input_scale as f64 * weight_scale as f64 / q.output_scale as f64;
    let (m0, shift) = quantize_multiplier(real);
    if !(-31..=30).contains(&shift) {
        return Err(Error::InvalidSpec(format!("requantization shift {shift} is out of range (M = {real:e})")));
    }
    Ok((real, m0, shift))
}

/// The static pipeline's whole output [m, n] as u8 codes: the INT8 kernel's i32 accumulators, bias,
/// MultiplyByQuantizedMultiplier, z_y and the clamp (int8_static.rs's hidden-layer loop).
pub fn static_int8_codes(w: &PackedI8, x: &[f32], m: usize, bias: Option<&[f32]>, q: &LayerQuantization) -> Result<Vec<u8>> {
    let (n, k) = (w.n, w.k);
    let mut a = vec![0u8; m * k];
    crate::kernels::quantize(x, q.input_scale, q.input_zero_point, 0, 255, &mut a);
    let acc = gemm::gemm_u8s8_i32(&a, m, q.input_zero_point, w)?;
    let low = if q.relu { q.output_zero_point.max(0) } else { 0 };
    let mut out = vec![0u8; m * n];
    for c in 0..n {
        let (_, m0, shift) = channel_multiplier(q, w.scales[c])?;
        let b = bias.map_or(0, |b| quantize_bias(b[c], q.input_scale * w.scales[c]));
        for r in 0..m {
            let v = multiply_by_quantized_multiplier(acc[r * n + c].wrapping_add(b), m0, shift);
            out[r * n + c] = v.wrapping_add(q.output_zero_point).clamp(low, 255) as u8;
        }
    }
    Ok(out)
}

/// One element, step by step, with the parameters `q` (calibrated here by `calibrate_layer`, or taken
/// from a calibrated model).
#[allow(clippy::too_many_arguments)]
pub fn trace_element(
    w: &[f32],
    n: usize,
    k: usize,
    bias: Option<&[f32]>,
    x: &[f32],
    m: usize,
    sample: usize,
    row: usize,
    q: &LayerQuantization,
) -> Result<ElementTrace> {
    check_shapes(w, n, k, bias, x, m, sample, row)?;
    let packed = PackedI8::quantize(w, n, k)?;
    let (sa, za) = (q.input_scale, q.input_zero_point);
    let sw = packed.scales[row];
    let zw = packed.zero_points[row];
    let xs = &x[sample * k..(sample + 1) * k];
    let mut qa = vec![0u8; k];
    crate::kernels::quantize(xs, sa, za, 0, 255, &mut qa);
    let qw: Vec<i32> = (0..k).map(|kk| packed.at(row, kk) as i32).collect();
    let sum_products: i64 = qa.iter().zip(&qw).map(|(&a, &b)| a as i64 * b as i64).sum();
    let sum_input_codes: i64 = qa.iter().map(|&a| a as i64).sum();
    let sum_weight_codes: i64 = qw.iter().map(|&b| b as i64).sum();
    let terms = ZeroPointTerms {
        weight_zero_point_term: -(zw as i64) * sum_input_codes,
        input_zero_point_term: -(za as i64) * sum_weight_codes,
        constant_term: k as i64 * za as i64 * zw as i64,
    };
    let exact = sum_products + terms.weight_zero_point_term + terms.input_zero_point_term + terms.constant_term;
    // The kernel accumulates in i32 and wraps; so does this, past 2^31 (never for 8-bit codes below k = 33000).
    let accumulator = exact as i32;
    // The same element from the real kernel on the whole batch.
    let mut all = vec![0u8; m * k];
    crate::kernels::quantize(x, sa, za, 0, 255, &mut all);
    let kernel_accumulator = gemm::gemm_u8s8_i32(&all, m, za, &packed)?[sample * n + row];
    let b = bias.map(|b| b[row]);
    let bias_code = b.map_or(0, |b| quantize_bias(b, sa * sw));
    let with_bias = accumulator.wrapping_add(bias_code);
    let (real, m0, shift) = channel_multiplier(q, sw)?;
    let left = shift.max(0);
    let right = (-shift).max(0);
    let high_mul = saturating_rounding_doubling_high_mul(with_bias.wrapping_mul(1i32.wrapping_shl(left as u32)), m0);
    let divided = rounding_divide_by_pot(high_mul, right);
    debug_assert_eq!(divided, multiply_by_quantized_multiplier(with_bias, m0, shift));
    let zy = q.output_zero_point;
    let with_zp = divided.wrapping_add(zy);
    let clamp_min = if q.relu { zy.max(0) } else { 0 };
    let code = with_zp.clamp(clamp_min, 255);
    let dequantized = (code - zy) as f32 * q.output_scale;
    let wrow = &w[row * k..(row + 1) * k];
    let mut fp = vec![0.0f32; n];
    gemm::gemm_f32(xs, 1, &PackedF32::pack(w, n, k)?, bias, &mut fp)?;
    let fp32 = if q.relu { fp[row].max(0.0) } else { fp[row] };
    Ok(ElementTrace {
        row,
        sample,
        k,
        weight_scale: sw,
        weight_scales_shown: packed.scales[..n.min(SHOWN)].to_vec(),
        weight_zero_point: zw,
        weights_shown: wrow.iter().take(SHOWN).copied().collect(),
        weight_codes_shown: qw.iter().take(SHOWN).copied().collect(),
        inputs_shown: xs.iter().take(SHOWN).copied().collect(),
        input_codes_shown: qa.iter().take(SHOWN).map(|&a| a as i32).collect(),
        sum_products,
        sum_input_codes,
        sum_weight_codes,
        zero_point_terms: terms,
        accumulator,
        kernel_accumulator,
        bias: b,
        bias_code,
        accumulator_with_bias: with_bias,
        accumulator_real: with_bias as f64 * sa as f64 * sw as f64,
        real_multiplier: real,
        multiplier_q31: m0,
        shift,
        exponent_n: -shift,
        left_shift: left,
        high_mul,
        right_shift: right,
        divided,
        with_zero_point: with_zp,
        clamp_min,
        clamp_max: 255,
        code,
        dequantized,
        fp32,
        error: dequantized - fp32,
    })
}

/// The Outputs view for W [n, k] (+ bias), X [m, k], element (sample, row): input and output ranges by
/// `method`, the element's trace, and the whole output's error of each integer path against FP32.
#[allow(clippy::too_many_arguments)]
pub fn trace_outputs(
    w: &[f32],
    n: usize,
    k: usize,
    bias: Option<&[f32]>,
    x: &[f32],
    m: usize,
    sample: usize,
    row: usize,
    method: &Method,
    relu: bool,
) -> Result<OutputsTrace> {
    check_shapes(w, n, k, bias, x, m, sample, row)?;
    let q = calibrate_layer(w, n, k, bias, x, m, method, relu)?;
    let element = trace_element(w, n, k, bias, x, m, sample, row, &q)?;
    let fp32 = fp32_output(&PackedF32::pack(w, n, k)?, x, m, bias, relu)?;
    let i8w = PackedI8::quantize(w, n, k)?;
    let codes = static_int8_codes(&i8w, x, m, bias, &q)?;
    let static_y: Vec<f32> = codes.iter().map(|&c| (c as i32 - q.output_zero_point) as f32 * q.output_scale).collect();
    let relu_if = |mut y: Vec<f32>| {
        if relu {
            y.iter_mut().for_each(|v| *v = v.max(0.0));
        }
        y
    };
    let dynamic = relu_if(dynamic::dynamic_quantized_matmul(x, m, &i8w, ActGranularity::PerRow, bias)?);
    let i4w = PackedI4::quantize(w, n, k, 32, Scheme::Symmetric, ScaleDType::F32)?;
    let int4 = relu_if(dynamic::dynamic_quantized_matmul_i4(x, m, &i4w, bias)?);
    Ok(OutputsTrace {
        n,
        k,
        m,
        method: method.label(),
        quantization: q,
        element,
        static_int8: output_error(&fp32, &static_y)?,
        dynamic_int8: output_error(&fp32, &dynamic)?,
        int4_g32: output_error(&fp32, &int4)?,
        max_abs_fp32: fp32.iter().fold(0.0f32, |a, v| a.max(v.abs())),
    })
}

/// The bias that goes with a weight: `<prefix>.bias` for `<prefix>.weight` (torch's Linear naming).
pub fn bias_name(weight: &str) -> Option<String> {
    weight.strip_suffix(".weight").map(|p| format!("{p}.bias"))
}

/// The view's seeded X [m, k]: `dist` with σ = 1 from `seed` (synthetic.rs, PCG-64), the same in any build.
pub fn synthetic_inputs(dist: crate::app::synthetic::Dist, m: usize, k: usize, seed: u64) -> Vec<f32> {
    crate::app::synthetic::generate(dist, m * k, 1.0, seed)
}

/// X [m, k] from an activation tensor: its values as rows of k (its last axis, or all of it flattened).
pub fn rows_of(values: &[f32], k: usize, name: &str) -> Result<usize> {
    if k == 0 || values.is_empty() || values.len() % k != 0 {
        return Err(Error::InvalidSpec(format!(
            "activations '{name}': {} values are not whole rows of k = {k} (the weight's input size)",
            values.len()
        )));
    }
    Ok(values.len() / k)
}

impl OutputsTrace {
    /// The steps as numbered plain-text lines (the CLI's text output; the page draws its own list).
    pub fn text(&self) -> String {
        let (q, t) = (&self.quantization, &self.element);
        let list = |v: &[i32]| v.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ");
        let more = if t.k > SHOWN { ", …" } else { "" };
        let mut lines = vec![
            format!("x: range [{}, {}] ({}) → scale s_a = {:e}, zero point z_a = {}", q.input_range[0], q.input_range[1], self.method, q.input_scale, q.input_zero_point),
            format!(
                "W row {}: per-channel symmetric, scale s_w = {:e}, zero point z_w = {} (channels' scales: {:?}{})",
                t.row,
                t.weight_scale,
                t.weight_zero_point,
                t.weight_scales_shown,
                if self.n > SHOWN { " …" } else { "" }
            ),
            format!("codes q_w = [{}{more}], q_a (x row {}) = [{}{more}]", list(&t.weight_codes_shown), t.sample, list(&t.input_codes_shown)),
            format!("Σ q_a·q_w = {} (Σq_a = {}, Σq_w = {})", t.sum_products, t.sum_input_codes, t.sum_weight_codes),
            format!(
                "zero-point terms: −z_w·Σq_a = {}, −z_a·Σq_w = {}, K·z_a·z_w = {} → i32 accumulator {} (kernel: {})",
                t.zero_point_terms.weight_zero_point_term, t.zero_point_terms.input_zero_point_term, t.zero_point_terms.constant_term, t.accumulator, t.kernel_accumulator
            ),
            match t.bias {
                Some(b) => format!("bias {b} → i32 code round(b/(s_a·s_w)) = {} → accumulator + bias = {} (≈ {:e} in real units)", t.bias_code, t.accumulator_with_bias, t.accumulator_real),
                None => format!("no bias: accumulator {} (≈ {:e} in real units)", t.accumulator_with_bias, t.accumulator_real),
            },
            format!("output: range [{}, {}] → scale s_y = {:e}, zero point z_y = {}", q.output_range[0], q.output_range[1], q.output_scale, q.output_zero_point),
            format!("M = s_a·s_w/s_y = {:e} = M0·2^(shift−31) with M0 = {} (Q31), shift = {} (n = {})", t.real_multiplier, t.multiplier_q31, t.shift, t.exponent_n),
            format!("SaturatingRoundingDoublingHighMul(acc·2^{}, M0) = {}", t.left_shift, t.high_mul),
            format!("RoundingDivideByPOT(…, {}) = {}", t.right_shift, t.divided),
            format!("+ z_y = {}, clamp to [{}, {}] → code {}", t.with_zero_point, t.clamp_min, t.clamp_max, t.code),
            format!("dequantized (code − z_y)·s_y = {} vs FP32 {} (error {:e})", t.dequantized, t.fp32, t.error),
        ];
        for (name, e) in [("static INT8", &self.static_int8), ("dynamic INT8", &self.dynamic_int8), ("INT4 g32", &self.int4_g32)] {
            lines.push(format!("whole output [{}, {}], {name}: MSE {:e}, SQNR {:.2} dB, max abs error {:e}", self.m, self.n, e.mse, e.sqnr_db, e.max_abs_err));
        }
        lines.iter().enumerate().map(|(i, l)| format!("{:>2}. {l}\n", i + 1)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A case small enough to work by hand. s_a = 0.5, z_a = 10; s_y = 0.25, z_y = 100; one channel with
    /// weights [1, −0.5] → s_w = 1/127, codes [127, −64] (−0.5·127 = −63.5 rounds half to even).
    /// x = [2, 1] → codes [14, 12]. Σq_a·q_w = 14·127 − 12·64 = 1010; −z_a·Σq_w = −10·63 = −630;
    /// acc = 380. s_w is f32(1/127) = 0.0078740157186985, so M = 0.5·s_w/0.25 = 0.0157480314373970 =
    /// 0.50393700599670 · 2^−5: M0 = round(0.50393700599670·2^31) = 1082196480,
    /// shift = −5 (n = 5). high_mul = round(380·1082196480 / 2^31) = round(191.496…) = 191;
    /// 191 / 2^5 = 5.97 → 6; + 100 = 106. Dequantized (106 − 100)·0.25 = 1.5; FP32 2 − 0.5 = 1.5.
    #[test]
    fn hand_worked_element() {
        let q = LayerQuantization {
            input_range: [-5.0, 122.5],
            input_scale: 0.5,
            input_zero_point: 10,
            output_range: [-25.0, 38.75],
            output_scale: 0.25,
            output_zero_point: 100,
            relu: false,
        };
        let t = trace_element(&[1.0, -0.5], 1, 2, None, &[2.0, 1.0], 1, 0, 0, &q).unwrap();
        assert_eq!(t.weight_codes_shown, vec![127, -64]);
        assert_eq!(t.input_codes_shown, vec![14, 12]);
        assert_eq!((t.sum_products, t.sum_input_codes, t.sum_weight_codes), (1010, 26, 63));
        assert_eq!(t.zero_point_terms, ZeroPointTerms { weight_zero_point_term: 0, input_zero_point_term: -630, constant_term: 0 });
        assert_eq!((t.accumulator, t.kernel_accumulator), (380, 380));
        assert_eq!(t.real_multiplier, 0.5 * (1.0f32 / 127.0) as f64 / 0.25);
        assert_eq!((t.multiplier_q31, t.shift, t.exponent_n), (1082196480, -5, 5));
        // M0 by hand from M: M·2^5·2^31 rounded half away from zero.
        assert_eq!(t.multiplier_q31 as f64, (t.real_multiplier * 32.0 * 2f64.powi(31)).round());
        assert_eq!((t.left_shift, t.high_mul, t.right_shift, t.divided), (0, 191, 5, 6));
        assert_eq!((t.with_zero_point, t.code), (106, 106));
        assert_eq!((t.dequantized, t.fp32, t.error), (1.5, 1.5, 0.0));
    }

    #[test]
    fn bad_shapes_are_errors() {
        let q = LayerQuantization {
            input_range: [0.0, 1.0],
            input_scale: 1.0,
            input_zero_point: 0,
            output_range: [0.0, 1.0],
            output_scale: 1.0,
            output_zero_point: 0,
            relu: false,
        };
        let e = trace_element(&[1.0, 2.0], 1, 2, None, &[1.0, 2.0, 3.0], 1, 0, 0, &q).unwrap_err().to_string();
        assert!(e.contains("rows of k = 2"), "{e}");
        let e = trace_element(&[1.0, 2.0], 1, 2, None, &[1.0, 2.0], 1, 0, 3, &q).unwrap_err().to_string();
        assert!(e.contains("row 3"), "{e}");
        let e = trace_element(&[1.0, 2.0], 1, 2, Some(&[1.0, 2.0]), &[1.0, 2.0], 1, 0, 0, &q).unwrap_err().to_string();
        assert!(e.contains("bias"), "{e}");
    }
}
