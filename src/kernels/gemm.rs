//! Matrix multiplication: weight packing (done once), activation packing (per call), the public
//! entry points, and the parts shared by every build (fixed-point requantization). Everything here
//! takes codes, scales and zero points as plain numbers; choosing them from f32 values is the
//! numerics contract's job (quant::dynamic).
//!
//! Shapes follow torch.nn.Linear: weights W are [n, k] (out, in), activations X are [m, k] row-major,
//! and every entry point computes Y[m, n] = X · Wᵀ.
//!
//! The inner loops live in `scalar.rs` (the reference) and `simd128.rs` / `relaxed.rs`, as twins of the
//! same name and signature: `gemm_f32_packed`, `gemm_i8_packed`, `gemm_i4_packed`. The scalar twin
//! reads the packed layouts element by element through the `at` accessors; since a layout bug both
//! twins share would go unnoticed by the twin tests, tests/kernels.rs also checks every entry point
//! against plain loops over the unpacked inputs.

use super::{Codes, ScaleDType};
use crate::error::{Error, Result};

/// Output columns per packed weight panel (two 4-lane vectors).
pub const NR: usize = 8;
/// Rows of the integer micro-tile (the last block of a matrix may be shorter).
pub const MR_INT: usize = 4;
/// Rows of the f32 micro-tile.
pub const MR_F32: usize = 4;

fn round_up(x: usize, m: usize) -> usize {
    x.div_ceil(m) * m
}

fn check(cond: bool, msg: impl FnOnce() -> String) -> Result<()> {
    if cond {
        Ok(())
    } else {
        Err(Error::InvalidSpec(msg()))
    }
}

// ---------------------------------------------------------------------------------------------
// f32 weights

/// f32 weights in panels of NR output columns: for each k, NR consecutive floats (zero padded).
#[derive(Debug, Clone, PartialEq)]
pub struct PackedF32 {
    pub n: usize,
    pub k: usize,
    pub data: Vec<f32>,
}

impl PackedF32 {
    /// Packs W [n, k] row-major.
    pub fn pack(w: &[f32], n: usize, k: usize) -> Result<Self> {
        check(w.len() == n * k, || format!("weights: {} values for [{n}, {k}]", w.len()))?;
        let panels = n.div_ceil(NR);
        let mut data = vec![0.0f32; panels * k * NR];
        for j in 0..n {
            let (p, c) = (j / NR, j % NR);
            for kk in 0..k {
                data[p * k * NR + kk * NR + c] = w[j * k + kk];
            }
        }
        Ok(PackedF32 { n, k, data })
    }

    pub fn panels(&self) -> usize {
        self.n.div_ceil(NR)
    }

    /// W[j, kk] read back from the packed layout.
    #[inline]
    pub fn at(&self, j: usize, kk: usize) -> f32 {
        self.data[(j / NR) * self.k * NR + kk * NR + j % NR]
    }
}

// ---------------------------------------------------------------------------------------------
// int8 weights

/// int8 weights, stored as int8 (never widened), in panels of NR columns. K is padded to a multiple
/// of 4 with zeros. Within a panel, each pair of k (2t, 2t+1) takes 16 bytes: columns 0..4 then 4..8,
/// each column's two values adjacent — the order i32x4.dot_i16x8_s wants once the bytes are
/// sign-extended in registers.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedI8 {
    pub n: usize,
    pub k: usize,
    /// k rounded up to a multiple of 4.
    pub kp: usize,
    pub data: Vec<i8>,
    /// Per output channel, padded to a whole panel: zero point zw (0 when symmetric).
    pub zero_points: Vec<i32>,
    /// Per output channel, padded: Σ_k w − k·zw, the column term of the zero-point correction.
    pub col_terms: Vec<i32>,
    /// Per output channel, padded: the weight scale (dynamic f32 output).
    pub scales: Vec<f32>,
}

