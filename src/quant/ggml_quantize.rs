//! ggml's reference quantizers (`quantize_row_*_ref` in ggml/src/ggml-quants.c of llama.cpp),
//! rewritten in Rust so a GGUF written here is byte-identical to what llama.cpp's `llama-quantize`
//! (without an importance matrix, which calls the `_ref` rows) writes for the same f32 values.
//!
//! C float semantics are kept on purpose: every operation in f32, in the C expression's order
//! (`w*x[i]*l` is `(w·x)·l`), no fused multiply-add (ggml's x86-64 base library is built without
//! FMA), `nearest_int` as the 12582912 trick, float → small int conversions as C's truncating
//! casts, and the fp16 block scales rounded to nearest even (GGML_FP32_TO_FP16).
//! tests/export_gguf.rs checks every function against bytes made by ggml's own libggml-base.so
//! (scripts/make_gguf_export_reference.py).

use half::f16;

/// Elements per block of Q8_0, Q4_0, Q4_1, Q5_0.
pub const QK: usize = 32;
/// Elements per super-block of Q4_K and Q6_K.
pub const QK_K: usize = 256;

/// ggml-quants.c GROUP_MAX_EPS: a group whose largest |x| is below this is all zero.
const GROUP_MAX_EPS: f32 = 1e-15;

/// GGML_FP32_TO_FP16: round to nearest, ties to even (the `half` crate does the same).
fn fp16_bits(x: f32) -> [u8; 2] {
    f16::from_f32(x).to_bits().to_le_bytes()
}

/// GGML_FP16_TO_FP32 of a value just rounded: what the dequantizer will read back.
fn fp16_round_trip(x: f32) -> f32 {
    f16::from_f32(x).to_f32()
}

/// ggml-quants.c `nearest_int`: adding 1.5·2^23 puts the integer in the low mantissa bits
/// (round half to even for |x| < 2^22); bit for bit, including what it gives outside that range.
fn nearest_int(fval: f32) -> i32 {
    let val = fval + 12_582_912.0f32;
    (val.to_bits() as i32 & 0x007f_ffff) - 0x0040_0000
}

/// C's `(int)f` on x86-64 (cvttss2si): truncation toward zero; NaN and out-of-range give
/// INT_MIN (0x80000000), whose low byte is 0 when the result is then stored in a byte.
fn c_trunc_i32(f: f32) -> i32 {
    if !(-2_147_483_648.0..2_147_483_648.0).contains(&f) {
        i32::MIN
    } else {
        f as i32
    }
}

/// `(int8_t)(f)` then used as an int: the truncated value's low byte, sign-extended.
fn c_to_i8(f: f32) -> i32 {
    c_trunc_i32(f) as i8 as i32
}

/// `roundf` (half away from zero) stored into an int8_t.
fn c_roundf_to_i8(f: f32) -> i8 {
    c_trunc_i32(f.round()) as i8
}

fn check_len(x: &[f32], out: &[u8], block: usize, block_bytes: usize) {
    assert!(x.len() % block == 0, "row length {} is not a multiple of the block {block}", x.len());
    assert_eq!(out.len(), x.len() / block * block_bytes, "output buffer size");
}

/// quantize_row_q8_0_ref: d = amax/127 per 32 values, q = roundf(x/d) (half away from zero).
/// block_q8_0 { ggml_half d; int8_t qs[32]; } = 34 bytes.
pub fn quantize_row_q8_0_ref(x: &[f32], out: &mut [u8]) {
    check_len(x, out, QK, 34);
    for (xb, y) in x.chunks_exact(QK).zip(out.chunks_exact_mut(34)) {
        let mut amax = 0.0f32;
        for &v in xb {
            // MAX(amax, fabsf(v)) = amax > |v| ? amax : |v|
            let a = v.abs();
            amax = if amax > a { amax } else { a };
        }
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        y[..2].copy_from_slice(&fp16_bits(d));
        for (j, &v) in xb.iter().enumerate() {
            y[2 + j] = c_roundf_to_i8(v * id) as u8;
        }
    }
}

