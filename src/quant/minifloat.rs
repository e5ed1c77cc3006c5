//! Narrow floats as ml_dtypes defines them (ml_dtypes/include/float8.h, mxfloat.h): FP8 E4M3FN and
//! E5M2, FP6 E2M3FN and E3M2FN, FP4 E2M1FN, and the E8M0FNU scale. `encode` is ml_dtypes' cast from
//! f32 — one rounding to nearest, ties to even, from the f32 value itself — with its overflow rule:
//! E5M2 overflows to ±Inf, E4M3FN to NaN, the formats without NaN or Inf (FP6, FP4) saturate to ±max
//! and take ±NaN to ∓0. `encode_saturating` is the cast quantizers use (modelopt, the OCP MX spec):
//! ±Inf and values beyond ±max become ±max first.
//!
//! FP8 per-tensor scaling (`quantize_fp8`) follows modelopt (modelopt/torch/quantization/qtensor/
//! fp8_tensor.py): scale = amax / max (448 for E4M3, 57344 for E5M2), codes = saturating cast of x / scale.

/// What a bit pattern with an all-ones exponent means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// IEEE: all-ones exponent is Inf (mantissa 0) or NaN (E5M2).
    Ieee,
    /// Only S.1111.111 is NaN, no Inf (E4M3FN): the all-ones exponent holds finite values.
    NanOnly,
    /// Every pattern is finite (FP6, FP4).
    Finite,
}

/// A sign-magnitude float with `exp_bits` exponent bits and `man_bits` mantissa bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MiniFloat {
    pub name: &'static str,
    pub exp_bits: u32,
    pub man_bits: u32,
    pub bias: i32,
    pub special: Special,
}

pub const E4M3: MiniFloat = MiniFloat { name: "e4m3", exp_bits: 4, man_bits: 3, bias: 7, special: Special::NanOnly };
pub const E5M2: MiniFloat = MiniFloat { name: "e5m2", exp_bits: 5, man_bits: 2, bias: 15, special: Special::Ieee };
pub const E2M3: MiniFloat = MiniFloat { name: "e2m3", exp_bits: 2, man_bits: 3, bias: 1, special: Special::Finite };
pub const E3M2: MiniFloat = MiniFloat { name: "e3m2", exp_bits: 3, man_bits: 2, bias: 3, special: Special::Finite };
pub const E2M1: MiniFloat = MiniFloat { name: "e2m1", exp_bits: 2, man_bits: 1, bias: 1, special: Special::Finite };

impl MiniFloat {
    /// Bits of one code: sign, exponent, mantissa.
    pub const fn bits(&self) -> u32 {
        1 + self.exp_bits + self.man_bits
    }

    fn sign_bit(&self) -> u8 {
        1 << (self.exp_bits + self.man_bits)
    }

    /// The smallest normal exponent, 1 − bias.
    fn emin(&self) -> i32 {
        1 - self.bias
    }

    /// The largest exponent a finite value has: the OCP spec's emax of the element type.
    pub fn emax(&self) -> i32 {
        let top = (1i32 << self.exp_bits) - 1;
        match self.special {
            Special::Ieee => top - 1 - self.bias,
            Special::NanOnly | Special::Finite => top - self.bias,
        }
    }

    /// The largest finite magnitude: 448, 57344, 7.5, 28, 6.
    pub fn max(&self) -> f32 {
        let m = self.man_bits as i32;
        let top_mantissa = match self.special {
            // S.1111.111 is NaN, so the largest finite mantissa under the top exponent is 110.
            Special::NanOnly => (1i32 << (m + 1)) - 2,
            Special::Ieee | Special::Finite => (1i32 << (m + 1)) - 1,
        };
        top_mantissa as f32 * 2f32.powi(self.emax() - m)
    }

    fn nan_code(&self) -> Option<u8> {
        match self.special {
            Special::Ieee => Some(((1u8 << self.exp_bits) - 1) << self.man_bits | 2),
            Special::NanOnly => Some(((1u16 << (self.exp_bits + self.man_bits)) - 1) as u8),
            Special::Finite => None,
        }
    }

