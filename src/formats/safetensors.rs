//! safetensors: an 8-byte little-endian header length N, N bytes of JSON, then the data.
//! Validity rules from the format's spec (huggingface/safetensors, `Metadata::validate`):
//! header at most 100 MB, starts with '{', each tensor's `data_offsets` [begin, end] relative to the
//! data area, sorted with no gap and no overlap, covering the data area exactly, and
//! end − begin = elements × dtype size.

use super::{Claim, FileIndex, Probe, RangeReader};
use crate::error::{Error, Result};
use crate::tensor::{checked_element_count, DType, TensorInfo};

/// The spec's MAX_HEADER_SIZE.
pub const MAX_HEADER_LEN: u64 = 100_000_000;

/// A header length, then JSON starting with '{' (the spec requires it); or else a .safetensors
/// name, which also covers a prefix too short to tell (under 9 bytes).
pub fn sniff(p: &Probe) -> Option<Claim> {
    let prefix = p.prefix;
    if prefix.get(8) == Some(&b'{') && super::bytes_at(prefix, 0).is_some_and(|n| u64::from_le_bytes(n) <= MAX_HEADER_LEN) {
        Some(Claim::Content)
    } else {
        p.file.to_ascii_lowercase().ends_with(".safetensors").then_some(Claim::Name)
    }
}

/// The header is at the start: parsed from the first bytes, asking for more with `NeedMoreBytes`.
pub fn open(p: &Probe, r: &mut dyn RangeReader) -> Result<FileIndex> {
    let mut index = index_from_prefix(p.file, p.prefix, r.len())?;
    // GPTQ / AWQ Linears (qweight, qzeros, scales): one stored-quantized tensor each.
    super::gptq::recognise(&mut index.tensors, &mut index.metadata, r)?;
    // bitsandbytes 4-bit (absmax, quant_map, quant_state) and int8 (SCB) Linears: likewise.
    super::bnb::recognise(&mut index.tensors, &mut index.metadata, r)?;
    Ok(index)
}

fn parse_dtype(file: &str, tensor: &str, s: &str) -> Result<DType> {
    Ok(match s {
        "F64" => DType::F64,
        "F32" => DType::F32,
        "F16" => DType::F16,
        "BF16" => DType::BF16,
        "F8_E4M3" => DType::F8E4M3,
        "F8_E5M2" => DType::F8E5M2,
        "I64" => DType::I64,
        "I32" => DType::I32,
        "I16" => DType::I16,
        "I8" => DType::I8,
        "U64" => DType::U64,
        "U32" => DType::U32,
        "U16" => DType::U16,
        "U8" => DType::U8,
        "BOOL" => DType::Bool,
        other => return Err(Error::unsupported(file, format!("tensor '{tensor}' has dtype '{other}', which this tool does not read"))),
    })
}

