//! ggml block formats as GGUF stores them, dequantized exactly as ggml's `dequantize_row_*`
//! (ggml/src/ggml-quants.c) and the gguf package's `gguf.quants` (the same float operations in the
//! same order: products of f32 values, no fused multiply-add), so the values match bit for bit.

use crate::tensor::DType;
use half::f16;

/// QK_K: elements per super-block of the k-quants.
pub const QK_K: usize = 256;

/// ggml type ids (gguf `GGMLQuantizationType`): name, elements per block, bytes per block.
const TYPES: &[(u32, &str, u32, u32)] = &[
    (0, "F32", 1, 4),
    (1, "F16", 1, 2),
    (2, "Q4_0", 32, 18),
    (3, "Q4_1", 32, 20),
    (6, "Q5_0", 32, 22),
    (7, "Q5_1", 32, 24),
    (8, "Q8_0", 32, 34),
    (9, "Q8_1", 32, 40),
    (10, "Q2_K", 256, 84),
    (11, "Q3_K", 256, 110),
    (12, "Q4_K", 256, 144),
    (13, "Q5_K", 256, 176),
    (14, "Q6_K", 256, 210),
    (15, "Q8_K", 256, 292),
    (16, "IQ2_XXS", 256, 66),
    (17, "IQ2_XS", 256, 74),
    (18, "IQ3_XXS", 256, 98),
    (19, "IQ1_S", 256, 50),
    (20, "IQ4_NL", 32, 18),
    (21, "IQ3_S", 256, 110),
    (22, "IQ2_S", 256, 82),
    (23, "IQ4_XS", 256, 136),
    (24, "I8", 1, 1),
    (25, "I16", 1, 2),
    (26, "I32", 1, 4),
    (27, "I64", 1, 8),
    (28, "F64", 1, 8),
    (29, "IQ1_M", 256, 56),
    (30, "BF16", 1, 2),
    (34, "TQ1_0", 256, 54),
    (35, "TQ2_0", 256, 66),
    (39, "MXFP4", 32, 17),
    (40, "NVFP4", 64, 36),
    (41, "Q1_0", 128, 18),
];

/// The name of a ggml type id ("ggml type N" names an id this table does not know).
pub fn type_name(id: u32) -> &'static str {
    TYPES.iter().find(|t| t.0 == id).map_or("GGML_UNKNOWN", |t| t.1)
}

/// The type id of a ggml type name.
pub fn type_id(name: &str) -> Option<u32> {
    TYPES.iter().find(|t| t.1 == name).map(|t| t.0)
}

/// The DType of a GGUF tensor type id, or None for an id ggml does not define.
pub fn dtype_of(id: u32) -> Option<DType> {
    let &(_, _, block, block_bytes) = TYPES.iter().find(|t| t.0 == id)?;
    Some(match id {
        0 => DType::F32,
        1 => DType::F16,
        2 => DType::Q4_0,
        3 => DType::Q4_1,
        6 => DType::Q5_0,
        7 => DType::Q5_1,
        8 => DType::Q8_0,
        12 => DType::Q4K,
        14 => DType::Q6K,
        24 => DType::I8,
        25 => DType::I16,
        26 => DType::I32,
        27 => DType::I64,
        28 => DType::F64,
        30 => DType::BF16,
        _ => DType::Ggml { id, block, block_bytes },
    })
}

fn half(b: &[u8], at: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([b[at], b[at + 1]])).to_f32()
}

/// Dequantizes whole blocks of a ggml block type to f32, or None for a type without a rule here.
/// `bytes.len()` must be a multiple of the block size (the caller checks it against the shape).
pub fn dequantize(dtype: DType, bytes: &[u8]) -> Option<Vec<f32>> {
    let (block, size) = (dtype.block(), dtype.size());
    if bytes.len() % size != 0 {
        return None;
    }
    let f: fn(&[u8], &mut [f32]) = match dtype {
        DType::Q4_0 => block_q4_0,
        DType::Q4_1 => block_q4_1,
        DType::Q5_0 => block_q5_0,
        DType::Q5_1 => block_q5_1,
        DType::Q8_0 => block_q8_0,
        DType::Q4K => block_q4_k,
        DType::Q6K => block_q6_k,
        _ => return None,
    };
    let mut out = vec![0f32; bytes.len() / size * block];
    for (b, y) in bytes.chunks_exact(size).zip(out.chunks_exact_mut(block)) {
        f(b, y);
    }
    Some(out)
}

/// block_q4_0 { ggml_half d; uint8_t qs[16]; }: y[j] = ((qs[j] & 15) − 8)·d, y[j+16] = ((qs[j] >> 4) − 8)·d.
fn block_q4_0(b: &[u8], y: &mut [f32]) {
    let d = half(b, 0);
    let qs = &b[2..18];
    for j in 0..16 {
        y[j] = ((qs[j] & 0x0F) as i32 - 8) as f32 * d;
        y[j + 16] = ((qs[j] >> 4) as i32 - 8) as f32 * d;
    }
}

/// block_q4_1 { d; m; qs[16] }: y = q·d + m.
fn block_q4_1(b: &[u8], y: &mut [f32]) {
    let (d, m) = (half(b, 0), half(b, 2));
    let qs = &b[4..20];
    for j in 0..16 {
        y[j] = (qs[j] & 0x0F) as f32 * d + m;
        y[j + 16] = (qs[j] >> 4) as f32 * d + m;
    }
}

