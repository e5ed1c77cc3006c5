//! IQ4_NL: 32 values as 4-bit indices into ggml's non-linear table kvalues_iq4nl against an fp16 d;
//! y = d·k[q].
//!
//! Two quantizers, as ggml has two. The registry's is `quantize_iq4_nl` without importance weights,
//! the one `ggml_quantize_chunk` (so llama-quantize) runs: 15 candidate scales, then every code
//! re-chosen against the best, each block on its own. `IQ4_NL::quantize_row_ref` is
//! `quantize_row_iq4_nl_ref` (ntry −1): the codes of the first scale guess, kept; a block below
//! GROUP_MAX_EPS writes d = 0 and leaves its codes at what the block before it chose (ggml's L buffer
//! is not cleared between blocks; before the first block it is uninitialised stack).

use super::k_quants::GROUP_MAX_EPS;
use super::{fp16_bits, read_f16, signed_amax, GgmlBlock, GgmlQuantize, QK};
use std::mem::{offset_of, size_of};

/// block_iq4_nl (ggml-common.h).
#[repr(C)]
struct BlockIq4Nl {
    d: [u8; 2],
    qs: [u8; QK / 2],
}
const _: () = assert!(size_of::<BlockIq4Nl>() == 18);

/// kvalues_iq4nl (ggml-common.h).
pub(super) const KVALUES_IQ4NL: [i8; 16] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

/// The code of 0 (best_index_int8(16, kvalues_iq4nl, 0)): what ggml writes for a block of zeros when
/// it re-chooses codes, and what `quantize_row_ref` starts from where ggml's buffer is undefined.
const ZERO_CODE: u8 = 8;

/// ggml-quants.c `best_index_int8`: the index of the level nearest x in the sorted `KVALUES_IQ4NL`
/// (bisection; a tie between two levels takes the upper one).
pub(super) fn best_index(x: f32) -> u8 {
    let val = &KVALUES_IQ4NL;
    if x <= val[0] as f32 {
        return 0;
    }
    if x >= val[15] as f32 {
        return 15;
    }
    let (mut ml, mut mu) = (0usize, 15usize);
    while mu - ml > 1 {
        let mav = (ml + mu) / 2;
        if x < val[mav] as f32 {
            mu = mav;
        } else {
            ml = mav;
        }
    }
    if x - (val[mu - 1] as f32) < val[mu] as f32 - x {
        (mu - 1) as u8
    } else {
        mu as u8
    }
}

/// The x²-weighted fit of one sub-block's codes at inverse scale `id`: (Σw·q·x, Σw·q²), and the codes.
pub(super) fn fit(xb: &[f32], id: f32, codes: &mut [u8]) -> (f32, f32) {
    let (mut sumqx, mut sumq2) = (0.0f32, 0.0f32);
    for (j, &x) in xb.iter().enumerate() {
        let l = best_index(id * x);
        codes[j] = l;
        let q = KVALUES_IQ4NL[l as usize] as f32;
        let w = x * x;
        sumqx += w * q * x;
        sumq2 += w * q * q;
    }
    (sumqx, sumq2)
}

pub struct IQ4_NL;

impl GgmlBlock for IQ4_NL {
    const ID: u32 = 20;
    const NAME: &'static str = "IQ4_NL";
    const BLOCK_LEN: usize = QK;
    const BLOCK_BYTES: usize = size_of::<BlockIq4Nl>();
    const CODE_BITS: u8 = 4;

    /// dequantize_row_iq4_nl: byte j holds values j (low nibble) and j + 16.
    fn dequantize_block(b: &[u8], y: &mut [f32]) {
        let d = read_f16(b, offset_of!(BlockIq4Nl, d));
        for (j, &q) in b[offset_of!(BlockIq4Nl, qs)..][..QK / 2].iter().enumerate() {
            y[j] = d * KVALUES_IQ4NL[(q & 0x0F) as usize] as f32;
            y[j + QK / 2] = d * KVALUES_IQ4NL[(q >> 4) as usize] as f32;
        }
    }
}

