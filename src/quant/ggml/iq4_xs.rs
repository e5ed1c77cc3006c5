//! IQ4_XS: a super-block of 256 in eight sub-blocks of 32, each with a signed 6-bit scale (stored + 32:
//! low 4 bits in scales_l, high 2 in scales_h) against an fp16 d; codes index kvalues_iq4nl;
//! y = d·(ls − 32)·k[q].

use super::iq4_nl::{best_index, search_scale, KVALUES_IQ4NL};
use super::k_quants::{nearest_int, GROUP_MAX_EPS, QK_K};
use super::{fp16_bits, read_f16, signed_amax, GgmlBlock, GgmlQuantize};
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

impl GgmlQuantize for IQ4_XS {
    /// quantize_row_iq4_xs_ref = quantize_row_iq4_nl_impl(256, 32, …, no importance weights, ntry 7):
    /// per 32 a scale from −max/−127, refined over 15 candidate scales (itry − 127)/max by the
    /// x²-weighted fit; the 8 scales to signed 6 bits against d = −max_scale/32 (fp16, the unrounded d
    /// used for the codes); codes = the nearest level of x / (d·l).
    fn quantize_block_ref(xb: &[f32], y: &mut [u8]) {
        let mut codes = [0u8; QK_K];
        let mut scales = [0f32; 8];
        let (mut max_scale, mut amax_scale) = (0.0f32, 0.0f32);
        for ib in 0..8 {
            let xs = &xb[32 * ib..32 * ib + 32];
            let (amax, max) = signed_amax(xs);
            if amax < GROUP_MAX_EPS {
                scales[ib] = 0.0;
                continue;
            }
            let d = search_scale(xs, max);
            scales[ib] = d;
            if d.abs() > amax_scale {
                amax_scale = d.abs();
                max_scale = d;
            }
        }
        let d = -max_scale / 32.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let mut scales_h = 0u16;
        let mut scales_l = [0u8; QK_K / 64];
        for ib in 0..8 {
            let l = nearest_int(id * scales[ib]).clamp(-32, 31);
            let dl = d * l as f32;
            let idl = if dl != 0.0 { 1.0 / dl } else { 0.0 };
            for j in 0..32 {
                codes[32 * ib + j] = best_index(idl * xb[32 * ib + j]);
            }
            let l = (l + 32) as u8;
            if ib % 2 == 0 {
                scales_l[ib / 2] = l & 0x0F;
            } else {
                scales_l[ib / 2] |= (l & 0x0F) << 4;
            }
            scales_h |= ((l >> 4) as u16) << (2 * (ib % 8));
        }
        y[offset_of!(BlockIq4Xs, d)..][..2].copy_from_slice(&fp16_bits(d));
        y[offset_of!(BlockIq4Xs, scales_h)..][..2].copy_from_slice(&scales_h.to_le_bytes());
        y[offset_of!(BlockIq4Xs, scales_l)..][..QK_K / 64].copy_from_slice(&scales_l);
        let qs = &mut y[offset_of!(BlockIq4Xs, qs)..][..QK_K / 2];
        for i in 0..8 {
            for j in 0..16 {
                qs[16 * i + j] = codes[32 * i + j] | (codes[32 * i + 16 + j] << 4);
            }
        }
    }
}
