//! GGUF v3 export (ggml/docs/gguf.md): the weights of any source file written as one ggml type,
//! byte-identical to what llama.cpp's `llama-quantize --pure` (no importance matrix) writes for
//! the same f32 values — the blocks come from ggml's reference quantizers
//! (crate::quant::ggml), the choice of type per tensor from llama.cpp's
//! src/llama-quant.cpp (`tensor_allows_quantization`, `tensor_type_fallback`).
//!
//! Layout: "GGUF", version 3, tensor count, key-value count; the key-value pairs; the tensor
//! infos (name, n_dims, ne[] with ne[0] the row length, i.e. the numpy shape reversed, type,
//! offset from the data start); zeros up to `general.alignment` (default 32); then each tensor's
//! bytes, each padded with zeros to the alignment (as ggml's gguf writer pads them).
//! Everything is computed from the source's index, so the header is written first and the
//! tensors are streamed one at a time.

use super::{ExportPlan, ExportReport, ExportedTensor};
use crate::error::{Error, Result};
use crate::formats::gguf::{KeyValue, DEFAULT_ALIGNMENT, MAX_DIMS, TYPE_STRING, TYPE_U32};
use crate::formats::{FileIndex, Format};
use crate::quant::ggml::{self, GgmlBlock};
use crate::tensor::{DType, TensorInfo};

/// ggml.h GGML_MAX_NAME: tensor names are shorter than this in files llama.cpp loads.
const GGML_MAX_NAME: usize = 64;

/// The ggml type asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum GgufTarget {
    F16,
    Q8_0,
    Q4_0,
    Q4_1,
    Q4_K,
    Q6_K,
    Q2_K,
    Q3_K,
    Q5_K,
    IQ4_NL,
}

impl GgufTarget {
    const ALL: [GgufTarget; 10] = [
        GgufTarget::F16,
        GgufTarget::Q8_0,
        GgufTarget::Q4_0,
        GgufTarget::Q4_1,
        GgufTarget::Q4_K,
        GgufTarget::Q6_K,
        GgufTarget::Q2_K,
        GgufTarget::Q3_K,
        GgufTarget::Q5_K,
        GgufTarget::IQ4_NL,
    ];

    /// "F16", "Q8_0", "Q4_0", "Q4_1", "Q4_K", "Q6_K", "Q2_K", "Q3_K", "Q5_K", "IQ4_NL", in any case.
    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|t| t.name().eq_ignore_ascii_case(s.trim())).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|t| t.name()).collect();
            Error::InvalidSpec(format!("GGUF type '{s}': expected one of {}", names.join(", ")))
        })
    }

    pub fn name(self) -> &'static str {
        self.dtype().name()
    }

    pub fn dtype(self) -> DType {
        match self {
            GgufTarget::F16 => DType::F16,
            GgufTarget::Q8_0 => DType::Ggml(ggml::Q8_0::TYPE),
            GgufTarget::Q4_0 => DType::Ggml(ggml::Q4_0::TYPE),
            GgufTarget::Q4_1 => DType::Ggml(ggml::Q4_1::TYPE),
            GgufTarget::Q4_K => DType::Ggml(ggml::Q4_K::TYPE),
            GgufTarget::Q6_K => DType::Ggml(ggml::Q6_K::TYPE),
            GgufTarget::Q2_K => DType::Ggml(ggml::Q2_K::TYPE),
            GgufTarget::Q3_K => DType::Ggml(ggml::Q3_K::TYPE),
            GgufTarget::Q5_K => DType::Ggml(ggml::Q5_K::TYPE),
            GgufTarget::IQ4_NL => DType::Ggml(ggml::IQ4_NL::TYPE),
        }
    }

    /// llama.h `llama_ftype` of a file of this type (LLAMA_FTYPE_MOSTLY_*); Q4_K is Q4_K_S, the
    /// file type `llama-quantize --pure` with Q4_K_S writes (every tensor Q4_K), and likewise Q3_K
    /// is Q3_K_S and Q5_K is Q5_K_S.
    fn file_type(self) -> u32 {
        match self {
            GgufTarget::F16 => 1,
            GgufTarget::Q4_0 => 2,
            GgufTarget::Q4_1 => 3,
            GgufTarget::Q8_0 => 7,
            GgufTarget::Q4_K => 14,
            GgufTarget::Q6_K => 18,
            GgufTarget::Q2_K => 10,
            GgufTarget::Q3_K => 11,
            GgufTarget::Q5_K => 16,
            GgufTarget::IQ4_NL => 25,
        }
    }
}

