//! Theirs against ours: a float model and a quantized copy of it (any two containers the readers
//! open), tensor by tensor. Each float tensor is paired with its quantized copy by name (after the
//! renames exporters make) or, failing that, by shape and a value fingerprint; each pair gets the
//! error of their quantization (the copy's values as its own runtime dequantizes them) and of ours
//! at the same bits and granularity on the float tensor, sorted worst first, with a summary pooled
//! over every element.
//!
//! The steps are separate so that the page (which reads tensors one at a time through Blob.slice)
//! and the CLI run the same code: `match_by_name` on the two indexes, `fingerprint` of each tensor
//! `fingerprint_candidates` names, `match_by_fingerprint`, then `measure` per pair and `report`.

use crate::app::report::{format_report, TensorReport};
use crate::error::{Error, Result};
use crate::formats::FileIndex;
use crate::kernels::{self, ErrorSums};
use crate::metrics::{bits_per_weight, metrics_from_sums, ser_f64};
use crate::quant::{FloatCast, Granularity, NumberFormat, QuantSpec, Scheme};
use crate::tensor::stored::{CodeLayout, StoredGranularity, StoredQuant, StoredScheme};
use crate::tensor::{DType, TensorInfo};
use serde::{Deserialize, Serialize};

/// Elements sampled for a fingerprint (`sample_positions`), enough that two unrelated tensors
/// correlate by chance at about ±1/√256 = ±0.06.
pub const FINGERPRINT_SAMPLES: usize = 256;
/// The rank correlation a fingerprint match needs. Quantization keeps the order of values up to
/// ties inside one step, so even a 2-bit copy of a tensor correlates far above this.
pub const FINGERPRINT_MIN_SCORE: f64 = 0.9;
/// Below this rank correlation a pair matched by name does not hold the same values (a permuted or
/// retrained copy): it is measured all the same, and flagged.
pub const NAME_MATCH_DOUBT_SCORE: f64 = 0.5;
/// How the fingerprint is made, for the report.
pub const FINGERPRINT_RULE: &str = "Spearman rank correlation (average ranks for ties) of 256 elements at C-order positions floor(frac(i*0.618034)*n), \
between tensors of the same shape (or the transposed shape of a 2-D weight); a match needs at least 0.9 and is the best left for both";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    /// The same name in both files.
    Name,
    /// The same name after the renames in `canonical_name` (ONNX quantizer suffixes, llama.cpp's GGUF names).
    RenamedName,
    /// By shape and value fingerprint (`FINGERPRINT_RULE`).
    Fingerprint,
}

/// A float tensor and its quantized copy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pair {
    pub float: String,
    pub quantized: String,
    pub matched_by: MatchedBy,
    /// The copy is the 2-D transpose of the float tensor ([out, in] against [in, out]).
    pub transposed: bool,
    /// The copy's rows are the float tensor's in llama.cpp's attention order (`llama_rows`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llama_rows: Option<LlamaRows>,
}

/// llama.cpp's convert_hf_to_gguf.py writes a llama's attn_q / attn_k rows (weights and biases)
/// permuted: `permute(weights, n_head, n_head_kv)` = `weights.reshape(n_head, 2, rows // n_head // 2,
/// *rest).swapaxes(1, 2).reshape(weights.shape)`, with n_head for attn_q and n_head_kv for attn_k
/// (LlamaModel.permute and modify_tensors). Where one file is such a GGUF and the other holds the
/// Hugging Face rows, the float values are put in the copy's order before anything is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlamaRows {
    /// The head count of the permutation (llama.attention.head_count, or head_count_kv for attn_k).
    pub heads: usize,
    /// The float file is the GGUF: its rows are un-permuted into the copy's (Hugging Face) order.
    pub float_is_gguf: bool,
}

/// The row order of a `rows`-row tensor under llama.cpp's permute with `heads` heads: row r of the
/// permuted tensor is row `permuted_row(r)` of the original (None when the rows do not split into
/// 2 · heads equal parts).
fn llama_row_source(rows: usize, heads: usize) -> Option<impl Fn(usize) -> usize> {
    if heads == 0 || rows % (2 * heads) != 0 {
        return None;
    }
    let (per_head, half) = (rows / heads, rows / heads / 2);
    // reshape (heads, 2, half) → swapaxes(1, 2) → (heads, half, 2): out[h][i][j] = in[h][j][i].
    Some(move |r: usize| {
        let (h, rest) = (r / per_head, r % per_head);
        let (i, j) = (rest / 2, rest % 2);
        h * per_head + j * half + i
    })
}

/// `x` (C order of `shape`, rows along axis 0) with its rows in the copy's order.
fn llama_reorder(x: &[f32], shape: &[usize], rows: LlamaRows) -> Option<Vec<f32>> {
    let n = *shape.first()?;
    let width = if n == 0 { 0 } else { x.len() / n };
    let source = llama_row_source(n, rows.heads)?;
    let mut out = vec![0.0f32; x.len()];
    for r in 0..n {
        let s = source(r);
        // HF → GGUF: out[r] = x[source(r)]; GGUF → HF, the inverse: out[source(r)] = x[r].
        let (to, from) = if rows.float_is_gguf { (s, r) } else { (r, s) };
        out[to * width..(to + 1) * width].copy_from_slice(&x[from * width..(from + 1) * width]);
    }
    Some(out)
}

/// A GGUF of llama.cpp's `llama` architecture: its head counts (n_head, n_head_kv).
fn llama_gguf_heads(index: &FileIndex) -> Option<(usize, usize)> {
    if index.format != crate::formats::Format::Gguf {
        return None;
    }
    let meta = |k: &str| index.metadata.iter().find(|(key, _)| key == k).map(|(_, v)| v.trim_matches('"').to_string());
    if meta("general.architecture")? != "llama" {
        return None;
    }
    let heads: usize = meta("llama.attention.head_count")?.parse().ok()?;
    let kv = meta("llama.attention.head_count_kv").and_then(|v| v.parse().ok()).unwrap_or(heads);
    Some((heads, kv))
}