    /// The value of a code (its low `bits()` bits).
    pub fn decode(&self, code: u8) -> f32 {
        let mag_bits = self.exp_bits + self.man_bits;
        let sign = if code & self.sign_bit() != 0 { -1.0f32 } else { 1.0 };
        let mag = code & (self.sign_bit() - 1);
        let e = (mag >> self.man_bits) as i32;
        let m = (mag & ((1 << self.man_bits) - 1)) as i32;
        let top = (1i32 << self.exp_bits) - 1;
        match self.special {
            Special::Ieee if e == top => return if m == 0 { sign * f32::INFINITY } else { f32::NAN },
            Special::NanOnly if mag as u32 == (1u32 << mag_bits) - 1 => return f32::NAN,
            _ => {}
        }
        let (significand, exp) = if e == 0 { (m, self.emin()) } else { (m | (1 << self.man_bits), e - self.bias) };
        sign * significand as f32 * 2f32.powi(exp - self.man_bits as i32)
    }

    /// |x| rounded to nearest even on this format's grid: (magnitude code, whether it passed max).
    fn round_magnitude(&self, a: f32) -> (u8, bool) {
        if a == 0.0 {
            return (0, false);
        }
        // The f32's own exponent, exactly; below emin the grid is the subnormal one. f64 holds
        // a / 2^quantum exactly, so the one rounding is round_ties_even's.
        let e = exponent_of(a).max(self.emin());
        let quantum = e - self.man_bits as i32;
        let mut m = (a as f64 / 2f64.powi(quantum)).round_ties_even() as i64;
        let mut exp = e;
        if m >= 2i64 << self.man_bits {
            // Rounded up to the next power of two.
            exp += 1;
            m >>= 1;
        }
        if m as f64 * 2f64.powi(exp - self.man_bits as i32) > self.max() as f64 {
            return (0, true);
        }
        let implicit = 1i64 << self.man_bits;
        let biased = if m < implicit { 0 } else { (exp + self.bias) as i64 };
        (((biased << self.man_bits) | (m & (implicit - 1))) as u8, false)
    }

    fn max_code(&self) -> u8 {
        let mag_bits = self.exp_bits + self.man_bits;
        match self.special {
            Special::NanOnly => ((1u16 << mag_bits) - 2) as u8,
            Special::Ieee => ((((1u16 << self.exp_bits) - 1) << self.man_bits) - 1) as u8,
            Special::Finite => ((1u16 << mag_bits) - 1) as u8,
        }
    }

    /// ml_dtypes' `np.float32(x).astype(dtype)`, as the code's bits.
    pub fn encode(&self, x: f32) -> u8 {
        let sign = if x.is_sign_negative() { self.sign_bit() } else { 0 };
        if x.is_nan() {
            // ml_dtypes keeps the NaN's sign; a format without NaN gets the zero of the other sign
            // (+NaN → −0, −NaN → +0).
            return self.nan_code().map_or(sign ^ self.sign_bit(), |n| sign | n);
        }
        let overflow_code = match self.special {
            Special::Ieee => ((1u8 << self.exp_bits) - 1) << self.man_bits,
            Special::NanOnly => self.nan_code().unwrap_or(0),
            Special::Finite => self.max_code(),
        };
        if x.is_infinite() {
            return sign | overflow_code;
        }
        let (mag, overflow) = self.round_magnitude(x.abs());
        sign | if overflow { overflow_code } else { mag }
    }

    /// The cast a quantizer makes: ±Inf and |x| > max become ±max, then `encode`.
    pub fn encode_saturating(&self, x: f32) -> u8 {
        if x.is_nan() {
            return self.encode(x);
        }
        self.encode(x.clamp(-self.max(), self.max()))
    }
}

/// 2^e as an f32, exactly, for e in −149..=127 (below −126 a subnormal).
pub fn pow2(e: i32) -> f32 {
    if e >= -126 {
        f32::from_bits(((e + 127) as u32) << 23)
    } else {
        f32::from_bits(1u32 << (e + 149).max(0))
    }
}

/// floor(log2(a)) of a positive finite f32, exactly (subnormals included).
pub fn exponent_of(a: f32) -> i32 {
    let bits = a.to_bits() & 0x7FFF_FFFF;
    let biased = (bits >> 23) as i32;
    if biased == 0 {
        // Subnormal: 2^-149 × mantissa.
        31 - (bits.leading_zeros() as i32) - 149
    } else {
        biased - 127
    }
}

/// E8M0FNU (ml_dtypes float8_e8m0fnu): an unsigned power of two 2^(code − 127), 0xFF is NaN.
pub mod e8m0 {
    pub const NAN: u8 = 0xFF;

