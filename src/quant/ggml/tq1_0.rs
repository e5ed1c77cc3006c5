//! TQ1_0: ternary weights packed five to a byte (3^5 = 243 ≤ 256) as a base-3 fixed-point fraction,
//! the last 16 four to a byte, against an fp16 d = amax of the 256; y = (q − 1)·d with q in 0..2.

use super::k_quants::QK_K;
use super::{c_lroundf, fp16_bits, read_f16, ternary_amax, GgmlBlock, GgmlQuantize};
use std::mem::{offset_of, size_of};

/// block_tq1_0 (ggml-common.h): qs holds 240 values (32 bytes × 5, then 16 bytes × 5), qh 16.
#[repr(C)]
struct BlockTq1_0 {
    qs: [u8; (QK_K - 4 * QK_K / 64) / 5],
    qh: [u8; QK_K / 64],
    d: [u8; 2],
}
const _: () = assert!(size_of::<BlockTq1_0>() == 54);

pub struct TQ1_0;

const POW3: [u8; 6] = [1, 3, 9, 27, 81, 243];

/// The n-th trit of a packed byte: dequantize_row_tq1_0's `((uint16_t)(uint8_t)(q · 3^n) · 3) >> 8`.
fn trit(byte: u8, n: usize) -> i32 {
    ((byte.wrapping_mul(POW3[n]) as u16 * 3) >> 8) as i32
}

/// Trits of `x[i · stride]` for i in 0..count, most significant first, as quantize_row_tq1_0_ref
/// packs them: base-3 digits in uint8 arithmetic, then ceil(q · 256 / 243).
fn pack(x: &[f32], stride: usize, count: usize, id: f32, pad: bool) -> u8 {
    let mut q = 0u8;
    for n in 0..count {
        let xi = (c_lroundf(x[n * stride] * id) + 1) as i32;
        q = (q as i32 * 3) as u8;
        q = (q as i32 + xi) as u8;
    }
    if pad {
        // qh: the first value to the most significant of five trits.
        q = (q as i32 * 3) as u8;
    }
    (q as u16 * 256).div_ceil(243) as u8
}

impl GgmlBlock for TQ1_0 {
    const ID: u32 = 34;
    const NAME: &'static str = "TQ1_0";
    const BLOCK_LEN: usize = QK_K;
    const BLOCK_BYTES: usize = size_of::<BlockTq1_0>();
    const CODE_BITS: u8 = 2;

    /// dequantize_row_tq1_0: bytes 0..32 give values n·32 + m (n < 5), bytes 32..48 values
    /// 160 + n·16 + m, qh byte j values 240 + n·4 + j.
    fn dequantize_block(b: &[u8], y: &mut [f32]) {
        let d = read_f16(b, offset_of!(BlockTq1_0, d));
        let qs = &b[offset_of!(BlockTq1_0, qs)..][..48];
        let qh = &b[offset_of!(BlockTq1_0, qh)..][..4];
        for n in 0..5 {
            for m in 0..32 {
                y[32 * n + m] = (trit(qs[m], n) - 1) as f32 * d;
            }
            for m in 0..16 {
                y[160 + 16 * n + m] = (trit(qs[32 + m], n) - 1) as f32 * d;
            }
        }
        for n in 0..4 {
            for j in 0..4 {
                y[240 + 4 * n + j] = (trit(qh[j], n) - 1) as f32 * d;
            }
        }
    }
}

impl GgmlQuantize for TQ1_0 {
    /// quantize_row_tq1_0_ref: d = amax, trits lroundf(x/d) + 1 packed as `pack` says.
    fn quantize_block_ref(xb: &[f32], y: &mut [u8]) {
        let d = ternary_amax(xb);
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        y[offset_of!(BlockTq1_0, d)..][..2].copy_from_slice(&fp16_bits(d));
        let qs_at = offset_of!(BlockTq1_0, qs);
        for m in 0..32 {
            y[qs_at + m] = pack(&xb[m..], 32, 5, id, false);
        }
        for m in 0..16 {
            y[qs_at + 32 + m] = pack(&xb[160 + m..], 16, 5, id, false);
        }
        let qh_at = offset_of!(BlockTq1_0, qh);
        for j in 0..4 {
            y[qh_at + j] = pack(&xb[240 + j..], 4, 4, id, true);
        }
    }
}
