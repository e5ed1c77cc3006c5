//! INT4 weight-only quantization as onnxruntime's `MatMulNBitsQuantizer` writes it by default
//! (onnxruntime/python/tools/quantization/matmul_nbits_quantizer.py, `DefaultWeightOnlyQuantizer`:
//! QOperator format, 4 bits, block_size 128, asymmetric): each MatMul whose B is a 2-D float
//! initializer [K, N] becomes a com.microsoft `MatMulNBits` reading `<B>_Q4` (uint8
//! [N, ceil(K/bs), bs/2], two codes a byte, low nibble first), `<B>_scales` (float [N, ceil(K/bs)])
//! and, asymmetric, `<B>_zero_points` (uint8 [N, ceil(ceil(K/bs)/2)], two a byte, 8 where no block).
//!
//! The arithmetic is MLAS's (onnxruntime/core/mlas/lib/q4_dq.cpp `BlockwiseQuantizer::
//! quantizeAndTranspose`, `range2scalezp`, `range2scale`), all float32: blocks of bs rows of one
//! column; asymmetric scale (max − min)/15 over the range widened to 0, zero point roundf(−min/scale)
//! clamped to 0..15; symmetric scale −m/8 with m the extreme of larger magnitude (so the larger half
//! maps to −8) and zero point 8; codes clamp(roundf(v · (1/scale) + zp), 0, 15), roundf rounding half
//! away from zero. B of rank above 2 (ORT squeezes unit leading dims) is left in float here.

use super::model::{Initializer, Model, Node, FLOAT, UINT8};
use super::qdq::{clean_initializers, ort_topological_sort};
use crate::error::{Error, Result};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq)]
pub struct Int4Options {
    pub block_size: usize,
    pub symmetric: bool,
    pub accuracy_level: Option<i64>,
    pub nodes_to_exclude: Vec<String>,
}

impl Default for Int4Options {
    fn default() -> Self {
        Int4Options { block_size: 128, symmetric: false, accuracy_level: None, nodes_to_exclude: Vec::new() }
    }
}

/// One MatMul rewritten.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Int4Weight {
    pub node: String,
    pub weight: String,
    pub k: usize,
    pub n: usize,
    pub blocks: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Int4Report {
    pub weights: Vec<Int4Weight>,
    /// MatMuls left in float, with why.
    pub skipped: Vec<(String, String)>,
    pub block_size: usize,
    pub symmetric: bool,
}

/// The packed codes, scales and packed zero points of a row-major [k, n] weight.
pub struct Blockwise {
    pub packed: Vec<u8>,
    pub scales: Vec<f32>,
    pub zero_points: Vec<u8>,
}

/// MLAS `range2scalezp` for 4 bits unsigned.
fn range_to_scale_zp(min: f32, max: f32) -> (f32, u8) {
    let min = min.min(0.0);
    let max = max.max(0.0);
    let scale = (max - min) / 15.0;
    let zp = if scale != 0.0 { 0.0 - min / scale } else { min };
    let zp = if zp < 0.0 {
        0
    } else if zp > 15.0 {
        15
    } else {
        zp.round() as u8
    };
    (scale, zp)
}

/// MLAS `range2scale` for 4 bits: the extreme of larger magnitude maps to −8.
fn range_to_scale(min: f32, max: f32) -> f32 {
    let m = if max.abs() > min.abs() { max } else { min };
    -m / 8.0
}

/// `BlockwiseQuantizer<float, bs, 4, columnwise>::quantizeAndTranspose` over a [k, n] weight,
/// into the MatMulNBits layout (rows past k stay 0, as ORT pads them).
pub fn quantize_blockwise(w: &[f32], k: usize, n: usize, block_size: usize, symmetric: bool) -> Blockwise {
    let blocks = k.div_ceil(block_size);
    let blob = block_size / 2;
    let q_rows = blocks * blob;
    let zp_cols = blocks.div_ceil(2);
    let mut packed = vec![0u8; n * q_rows];
    let mut scales = vec![0f32; n * blocks];
    let mut zero_points = vec![0u8; n * zp_cols];
    // Thread blocks of two quantization blocks of one column, as MLAS partitions them.
    let thread_rows = 2 * block_size;
    for j in 0..n {
        for r in (0..k).step_by(thread_rows) {
            let r_end = (r + thread_rows).min(k);
            let meta_row = r / block_size;
            let mut zp_bytes = [8u8; 2];
            for (kpack, zp_byte) in zp_bytes.iter_mut().enumerate() {
                let start = r + kpack * block_size;
                let end = (start + block_size).min(r_end);
                if start >= end {
                    continue;
                }
                let (mut min, mut max) = (f32::MAX, -f32::MAX);
                for i in start..end {
                    let v = w[i * n + j];
                    if v < min {
                        min = v;
                    }
                    if v > max {
                        max = v;
                    }
                }
                let at = j * blocks + meta_row + kpack;
                if symmetric {
                    scales[at] = range_to_scale(min, max);
                } else {
                    let (s, z) = range_to_scale_zp(min, max);
                    scales[at] = s;
                    *zp_byte = z;
                }
            }
            if !symmetric {
                zero_points[j * zp_cols + meta_row / 2] = (zp_bytes[0] & 0xf) | (zp_bytes[1] << 4);
            }
            // vi carries over between pairs: an odd last row keeps the previous pair's high nibble, as MLAS does.
            let mut vi = [0u8; 2];
            for i in (r..r_end).step_by(2) {
                for (l, code) in vi.iter_mut().enumerate() {
                    if i + l >= r_end {
                        break;
                    }
                    let meta_r = (i + l) / block_size;
                    let scale = scales[j * blocks + meta_r];
                    let reciprocal = if scale != 0.0 { 1.0 / scale } else { 0.0 };
                    let zp = zp_bytes[meta_r % 2] as f32;
                    *code = (w[(i + l) * n + j] * reciprocal + zp).round().clamp(0.0, 15.0) as u8;
                }
                packed[j * q_rows + i / 2] = (vi[0] & 0xf) | (vi[1] << 4);
            }
        }
    }
    Blockwise { packed, scales, zero_points }
}

