//! GPTQ and AWQ checkpoints in safetensors: each quantized Linear is a group of tensors
//! `P.qweight` (int32 words of packed codes), `P.qzeros` (int32 words of packed zero points),
//! `P.scales` (half, one per group and output) and, for GPTQ, `P.g_idx` (each input's group).
//! The group becomes one stored-quantized tensor `P.qweight` of shape [in, out] (the kernels'
//! x @ W orientation); the others are listed as its parameters. The scales and zero points are
//! read with the tensor, not kept in the index (its storage is `Split` into qweight, qzeros and
//! scales of this file; `stored::LazyParams`), so a checkpoint of any size is listed whole.
//!
//! GPTQ (auto-gptq QuantLinear.pack, the layout transformers / optimum load): qweight
//! [in · bits / 32, out] packed along the inputs, qzeros [groups, out · bits / 32] packed along the
//! outputs holding zero − 1 (GPTQModel's gptq_v2: the zero itself); 2, 3 (codes crossing words),
//! 4 and 8 bits; an act-order g_idx gives each input its group. AWQ (AutoAWQ WQLinear_GEMM.from_linear): qweight [in, out / 8] and
//! qzeros [groups, out / 8], eight 4-bit codes per word in the order 0 2 4 6 1 3 5 7. Both are
//! told apart by qweight's shape against scales'.

use super::RangeReader;
use crate::error::{Error, Result};
use crate::tensor::stored::{unpack_packed_zeros, CodeLayout, LazyParams, StoredGranularity, StoredQuant, StoredScheme};
use crate::tensor::{DType, FilePart, Storage, TensorInfo};

/// The bytes of a listed (raw, in-file) tensor.
fn bytes_of(r: &mut dyn RangeReader, t: &TensorInfo) -> Result<Vec<u8>> {
    r.read(t.offset, t.byte_len)
}

