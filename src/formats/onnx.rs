//! ONNX models (onnx/onnx.proto): a protobuf ModelProto whose `graph` (field 7, GraphProto) holds
//! the weights as `initializer`s (field 5, TensorProto). A protobuf walk (`protobuf::Reader`)
//! that reads only field headers and small fields, skipping over payloads, so a 2 GB model's
//! index costs a few reads. TensorProto fields used: dims 1, data_type 2, segment 3, float_data 4,
//! int32_data 5, int64_data 7, name 8, raw_data 9, double_data 10, external_data 13
//! (StringStringEntryProto key 1 / value 2), data_location 14.

use super::decode::protobuf::{varint_at, Reader};
use super::{Claim, FileIndex, Format, FormatDetail, Probe, RangeReader};
use crate::error::{Error, Result};
use crate::tensor::{checked_element_count, DType, Storage, TensorInfo};

/// Tensors with more dimensions than this are refused (ONNX has no limit; nobody goes near it).
const MAX_DIMS: usize = 64;
/// Names and strings longer than this are refused.
const MAX_STRING: u64 = 1 << 20;

/// Field numbers of ModelProto, for sniffing (with their wire types).
const MODEL_FIELDS: &[(u64, u64)] = &[
    (1, 0),
    (2, 2),
    (3, 2),
    (4, 2),
    (5, 0),
    (6, 2),
    (7, 2),
    (8, 2),
    (14, 2),
    (20, 2),
    (25, 2),
    (26, 2),
];

/// Walks the fields in `prefix` while they parse as ModelProto fields; returns how many did.
fn model_fields_in(prefix: &[u8]) -> usize {
    let mut p = 0;
    let mut count = 0;
    while p < prefix.len() && count < 4 {
        let Some((tag, n)) = varint_at(&prefix[p..]) else { break };
        p += n;
        let (field, wire) = (tag >> 3, tag & 7);
        if !MODEL_FIELDS.contains(&(field, wire)) {
            break;
        }
        count += 1;
        match wire {
            0 => match varint_at(&prefix[p..]) {
                Some((_, n)) => p += n,
                None => break,
            },
            _ => match varint_at(&prefix[p..]) {
                Some((len, n)) => p = p.saturating_add(n).saturating_add(len.min(usize::MAX as u64) as usize),
                None => break,
            },
        }
    }
    count
}

/// Protobuf has no magic, so the content must parse as ModelProto fields: an ONNX model starts
/// with ir_version (field 1; writers emit fields in order) followed by other ModelProto fields.
/// With a .onnx name one ModelProto field is enough (the name breaks the tie with other files
/// that happen to start like one).
pub fn sniff(p: &Probe) -> Option<Claim> {
    let strict = p.prefix.first() == Some(&0x08) && model_fields_in(p.prefix) >= 2;
    let named = p.file.to_ascii_lowercase().ends_with(".onnx") && model_fields_in(p.prefix) >= 1;
    (strict || named).then_some(Claim::Content)
}

fn onnx_dtype(t: u64) -> Option<DType> {
    Some(match t {
        1 => DType::F32,
        2 => DType::U8,
        3 => DType::I8,
        4 => DType::U16,
        5 => DType::I16,
        6 => DType::I32,
        7 => DType::I64,
        9 => DType::Bool,
        10 => DType::F16,
        11 => DType::F64,
        12 => DType::U32,
        13 => DType::U64,
        16 => DType::BF16,
        17 => DType::F8E4M3,
        19 => DType::F8E5M2,
        _ => return None,
    })
}

/// A file name from external_data.location: relative, inside the model's folder.
pub fn check_location(file: &str, tensor: &str, loc: &str) -> Result<()> {
    let bad = loc.is_empty()
        || loc.starts_with('/')
        || loc.starts_with('\\')
        || loc.contains(':')
        || loc.split(['/', '\\']).any(|part| part == "..");
    if bad {
        return Err(Error::malformed(
            file,
            format!("tensor '{tensor}': external data location '{loc}' is not a relative path inside the model's folder"),
        ));
    }
    Ok(())
}

#[derive(Default)]
struct Fields {
    name: Option<String>,
    dims: Vec<u64>,
    data_type: Option<u64>,
    raw: Option<(u64, u64)>,
    float_data: Option<(u64, u64)>,
    double_data: Option<(u64, u64)>,
    int32_data: Option<(u64, u64)>,
    other_typed: Option<&'static str>,
    external: Vec<(String, String)>,
    location: u64,
}