/// The model with its MatMul weights in INT4 (MatMulNBits), as MatMulNBitsQuantizer writes it.
pub fn quantize_int4(mut model: Model, opts: &Int4Options) -> Result<(Model, Int4Report)> {
    if !matches!(opts.block_size, 16 | 32 | 64 | 128 | 256) {
        return Err(Error::InvalidSpec(format!("int4 block size {}: MatMulNBits takes 16, 32, 64, 128 or 256", opts.block_size)));
    }
    // set_opset_import("com.microsoft", 1).
    match model.opsets.iter_mut().find(|(d, _)| d == "com.microsoft") {
        Some(o) => o.1 = 1,
        None => model.opsets.push(("com.microsoft".into(), 1)),
    }
    let mut report = Int4Report { weights: Vec::new(), skipped: Vec::new(), block_size: opts.block_size, symmetric: opts.symmetric };
    let nodes = std::mem::take(&mut model.graph.nodes);
    let mut out = Vec::with_capacity(nodes.len());
    for node in nodes {
        if node.op_type != "MatMul" || opts.nodes_to_exclude.contains(&node.name) {
            out.push(node);
            continue;
        }
        let b = node.inputs.get(1).cloned().unwrap_or_default();
        let Some(init) = model.initializer(&b).cloned() else {
            out.push(node);
            continue;
        };
        if init.dims.len() != 2 || init.data_type != FLOAT {
            let why = if init.data_type != FLOAT { format!("weight data_type {} (float32 only here)", init.data_type) } else { format!("weight of rank {}", init.dims.len()) };
            report.skipped.push((node.name.clone(), why));
            out.push(node);
            continue;
        }
        let (k, n) = (init.dims[0], init.dims[1]);
        let w = model.initializer_values(&init)?;
        let q = quantize_blockwise(&w, k, n, opts.block_size, opts.symmetric);
        let blocks = k.div_ceil(opts.block_size);
        model.graph.inputs.retain(|i| i.name != b);
        let q_name = format!("{b}_Q4");
        let s_name = format!("{b}_scales");
        model.graph.initializers.push(Initializer::new(&q_name, UINT8, vec![n, blocks, opts.block_size / 2], &q.packed));
        model.graph.initializers.push(Initializer::f32s(&q.scales, &s_name, vec![n, blocks]));
        let mut inputs = vec![node.inputs[0].clone(), q_name, s_name];
        if !opts.symmetric {
            let z_name = format!("{b}_zero_points");
            model.graph.initializers.push(Initializer::new(&z_name, UINT8, vec![n, blocks.div_ceil(2)], &q.zero_points));
            inputs.push(z_name);
        }
        let name = if node.name.is_empty() { String::new() } else { format!("{}_Q4", node.name) };
        // make_node writes its keyword attributes sorted by name.
        let mut m = Node::new("MatMulNBits", &name, inputs, node.outputs.clone()).with_int("K", k as i64).with_int("N", n as i64);
        if let Some(level) = opts.accuracy_level.filter(|&l| l != 0) {
            m = m.with_int("accuracy_level", level);
        }
        m = m.with_int("bits", 4).with_int("block_size", opts.block_size as i64);
        m.domain = "com.microsoft".into();
        report.weights.push(Int4Weight { node: node.name.clone(), weight: b.clone(), k, n, blocks });
        out.push(m);
    }
    model.graph.nodes = out;
    clean_initializers(&mut model)?;
    model.producer_name = Some("quant-playground".into());
    model.producer_version = Some(env!("CARGO_PKG_VERSION").into());
    ort_topological_sort(&mut model)?;
    Ok((model, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_maps_its_range_onto_0_to_15() {
        // One column, K = 4, block 16: range [−1, 2] → scale 3/15 = 0.2, zp roundf(5) = 5.
        let q = quantize_blockwise(&[-1.0, 0.0, 2.0, 0.5], 4, 1, 16, false);
        assert_eq!(q.scales, vec![3.0f32 / 15.0]);
        assert_eq!(q.zero_points, vec![5 | (8 << 4)]);
        // Codes: −1·5+5 = 0, 5, 2·5+5 = 15, 0.5·5+5 = 7.5 → roundf 8 (half away from zero).
        assert_eq!(&q.packed[..2], &[5 << 4, 15 | (8 << 4)]);
        assert!(q.packed[2..].iter().all(|&b| b == 0));
        // Symmetric: the larger magnitude (2) maps to −8: scale −0.25, zp 8.
        let s = quantize_blockwise(&[-1.0, 0.0, 2.0, 0.5], 4, 1, 16, true);
        assert_eq!(s.scales, vec![-0.25]);
        assert_eq!(&s.packed[..2], &[12 | (8 << 4), (6 << 4)]);
    }
}
