//! PyTorch checkpoints (.pt / .pth / .bin) in torch.save's zip format (torch/serialization.py,
//! caffe2/serialize/inline_container.cc): a zip whose members sit under one folder, `<a>/data.pkl`
//! (the pickled object, storages replaced by persistent ids) and `<a>/data/<key>` (each storage's
//! raw little-endian bytes, stored uncompressed and 64-byte aligned), plus `<a>/byteorder` in newer
//! versions. The pickle is read by the restricted unpickler in `pickle.rs`; nothing is executed.

use super::container::zip::{self, Member, Method};
use super::decode::pickle::{self, Value};
use super::{Claim, FileIndex, Format, FormatDetail, Probe, RangeReader};
use crate::error::{Error, Result};
use crate::tensor::{checked_element_count, Storage, TensorInfo};
use std::collections::HashMap;

/// The largest data.pkl read (a state dict's pickle is a few bytes per tensor).
pub const MAX_PICKLE: u64 = 256 << 20;

/// torch's legacy (non-zip) format starts with a pickled magic number 0x1950a86a20f9469cfc6c
/// (LONG1 of 10 bytes) right after PROTO.
const LEGACY_MAGIC: &[u8] = b"\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";

/// A bare pickle (PROTO 2..=5 first): torch.save's legacy format, or a pickle that is not a
/// checkpoint. Claimed so that `open_legacy` can say how to re-save it.
pub fn sniff_legacy(p: &Probe) -> Option<Claim> {
    let prefix = p.prefix;
    (prefix.len() >= 2 && prefix[0] == 0x80 && (2..=5).contains(&prefix[1])).then_some(Claim::Content)
}

/// Refuses a bare pickle, saying how to re-save it in the zip format.
pub fn open_legacy(p: &Probe, _: &mut dyn RangeReader) -> Result<FileIndex> {
    Err(Error::unsupported(
        p.file,
        "this is a bare pickle (PyTorch's legacy format, or a pickle that is not a checkpoint); \
         re-save it in torch.save's zip format: torch.save(torch.load(path, weights_only=True), \"new.pt\", _use_new_zipfile_serialization=True)",
    ))
}

/// Whether the prefix is torch's legacy format exactly (for a sharper message in the tests).
pub fn is_legacy_torch(prefix: &[u8]) -> bool {
    prefix.len() >= 2 + LEGACY_MAGIC.len() && &prefix[2..2 + LEGACY_MAGIC.len()] == LEGACY_MAGIC
}

/// Flattens a state dict (nested dicts, lists) into dotted names and tensors; other leaves
/// (an epoch number, a string) go to the metadata.
fn flatten(prefix: &str, v: &Value, tensors: &mut Vec<(String, Value)>, metadata: &mut Vec<(String, String)>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Dict(items, _) => {
            for (k, v) in items {
                let key = match &**k {
                    Value::Str(s) => s.clone(),
                    Value::Int(i) => i.to_string(),
                    other => format!("{other:?}"),
                };
                flatten(&join(&key), v, tensors, metadata);
            }
        }
        Value::List(items, _) | Value::Tuple(items, _) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&join(&i.to_string()), v, tensors, metadata);
            }
        }
        // torch.save(tensor) pickles a bare tensor: call it "tensor".
        t @ Value::Tensor { .. } => tensors.push((if prefix.is_empty() { "tensor".to_string() } else { prefix.to_string() }, t.clone())),
        Value::None => {}
        Value::Str(s) => metadata.push((prefix.to_string(), s.chars().take(200).collect())),
        Value::Int(i) => metadata.push((prefix.to_string(), i.to_string())),
        Value::Float(f) => metadata.push((prefix.to_string(), f.to_string())),
        Value::Bool(b) => metadata.push((prefix.to_string(), b.to_string())),
        _ => {}
    }
}

/// C-contiguous strides of a shape.
fn c_strides(size: &[u64]) -> Vec<u64> {
    let mut s = vec![1u64; size.len()];
    for i in (0..size.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1].saturating_mul(size[i + 1]);
    }
    s
}

fn f_strides(size: &[u64]) -> Vec<u64> {
    let mut s = vec![1u64; size.len()];
    for i in 1..size.len() {
        s[i] = s[i - 1].saturating_mul(size[i - 1]);
    }
    s
}

/// Strides match when they agree on every axis longer than 1 (torch does not care about the rest).
fn strides_match(size: &[u64], stride: &[u64], want: &[u64]) -> bool {
    size.iter().zip(stride).zip(want).all(|((&n, &s), &w)| n <= 1 || s == w)
}

fn is_pickle(m: &Member) -> bool {
    m.name == "data.pkl" || m.name.ends_with("/data.pkl")
}

/// A zip holding a data.pkl.
pub fn sniff(p: &Probe) -> Option<Claim> {
    p.zip?.members.iter().any(is_pickle).then_some(Claim::Content)
}