fn tensor_fields(p: &mut Reader, start: u64, end: u64) -> Result<Fields> {
    let mut f = Fields::default();
    let mut pos = start;
    while pos < end {
        let field = p.field(pos, end)?;
        let (at, number, wire, v, s) = (field.at, field.number, field.wire, field.value, field.start);
        pos = field.end;
        match (number, wire) {
            (1, 0) => f.dims.push(v),
            (1, 2) => {
                let mut q = s;
                while q < field.end {
                    if f.dims.len() >= MAX_DIMS {
                        return Err(p.bad(q, format!("a tensor with more than {MAX_DIMS} dimensions")));
                    }
                    let (d, n) = p.varint(q, field.end)?;
                    f.dims.push(d);
                    q += n;
                }
            }
            (2, 0) => f.data_type = Some(v),
            (3, 2) => return Err(Error::unsupported(p.file(), "a segmented TensorProto (field 'segment')")),
            (4, 2) => f.float_data = Some((s, v)),
            (4, 5) => {
                return Err(Error::unsupported(
                    p.file(),
                    format!("unpacked float_data at byte {at} (writers pack it)"),
                ))
            }
            (5, 2) => f.int32_data = Some((s, v)),
            (5, 0) => {
                return Err(Error::unsupported(
                    p.file(),
                    format!("unpacked int32_data at byte {at} (writers pack it)"),
                ))
            }
            (6, _) => f.other_typed = Some("string_data"),
            (7, _) => f.other_typed = Some("int64_data"),
            (11, _) => f.other_typed = Some("uint64_data"),
            (8, 2) => f.name = Some(p.string(&field, MAX_STRING)?),
            (9, 2) => f.raw = Some((s, v)),
            (10, 2) => f.double_data = Some((s, v)),
            (13, 2) => {
                let (mut key, mut value) = (String::new(), String::new());
                let mut q = s;
                while q < field.end {
                    let entry = p.field(q, field.end)?;
                    q = entry.end;
                    match (entry.number, entry.wire) {
                        (1, 2) => key = p.string(&entry, MAX_STRING)?,
                        (2, 2) => value = p.string(&entry, MAX_STRING)?,
                        _ => {}
                    }
                }
                if f.external.len() >= 16 {
                    return Err(p.bad(at, "more than 16 external_data entries"));
                }
                f.external.push((key, value));
            }
            (14, 0) => f.location = v,
            (1..=14, _) => return Err(p.bad(at, format!("TensorProto field {number} with the wrong wire type {wire}"))),
            _ => {}
        }
        if f.dims.len() > MAX_DIMS {
            return Err(p.bad(at, format!("a tensor with more than {MAX_DIMS} dimensions")));
        }
    }
    Ok(f)
}

/// Builds a tensor from its fields, or None (with a note) for a type this tool does not list.
fn tensor_info(file: &str, f: Fields, index: usize, notes: &mut Vec<(String, String)>) -> Result<Option<TensorInfo>> {
    let name = f.name.unwrap_or_else(|| format!("initializer_{index}"));
    let bad = |what: String| Error::malformed(file, format!("tensor '{name}': {what}"));
    let data_type = f.data_type.ok_or_else(|| bad("no data_type".into()))?;
    let Some(dtype) = onnx_dtype(data_type) else {
        notes.push((format!("skipped {name}"), format!("ONNX data_type {data_type} is not read")));
        return Ok(None);
    };
    let shape: Vec<usize> = f
        .dims
        .iter()
        .map(|&d| {
            usize::try_from(d)
                .ok()
                .filter(|&d| d as u64 <= i64::MAX as u64)
                .ok_or_else(|| bad(format!("dimension {} is negative or too large", d as i64)))
        })
        .collect::<Result<_>>()?;
    let elements = checked_element_count(&shape).ok_or_else(|| bad(format!("shape {shape:?} overflows the element count")))? as u64;
    let byte_len = elements
        .checked_mul(dtype.size() as u64)
        .ok_or_else(|| bad("byte size overflows".into()))?;
    let sources = [
        f.raw.is_some(),
        f.float_data.is_some(),
        f.double_data.is_some(),
        f.int32_data.is_some(),
        f.location == 1 || !f.external.is_empty(),
    ];
    if sources.iter().filter(|&&s| s).count() > 1 {
        return Err(bad(
            "holds its values in more than one place (raw_data, a typed field, external data)".into(),
        ));
    }
    let mut info = TensorInfo::raw(name.clone(), dtype, shape.clone(), 0, byte_len);
    let check = |len: u64, what: &str| {
        if len != byte_len {
            Err(bad(format!(
                "{what} holds {len} bytes but shape {shape:?} of {} needs {byte_len}",
                dtype.name()
            )))
        } else {
            Ok(())
        }
    };
    if let Some((at, len)) = f.raw {
        check(len, "raw_data")?;
        info.offset = at;
    } else if let Some((at, len)) = f.float_data {
        if dtype != DType::F32 {
            return Err(bad(format!("float_data in a tensor of {}", dtype.name())));
        }
        check(len, "float_data")?;
        info.offset = at;
    } else if let Some((at, len)) = f.double_data {
        if dtype != DType::F64 {
            return Err(bad(format!("double_data in a tensor of {}", dtype.name())));
        }
        check(len, "double_data")?;
        info.offset = at;
    } else if let Some((at, len)) = f.int32_data {
        if !matches!(dtype, DType::F16 | DType::BF16) {
            notes.push((
                format!("skipped {name}"),
                format!("{} values in int32_data are not read", dtype.name()),
            ));
            return Ok(None);
        }
        // One varint per element: at least 1 byte each, at most 3 for a 16-bit value.
        if len < elements || len > elements.saturating_mul(3) {
            return Err(bad(format!("int32_data of {len} bytes cannot hold {elements} 16-bit values")));
        }
        info.offset = at;
        info.storage = Storage::Varint16 { stored_len: len };
    } else if f.location == 1 || !f.external.is_empty() {
        let mut location = None;
        let (mut offset, mut length) = (0u64, None);
        for (k, v) in &f.external {
            let num = || {
                v.parse::<u64>()
                    .map_err(|_| bad(format!("external_data {k} '{v}' is not a non-negative integer")))
            };
            match k.as_str() {
                "location" => location = Some(v.clone()),
                "offset" => offset = num()?,
                "length" => length = Some(num()?),
                _ => {}
            }
        }
        let location = location.ok_or_else(|| bad("external data without a location".into()))?;
        check_location(file, &name, &location)?;
        if let Some(l) = length {
            check(l, "external data")?;
        }
        info.offset = offset;
        info.data_file = Some(location);
    } else if let Some(what) = f.other_typed {
        notes.push((format!("skipped {name}"), format!("values in {what} are not read")));
        return Ok(None);
    } else if byte_len != 0 {
        return Err(bad(format!(
            "no values (no raw_data, typed field or external data) for shape {shape:?}"
        )));
    }
    Ok(Some(info))
}

