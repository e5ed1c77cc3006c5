//! Quantized safetensors for the block formats (FP8, MX, NVFP4, NF4; quant/block.rs): every float
//! tensor as its element codes and its scales, named as the integer scheme names them (README "Export"):
//!
//! | tensor | dtype | shape |
//! |---|---|---|
//! | `<name>` | I8 (mxint8), else U8: FP8 codes one a byte, 6-bit codes in a byte's low bits, 4-bit codes two a byte | source shape; 4-bit: `[..., ceil(last/2)]` |
//! | `<name>.scale` | F32 (fp8-*: `[]`; nf4: `[blocks]` of the flattened tensor), U8 of E8M0 codes (mx*) or of E4M3 codes (nvfp4) | mx*, nvfp4: `[...leading axes, blocks per row]` |
//! | `<name>.tensor_scale` | F32, nvfp4 only | `[]` |
//!
//! 4-bit codes (E2M1 for mxfp4 and nvfp4, NF4 level indices) are packed as the INT4 export packs
//! them: element 2i of each row in the low nibble, 2i+1 in the high nibble, each row a fresh byte.
//! 6-bit codes sit in the low bits of a byte. `__metadata__` names the format (`quant.format`), its
//! element, block and scale encodings, and `quant.shape.<name>`, the source shape.

use super::{base_name, ExportPlan, ExportReport, ExportedTensor};
use crate::error::{Error, Result};
use crate::formats::{self, ByteSource, FileIndex};
use crate::quant::block::{self, BlockScales};
use crate::quant::BlockFormat;
use crate::tensor::{DType, TensorInfo};

/// Bumped when this naming scheme or its packing changes.
pub const SCHEME_VERSION: &str = "1";

/// What the element codes are.
pub fn element_name(format: BlockFormat) -> &'static str {
    match format {
        BlockFormat::Fp8E4m3 | BlockFormat::Mxfp8E4m3 => "e4m3",
        BlockFormat::Fp8E5m2 => "e5m2",
        BlockFormat::Mxfp6E2m3 => "e2m3",
        BlockFormat::Mxfp6E3m2 => "e3m2",
        BlockFormat::Mxfp4 | BlockFormat::Nvfp4 => "e2m1",
        BlockFormat::Mxint8 => "int8",
        BlockFormat::Nf4 => "nf4",
    }
}

/// Which values share a scale: "tensor", or the block length.
fn block_name(format: BlockFormat) -> &'static str {
    match format {
        BlockFormat::Fp8E4m3 | BlockFormat::Fp8E5m2 => "tensor",
        BlockFormat::Nvfp4 => "16",
        BlockFormat::Nf4 => "64",
        _ => "32",
    }
}

fn scale_name(format: BlockFormat) -> &'static str {
    match format {
        BlockFormat::Fp8E4m3 | BlockFormat::Fp8E5m2 | BlockFormat::Nf4 => "f32",
        BlockFormat::Nvfp4 => "e4m3",
        _ => "e8m0",
    }
}

fn packed(format: BlockFormat) -> bool {
    format.code_bits() == 4
}

/// FP8 codes are stored as U8, not F8_E4M3 / F8_E5M2: the safetensors package's numpy loader has
/// no float8 dtype (`quant.element` says what the bytes are; torch can `.view(torch.float8_e4m3fn)`).
fn code_dtype(format: BlockFormat) -> DType {
    match format {
        BlockFormat::Mxint8 => DType::I8,
        _ => DType::U8,
    }
}

fn code_shape(shape: &[usize], format: BlockFormat) -> Vec<usize> {
    let mut s: Vec<usize> = if shape.is_empty() { vec![1] } else { shape.to_vec() };
    if packed(format) {
        if let Some(last) = s.last_mut() {
            *last = last.div_ceil(2);
        }
    }
    s
}

/// Blocks of `block` along each row: the leading axes, then blocks per row.
fn per_row_shape(shape: &[usize], block: usize) -> Vec<usize> {
    let mut s = shape.to_vec();
    let last = s.pop().unwrap_or(1);
    s.push(last.div_ceil(block));
    s
}

/// (dtype, shape) of `<name>.scale`.
fn scale_layout(shape: &[usize], format: BlockFormat) -> (DType, Vec<usize>) {
    let n: usize = shape.iter().product();
    match format {
        BlockFormat::Fp8E4m3 | BlockFormat::Fp8E5m2 => (DType::F32, vec![]),
        BlockFormat::Nf4 => (DType::F32, vec![n.div_ceil(crate::quant::nf4::BLOCK)]),
        BlockFormat::Nvfp4 => (DType::U8, per_row_shape(shape, crate::quant::nvfp4::BLOCK)),
        _ => (DType::U8, per_row_shape(shape, crate::quant::mx::BLOCK)),
    }
}

