//! NF4 as bitsandbytes stores it (bitsandbytes/functional.py `quantize_4bit(quant_type="nf4",
//! blocksize=64)`, kernels csrc/kernels.cu `kQuantizeBlockwise` / `dQuantizeNF4` / `dDequantizeNF4`):
//! the tensor flattened into blocks of 64, each with its absmax in f32; a value's code is the leaf of
//! bitsandbytes' decision tree for x · (1 / absmax), whose thresholds lie between neighbouring levels
//! (a value on a threshold takes the lower level); the value is level × absmax.
//! absmax is over the block's finite values. An all-zero block gives 1 / 0 = ∞, 0 · ∞ = NaN, which
//! every comparison in the tree rejects: code 0, value −1 × 0 = −0, as the CUDA kernel produces.

pub const BLOCK: usize = 64;

/// The 16 NF4 levels (csrc/kernels.cu `nf4_dequantization_lut`, code 0..15).
#[allow(clippy::excessive_precision)]
pub const LEVELS: [f32; 16] = [
    -1.0,
    -0.6961928009986877,
    -0.5250730514526367,
    -0.39491748809814453,
    -0.28444138169288635,
    -0.18477343022823334,
    -0.09105003625154495,
    0.0,
    0.07958029955625534,
    0.16093020141124725,
    0.24611230194568634,
    0.33791524171829224,
    0.44070982933044434,
    0.5626170039176941,
    0.7229568362236023,
    1.0,
];

/// `dQuantizeNF4`'s thresholds: code c+1 when x > THRESHOLDS[c] (f32 literals of the kernel).
#[allow(clippy::excessive_precision)]
pub const THRESHOLDS: [f32; 15] = [
    -0.8480964004993439,
    -0.6106329262256622,
    -0.4599952697753906,
    -0.33967943489551544,
    -0.23460740596055984,
    -0.13791173323988914,
    -0.045525018125772476,
    0.03979014977812767,
    0.1202552504837513,
    0.2035212516784668,
    0.2920137718319893,
    0.3893125355243683,
    0.5016634166240692,
    0.6427869200706482,
    0.8614784181118011,
];

/// The code `dQuantizeNF4` returns: its tree compares with `>`, so the leaf is the number of thresholds
/// strictly below x (NaN passes none).
pub fn encode(x: f32) -> u8 {
    THRESHOLDS.iter().filter(|&&t| x > t).count() as u8
}

#[derive(Debug, Clone, PartialEq)]
pub struct Nf4Tensor {
    /// One code per value (low 4 bits).
    pub codes: Vec<u8>,
    pub absmax: Vec<f32>,
}

pub fn quantize(x: &[f32]) -> Nf4Tensor {
    let mut t = Nf4Tensor { codes: Vec::with_capacity(x.len()), absmax: Vec::with_capacity(x.len().div_ceil(BLOCK)) };
    for xb in x.chunks(BLOCK) {
        let absmax = xb.iter().filter(|v| v.is_finite()).fold(0f32, |m, v| m.max(v.abs()));
        let inv = 1.0 / absmax;
        t.absmax.push(absmax);
        t.codes.extend(xb.iter().map(|&v| encode(v * inv)));
    }
    t
}

pub fn dequantize(t: &Nf4Tensor) -> Vec<f32> {
    t.codes.chunks(BLOCK).zip(&t.absmax).flat_map(|(cb, &a)| cb.iter().map(move |&c| LEVELS[c as usize & 15] * a)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_sit_between_neighbouring_levels() {
        for (c, t) in THRESHOLDS.iter().enumerate() {
            let mid = (LEVELS[c] + LEVELS[c + 1]) / 2.0;
            assert!((t - mid).abs() < 1e-6, "threshold {c}: {t} vs midpoint {mid}");
            assert_eq!(encode(*t), c as u8, "on the threshold: the lower level");
            assert_eq!(encode(t.next_up()), c as u8 + 1);
        }
    }

    #[test]
    fn an_all_zero_block_is_code_0() {
        let t = quantize(&[0.0; 3]);
        assert_eq!(t.codes, [0, 0, 0]);
        assert!(dequantize(&t).iter().all(|v| *v == 0.0 && v.is_sign_negative()));
    }
}
