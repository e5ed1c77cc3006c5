//! Export: quantized weights written as files other tools load (safetensors, GGUF, ONNX QDQ).
//!
//! Every writer is a plan made from the source's index alone (names, shapes, dtypes), so the
//! header can be written first and each tensor's bytes streamed after it, one tensor at a time:
//! neither the CLI nor the page ever holds the whole model, in or out.
//!
//! Driving a plan: write `header()`, then for each `i` in `0..sources().len()` read that source
//! tensor's stored bytes (`TensorInfo::stored_range`) and write `encode(i, bytes)`, then `trailer()`.

pub mod gguf;

use crate::error::Result;
use crate::tensor::TensorInfo;
use serde::Serialize;

/// What happened to one tensor on export.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportedTensor {
    pub name: String,
    /// The dtype written (e.g. "Q4_K", "I8", "U8", "F16", "F32").
    pub written_as: String,
    pub bytes: u64,
    /// Why the tensor was not written as asked (a row length that fits no block, a 1-D tensor
    /// kept in float as llama.cpp keeps it, a non-float tensor copied as is), when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The whole export: what each tensor became and the size of the file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportReport {
    pub format: String,
    pub tensors: Vec<ExportedTensor>,
    pub total_bytes: u64,
}

/// A file being written: header, then one piece per source tensor, then a trailer.
pub trait ExportPlan {
    /// The bytes before the first tensor's data.
    fn header(&self) -> Result<Vec<u8>>;
    /// The source tensors to feed to `encode`, in order.
    fn sources(&self) -> &[TensorInfo];
    /// The bytes written for source tensor `i` (padding included) from its stored bytes as read
    /// from the source file (`stored_range`); the plan decodes them itself.
    fn encode(&mut self, i: usize, stored: Vec<u8>) -> Result<Vec<u8>>;
    /// The bytes after the last tensor (empty for most formats).
    fn trailer(&mut self) -> Result<Vec<u8>>;
    /// What was written, for the CLI's table and the page.
    fn report(&self) -> ExportReport;
}

pub mod convert;
pub mod onnx_qdq;
pub mod safetensors;
pub mod safetensors_block;

use crate::calib::Method;
use crate::error::Error;
use crate::formats::{ByteSource, FileIndex, Format, FormatDetail};
use crate::quant::QuantSpec;
use serde::Deserialize;

/// Where an export goes, as `--to` spells it: `safetensors`, `onnx-qdq` or `gguf:TYPE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportTarget {
    Safetensors,
    /// Safetensors of a block format's codes and scales: `safetensors:mxfp4`, `safetensors:nf4`, ….
    SafetensorsBlock(crate::quant::BlockFormat),
    OnnxQdq,
    /// A ggml type name (F16, Q8_0, Q4_0, Q4_1, Q4_K, Q6_K, Q2_K, Q3_K, Q5_K, IQ4_NL), parsed by the GGUF writer.
    Gguf(String),
}

impl ExportTarget {
    pub fn parse(text: &str) -> Result<Self> {
        match text.trim() {
            "safetensors" => Ok(ExportTarget::Safetensors),
            "onnx-qdq" | "onnx" => Ok(ExportTarget::OnnxQdq),
            t => match t.split_once(':') {
                Some(("gguf", ty)) if !ty.is_empty() => Ok(ExportTarget::Gguf(ty.to_string())),
                Some(("safetensors", label)) => match crate::quant::NumberFormat::parse(label) {
                    Ok(crate::quant::NumberFormat::Block(b)) => Ok(ExportTarget::SafetensorsBlock(b)),
                    _ => Err(Error::InvalidSpec(format!(
                        "export target '{text}': safetensors:FORMAT takes fp8-e4m3, fp8-e5m2, mxfp8-e4m3, mxint8, \
                         mxfp6-e2m3, mxfp6-e3m2, mxfp4, nvfp4 or nf4 (integer specs go with plain safetensors)"
                    ))),
                },
                _ => Err(Error::InvalidSpec(format!(
                    "export target '{text}': expected safetensors, onnx-qdq or gguf:TYPE (F16, Q8_0, Q4_0, Q4_1, Q4_K, Q6_K), \
                     or safetensors:FORMAT (mxfp4, nvfp4, nf4, fp8-e4m3, …)"
                ))),
            },
        }
    }

    pub fn label(&self) -> String {
        match self {
            ExportTarget::Safetensors => "safetensors".into(),
            ExportTarget::SafetensorsBlock(b) => format!("safetensors:{}", b.label()),
            ExportTarget::OnnxQdq => "onnx-qdq".into(),
            ExportTarget::Gguf(t) => format!("gguf:{t}"),
        }
    }
}

/// The quantization an integer export applies to every float tensor: the spec and how each
/// slot's range is calibrated (the same pair `quantize --calib` takes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntExport {
    pub spec: QuantSpec,
    pub method: Method,
}