pub fn metadata(source_file: &str, format: BlockFormat) -> Vec<(String, String)> {
    vec![
        ("quant.scheme_version".into(), SCHEME_VERSION.into()),
        ("quant.format".into(), format.label().into()),
        ("quant.element".into(), element_name(format).into()),
        ("quant.block".into(), block_name(format).into()),
        ("quant.scale_format".into(), scale_name(format).into()),
        ("quant.packing".into(), if packed(format) { "nibbles" } else { "bytes" }.into()),
        ("quant.source".into(), base_name(source_file).into()),
        ("quant.producer".into(), format!("quant-playground {}", env!("CARGO_PKG_VERSION"))),
    ]
}

enum Entry {
    Quantize { bytes: u64 },
    Copy { bytes: u64 },
}

pub struct BlockSafetensorsPlan {
    file: String,
    format: BlockFormat,
    sources: Vec<TensorInfo>,
    entries: Vec<Entry>,
    header: Vec<u8>,
    rows: Vec<ExportedTensor>,
    total_bytes: u64,
}

/// Plans the export of every tensor of `index` in `format`, the header from the index alone.
pub fn plan(index: &FileIndex, format: BlockFormat) -> Result<BlockSafetensorsPlan> {
    let names: std::collections::HashSet<&str> = index.tensors.iter().map(|t| t.name.as_str()).collect();
    let mut header = serde_json::Map::new();
    let mut meta: serde_json::Map<String, serde_json::Value> =
        metadata(&index.file, format).into_iter().map(|(k, v)| (k, v.into())).collect();
    let (mut sources, mut entries, mut rows) = (Vec::new(), Vec::new(), Vec::new());
    let mut offset = 0u64;
    let mut put = |header: &mut serde_json::Map<String, serde_json::Value>, name: &str, dtype: DType, shape: &[usize], len: u64| {
        header.insert(name.to_string(), serde_json::json!({ "dtype": dtype.name(), "shape": shape, "data_offsets": [offset, offset + len] }));
        offset += len;
        len
    };
    for info in &index.tensors {
        if info.is_quantizable() {
            for suffix in [".scale", ".tensor_scale"] {
                let extra = format!("{}{suffix}", info.name);
                if names.contains(extra.as_str()) {
                    return Err(Error::unsupported(
                        &index.file,
                        format!("tensor '{}' would be written as '{extra}', a name the file already uses", info.name),
                    ));
                }
            }
            let cshape = code_shape(&info.shape, format);
            let mut bytes = put(&mut header, &info.name, code_dtype(format), &cshape, cshape.iter().product::<usize>() as u64);
            let (sd, sshape) = scale_layout(&info.shape, format);
            bytes += put(&mut header, &format!("{}.scale", info.name), sd, &sshape, (sshape.iter().product::<usize>() * sd.size()) as u64);
            if format == BlockFormat::Nvfp4 {
                bytes += put(&mut header, &format!("{}.tensor_scale", info.name), DType::F32, &[], 4);
            }
            meta.insert(format!("quant.shape.{}", info.name), serde_json::Value::from(info.shape.clone()).to_string().into());
            rows.push(ExportedTensor { name: info.name.clone(), written_as: format.label().into(), bytes, note: None });
            entries.push(Entry::Quantize { bytes });
            sources.push(info.clone());
        } else if !matches!(info.dtype, DType::Ggml(_)) {
            put(&mut header, &info.name, info.dtype, &info.shape, info.byte_len);
            let note = Some("not a float tensor: copied as is".into());
            rows.push(ExportedTensor { name: info.name.clone(), written_as: info.dtype.name().into(), bytes: info.byte_len, note });
            entries.push(Entry::Copy { bytes: info.byte_len });
            sources.push(info.clone());
        } else {
            let note = Some(format!("left out: {} has no safetensors dtype and is not decoded here", info.dtype.name()));
            rows.push(ExportedTensor { name: info.name.clone(), written_as: "-".into(), bytes: 0, note });
        }
    }
    header.insert("__metadata__".into(), serde_json::Value::Object(meta));
    let head = super::safetensors::header_bytes(header);
    let total_bytes = head.len() as u64 + offset;
    Ok(BlockSafetensorsPlan { file: index.file.clone(), format, sources, entries, header: head, rows, total_bytes })
}

/// The codes as stored: 4-bit ones two a byte along each row, the others one a byte.
pub fn code_bytes(codes: &[u8], shape: &[usize], format: BlockFormat) -> Vec<u8> {
    if !packed(format) {
        return codes.to_vec();
    }
    let row = shape.last().copied().unwrap_or(1).max(1);
    codes.chunks(row).flat_map(|r| r.chunks(2).map(|p| (p[0] & 0x0F) | (p.get(1).map_or(0, |h| (h & 0x0F) << 4)))).collect()
}