fn words(b: &[u8]) -> Vec<u32> {
    b.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// One Linear's tensors, by index into the file's list.
struct Group {
    prefix: String,
    qweight: usize,
    qzeros: usize,
    scales: usize,
    g_idx: Option<usize>,
}

fn two_d(t: &TensorInfo) -> Option<(usize, usize)> {
    match t.shape[..] {
        [a, b] => Some((a, b)),
        _ => None,
    }
}

/// How a checkpoint stores GPTQ zero points.
#[derive(Clone, Copy, PartialEq)]
enum ZeroFormat {
    /// auto-gptq / GPTQ v1: zero − 1 (QuantLinear.pack `zeros -= 1`).
    MinusOne,
    /// GPTQModel's `gptq_v2`: the zero itself (gptqmodel/utils/model.py
    /// convert_gptq_v1_to_v2_format_module adds the 1 back to every field before saving v2;
    /// its torch kernel's dequantize_weight uses the unpacked zeros as they are).
    Plain,
}

/// The stored quantization of one group, or why it is not one (said in the metadata).
fn quant_of(r: &mut dyn RangeReader, tensors: &[TensorInfo], g: &Group, zero_format: ZeroFormat) -> Result<std::result::Result<(StoredQuant, Vec<usize>, Storage), String>> {
    let (qw, qz, sc) = (&tensors[g.qweight], &tensors[g.qzeros], &tensors[g.scales]);
    if qw.dtype != DType::I32 || qz.dtype != DType::I32 || !matches!(sc.dtype, DType::F16 | DType::F32) {
        return Ok(Err(format!("dtypes {} / {} / {} (int32 qweight and qzeros, half scales are read)", qw.dtype.name(), qz.dtype.name(), sc.dtype.name())));
    }
    let (Some((qw0, qw1)), Some((zg, zc)), Some((groups, out))) = (two_d(qw), two_d(qz), two_d(sc)) else {
        return Ok(Err("qweight, qzeros and scales are not all two-dimensional".into()));
    };
    if zg != groups || out == 0 || groups == 0 {
        return Ok(Err(format!("qzeros {:?} and scales {:?} disagree", qz.shape, sc.shape)));
    }
    // Bits per code from qzeros (out codes in zc words).
    if (zc * 32) % out != 0 {
        return Ok(Err(format!("qzeros {:?} do not pack {out} outputs", qz.shape)));
    }
    let bits = (zc * 32 / out) as u32;
    let gptq = qw1 == out;
    let (scheme, k, layout) = if gptq && matches!(bits, 2 | 3 | 4 | 8) && (qw0 * 32) % bits as usize == 0 {
        let k = qw0 * 32 / bits as usize;
        (StoredScheme::Gptq, k, CodeLayout::GptqPacked { k, n: out, bits })
    } else if !gptq && bits == 4 && qw1 * 8 == out {
        (StoredScheme::Awq, qw0, CodeLayout::AwqPacked { k: qw0, n: out })
    } else {
        return Ok(Err(format!("qweight {:?} with scales {:?} is neither GPTQ's 2/3/4/8-bit nor AWQ's 4-bit layout", qw.shape, sc.shape)));
    };
    if k % groups != 0 {
        return Ok(Err(format!("{k} inputs do not split into {groups} groups")));
    }
    let group_size = k / groups;
    // g_idx: input k's group. act-order checkpoints (desc_act) permute it; the kernels' torch
    // path takes scales[g_idx] and zeros[g_idx] row by row (auto_gptq qlinear_cuda.py forward:
    // `self.scales[self.g_idx.long()] * (weight - zeros[self.g_idx.long()])`). The trivial one
    // (k / group_size) is kept implicit.
    let mut row_groups = Vec::new();
    if let Some(gi) = g.g_idx {
        let t = &tensors[gi];
        if t.dtype != DType::I32 || t.shape != [k] {
            return Ok(Err(format!("g_idx {} {:?} for {k} inputs", t.dtype.name(), t.shape)));
        }
        let idx = words(&bytes_of(r, t)?);
        if let Some(i) = (0..k).find(|&i| idx[i] as usize >= groups) {
            return Ok(Err(format!("g_idx[{i}] = {} where there are {groups} groups", idx[i] as i32)));
        }
        if (0..k).any(|i| idx[i] as usize != i / group_size) {
            row_groups = idx;
        }
    }
    // The scales and zero points are read with the tensor (its storage: qweight, qzeros, scales
    // in this file), so a checkpoint of any size is listed whole; qzeros is unpacked once here,
    // one Linear at a time, only to see whether every zero point is the same (symmetric).
    let zw = words(&bytes_of(r, qz)?);
    let minus_one = zero_format == ZeroFormat::MinusOne;
    let zeros = unpack_packed_zeros(gptq, bits, out, zc, groups, &zw, minus_one);
    let uniform_zero = zeros.first().copied().filter(|&z| zeros.iter().all(|&y| y == z));
    drop((zw, zeros));
    let lazy = LazyParams { slots: groups * out, zeros_bytes: qz.byte_len, scale_dtype: sc.dtype, zeros_minus_one: gptq && minus_one, uniform_zero };
    let parts = [qw, qz, sc].map(|t| FilePart { file: String::new(), offset: t.offset, len: t.byte_len }).to_vec();
    let v2 = if zero_format == ZeroFormat::Plain { " gptq_v2" } else { "" };
    let order = if row_groups.is_empty() { "" } else { ", act-order g_idx" };
    let op = if gptq { format!("GPTQ{v2} {bits}-bit, group {group_size}{order} ('{}')", g.prefix) } else { format!("AWQ GEMM 4-bit, group {group_size} ('{}')", g.prefix) };
    let quant = StoredQuant {
        scheme,
        granularity: StoredGranularity::Blocked { axis: 0, block_size: group_size },
        bits,
        layout,
        scales: Vec::new(),
        zero_points: Vec::new(),
        op,
        row_groups,
        half_output: false,
        lazy: Some(lazy),
    };
    Ok(Ok((quant, vec![k, out], Storage::Split { parts })))
}

/// Finds the GPTQ / AWQ groups among a safetensors file's tensors and makes each one stored-
/// quantized tensor; a group that cannot be read stays listed as it is, with a note why.
pub fn recognise(tensors: &mut [TensorInfo], metadata: &mut Vec<(String, String)>, r: &mut dyn RangeReader) -> Result<()> {
    let find = |name: &str| tensors.iter().position(|t| t.name == name && t.data_file.is_none());
    let mut groups = Vec::new();
    for (i, t) in tensors.iter().enumerate() {
        let Some(prefix) = t.name.strip_suffix(".qweight") else { continue };
        if t.data_file.is_some() {
            continue;
        }
        if let (Some(qzeros), Some(scales)) = (find(&format!("{prefix}.qzeros")), find(&format!("{prefix}.scales"))) {
            groups.push(Group { prefix: prefix.to_string(), qweight: i, qzeros, scales, g_idx: find(&format!("{prefix}.g_idx")) });
        }
    }
    // GPTQModel writes `checkpoint_format` (or, newer, `format`) gptq_v2 into quantize_config.json;
    // this reader sees the safetensors header only, so it takes the key from its __metadata__
    // (where a quantize_config is copied in) and otherwise reads v1 (auto-gptq, transformers).
    let v2 = metadata.iter().any(|(k, v)| matches!(k.as_str(), "checkpoint_format" | "format") && v == "gptq_v2")
        || metadata.iter().any(|(k, v)| {
            matches!(k.as_str(), "quantize_config" | "quantization_config")
                && serde_json::from_str::<serde_json::Value>(v).is_ok_and(|j| j["checkpoint_format"] == "gptq_v2" || j["format"] == "gptq_v2")
        });
    let zero_format = if v2 { ZeroFormat::Plain } else { ZeroFormat::MinusOne };
    let mut read = 0;
    for g in groups {
        match quant_of(r, tensors, &g, zero_format)? {
            Ok((quant, shape, storage)) => {
                let qw = &mut tensors[g.qweight];
                quant.check(&qw.name, qw.dtype, &shape, qw.byte_len).map_err(|e| Error::malformed(r.file(), e.to_string()))?;
                qw.shape = shape;
                qw.quant = Some(quant);
                qw.storage = storage;
                let owner = qw.name.clone();
                for p in [Some(g.qzeros), Some(g.scales), g.g_idx].into_iter().flatten() {
                    tensors[p].parameter_of = Some(owner.clone());
                }
                read += 1;
            }
            Err(why) => metadata.push((format!("not dequantized {}.qweight", g.prefix), why)),
        }
    }
    if read > 0 {
        let zeros = if v2 { "GPTQ zero points as stored (gptq_v2)" } else { "GPTQ zero points stored minus one (v1; a gptq_v2 checkpoint says so in its metadata's checkpoint_format)" };
        metadata.push(("quantized linears".to_string(), format!("{read} GPTQ / AWQ groups (qweight, qzeros, scales) read as one tensor each; {zeros}")));
    }
    Ok(())
}
