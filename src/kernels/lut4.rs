//! Dequantize-on-the-fly GEMV for 4-bit formats whose codes index a table of 16 values and whose
//! blocks share one scale: MXFP4 (OCP Microscaling v1.0: E2M1 elements, an E8M0 scale per 32 along a
//! row) and NF4 (bitsandbytes: the NF4 levels, an f32 absmax per 64 of the flattened tensor). W stays
//! as its codes (two per byte) and scales; each call decodes 32 codes at a time into registers and
//! never writes W as f32.
//!
//! y[j] = Σ_segments scale · Σ_{e ∈ segment} values[code] · x[col + e], where the segments of a row are
//! its pieces that share one scale (an MX block, or the part of an NF4 block that lies in the row).
//!
//! The summation order (both twins, so SIMD and scalar agree bit for bit): 16 f32 lanes per row.
//! A segment is cut into units of 32 elements; element 32u + l (l < 16) goes to lane l of `lo`,
//! element 32u + 16 + l to lane l of `hi` (past the segment's end the product is +0, as zero x and the
//! table's +0 code make it). Unit 0 sets lo and hi, later units add to them in order; then
//! acc[l] += (lo[l] + hi[l]) · scale, segment after segment. The row's result is the fixed fold
//! v[i] = (acc[i] + acc[8 + i]) + (acc[4 + i] + acc[12 + i]), y = (v[0] + v[2]) + (v[1] + v[3]).
//!
//! The layout: each segment's codes start a fresh 16-byte unit and take ceil(len / 32) units; byte i of
//! a unit holds element 32u + i in its low nibble and 32u + 16 + i in its high nibble (so a unit's
//! nibbles are 32 elements in order without a shuffle), padding nibbles hold the table's +0.0 code.
//! This is a reordering of the exported layout (element 2i low nibble), done once when packing.

use crate::error::{Error, Result};

/// Elements per unit of the code layout (16 bytes).
pub const UNIT: usize = 32;

/// How a tensor's elements are grouped under one scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lut4Blocking {
    /// Blocks of B along each row, a row's short last block its own (OCP MX: B = 32).
    RowBlocks(usize),
    /// Blocks of B over the flattened [n, k] tensor, crossing rows (bitsandbytes NF4: B = 64).
    FlatBlocks(usize),
}

/// The blocks' scales as the format stores them.
#[derive(Debug, Clone, PartialEq)]
pub enum Lut4Scales {
    /// E8M0 codes: 2^(code − 127), 0xFF is NaN (OCP MX §5.4.1).
    E8M0(Vec<u8>),
    F32(Vec<f32>),
}

/// One piece of a row under one scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// First column of the row.
    pub col: usize,
    pub len: usize,
    /// Index into the scales.
    pub scale: usize,
}

/// 4-bit weights W [n, k] (torch Linear layout) for the LUT GEMV.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedLut4 {
    pub n: usize,
    pub k: usize,
    /// The value of each code.
    pub values: [f32; 16],
    /// Byte b (little-endian) of values[c] at tables[b][c]: the SIMD decode's swizzle tables.
    pub tables: [[u8; 16]; 4],
    pub blocking: Lut4Blocking,
    pub scales: Lut4Scales,
    /// The codes, unit by unit (see the module doc).
    pub data: Vec<u8>,
    /// Unit offset of each row's first segment, and the total at the end (n + 1 entries).
    pub row_units: Vec<usize>,
}

fn check(cond: bool, msg: impl FnOnce() -> String) -> Result<()> {
    if cond {
        Ok(())
    } else {
        Err(Error::InvalidSpec(msg()))
    }
}

/// 2^(code − 127) as f32 exactly (code 0 is the subnormal 2^−127), NaN for 0xFF.
#[inline(always)]
pub fn e8m0_value(code: u8) -> f32 {
    match code {
        0 => f32::from_bits(0x0040_0000),
        0xFF => f32::NAN,
        c => f32::from_bits((c as u32) << 23),
    }
}

impl PackedLut4 {
    /// Packs one code per element of W [n, k] (row-major, each < 16) with the format's values and scales:
    /// RowBlocks(B) takes n × ceil(k / B) scales (row-major), FlatBlocks(B) ceil(n·k / B).
    pub fn pack(codes: &[u8], n: usize, k: usize, values: [f32; 16], blocking: Lut4Blocking, scales: Lut4Scales) -> Result<Self> {
        check(codes.len() == n * k, || format!("weights: {} codes for [{n}, {k}]", codes.len()))?;
        check(n > 0 && k > 0, || format!("weights [{n}, {k}]: both axes must be at least 1"))?;
        if let Some(bad) = codes.iter().position(|&c| c > 15) {
            return Err(Error::InvalidSpec(format!("4-bit code {} at element {bad} (row {}, column {}) is above 15", codes[bad], bad / k, bad % k)));
        }
        let (block, want) = match blocking {
            Lut4Blocking::RowBlocks(b) => (b, n * k.div_ceil(b.max(1))),
            Lut4Blocking::FlatBlocks(b) => (b, (n * k).div_ceil(b.max(1))),
        };
        check(block > 0, || "block size 0: must be at least 1".into())?;
        let have = match &scales {
            Lut4Scales::E8M0(s) => s.len(),
            Lut4Scales::F32(s) => s.len(),
        };
        check(have == want, || format!("{have} scales for [{n}, {k}] in blocks of {block}: expected {want}"))?;
        let Some(zero) = values.iter().position(|v| v.to_bits() == 0) else {
            return Err(Error::InvalidSpec("the 16 values have no +0.0 code to pad with".into()));
        };
        let mut tables = [[0u8; 16]; 4];
        for (c, v) in values.iter().enumerate() {
            for (b, byte) in v.to_le_bytes().into_iter().enumerate() {
                tables[b][c] = byte;
            }
        }
        let mut w = PackedLut4 { n, k, values, tables, blocking, scales, data: Vec::new(), row_units: Vec::with_capacity(n + 1) };
        let mut units = 0;
        for j in 0..n {
            w.row_units.push(units);
            units += w.segments(j).map(|s| s.len.div_ceil(UNIT)).sum::<usize>();
        }
        w.row_units.push(units);
        let pad = zero as u8;
        let mut data = vec![pad | (pad << 4); units * 16];
        for j in 0..n {
            let mut unit = w.row_units[j];
            for s in w.segments(j) {
                for e in 0..s.len {
                    let (u, r) = (e / UNIT, e % UNIT);
                    let byte = &mut data[(unit + u) * 16 + r % 16];
                    let c = codes[j * k + s.col + e];
                    *byte = if r < 16 { (*byte & 0xF0) | c } else { (*byte & 0x0F) | (c << 4) };
                }
                unit += s.len.div_ceil(UNIT);
            }
        }
        w.data = data;
        Ok(w)
    }

