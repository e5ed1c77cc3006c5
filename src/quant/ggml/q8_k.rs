//! Q8_K: ggml's intermediate for k-quant dot products (quantize_row_q8_K_ref / dequantize_row_q8_K):
//! 256 int8 codes against an f32 d, with the sums of each 16 codes in bsums; y = d·q.

use super::k_quants::{nearest_int, QK_K};
use super::{GgmlBlock, GgmlQuantize};
use std::mem::{offset_of, size_of};

/// block_q8_K (ggml-common.h).
#[repr(C)]
struct BlockQ8_K {
    d: [u8; 4],
    qs: [u8; QK_K],
    bsums: [u8; QK_K / 16 * 2],
}
const _: () = assert!(size_of::<BlockQ8_K>() == 292);

pub struct Q8_K;

fn read_d(b: &[u8]) -> f32 {
    let at = offset_of!(BlockQ8_K, d);
    f32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl GgmlBlock for Q8_K {
    const ID: u32 = 15;
    const NAME: &'static str = "Q8_K";
    const BLOCK_LEN: usize = QK_K;
    const BLOCK_BYTES: usize = size_of::<BlockQ8_K>();
    const CODE_BITS: u8 = 8;

    fn dequantize_block(b: &[u8], y: &mut [f32]) {
        let d = read_d(b);
        for (v, &q) in y.iter_mut().zip(&b[offset_of!(BlockQ8_K, qs)..][..QK_K]) {
            *v = d * (q as i8) as f32;
        }
    }
}

impl GgmlQuantize for Q8_K {
    /// quantize_row_q8_K_ref: iscale = −127/max (max the value of largest |x|), codes
    /// MIN(127, nearest_int(iscale·x)) as int8, d = 1/iscale; an all-zero block is d = 0, codes 0.
    fn quantize_block_ref(xb: &[f32], y: &mut [u8]) {
        let (mut max, mut amax) = (0.0f32, 0.0f32);
        for &v in xb {
            if v.abs() > amax {
                amax = v.abs();
                max = v;
            }
        }
        y.fill(0);
        if amax == 0.0 {
            return;
        }
        let iscale = -127.0 / max;
        let qs_at = offset_of!(BlockQ8_K, qs);
        let mut codes = [0i8; QK_K];
        for (c, &v) in codes.iter_mut().zip(xb) {
            *c = nearest_int(iscale * v).min(127) as i8;
        }
        for (o, &c) in y[qs_at..qs_at + QK_K].iter_mut().zip(&codes) {
            *o = c as u8;
        }
        let bs_at = offset_of!(BlockQ8_K, bsums);
        for (j, group) in codes.chunks_exact(16).enumerate() {
            let sum: i32 = group.iter().map(|&c| c as i32).sum();
            y[bs_at + 2 * j..bs_at + 2 * j + 2].copy_from_slice(&(sum as i16).to_le_bytes());
        }
        y[offset_of!(BlockQ8_K, d)..][..4].copy_from_slice(&(1.0 / iscale).to_le_bytes());
    }
}
