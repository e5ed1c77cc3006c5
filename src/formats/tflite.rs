//! TFLite models (tensorflow/lite/schema/schema.fbs): a FlatBuffer `Model` (file identifier
//! "TFL3" at byte 4) whose subgraphs list `Tensor`s, each naming a `Buffer` that holds its bytes
//! (buffer 0 and empty buffers are activations, not weights). Fields used — Model: subgraphs 2,
//! description 3, buffers 4; SubGraph: tensors 0, name 4; Tensor: shape 0, type 1, buffer 2,
//! name 3, quantization 4, sparsity 6; QuantizationParameters: scale 2, zero_point 3,
//! quantized_dimension 6; Buffer: data 0, offset 1, size 2 (the layout of models over 2 GB, whose
//! data sits after the FlatBuffer at `offset`).

use super::decode::flatbuffers::{Flat, Table};
use super::{Claim, FileIndex, Format, FormatDetail, Probe, RangeReader};
use crate::error::{Error, Result};
use crate::tensor::stored::{CodeLayout, StoredGranularity, StoredQuant, StoredScheme};
use crate::tensor::{checked_element_count, DType, TensorInfo};
use std::collections::HashSet;

/// Limits on what a header may declare before anything is allocated from it.
const MAX_TENSORS: u64 = 1 << 20;
const MAX_DIMS: u64 = 16;
const MAX_NAME: u64 = 4096;
const MAX_PARAMETERS: u64 = 1 << 24;

pub fn sniff(p: &Probe) -> Option<Claim> {
    if p.prefix.get(4..8) == Some(b"TFL3") {
        return Some(Claim::Content);
    }
    p.file.to_ascii_lowercase().ends_with(".tflite").then_some(Claim::Name)
}

/// schema.fbs TensorType → (dtype, 4-bit packed and signed).
fn tflite_dtype(t: i8) -> Option<(DType, Option<bool>)> {
    Some(match t {
        0 => (DType::F32, None),
        1 => (DType::F16, None),
        2 => (DType::I32, None),
        3 => (DType::U8, None),
        4 => (DType::I64, None),
        6 => (DType::Bool, None),
        7 => (DType::I16, None),
        9 => (DType::I8, None),
        10 => (DType::F64, None),
        12 => (DType::U64, None),
        15 => (DType::U32, None),
        16 => (DType::U16, None),
        // INT4: two values a byte, the first in the low nibble (tensorflow/lite/kernels/internal/
        // portable_tensor_utils.h UnpackDenseInt4IntoInt8).
        17 => (DType::I8, Some(true)),
        18 => (DType::BF16, None),
        _ => return None,
    })
}

fn type_name(t: i8) -> String {
    match t {
        5 => "STRING".into(),
        8 => "COMPLEX64".into(),
        11 => "COMPLEX128".into(),
        13 => "RESOURCE".into(),
        14 => "VARIANT".into(),
        other => format!("type {other}"),
    }
}

/// Where a buffer's bytes are: (offset in the file, length), or None for an empty buffer.
fn buffer_range(f: &mut Flat, buffers: &super::decode::flatbuffers::Vector, index: u32) -> Result<Option<(u64, u64)>> {
    if index as u64 >= buffers.len {
        return Err(f.bad(buffers.start, format!("a tensor names buffer {index} of {}", buffers.len)));
    }
    let b = f.table_in(buffers, index as u64)?;
    if let Some(data) = f.vector(&b, 0, 1)? {
        return Ok((data.len > 0).then_some((data.start, data.len)));
    }
    let offset = f.scalar::<8>(&b, 1)?.map_or(0, u64::from_le_bytes);
    let size = f.scalar::<8>(&b, 2)?.map_or(0, u64::from_le_bytes);
    // offset 0 / 1 mean "no data" in schema.fbs (1 marks a buffer deliberately left empty).
    if offset <= 1 || size == 0 {
        return Ok(None);
    }
    if offset.checked_add(size).is_none_or(|e| e > f.len()) {
        return Err(f.bad(b.pos, format!("buffer {index} says {size} bytes at offset {offset}, past the end of the file at {}", f.len())));
    }
    Ok(Some((offset, size)))
}