impl PackedI8 {
    /// Packs int8 codes W [n, k] with per-channel scales and zero points (one each, or one per channel).
    pub fn pack(codes: &[i8], n: usize, k: usize, scales: &[f32], zero_points: &[i32]) -> Result<Self> {
        check(codes.len() == n * k, || format!("weights: {} codes for [{n}, {k}]", codes.len()))?;
        check(scales.len() == n || scales.len() == 1, || format!("{} weight scales for {n} channels", scales.len()))?;
        check(zero_points.len() == n || zero_points.len() == 1, || {
            format!("{} weight zero points for {n} channels", zero_points.len())
        })?;
        let kp = round_up(k.max(1), 4);
        let panels = n.div_ceil(NR);
        let mut data = vec![0i8; panels * kp * NR];
        let mut zp = vec![0i32; panels * NR];
        let mut col_terms = vec![0i32; panels * NR];
        let mut sc = vec![0.0f32; panels * NR];
        for j in 0..n {
            let z = zero_points[if zero_points.len() == 1 { 0 } else { j }];
            let mut sum = 0i32;
            for kk in 0..k {
                let c = codes[j * k + kk];
                data[Self::offset(kp, j, kk)] = c;
                sum = sum.wrapping_add(c as i32);
            }
            zp[j] = z;
            col_terms[j] = sum.wrapping_sub((k as i32).wrapping_mul(z));
            sc[j] = scales[if scales.len() == 1 { 0 } else { j }];
        }
        Ok(PackedI8 { n, k, kp, data, zero_points: zp, col_terms, scales: sc })
    }


    #[inline]
    fn offset(kp: usize, j: usize, kk: usize) -> usize {
        let (p, c) = (j / NR, j % NR);
        p * kp * NR + (kk / 2) * 16 + (c / 4) * 8 + (c % 4) * 2 + kk % 2
    }

    pub fn panels(&self) -> usize {
        self.n.div_ceil(NR)
    }

    #[inline]
    pub fn at(&self, j: usize, kk: usize) -> i8 {
        self.data[Self::offset(self.kp, j, kk)]
    }
}

// ---------------------------------------------------------------------------------------------
// int4 weights

/// 4-bit weights in panels of NR columns, two per byte, as unsigned nibbles u in 0..=15 (symmetric
/// codes q in −8..=7 are stored as u = q + 8, so one kernel serves both schemes and the relaxed build
/// can use them as the 7-bit operand of relaxed_dot). Per 4 consecutive k, 16 bytes: byte
/// (c/4)·8 + (c%4)·2 + (k%2) holds column c, the low nibble for k%4 ∈ {0,1}, the high nibble for {2,3}.
/// This is a reordering of the contract's layout (element 2i in the low nibble), done once.
/// Scales and zero points: one per (group of `group` consecutive k, column), panel-major.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedI4 {
    pub n: usize,
    pub k: usize,
    pub kp: usize,
    pub group: usize,
    pub data: Vec<u8>,
    /// [panel][group][NR], as stored (f32 or f16 bits).
    pub scales: I4Scales,
    /// [panel][group][NR] zero points of the unsigned nibbles: None means 8 everywhere (symmetric).
    pub zero_points: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum I4Scales {
    F32(Vec<f32>),
    /// IEEE half bits; finite and positive by construction (degenerate groups get scale 1).
    F16(Vec<u16>),
}

impl PackedI4 {
    pub fn groups(&self) -> usize {
        self.k.div_ceil(self.group)
    }

    pub fn panels(&self) -> usize {
        self.n.div_ceil(NR)
    }

    #[inline]
    fn byte_offset(kp: usize, j: usize, kk: usize) -> usize {
        let (p, c) = (j / NR, j % NR);
        p * (kp / 4) * 16 + (kk / 4) * 16 + (c / 4) * 8 + (c % 4) * 2 + kk % 2
    }