/// The tensor of the TensorProto message `start..end` (an initializer, a Constant's value), as the
/// index lists it: None (with a note) for a type this tool does not read.
pub(crate) fn tensor_proto(p: &mut Reader, start: u64, end: u64, index: usize, notes: &mut Vec<(String, String)>) -> Result<Option<TensorInfo>> {
    let file = p.file().to_string();
    let f = tensor_fields(p, start, end)?;
    tensor_info(&file, f, index, notes)
}

/// Walks the ModelProto through `r` from the start (the prefix is not needed).
pub fn open(_: &Probe, r: &mut dyn RangeReader) -> Result<FileIndex> {
    let file = r.file().to_string();
    let file_len = r.len();
    let mut p = Reader::new(r);
    let mut metadata = Vec::new();
    let mut graph = None;
    let mut pos = 0;
    while pos < file_len {
        let f = p.field(pos, file_len)?;
        pos = f.end;
        match (f.number, f.wire) {
            (1, 0) => metadata.push(("ir_version".to_string(), f.value.to_string())),
            (2, 2) => metadata.push(("producer_name".to_string(), p.string_prefix(&f, MAX_STRING)?)),
            (3, 2) => metadata.push(("producer_version".to_string(), p.string_prefix(&f, MAX_STRING)?)),
            (7, 2) => {
                if graph.is_some() {
                    return Err(p.bad(f.start, "a second graph"));
                }
                graph = Some((f.start, f.end));
            }
            _ => {}
        }
    }
    let (start, end) = graph.ok_or_else(|| Error::malformed(&file, "ONNX model without a graph"))?;
    let mut tensors = Vec::new();
    let mut names = std::collections::HashSet::new();
    let mut pos = start;
    let mut index = 0;
    while pos < end {
        let f = p.field(pos, end)?;
        pos = f.end;
        match (f.number, f.wire) {
            (2, 2) => metadata.push(("graph.name".to_string(), p.string_prefix(&f, MAX_STRING)?)),
            (5, 2) => {
                let fields = tensor_fields(&mut p, f.start, f.end)?;
                if let Some(t) = tensor_info(&file, fields, index, &mut metadata)? {
                    if !names.insert(t.name.clone()) {
                        return Err(Error::malformed(&file, format!("tensor '{}': the name appears twice", t.name)));
                    }
                    tensors.push(t);
                }
                index += 1;
            }
            _ => {}
        }
    }
    Ok(FileIndex {
        file,
        format: Format::Onnx,
        file_len,
        tensors,
        metadata,
        detail: FormatDetail::None,
    })
}

/// ONNX int32_data holding fp16/bf16: packed varints, one per element, each the 16 bits.
pub fn unpack_varint16(name: &str, stored: &[u8], byte_len: u64) -> Result<Vec<u8>> {
    let bad = |what: String| Error::malformed(name, format!("tensor '{name}': int32_data {what}"));
    let mut out = Vec::with_capacity(byte_len.min(stored.len() as u64 * 2) as usize);
    let mut p = 0;
    while p < stored.len() {
        let (v, n) = varint_at(&stored[p..]).ok_or_else(|| bad(format!("has a broken varint at byte {p}")))?;
        let bits = u16::try_from(v).map_err(|_| bad(format!("value {v} is not a 16-bit pattern")))?;
        out.extend_from_slice(&bits.to_le_bytes());
        p += n;
    }
    if out.len() as u64 != byte_len {
        return Err(bad(format!("holds {} values where {} are needed", out.len() / 2, byte_len / 2)));
    }
    Ok(out)
}