fn quantization(f: &mut Flat, q: &Table, shape: &[usize], dtype: DType, nibbles: Option<bool>) -> std::result::Result<Option<StoredQuant>, String> {
    let err = |e: Error| e.to_string();
    let Some(scales) = f.vector(q, 2, 4).map_err(err)? else { return Ok(None) };
    if scales.len == 0 {
        return Ok(None);
    }
    if scales.len > MAX_PARAMETERS {
        return Err(format!("{} scales, over the limit of {MAX_PARAMETERS}", scales.len));
    }
    let scale_values: Vec<f32> = (0..scales.len).map(|i| f.f32(scales.start + 4 * i)).collect::<Result<_>>().map_err(err)?;
    let zero_points = match f.vector(q, 3, 8).map_err(err)? {
        Some(z) if z.len > 0 => {
            if z.len != scales.len {
                return Err(format!("{} zero points for {} scales", z.len, scales.len));
            }
            (0..z.len)
                .map(|i| f.i64(z.start + 8 * i).map_err(err).and_then(|v| i32::try_from(v).map_err(|_| format!("zero point {v} is out of range"))))
                .collect::<std::result::Result<Vec<i32>, String>>()?
        }
        _ => Vec::new(),
    };
    let axis = f.scalar::<4>(q, 6).map_err(err)?.map_or(0, i32::from_le_bytes);
    let granularity = if scales.len == 1 {
        StoredGranularity::PerTensor
    } else {
        let axis = usize::try_from(axis).ok().filter(|&a| a < shape.len()).ok_or_else(|| format!("quantized_dimension {axis} is outside rank {}", shape.len()))?;
        StoredGranularity::PerAxis { axis }
    };
    let (layout, bits) = match nibbles {
        Some(signed) => (CodeLayout::Nibbles { signed }, 4),
        None => (CodeLayout::Elements, 8 * dtype.size() as u32),
    };
    Ok(Some(StoredQuant { scheme: StoredScheme::Tflite, granularity, bits, layout, scales: scale_values, zero_points, op: "TFLite tensor quantization".into(), row_groups: Vec::new(), half_output: false, lazy: None }))
}