    /// 2^(code − 127); NaN for 0xFF.
    pub fn decode(code: u8) -> f32 {
        if code == NAN {
            f32::NAN
        } else {
            super::pow2(code as i32 - 127)
        }
    }

    /// The code of the power of two 2^e, e in −127..=127.
    pub fn from_exponent(e: i32) -> u8 {
        (e.clamp(-127, 127) + 127) as u8
    }

    /// ml_dtypes' cast from f32: round to nearest (1.5 × 2^e goes up), no zero or sign (0, negatives
    /// and NaN are NaN), below 2^−127 is 2^−127, above 2^127 × 1.5 is NaN.
    pub fn encode(x: f32) -> u8 {
        if x.is_nan() || x <= 0.0 || x.is_infinite() {
            return NAN;
        }
        let e = super::exponent_of(x);
        let m = x as f64 / 2f64.powi(e);
        let e = if m >= 1.5 { e + 1 } else { e };
        if e > 127 {
            NAN
        } else {
            from_exponent(e)
        }
    }
}

/// FP8 with one per-tensor scale, as modelopt stores weights.
#[derive(Debug, Clone, PartialEq)]
pub struct Fp8Tensor {
    pub codes: Vec<u8>,
    pub scale: f32,
}

/// modelopt's FP8 per-tensor rule: scale = amax / max over the finite values (1 when amax is 0),
/// codes = saturating cast of x / scale. NaN stays NaN (E5M2, E4M3FN both have one).
pub fn quantize_fp8(x: &[f32], format: &MiniFloat) -> Fp8Tensor {
    let amax = x.iter().filter(|v| v.is_finite()).fold(0f32, |m, v| m.max(v.abs()));
    quantize_fp8_with_scale(x, format, fp8_scale(amax, format))
}

/// The codes of x under a known per-tensor scale (a piece of a streamed tensor).
pub fn quantize_fp8_with_scale(x: &[f32], format: &MiniFloat, scale: f32) -> Fp8Tensor {
    Fp8Tensor { codes: x.iter().map(|&v| format.encode_saturating(v / scale)).collect(), scale }
}

/// The per-tensor scale of `quantize_fp8` from the tensor's finite amax (a streamed tensor finds
/// amax in a read of its own).
pub fn fp8_scale(amax: f32, format: &MiniFloat) -> f32 {
    let scale = amax / format.max();
    if scale.is_finite() && scale > 0.0 {
        scale
    } else {
        1.0
    }
}

/// code × scale, in f32.
pub fn dequantize_fp8(t: &Fp8Tensor, format: &MiniFloat) -> Vec<f32> {
    t.codes.iter().map(|&c| format.decode(c) * t.scale).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_constants_are_the_specs() {
        // OCP MX v1.0 Table 1 / ml_dtypes finfo: max and emax of each element type.
        let want = [(E4M3, 448.0, 8), (E5M2, 57344.0, 15), (E2M3, 7.5, 2), (E3M2, 28.0, 4), (E2M1, 6.0, 2)];
        for (f, max, emax) in want {
            assert_eq!((f.max(), f.emax()), (max, emax), "{}", f.name);
            assert_eq!(f.decode(f.max_code()), max, "{}", f.name);
        }
    }

    #[test]
    fn hand_worked_casts() {
        // E4M3: 464 is the tie between 448 (mantissa 110) and the NaN pattern's 480: even wins.
        assert_eq!(E4M3.encode(464.0), 0x7E);
        assert_eq!(E4M3.encode(464.1), 0x7F);
        assert_eq!(E4M3.encode_saturating(1e9), 0x7E);
        // Smallest E4M3 subnormal 2^-9; half of it ties to 0, a bit more goes up.
        assert_eq!(E4M3.encode(2f32.powi(-10)), 0);
        assert_eq!(E4M3.encode(2f32.powi(-10) * 1.01), 1);
        assert_eq!(E2M1.encode(-0.25), 0x8);
        assert_eq!(E2M1.encode(5.0), 0x6, "5 is between 4 and 6: 4 has the even mantissa");
        assert_eq!(E5M2.encode(f32::INFINITY), 0x7C);
        assert_eq!(e8m0::encode(3.0), 129);
        assert_eq!(e8m0::decode(0), 2f32.powi(-127));
    }
}
