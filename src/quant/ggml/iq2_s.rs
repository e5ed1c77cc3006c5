//! IQ2_S (2.5625 bits per weight): a super-block of 256 in eight groups of 32. Each 8 values take a
//! 10-bit index into iq2s_grid (8 magnitudes from {8, 25, 43}: low 8 bits in qs, high 2 in qh) and a
//! byte of explicit signs; two 4-bit scales per group; y = d·(0.5 + s)·0.25 · grid[j] · ±1.

use super::iq2_xxs::put_signed;
use super::iq_grids::IQ2S_GRID;
use super::k_quants::QK_K;
use super::{read_f16, GgmlBlock};
use std::mem::{offset_of, size_of};

/// block_iq2_s (ggml-common.h): qs holds QK_K/8 index bytes, then QK_K/8 sign bytes.
#[repr(C)]
struct BlockIq2S {
    d: [u8; 2],
    qs: [u8; QK_K / 4],
    qh: [u8; QK_K / 32],
    scales: [u8; QK_K / 32],
}
const _: () = assert!(size_of::<BlockIq2S>() == 82);

pub struct IQ2_S;

impl GgmlBlock for IQ2_S {
    const ID: u32 = 22;
    const NAME: &'static str = "IQ2_S";
    const BLOCK_LEN: usize = QK_K;
    const BLOCK_BYTES: usize = size_of::<BlockIq2S>();
    const CODE_BITS: u8 = 2;

    /// dequantize_row_iq2_s (ggml-quants.c).
    fn dequantize_block(b: &[u8], y: &mut [f32]) {
        let d = read_f16(b, offset_of!(BlockIq2S, d));
        let qs = &b[offset_of!(BlockIq2S, qs)..][..QK_K / 8];
        let signs = &b[offset_of!(BlockIq2S, qs) + QK_K / 8..][..QK_K / 8];
        let qh = &b[offset_of!(BlockIq2S, qh)..][..QK_K / 32];
        let scales = &b[offset_of!(BlockIq2S, scales)..][..QK_K / 32];
        for (ib32, ys) in y.chunks_exact_mut(32).enumerate() {
            let db = [
                d * (0.5 + (scales[ib32] & 0x0F) as f32) * 0.25,
                d * (0.5 + (scales[ib32] >> 4) as f32) * 0.25,
            ];
            for (l, y8) in ys.chunks_exact_mut(8).enumerate() {
                let index = qs[4 * ib32 + l] as usize | (((qh[ib32] as usize) << (8 - 2 * l)) & 0x300);
                put_signed(y8, db[l / 2], &IQ2S_GRID[index].to_le_bytes(), signs[4 * ib32 + l]);
            }
        }
    }
}
