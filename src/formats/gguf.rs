//! GGUF v2 / v3 (ggml/docs/gguf.md, ggml/src/gguf.cpp): magic "GGUF", version u32, tensor count
//! u64, key-value count u64; the key-value pairs (typed values, arrays); the tensor infos (name,
//! n_dims ≤ 4, ne[n_dims] with ne[0] the fastest axis, ggml type, offset); padding to
//! `general.alignment` (default 32); then the tensor data. Everything little-endian.
//! Shapes are reported in numpy order (ne reversed).

use super::{bytes_at, Claim, FileIndex, Format, FormatDetail, Probe, RangeReader, MIN_REQUEST};
use crate::error::{Error, Result};
use crate::tensor::{checked_element_count, TensorInfo};

pub const MAGIC: &[u8; 4] = b"GGUF";
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// ggml's GGML_MAX_DIMS.
pub const MAX_DIMS: u32 = 4;
/// More key-value pairs or tensors than this are refused (real files have under a hundred pairs
/// and a few thousand tensors); it bounds the index's memory whatever the header claims.
pub const MAX_KV: u64 = 1 << 20;
pub const MAX_TENSORS: u64 = 1 << 20;
/// Arrays longer than this are shown as their first items and a count.
const SHOWN_ITEMS: u64 = 8;
/// Strings longer than this are shown cut, with their length.
const SHOWN_CHARS: usize = 200;
/// Arrays of arrays deeper than this are refused (the spec allows nesting; nobody nests deep).
const MAX_NESTING: u32 = 8;

/// One key-value pair exactly as stored: the key, the GGUF value type and the value's bytes
/// (for an array: its item type, count and items), so a writer can carry it over unchanged.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyValue {
    pub key: String,
    pub value_type: u32,
    pub value: Vec<u8>,
}

/// The GGUF value type of a uint32 (general.alignment, general.quantization_version, ...).
pub const TYPE_U32: u32 = 4;
/// The GGUF value type of a string.
pub const TYPE_STRING: u32 = 8;

pub fn sniff(p: &Probe) -> Option<Claim> {
    p.prefix.starts_with(MAGIC).then_some(Claim::Content)
}

/// A forward reader over the header that fetches growing chunks (few round trips in the page).
struct Cursor<'a> {
    r: &'a mut dyn RangeReader,
    pos: u64,
    buf_start: u64,
    buf: Vec<u8>,
}

impl Cursor<'_> {
    fn file(&self) -> String {
        self.r.file().to_string()
    }

    fn take(&mut self, n: u64, what: &str) -> Result<&[u8]> {
        let len = self.r.len();
        if self.pos.checked_add(n).is_none_or(|end| end > len) {
            return Err(Error::malformed(
                self.r.file(),
                format!(
                    "GGUF {what} needs {n} bytes at offset {} but the file ends at {len} (truncated, or a length that lies)",
                    self.pos
                ),
            ));
        }
        let in_buf = self.pos >= self.buf_start && self.pos + n <= self.buf_start + self.buf.len() as u64;
        if !in_buf {
            // Growing chunks (few round trips for MB-sized tokenizer arrays), at most 32 MiB.
            let chunk = n.max(MIN_REQUEST.max((self.pos / 2).min(32 << 20))).min(len - self.pos);
            self.buf = self.r.read(self.pos, chunk)?;
            self.buf_start = self.pos;
        }
        let at = (self.pos - self.buf_start) as usize;
        self.pos += n;
        Ok(&self.buf[at..at + n as usize])
    }

    /// Moves past `n` bytes without reading them (the rest of a long array).
    fn skip(&mut self, n: u64, what: &str) -> Result<()> {
        let len = self.r.len();
        if self.pos.checked_add(n).is_none_or(|end| end > len) {
            return Err(Error::malformed(
                self.r.file(),
                format!("GGUF {what} needs {n} bytes at offset {} but the file ends at {len}", self.pos),
            ));
        }
        self.pos += n;
        Ok(())
    }

    /// The next N bytes as an array (`take` checked they are there).
    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let file = self.r.file().to_string();
        super::bytes_at::<N>(self.take(N as u64, what)?, 0).ok_or_else(|| Error::malformed(&file, format!("GGUF {what}: {N} bytes cut short")))
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        self.array::<4>(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        self.array::<8>(what).map(u64::from_le_bytes)
    }

    /// A gguf_string: u64 length, then that many UTF-8 bytes (checked against the file's end first).
    fn string(&mut self, what: &str, max: u64) -> Result<String> {
        let n = self.u64(what)?;
        if n > max {
            return Err(Error::malformed(
                self.r.file(),
                format!("GGUF {what} at offset {} says {n} bytes, over the limit of {max}", self.pos - 8),
            ));
        }
        let bytes = self.take(n, what)?;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }
}

