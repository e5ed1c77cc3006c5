//! numpy's own float arithmetic, which onnxruntime's calibrators inherit: their sums and logarithms
//! are numpy's, and a threshold search whose curve is flat picks a different candidate when a sum is
//! rounded in another order or a logarithm is off by one ulp.

use std::ops::{Add, AddAssign};

/// `np.sum` of a contiguous float32 array: the identity 0 plus numpy's pairwise sum
/// (numpy/_core/src/umath/loops_utils.h.src `FLOAT_pairwise_sum`: blocks of at most 128 summed with
/// eight accumulators, halves split at a multiple of 8).
pub fn sum_f32(a: &[f32]) -> f32 {
    0.0 + pairwise(a, -0.0)
}

/// `np.sum` of a contiguous float64 array (`DOUBLE_pairwise_sum`, the same blocking).
pub fn sum_f64(a: &[f64]) -> f64 {
    0.0 + pairwise(a, -0.0)
}

/// The pairwise sum; `negative_zero` starts the short sums so that only −0s sum to −0, as numpy's do.
fn pairwise<T: Copy + Add<Output = T> + AddAssign>(a: &[T], negative_zero: T) -> T {
    let n = a.len();
    if n < 8 {
        let mut res = negative_zero;
        for &v in a {
            res += v;
        }
        res
    } else if n <= 128 {
        let mut r = [a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]];
        let whole = n - n % 8;
        let mut i = 8;
        while i < whole {
            for (j, acc) in r.iter_mut().enumerate() {
                *acc += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &v in &a[whole..] {
            res += v;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise(&a[..n2], negative_zero) + pairwise(&a[n2..], negative_zero)
    }
}

/// `np.log` on float32 as numpy runs it on x86-64 with AVX2+FMA3 or AVX512F (every x86-64 CPU of the
/// last decade): numpy/_core/src/umath/loops_exponent_log.dispatch.c.src `simd_log_FLOAT` — mantissa
/// in [0.5, 1) doubled below √½, a 5/5 rational approximation of log(1+x) evaluated with fused
/// multiply-adds, plus k·ln2. Up to 3.83 ulp from the true logarithm, and not the libm `logf`.
pub fn log_f32(x: f32) -> f32 {
    if x.is_nan() {
        return f32::NAN;
    }
    if x < 0.0 {
        return -f32::NAN;
    }
    if x == 0.0 {
        return f32::NEG_INFINITY;
    }
    if x == f32::INFINITY {
        return f32::INFINITY;
    }
    // Denormals are scaled by 2^100 first and their exponent corrected (fma_get_exponent).
    let (x, bias) = if x < f32::MIN_POSITIVE {
        (x * f32::from_bits(0x7180_0000), 100.0)
    } else {
        (x, 0.0)
    };
    let bits = x.to_bits();
    let mut exponent = ((bits >> 23) as i32 - 126) as f32 - bias;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | (126 << 23));
    if m <= std::f32::consts::FRAC_1_SQRT_2 {
        m += m;
        exponent -= 1.0;
    }
    let t = m - 1.0;
    // npy_simd_data.h's NPY_COEFF_{P,Q}*_LOGf, digit for digit (C rounds them to float as Rust does).
    #[allow(clippy::excessive_precision)]
    const P: [f32; 6] = [
        0.0,
        9.999_999_999_999_998_702_752e-1,
        2.112_677_543_073_053_063_722,
        1.480_000_633_576_506_585_156,
        3.808_837_741_388_407_920_751e-1,
        2.589_979_117_907_922_693_523e-2,
    ];
    #[allow(clippy::excessive_precision)]
    const Q: [f32; 6] = [
        1.0,
        2.612_677_543_073_109_236_779,
        2.453_006_071_784_736_363_091,
        9.864_942_958_519_418_960_339e-1,
        1.546_476_374_983_906_719_538e-1,
        5.875_095_403_124_574_342_950e-3,
    ];
    let mut num = P[5].mul_add(t, P[4]);
    let mut den = Q[5].mul_add(t, Q[4]);
    for k in (0..4).rev() {
        num = num.mul_add(t, P[k]);
        den = den.mul_add(t, Q[k]);
    }
    exponent.mul_add(std::f32::consts::LN_2, num / den)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_sum_rounds_as_numpy_blocks() {
        // np.sum(np.array([1e8] + [3] * 15, np.float32)) is 1.0000004e8 (numpy 2.4): the eight
        // accumulators each gather the 3s before meeting 1e8; a sequential float32 sum stays at 1e8.
        let mut a = vec![3.0f32; 16];
        a[0] = 1e8;
        assert_eq!(sum_f32(&a), 100_000_040.0);
        let seq: f32 = a.iter().sum();
        assert_eq!(seq, 1e8);
        assert_eq!(sum_f32(&[]), 0.0);
        assert_eq!(sum_f64(&[0.5; 300]), 150.0);
    }

    #[test]
    fn log_equals_numpy_bit_for_bit() {
        // np.log(np.array([x], np.float32)).view(np.uint32), numpy 2.4.6 on an AVX512 x86-64.
        let want: [(f32, u32); 9] = [
            (1e-30, 3263834037),
            (0.3, 3214547912),
            (0.707_106_77, 3199300120),
            (f32::from_bits(0x3f35_04f4), 3199300117),
            (2.0, 1060205080),
            (3.1e7, 1099562745),
            (1e-40, 3266852082),
            (0.123_456, 3221610805),
            (5.5, 1071265072),
        ];
        for (x, bits) in want {
            assert_eq!(log_f32(x).to_bits(), bits, "log({x:e})");
        }
        assert_eq!(log_f32(0.0), f32::NEG_INFINITY);
        assert!(log_f32(-1.0).is_nan());
    }
}
