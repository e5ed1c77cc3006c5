//! Shared by tests/kernels.rs (native) and tests/wasm_kernels.rs (Chromium): operand generators with
//! the extremes the integer kernels must survive, and the definitions the kernels must agree with
//! (plain loops over the unpacked inputs, in i64 for the integers).
#![allow(dead_code)]

/// xorshift64*: deterministic, dependency-free, the same on every target.
pub struct SeqRng(pub u64);

impl SeqRng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn f32(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

/// How a code array is filled: uniform, or one of the extremes the issue names.
#[derive(Debug, Clone, Copy)]
pub enum Fill {
    Uniform,
    Min,
    Max,
    /// Uniform with a third of the values at the minimum or maximum.
    Spiky,
}

pub const FILLS: [Fill; 4] = [Fill::Uniform, Fill::Min, Fill::Max, Fill::Spiky];

pub fn u8_codes(rng: &mut SeqRng, len: usize, fill: Fill) -> Vec<u8> {
    (0..len)
        .map(|_| match fill {
            Fill::Uniform => rng.below(256) as u8,
            Fill::Min => 0,
            Fill::Max => 255,
            Fill::Spiky => [0u8, 255, rng.below(256) as u8][rng.below(3) as usize],
        })
        .collect()
}

pub fn i8_codes(rng: &mut SeqRng, len: usize, fill: Fill) -> Vec<i8> {
    (0..len)
        .map(|_| match fill {
            Fill::Uniform => rng.below(256) as u8 as i8,
            Fill::Min => -128,
            Fill::Max => 127,
            Fill::Spiky => [-128i8, 127, rng.below(256) as u8 as i8][rng.below(3) as usize],
        })
        .collect()
}

/// Σ_k (a − za[r])(w − zw[j]) in i64, wrapped to i32 as the kernels (exactly in range for these sizes).
pub fn int_gemm_definition(a: &[i32], za: &[i32], w: &[i32], zw: &[i32], m: usize, n: usize, k: usize) -> Vec<i32> {
    let mut y = vec![0i32; m * n];
    for r in 0..m {
        for j in 0..n {
            let mut s = 0i64;
            for kk in 0..k {
                s += (a[r * k + kk] - za[r]) as i64 * (w[j * k + kk] - zw[j]) as i64;
            }
            y[r * n + j] = s as i32;
        }
    }
    y
}

/// Shapes every kernel must handle: ones, odd sizes, k not a multiple of 4 or 16, one full tile and
/// a bit, and a few bigger ones.
pub const SHAPES: [(usize, usize, usize); 18] = [
    (1, 1, 1),
    (1, 1, 2),
    (1, 8, 16),
    (2, 3, 5),
    (3, 7, 17),
    (4, 8, 32),
    (5, 9, 33),
    (1, 17, 31),
    (7, 13, 15),
    (4, 16, 64),
    (6, 24, 65),
    (9, 1, 100),
    (1, 33, 127),
    (13, 11, 129),
    (8, 40, 256),
    (1, 64, 300),
    (17, 23, 47),
    (33, 19, 200),
];