/// The index of a safetensors file of `file_len` bytes from its first bytes.
pub fn index_from_prefix(file: &str, prefix: &[u8], file_len: u64) -> Result<FileIndex> {
    if file_len < 8 {
        return Err(Error::malformed(file, format!("{file_len} bytes is too short for a safetensors header (8-byte length first)")));
    }
    let Some(n) = super::bytes_at(prefix, 0).map(u64::from_le_bytes) else {
        return Err(Error::NeedMoreBytes { file: file.to_string(), needed: 8 });
    };
    if n > MAX_HEADER_LEN {
        return Err(Error::malformed(file, format!("header length {n} is over the limit of {MAX_HEADER_LEN} bytes")));
    }
    if 8 + n > file_len {
        return Err(Error::malformed(file, format!("header length {n} runs past the end of the {file_len}-byte file")));
    }
    if (prefix.len() as u64) < 8 + n {
        return Err(Error::NeedMoreBytes { file: file.to_string(), needed: 8 + n });
    }
    let header = &prefix[8..8 + n as usize];
    let text = std::str::from_utf8(header).map_err(|e| Error::malformed(file, format!("header is not UTF-8 ({e})")))?;
    if !text.starts_with('{') {
        return Err(Error::malformed(file, "header JSON must start with '{'"));
    }
    let json: serde_json::Value =
        serde_json::from_str(text.trim_end_matches(' ')).map_err(|e| Error::malformed(file, format!("header is not valid JSON: {e}")))?;
    let obj = json.as_object().ok_or_else(|| Error::malformed(file, "header JSON is not an object"))?;

    let data_start = 8 + n;
    let data_len = file_len - data_start;
    let mut metadata = Vec::new();
    let mut entries: Vec<(u64, u64, TensorInfo)> = Vec::new();
    for (name, value) in obj {
        if name == "__metadata__" {
            let m = value.as_object().ok_or_else(|| Error::malformed(file, "__metadata__ is not an object of strings"))?;
            for (k, v) in m {
                let v = v.as_str().ok_or_else(|| Error::malformed(file, format!("__metadata__ value of '{k}' is not a string")))?;
                metadata.push((k.clone(), v.to_string()));
            }
            continue;
        }
        let bad = |what: &str| Error::malformed(file, format!("tensor '{name}': {what}"));
        let t = value.as_object().ok_or_else(|| bad("entry is not an object"))?;
        let dtype = t.get("dtype").and_then(|d| d.as_str()).ok_or_else(|| bad("missing string 'dtype'"))?;
        let dtype = parse_dtype(file, name, dtype)?;
        let shape: Vec<usize> = t
            .get("shape")
            .and_then(|s| s.as_array())
            .ok_or_else(|| bad("missing array 'shape'"))?
            .iter()
            .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()).ok_or_else(|| bad("shape holds something other than a non-negative integer")))
            .collect::<Result<_>>()?;
        let offsets = t.get("data_offsets").and_then(|o| o.as_array()).ok_or_else(|| bad("missing array 'data_offsets'"))?;
        let (begin, end) = match offsets.as_slice() {
            [b, e] => (
                b.as_u64().ok_or_else(|| bad("data_offsets[0] is not a non-negative integer"))?,
                e.as_u64().ok_or_else(|| bad("data_offsets[1] is not a non-negative integer"))?,
            ),
            _ => return Err(bad("data_offsets must be [begin, end]")),
        };
        if end < begin {
            return Err(bad(&format!("data_offsets [{begin}, {end}] end before they begin")));
        }
        if end > data_len {
            return Err(bad(&format!("data_offsets [{begin}, {end}] run past the end of the data ({data_len} bytes)")));
        }
        let elements = checked_element_count(&shape).ok_or_else(|| bad(&format!("shape {shape:?} overflows the element count")))?;
        let expected = (elements as u64).checked_mul(dtype.size() as u64).ok_or_else(|| bad("byte size overflows"))?;
        if end - begin != expected {
            return Err(bad(&format!(
                "holds {} bytes but shape {shape:?} of {} needs {expected}",
                end - begin,
                dtype.name()
            )));
        }
        let info = TensorInfo {
            name: name.clone(),
            dtype,
            shape,
            offset: data_start + begin,
            byte_len: expected,
            big_endian: false,
            fortran_order: false,
            storage: Default::default(),
            data_file: None,
            quant: None,
            parameter_of: None,
        };
        entries.push((begin, end, info));
    }
    // Sorted by offset, the tensors must tile the data area exactly: no gap, no overlap.
    entries.sort_by_key(|(b, e, _)| (*b, *e));
    let mut cursor = 0u64;
    for (b, e, info) in &entries {
        if *b != cursor {
            let what = if *b > cursor { "leaves a gap before it" } else { "overlaps the tensor before it" };
            return Err(Error::malformed(file, format!("tensor '{}' at data offset {b} {what} (expected offset {cursor})", info.name)));
        }
        cursor = *e;
    }
    if cursor != data_len {
        return Err(Error::malformed(file, format!("tensors cover {cursor} bytes but the data area holds {data_len}")));
    }
    // Keep the header's order of names stable for display: by offset, as written.
    let tensors = entries.into_iter().map(|(_, _, t)| t).collect();
    Ok(FileIndex { file: file.to_string(), format: super::Format::Safetensors, file_len, tensors, metadata, detail: super::FormatDetail::None })
}