/// quantize_row_q4_0_ref: d = max/−8 where max is the value of largest |x| (first one wins),
/// q = MIN(15, (int8_t)(x/d + 8.5)). block_q4_0 { d; qs[16] }: element j low nibble, j+16 high.
pub fn quantize_row_q4_0_ref(x: &[f32], out: &mut [u8]) {
    check_len(x, out, QK, 18);
    for (xb, y) in x.chunks_exact(QK).zip(out.chunks_exact_mut(18)) {
        let (mut amax, mut max) = (0.0f32, 0.0f32);
        for &v in xb {
            if amax < v.abs() {
                amax = v.abs();
                max = v;
            }
        }
        let d = max / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        y[..2].copy_from_slice(&fp16_bits(d));
        for j in 0..QK / 2 {
            let x0 = xb[j] * id;
            let x1 = xb[j + QK / 2] * id;
            let q0 = c_to_i8(x0 + 8.5).min(15) as u8;
            let q1 = c_to_i8(x1 + 8.5).min(15) as u8;
            y[2 + j] = q0 | (q1 << 4);
        }
    }
}

/// quantize_row_q4_1_ref: d = (max − min)/15, m = min, q = MIN(15, (int8_t)((x − min)/d + 0.5)).
/// block_q4_1 { d; m; qs[16] }.
pub fn quantize_row_q4_1_ref(x: &[f32], out: &mut [u8]) {
    check_len(x, out, QK, 20);
    for (xb, y) in x.chunks_exact(QK).zip(out.chunks_exact_mut(20)) {
        let (mut min, mut max) = (f32::MAX, -f32::MAX);
        for &v in xb {
            if v < min {
                min = v;
            }
            if v > max {
                max = v;
            }
        }
        let d = (max - min) / 15.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        y[..2].copy_from_slice(&fp16_bits(d));
        y[2..4].copy_from_slice(&fp16_bits(min));
        for j in 0..QK / 2 {
            let x0 = (xb[j] - min) * id;
            let x1 = (xb[j + QK / 2] - min) * id;
            let q0 = c_to_i8(x0 + 0.5).min(15) as u8;
            let q1 = c_to_i8(x1 + 0.5).min(15) as u8;
            y[4 + j] = q0 | (q1 << 4);
        }
    }
}

/// quantize_row_q5_0_ref (llama.cpp's fallback for Q4_K rows that are not whole 256-blocks):
/// d = max/−16, q = MIN(31, (int8_t)(x/d + 16.5)); the fifth bits go to qh (bit j for element j).
/// block_q5_0 { d; uint8_t qh[4]; qs[16] } = 22 bytes.
pub fn quantize_row_q5_0_ref(x: &[f32], out: &mut [u8]) {
    check_len(x, out, QK, 22);
    for (xb, y) in x.chunks_exact(QK).zip(out.chunks_exact_mut(22)) {
        let (mut amax, mut max) = (0.0f32, 0.0f32);
        for &v in xb {
            if amax < v.abs() {
                amax = v.abs();
                max = v;
            }
        }
        let d = max / -16.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        y[..2].copy_from_slice(&fp16_bits(d));
        let mut qh = 0u32;
        for j in 0..QK / 2 {
            let x0 = xb[j] * id;
            let x1 = xb[j + QK / 2] * id;
            let q0 = c_to_i8(x0 + 16.5).min(31) as u8;
            let q1 = c_to_i8(x1 + 16.5).min(31) as u8;
            y[6 + j] = (q0 & 0x0F) | ((q1 & 0x0F) << 4);
            qh |= (((q0 & 0x10) >> 4) as u32) << j;
            qh |= (((q1 & 0x10) >> 4) as u32) << (j + QK / 2);
        }
        y[2..6].copy_from_slice(&qh.to_le_bytes());
    }
}