/// The permutation a renamed pair's rows went through, if one side is a llama GGUF and the pair is
/// its attn_q or attn_k (weight or bias) against the other side's q_proj / k_proj.
fn llama_rows_of(float: &FileIndex, quantized: &FileIndex, f: &str, q: &str) -> Option<LlamaRows> {
    let (gguf_name, other, float_is_gguf, (heads, kv)) = match (llama_gguf_heads(float), llama_gguf_heads(quantized)) {
        (None, Some(h)) => (q, f, false, h),
        (Some(h), None) => (f, q, true, h),
        _ => return None,
    };
    let part = gguf_name.strip_prefix("blk.")?.split_once('.')?.1;
    let heads = match part {
        "attn_q.weight" | "attn_q.bias" => heads,
        "attn_k.weight" | "attn_k.bias" => kv,
        _ => return None,
    };
    // Only against the Hugging Face name: a tensor already in GGUF order is not permuted again.
    (other != gguf_name && canonical_name(other) == gguf_name).then_some(LlamaRows { heads, float_is_gguf })
}

/// A tensor left without a partner, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unmatched {
    /// "float" or "quantized": which file it is in.
    pub file: String,
    pub name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
    pub reason: String,
}

/// The pairs found so far and what is left on each side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matching {
    pub pairs: Vec<Pair>,
    pub float_left: Vec<String>,
    pub quantized_left: Vec<String>,
}

/// The tensors of a file that hold weight values: what the tensor list calls quantizable
/// (float, ggml blocks, or codes with their own parameters), not the parameters themselves.
fn weights(index: &FileIndex) -> impl Iterator<Item = &TensorInfo> {
    index.tensors.iter().filter(|t| t.is_quantizable())
}

/// llama.cpp's GGUF names of the Hugging Face llama names (gguf-py gguf/tensor_mapping.py,
/// TensorNameMap: MODEL_TENSOR.TOKEN_EMBD "model.embed_tokens", ATTN_Q "model.layers.{bid}.self_attn.q_proj", …).
/// Only the plain llama layout: anything else is left to the fingerprint.
const LLAMA_BLOCK_NAMES: [(&str, &str); 9] = [
    ("input_layernorm", "attn_norm"),
    ("self_attn.q_proj", "attn_q"),
    ("self_attn.k_proj", "attn_k"),
    ("self_attn.v_proj", "attn_v"),
    ("self_attn.o_proj", "attn_output"),
    ("post_attention_layernorm", "ffn_norm"),
    ("mlp.gate_proj", "ffn_gate"),
    ("mlp.up_proj", "ffn_up"),
    ("mlp.down_proj", "ffn_down"),
];
const LLAMA_TOP_NAMES: [(&str, &str); 3] = [("model.embed_tokens", "token_embd"), ("model.norm", "output_norm"), ("lm_head", "output")];

/// The name a tensor is matched under: quantizer suffixes removed, Hugging Face llama names written
/// as llama.cpp writes them in GGUF.
pub fn canonical_name(name: &str) -> String {
    // onnxruntime's quantizers name a weight's codes W + "_quantized" (quantization/quant_utils.py
    // TENSOR_NAME_QUANT_SUFFIX) and its DequantizeLinear node W + "_DequantizeLinear"; its
    // MatMulNBitsQuantizer names B + "_Q{bits}", in QDQ form B + "_DQ_Q{bits}" (matmul_nbits_quantizer.py).
    let mut base = name;
    let suffixes = ["_DequantizeLinear_Output", "_DequantizeLinear", "_dequantized", "_quantized"];
    let nbits = (2..=8).flat_map(|b| [format!("_DQ_Q{b}"), format!("_Q{b}")]);
    for suffix in suffixes.into_iter().map(String::from).chain(nbits) {
        if let Some(stripped) = base.strip_suffix(suffix.as_str()) {
            base = stripped;
            break;
        }
    }
    let (stem, kind) = match base.rsplit_once('.') {
        Some((stem, kind @ ("weight" | "bias"))) => (stem, Some(kind)),
        _ => (base, None),
    };
    let mapped = if let Some((_, gguf)) = LLAMA_TOP_NAMES.iter().find(|(hf, _)| *hf == stem) {
        gguf.to_string()
    } else if let Some(rest) = stem.strip_prefix("model.layers.") {
        match rest.split_once('.') {
            Some((block, part)) if block.parse::<usize>().is_ok() => match LLAMA_BLOCK_NAMES.iter().find(|(hf, _)| *hf == part) {
                Some((_, gguf)) => format!("blk.{block}.{gguf}"),
                None => stem.to_string(),
            },
            _ => stem.to_string(),
        }
    } else {
        stem.to_string()
    };
    match kind {
        Some(kind) => format!("{mapped}.{kind}"),
        None => mapped,
    }
}

/// How a quantized tensor's shape relates to the float tensor's: the same, the 2-D transpose, or neither.
fn orientation(float: &[usize], quantized: &[usize]) -> Option<bool> {
    if float == quantized {
        Some(false)
    } else if float.len() == 2 && quantized.len() == 2 && float[0] == quantized[1] && float[1] == quantized[0] {
        Some(true)
    } else {
        None
    }
}