    /// The unsigned nibble u of W[j, kk].
    #[inline]
    pub fn at(&self, j: usize, kk: usize) -> u8 {
        let b = self.data[Self::byte_offset(self.kp, j, kk)];
        if kk % 4 < 2 {
            b & 0x0F
        } else {
            b >> 4
        }
    }

    #[inline]
    pub fn slot(&self, j: usize, g: usize) -> usize {
        ((j / NR) * self.groups() + g) * NR + j % NR
    }

    /// Scale of column j, group g, as f32 (exact for f16).
    #[inline]
    pub fn scale(&self, j: usize, g: usize) -> f32 {
        match &self.scales {
            I4Scales::F32(s) => s[self.slot(j, g)],
            I4Scales::F16(s) => half::f16::from_bits(s[self.slot(j, g)]).to_f32(),
        }
    }

    #[inline]
    pub fn zero_point(&self, j: usize, g: usize) -> u8 {
        match &self.zero_points {
            Some(z) => z[self.slot(j, g)],
            None => 8,
        }
    }

    /// Packs 4-bit codes given one per element ([n, k] row-major; i8 in −8..=7 when symmetric, u8 in
    /// 0..=15 when asymmetric), with scales and zero points per (row j, group g) in row-major [n, groups].
    pub fn pack(
        codes: &Codes,
        n: usize,
        k: usize,
        group: usize,
        scales: &[f32],
        zero_points: &[i32],
        scale_dtype: ScaleDType,
    ) -> Result<Self> {
        check(group >= 4 && group % 4 == 0, || format!("group size {group}: must be a multiple of 4"))?;
        check(codes.len() == n * k, || format!("weights: {} codes for [{n}, {k}]", codes.len()))?;
        let groups = k.div_ceil(group);
        check(scales.len() == n * groups, || format!("{} scales for {n}×{groups} groups", scales.len()))?;
        let kp = round_up(k.max(1), 4);
        let panels = n.div_ceil(NR);
        let mut data = vec![0u8; panels * (kp / 4) * 16];
        let symmetric = matches!(codes, Codes::I8(_));
        for j in 0..n {
            for kk in 0..k {
                let u = match codes {
                    Codes::I8(c) => {
                        check((-8..=7).contains(&c[j * k + kk]), || "symmetric int4 codes must be in -8..=7".into())?;
                        (c[j * k + kk] + 8) as u8
                    }
                    Codes::U8(c) => {
                        check(c[j * k + kk] <= 15, || "asymmetric int4 codes must be in 0..=15".into())?;
                        c[j * k + kk]
                    }
                };
                let o = Self::byte_offset(kp, j, kk);
                data[o] |= if kk % 4 < 2 { u } else { u << 4 };
            }
        }
        let slots = panels * groups * NR;
        let slot = |j: usize, g: usize| ((j / NR) * groups + g) * NR + j % NR;
        let mut s32 = vec![0.0f32; slots];
        let mut zps = vec![8u8; slots];
        for j in 0..n {
            for g in 0..groups {
                let s = scales[j * groups + g];
                check(s.is_finite() && s > 0.0, || format!("scale {s} of row {j} group {g} must be finite and positive"))?;
                s32[slot(j, g)] = s;
                if !symmetric {
                    let z = zero_points[j * groups + g];
                    check((0..=15).contains(&z), || format!("int4 zero point {z} out of 0..=15"))?;
                    zps[slot(j, g)] = z as u8;
                }
            }
        }
        let scales = match scale_dtype {
            ScaleDType::F32 => I4Scales::F32(s32),
            ScaleDType::F16 => I4Scales::F16(s32.iter().map(|&s| half::f16::from_f32(s).to_bits()).collect()),
        };
        Ok(PackedI4 { n, k, kp, group, data, scales, zero_points: if symmetric { None } else { Some(zps) } })
    }


    /// Bytes stored: nibbles + scales + zero points (one byte per group when asymmetric).
    pub fn stored_bytes(&self) -> usize {
        self.data.len()
            + match &self.scales {
                I4Scales::F32(s) => s.len() * 4,
                I4Scales::F16(s) => s.len() * 2,
            }
            + self.zero_points.as_ref().map_or(0, |z| z.len())
    }
}

