//! Matrix kernels (the speed panel and `npm run bench`). Weights are packed once by the
//! constructor and stay packed in wasm memory; each call converts its arguments and delegates.

use super::js_err;
use crate::kernels::gemm::{self, PackedF32, PackedI4, PackedI8};
use crate::quant::dynamic::{self, ActGranularity};
use crate::quant::{ScaleDType, Scheme};
use wasm_bindgen::prelude::*;

/// "simd128", "relaxed-simd" or "wasm-scalar": which kernels this module runs.
#[wasm_bindgen]
pub fn kernel_build() -> String {
    crate::kernels::build_name().to_string()
}

/// f32 weights W [n, k] (torch Linear layout) packed for `matmul`.
#[wasm_bindgen]
pub struct F32Weights(PackedF32);

#[wasm_bindgen]
impl F32Weights {
    #[wasm_bindgen(constructor)]
    pub fn new(w: &[f32], n: usize, k: usize) -> Result<F32Weights, JsError> {
        PackedF32::pack(w, n, k).map(F32Weights).map_err(js_err)
    }

    /// Y [m, n] = X [m, k] · Wᵀ.
    pub fn matmul(&self, x: &[f32], m: usize) -> Result<Vec<f32>, JsError> {
        let mut y = vec![0.0f32; m * self.0.n];
        gemm::gemm_f32(x, m, &self.0, None, &mut y).map_err(js_err)?;
        Ok(y)
    }
}

/// int8 weights [n, k], symmetric per output channel, packed (still int8) for the INT8 kernels.
#[wasm_bindgen]
pub struct Int8Weights(PackedI8);

#[wasm_bindgen]
impl Int8Weights {
    /// From int8 codes [n, k] and one scale per output channel (or one in all).
    #[wasm_bindgen(constructor)]
    pub fn new(codes: &[i8], n: usize, k: usize, scales: &[f32]) -> Result<Int8Weights, JsError> {
        PackedI8::pack(codes, n, k, scales, &[0]).map(Int8Weights).map_err(js_err)
    }

    /// Quantizes f32 weights [n, k] per channel (symmetric int8, min-max) and packs them.
    pub fn quantize(w: &[f32], n: usize, k: usize) -> Result<Int8Weights, JsError> {
        PackedI8::quantize(w, n, k).map(Int8Weights).map_err(js_err)
    }

    /// Per-channel scales (padded to whole panels are dropped).
    pub fn scales(&self) -> Vec<f32> {
        self.0.scales[..self.0.n].to_vec()
    }

    /// u8 activations [m, k] with zero point `a_zero_point` → i32 [m, n].
    pub fn matmul_u8_i32(&self, a: &[u8], m: usize, a_zero_point: i32) -> Result<Vec<i32>, JsError> {
        gemm::gemm_u8s8_i32(a, m, a_zero_point, &self.0).map_err(js_err)
    }

    /// s8 activations [m, k] with zero point `a_zero_point` → i32 [m, n].
    pub fn matmul_s8_i32(&self, a: &[i8], m: usize, a_zero_point: i32) -> Result<Vec<i32>, JsError> {
        gemm::gemm_s8s8_i32(a, m, a_zero_point, &self.0).map_err(js_err)
    }

    /// Dynamic quantization end to end: f32 X [m, k] → u8 per row (or per tensor) → INT8 GEMM → f32.
    pub fn matmul_dynamic(&self, x: &[f32], m: usize, per_row: bool) -> Result<Vec<f32>, JsError> {
        let gran = if per_row { ActGranularity::PerRow } else { ActGranularity::PerTensor };
        dynamic::dynamic_quantized_matmul(x, m, &self.0, gran, None).map_err(js_err)
    }
}

/// 4-bit weights [n, k] with per-group scales, packed for the INT4 kernel.
#[wasm_bindgen]
pub struct Int4Weights(PackedI4);

#[wasm_bindgen]
impl Int4Weights {
    /// Quantizes f32 weights [n, k] per group of `group` (a multiple of 4) along k.
    pub fn quantize(w: &[f32], n: usize, k: usize, group: usize, asymmetric: bool, f16_scales: bool) -> Result<Int4Weights, JsError> {
        let scheme = if asymmetric { Scheme::Asymmetric } else { Scheme::Symmetric };
        let sd = if f16_scales { ScaleDType::F16 } else { ScaleDType::F32 };
        PackedI4::quantize(w, n, k, group, scheme, sd).map(Int4Weights).map_err(js_err)
    }

    /// f32 X [m, k] → s8 per row → INT4 GEMM → f32 [m, n].
    pub fn matmul_dynamic(&self, x: &[f32], m: usize) -> Result<Vec<f32>, JsError> {
        dynamic::dynamic_quantized_matmul_i4(x, m, &self.0, None).map_err(js_err)
    }

    /// Bytes stored: nibbles, scales and zero points.
    pub fn stored_bytes(&self) -> usize {
        self.0.stored_bytes()
    }
}

/// MXFP4 or NF4 weights [n, k] as codes + scales, for the dequantize-on-the-fly GEMV (kernels::lut4).
#[wasm_bindgen]
pub struct Lut4Weights(crate::kernels::lut4::PackedLut4);

#[wasm_bindgen]
impl Lut4Weights {
    /// Quantizes f32 weights [n, k] to `format` ("mxfp4" or "nf4") and packs them.
    pub fn quantize(w: &[f32], n: usize, k: usize, format: &str) -> Result<Lut4Weights, JsError> {
        use crate::quant::format::BlockFormat;
        let Some(format) = [BlockFormat::Mxfp4, BlockFormat::Nf4].into_iter().find(|f| f.label() == format) else {
            return Err(JsError::new(&format!("the 4-bit LUT GEMV takes mxfp4 or nf4, not '{format}'")));
        };
        crate::kernels::lut4::PackedLut4::quantize(format, w, n, k).map(Lut4Weights).map_err(js_err)
    }

    /// f32 X [m, k] → Y [m, n], one GEMV per row of X.
    pub fn matmul(&self, x: &[f32], m: usize) -> Result<Vec<f32>, JsError> {
        crate::kernels::lut4::matmul_lut4(&self.0, x, m).map_err(js_err)
    }

    /// Bytes stored: the code units and the scales.
    pub fn stored_bytes(&self) -> usize {
        self.0.stored_bytes()
    }
}