/// What becomes of one source tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Action {
    /// Decoded to f32, then written as this ggml type (F32, F16 or a block type).
    Encode(DType),
    /// The stored bytes copied unchanged as this ggml type (a GGUF source's tensors kept as they
    /// are, integer tensors).
    Copy(DType),
}

#[derive(Debug, Clone)]
struct Planned {
    /// Index of the tensor in the source.
    position: usize,
    source: TensorInfo,
    action: Action,
    ne: Vec<u64>,
    bytes: u64,
    note: Option<String>,
}

/// A GGUF file being written (see `ExportPlan`). `report()` is complete once every tensor has
/// been encoded: a note on NaN / Inf values is added when a tensor's values are seen.
#[derive(Debug)]
pub struct GgufPlan {
    file: String,
    target: GgufTarget,
    alignment: u64,
    metadata: Vec<KeyValue>,
    planned: Vec<Planned>,
    sources: Vec<TensorInfo>,
    /// Tensors not written, with the position in the source they are reported at.
    skipped: Vec<(usize, ExportedTensor)>,
    header_len: u64,
}

/// ggml_n_dims: the number of dimensions up to the last one larger than 1 (at least 1), which
/// is what llama.cpp's "quantize only 2D and 3D tensors" rule counts.
fn ggml_n_dims(ne: &[u64]) -> usize {
    ne.iter().rposition(|&n| n > 1).map_or(1, |i| i + 1)
}

/// llama-quant.cpp `tensor_allows_quantization`'s name rules: tensors llama.cpp keeps as they
/// are even with ≥2 dims (norms, MoE gates, small conv / mixing weights, position embeddings).
/// They name llama.cpp's own GGUF tensors, so they apply to GGUF sources only. Its further rule
/// that the name end in "weight" is not applied: llama.cpp's converters name every matrix so, and
/// here 2-D tensors of files from other writers (gguf-py, numpy) are meant to be quantized too.
fn llama_cpp_keeps_by_name(name: &str) -> bool {
    const KEPT: [&str; 11] = [
        "_norm.weight",
        "ffn_gate_inp.weight",
        "altup",
        "laurel",
        "per_layer_model_proj",
        "ssm_conv1d",
        "shortconv.conv.weight",
        "attn_rel_b.weight",
        "position_embd",
        "token_types.weight",
        "time_mix_",
    ];
    KEPT.iter().any(|k| name.contains(k))
}

/// llama-quant.cpp `tensor_type_fallback`: a row length that is not whole blocks of `want`
/// becomes the block-32 type llama.cpp picks (Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0), or F16 when
/// that does not fit either. llama.cpp has no fallback for the block-32 types (it stops with an
/// error); here they become F16 too, and the note says so. Q2_K and Q3_K fall back to IQ4_NL
/// (quantize_iq4_nl without an importance matrix, as llama-quantize without one writes it).
fn fallback(want: DType, row: u64) -> (DType, Option<String>) {
    let block = want.block() as u64;
    if row % block == 0 {
        return (want, None);
    }
    let why = format!("row length {row} is not a multiple of {block} ({}'s block)", want.name());
    let step = match want {
        DType::Ggml(t) if t == ggml::Q4_K::TYPE => Some(DType::Ggml(ggml::Q5_0::TYPE)),
        DType::Ggml(t) if t == ggml::Q6_K::TYPE => Some(DType::Ggml(ggml::Q8_0::TYPE)),
        DType::Ggml(t) if t == ggml::Q5_K::TYPE => Some(DType::Ggml(ggml::Q5_1::TYPE)),
        DType::Ggml(t) if t == ggml::Q2_K::TYPE || t == ggml::Q3_K::TYPE => Some(DType::Ggml(ggml::IQ4_NL::TYPE)),
        _ => None,
    };
    match step {
        Some(t) if row % t.block() as u64 == 0 => {
            (t, Some(format!("{why}: written as {}, as llama.cpp's tensor_type_fallback does", t.name())))
        }
        Some(t) => (
            DType::F16,
            Some(format!("{why}, nor of {} ({}'s fallback): written as F16, as llama.cpp's tensor_type_fallback does", t.block(), t.name())),
        ),
        None => (
            DType::F16,
            Some(format!(
                "{why}: written as F16 (llama-quantize stops here: it has no fallback for {}; F16 is its last resort for the k-quants)",
                want.name()
            )),
        ),
    }
}

