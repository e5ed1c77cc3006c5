//! Dynamic quantization around the integer GEMMs of `kernels::gemm`: f32 weights quantized by the
//! numerics contract and packed once, f32 activations quantized per call (min-max, per row or per
//! tensor), and the end-to-end matmuls torch.quantization.quantize_dynamic runs for nn.Linear.

use super::{quantize_minmax, Codes, Granularity, QuantParams, QuantSpec, ScaleDType, Scheme};
use crate::error::{Error, Result};
use crate::kernels::gemm::{gemm_i4, gemm_i8, I8Output, PackedActs, PackedI4, PackedI8};
use crate::kernels::{self, min_max_finite};

impl PackedI8 {
    /// Quantizes f32 weights [n, k] per output channel, symmetric int8 (narrow range), and packs them.
    pub fn quantize(w: &[f32], n: usize, k: usize) -> Result<Self> {
        let spec = QuantSpec::new(8, Scheme::Symmetric, Granularity::PerChannel { axis: 0 });
        let q = quantize_minmax(w, &[n, k], &spec)?;
        let Codes::I8(codes) = q.codes else {
            return Err(Error::InvalidSpec("symmetric int8 weights must have i8 codes".into()));
        };
        Self::pack(&codes, n, k, &q.scales, &q.zero_points)
    }
}

impl PackedI4 {
    /// Quantizes f32 weights [n, k] to 4 bits per group of `group` along k (min-max ranges, the numerics
    /// contract: symmetric narrow range −7..=7, or asymmetric 0..=15) and packs them.
    pub fn quantize(w: &[f32], n: usize, k: usize, group: usize, scheme: Scheme, scale_dtype: ScaleDType) -> Result<Self> {
        let mut spec = QuantSpec::new(4, scheme, Granularity::PerGroup { size: group });
        spec.scale_dtype = scale_dtype;
        let q = quantize_minmax(w, &[n, k], &spec)?;
        Self::pack(&q.codes, n, k, group, &q.scales, &q.zero_points, scale_dtype)
    }
}

/// How activations are quantized on the fly (torch.quantization.quantize_dynamic style).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActGranularity {
    PerTensor,
    PerRow,
}

/// Dynamic quantization of f32 activations [m, k] with min-max ranges (the numerics contract):
/// asymmetric u8 (torch's quint8 activations, without fbgemm's reduce_range) or symmetric s8
/// (narrow range, what the INT4 kernel takes), per row or per tensor.
pub fn quantize_activations(x: &[f32], m: usize, k: usize, scheme: Scheme, gran: ActGranularity, group: usize) -> Result<PackedActs> {
    if x.len() != m * k {
        return Err(Error::InvalidSpec(format!("activations: {} values for [{m}, {k}]", x.len())));
    }
    let spec = QuantSpec::new(8, scheme, Granularity::PerTensor);
    let (qmin, qmax) = spec.code_range();
    let params: Vec<QuantParams> = match gran {
        ActGranularity::PerTensor => {
            let (lo, hi, _) = min_max_finite(x);
            vec![super::params_from_range(&spec, lo, hi)]
        }
        ActGranularity::PerRow => (0..m)
            .map(|r| {
                let (lo, hi, _) = min_max_finite(&x[r * k..(r + 1) * k]);
                super::params_from_range(&spec, lo, hi)
            })
            .collect(),
    };
    let p = |r: usize| params[if params.len() == 1 { 0 } else { r }];
    let zps: Vec<i32> = params.iter().map(|p| p.zero_point).collect();
    let scales: Vec<f32> = params.iter().map(|p| p.scale).collect();
    match scheme {
        Scheme::Asymmetric => {
            let mut q = vec![0u8; m * k];
            for r in 0..m {
                kernels::quantize(&x[r * k..(r + 1) * k], p(r).scale, p(r).zero_point, qmin, qmax, &mut q[r * k..(r + 1) * k]);
            }
            PackedActs::pack(&q, m, k, &zps, &scales, group)
        }
        Scheme::Symmetric => {
            let mut q = vec![0i8; m * k];
            for r in 0..m {
                kernels::quantize(&x[r * k..(r + 1) * k], p(r).scale, 0, qmin, qmax, &mut q[r * k..(r + 1) * k]);
            }
            PackedActs::pack(&q, m, k, &zps, &scales, group)
        }
    }
}

/// Dynamic quantization end to end, as torch.quantization.quantize_dynamic does for nn.Linear:
/// f32 activations → u8 (per row or per tensor, min-max) → INT8 GEMM → f32 with sa·sw[c] (+ bias).
pub fn dynamic_quantized_matmul(x: &[f32], m: usize, w: &PackedI8, gran: ActGranularity, bias: Option<&[f32]>) -> Result<Vec<f32>> {
    let a = quantize_activations(x, m, w.k, Scheme::Asymmetric, gran, 0)?;
    let zeros = vec![0.0f32; w.n];
    let mut out = vec![0.0f32; m * w.n];
    gemm_i8(&a, w, I8Output::F32 { out: &mut out, bias: bias.unwrap_or(&zeros) })?;
    Ok(out)
}

/// f32 activations → s8 per row (symmetric, min-max) → INT4 GEMM → f32.
pub fn dynamic_quantized_matmul_i4(x: &[f32], m: usize, w: &PackedI4, bias: Option<&[f32]>) -> Result<Vec<f32>> {
    let a = quantize_activations(x, m, w.k, Scheme::Symmetric, ActGranularity::PerRow, w.group)?;
    let mut out = vec![0.0f32; m * w.n];
    gemm_i4(&a, w, bias, &mut out)?;
    Ok(out)
}