/// quantize_row_iq4_nl_impl's first guess for one block: codes at d = `d0`, then the x²-weighted
/// least-squares d of those codes, `(d, Σw·q·x)`. d is 0 unless sumq2 > 0 (llama.cpp's
/// `sumq2 > 0 ? sumqx/sumq2 : 0.f`, so a NaN in the block gives d = 0, as libggml-base.so does).
fn first_guess(xb: &[f32], d0: f32, codes: &mut [u8]) -> (f32, f32) {
    let (sumqx, sumq2) = fit(xb, 1.0 / d0, codes);
    let d = if sumq2 > 0.0 { sumqx / sumq2 } else { 0.0 };
    (d, d * sumqx)
}

/// quantize_row_iq4_nl_impl's scale of one block of 32 with ntry 7 and x² weights (IQ4_NL's, and
/// each IQ4_XS sub-block's): the first guess from −max/−127, then the 15 scales (itry − 127)/max,
/// keeping the fit with the largest (Σw·q·x)²/Σw·q².
pub(super) fn search_scale(xb: &[f32], max: f32) -> f32 {
    const NTRY: i32 = 7;
    let mut codes = [0u8; QK];
    let (mut d, mut best) = first_guess(xb, -max / KVALUES_IQ4NL[0] as f32, &mut codes);
    for itry in -NTRY..=NTRY {
        let id = (itry + KVALUES_IQ4NL[0] as i32) as f32 / max;
        let (sumqx, sumq2) = fit(xb, id, &mut codes);
        if sumq2 > 0.0 && sumqx * sumqx > best * sumq2 {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    d
}

impl GgmlQuantize for IQ4_NL {
    /// quantize_iq4_nl(…, quant_weights = NULL) = quantize_row_iq4_nl_impl(32, 32, …, ntry 7): d from
    /// −max/−127 refined over the 15 scales (itry − 127)/max by the x²-weighted fit, stored as fp16;
    /// codes = the nearest level of x / d with the unrounded d (all ZERO_CODE for a block below
    /// GROUP_MAX_EPS, whose d is 0).
    fn quantize_block_ref(xb: &[f32], y: &mut [u8]) {
        let (amax, max) = signed_amax(xb);
        let d = if amax >= GROUP_MAX_EPS { search_scale(xb, max) } else { 0.0 };
        let mut codes = [0u8; QK];
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        for (c, &x) in codes.iter_mut().zip(xb) {
            *c = best_index(id * x);
        }
        write_block(y, d, &codes);
    }
}

impl IQ4_NL {
    /// quantize_row_iq4_nl_ref over whole blocks (`x.len()` = 32·blocks, `y.len()` = 18·blocks): per
    /// block the codes at d = max/−127 and the fit's d; a block below GROUP_MAX_EPS gets d = 0 and the
    /// previous block's codes (ZERO_CODE before any block set them, where ggml's are undefined).
    pub fn quantize_row_ref(x: &[f32], y: &mut [u8]) {
        let mut codes = [ZERO_CODE; QK];
        for (xb, yb) in x.chunks_exact(QK).zip(y.chunks_exact_mut(size_of::<BlockIq4Nl>())) {
            let (amax, max) = signed_amax(xb);
            let d = if amax < GROUP_MAX_EPS { 0.0 } else { first_guess(xb, max / KVALUES_IQ4NL[0] as f32, &mut codes).0 };
            write_block(yb, d, &codes);
        }
    }
}

/// d as fp16, then the codes two per byte: value j in the low nibble of byte j, value j + 16 high.
fn write_block(y: &mut [u8], d: f32, codes: &[u8; QK]) {
    y[offset_of!(BlockIq4Nl, d)..][..2].copy_from_slice(&fp16_bits(d));
    let qs = &mut y[offset_of!(BlockIq4Nl, qs)..][..QK / 2];
    for (j, q) in qs.iter_mut().enumerate() {
        *q = codes[j] | (codes[j + QK / 2] << 4);
    }
}