/// Reads the Model through `r` (the prefix is not needed).
pub fn open(_: &Probe, r: &mut dyn RangeReader) -> Result<FileIndex> {
    let file = r.file().to_string();
    let file_len = r.len();
    let mut f = Flat::new(r);
    if f.bytes(4, 4)? != b"TFL3" {
        return Err(Error::malformed(&file, "not a TFLite model: no 'TFL3' file identifier at byte 4"));
    }
    let model = f.root()?;
    let mut metadata = Vec::new();
    if let Some(v) = f.scalar::<4>(&model, 0)? {
        metadata.push(("schema version".to_string(), u32::from_le_bytes(v).to_string()));
    }
    if let Some(d) = f.string(&model, 3, MAX_NAME)? {
        metadata.push(("description".to_string(), d));
    }
    let buffers = f.vector(&model, 4, 4)?.ok_or_else(|| Error::malformed(&file, "TFLite model without buffers"))?;
    let subgraphs = f.vector(&model, 2, 4)?.ok_or_else(|| Error::malformed(&file, "TFLite model without subgraphs"))?;
    let mut tensors = Vec::new();
    let mut names = HashSet::new();
    let mut seen_buffers = HashSet::new();
    let (mut activations, mut total) = (0u64, 0u64);
    for s in 0..subgraphs.len {
        let sg = f.table_in(&subgraphs, s)?;
        let Some(list) = f.vector(&sg, 0, 4)? else { continue };
        total += list.len;
        if total > MAX_TENSORS {
            return Err(Error::malformed(&file, format!("more than {MAX_TENSORS} tensors")));
        }
        for i in 0..list.len {
            let t = f.table_in(&list, i)?;
            let name = f.string(&t, 3, MAX_NAME)?.unwrap_or_else(|| format!("tensor_{s}_{i}"));
            let buffer = f.scalar::<4>(&t, 2)?.map_or(0, u32::from_le_bytes);
            let Some((offset, len)) = (if buffer == 0 { None } else { buffer_range(&mut f, &buffers, buffer)? }) else {
                activations += 1;
                continue;
            };
            let ttype = f.scalar::<1>(&t, 1)?.map_or(0, |b| b[0] as i8);
            let Some((dtype, nibbles)) = tflite_dtype(ttype) else {
                metadata.push((format!("skipped {name}"), format!("{} tensors are not read", type_name(ttype))));
                continue;
            };
            if f.field(&t, 6)?.is_some() {
                metadata.push((format!("skipped {name}"), "a sparse tensor (its sparsity metadata is not read)".to_string()));
                continue;
            }
            let shape_v = f.vector(&t, 0, 4)?;
            let mut shape = Vec::new();
            if let Some(v) = shape_v {
                if v.len > MAX_DIMS {
                    return Err(f.bad(v.start, format!("tensor '{name}' has {} dimensions, over {MAX_DIMS}", v.len)));
                }
                for d in 0..v.len {
                    let dim = f.i32(v.start + 4 * d)?;
                    shape.push(usize::try_from(dim).map_err(|_| f.bad(v.start + 4 * d, format!("tensor '{name}' has dimension {dim}")))?);
                }
            }
            let bad = |what: String| Error::malformed(&file, format!("tensor '{name}': {what}"));
            let elements = checked_element_count(&shape).ok_or_else(|| bad(format!("shape {shape:?} overflows")))? as u64;
            let byte_len = match nibbles {
                Some(_) => elements.div_ceil(2),
                None => elements.checked_mul(dtype.size() as u64).ok_or_else(|| bad("its size overflows".into()))?,
            };
            if byte_len != len {
                return Err(bad(format!("buffer {buffer} holds {len} bytes but shape {shape:?} of {} needs {byte_len}", dtype.name())));
            }
            let listed = if names.contains(&name) { format!("subgraph{s}/{name}") } else { name.clone() };
            if !names.insert(listed.clone()) {
                return Err(bad("the name appears twice".into()));
            }
            let mut info = TensorInfo::raw(listed, dtype, shape, offset, byte_len);
            if let Some(q) = f.table_field(&t, 4)? {
                if !dtype.is_quantizable() {
                    match quantization(&mut f, &q, &info.shape, dtype, nibbles) {
                        Ok(Some(sq)) => match sq.check(&info.name, dtype, &info.shape, byte_len) {
                            Ok(()) => info.quant = Some(sq),
                            Err(e) => metadata.push((format!("not dequantized {name}"), e.to_string())),
                        },
                        Ok(None) => {}
                        Err(why) => metadata.push((format!("not dequantized {name}"), why)),
                    }
                }
            }
            if nibbles.is_some() && info.quant.is_none() {
                metadata.push((format!("skipped {name}"), "an INT4 tensor without quantization parameters".to_string()));
                continue;
            }
            if !seen_buffers.insert(buffer) {
                metadata.push((format!("shared buffer {buffer}"), format!("'{}' shares its bytes with an earlier tensor", info.name)));
            }
            tensors.push(info);
        }
    }
    if activations > 0 {
        metadata.push(("activations".to_string(), format!("{activations} tensors without a buffer (inputs, outputs, intermediate values) are not weights")));
    }
    Ok(FileIndex { file, format: Format::Tflite, file_len, tensors, metadata, detail: FormatDetail::None })
}
