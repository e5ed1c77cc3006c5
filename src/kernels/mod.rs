//! Hot loops and their dispatch. `scalar` is the reference; `simd128` is used on wasm32 when the
//! build has the simd128 target feature (the default build: .cargo/config.toml). Natively the scalar
//! twin runs, so every number can be reproduced outside the browser.

pub mod scalar;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod simd128;

/// Elements per f32 partial-sum block in the error reductions, before the block is added in f64.
/// Short enough that f32 lanes lose nothing that matters, long enough to stay fast.
pub const LANE_BLOCK: usize = 64;

/// How the scales are stored (and so how precisely they dequantize).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ScaleDType {
    #[default]
    F32,
    F16,
}

/// Integer codes as stored before packing: i8 for symmetric schemes, u8 for asymmetric ones.
#[derive(Debug, Clone, PartialEq)]
pub enum Codes {
    I8(Vec<i8>),
    U8(Vec<u8>),
}

impl Codes {
    pub fn len(&self) -> usize {
        match self {
            Codes::I8(v) => v.len(),
            Codes::U8(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn get(&self, i: usize) -> i32 {
        match self {
            Codes::I8(v) => v[i] as i32,
            Codes::U8(v) => v[i] as i32,
        }
    }
    pub fn to_i32(&self) -> Vec<i32> {
        match self {
            Codes::I8(v) => v.iter().map(|&c| c as i32).collect(),
            Codes::U8(v) => v.iter().map(|&c| c as i32).collect(),
        }
    }
}

/// A stored integer code: i8 for symmetric schemes, u8 for asymmetric ones.
pub trait Code: Copy + Default + Send + Sync + 'static {
    const SIGNED: bool;
    /// Narrows an in-range code (the caller has clamped it).
    fn narrow(q: i32) -> Self;
    fn widen(self) -> i32;
}

impl Code for i8 {
    const SIGNED: bool = true;
    #[inline(always)]
    fn narrow(q: i32) -> Self {
        q as i8
    }
    #[inline(always)]
    fn widen(self) -> i32 {
        self as i32
    }
}

impl Code for u8 {
    const SIGNED: bool = false;
    #[inline(always)]
    fn narrow(q: i32) -> Self {
        q as u8
    }
    #[inline(always)]
    fn widen(self) -> i32 {
        self as i32
    }
}

/// Sums the error metrics are made of, over the finite elements of x.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ErrorSums {
    pub sum_xx: f64,
    pub sum_yy: f64,
    pub sum_xy: f64,
    pub sum_ee: f64,
    pub max_abs_err: f32,
}

impl ErrorSums {
    /// Adds four f32 lane partials in a fixed order (the same in both twins).
    #[inline]
    pub(crate) fn add_lanes(&mut self, xx: [f32; 4], yy: [f32; 4], xy: [f32; 4], ee: [f32; 4]) {
        let fold = |v: [f32; 4]| ((v[0] + v[2]) + (v[1] + v[3])) as f64;
        self.sum_xx += fold(xx);
        self.sum_yy += fold(yy);
        self.sum_xy += fold(xy);
        self.sum_ee += fold(ee);
    }