/// Pairs by name: the same name first, then the same canonical name (each name used once, in file order).
pub fn match_by_name(float: &FileIndex, quantized: &FileIndex) -> Matching {
    let q_weights: Vec<&TensorInfo> = weights(quantized).collect();
    let mut taken = vec![false; q_weights.len()];
    let mut pairs = Vec::new();
    let mut float_left = Vec::new();
    let f_weights: Vec<&TensorInfo> = weights(float).collect();
    let mut pending = Vec::new();
    for f in &f_weights {
        let exact = q_weights.iter().enumerate().find(|(i, q)| !taken[*i] && q.name == f.name).and_then(|(i, q)| orientation(&f.shape, &q.shape).map(|t| (i, t)));
        match exact {
            Some((i, transposed)) => {
                taken[i] = true;
                pairs.push(Pair { float: f.name.clone(), quantized: q_weights[i].name.clone(), matched_by: MatchedBy::Name, transposed, llama_rows: None });
            }
            None => pending.push(*f),
        }
    }
    for f in pending {
        let canonical = canonical_name(&f.name);
        let renamed = q_weights
            .iter()
            .enumerate()
            .find(|(i, q)| !taken[*i] && canonical_name(&q.name) == canonical)
            .and_then(|(i, q)| orientation(&f.shape, &q.shape).map(|t| (i, t)));
        match renamed {
            Some((i, transposed)) => {
                taken[i] = true;
                let llama_rows = if transposed { None } else { llama_rows_of(float, quantized, &f.name, &q_weights[i].name) };
                pairs.push(Pair { float: f.name.clone(), quantized: q_weights[i].name.clone(), matched_by: MatchedBy::RenamedName, transposed, llama_rows });
            }
            None => float_left.push(f.name.clone()),
        }
    }
    let quantized_left = q_weights.iter().zip(&taken).filter(|(_, t)| !**t).map(|(q, _)| q.name.clone()).collect();
    Matching { pairs, float_left, quantized_left }
}

/// The tensors whose fingerprints `match_by_fingerprint` needs: the ones left on each side that have
/// a partner of a compatible shape on the other.
pub fn fingerprint_candidates(float: &FileIndex, quantized: &FileIndex, matching: &Matching) -> Result<(Vec<String>, Vec<String>)> {
    let shapes = |index: &FileIndex, names: &[String]| -> Result<Vec<(String, Vec<usize>)>> {
        names.iter().map(|n| Ok((n.clone(), index.tensor(n)?.shape.clone()))).collect()
    };
    let f = shapes(float, &matching.float_left)?;
    let q = shapes(quantized, &matching.quantized_left)?;
    let fits = |a: &[usize], b: &[usize]| orientation(a, b).is_some();
    let f_names = f.iter().filter(|(_, s)| q.iter().any(|(_, t)| fits(s, t))).map(|(n, _)| n.clone()).collect();
    let q_names = q.iter().filter(|(_, t)| f.iter().any(|(_, s)| fits(s, t))).map(|(n, _)| n.clone()).collect();
    Ok((f_names, q_names))
}

/// A sample of a tensor's values for matching: at evenly spaced C-order positions of its own shape
/// and, for a 2-D tensor, of its transposed shape (the elements a transposed copy has there).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub name: String,
    pub shape: Vec<usize>,
    pub sample: Vec<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transposed_sample: Option<Vec<f32>>,
}

/// The sampled positions of a tensor of `n` elements: all of them when n ≤ 256, else
/// ⌊frac(i·(√5−1)/2)·n⌋ for i < 256 — a Weyl sequence, so a sample does not fall on one column as
/// evenly spaced positions do when the stride is a multiple of the row length (a dead input's
/// all-zero column would make the sample constant). Plain f64 arithmetic, reproducible in numpy.
fn sample_positions(n: usize) -> impl Iterator<Item = usize> {
    const GOLDEN_FRACTION: f64 = 0.618_033_988_749_894_9;
    let (k, dense) = if n <= FINGERPRINT_SAMPLES { (n, true) } else { (FINGERPRINT_SAMPLES, false) };
    (0..k).map(move |i| if dense { i } else { (((i as f64 * GOLDEN_FRACTION) % 1.0 * n as f64).floor() as usize).min(n - 1) })
}

pub fn fingerprint(name: &str, shape: &[usize], values: &[f32]) -> Result<Fingerprint> {
    let n: usize = shape.iter().product();
    if values.len() != n {
        return Err(Error::InvalidSpec(format!("fingerprint of '{name}': {} values for shape {shape:?}", values.len())));
    }
    let sample = sample_positions(n).map(|p| values[p]).collect();
    let transposed_sample = (shape.len() == 2 && shape[0] != shape[1]).then(|| {
        // Position p of the [cols, rows] transpose is element (p % rows, p / rows) of this [rows, cols] tensor.
        let (rows, cols) = (shape[0], shape[1]);
        sample_positions(n).map(|p| values[(p % rows) * cols + p / rows]).collect()
    });
    Ok(Fingerprint { name: name.to_string(), shape: shape.to_vec(), sample, transposed_sample })
}

/// Ranks 1..n with ties given their average rank.
fn average_ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut ranks = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = rank;
        }
        i = j + 1;
    }
    ranks
}

