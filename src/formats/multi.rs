//! Several files read as one model: a sharded safetensors checkpoint (with or without its
//! model.safetensors.index.json, whose `weight_map` names the shard of each tensor), the sibling
//! files that ONNX external data points at, and one buffer cut into files (TF.js shards, where a
//! weight may cross a cut: `locate_in_files`). Each tensor of the merged index names its shard in
//! `data_file`; a caller reads `TensorInfo::file_parts` (that file's `stored_range`, or the parts of
//! bytes split over files).

use super::{ByteSource, Claim, FileIndex, Format, FormatDetail, Probe, RangeReader};
use crate::error::{Error, Result};
use crate::tensor::{FilePart, Storage};
use std::collections::{HashMap, HashSet};

/// The largest index JSON read (real ones are tens of kB).
pub const MAX_INDEX_JSON: u64 = 64 << 20;

/// An index JSON: a JSON object that mentions "weight_map" in its first bytes.
pub fn sniff(p: &Probe) -> Option<Claim> {
    let mut text = p.prefix.iter().skip_while(|c| c.is_ascii_whitespace());
    (text.next() == Some(&b'{') && p.prefix.windows(12).any(|w| w == b"\"weight_map\"")).then_some(Claim::Content)
}

/// model.safetensors.index.json: {"metadata": {...}, "weight_map": {tensor: shard file}}.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardMap {
    pub file: String,
    /// Shard file names in order of first mention.
    pub shards: Vec<String>,
    pub weight_map: Vec<(String, String)>,
    pub metadata: Vec<(String, String)>,
}

pub fn parse_shard_map(file: &str, prefix: &[u8], file_len: u64) -> Result<ShardMap> {
    if file_len > MAX_INDEX_JSON {
        return Err(Error::malformed(
            file,
            format!("an index JSON of {file_len} bytes is over the limit of {MAX_INDEX_JSON}"),
        ));
    }
    if (prefix.len() as u64) < file_len {
        return Err(Error::NeedMoreBytes {
            file: file.to_string(),
            needed: file_len,
        });
    }
    let json: serde_json::Value =
        serde_json::from_slice(prefix).map_err(|e| Error::malformed(file, format!("index JSON does not parse: {e}")))?;
    let map = json
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| Error::malformed(file, "index JSON has no \"weight_map\" object"))?;
    let mut shards = Vec::new();
    let mut seen = HashSet::new();
    let mut weight_map = Vec::with_capacity(map.len());
    for (tensor, shard) in map {
        let shard = shard
            .as_str()
            .ok_or_else(|| Error::malformed(file, format!("weight_map entry of tensor '{tensor}' is not a file name")))?;
        super::onnx::check_location(file, tensor, shard)?;
        if seen.insert(shard.to_string()) {
            shards.push(shard.to_string());
        }
        weight_map.push((tensor.clone(), shard.to_string()));
    }
    let mut metadata = Vec::new();
    if let Some(m) = json.get("metadata").and_then(|m| m.as_object()) {
        for (k, v) in m {
            metadata.push((k.clone(), v.to_string()));
        }
    }
    Ok(ShardMap {
        file: file.to_string(),
        shards,
        weight_map,
        metadata,
    })
}

/// The index JSON on its own (the page's first step): no tensors yet; the metadata lists the
/// shards ("shard" entries) to read and merge with `merge_shards`. The whole JSON is the prefix,
/// asked for with `NeedMoreBytes`.
pub fn open(p: &Probe, r: &mut dyn RangeReader) -> Result<FileIndex> {
    let (file, file_len) = (p.file, r.len());
    let map = parse_shard_map(file, p.prefix, file_len)?;
    let mut metadata = map.metadata.clone();
    metadata.extend(map.shards.iter().map(|s| ("shard".to_string(), s.clone())));
    Ok(FileIndex {
        file: file.to_string(),
        format: Format::SafetensorsIndex,
        file_len,
        tensors: vec![],
        metadata,
        detail: FormatDetail::None,
    })
}

/// Merges the indexes of safetensors (or PyTorch) shards into one, each tensor naming its shard in
/// `data_file`. With a shard map, every tensor must sit in the shard the map names, and every
/// mapped tensor must be found; without one, names must simply not repeat.
pub fn merge_shards(label: &str, map: Option<&ShardMap>, shards: Vec<FileIndex>) -> Result<FileIndex> {
    let wanted: Option<HashMap<&str, &str>> = map.map(|m| m.weight_map.iter().map(|(t, s)| (t.as_str(), s.as_str())).collect());
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut tensors = Vec::new();
    let mut metadata = map.map(|m| m.metadata.clone()).unwrap_or_default();
    let mut file_len = 0u64;
    let mut format = None;
    for shard in shards {
        // Hugging Face shards are safetensors (model.safetensors.index.json) or torch.save zips
        // (pytorch_model.bin.index.json); one checkpoint does not mix them.
        if !matches!(shard.format, Format::Safetensors | Format::PyTorch) || format.is_some_and(|f| f != shard.format) {
            return Err(Error::malformed(
                &shard.file,
                format!("a shard of {label} must be a safetensors or PyTorch file like the other shards, not {:?}", shard.format),
            ));
        }
        format = Some(shard.format);
        let shard_name = shard.file.rsplit(['/', '\\']).next().unwrap_or(&shard.file).to_string();
        file_len = file_len.saturating_add(shard.file_len);
        for (k, v) in shard.metadata {
            if !metadata.contains(&(k.clone(), v.clone())) {
                metadata.push((k, v));
            }
        }
        for mut t in shard.tensors {
            if let Some(first) = seen.insert(t.name.clone(), shard_name.clone()) {
                return Err(Error::malformed(
                    label,
                    format!("tensor '{}' is in both {first} and {shard_name}", t.name),
                ));
            }
            if let Some(w) = &wanted {
                match w.get(t.name.as_str()) {
                    Some(&s) if s == shard_name => {}
                    Some(&s) => {
                        return Err(Error::malformed(
                            label,
                            format!("tensor '{}' is in {shard_name} but the weight map says {s}", t.name),
                        ))
                    }
                    None => {
                        return Err(Error::malformed(
                            label,
                            format!("tensor '{}' of {shard_name} is not in the weight map", t.name),
                        ))
                    }
                }
            }
            t.data_file = Some(shard_name.clone());
            tensors.push(t);
        }
    }
    if let Some(m) = map {
        if let Some((t, s)) = m.weight_map.iter().find(|(t, _)| !seen.contains_key(t.as_str())) {
            return Err(Error::malformed(
                label,
                format!("the weight map puts tensor '{t}' in {s}, which does not hold it (or was not given)"),
            ));
        }
    }
    Ok(FileIndex {
        file: label.to_string(),
        format: format.unwrap_or(Format::Safetensors),
        file_len,
        tensors,
        metadata,
        detail: FormatDetail::None,
    })
}