/// The GGUF integer type an integer tensor is copied as, if GGUF has one.
fn gguf_integer_type(d: DType) -> Option<DType> {
    matches!(d, DType::I8 | DType::I16 | DType::I32 | DType::I64).then_some(d)
}

fn string_value(s: &str) -> Vec<u8> {
    let mut v = (s.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(s.as_bytes());
    v
}

fn kv_u32(key: &str, v: u32) -> KeyValue {
    KeyValue { key: key.into(), value_type: TYPE_U32, value: v.to_le_bytes().to_vec() }
}

fn kv_string(key: &str, v: &str) -> KeyValue {
    KeyValue { key: key.into(), value_type: TYPE_STRING, value: string_value(v) }
}

fn pad(n: u64, alignment: u64) -> u64 {
    n.div_ceil(alignment) * alignment
}

/// The alignment a GGUF source asks for (its reader already checked it is a power of two).
fn source_alignment(source: &FileIndex) -> u64 {
    source
        .detail
        .gguf_key_values()
        .unwrap_or_default()
        .iter()
        .find(|kv| kv.key == "general.alignment" && kv.value_type == TYPE_U32 && kv.value.len() == 4)
        .map_or(DEFAULT_ALIGNMENT, |kv| u32::from_le_bytes([kv.value[0], kv.value[1], kv.value[2], kv.value[3]]) as u64)
}

/// Plans the export of `source` as GGUF of `target`: from the index alone (no tensor data read).
pub fn plan_gguf(source: &FileIndex, target: GgufTarget) -> Result<GgufPlan> {
    let from_gguf = source.format == Format::Gguf;
    let alignment = source_alignment(source);
    let mut planned = Vec::new();
    let mut skipped = Vec::new();
    for (position, t) in source.tensors.iter().enumerate() {
        let skip = |why: String| (position, ExportedTensor { name: t.name.clone(), written_as: "skipped".into(), bytes: 0, note: Some(why) });
        if t.shape.len() > MAX_DIMS as usize {
            skipped.push(skip(format!("{} dimensions: GGUF (ggml) tensors have at most {MAX_DIMS}", t.shape.len())));
            continue;
        }
        // GGUF's ne is the numpy shape reversed; a scalar is one element of one dimension.
        let mut ne: Vec<u64> = t.shape.iter().rev().map(|&d| d as u64).collect();
        if ne.is_empty() {
            ne.push(1);
        }
        let elements: u64 = ne.iter().product();
        let row = ne[0];
        let (action, note) = if t.dtype.is_quantizable() {
            let kept_by_name = from_gguf && llama_cpp_keeps_by_name(&t.name);
            let dims = ggml_n_dims(&ne);
            if dims < 2 || kept_by_name {
                let why = if dims < 2 {
                    format!("{dims}-D (llama.cpp quantizes only tensors of 2 or more dimensions)")
                } else {
                    "llama.cpp does not quantize tensors of this name".to_string()
                };
                if from_gguf {
                    // llama-quantize copies a tensor it does not quantize in its stored type.
                    (Action::Copy(t.dtype), Some(format!("{why}: copied as stored ({})", t.dtype.name())))
                } else if t.dtype == DType::F32 {
                    (Action::Encode(DType::F32), Some(format!("{why}: kept as F32")))
                } else {
                    // convert_hf_to_gguf.py stores 1-D tensors (norms, biases) as F32.
                    let note = format!("{why}: written as F32 from {}, as convert_hf_to_gguf.py does", t.dtype.name());
                    (Action::Encode(DType::F32), Some(note))
                }
            } else {
                let (dtype, mut note) = fallback(target.dtype(), row);
                if t.dtype.block() > 1 {
                    let requant = format!("requantized from {} (decoded to f32 first)", t.dtype.name());
                    note = Some(match note {
                        Some(n) => format!("{n}; {requant}"),
                        None => requant,
                    });
                }
                (Action::Encode(dtype), note)
            }
        } else if from_gguf && t.dtype.block() > 1 {
            // A ggml block type this playground cannot decode (Q2_K, IQ…): kept as it is.
            (Action::Copy(t.dtype), Some(format!("{} cannot be decoded here: copied as stored", t.dtype.name())))
        } else if let Some(int) = gguf_integer_type(t.dtype) {
            if t.big_endian || t.fortran_order {
                skipped.push(skip(format!(
                    "{} stored {}: integer tensors are copied as stored, and GGUF needs little-endian C order",
                    t.dtype.name(),
                    if t.big_endian { "big-endian" } else { "in Fortran order" }
                )));
                continue;
            }
            (Action::Copy(int), Some(format!("integer tensor: copied as GGUF {}", int.name())))
        } else {
            skipped.push(skip(format!("{} has no GGUF type", t.dtype.name())));
            continue;
        };
        let out_dtype = match action {
            Action::Encode(d) | Action::Copy(d) => d,
        };
        let bytes = out_dtype.bytes_for(elements).ok_or_else(|| {
            Error::InvalidSpec(format!("tensor '{}': {elements} elements are not whole blocks of {}", t.name, out_dtype.name()))
        })?;
        if let Action::Copy(_) = action {
            if bytes != t.byte_len {
                return Err(Error::malformed(
                    &source.file,
                    format!("tensor '{}': {} bytes stored where {} has {bytes}", t.name, t.byte_len, out_dtype.name()),
                ));
            }
        }
        // ggml's gguf reader refuses a tensor name of GGML_MAX_NAME (64) bytes or more.
        let note = if t.name.len() >= GGML_MAX_NAME {
            let long = format!("the name is {} bytes: llama.cpp refuses names of {GGML_MAX_NAME} or more (GGML_MAX_NAME)", t.name.len());
            Some(note.map_or(long.clone(), |n| format!("{n}; {long}")))
        } else {
            note
        };
        planned.push(Planned { position, source: t.clone(), action, ne, bytes, note });
    }
    let metadata = metadata_for(source, target, alignment, from_gguf);
    let sources = planned.iter().map(|p| p.source.clone()).collect();
    let mut plan = GgufPlan {
        file: source.file.clone(),
        target,
        alignment,
        metadata,
        planned,
        sources,
        skipped,
        header_len: 0,
    };
    plan.header_len = plan.header()?.len() as u64;
    Ok(plan)
}

/// The key-value pairs written: a GGUF source's own, carried over (minus the split keys and the
/// file type, which would no longer be true), else only what is known about the source; plus
/// general.quantization_version = 2 and general.file_type as llama-quantize sets them.
fn metadata_for(source: &FileIndex, target: GgufTarget, alignment: u64, from_gguf: bool) -> Vec<KeyValue> {
    const REPLACED: [&str; 5] =
        ["general.quantization_version", "general.file_type", "split.no", "split.count", "split.tensors.count"];
    let mut kvs: Vec<KeyValue> = Vec::new();
    if from_gguf {
        kvs.extend(source.detail.gguf_key_values().unwrap_or_default().iter().filter(|kv| !REPLACED.contains(&kv.key.as_str())).cloned());
    } else {
        let file_name = source.file.rsplit(['/', '\\']).next().unwrap_or(&source.file);
        let stem = file_name.rsplit_once('.').map(|(stem, _)| stem).filter(|s| !s.is_empty()).unwrap_or(file_name);
        kvs.push(kv_string("general.name", stem));
        kvs.push(kv_string(
            "quant_playground.source",
            &format!("{file_name} ({}), exported by quant-playground {}", format_name(source.format), env!("CARGO_PKG_VERSION")),
        ));
        if alignment != DEFAULT_ALIGNMENT {
            kvs.push(kv_u32("general.alignment", alignment as u32));
        }
    }
    // llama-quant.cpp: gguf_set_val_u32(general.quantization_version, GGML_QNT_VERSION = 2) and
    // general.file_type = the ftype.
    kvs.push(kv_u32("general.quantization_version", 2));
    kvs.push(kv_u32("general.file_type", target.file_type()));
    kvs
}

fn format_name(f: Format) -> &'static str {
    match f {
        Format::Safetensors => "safetensors",
        Format::Npy => "npy",
        Format::Npz => "npz",
        Format::Gguf => "gguf",
        Format::PyTorch => "pytorch",
        Format::Onnx => "onnx",
        Format::SafetensorsIndex => "sharded safetensors",
        Format::Tflite => "tflite",
        Format::Tfjs | Format::TfjsManifest => "tfjs",
    }
}