/// Runs a plan to the end: header, each source tensor read and encoded in turn, trailer, all
/// written to `out` as they are made. `progress(done, total, name)` is called after each tensor.
pub fn write_plan(
    plan: &mut dyn ExportPlan,
    source: &mut dyn ByteSource,
    out: &mut dyn std::io::Write,
    out_name: &str,
    progress: &mut dyn FnMut(usize, usize, &str),
) -> Result<ExportReport> {
    let io = |e: std::io::Error| Error::Io { path: out_name.to_string(), detail: format!("writing: {e}") };
    out.write_all(&plan.header()?).map_err(io)?;
    let total = plan.sources().len();
    for i in 0..total {
        let info = plan.sources()[i].clone();
        let stored = crate::formats::read_stored(source, &info)?;
        let bytes = plan.encode(i, stored)?;
        out.write_all(&bytes).map_err(io)?;
        progress(i + 1, total, &info.name);
    }
    out.write_all(&plan.trailer()?).map_err(io)?;
    out.flush().map_err(io)?;
    Ok(plan.report())
}

/// The index as `FileIndex` serializes it (the page keeps it as JSON): read back for a plan.
pub fn index_from_json(text: &str) -> Result<FileIndex> {
    #[derive(Deserialize)]
    struct IndexJson {
        file: String,
        format: String,
        file_len: u64,
        tensors: Vec<TensorInfo>,
        #[serde(default)]
        metadata: Vec<(String, String)>,
    }
    let j: IndexJson = serde_json::from_str(text).map_err(|e| Error::InvalidSpec(format!("file index JSON: {e}")))?;
    let format = match j.format.as_str() {
        "safetensors" => Format::Safetensors,
        "npy" => Format::Npy,
        "npz" => Format::Npz,
        "gguf" => Format::Gguf,
        "pytorch" => Format::PyTorch,
        "onnx" => Format::Onnx,
        "tflite" => Format::Tflite,
        "safetensors-index" => Format::SafetensorsIndex,
        "tfjs" => Format::Tfjs,
        "tfjs-manifest" => Format::TfjsManifest,
        other => return Err(Error::InvalidSpec(format!("file index JSON: unknown format '{other}'"))),
    };
    // The typed GGUF key-values are not in the JSON (a vocabulary runs to megabytes); `make_plan`
    // reads them again from the file's header when a GGUF export needs them.
    Ok(FileIndex { file: j.file, format, file_len: j.file_len, tensors: j.tensors, metadata: j.metadata, detail: FormatDetail::None })
}

/// Keeps only the tensors named in `only` (all when empty), in the index's order; a name the
/// file does not hold is an error. The page's "this tensor only" download uses it.
pub fn select_tensors(index: &FileIndex, only: &[String]) -> Result<FileIndex> {
    for name in only {
        index.tensor(name)?;
    }
    let mut out = index.clone();
    if !only.is_empty() {
        out.tensors.retain(|t| only.contains(&t.name));
    }
    Ok(out)
}

/// The file name without its folders, for metadata that should not leak a local path.
pub(crate) fn base_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// The plan for `target`: the one dispatch the CLI and the page share. `reader` reads the source
/// file's header bytes (ONNX QDQ copies the model's skeleton from it); the other targets plan
/// from the index alone.
pub fn make_plan(
    target: &ExportTarget,
    index: &FileIndex,
    reader: &mut dyn crate::formats::RangeReader,
    config: IntExport,
) -> Result<Box<dyn ExportPlan>> {
    match target {
        ExportTarget::Safetensors => Ok(Box::new(safetensors::plan_safetensors(index, config)?)),
        ExportTarget::SafetensorsBlock(b) => Ok(Box::new(safetensors_block::plan(index, *b)?)),
        ExportTarget::OnnxQdq => {
            if index.format != Format::Onnx {
                let format = serde_json::to_string(&index.format).unwrap_or_default();
                return Err(Error::unsupported(
                    &index.file,
                    format!(
                        "onnx-qdq writes an ONNX model back with DequantizeLinear weights, so it needs an .onnx input; this file is {}",
                        format.trim_matches('"')
                    ),
                ));
            }
            Ok(Box::new(onnx_qdq::plan_onnx_qdq(reader, config)?))
        }
        ExportTarget::Gguf(ty) => {
            let target = gguf::GgufTarget::parse(ty)?;
            if index.format == Format::Gguf && index.detail.gguf_key_values().is_none() {
                // An index that came through JSON (the page) lacks the typed key-values the export
                // carries over: read them from the header again (the reader may ask for a range).
                let header = crate::formats::gguf::open(&crate::formats::Probe::known(&index.file), reader)?;
                let full = FileIndex { detail: header.detail, ..index.clone() };
                return Ok(Box::new(gguf::plan_gguf(&full, target)?));
            }
            Ok(Box::new(gguf::plan_gguf(index, target)?))
        }
    }
}