/// The fifth bits of block_q5_*: bit j of qh (u32 LE) for element j, bit j+16 for element j+16.
fn fifth_bits(qh: u32, j: usize) -> (u8, u8) {
    ((((qh >> j) << 4) & 0x10) as u8, ((qh >> (j + 12)) & 0x10) as u8)
}

/// block_q5_0 { d; qh[4]; qs[16] }: y = (q5 − 16)·d.
fn block_q5_0(b: &[u8], y: &mut [f32]) {
    let d = half(b, 0);
    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    let qs = &b[6..22];
    for j in 0..16 {
        let (h0, h1) = fifth_bits(qh, j);
        y[j] = (((qs[j] & 0x0F) | h0) as i32 - 16) as f32 * d;
        y[j + 16] = (((qs[j] >> 4) | h1) as i32 - 16) as f32 * d;
    }
}

/// block_q5_1 { d; m; qh[4]; qs[16] }: y = q5·d + m.
fn block_q5_1(b: &[u8], y: &mut [f32]) {
    let (d, m) = (half(b, 0), half(b, 2));
    let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    let qs = &b[8..24];
    for j in 0..16 {
        let (h0, h1) = fifth_bits(qh, j);
        y[j] = ((qs[j] & 0x0F) | h0) as f32 * d + m;
        y[j + 16] = ((qs[j] >> 4) | h1) as f32 * d + m;
    }
}

/// block_q8_0 { d; int8_t qs[32] }: y = q·d.
fn block_q8_0(b: &[u8], y: &mut [f32]) {
    let d = half(b, 0);
    for j in 0..32 {
        y[j] = (b[2 + j] as i8) as f32 * d;
    }
}

/// ggml's get_scale_min_k4: the j-th 6-bit scale and min of a Q4_K/Q5_K super-block.
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

/// block_q4_K { d; dmin; scales[12]; qs[128] }: eight sub-blocks of 32, y = (d·sc)·q − (dmin·m).
fn block_q4_k(b: &[u8], y: &mut [f32]) {
    let (d, dmin) = (half(b, 0), half(b, 2));
    let scales = &b[4..16];
    let qs = &b[16..144];
    for (n, chunk) in qs.chunks_exact(32).enumerate() {
        let (sc1, m1) = scale_min_k4(2 * n, scales);
        let (sc2, m2) = scale_min_k4(2 * n + 1, scales);
        let (d1, dm1) = (d * sc1 as f32, dmin * m1 as f32);
        let (d2, dm2) = (d * sc2 as f32, dmin * m2 as f32);
        let y = &mut y[64 * n..64 * n + 64];
        for l in 0..32 {
            y[l] = d1 * (chunk[l] & 0x0F) as f32 - dm1;
            y[l + 32] = d2 * (chunk[l] >> 4) as f32 - dm2;
        }
    }
}

/// block_q6_K { ql[128]; qh[64]; int8_t scales[16]; d }: y = (d·sc)·(q6 − 32).
fn block_q6_k(b: &[u8], y: &mut [f32]) {
    let d = half(b, 208);
    for half_block in 0..2 {
        let ql = &b[64 * half_block..64 * half_block + 64];
        let qh = &b[128 + 32 * half_block..128 + 32 * half_block + 32];
        let sc = &b[192 + 8 * half_block..192 + 8 * half_block + 8];
        let y = &mut y[128 * half_block..128 * half_block + 128];
        for l in 0..32 {
            let is = l / 16;
            let q1 = ((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) as i32 - 32;
            let q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
            let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
            let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
            y[l] = d * (sc[is] as i8) as f32 * q1 as f32;
            y[l + 32] = d * (sc[is + 2] as i8) as f32 * q2 as f32;
            y[l + 64] = d * (sc[is + 4] as i8) as f32 * q3 as f32;
            y[l + 96] = d * (sc[is + 6] as i8) as f32 * q4 as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_sizes_match_ggml() {
        for dt in [
            DType::Q4_0,
            DType::Q4_1,
            DType::Q5_0,
            DType::Q5_1,
            DType::Q8_0,
            DType::Q4K,
            DType::Q6K,
        ] {
            let id = TYPES.iter().find(|t| t.1 == dt.name()).unwrap();
            assert_eq!((dt.block() as u32, dt.size() as u32), (id.2, id.3), "{}", dt.name());
            assert_eq!(dtype_of(id.0), Some(dt));
        }
        assert_eq!(dtype_of(10).unwrap().name(), "Q2_K");
        assert!(!dtype_of(10).unwrap().is_quantizable());
        assert_eq!(dtype_of(5), None);
    }

    #[test]
    fn q8_0_is_q_times_d() {
        let mut b = vec![0u8; 34];
        b[..2].copy_from_slice(&f16::from_f32(0.5).to_bits().to_le_bytes());
        b[2] = 4;
        b[3] = (-3i8) as u8;
        let y = dequantize(DType::Q8_0, &b).unwrap();
        assert_eq!(&y[..3], &[2.0, -1.5, 0.0]);
    }

    #[test]
    fn q4_0_nibbles_low_then_high() {
        let mut b = vec![0u8; 18];
        b[..2].copy_from_slice(&f16::from_f32(1.0).to_bits().to_le_bytes());
        b[2] = 0xF0; // element 0: 0 − 8, element 16: 15 − 8
        let y = dequantize(DType::Q4_0, &b).unwrap();
        assert_eq!((y[0], y[16], y[1]), (-8.0, 7.0, -8.0));
    }
}