    /// The segments of row j, in column order. One division per row, none per segment (a segment of
    /// MXFP4 is 32 elements: a division each would cost as much as decoding them).
    #[inline]
    pub fn segments(&self, j: usize) -> impl Iterator<Item = Segment> + '_ {
        let k = self.k;
        // (the first segment's scale index, where its block ends in the row's columns, the block length)
        let (block, mut scale, mut block_end) = match self.blocking {
            Lut4Blocking::RowBlocks(b) => (b, j * k.div_ceil(b), b),
            Lut4Blocking::FlatBlocks(b) => {
                let first = j * k / b;
                (b, first, (first + 1) * b - j * k)
            }
        };
        let mut col = 0;
        std::iter::from_fn(move || {
            if col >= k {
                return None;
            }
            let seg = Segment { col, len: block_end.min(k) - col, scale };
            col += seg.len;
            scale += 1;
            block_end += block;
            Some(seg)
        })
    }

    /// The scale of segment index `i` as f32.
    #[inline(always)]
    pub fn scale(&self, i: usize) -> f32 {
        match &self.scales {
            Lut4Scales::E8M0(s) => e8m0_value(s[i]),
            Lut4Scales::F32(s) => s[i],
        }
    }

    /// The code of W[j, col], read back from the layout.
    pub fn code_at(&self, j: usize, col: usize) -> u8 {
        let mut unit = self.row_units[j];
        for s in self.segments(j) {
            if col < s.col + s.len {
                let e = col - s.col;
                let b = self.data[(unit + e / UNIT) * 16 + e % 16];
                return if e % UNIT < 16 { b & 0x0F } else { b >> 4 };
            }
            unit += s.len.div_ceil(UNIT);
        }
        panic!("column {col} of a row of {}", self.k)
    }

    /// Bytes stored: the code units (padding included) and the scales.
    pub fn stored_bytes(&self) -> usize {
        self.data.len()
            + match &self.scales {
                Lut4Scales::E8M0(s) => s.len(),
                Lut4Scales::F32(s) => s.len() * 4,
            }
    }

    /// Whether every value's two low bytes are zero (E2M1's values are): the SIMD decode then needs only
    /// the two high-byte tables.
    pub fn low_bytes_zero(&self) -> bool {
        self.tables[0] == [0; 16] && self.tables[1] == [0; 16]
    }
}

/// x [k] copied with UNIT zeros after it, the operand of the twins (a unit may read past the row end).
pub fn padded_x(x: &[f32]) -> Vec<f32> {
    let mut xp = Vec::with_capacity(x.len() + UNIT);
    xp.extend_from_slice(x);
    xp.resize(x.len() + UNIT, 0.0);
    xp
}

/// y [n] = W · x for one x [k].
pub fn gemv_lut4(w: &PackedLut4, x: &[f32], out: &mut [f32]) -> Result<()> {
    check(x.len() == w.k, || format!("x has {} values, W [{}, {}] needs {}", x.len(), w.n, w.k, w.k))?;
    check(out.len() == w.n, || format!("output has {} elements, W [{}, {}] gives {}", out.len(), w.n, w.k, w.n))?;
    super::gemv_lut4_packed(w, &padded_x(x), out);
    Ok(())
}

/// Y [m, n] = X [m, k] · Wᵀ, one GEMV per row of X.
pub fn matmul_lut4(w: &PackedLut4, x: &[f32], m: usize) -> Result<Vec<f32>> {
    check(x.len() == m * w.k, || format!("activations: {} values for [{m}, {}]", x.len(), w.k))?;
    let mut y = vec![0.0f32; m * w.n];
    let mut xp = vec![0.0f32; w.k + UNIT];
    for r in 0..m {
        xp[..w.k].copy_from_slice(&x[r * w.k..(r + 1) * w.k]);
        super::gemv_lut4_packed(w, &xp, &mut y[r * w.n..(r + 1) * w.n]);
    }
    Ok(y)
}

/// The fixed fold of a row's 16 lanes (both twins).
#[inline(always)]
pub fn fold16(acc: &[f32; 16]) -> f32 {
    let v: [f32; 4] = std::array::from_fn(|i| (acc[i] + acc[8 + i]) + (acc[4 + i] + acc[12 + i]));
    (v[0] + v[2]) + (v[1] + v[3])
}