// ---------------------------------------------------------------------------------------------
// Activations

/// Integer activations [m, k] packed for the integer kernels: widened to i16 (activations are
/// per-call scratch; only weights must stay narrow), rows in blocks of MR_INT (the last block may be
/// shorter), and within a block of R rows, for each pair of k, R words (a[r][2t], a[r][2t+1]) —
/// the word v128.load32_splat broadcasts. K is padded to a multiple of 4 with zeros.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedActs {
    pub m: usize,
    pub k: usize,
    pub kp: usize,
    pub data: Vec<i16>,
    /// Per row: Σ_k a.
    pub row_sums: Vec<i32>,
    /// Per row: activation zero point za.
    pub zero_points: Vec<i32>,
    /// Per row: activation scale (dynamic f32 output; 1 when not given).
    pub scales: Vec<f32>,
    /// Group size of `group_sums` (0 when absent).
    pub group: usize,
    /// Per row and group of k: Σ a over the group (the INT4 zero-point correction).
    pub group_sums: Vec<i32>,
    /// s8 codes only: the same values as i8, in blocks like `data` but per 4 consecutive k, R words of
    /// 4 bytes (a[r][4t..4t+4]) — the operand the relaxed build's i8×i7 dot broadcasts. Empty for u8.
    pub quads: Vec<i8>,
    /// Whether the codes are s8 (else u8).
    pub signed: bool,
    /// Every code as u8 — u8 codes as they are, s8 codes re-centred to a + 128 — laid out like
    /// `quads`: the unsigned operand of the relaxed build's INT8 kernel on engines whose relaxed dot
    /// multiplies u8 × s8 exactly (relaxed.rs).
    pub unsigned_quads: Vec<u8>,
}

/// A u8 or s8 activation code.
pub trait ActCode: Copy {
    const SIGNED: bool;
    fn to_i16(self) -> i16;
}
impl ActCode for u8 {
    const SIGNED: bool = false;
    #[inline(always)]
    fn to_i16(self) -> i16 {
        self as i16
    }
}
impl ActCode for i8 {
    const SIGNED: bool = true;
    #[inline(always)]
    fn to_i16(self) -> i16 {
        self as i16
    }
}

