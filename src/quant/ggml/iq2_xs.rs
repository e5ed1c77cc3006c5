//! IQ2_XS (2.3125 bits per weight): a super-block of 256 in eight groups of 32. Each group has four
//! u16 codes (9-bit index into iq2xs_grid: 8 magnitudes from {8, 25, 43}; 7-bit sign index into
//! ksigns_iq2xs) and a byte of two 4-bit scales, one per 16 values; y = d·(0.5 + s)·0.25 · grid[j] · ±1.

use super::iq2_xxs::put_signed;
use super::iq_grids::{IQ2XS_GRID, KSIGNS_IQ2XS};
use super::k_quants::QK_K;
use super::{read_f16, GgmlBlock};
use std::mem::{offset_of, size_of};

/// block_iq2_xs (ggml-common.h).
#[repr(C)]
struct BlockIq2Xs {
    d: [u8; 2],
    qs: [u8; QK_K / 4],
    scales: [u8; QK_K / 32],
}
const _: () = assert!(size_of::<BlockIq2Xs>() == 74);

pub struct IQ2_XS;

impl GgmlBlock for IQ2_XS {
    const ID: u32 = 17;
    const NAME: &'static str = "IQ2_XS";
    const BLOCK_LEN: usize = QK_K;
    const BLOCK_BYTES: usize = size_of::<BlockIq2Xs>();
    const CODE_BITS: u8 = 2;

    /// dequantize_row_iq2_xs (ggml-quants.c).
    fn dequantize_block(b: &[u8], y: &mut [f32]) {
        let d = read_f16(b, offset_of!(BlockIq2Xs, d));
        let qs = &b[offset_of!(BlockIq2Xs, qs)..][..QK_K / 4];
        let scales = &b[offset_of!(BlockIq2Xs, scales)..][..QK_K / 32];
        for (ib32, (q, ys)) in qs.chunks_exact(8).zip(y.chunks_exact_mut(32)).enumerate() {
            let db = [
                d * (0.5 + (scales[ib32] & 0x0F) as f32) * 0.25,
                d * (0.5 + (scales[ib32] >> 4) as f32) * 0.25,
            ];
            for (l, y8) in ys.chunks_exact_mut(8).enumerate() {
                let code = u16::from_le_bytes([q[2 * l], q[2 * l + 1]]);
                let grid = IQ2XS_GRID[(code & 511) as usize].to_le_bytes();
                put_signed(y8, db[l / 2], &grid, KSIGNS_IQ2XS[(code >> 9) as usize]);
            }
        }
    }
}