/// The bytes of `<name>`, `<name>.scale` (and `.tensor_scale`) for one tensor.
pub fn tensor_bytes(x: &[f32], shape: &[usize], format: BlockFormat) -> Vec<u8> {
    let q = block::quantize(format, x, shape);
    let mut out = code_bytes(&q.codes, shape, format);
    let f32s = |v: &[f32]| v.iter().flat_map(|s| s.to_le_bytes()).collect::<Vec<u8>>();
    match &q.scales {
        BlockScales::Tensor(s) => out.extend(f32s(&[*s])),
        BlockScales::E8m0(c) => out.extend_from_slice(c),
        BlockScales::E4m3 { codes, tensor_scale } => {
            out.extend_from_slice(codes);
            out.extend(f32s(&[*tensor_scale]));
        }
        BlockScales::Absmax(a) => out.extend(f32s(a)),
    }
    out
}

impl ExportPlan for BlockSafetensorsPlan {
    fn header(&self) -> Result<Vec<u8>> {
        Ok(self.header.clone())
    }

    fn sources(&self) -> &[TensorInfo] {
        &self.sources
    }

    fn encode(&mut self, i: usize, stored: Vec<u8>) -> Result<Vec<u8>> {
        let info = self.sources.get(i).ok_or_else(|| Error::InvalidSpec(format!("no source tensor {i} in this export")))?;
        let (out, planned) = match self.entries[i] {
            Entry::Copy { bytes } => (super::safetensors::copied_bytes(info, stored)?, bytes),
            Entry::Quantize { bytes } => (tensor_bytes(&formats::decode_tensor(info, stored)?, &info.shape, self.format), bytes),
        };
        if out.len() as u64 != planned {
            return Err(Error::malformed(&self.file, format!("tensor '{}': {} bytes where the header planned {planned}", info.name, out.len())));
        }
        Ok(out)
    }

    fn trailer(&mut self) -> Result<Vec<u8>> {
        Ok(Vec::new())
    }

    fn report(&self) -> ExportReport {
        ExportReport { format: format!("safetensors ({})", self.format.label()), tensors: self.rows.clone(), total_bytes: self.total_bytes }
    }
}

/// Reads a block-format export's tensor back to f32 (the numpy snippet of the README, in Rust).
pub fn dequantize_exported(index: &FileIndex, source: &mut dyn ByteSource, name: &str) -> Result<Vec<f32>> {
    let meta = |key: &str| {
        index.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).ok_or_else(|| {
            Error::malformed(&index.file, format!("__metadata__ has no '{key}': not a quant-playground block-format export"))
        })
    };
    let label = meta("quant.format")?;
    let format = BlockFormat::ALL
        .into_iter()
        .find(|b| b.label() == label)
        .ok_or_else(|| Error::malformed(&index.file, format!("__metadata__ 'quant.format' = '{label}' is not a block format")))?;
    let shape_text = meta(&format!("quant.shape.{name}"))?;
    let shape: Vec<usize> = serde_json::from_str(shape_text)
        .map_err(|e| Error::malformed(&index.file, format!("__metadata__ quant.shape.{name} = '{shape_text}': {e}")))?;
    let read = |source: &mut dyn ByteSource, t: &str| -> Result<Vec<u8>> {
        let info = index.tensor(t)?;
        formats::read_tensor_bytes(source, info)
    };
    let packed_codes = read(source, name)?;
    let n: usize = shape.iter().product();
    let row = shape.last().copied().unwrap_or(1).max(1);
    let codes: Vec<u8> = if packed(format) {
        let per_row = row.div_ceil(2);
        packed_codes.chunks(per_row).flat_map(|r| (0..row).map(move |j| (r[j / 2] >> (4 * (j % 2))) & 0x0F)).collect()
    } else {
        packed_codes
    };
    if codes.len() != n {
        return Err(Error::malformed(&index.file, format!("tensor '{name}': {} codes for shape {shape:?}", codes.len())));
    }
    let scale = read(source, &format!("{name}.scale"))?;
    let f32s = |b: &[u8]| b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect::<Vec<f32>>();
    let scales = match format {
        BlockFormat::Fp8E4m3 | BlockFormat::Fp8E5m2 => BlockScales::Tensor(f32s(&scale).first().copied().unwrap_or(1.0)),
        BlockFormat::Nf4 => BlockScales::Absmax(f32s(&scale)),
        BlockFormat::Nvfp4 => {
            let t = f32s(&read(source, &format!("{name}.tensor_scale"))?);
            BlockScales::E4m3 { codes: scale, tensor_scale: t.first().copied().unwrap_or(1.0) }
        }
        _ => BlockScales::E8m0(scale),
    };
    block::dequantize(format, &codes, &scales, &shape)
        .ok_or_else(|| Error::malformed(&index.file, format!("tensor '{name}': its scales do not cover shape {shape:?}")))
}