/// Spearman's rank correlation of two samples over the positions where both are finite; None
/// when fewer than 3 remain or either side is constant there (nothing to rank).
pub fn rank_correlation(a: &[f32], b: &[f32]) -> Option<f64> {
    let (x, y): (Vec<f64>, Vec<f64>) = a.iter().zip(b).filter(|(p, q)| p.is_finite() && q.is_finite()).map(|(&p, &q)| (p as f64, q as f64)).unzip();
    if x.len() < 3 {
        return None;
    }
    let (rx, ry) = (average_ranks(&x), average_ranks(&y));
    let mean = (rx.len() as f64 + 1.0) / 2.0;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (p, q) in rx.iter().zip(&ry) {
        sxy += (p - mean) * (q - mean);
        sxx += (p - mean) * (p - mean);
        syy += (q - mean) * (q - mean);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// The score of a float tensor's fingerprint against a quantized one's, and whether the copy is transposed.
fn score(f: &Fingerprint, q: &Fingerprint) -> Option<(f64, bool)> {
    let transposed = orientation(&f.shape, &q.shape)?;
    let sample = if transposed { f.transposed_sample.as_ref()? } else { &f.sample };
    rank_correlation(sample, &q.sample).map(|s| (s, transposed))
}

/// Pairs the tensors left by name by their fingerprints: the best-scoring compatible pairs first,
/// each tensor used once, none below `FINGERPRINT_MIN_SCORE`.
pub fn match_by_fingerprint(matching: &mut Matching, float: &[Fingerprint], quantized: &[Fingerprint]) {
    let mut candidates: Vec<(f64, usize, usize, bool)> = Vec::new();
    for (i, f) in float.iter().enumerate().filter(|(_, f)| matching.float_left.contains(&f.name)) {
        for (j, q) in quantized.iter().enumerate().filter(|(_, q)| matching.quantized_left.contains(&q.name)) {
            if let Some((s, transposed)) = score(f, q).filter(|(s, _)| *s >= FINGERPRINT_MIN_SCORE) {
                candidates.push((s, i, j, transposed));
            }
        }
    }
    // Highest score first; equal scores in file order, so the result does not depend on the sort.
    candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let (mut f_used, mut q_used) = (vec![false; float.len()], vec![false; quantized.len()]);
    for (_, i, j, transposed) in candidates {
        if f_used[i] || q_used[j] {
            continue;
        }
        f_used[i] = true;
        q_used[j] = true;
        matching.pairs.push(Pair { float: float[i].name.clone(), quantized: quantized[j].name.clone(), matched_by: MatchedBy::Fingerprint, transposed, llama_rows: None });
        matching.float_left.retain(|n| n != &float[i].name);
        matching.quantized_left.retain(|n| n != &quantized[j].name);
    }
}

/// The error and the size of a quantization, from its sums: one tensor's, or pooled over many.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measured {
    #[serde(serialize_with = "ser_f64")]
    pub sqnr_db: f64,
    pub cosine: Option<f64>,
    #[serde(serialize_with = "ser_f64")]
    pub max_abs_err: f64,
    pub mse: f64,
    /// Bytes stored: codes plus scales and zero points.
    pub bytes: u64,
    pub bits_per_weight: f64,
}

impl Measured {
    fn of(s: &ErrorSums, finite: usize, bytes: u64, elements: usize) -> Measured {
        let m = metrics_from_sums(s, finite, 0);
        Measured { sqnr_db: m.sqnr_db, cosine: m.cosine, max_abs_err: m.max_abs_err, mse: m.mse, bytes, bits_per_weight: bits_per_weight(bytes, elements as u64) }
    }
}

/// One quantization of one tensor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// What the quantization is: "onnx_dequantize_linear 8-bit per axis 1 (DequantizeLinear 'fc.weight_DequantizeLinear')", "Q4_K", "int8 sym channel:1".
    pub format: String,
    /// Bits per code (32 for an int32 bias, 16 for an FP16 cast; a ggml type's code bits).
    pub bits: u32,
    #[serde(flatten)]
    pub measured: Measured,
}

/// One matched tensor: theirs and ours side by side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorDiff {
    /// The float file's name.
    pub name: String,
    pub quantized_name: String,
    pub matched_by: MatchedBy,
    pub transposed: bool,
    /// The rows were compared in llama.cpp's attention order (heads, and which side is the GGUF).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llama_rows: Option<LlamaRows>,
    /// Rank correlation of the two tensors' fingerprints (FINGERPRINT_RULE); None when a side is constant.
    pub fingerprint_score: Option<f64>,
    /// Matched by name, yet the values do not follow each other (rank correlation below 0.5).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub values_disagree: bool,
    pub dtype: String,
    pub quantized_dtype: String,
    pub shape: Vec<usize>,
    pub elements: usize,
    /// Elements of the float tensor that are NaN or ±Inf, left out of every figure.
    pub nonfinite: usize,
    /// Their SQNR, repeated at the top for sorting and for `jq '.tensors[].sqnr_db'`.
    #[serde(serialize_with = "ser_f64")]
    pub sqnr_db: f64,
    pub theirs: Figures,
    /// Our quantizer on the float tensor at their bits and granularity; None when we have no such format.
    pub ours: Option<Figures>,
    /// Why `ours` is missing, or how their scheme was read into ours.
    pub ours_note: String,
    #[serde(skip)]
    theirs_sums: ErrorSums,
    #[serde(skip)]
    ours_sums: Option<ErrorSums>,
}

/// What a quantized tensor's storage costs: its codes, plus the scale and zero-point tensors listed
/// as its parameters (or, where the format keeps them out of the tensor list, 4 bytes a scale and
/// the code's width, 8 bytes for TFLite's int64, a zero point).
fn their_bytes(quantized: &FileIndex, info: &TensorInfo) -> u64 {
    let Some(q) = &info.quant else {
        return info.byte_len;
    };
    let codes = q.stored_bytes(info.dtype, info.element_count()).unwrap_or(info.byte_len);
    let listed: Vec<&TensorInfo> = quantized.tensors.iter().filter(|t| t.parameter_of.as_deref() == Some(info.name.as_str())).collect();
    if !listed.is_empty() {
        return codes + listed.iter().map(|t| t.byte_len).sum::<u64>();
    }
    let zero_point_bytes = if q.scheme == StoredScheme::Tflite { 8 } else { info.dtype.size() as u64 };
    codes + q.scales.len() as u64 * 4 + q.zero_points.len() as u64 * zero_point_bytes
}