/// The GGUF value types.
fn type_size(t: u32) -> Option<u64> {
    Some(match t {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        10..=12 => 8,
        8 => 8,  // a string: its length field at least
        9 => 12, // an array: type and count at least
        _ => return None,
    })
}

fn scalar_text(t: u32, b: &[u8]) -> String {
    match t {
        0 => b[0].to_string(),
        1 => (b[0] as i8).to_string(),
        2 => u16::from_le_bytes([b[0], b[1]]).to_string(),
        3 => i16::from_le_bytes([b[0], b[1]]).to_string(),
        4 => bytes_at(b, 0).map(u32::from_le_bytes).map(|v| v.to_string()).unwrap_or_default(),
        5 => bytes_at(b, 0).map(i32::from_le_bytes).map(|v| v.to_string()).unwrap_or_default(),
        6 => bytes_at(b, 0).map(f32::from_le_bytes).map(|v| v.to_string()).unwrap_or_default(),
        7 => (b[0] != 0).to_string(),
        10 => bytes_at(b, 0).map(u64::from_le_bytes).map(|v| v.to_string()).unwrap_or_default(),
        11 => bytes_at(b, 0).map(i64::from_le_bytes).map(|v| v.to_string()).unwrap_or_default(),
        12 => bytes_at(b, 0).map(f64::from_le_bytes).map(|v| v.to_string()).unwrap_or_default(),
        _ => String::new(),
    }
}

fn short(s: String) -> String {
    if s.chars().count() <= SHOWN_CHARS {
        format!("{s:?}")
    } else {
        let cut: String = s.chars().take(SHOWN_CHARS).collect();
        format!("{cut:?}… ({} bytes)", s.len())
    }
}

/// Reads one value of type `t` and returns it as display text (and its integer value, for
/// general.alignment). Long arrays are skipped over after their first items. `what` ("value of
/// 'key'", for errors) is made once per key by the caller: every item of an array of arrays comes
/// through here, and text made from a key of up to 64 KiB per item made reading quadratic.
fn value(c: &mut Cursor, t: u32, key: &str, what: &str, depth: u32) -> Result<(String, Option<u64>)> {
    match t {
        8 => Ok((short(c.string(what, c.r.len())?), None)),
        9 => {
            if depth >= MAX_NESTING {
                return Err(Error::malformed(
                    &c.file(),
                    format!("GGUF key '{key}': arrays nested deeper than {MAX_NESTING}"),
                ));
            }
            let et = c.u32(what)?;
            let n = c.u64(what)?;
            let min =
                type_size(et).ok_or_else(|| Error::malformed(&c.file(), format!("GGUF key '{key}': array of unknown value type {et}")))?;
            let left = c.r.len() - c.pos;
            if n.checked_mul(min).is_none_or(|b| b > left) {
                return Err(Error::malformed(
                    &c.file(),
                    format!("GGUF key '{key}': an array of {n} items cannot fit the {left} bytes left in the file"),
                ));
            }
            let mut shown = Vec::new();
            for i in 0..n {
                if et == 8 && i >= SHOWN_ITEMS {
                    let len = c.u64(what)?;
                    c.skip(len, what)?;
                } else if et == 8 || et == 9 {
                    let (text, _) = value(c, et, key, what, depth + 1)?;
                    if i < SHOWN_ITEMS {
                        shown.push(text);
                    }
                } else if i < SHOWN_ITEMS {
                    let b = c.take(min, what)?.to_vec();
                    shown.push(scalar_text(et, &b));
                } else {
                    // Fixed-size items: skip the rest at once.
                    c.skip((n - i) * min, what)?;
                    break;
                }
            }
            let more = if n > SHOWN_ITEMS {
                format!(", … ({n} items)")
            } else {
                String::new()
            };
            Ok((format!("[{}{more}]", shown.join(", ")), None))
        }
        _ => {
            let size = type_size(t).ok_or_else(|| Error::malformed(&c.file(), format!("GGUF key '{key}' has unknown value type {t}")))?;
            let b = c.take(size, what)?.to_vec();
            let int = match t {
                0 => Some(b[0] as u64),
                2 => Some(u16::from_le_bytes([b[0], b[1]]) as u64),
                4 => bytes_at(&b, 0).map(u32::from_le_bytes).map(u64::from),
                10 => bytes_at(&b, 0).map(u64::from_le_bytes),
                _ => None,
            };
            Ok((scalar_text(t, &b), int))
        }
    }
}