impl PackedActs {
    /// Packs codes [m, k] with per-row (or one) zero points and scales. `group` > 0 also keeps Σa per
    /// group of k (needed by the INT4 kernel).
    pub fn pack<C: ActCode>(a: &[C], m: usize, k: usize, zero_points: &[i32], scales: &[f32], group: usize) -> Result<Self> {
        check(a.len() == m * k, || format!("activations: {} codes for [{m}, {k}]", a.len()))?;
        check(zero_points.len() == m || zero_points.len() == 1, || format!("{} activation zero points for {m} rows", zero_points.len()))?;
        check(scales.len() == m || scales.len() == 1, || format!("{} activation scales for {m} rows", scales.len()))?;
        let kp = round_up(k.max(1), 4);
        let mut data = vec![0i16; m * kp];
        let groups = if group > 0 { k.div_ceil(group) } else { 0 };
        let mut group_sums = vec![0i32; m * groups];
        let mut row_sums = vec![0i32; m];
        let mut quads = if C::SIGNED { vec![0i8; m * kp] } else { Vec::new() };
        let mut unsigned_quads = vec![0u8; m * kp];
        for r0 in (0..m).step_by(MR_INT) {
            let rows = MR_INT.min(m - r0);
            let block = r0 * kp;
            for r in 0..rows {
                let row = &a[(r0 + r) * k..(r0 + r + 1) * k];
                row_sums[r0 + r] = row.iter().map(|&c| c.to_i16() as i32).sum();
                if groups > 0 {
                    for (g, part) in row.chunks(group).enumerate() {
                        group_sums[(r0 + r) * groups + g] = part.iter().map(|&c| c.to_i16() as i32).sum();
                    }
                }
            }
            // Per 4 consecutive k (the padding stays 0): two k pairs of `data` and one word of the
            // quads per row, so the block is written in order.
            let (data_block, unsigned_block) = (&mut data[block..block + rows * kp], &mut unsigned_quads[block..block + rows * kp]);
            for (q, (pairs, words)) in data_block.chunks_exact_mut(4 * rows).zip(unsigned_block.chunks_exact_mut(4 * rows)).enumerate() {
                for r in 0..rows {
                    let row = &a[(r0 + r) * k..(r0 + r + 1) * k];
                    for (e, &c) in row[(4 * q).min(k)..(4 * q + 4).min(k)].iter().enumerate() {
                        let v = c.to_i16();
                        pairs[(e / 2) * rows * 2 + r * 2 + e % 2] = v;
                        words[r * 4 + e] = if C::SIGNED { (v + 128) as u8 } else { v as u8 };
                        if C::SIGNED {
                            quads[block + q * rows * 4 + r * 4 + e] = v as i8;
                        }
                    }
                }
            }
        }
        let expand_i = |v: &[i32]| if v.len() == 1 { vec![v[0]; m] } else { v.to_vec() };
        let expand_f = |v: &[f32]| if v.len() == 1 { vec![v[0]; m] } else { v.to_vec() };
        Ok(PackedActs {
            m,
            k,
            kp,
            data,
            row_sums,
            zero_points: expand_i(zero_points),
            scales: expand_f(scales),
            group,
            group_sums,
            quads,
            signed: C::SIGNED,
            unsigned_quads,
        })
    }

    /// a[r, kk] read back from the packed layout.
    #[inline]
    pub fn at(&self, r: usize, kk: usize) -> i16 {
        let r0 = r / MR_INT * MR_INT;
        let rows = MR_INT.min(self.m - r0);
        self.data[r0 * self.kp + (kk / 2) * rows * 2 + (r - r0) * 2 + kk % 2]
    }

    /// a[r, kk] as u8 (s8 codes + 128) read back from `unsigned_quads`; kk < kp (the padding is 0).
    #[inline]
    pub fn unsigned_at(&self, r: usize, kk: usize) -> u8 {
        let r0 = r / MR_INT * MR_INT;
        let rows = MR_INT.min(self.m - r0);
        self.unsigned_quads[r0 * self.kp + (kk / 4) * rows * 4 + (r - r0) * 4 + kk % 4]
    }
}

// ---------------------------------------------------------------------------------------------
// Outputs of the integer GEMM

/// What the INT8 kernel writes, after the zero-point correction
/// Σ(a−za)(w−zw) = Σaw − zw·Σa − za·(Σw − k·zw) (Jacob et al. 2017, eq. 7; gemmlowp).
pub enum I8Output<'a> {
    /// The corrected i32 accumulators.
    I32(&'a mut [i32]),
    /// Dynamic: acc as f32 × (activation scale[row] × weight scale[col]) + bias[col].
    F32 { out: &'a mut [f32], bias: &'a [f32] },
    /// Static: TFLite's int8 output stage (bias, MultiplyByQuantizedMultiplier, zero point, clamp).
    I8 { out: &'a mut [i8], requant: &'a Requant },
}

/// Per-channel requantization to int8, TFLite's reference semantics
/// (tensorflow/lite/kernels/internal/reference/integer_ops/fully_connected.h).
#[derive(Debug, Clone, PartialEq)]
pub struct Requant {
    /// Per output channel (or one): i32 bias added to the accumulator.
    pub bias: Vec<i32>,
    /// Per output channel (or one): Q31 multiplier M0 and shift, from `quantize_multiplier`.
    pub multipliers: Vec<i32>,
    pub shifts: Vec<i32>,
    pub output_zero_point: i32,
    pub act_min: i32,
    pub act_max: i32,
}

