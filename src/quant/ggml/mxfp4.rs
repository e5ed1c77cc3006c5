//! ggml's MXFP4 (GGUF type 39, as gpt-oss files store it): 32 E2M1 values against one E8M0 exponent e,
//! the values kept doubled (kvalues_mxfp4 = 2 × E2M1) so the scale is 2^(e − 128)
//! (GGML_E8M0_TO_FP32_HALF). ggml picks e = floor(log2 amax) − 2 + 127 and each code as the level
//! nearest x (first on ties) — not the OCP/NVIDIA rules of quant/mx.rs.

use super::{c_to_u8, GgmlBlock, GgmlQuantize, QK};
use std::mem::{offset_of, size_of};

/// block_mxfp4 (ggml-common.h).
#[repr(C)]
struct BlockMxfp4 {
    e: u8,
    qs: [u8; QK / 2],
}
const _: () = assert!(size_of::<BlockMxfp4>() == 17);

/// kvalues_mxfp4 (ggml-common.h kvalues_fp4): E2M1 values doubled.
const KVALUES: [i8; 16] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

pub struct MXFP4;

/// ggml_e8m0_to_fp32_half (ggml-impl.h): 2^(e − 128), the two smallest as subnormals.
fn e8m0_half(e: u8) -> f32 {
    let bits = if e < 2 { 0x0020_0000u32 << e } else { ((e as u32) - 1) << 23 };
    f32::from_bits(bits)
}

/// best_index_mxfp4: the first level with the smallest |k·d − x|.
fn best_index(x: f32, d: f32) -> u8 {
    let mut best = 0;
    let mut best_err = (KVALUES[0] as f32 * d - x).abs();
    for (i, &k) in KVALUES.iter().enumerate().skip(1) {
        let err = (k as f32 * d - x).abs();
        if err < best_err {
            best = i as u8;
            best_err = err;
        }
    }
    best
}

impl GgmlBlock for MXFP4 {
    const ID: u32 = 39;
    const NAME: &'static str = "MXFP4";
    const BLOCK_LEN: usize = QK;
    const BLOCK_BYTES: usize = size_of::<BlockMxfp4>();
    const CODE_BITS: u8 = 4;

    /// dequantize_row_mxfp4: byte j holds values j (low nibble) and j + 16.
    fn dequantize_block(b: &[u8], y: &mut [f32]) {
        let d = e8m0_half(b[offset_of!(BlockMxfp4, e)]);
        let qs = &b[offset_of!(BlockMxfp4, qs)..][..QK / 2];
        for (j, &q) in qs.iter().enumerate() {
            y[j] = KVALUES[(q & 0x0F) as usize] as f32 * d;
            y[j + QK / 2] = KVALUES[(q >> 4) as usize] as f32 * d;
        }
    }
}

impl GgmlQuantize for MXFP4 {
    /// quantize_row_mxfp4_ref: e = (uint8_t)(floorf(log2f(amax)) − 2 + 127) (0 for amax 0), d its half
    /// scale, codes best_index_mxfp4. log2f is the platform's (glibc on the reference).
    fn quantize_block_ref(xb: &[f32], y: &mut [u8]) {
        let mut amax = 0.0f32;
        for &v in xb {
            if amax < v.abs() {
                amax = v.abs();
            }
        }
        let e = if amax > 0.0 { c_to_u8(amax.log2().floor() - 2.0 + 127.0) } else { 0 };
        let d = e8m0_half(e);
        y[offset_of!(BlockMxfp4, e)] = e;
        let qs = &mut y[offset_of!(BlockMxfp4, qs)..][..QK / 2];
        for (j, q) in qs.iter_mut().enumerate() {
            *q = best_index(xb[j], d) | (best_index(xb[j + QK / 2], d) << 4);
        }
    }
}