/// The GGUF type id of a dtype written here (every planned dtype is one; an error, not a panic, if not).
fn ggml_type_id(d: DType) -> Result<u32> {
    ggml::type_id(d.name()).ok_or_else(|| Error::unsupported(d.name(), "no GGUF type id for this dtype"))
}

impl GgufPlan {
    /// The alignment of the data section and of every tensor in it.
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Offset of each planned tensor from the start of the data section.
    fn offsets(&self) -> Vec<u64> {
        let mut at = 0;
        self.planned
            .iter()
            .map(|p| {
                let o = at;
                at += pad(p.bytes, self.alignment);
                o
            })
            .collect()
    }

    /// The tensor's bytes, and how many of its values are NaN or ±Inf (for the note).
    fn encode_tensor(&self, p: &Planned, stored: Vec<u8>) -> Result<(Vec<u8>, usize)> {
        let mut nonfinite = 0;
        let out = match p.action {
            Action::Copy(_) => crate::formats::element_bytes(&p.source, stored)?,
            Action::Encode(dtype) => {
                let x = crate::formats::decode_tensor(&p.source, stored)?;
                nonfinite = x.iter().filter(|v| !v.is_finite()).count();
                let mut out = vec![0u8; p.bytes as usize];
                match dtype {
                    DType::F32 => out.iter_mut().zip(x.iter().flat_map(|v| v.to_le_bytes())).for_each(|(o, b)| *o = b),
                    DType::F16 => ggml::quantize_row_f16(&x, &mut out).ok_or_else(|| Error::unsupported(&p.source.name, "F16 output buffer of the wrong size"))?,
                    DType::Ggml(t) => ggml::quantize_ref(t, &x, &mut out).ok_or_else(|| {
                        Error::unsupported(&p.source.name, format!("the GGUF writer has no quantizer for {} rows of {} values", t.name(), x.len()))
                    })?,
                    other => {
                        return Err(Error::unsupported(&p.source.name, format!("the GGUF writer has no quantizer for {}", other.name())));
                    }
                }
                out
            }
        };
        if out.len() as u64 != p.bytes {
            return Err(Error::malformed(
                &self.file,
                format!("tensor '{}': {} bytes where {} were planned", p.source.name, out.len(), p.bytes),
            ));
        }
        Ok((out, nonfinite))
    }
}