fn stored_granularity_label(g: StoredGranularity) -> String {
    match g {
        StoredGranularity::PerTensor => "per tensor".into(),
        StoredGranularity::PerAxis { axis } => format!("per axis {axis}"),
        StoredGranularity::Blocked { axis, block_size } => format!("blocks of {block_size} along axis {axis}"),
    }
}

/// Whether a stored quantization is symmetric, and then whether its codes use the full range.
/// Signed codes with zero point 0 are onnxruntime's symmetric weights, narrow range −127..127
/// (quantization/quant_utils.py get_qmin_qmax_for_qType(symmetric=True)) as TFLite's int8 weights
/// (its quantization spec: weights int8 in [−127, 127], zero point 0); unsigned codes all centred
/// on 2^(b−1) are MatMulNBits' symmetric blocks, which use −2^(b−1)..2^(b−1)−1 (full range).
fn stored_scheme(q: &StoredQuant, dtype: DType) -> (Scheme, bool) {
    let signed = match q.layout {
        CodeLayout::Nibbles { signed } => signed,
        CodeLayout::MatmulNbits { .. } | CodeLayout::GptqPacked { .. } | CodeLayout::AwqPacked { .. } => false,
        // bitsandbytes NF4 / FP4: a codebook symmetric about 0 scaled by each block's absmax, no
        // zero point (functional.py quantize_4bit): our symmetric blocks are its peer.
        CodeLayout::HighNibbleFirst => true,
        CodeLayout::Elements => matches!(dtype, DType::I8 | DType::I16 | DType::I32 | DType::I64),
    };
    let mid = 1i64 << (q.bits.clamp(1, 32) - 1);
    if let Some(lazy) = &q.lazy {
        // Zero points read with the tensor (GPTQ / AWQ): the index keeps whether they are all one.
        return match lazy.uniform_zero {
            Some(z) if signed && z == 0 => (Scheme::Symmetric, false),
            Some(z) if !signed && z as i64 == mid => (Scheme::Symmetric, true),
            _ => (Scheme::Asymmetric, false),
        };
    }
    if signed && q.zero_points.iter().all(|&z| z == 0) {
        (Scheme::Symmetric, false)
    } else if !signed && !q.zero_points.is_empty() && q.zero_points.iter().all(|&z| z as i64 == mid) {
        (Scheme::Symmetric, true)
    } else {
        (Scheme::Asymmetric, false)
    }
}

/// Our format at their bits and granularity, and the layout (their shape, or with the blocked axis
/// moved last) ours quantizes in; or why there is none.
enum OurFormat {
    /// Our format on the values in their layout, with the axis to move last first (ours groups only along the last axis).
    Format { format: NumberFormat, move_last: Option<usize>, note: String },
    None(String),
}

fn our_format(info: &TensorInfo, float_dtype: DType) -> OurFormat {
    if let Some(q) = &info.quant {
        // TF.js's float16 storage is a cast, not integer codes: ours is the FP16 cast beside it.
        if matches!(q.scheme, StoredScheme::TfjsFloat16) {
            return OurFormat::Format { format: NumberFormat::Float(FloatCast::F16), move_last: None, note: "their TF.js float16 storage; ours rounds to nearest even".into() };
        }
        if !(2..=8).contains(&q.bits) {
            return OurFormat::None(format!("their {}-bit codes are wider than our integer formats (2 to 8 bits)", q.bits));
        }
        let (scheme, full_range) = stored_scheme(q, info.dtype);
        let rank = info.shape.len();
        let (granularity, move_last) = match q.granularity {
            StoredGranularity::PerTensor => (Granularity::PerTensor, None),
            StoredGranularity::PerAxis { axis } => (Granularity::PerChannel { axis }, None),
            StoredGranularity::Blocked { axis, block_size } => (Granularity::PerGroup { size: block_size }, (axis + 1 != rank).then_some(axis)),
        };
        let mut spec = QuantSpec::new(q.bits as u8, scheme, granularity);
        spec.format.full_range = full_range;
        let moved = move_last.map(|a| format!(", axis {a} moved last for our groups")).unwrap_or_default();
        let note = format!("their {} read as {}{moved}; min-max ranges", q.scheme_label(), NumberFormat::Scaled(spec).label());
        return OurFormat::Format { format: NumberFormat::Scaled(spec), move_last, note };
    }
    match info.dtype {
        DType::Ggml(t) => match t.codec() {
            Some(c) if c.quantizes() => OurFormat::Format { format: NumberFormat::Ggml(t), move_last: None, note: format!("ggml's quantize_row_{}_ref here", t.name().to_ascii_lowercase()) },
            _ => OurFormat::None(format!("{} is read here but has no reference quantizer", t.name())),
        },
        DType::F16 if float_dtype != DType::F16 => OurFormat::Format { format: NumberFormat::Float(FloatCast::F16), move_last: None, note: "round to nearest even".into() },
        DType::BF16 if float_dtype != DType::BF16 => OurFormat::Format { format: NumberFormat::Float(FloatCast::Bf16), move_last: None, note: "round to nearest even".into() },
        d => OurFormat::None(format!("kept as {} (not quantized in their copy)", d.name())),
    }
}

trait SchemeLabel {
    fn scheme_label(&self) -> String;
}

impl SchemeLabel for StoredQuant {
    fn scheme_label(&self) -> String {
        // label(): the JSON name also for the schemes that carry values (tfjs_affine, bnb4).
        let scheme = self.scheme.label();
        format!("{scheme} {}-bit {}", self.bits, stored_granularity_label(self.granularity))
    }
}