impl Requant {
    /// Requantization for real multipliers sa·sw[c]/sy, one per channel.
    pub fn from_real(real_multipliers: &[f64], bias: Vec<i32>, output_zero_point: i32) -> Self {
        let (multipliers, shifts) = real_multipliers.iter().map(|&m| quantize_multiplier(m)).unzip();
        Requant { bias, multipliers, shifts, output_zero_point, act_min: -128, act_max: 127 }
    }

    /// The int8 output of one corrected accumulator in column `col`.
    #[inline]
    pub fn apply(&self, acc: i32, col: usize) -> i8 {
        let pick = |v: &[i32]| if v.len() == 1 { v[0] } else { v[col] };
        let b = if self.bias.is_empty() { 0 } else { pick(&self.bias) };
        let x = multiply_by_quantized_multiplier(acc.wrapping_add(b), pick(&self.multipliers), pick(&self.shifts));
        x.wrapping_add(self.output_zero_point).clamp(self.act_min, self.act_max) as i8
    }
}

/// gemmlowp's SaturatingRoundingDoublingHighMul: round((a·b)/2^31) with the nudge of the reference
/// code (C++ division truncates toward zero), saturating the one overflow INT32_MIN × INT32_MIN.
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == b && a == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp's RoundingDivideByPOT: x / 2^exponent rounded half away from zero.
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    debug_assert!((0..=31).contains(&exponent));
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + (x < 0) as i32;
    (x >> exponent) + (remainder > threshold) as i32
}

/// TFLite's MultiplyByQuantizedMultiplier (double rounding, the default build): x · M0 · 2^shift.
pub fn multiply_by_quantized_multiplier(x: i32, quantized_multiplier: i32, shift: i32) -> i32 {
    let left = if shift > 0 { shift } else { 0 };
    let right = if shift > 0 { 0 } else { -shift };
    // TFLite multiplies in int32 (overflow is the caller's problem there); wrapping here is defined.
    rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x.wrapping_mul(1i32.wrapping_shl(left as u32)), quantized_multiplier), right)
}

/// TFLite's QuantizeMultiplier: real = M0 · 2^(shift − 31) with M0 in [2^30, 2^31) (or 0).
pub fn quantize_multiplier(real: f64) -> (i32, i32) {
    if real == 0.0 {
        return (0, 0);
    }
    let (q, mut shift) = frexp(real);
    // TfLiteRound is std::round: half away from zero.
    let mut q_fixed = (q * (1i64 << 31) as f64).round() as i64;
    if q_fixed == 1i64 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        shift = 0;
        q_fixed = 0;
    }
    if shift > 30 {
        shift = 30;
        q_fixed = (1i64 << 31) - 1;
    }
    (q_fixed as i32, shift)
}

/// C's frexp for finite nonzero x: x = q · 2^e with 0.5 ≤ |q| < 1.
fn frexp(x: f64) -> (f64, i32) {
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7FF) as i32;
    if exp == 0 {
        // Subnormal: scale up first.
        let (q, e) = frexp(x * (1u64 << 54) as f64);
        return (q, e - 54);
    }
    let q = f64::from_bits((bits & !(0x7FFu64 << 52)) | (1022u64 << 52));
    (q, exp - 1022)
}

// ---------------------------------------------------------------------------------------------
// Entry points

fn check_out(len: usize, m: usize, n: usize) -> Result<()> {
    check(len == m * n, || format!("output has {len} elements, [{m}, {n}] needs {}", m * n))
}

/// Y = X · Wᵀ in f32 (+ bias). X is [m, k] row-major.
pub fn gemm_f32(x: &[f32], m: usize, w: &PackedF32, bias: Option<&[f32]>, out: &mut [f32]) -> Result<()> {
    check(x.len() == m * w.k, || format!("activations: {} values for [{m}, {}]", x.len(), w.k))?;
    check_out(out.len(), m, w.n)?;
    let zeros;
    let bias = match bias {
        Some(b) => {
            check(b.len() == w.n, || format!("{} bias values for {} channels", b.len(), w.n))?;
            b
        }
        None => {
            zeros = vec![0.0f32; w.n];
            &zeros
        }
    };
    super::gemm_f32_packed(x, m, w, bias, out);
    Ok(())
}