/// The index from data.pkl (unpickled, nothing executed) and where each storage member starts.
pub fn open(p: &Probe, r: &mut dyn RangeReader) -> Result<FileIndex> {
    let archive = zip::listed(p.zip, r)?;
    let (members, cd_offset) = (&archive.members, archive.cd_offset);
    let file = r.file().to_string();
    let pkl = members
        .iter()
        .find(|m| is_pickle(m))
        .ok_or_else(|| Error::malformed(&file, "no data.pkl member"))?;
    let folder = pkl.name.strip_suffix("data.pkl").unwrap_or_default().to_string(); // found by that suffix
    if pkl.uncompressed > MAX_PICKLE {
        return Err(Error::malformed(
            &file,
            format!("data.pkl of {} bytes is over the limit of {MAX_PICKLE}", pkl.uncompressed),
        ));
    }
    zip::check_inflated_size(&file, pkl)?;
    let at = zip::data_offset(r, pkl, cd_offset)?;
    let data = zip::member_prefix(r, pkl, at, pkl.uncompressed)?;
    if data.len() as u64 != pkl.uncompressed {
        return Err(Error::malformed(
            &file,
            format!("data.pkl inflates to {} bytes but declares {}", data.len(), pkl.uncompressed),
        ));
    }
    let by_name: HashMap<&str, &Member> = members.iter().map(|m| (m.name.as_str(), m)).collect();
    let mut metadata = Vec::new();
    let big_endian = match by_name.get(format!("{folder}byteorder").as_str()) {
        Some(m) if m.uncompressed <= 16 => {
            let at = zip::data_offset(r, m, cd_offset)?;
            let order = zip::member_prefix(r, m, at, 16)?;
            match order.as_slice() {
                b"little" => false,
                b"big" => true,
                other => {
                    return Err(Error::malformed(
                        &file,
                        format!("byteorder says {:?}", String::from_utf8_lossy(other)),
                    ))
                }
            }
        }
        Some(_) => return Err(Error::malformed(&file, "byteorder member is too long")),
        None => false,
    };
    metadata.push(("byteorder".to_string(), if big_endian { "big" } else { "little" }.to_string()));

    let root = pickle::load(&file, &data)?;
    let mut found = Vec::new();
    flatten("", &root, &mut found, &mut metadata);
    let mut offsets: HashMap<String, u64> = HashMap::new();
    let mut tensors = Vec::with_capacity(found.len());
    let mut names = std::collections::HashSet::new();
    for (name, t) in found {
        let Value::Tensor {
            dtype,
            key,
            storage_offset,
            size,
            stride,
        } = t
        else {
            continue;
        };
        let bad = |what: String| Error::malformed(&file, format!("tensor '{name}': {what}"));
        if !names.insert(name.clone()) {
            return Err(bad("the name appears twice (a key with dots and a nested dict that spell the same name?)".into()));
        }
        let member_name = format!("{folder}data/{key}");
        let m = by_name
            .get(member_name.as_str())
            .ok_or_else(|| bad(format!("its storage '{member_name}' is not in the archive")))?;
        let shape: Vec<usize> = size
            .iter()
            .map(|&d| usize::try_from(d).map_err(|_| bad(format!("dimension {d} is too large"))))
            .collect::<Result<_>>()?;
        let elements = checked_element_count(&shape).ok_or_else(|| bad(format!("shape {shape:?} overflows the element count")))? as u64;
        let esize = dtype.size() as u64;
        let fortran = if elements <= 1 || strides_match(&size, &stride, &c_strides(&size)) {
            false
        } else if strides_match(&size, &stride, &f_strides(&size)) {
            true
        } else {
            return Err(Error::unsupported(
                &file,
                format!("tensor '{name}' is a non-contiguous view (size {size:?}, stride {stride:?}); save it with .contiguous() first"),
            ));
        };
        let byte_len = elements.checked_mul(esize).ok_or_else(|| bad("byte size overflows".into()))?;
        let start = storage_offset
            .checked_mul(esize)
            .ok_or_else(|| bad("storage offset overflows".into()))?;
        let end = start.checked_add(byte_len).filter(|&e| e <= m.uncompressed);
        end.ok_or_else(|| {
            bad(format!(
                "elements {storage_offset}..+{elements} of {} lie outside its {}-byte storage",
                dtype.name(),
                m.uncompressed
            ))
        })?;
        let data_at = match offsets.get(&member_name) {
            Some(&o) => o,
            None => {
                zip::check_inflated_size(&file, m)?;
                let o = zip::data_offset(r, m, cd_offset)?;
                offsets.insert(member_name.clone(), o);
                o
            }
        };
        let mut info = TensorInfo::raw(name, dtype, shape, data_at + start, byte_len);
        info.big_endian = big_endian && esize > 1;
        info.fortran_order = fortran;
        if m.method == Method::Deflated {
            info.offset = data_at;
            info.storage = Storage::Deflate {
                compressed_len: m.compressed,
                inflated_len: m.uncompressed,
                crc32: m.crc32,
                skip: start,
            };
        }
        tensors.push(info);
    }
    Ok(FileIndex {
        file,
        format: Format::PyTorch,
        file_len: r.len(),
        tensors,
        metadata,
        detail: FormatDetail::None,
    })
}