    pub fn merge(&mut self, other: &ErrorSums) {
        self.sum_xx += other.sum_xx;
        self.sum_yy += other.sum_yy;
        self.sum_xy += other.sum_xy;
        self.sum_ee += other.sum_ee;
        if self.max_abs_err < other.max_abs_err || other.max_abs_err.is_nan() {
            self.max_abs_err = other.max_abs_err;
        }
    }
}

macro_rules! dispatch {
    ($name:ident ( $($arg:expr),* )) => {{
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        { simd128::$name($($arg),*) }
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        { scalar::$name($($arg),*) }
    }};
}

/// Min and max of the finite values and the count of non-finite ones; (+Inf, −Inf, n) when none is finite.
pub fn min_max_finite(x: &[f32]) -> (f32, f32, usize) {
    dispatch!(min_max_finite(x))
}

/// q = clamp(round_half_even(x / scale) + zero_point, qmin, qmax); NaN → zero_point. Returns the clipped count.
pub fn quantize<C: Code>(x: &[f32], scale: f32, zero_point: i32, qmin: i32, qmax: i32, out: &mut [C]) -> usize {
    dispatch!(quantize(x, scale, zero_point, qmin, qmax, out))
}

/// x̂ = (q − zero_point) · scale.
pub fn dequantize<C: Code>(q: &[C], scale: f32, zero_point: i32, out: &mut [f32]) {
    dispatch!(dequantize(q, scale, zero_point, out))
}

/// Error sums between x and the dequantized codes, without storing x̂.
pub fn error_sums<C: Code>(x: &[f32], q: &[C], scale: f32, zero_point: i32) -> ErrorSums {
    dispatch!(error_sums(x, q, scale, zero_point))
}

/// Error sums between x and a reconstruction x̂ (FP16/BF16 casts).
pub fn error_sums_f32(x: &[f32], y: &[f32]) -> ErrorSums {
    dispatch!(error_sums_f32(x, y))
}

/// The integer round trip x̂ = clamp(round_half_even(x / scale), lo, hi) · scale (lo, hi: the code
/// range minus the zero point) measured in one read: x's LANE_BLOCK blocks added onto `run` (x starts
/// on a block boundary of the run; only a block where the run ends may be short). `all_finite`: the
/// caller knows x holds no NaN or ±Inf (a faster path, the same result). Returns the clipped count.
pub fn quantize_error_blocks(run: &mut ErrorSums, x: &[f32], scale: f32, lo: f32, hi: f32, all_finite: bool) -> usize {
    dispatch!(quantize_error_blocks(run, x, scale, lo, hi, all_finite))
}

/// Whole runs of `run_len` elements back to back (the groups of a chunk), run j quantized with
/// `params(j)` = (scale, lo, hi): each measured as `quantize_error_blocks` from zero sums and merged
/// onto `total` in order. Returns the clipped count.
pub fn quantize_error_runs(total: &mut ErrorSums, x: &[f32], run_len: usize, params: impl Fn(usize) -> (f32, f32, f32), all_finite: bool) -> usize {
    dispatch!(quantize_error_runs(total, x, run_len, params, all_finite))
}

/// FP32 against itself, blocks onto `run` as `quantize_error_blocks` (the sums of x; the error is zero).
pub fn f32_error_blocks(run: &mut ErrorSums, x: &[f32], all_finite: bool) {
    dispatch!(f32_error_blocks(run, x, all_finite))
}

/// The BF16 cast (round to nearest even) measured in one read, blocks onto `run` as `quantize_error_blocks`.
pub fn bf16_error_blocks(run: &mut ErrorSums, x: &[f32], all_finite: bool) {
    dispatch!(bf16_error_blocks(run, x, all_finite))
}

/// The FP16 cast (round to nearest even, ±Inf past 65504) measured in one read, blocks onto `run`
/// as `quantize_error_blocks`.
pub fn f16_error_blocks(run: &mut ErrorSums, x: &[f32], all_finite: bool) {
    dispatch!(f16_error_blocks(run, x, all_finite))
}

/// How many of x are NaN or ±Inf.
pub fn count_nonfinite(x: &[f32]) -> usize {
    dispatch!(count_nonfinite(x))
}

/// Little-endian f32 element bytes into `out` (4 bytes each); returns how many are not finite.
pub fn decode_f32_le(bytes: &[u8], out: &mut [f32]) -> usize {
    dispatch!(decode_f32_le(bytes, out))
}

/// Little-endian f16 element bytes into `out`, exactly (half's `to_f32`); returns how many are not finite.
pub fn decode_f16_le(bytes: &[u8], out: &mut [f32]) -> usize {
    dispatch!(decode_f16_le(bytes, out))
}

/// Little-endian bf16 element bytes into `out`, exactly (half's `to_f32`); returns how many are not finite.
pub fn decode_bf16_le(bytes: &[u8], out: &mut [f32]) -> usize {
    dispatch!(decode_bf16_le(bytes, out))
}

/// Which kernel build this binary runs, for reports and the page.
pub fn build_name() -> &'static str {
    #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
    {
        "relaxed-simd"
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128", not(target_feature = "relaxed-simd")))]
    {
        "simd128"
    }
    #[cfg(all(target_arch = "wasm32", not(target_feature = "simd128")))]
    {
        "wasm-scalar"
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        "native-scalar"
    }
}

// ---------------------------------------------------------------------------------------------
// Matrix multiplication, Y[m, n] = X[m, k] · W[n, k]ᵀ (torch.nn.Linear's layout).
//
// Where things are:
//   gemm.rs     packed layouts (PackedF32, PackedI8, PackedI4 for weights, packed once; PackedActs
//               per call), the checked entry points (gemm_f32, gemm_i8, gemm_u8s8_i32, gemm_s8s8_i32,
//               gemm_i4) and what every build shares: TFLite's fixed-point requantization. The
//               dynamic quantization that feeds them (quantize_activations, dynamic_quantized_matmul)
//               is in quant::dynamic: kernels depend on none of their callers.
//   scalar.rs   the reference twins gemm_f32_packed / gemm_i8_packed / gemm_i4_packed (element by
//               element through the layouts' accessors).
//   simd128.rs  the SIMD128 twins: panels of 8 columns × blocks of up to 4 rows, i32x4.dot_i16x8_s on
//               int8 weights sign-extended in registers (storage stays int8 / int4).
//   relaxed.rs  the relaxed-SIMD build's twins: INT4 on relaxed_dot_i8x16_i7x16_add with the nibbles
//               as the 7-bit operand; INT8 on the same dot with u8 activations where a probe shows the
//               engine multiplies them exactly (else the SIMD128 kernel).
// Integer results are bit-identical across twins; the f32 outputs are too (same operation order).

pub mod gemm;
pub mod lut4;
#[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
pub mod relaxed;

/// Dispatch of the GEMM twins: the relaxed build overrides the ones relaxed.rs has.
macro_rules! dispatch_gemm {
    (relaxed $name:ident ( $($arg:expr),* )) => {{
        #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
        { relaxed::$name($($arg),*) }
        #[cfg(not(all(target_arch = "wasm32", target_feature = "relaxed-simd")))]
        { dispatch!($name($($arg),*)) }
    }};
}

/// Y = X·Wᵀ + bias on packed f32 weights (see gemm::gemm_f32 for the checked entry point).
pub fn gemm_f32_packed(x: &[f32], m: usize, w: &gemm::PackedF32, bias: &[f32], out: &mut [f32]) {
    dispatch!(gemm_f32_packed(x, m, w, bias, out))
}

/// The INT8 GEMM on packed operands (see gemm::gemm_i8).
pub fn gemm_i8_packed(a: &gemm::PackedActs, w: &gemm::PackedI8, out: gemm::I8Output) {
    dispatch_gemm!(relaxed gemm_i8_packed(a, w, out))
}

/// The INT4 GEMM on packed operands (see gemm::gemm_i4).
pub fn gemm_i4_packed(a: &gemm::PackedActs, w: &gemm::PackedI4, bias: &[f32], out: &mut [f32]) {
    dispatch_gemm!(relaxed gemm_i4_packed(a, w, bias, out))
}

/// The 4-bit LUT GEMV (MXFP4, NF4) on x padded with lut4::UNIT zeros (see lut4::gemv_lut4). Both
/// builds run the SIMD128 twin: relaxed-SIMD's madd would fuse differently on different engines.
pub fn gemv_lut4_packed(w: &lut4::PackedLut4, xp: &[f32], out: &mut [f32]) {
    dispatch!(gemv_lut4_packed(w, xp, out))
}