/// How their storage is described in a row.
fn their_format(info: &TensorInfo) -> (String, u32) {
    match (&info.quant, info.dtype) {
        (Some(q), _) => (format!("{} ({})", q.scheme_label(), q.op), q.bits),
        (None, DType::Ggml(t)) => (t.name().to_string(), t.codec().map_or(0, |c| c.code_bits as u32)),
        (None, d) => (d.name().to_string(), (d.size() * 8) as u32),
    }
}

/// C-order values of a tensor of `shape` with `axis` moved last (the other axes in order).
fn move_axis_last(x: &[f32], shape: &[usize], axis: usize) -> (Vec<f32>, Vec<usize>) {
    let outer: usize = shape[..axis].iter().product();
    let along = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let mut out = Vec::with_capacity(x.len());
    for o in 0..outer {
        for i in 0..inner {
            for a in 0..along {
                out.push(x[(o * along + a) * inner + i]);
            }
        }
    }
    let mut moved: Vec<usize> = shape.iter().enumerate().filter(|(i, _)| *i != axis).map(|(_, &d)| d).collect();
    moved.push(along);
    (out, moved)
}

fn transpose_2d(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; x.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = x[r * cols + c];
        }
    }
    out
}

fn figures(format: String, bits: u32, s: &ErrorSums, finite: usize, bytes: u64, elements: usize) -> Figures {
    Figures { format, bits, measured: Measured::of(s, finite, bytes, elements) }
}

/// Error sums over the positions where the float value is finite.
fn finite_sums(x: &[f32], y: &[f32]) -> (ErrorSums, usize) {
    if x.iter().all(|v| v.is_finite()) {
        return (kernels::error_sums_f32(x, y), x.len());
    }
    let (a, b): (Vec<f32>, Vec<f32>) = x.iter().zip(y).filter(|(v, _)| v.is_finite()).map(|(&v, &w)| (v, w)).unzip();
    let n = a.len();
    (kernels::error_sums_f32(&a, &b), n)
}

/// One pair measured: `x` the float tensor's values, `xq` the copy's values as its runtime
/// dequantizes them (both C order of their own shapes).
pub fn measure(float: &FileIndex, quantized: &FileIndex, pair: &Pair, x: &[f32], xq: &[f32]) -> Result<TensorDiff> {
    let f_info = float.tensor(&pair.float)?;
    let q_info = quantized.tensor(&pair.quantized)?;
    let n = f_info.element_count();
    if x.len() != n || xq.len() != q_info.element_count() || xq.len() != n {
        return Err(Error::InvalidSpec(format!(
            "'{}' ({} values, shape {:?}) and '{}' ({} values, shape {:?}) cannot be compared",
            pair.float, x.len(), f_info.shape, pair.quantized, xq.len(), q_info.shape
        )));
    }
    // Everything is measured in their layout: ours quantizes the float values as they are stored in the copy.
    let mut x_theirs = if pair.transposed { transpose_2d(x, f_info.shape[0], f_info.shape[1]) } else { x.to_vec() };
    if let Some(rows) = pair.llama_rows {
        x_theirs = llama_reorder(&x_theirs, &q_info.shape, rows).ok_or_else(|| {
            Error::InvalidSpec(format!("'{}' has {:?} rows, which llama.cpp's permute with {} heads does not split", pair.quantized, q_info.shape.first(), rows.heads))
        })?;
    }
    let fp_score = rank_correlation(&fingerprint(&pair.float, &q_info.shape, &x_theirs)?.sample, &fingerprint(&pair.quantized, &q_info.shape, xq)?.sample);
    let (theirs_sums, finite) = finite_sums(&x_theirs, xq);
    let (their_label, their_bits) = their_format(q_info);
    let theirs = figures(their_label, their_bits, &theirs_sums, finite, their_bytes(quantized, q_info), n);
    let (ours, ours_sums, ours_note) = match our_format(q_info, f_info.dtype) {
        OurFormat::None(why) => (None, None, why),
        OurFormat::Format { format, move_last, note } => {
            let (values, shape) = match move_last {
                Some(axis) => move_axis_last(&x_theirs, &q_info.shape, axis),
                None => (x_theirs.clone(), q_info.shape.clone()),
            };
            // The row gives our label and stored size; the figures come from the same round trip's
            // sums, which the pooled summary adds up.
            let row: TensorReport = format_report(&pair.float, f_info.dtype, &shape, &values, &format)?;
            let y = our_round_trip(&format, &values, &shape)?;
            let (sums, _) = finite_sums(&values, &y);
            let fig = figures(row.config.clone(), row.bits as u32, &sums, finite, row.bytes_quantized, n);
            (Some(fig), Some(sums), note)
        }
    };
    Ok(TensorDiff {
        name: pair.float.clone(),
        quantized_name: pair.quantized.clone(),
        matched_by: pair.matched_by,
        transposed: pair.transposed,
        llama_rows: pair.llama_rows,
        fingerprint_score: fp_score,
        values_disagree: pair.matched_by != MatchedBy::Fingerprint && fp_score.is_some_and(|s| s < NAME_MATCH_DOUBT_SCORE),
        dtype: f_info.dtype.name().into(),
        quantized_dtype: q_info.dtype.name().into(),
        shape: f_info.shape.clone(),
        elements: n,
        nonfinite: n - finite,
        sqnr_db: theirs.measured.sqnr_db,
        theirs,
        ours,
        ours_note,
        theirs_sums,
        ours_sums,
    })
}

/// Our values of `format` on `x`: the same round trip the report's row measured.
fn our_round_trip(format: &NumberFormat, x: &[f32], shape: &[usize]) -> Result<Vec<f32>> {
    match format {
        NumberFormat::Float(cast) => Ok(cast.round_trip(x)),
        NumberFormat::Ggml(t) => Ok(crate::quant::ggml::round_trip(*t, x, shape)?.1),
        NumberFormat::Scaled(spec) => Ok(crate::quant::quantize_minmax(x, shape, spec)?.dequantize()),
        NumberFormat::Block(b) => Ok(crate::quant::block::quantize(*b, x, shape).values),
    }
}