/// Native: opens the shards next to the index JSON and merges them.
pub fn open_shards(file: &str, map: ShardMap, source: &mut dyn ByteSource) -> Result<FileIndex> {
    let mut indexes = Vec::with_capacity(map.shards.len());
    for shard in &map.shards {
        let mut s = source.sibling(shard)?;
        indexes.push(super::read_index(shard, s.as_mut())?);
    }
    merge_shards(file, Some(&map), indexes)
}

/// Whether a relative file name a header gives stays inside the folder of the file that names it
/// (no absolute path, drive, or `..`): ONNX external data, TF.js shard paths.
pub fn stays_in_folder(name: &str) -> bool {
    !(name.is_empty() || name.starts_with('/') || name.starts_with('\\') || name.contains(':') || name.split(['/', '\\']).any(|part| part == ".."))
}

/// The path of `name` next to `base` (the folder of base), refusing names that leave the folder.
pub fn sibling_path(base: &str, name: &str) -> Result<String> {
    super::onnx::check_location(base, name, name)?;
    let dir = std::path::Path::new(base).parent().unwrap_or(std::path::Path::new(""));
    Ok(dir.join(name).to_string_lossy().into_owned())
}

/// Where bytes [start, start + len) of one buffer cut into consecutive files lie, the files given as
/// (name, length) in order: (the file it starts in, the offset there, Raw) when one file holds
/// them, or Split into the parts of consecutive files. None when the files end before the bytes do.
pub fn locate_in_files(start: u64, len: u64, files: &[(String, u64)]) -> Option<(String, u64, Storage)> {
    let end = start.checked_add(len)?;
    let mut file_start = 0u64;
    let mut parts = Vec::new();
    for (name, file_len) in files {
        let file_end = file_start.checked_add(*file_len)?;
        if len == 0 && start <= file_end {
            return Some((name.clone(), start - file_start, Storage::Raw));
        }
        let (lo, hi) = (start.max(file_start), end.min(file_end));
        if lo < hi {
            parts.push(FilePart { file: name.clone(), offset: lo - file_start, len: hi - lo });
        }
        if file_end >= end && !parts.is_empty() {
            break;
        }
        file_start = file_end;
    }
    if parts.iter().map(|p| p.len).sum::<u64>() != len || len == 0 {
        return None;
    }
    let (file, offset) = (parts[0].file.clone(), parts[0].offset);
    Some((file, offset, if parts.len() == 1 { Storage::Raw } else { Storage::Split { parts } }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(lens: &[u64]) -> Vec<(String, u64)> {
        lens.iter().enumerate().map(|(i, &l)| (format!("s{i}"), l)).collect()
    }

    #[test]
    fn bytes_inside_one_file_are_raw_and_across_files_are_parts() {
        let f = files(&[10, 10, 5]);
        assert_eq!(locate_in_files(2, 8, &f), Some(("s0".into(), 2, Storage::Raw)));
        assert_eq!(locate_in_files(10, 10, &f), Some(("s1".into(), 0, Storage::Raw)));
        // [8, 23): 2 bytes of s0, all of s1, 3 of s2.
        let parts = vec![
            FilePart { file: "s0".into(), offset: 8, len: 2 },
            FilePart { file: "s1".into(), offset: 0, len: 10 },
            FilePart { file: "s2".into(), offset: 0, len: 3 },
        ];
        assert_eq!(locate_in_files(8, 15, &f), Some(("s0".into(), 8, Storage::Split { parts })));
        assert_eq!(locate_in_files(20, 5, &f), Some(("s2".into(), 0, Storage::Raw)));
        // Empty weights sit where they start, even at the very end.
        assert_eq!(locate_in_files(25, 0, &f), Some(("s2".into(), 5, Storage::Raw)));
        // Past the end, or an empty file in between.
        assert_eq!(locate_in_files(20, 6, &f), None);
        assert_eq!(locate_in_files(u64::MAX, 2, &f), None);
        let with_empty = files(&[4, 0, 4]);
        let parts = vec![FilePart { file: "s0".into(), offset: 2, len: 2 }, FilePart { file: "s2".into(), offset: 0, len: 2 }];
        assert_eq!(locate_in_files(2, 4, &with_empty), Some(("s0".into(), 2, Storage::Split { parts })));
    }
}