/// make_qx_quants with rmse_type 1 and no importance weights (the only use Q6_K's reference
/// makes): a symmetric scale for `x` with codes in −nmax..nmax−1 stored as l + nmax in `l_out`,
/// refined over 18 candidate scales by the x²-weighted least-squares fit. Returns the scale.
fn make_qx_quants_rmse1(nmax: i32, x: &[f32], l_out: &mut [i8]) -> f32 {
    let (mut max, mut amax) = (0.0f32, 0.0f32);
    for &v in x {
        let ax = v.abs();
        if ax > amax {
            amax = ax;
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        l_out.iter_mut().for_each(|l| *l = 0);
        return 0.0;
    }
    let nmax_f = nmax as f32;
    let mut iscale = -nmax_f / max;
    let (mut sumlx, mut suml2) = (0.0f32, 0.0f32);
    for (i, &v) in x.iter().enumerate() {
        let l = nearest_int(iscale * v).clamp(-nmax, nmax - 1);
        l_out[i] = (l + nmax) as i8;
        let w = v * v;
        let lf = l as f32;
        sumlx += w * v * lf;
        suml2 += w * lf * lf;
    }
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for is in -9i32..=9 {
        if is == 0 {
            continue;
        }
        // iscale = -(nmax + 0.1f*is) / max
        iscale = -(nmax_f + 0.1f32 * is as f32) / max;
        sumlx = 0.0;
        suml2 = 0.0;
        for &v in x {
            let l = nearest_int(iscale * v).clamp(-nmax, nmax - 1);
            let w = v * v;
            let lf = l as f32;
            sumlx += w * v * lf;
            suml2 += w * lf * lf;
        }
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            for (i, &v) in x.iter().enumerate() {
                let l = nearest_int(iscale * v);
                l_out[i] = (nmax + l.clamp(-nmax, nmax - 1)) as i8;
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// make_qkx2_quants (use_mad = false, as Q4_K's reference calls it): an asymmetric scale and
/// min for `x` with codes 0..nmax in `l_out`, searched over nstep+1 candidate scales
/// (rmin + rdelta·is + nmax)/(max − min) by the weighted least-squares fit of scale and min.
/// Returns (scale, −min).
fn make_qkx2_quants(nmax: i32, x: &[f32], weights: &[f32], l_out: &mut [u8], rmin: f32, rdelta: f32, nstep: i32) -> (f32, f32) {
    let n = x.len();
    let mut laux = [0u8; 32];
    let (mut min, mut max) = (x[0], x[0]);
    let mut sum_w = weights[0];
    let mut sum_x = sum_w * x[0];
    for i in 1..n {
        if x[i] < min {
            min = x[i];
        }
        if x[i] > max {
            max = x[i];
        }
        let w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        l_out.iter_mut().for_each(|l| *l = 0);
        return (0.0, -min);
    }
    let nmax_f = nmax as f32;
    let mut iscale = nmax_f / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best_error = 0.0f32;
    for i in 0..n {
        let l = nearest_int(iscale * (x[i] - min));
        l_out[i] = l.clamp(0, nmax) as u8;
        // diff = scale * L[i] + min - x[i], squared
        let diff = scale * l_out[i] as f32 + min - x[i];
        best_error += weights[i] * (diff * diff);
    }
    if nstep < 1 {
        return (scale, -min);
    }
    for is in 0..=nstep {
        iscale = (rmin + rdelta * is as f32 + nmax_f) / (max - min);
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0.0f32, 0.0f32, 0.0f32);
        for i in 0..n {
            let l = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
            laux[i] = l as u8;
            let w = weights[i];
            let lf = l as f32;
            sum_l += w * lf;
            sum_l2 += w * lf * lf;
            sum_xl += w * lf * x[i];
        }
        let d = sum_w * sum_l2 - sum_l * sum_l;
        if d > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / d;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / d;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let mut cur_error = 0.0f32;
            for i in 0..n {
                let diff = this_scale * laux[i] as f32 + this_min - x[i];
                cur_error += weights[i] * (diff * diff);
            }
            if cur_error < best_error {
                l_out[..n].copy_from_slice(&laux[..n]);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}

/// get_scale_min_k4: the j-th 6-bit scale and min of the 12 packed bytes.
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

/// quantize_row_q4_K_ref: per 32 values make_qkx2_quants(nmax 15, weights av_x + |x|,
/// rmin −1, rdelta 0.1, nstep 20); the 8 scales and 8 mins quantized to 6 bits against fp16
/// d = max_scale/63 and dmin = max_min/63, packed as get_scale_min_k4 reads them; then every
/// value re-quantized against the stored (d·sc, dmin·m). block_q4_K { d; dmin; scales[12]; qs[128] }.
#[allow(non_snake_case)]
pub fn quantize_row_q4_K_ref(x: &[f32], out: &mut [u8]) {
    check_len(x, out, QK_K, 144);
    for (xb, y) in x.chunks_exact(QK_K).zip(out.chunks_exact_mut(144)) {
        let mut l_all = [0u8; QK_K];
        let mut weights = [0f32; 32];
        let mut scales = [0f32; 8];
        let mut mins = [0f32; 8];
        let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
        for j in 0..8 {
            let xs = &xb[32 * j..32 * j + 32];
            let mut sum_x2 = 0.0f32;
            for &v in xs {
                sum_x2 += v * v;
            }
            let av_x = (sum_x2 / 32.0).sqrt();
            for (w, &v) in weights.iter_mut().zip(xs) {
                *w = av_x + v.abs();
            }
            let (s, m) = make_qkx2_quants(15, xs, &weights, &mut l_all[32 * j..32 * j + 32], -1.0, 0.1, 20);
            scales[j] = s;
            mins[j] = m;
            if s > max_scale {
                max_scale = s;
            }
            if m > max_min {
                max_min = m;
            }
        }
        let inv_scale = if max_scale > 0.0 { 63.0 / max_scale } else { 0.0 };
        let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
        let sc = &mut y[4..16];
        sc.iter_mut().for_each(|b| *b = 0);
        for j in 0..8 {
            // uint8_t ls = nearest_int(...): the int's low byte, then MIN(63, ls).
            let ls = (nearest_int(inv_scale * scales[j]) as u8).min(63);
            let lm = (nearest_int(inv_min * mins[j]) as u8).min(63);
            if j < 4 {
                sc[j] = ls;
                sc[j + 4] = lm;
            } else {
                sc[j + 4] = (ls & 0x0F) | ((lm & 0x0F) << 4);
                sc[j - 4] |= (ls >> 4) << 6;
                sc[j] |= (lm >> 4) << 6;
            }
        }
        y[0..2].copy_from_slice(&fp16_bits(max_scale / 63.0));
        y[2..4].copy_from_slice(&fp16_bits(max_min / 63.0));
        let d_all = fp16_round_trip(max_scale / 63.0);
        let dmin_all = fp16_round_trip(max_min / 63.0);
        let packed: [u8; 12] = y[4..16].try_into().expect("12 scale bytes");
        for j in 0..8 {
            let (s, m) = scale_min_k4(j, &packed);
            let d = d_all * s as f32;
            if d == 0.0 {
                continue;
            }
            let dm = dmin_all * m as f32;
            for ii in 0..32 {
                let l = nearest_int((xb[32 * j + ii] + dm) / d);
                l_all[32 * j + ii] = l.clamp(0, 15) as u8;
            }
        }
        let qs = &mut y[16..144];
        for (c, j) in (0..QK_K).step_by(64).enumerate() {
            for l in 0..32 {
                qs[32 * c + l] = l_all[j + l] | (l_all[j + l + 32] << 4);
            }
        }
    }
}

/// quantize_row_q6_K_ref: per 16 values make_qx_quants(nmax 32, rmse_type 1); the 16 scales
/// as int8 against fp16 d = max_scale/−128 (the scale of largest |.|); values re-quantized to
/// −32..31 against d·sc and stored +32 in 4 low bits (ql) and 2 high bits (qh).
/// block_q6_K { ql[128]; qh[64]; int8_t scales[16]; d } = 210 bytes.
#[allow(non_snake_case)]
pub fn quantize_row_q6_K_ref(x: &[f32], out: &mut [u8]) {
    check_len(x, out, QK_K, 210);
    for (xb, y) in x.chunks_exact(QK_K).zip(out.chunks_exact_mut(210)) {
        let mut l_all = [0i8; QK_K];
        let mut scales = [0f32; 16];
        let (mut max_scale, mut max_abs_scale) = (0.0f32, 0.0f32);
        for ib in 0..16 {
            let s = make_qx_quants_rmse1(32, &xb[16 * ib..16 * ib + 16], &mut l_all[16 * ib..16 * ib + 16]);
            scales[ib] = s;
            if s.abs() > max_abs_scale {
                max_abs_scale = s.abs();
                max_scale = s;
            }
        }
        if max_abs_scale < GROUP_MAX_EPS {
            // memset(&y[i], 0, ...) then d = fp16(0): all bytes zero.
            y.iter_mut().for_each(|b| *b = 0);
            continue;
        }
        let iscale = -128.0f32 / max_scale;
        let d_bits = fp16_bits(1.0 / iscale);
        y[208..210].copy_from_slice(&d_bits);
        let d_all = f16::from_bits(u16::from_le_bytes(d_bits)).to_f32();
        let mut sc = [0i8; 16];
        for ib in 0..16 {
            sc[ib] = nearest_int(iscale * scales[ib]).min(127) as i8;
            y[192 + ib] = sc[ib] as u8;
        }
        for j in 0..16 {
            let d = d_all * sc[j] as f32;
            if d == 0.0 {
                continue;
            }
            for ii in 0..16 {
                let l = nearest_int(xb[16 * j + ii] / d).clamp(-32, 31);
                l_all[16 * j + ii] = (l + 32) as i8;
            }
        }
        let lu = |i: usize| l_all[i] as u8;
        for (h, j) in (0..QK_K).step_by(128).enumerate() {
            for l in 0..32 {
                let q1 = lu(j + l) & 0x0F;
                let q2 = lu(j + l + 32) & 0x0F;
                let q3 = lu(j + l + 64) & 0x0F;
                let q4 = lu(j + l + 96) & 0x0F;
                y[64 * h + l] = q1 | (q3 << 4);
                y[64 * h + l + 32] = q2 | (q4 << 4);
                // (L >> 4) of an int8_t: arithmetic shift; the codes are 0..63 so it is 0..3.
                let hi = |i: usize| (l_all[i] >> 4) as u8;
                y[128 + 32 * h + l] = hi(j + l) | (hi(j + l + 32) << 2) | (hi(j + l + 64) << 4) | (hi(j + l + 96) << 6);
            }
        }
    }
}

/// F16 as GGUF stores it: each value rounded to nearest even (ggml_fp32_to_fp16_row).
pub fn quantize_row_f16(x: &[f32], out: &mut [u8]) {
    assert_eq!(out.len(), x.len() * 2, "output buffer size");
    for (v, o) in x.iter().zip(out.chunks_exact_mut(2)) {
        o.copy_from_slice(&fp16_bits(*v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_int_rounds_half_to_even() {
        assert_eq!(nearest_int(0.5), 0);
        assert_eq!(nearest_int(1.5), 2);
        assert_eq!(nearest_int(2.5), 2);
        assert_eq!(nearest_int(-0.5), 0);
        assert_eq!(nearest_int(-1.5), -2);
        assert_eq!(nearest_int(7.49), 7);
    }

    #[test]
    fn q8_0_hand_worked_block() {
        // amax 127 → d = 1, q = roundf(x): 2.5 → 3 and −2.5 → −3 (half away from zero, unlike nearest_int).
        let mut x = [0f32; 32];
        x[0] = 127.0;
        x[1] = 2.5;
        x[2] = -2.5;
        let mut out = [0u8; 34];
        quantize_row_q8_0_ref(&x, &mut out);
        assert_eq!(&out[..2], &f16::from_f32(1.0).to_bits().to_le_bytes());
        assert_eq!((out[2] as i8, out[3] as i8, out[4] as i8, out[5] as i8), (127, 3, -3, 0));
    }

    #[test]
    fn q4_0_hand_worked_block() {
        // max = −8 (largest |x|) → d = 1, id = 1: q = (int8)(x + 8.5), so −8 → 0, 7 → 15, 0.5 → 9.
        let mut x = [0f32; 32];
        x[0] = -8.0;
        x[1] = 7.0;
        x[16] = 0.5;
        let mut out = [0u8; 18];
        quantize_row_q4_0_ref(&x, &mut out);
        assert_eq!(&out[..2], &f16::from_f32(1.0).to_bits().to_le_bytes());
        assert_eq!(out[2], 9 << 4); // element 0 → 0 (low), element 16 → 9 (high)
        assert_eq!(out[3], 15 | (8 << 4)); // element 1 → 15, element 17 (0) → 8
    }
}