fn check_i8(a: &PackedActs, w: &PackedI8) -> Result<()> {
    check(a.k == w.k, || format!("activations have k = {}, weights k = {}", a.k, w.k))
}

/// The integer GEMM on packed operands, any output stage.
pub fn gemm_i8(a: &PackedActs, w: &PackedI8, out: I8Output) -> Result<()> {
    check_i8(a, w)?;
    match &out {
        I8Output::I32(o) => check_out(o.len(), a.m, w.n)?,
        I8Output::F32 { out, bias } => {
            check_out(out.len(), a.m, w.n)?;
            check(bias.len() == w.n, || format!("{} bias values for {} channels", bias.len(), w.n))?;
        }
        I8Output::I8 { out, requant } => {
            check_out(out.len(), a.m, w.n)?;
            for (name, v) in [("bias", &requant.bias), ("multipliers", &requant.multipliers), ("shifts", &requant.shifts)] {
                check(v.len() == w.n || v.len() == 1 || (name == "bias" && v.is_empty()), || {
                    format!("{} requantization {name} for {} channels", v.len(), w.n)
                })?;
            }
            check(requant.shifts.iter().all(|s| (-31..=30).contains(s)), || "requantization shifts must be in -31..=30".into())?;
        }
    }
    super::gemm_i8_packed(a, w, out);
    Ok(())
}

/// u8 activations (zero point `a_zero_point`) × packed s8 weights → corrected i32, [m, n].
pub fn gemm_u8s8_i32(a: &[u8], m: usize, a_zero_point: i32, w: &PackedI8) -> Result<Vec<i32>> {
    let a = PackedActs::pack(a, m, w.k, &[a_zero_point], &[1.0], 0)?;
    let mut out = vec![0i32; m * w.n];
    gemm_i8(&a, w, I8Output::I32(&mut out))?;
    Ok(out)
}

/// s8 activations × packed s8 weights → corrected i32, [m, n].
pub fn gemm_s8s8_i32(a: &[i8], m: usize, a_zero_point: i32, w: &PackedI8) -> Result<Vec<i32>> {
    let a = PackedActs::pack(a, m, w.k, &[a_zero_point], &[1.0], 0)?;
    let mut out = vec![0i32; m * w.n];
    gemm_i8(&a, w, I8Output::I32(&mut out))?;
    Ok(out)
}

/// INT4 weights × int8 activations → f32: y = sa[row] · Σ_g s[g, col] · Σ_{k∈g} a·(u − z[g, col]) + bias.
/// The activations must be symmetric (zero point 0) and packed with group sums of the weights' group.
pub fn gemm_i4(a: &PackedActs, w: &PackedI4, bias: Option<&[f32]>, out: &mut [f32]) -> Result<()> {
    check(a.k == w.k, || format!("activations have k = {}, weights k = {}", a.k, w.k))?;
    check(a.group == w.group, || format!("activations packed with group {}, weights use {}", a.group, w.group))?;
    check(a.zero_points.iter().all(|&z| z == 0) && a.quads.len() == a.m * a.kp, || {
        "INT4 kernel takes symmetric s8 activations (zero point 0)".into()
    })?;
    check_out(out.len(), a.m, w.n)?;
    let zeros;
    let bias = match bias {
        Some(b) => {
            check(b.len() == w.n, || format!("{} bias values for {} channels", b.len(), w.n))?;
            b
        }
        None => {
            zeros = vec![0.0f32; w.n];
            &zeros
        }
    };
    super::gemm_i4_packed(a, w, bias, out);
    Ok(())
}
