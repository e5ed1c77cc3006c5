//! IQ4_XS: a super-block of 256 in eight sub-blocks of 32, each with a signed 6-bit scale (stored + 32:
//! low 4 bits in scales_l, high 2 in scales_h) against an fp16 d; codes index kvalues_iq4nl;
//! y = d·(ls − 32)·k[q].

use super::iq4_nl::KVALUES_IQ4NL;
use super::k_quants::QK_K;
use super::{read_f16, GgmlBlock};
use std::mem::{offset_of, size_of};

/// block_iq4_xs (ggml-common.h).
#[repr(C)]
struct BlockIq4Xs {
    d: [u8; 2],
    scales_h: [u8; 2],
    scales_l: [u8; QK_K / 64],
    qs: [u8; QK_K / 2],
}
const _: () = assert!(size_of::<BlockIq4Xs>() == 136);

pub struct IQ4_XS;

impl GgmlBlock for IQ4_XS {
    const ID: u32 = 23;
    const NAME: &'static str = "IQ4_XS";
    const BLOCK_LEN: usize = QK_K;
    const BLOCK_BYTES: usize = size_of::<BlockIq4Xs>();
    const CODE_BITS: u8 = 4;

    /// dequantize_row_iq4_xs: sub-block ib's 16 bytes hold its values j (low nibble) and j + 16.
    fn dequantize_block(b: &[u8], y: &mut [f32]) {
        let d = read_f16(b, offset_of!(BlockIq4Xs, d));
        let at = offset_of!(BlockIq4Xs, scales_h);
        let scales_h = u16::from_le_bytes([b[at], b[at + 1]]);
        let scales_l = &b[offset_of!(BlockIq4Xs, scales_l)..][..QK_K / 64];
        let qs = &b[offset_of!(BlockIq4Xs, qs)..][..QK_K / 2];
        for (ib, (q, ys)) in qs.chunks_exact(16).zip(y.chunks_exact_mut(32)).enumerate() {
            let ls = ((scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0F) as i32 | ((((scales_h >> (2 * ib)) & 3) as i32) << 4);
            let dl = d * (ls - 32) as f32;
            for j in 0..16 {
                ys[j] = dl * KVALUES_IQ4NL[(q[j] & 0x0F) as usize] as f32;
                ys[j + 16] = dl * KVALUES_IQ4NL[(q[j] >> 4) as usize] as f32;
            }
        }
    }
}