impl ExportPlan for GgufPlan {
    fn header(&self) -> Result<Vec<u8>> {
        let mut h = Vec::new();
        h.extend_from_slice(b"GGUF");
        h.extend_from_slice(&3u32.to_le_bytes());
        h.extend_from_slice(&(self.planned.len() as u64).to_le_bytes());
        h.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for kv in &self.metadata {
            h.extend_from_slice(&string_value(&kv.key));
            h.extend_from_slice(&kv.value_type.to_le_bytes());
            h.extend_from_slice(&kv.value);
        }
        for (p, offset) in self.planned.iter().zip(self.offsets()) {
            h.extend_from_slice(&string_value(&p.source.name));
            h.extend_from_slice(&(p.ne.len() as u32).to_le_bytes());
            for &n in &p.ne {
                h.extend_from_slice(&n.to_le_bytes());
            }
            let dtype = match p.action {
                Action::Encode(d) | Action::Copy(d) => d,
            };
            h.extend_from_slice(&ggml_type_id(dtype)?.to_le_bytes());
            h.extend_from_slice(&offset.to_le_bytes());
        }
        h.resize(pad(h.len() as u64, self.alignment) as usize, 0);
        Ok(h)
    }

    fn sources(&self) -> &[TensorInfo] {
        &self.sources
    }

