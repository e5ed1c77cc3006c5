//! IQ1_S (1.5625 bits per weight): a super-block of 256 in eight groups of 32. Each 8 values take an
//! 11-bit index into iq1s_grid (8 values from {−1, 0, 1}: low 8 bits in qs, high 3 in qh); each
//! group's u16 qh also holds a 3-bit scale s and the sign of a shift δ = ±IQ1S_DELTA;
//! y = d·(2s + 1)·(grid[j] + δ).

use super::iq_grids::IQ1S_GRID;
use super::k_quants::QK_K;
use super::{read_f16, GgmlBlock};
use std::mem::{offset_of, size_of};

/// IQ1S_DELTA (ggml-common.h): the shift of every grid value; IQ1M_DELTA is the same 0.125.
pub(super) const IQ1S_DELTA: f32 = 0.125;

/// block_iq1_s (ggml-common.h).
#[repr(C)]
struct BlockIq1S {
    d: [u8; 2],
    qs: [u8; QK_K / 8],
    qh: [u8; QK_K / 16],
}
const _: () = assert!(size_of::<BlockIq1S>() == 50);

pub struct IQ1_S;

impl GgmlBlock for IQ1_S {
    const ID: u32 = 19;
    const NAME: &'static str = "IQ1_S";
    const BLOCK_LEN: usize = QK_K;
    const BLOCK_BYTES: usize = size_of::<BlockIq1S>();
    const CODE_BITS: u8 = 1;

    /// dequantize_row_iq1_s (ggml-quants.c).
    fn dequantize_block(b: &[u8], y: &mut [f32]) {
        let d = read_f16(b, offset_of!(BlockIq1S, d));
        let qs = &b[offset_of!(BlockIq1S, qs)..][..QK_K / 8];
        let qh_bytes = &b[offset_of!(BlockIq1S, qh)..][..QK_K / 16];
        for (ib, ys) in y.chunks_exact_mut(32).enumerate() {
            let qh = u16::from_le_bytes([qh_bytes[2 * ib], qh_bytes[2 * ib + 1]]) as usize;
            let dl = d * (2 * ((qh >> 12) & 7) + 1) as f32;
            let delta = if qh & 0x8000 != 0 { -IQ1S_DELTA } else { IQ1S_DELTA };
            for (l, y8) in ys.chunks_exact_mut(8).enumerate() {
                let index = qs[4 * ib + l] as usize | (((qh >> (3 * l)) & 7) << 8);
                put_shifted(y8, dl, IQ1S_GRID[index], delta);
            }
        }
    }
}

/// `y[j] = dl * (grid[j] + delta)` with grid's bytes read as int8_t.
pub(super) fn put_shifted(y: &mut [f32], dl: f32, grid: u64, delta: f32) {
    for (v, g) in y.iter_mut().zip(grid.to_le_bytes()) {
        *v = dl * (g as i8 as f32 + delta);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hand_worked_block() {
        // d = 2; group 0: qh = 0 (scale 0, δ = +0.125, high index bits 0), qs[0] = 0 (grid point 0:
        // all −1) → 2·(−1 + 0.125); group 1: qh = 0x8000 | 1 << 12 (scale 1: ·3, δ = −0.125).
        let mut b = vec![0u8; 50];
        b[..2].copy_from_slice(&half::f16::from_f32(2.0).to_bits().to_le_bytes());
        b[36..38].copy_from_slice(&(0x8000u16 | 1 << 12).to_le_bytes());
        let mut y = vec![0f32; 256];
        IQ1_S::dequantize_block(&b, &mut y);
        assert_eq!(&y[..8], &[-1.75; 8]);
        assert_eq!(&y[32..40], &[2.0 * 3.0 * (-1.125); 8]);
        assert_eq!(IQ1S_GRID[0], u64::MAX, "grid point 0 is eight −1 bytes");
    }
}