/// Writes a safetensors file in memory: tensors in the given order, 8-byte aligned header.
pub fn write(tensors: &[(&str, DType, &[usize], &[u8])], metadata: &[(&str, &str)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        let m: serde_json::Map<String, serde_json::Value> =
            metadata.iter().map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string()))).collect();
        header.insert("__metadata__".into(), serde_json::Value::Object(m));
    }
    let mut offset = 0usize;
    for (name, dtype, shape, bytes) in tensors {
        header.insert(
            name.to_string(),
            serde_json::json!({ "dtype": dtype.name(), "shape": shape, "data_offsets": [offset, offset + bytes.len()] }),
        );
        offset += bytes.len();
    }
    // Display of a JSON value cannot fail (serializing a map whose keys are strings), so no panic path.
    let mut text = serde_json::Value::Object(header).to_string();
    // The reference writer pads the header with spaces to a multiple of 8 bytes.
    while text.len() % 8 != 0 {
        text.push(' ');
    }
    let mut out = Vec::with_capacity(8 + text.len() + offset);
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    for (_, _, _, bytes) in tensors {
        out.extend_from_slice(bytes);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with_header(header: &str, data: usize) -> Vec<u8> {
        let mut v = (header.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(header.as_bytes());
        v.extend(std::iter::repeat_n(0u8, data));
        v
    }

    #[test]
    fn writes_and_reads_back() {
        let a: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let b = vec![7u8; 3];
        let bytes = write(&[("a", DType::F32, &[2], &a), ("b", DType::U8, &[3], &b)], &[("format", "pt")]);
        let idx = index_from_prefix("t.safetensors", &bytes, bytes.len() as u64).unwrap();
        assert_eq!(idx.tensors.len(), 2);
        assert_eq!(idx.tensors[0].name, "a");
        assert_eq!(idx.metadata, vec![("format".to_string(), "pt".to_string())]);
        let t = &idx.tensors[0];
        assert_eq!(&bytes[t.offset as usize..(t.offset + t.byte_len) as usize], &a[..]);
        assert!(!idx.tensors[1].dtype.is_quantizable());
    }

    #[test]
    fn rejects_gaps_overlaps_and_lies() {
        let cases = [
            (r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, 8, "gap"),
            (r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, 8, "overlaps"),
            (r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, 8, "needs 12"),
            (r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, 4, "past the end"),
            (r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, 8, "cover 4 bytes"),
            (r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,4]}}"#, 4, "overflows"),
            (r#"{"a":{"dtype":"Q9","shape":[1],"data_offsets":[0,4]}}"#, 4, "'Q9'"),
            (r#"[1,2]"#, 0, "start with '{'"),
        ];
        for (header, data, needle) in cases {
            let f = file_with_header(header, data);
            let err = index_from_prefix("bad.safetensors", &f, f.len() as u64).unwrap_err().to_string();
            assert!(err.contains(needle), "{header}: got '{err}', wanted '{needle}'");
            assert!(err.starts_with("bad.safetensors"), "{err}");
        }
    }

    #[test]
    fn header_past_end_and_over_limit() {
        let mut f = 1000u64.to_le_bytes().to_vec();
        f.extend_from_slice(b"{}");
        assert!(index_from_prefix("x", &f, f.len() as u64).unwrap_err().to_string().contains("past the end"));
        let f = (MAX_HEADER_LEN + 1).to_le_bytes();
        assert!(index_from_prefix("x", &f, 1 << 40).unwrap_err().to_string().contains("over the limit"));
    }

    #[test]
    fn asks_for_more_bytes_when_the_prefix_is_short() {
        let f = file_with_header(r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, 4);
        match index_from_prefix("x", &f[..20], f.len() as u64) {
            Err(Error::NeedMoreBytes { needed, .. }) => assert_eq!(needed, f.len() as u64 - 4),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn deeply_nested_json_is_an_error_not_a_crash() {
        let header = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        let f = file_with_header(&header, 0);
        assert!(index_from_prefix("deep", &f, f.len() as u64).is_err());
    }
}