    fn encode(&mut self, i: usize, stored: Vec<u8>) -> Result<Vec<u8>> {
        let p = self.planned.get(i).ok_or_else(|| {
            Error::InvalidSpec(format!("GGUF export of {}: tensor {i} asked for, {} planned", self.file, self.planned.len()))
        })?;
        let (mut out, nonfinite) = self.encode_tensor(p, stored)?;
        out.resize(pad(p.bytes, self.alignment) as usize, 0);
        if nonfinite > 0 {
            // Written as ggml's quantizer writes them; llama-quantize stops at such a tensor when a
            // NaN / Inf reaches a block's scale (ggml_validate_row_data).
            let say = format!(
                "{nonfinite} NaN/±Inf values: quantized as ggml's reference does (llama-quantize rejects the tensor if one reaches a block scale)"
            );
            let p = &mut self.planned[i];
            p.note = Some(p.note.take().map_or(say.clone(), |n| format!("{n}; {say}")));
        }
        Ok(out)
    }

    fn trailer(&mut self) -> Result<Vec<u8>> {
        Ok(Vec::new())
    }

    fn report(&self) -> ExportReport {
        // In the source's order, the skipped tensors where they were.
        let mut tensors: Vec<(usize, ExportedTensor)> = self
            .planned
            .iter()
            .map(|p| {
                let written_as = match p.action {
                    Action::Encode(d) | Action::Copy(d) => d.name().to_string(),
                };
                (p.position, ExportedTensor { name: p.source.name.clone(), written_as, bytes: p.bytes, note: p.note.clone() })
            })
            .collect();
        tensors.extend(self.skipped.iter().cloned());
        tensors.sort_by_key(|(position, _)| *position);
        let tensors = tensors.into_iter().map(|(_, t)| t).collect();
        let data: u64 = self.planned.iter().map(|p| pad(p.bytes, self.alignment)).sum();
        ExportReport { format: format!("gguf:{}", self.target.name()), tensors, total_bytes: self.header_len + data }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_is_case_insensitive_and_lists_the_choices() {
        assert_eq!(GgufTarget::parse("q4_k").unwrap(), GgufTarget::Q4_K);
        assert_eq!(GgufTarget::parse("F16").unwrap(), GgufTarget::F16);
        assert_eq!(GgufTarget::parse("q5_k").unwrap(), GgufTarget::Q5_K);
        let e = GgufTarget::parse("IQ2_XXS").unwrap_err().to_string();
        assert!(e.contains("IQ2_XXS") && e.contains("F16, Q8_0, Q4_0, Q4_1, Q4_K, Q6_K, Q2_K, Q3_K, Q5_K, IQ4_NL"), "{e}");
        assert_eq!(GgufTarget::parse("iq4_nl").unwrap().dtype().name(), "IQ4_NL");
    }

    #[test]
    fn fallbacks_follow_llama_cpp() {
        let t = |name| DType::from_name(name).unwrap();
        let (q4k, q6k, q5_0, q8_0, q4_0) = (t("Q4_K"), t("Q6_K"), t("Q5_0"), t("Q8_0"), t("Q4_0"));
        assert_eq!(fallback(q4k, 512).0, q4k);
        assert_eq!(fallback(q4k, 320).0, q5_0);
        assert_eq!(fallback(q6k, 320).0, q8_0);
        assert_eq!(fallback(q4k, 300).0, DType::F16);
        assert_eq!(fallback(q6k, 300).0, DType::F16);
        assert_eq!(fallback(q8_0, 300).0, DType::F16);
        assert_eq!(fallback(q4_0, 64).0, q4_0);
        assert_eq!(fallback(t("Q5_K"), 320).0, t("Q5_1"));
        let (q2, note) = fallback(t("Q2_K"), 320);
        assert_eq!(q2, t("IQ4_NL"));
        assert!(note.unwrap().contains("written as IQ4_NL, as llama.cpp's tensor_type_fallback does"));
        assert_eq!(fallback(t("Q3_K"), 320).0, t("IQ4_NL"));
        assert_eq!(fallback(t("Q3_K"), 300).0, DType::F16);
    }

    #[test]
    fn ggml_n_dims_ignores_trailing_ones() {
        assert_eq!(ggml_n_dims(&[4096]), 1);
        assert_eq!(ggml_n_dims(&[4096, 1]), 1);
        assert_eq!(ggml_n_dims(&[1, 4096]), 2);
        assert_eq!(ggml_n_dims(&[64, 32, 8]), 3);
    }
}