/// Figures pooled over many tensors: every element counts once (sums of x², e², x·x̂ over all of them).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pooled {
    pub tensors: usize,
    pub elements: usize,
    #[serde(flatten)]
    pub measured: Measured,
}

fn pooled<'a>(items: impl Iterator<Item = (&'a ErrorSums, usize, usize, u64)>) -> Pooled {
    let mut s = ErrorSums::default();
    let (mut tensors, mut elements, mut finite, mut bytes) = (0, 0, 0, 0);
    for (t, n, fin, b) in items {
        s.sum_xx += t.sum_xx;
        s.sum_yy += t.sum_yy;
        s.sum_xy += t.sum_xy;
        s.sum_ee += t.sum_ee;
        s.max_abs_err = s.max_abs_err.max(t.max_abs_err);
        tensors += 1;
        elements += n;
        finite += fin;
        bytes += b;
    }
    Pooled { tensors, elements, measured: Measured::of(&s, finite, bytes, elements) }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub matched: usize,
    pub by_name: usize,
    pub by_renamed_name: usize,
    pub by_fingerprint: usize,
    /// Pairs matched by name whose values do not follow each other.
    pub values_disagree: usize,
    /// Their quantization over every matched tensor.
    pub theirs_all: Pooled,
    /// Theirs and ours over the tensors that have both (those of `ours_note` lack ours); null when
    /// none has (a copy that quantized nothing, or only in formats we lack).
    pub theirs: Option<Pooled>,
    pub ours: Option<Pooled>,
    pub fingerprint_rule: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiffReport {
    pub float_file: String,
    pub quantized_file: String,
    /// Worst first: their SQNR from lowest to highest.
    pub tensors: Vec<TensorDiff>,
    pub summary: Summary,
    pub unmatched: Vec<Unmatched>,
}

/// The report: rows sorted worst first, the pooled summary, what was left unmatched.
pub fn report(float: &FileIndex, quantized: &FileIndex, matching: &Matching, mut rows: Vec<TensorDiff>) -> Result<DiffReport> {
    rows.sort_by(|a, b| a.sqnr_db.total_cmp(&b.sqnr_db).then_with(|| a.name.cmp(&b.name)));
    let count = |by: MatchedBy| rows.iter().filter(|r| r.matched_by == by).count();
    let finite = |r: &TensorDiff| r.elements - r.nonfinite;
    let both: Vec<&TensorDiff> = rows.iter().filter(|r| r.ours.is_some()).collect();
    let summary = Summary {
        matched: rows.len(),
        by_name: count(MatchedBy::Name),
        by_renamed_name: count(MatchedBy::RenamedName),
        by_fingerprint: count(MatchedBy::Fingerprint),
        values_disagree: rows.iter().filter(|r| r.values_disagree).count(),
        theirs_all: pooled(rows.iter().map(|r| (&r.theirs_sums, r.elements, finite(r), r.theirs.measured.bytes))),
        theirs: (!both.is_empty()).then(|| pooled(both.iter().map(|r| (&r.theirs_sums, r.elements, finite(r), r.theirs.measured.bytes)))),
        ours: (!both.is_empty()).then(|| pooled(both.iter().filter_map(|r| Some((r.ours_sums.as_ref()?, r.elements, finite(r), r.ours.as_ref()?.measured.bytes))))),
        fingerprint_rule: FINGERPRINT_RULE.into(),
    };
    let mut unmatched = Vec::new();
    for (file, index, names) in [("float", float, &matching.float_left), ("quantized", quantized, &matching.quantized_left)] {
        for name in names {
            let t = index.tensor(name)?;
            let other_shapes: Vec<&Vec<usize>> = if file == "float" {
                matching.quantized_left.iter().filter_map(|n| quantized.tensor(n).ok()).map(|t| &t.shape).collect()
            } else {
                matching.float_left.iter().filter_map(|n| float.tensor(n).ok()).map(|t| &t.shape).collect()
            };
            let reason = if other_shapes.iter().any(|s| orientation(&t.shape, s).is_some() || orientation(s, &t.shape).is_some()) {
                format!("no name match, and no tensor of shape {:?} on the other side has a rank correlation of {FINGERPRINT_MIN_SCORE} or more", t.shape)
            } else {
                format!("no name match, and no tensor left on the other side has shape {:?}", t.shape)
            };
            unmatched.push(Unmatched { file: file.into(), name: name.clone(), dtype: t.dtype.name().into(), shape: t.shape.clone(), reason });
        }
    }
    Ok(DiffReport { float_file: float.file.clone(), quantized_file: quantized.file.clone(), tensors: rows, summary, unmatched })
}

/// The whole diff with a loader of a tensor's values (C order, dequantized as its file says):
/// what the CLI and the tests run; the page runs the same steps one tensor read at a time.
pub fn diff(float: &FileIndex, quantized: &FileIndex, mut load: impl FnMut(Side, &TensorInfo) -> Result<Vec<f32>>) -> Result<DiffReport> {
    let mut matching = match_by_name(float, quantized);
    let (f_names, q_names) = fingerprint_candidates(float, quantized, &matching)?;
    let mut prints = |side: Side, index: &FileIndex, names: &[String]| -> Result<Vec<Fingerprint>> {
        names
            .iter()
            .map(|n| {
                let info = index.tensor(n)?;
                fingerprint(n, &info.shape, &load(side, info)?)
            })
            .collect()
    };
    let f_prints = prints(Side::Float, float, &f_names)?;
    let q_prints = prints(Side::Quantized, quantized, &q_names)?;
    match_by_fingerprint(&mut matching, &f_prints, &q_prints);
    let mut rows = Vec::with_capacity(matching.pairs.len());
    for pair in &matching.pairs {
        let x = load(Side::Float, float.tensor(&pair.float)?)?;
        let xq = load(Side::Quantized, quantized.tensor(&pair.quantized)?)?;
        rows.push(measure(float, quantized, pair, &x, &xq)?);
    }
    report(float, quantized, &matching, rows)
}

/// Which of the two files a tensor is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Float,
    Quantized,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_names_strip_quantizer_suffixes_and_map_llama_names() {
        assert_eq!(canonical_name("fc.weight_quantized"), "fc.weight");
        assert_eq!(canonical_name("fc.weight_Q4"), "fc.weight");
        assert_eq!(canonical_name("fc.weight_DQ_Q4"), "fc.weight");
        assert_eq!(canonical_name("model.layers.3.self_attn.q_proj.weight"), "blk.3.attn_q.weight");
        assert_eq!(canonical_name("blk.3.attn_q.weight"), "blk.3.attn_q.weight");
        assert_eq!(canonical_name("model.embed_tokens.weight"), "token_embd.weight");
        assert_eq!(canonical_name("lm_head.weight"), "output.weight");
        assert_eq!(canonical_name("model.layers.x.mlp.up_proj.weight"), "model.layers.x.mlp.up_proj.weight");
    }

    /// TF.js's float16 storage (the converter's --quantize_float16, here the fixture's dense/*) is a
    /// cast: ours beside it is FP16, not 16-bit integer codes. Native only: it reads the fixture from disk.
    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn tfjs_float16_storage_is_matched_by_our_fp16_cast() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/formats/tfjs/layers/model.json");
        let index = crate::formats::read_index(path, &mut crate::formats::FileSource::open(path).unwrap()).unwrap();
        let half: Vec<&TensorInfo> = index.tensors.iter().filter(|t| t.quant.as_ref().is_some_and(|q| matches!(q.scheme, StoredScheme::TfjsFloat16))).collect();
        assert!(!half.is_empty(), "the fixture stores dense/* as float16");
        for info in half {
            match our_format(info, DType::F32) {
                OurFormat::Format { format, .. } => assert_eq!(format, NumberFormat::Float(FloatCast::F16), "{}", info.name),
                OurFormat::None(why) => panic!("{}: {why}", info.name),
            }
        }
    }

    #[test]
    fn llama_rows_follow_convert_hf_to_gguf_permute_by_hand() {
        // 8 rows, 2 heads: reshape (2, 2, 2) → swapaxes(1, 2): each head's two halves interleaved,
        // numpy: np.arange(8).reshape(2, 2, 2).swapaxes(1, 2).reshape(8) = 0 2 1 3 4 6 5 7.
        let source = llama_row_source(8, 2).unwrap();
        assert_eq!((0..8).map(source).collect::<Vec<_>>(), vec![0, 2, 1, 3, 4, 6, 5, 7]);
        // 12 rows, 1 head: 0 6 1 7 2 8 …
        let source = llama_row_source(12, 1).unwrap();
        assert_eq!((0..12).map(source).collect::<Vec<_>>(), vec![0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11]);
        assert!(llama_row_source(6, 2).is_none(), "6 rows do not split into 2 heads of two halves");
        // Rows of width 2 there and back.
        let x: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let there = llama_reorder(&x, &[8, 2], LlamaRows { heads: 2, float_is_gguf: false }).unwrap();
        assert_eq!(&there[..6], &[0.0, 1.0, 4.0, 5.0, 2.0, 3.0]);
        assert_eq!(llama_reorder(&there, &[8, 2], LlamaRows { heads: 2, float_is_gguf: true }).unwrap(), x);
    }

    #[test]
    fn rank_correlation_by_hand() {
        // Same order: 1; reversed: -1; ties get average ranks: x ranks 1 2 3 4, y ranks 1.5 1.5 3 4.
        assert_eq!(rank_correlation(&[1.0, 2.0, 3.0, 4.0], &[10.0, 20.0, 30.0, 40.0]), Some(1.0));
        assert_eq!(rank_correlation(&[1.0, 2.0, 3.0, 4.0], &[4.0, 3.0, 2.0, 1.0]), Some(-1.0));
        // Σ(rx−2.5)(ry−2.5) = 1.5+0.5+0.25+2.25 = 4.5 (rx−2.5 = −1.5, −0.5, 0.5, 1.5; ry−2.5 = −1, −1, 0.5, 1.5);
        // Σ(rx−2.5)² = 5, Σ(ry−2.5)² = 1+1+0.25+2.25 = 4.5: 4.5 / √22.5.
        let s = rank_correlation(&[1.0, 2.0, 3.0, 4.0], &[0.0, 0.0, 1.0, 2.0]).unwrap();
        assert!((s - 4.5 / 22.5f64.sqrt()).abs() < 1e-15, "{s}");
        assert_eq!(rank_correlation(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
    }

    #[test]
    fn fingerprint_samples_the_transpose_where_a_transposed_copy_has_it() {
        let x: Vec<f32> = (0..6).map(|v| v as f32).collect(); // [2, 3]
        let t = transpose_2d(&x, 2, 3); // [3, 2]: 0 3 1 4 2 5
        assert_eq!(t, vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        let f = fingerprint("a", &[2, 3], &x).unwrap();
        assert_eq!(f.transposed_sample.as_deref(), Some(&t[..]));
        let (moved, shape) = move_axis_last(&x, &[2, 3], 0);
        assert_eq!((moved, shape), (t, vec![3, 2]));
    }
}