/// Reads the header through `r` from the start, in growing chunks (the prefix is not needed).
pub fn open(_: &Probe, r: &mut dyn RangeReader) -> Result<FileIndex> {
    let file = r.file().to_string();
    let file_len = r.len();
    let bad = |what: String| Error::malformed(&file, format!("GGUF: {what}"));
    let mut c = Cursor {
        r,
        pos: 0,
        buf_start: 0,
        buf: Vec::new(),
    };
    if c.take(4, "magic")? != MAGIC {
        return Err(bad("bad magic (expected \"GGUF\")".into()));
    }
    let version = c.u32("version")?;
    match version {
        2 | 3 => {}
        1 => {
            return Err(Error::unsupported(
                &file,
                "GGUF version 1 (2 and 3 are read; re-convert with a current llama.cpp)",
            ))
        }
        v if v.swap_bytes() <= 3 => return Err(Error::unsupported(&file, "a big-endian GGUF file (little-endian files are read)")),
        v => return Err(bad(format!("unknown version {v} (2 and 3 are read)"))),
    }
    let tensor_count = c.u64("tensor count")?;
    let kv_count = c.u64("key-value count")?;
    if kv_count > MAX_KV || tensor_count > MAX_TENSORS {
        return Err(bad(format!("{kv_count} key-value pairs and {tensor_count} tensors: over the limits of {MAX_KV} and {MAX_TENSORS}")));
    }
    // Every key-value pair takes at least 8 + 4 + 1 bytes, every tensor info at least 8 + 4 + 4 + 8.
    if kv_count.checked_mul(13).is_none_or(|b| b > file_len) {
        return Err(bad(format!("{kv_count} key-value pairs cannot fit a {file_len}-byte file")));
    }
    if tensor_count.checked_mul(24).is_none_or(|b| b > file_len) {
        return Err(bad(format!("{tensor_count} tensors cannot fit a {file_len}-byte file")));
    }
    let mut metadata = vec![("gguf.version".to_string(), version.to_string())];
    let mut alignment = DEFAULT_ALIGNMENT;
    let mut keys = std::collections::HashSet::new();
    // Where each value lies, so the typed pairs can be kept as stored (read at once below).
    let kv_start = c.pos;
    let mut kv_ranges = Vec::with_capacity(kv_count.min(1 << 12) as usize);
    for _ in 0..kv_count {
        let key = c.string("key", 65_535)?;
        if !keys.insert(key.clone()) {
            return Err(bad(format!("key '{key}' appears twice")));
        }
        let t = c.u32(&format!("type of '{key}'"))?;
        let value_start = c.pos;
        let (text, int) = value(&mut c, t, &key, &format!("value of '{key}'"), 0)?;
        kv_ranges.push((key.clone(), t, value_start, c.pos));
        if key == "general.alignment" {
            let a = int
                .filter(|_| t == 4)
                .ok_or_else(|| bad(format!("general.alignment must be a uint32, got value type {t}")))?;
            if a == 0 || !a.is_power_of_two() {
                return Err(bad(format!("general.alignment {a} is not a power of two")));
            }
            alignment = a;
        }
        metadata.push((key, text));
    }
    // The key-value section as stored (long arrays were skipped above; here they are read, once,
    // for export to carry them over: a tokenizer is a few MB at most).
    let kv_end = c.pos;
    let kv_bytes = if kv_count > 0 { c.r.read(kv_start, kv_end - kv_start)? } else { Vec::new() };
    let typed_metadata = kv_ranges
        .into_iter()
        .map(|(key, value_type, start, end)| KeyValue {
            key,
            value_type,
            value: kv_bytes[(start - kv_start) as usize..(end - kv_start) as usize].to_vec(),
        })
        .collect();
    drop(kv_bytes);
    let mut tensors = Vec::with_capacity(tensor_count.min(1 << 16) as usize);
    let mut names = std::collections::HashSet::new();
    for i in 0..tensor_count {
        let name = c.string(&format!("name of tensor {i}"), 65_535)?;
        let tbad = |what: String| Error::malformed(&file, format!("GGUF tensor '{name}': {what}"));
        if !names.insert(name.clone()) {
            return Err(tbad("the name appears twice".into()));
        }
        let n_dims = c.u32("n_dims")?;
        if n_dims > MAX_DIMS {
            return Err(tbad(format!("{n_dims} dimensions, more than ggml's {MAX_DIMS}")));
        }
        let mut ne = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            let d = c.u64("dimension")?;
            ne.push(
                usize::try_from(d)
                    .ok()
                    .filter(|&d| d as u64 <= i64::MAX as u64)
                    .ok_or_else(|| tbad(format!("dimension {d} is too large")))?,
            );
        }
        let type_id = c.u32("type")?;
        let offset = c.u64("offset")?;
        let dtype = crate::tensor::DType::from_ggml_id(type_id).ok_or_else(|| tbad(format!("unknown ggml type {type_id}")))?;
        let shape: Vec<usize> = ne.iter().rev().copied().collect();
        let elements = checked_element_count(&shape)
            .filter(|&n| n as u64 <= i64::MAX as u64)
            .ok_or_else(|| tbad(format!("shape {shape:?} overflows the element count")))?;
        if ne.first().is_some_and(|&n0| n0 % dtype.block() != 0) {
            return Err(tbad(format!(
                "rows of {} elements are not whole {}-element blocks of {}",
                ne[0],
                dtype.block(),
                dtype.name()
            )));
        }
        let byte_len = dtype
            .bytes_for(elements as u64)
            .ok_or_else(|| tbad(format!("{elements} elements are not whole blocks of {}", dtype.name())))?;
        if offset % alignment != 0 {
            return Err(tbad(format!("offset {offset} is not a multiple of the alignment {alignment}")));
        }
        tensors.push(TensorInfo::raw(name, dtype, shape, offset, byte_len));
    }
    let data_start = c
        .pos
        .div_ceil(alignment)
        .checked_mul(alignment)
        .ok_or_else(|| bad("data offset overflows".into()))?;
    if data_start > file_len && !tensors.is_empty() {
        return Err(bad(format!(
            "the data section would start at {data_start}, past the end of the {file_len}-byte file"
        )));
    }
    let data_len = file_len.saturating_sub(data_start);
    // In bounds, and no two tensors share bytes (gaps are padding).
    let mut order: Vec<usize> = (0..tensors.len()).collect();
    order.sort_by_key(|&i| tensors[i].offset);
    let mut end_prev = 0u64;
    let mut prev_name = "";
    for &i in &order {
        let t = &tensors[i];
        let end = t.offset.checked_add(t.byte_len).filter(|&e| e <= data_len);
        let end = end.ok_or_else(|| {
            Error::malformed(
                &file,
                format!(
                    "GGUF tensor '{}': {} bytes at data offset {} run past the end of the data ({data_len} bytes; truncated?)",
                    t.name, t.byte_len, t.offset
                ),
            )
        })?;
        if t.offset < end_prev {
            return Err(Error::malformed(
                &file,
                format!("GGUF tensor '{}' at data offset {} overlaps tensor '{prev_name}'", t.name, t.offset),
            ));
        }
        end_prev = end;
        prev_name = &t.name;
    }
    for t in &mut tensors {
        t.offset += data_start;
    }
    Ok(FileIndex {
        file,
        format: Format::Gguf,
        file_len,
        tensors,
        metadata,
        detail: FormatDetail::Gguf { key_values: typed_metadata },
    })
}
