//! TF.js models: a `model.json` (layers or graph model, its `weightsManifest`) or a
//! `*weights_manifest.json` (the bare manifest), with the `.bin` shards it names.
//!
//! The manifest is a list of groups, each `{paths: [shard…], weights: [{name, shape, dtype,
//! quantization?}…]}`. A group's weights are its shards concatenated, in manifest order, each weight
//! `size · bytes per value` long, and the converter cuts that buffer into shards of a fixed size
//! (tensorflowjs/write_weights.py), so a weight may begin in one shard and end in the next: it is
//! listed with `Storage::Split` (multi::locate_in_files). tfjs itself concatenates every group's
//! shards into one buffer (tfjs-core/src/io/http.ts loadWeights, io_utils.ts decodeWeights); here
//! each group must fill its own shards exactly, so that a manifest whose sizes lie is an error and
//! not a silent shift of every later weight.
//!
//! dtypes (tfjs-core/src/io/types.ts DTYPE_VALUE_SIZE_MAP): float32 (quantizable), int32 and bool
//! (listed), complex64 (skipped, named in the metadata) and string (its length is in the data, so
//! the rest of its group cannot be placed: skipped, said in the metadata). Stored quantization as
//! io_utils.ts decodeWeight reads it: `{dtype: uint8|uint16, scale, min}` for float32 and int32
//! weights, `{dtype: float16}` for float32 weights, each weight one tensor with its StoredQuant.
//!
//! The manifest alone does not say where the shards are cut, so reading is two steps: `open` (the
//! page's first step) lists the shards as "shard" metadata, and `locate` places the weights once the
//! shards' lengths are known (natively `open_shards` opens them next to the manifest).

use super::{multi, ByteSource, Claim, FileIndex, Format, FormatDetail, Probe, RangeReader};
use crate::error::{Error, Result};
use crate::tensor::stored::{CodeLayout, StoredGranularity, StoredQuant, StoredScheme};
use crate::tensor::{DType, TensorInfo};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};

/// The largest model.json read (a graph model's topology runs to tens of MB).
pub const MAX_MANIFEST_JSON: u64 = 256 << 20;

/// A model.json (an object with "weightsManifest" or "modelTopology") or a bare weights manifest (an
/// array of groups with "paths" and "weights") by its first bytes; by name, `model.json` and
/// `*weights_manifest.json` whose weightsManifest comes after a long topology.
pub fn sniff(p: &Probe) -> Option<Claim> {
    let text = p.prefix.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(p.prefix);
    let first = text.iter().find(|c| !c.is_ascii_whitespace());
    let has = |key: &[u8]| text.windows(key.len()).any(|w| w == key);
    match first {
        Some(b'{') if has(b"\"weightsManifest\"") || has(b"\"modelTopology\"") => return Some(Claim::Content),
        Some(b'[') if has(b"\"paths\"") && has(b"\"weights\"") => return Some(Claim::Content),
        _ => {}
    }
    let name = p.file.rsplit(['/', '\\']).next().unwrap_or(p.file).to_ascii_lowercase();
    (name.ends_with("model.json") || name.ends_with("weights_manifest.json")).then_some(Claim::Name)
}

#[derive(Deserialize)]
struct ModelJson {
    #[serde(rename = "weightsManifest")]
    weights_manifest: Option<Vec<Group>>,
    format: Option<serde_json::Value>,
    #[serde(rename = "generatedBy")]
    generated_by: Option<serde_json::Value>,
    #[serde(rename = "convertedBy")]
    converted_by: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Group {
    paths: Vec<String>,
    weights: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    name: String,
    shape: Vec<u64>,
    dtype: String,
    quantization: Option<Quantization>,
}

#[derive(Deserialize)]
struct Quantization {
    dtype: String,
    scale: Option<f64>,
    min: Option<f64>,
}

/// One weight placed in its group's buffer, before the shards' lengths are known.
struct Planned {
    info: TensorInfo,
    /// Bytes from the start of the group's buffer.
    start: u64,
}

struct PlannedGroup {
    paths: Vec<String>,
    weights: Vec<Planned>,
    /// The bytes the weights fill; None when a string weight leaves the end unknown.
    len: Option<u64>,
}

/// A manifest read and checked: its groups with their weights placed, and what the index shows.
struct Manifest {
    groups: Vec<PlannedGroup>,
    metadata: Vec<(String, String)>,
}

impl Manifest {
    /// Every shard path, in manifest order, once each.
    fn shards(&self) -> Vec<&str> {
        let mut seen = HashSet::new();
        self.groups.iter().flat_map(|g| g.paths.iter()).map(String::as_str).filter(|p| seen.insert(*p)).collect()
    }
}

/// Reads the whole JSON (asking for it with `NeedMoreBytes`) and plans every weight.
fn parse(file: &str, json: &[u8], file_len: u64) -> Result<Manifest> {
    if file_len > MAX_MANIFEST_JSON {
        return Err(Error::malformed(file, format!("a TF.js model.json of {file_len} bytes is over the limit of {MAX_MANIFEST_JSON}")));
    }
    if (json.len() as u64) < file_len {
        return Err(Error::NeedMoreBytes { file: file.to_string(), needed: file_len });
    }
    let json = json.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(json);
    let not_manifest = |e: serde_json::Error| Error::malformed(file, format!("not a TF.js model.json or weights manifest: {e}"));
    let bare = json.iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'[');
    let (groups, mut metadata) = if bare {
        (serde_json::from_slice::<Vec<Group>>(json).map_err(not_manifest)?, Vec::new())
    } else {
        let model: ModelJson = serde_json::from_slice(json).map_err(not_manifest)?;
        let mut metadata = Vec::new();
        for (key, value) in [("format", &model.format), ("generatedBy", &model.generated_by), ("convertedBy", &model.converted_by)] {
            match value {
                Some(serde_json::Value::String(s)) => metadata.push((key.to_string(), s.clone())),
                Some(serde_json::Value::Null) | None => {}
                Some(v) => metadata.push((key.to_string(), v.to_string())),
            }
        }
        let groups = model.weights_manifest.ok_or_else(|| {
            Error::malformed(file, "a TF.js model.json without a \"weightsManifest\": its weights are not in files (or this is not a TF.js model)")
        })?;
        (groups, metadata)
    };
    let mut names = HashSet::new();
    let mut planned = Vec::with_capacity(groups.len());
    for (g, group) in groups.into_iter().enumerate() {
        if group.paths.is_empty() && !group.weights.is_empty() {
            return Err(Error::malformed(file, format!("weights manifest group {g} lists {} weights but no shard paths", group.weights.len())));
        }
        for path in &group.paths {
            check_path(file, g, path)?;
        }
        let mut weights = Vec::with_capacity(group.weights.len());
        let mut at = Some(0u64);
        for (w, entry) in group.weights.into_iter().enumerate() {
            let Some(start) = at else {
                metadata.push((format!("skipped {}", entry.name), format!("after a string weight of group {g}, whose length is in the data")));
                continue;
            };
            if !names.insert(entry.name.clone()) {
                return Err(Error::malformed(file, format!("weight '{}' is listed twice in the weights manifest", entry.name)));
            }
            let where_ = format!("weight '{}' (group {g}, weight {w})", entry.name);
            let overflow = || Error::malformed(file, format!("{where_}: the weights of group {g} add up to more bytes than a file can hold"));
            match plan(file, &where_, entry, start)? {
                Plan::Tensor(info) => {
                    at = Some(start.checked_add(info.byte_len).ok_or_else(overflow)?);
                    weights.push(Planned { info, start });
                }
                Plan::Skipped { name, bytes, why } => {
                    at = bytes.map(|b| start.checked_add(b).ok_or_else(overflow)).transpose()?;
                    metadata.push((format!("skipped {name}"), why));
                }
            }
        }
        planned.push(PlannedGroup { paths: group.paths, weights, len: at });
    }
    Ok(Manifest { groups: planned, metadata })
}

/// A shard path must stay in the model's folder (tfjs fetches it relative to model.json).
fn check_path(file: &str, group: usize, path: &str) -> Result<()> {
    if !multi::stays_in_folder(path) {
        return Err(Error::malformed(file, format!("group {group} names shard '{path}', which is not a relative path inside the model's folder")));
    }
    Ok(())
}

enum Plan {
    Tensor(TensorInfo),
    /// Bytes None: a string weight, whose length is in the data.
    Skipped { name: String, bytes: Option<u64>, why: String },
}

/// One manifest entry as a tensor (offset and file still to place), following io_utils.ts
/// decodeWeight's rules and its errors.
fn plan(file: &str, where_: &str, entry: Entry, start: u64) -> Result<Plan> {
    let bad = |what: String| Error::malformed(file, format!("{where_}: {what}"));
    let shape = entry.shape.iter().map(|&d| usize::try_from(d).ok()).collect::<Option<Vec<usize>>>();
    let shape = shape.ok_or_else(|| bad(format!("shape {:?} is too large", entry.shape)))?;
    let elements = crate::tensor::checked_element_count(&shape).ok_or_else(|| bad(format!("shape {shape:?} overflows the element count")))?;
    let Entry { name, dtype, quantization, .. } = entry;
    let (stored, quant) = match (dtype.as_str(), quantization) {
        ("float32", None) => (DType::F32, None),
        ("int32", None) => (DType::I32, None),
        ("bool", None) => (DType::Bool, None),
        ("complex64", None) => {
            let bytes = (elements as u64).checked_mul(8).ok_or_else(|| bad("its size overflows".into()))?;
            return Ok(Plan::Skipped { name, bytes: Some(bytes), why: format!("complex64 weight of shape {shape:?} ({bytes} bytes), not read") });
        }
        ("string", None) => {
            return Ok(Plan::Skipped { name, bytes: None, why: "string weight: its length is in the shard data, which is not read".into() });
        }
        (other, None) => return Err(bad(format!("dtype '{other}' is not a TF.js weight dtype (float32, int32, bool, string, complex64)"))),
        (dtype, Some(q)) => {
            let int32 = match dtype {
                "float32" => false,
                "int32" if q.dtype != "float16" => true,
                _ => return Err(bad(format!("quantization {} of a {dtype} weight: TF.js reads uint8/uint16 of float32 and int32 weights, float16 of float32 weights", q.dtype))),
            };
            let (codes, bits) = match q.dtype.as_str() {
                "uint8" => (DType::U8, 8),
                "uint16" => (DType::U16, 16),
                "float16" => (DType::F16, 16),
                other => return Err(bad(format!("unknown quantization dtype '{other}' (TF.js has uint8, uint16 and float16)"))),
            };
            let (scheme, scales) = if codes == DType::F16 {
                (StoredScheme::TfjsFloat16, Vec::new())
            } else {
                let (Some(scale), Some(min)) = (q.scale, q.min) else {
                    return Err(bad(format!("quantization {} without its \"scale\" and \"min\"", q.dtype)));
                };
                (StoredScheme::TfjsAffine { scale, min, int32 }, vec![scale as f32])
            };
            let op = format!("TF.js {} quantization, {dtype} weight", q.dtype);
            let quant = StoredQuant { scheme, granularity: StoredGranularity::PerTensor, bits, layout: CodeLayout::Elements, scales, zero_points: Vec::new(), op, row_groups: Vec::new(), half_output: false, lazy: None };
            (codes, Some(quant))
        }
    };
    let byte_len = stored.bytes_for(elements as u64).ok_or_else(|| bad("its size overflows".into()))?;
    let mut info = TensorInfo::raw(name, stored, shape, start, byte_len);
    info.quant = quant;
    Ok(Plan::Tensor(info))
}

/// The manifest on its own: its shards as "shard" metadata, no tensors until `locate`.
pub fn open(p: &Probe, r: &mut dyn RangeReader) -> Result<FileIndex> {
    let manifest = parse(p.file, p.prefix, r.len())?;
    let mut metadata = manifest.metadata.clone();
    metadata.extend(manifest.shards().into_iter().map(|s| ("shard".to_string(), s.to_string())));
    Ok(FileIndex { file: p.file.to_string(), format: Format::TfjsManifest, file_len: r.len(), tensors: vec![], metadata, detail: FormatDetail::None })
}

/// Places every weight of the manifest `json` (the whole file) in its shard, given each shard's
/// length by its path: the model's index, each tensor naming its shard (or its parts, when it
/// crosses from one shard into the next). Every group's weights must fill its shards exactly.
pub fn locate(file: &str, json: &[u8], shard_lengths: &HashMap<String, u64>) -> Result<FileIndex> {
    let manifest = parse(file, json, json.len() as u64)?;
    let mut tensors = Vec::new();
    let mut total = 0u64;
    for shard in manifest.shards() {
        let len = shard_lengths.get(shard).ok_or_else(|| Error::malformed(file, format!("the weights manifest names shard '{shard}', which was not given with it")))?;
        total = total.saturating_add(*len);
    }
    for (g, group) in manifest.groups.into_iter().enumerate() {
        let files: Vec<(String, u64)> = group.paths.iter().map(|p| (p.clone(), shard_lengths[p.as_str()])).collect();
        let held = files.iter().fold(0u64, |a, f| a.saturating_add(f.1));
        if let Some(need) = group.len.filter(|&need| need != held) {
            let lens: Vec<String> = files.iter().map(|(p, l)| format!("{p} {l}")).collect();
            let which = if need > held { "shorter than" } else { "longer than" };
            return Err(Error::malformed(
                file,
                format!("group {g}'s weights need {need} bytes but its shards hold {held} ({}): the shards are {which} the manifest says", lens.join(", ")),
            ));
        }
        for Planned { mut info, start } in group.weights {
            let Some((data_file, offset, storage)) = multi::locate_in_files(start, info.byte_len, &files) else {
                return Err(Error::malformed(file, format!("weight '{}' needs bytes {start}..{} of group {g}, whose shards hold {held}", info.name, start.saturating_add(info.byte_len))));
            };
            info.offset = offset;
            info.data_file = Some(data_file);
            info.storage = storage;
            tensors.push(info);
        }
    }
    Ok(FileIndex { file: file.to_string(), format: Format::Tfjs, file_len: total, tensors, metadata: manifest.metadata, detail: FormatDetail::None })
}

/// Native: opens the shards next to the manifest for their lengths, and places the weights.
pub fn open_shards(file: &str, json: &[u8], source: &mut dyn ByteSource) -> Result<FileIndex> {
    let manifest = parse(file, json, json.len() as u64)?;
    let mut lengths = HashMap::new();
    for shard in manifest.shards() {
        let opened = source.sibling(shard).map_err(|e| Error::malformed(file, format!("the weights manifest names shard '{shard}', which could not be opened next to it ({e})")))?;
        lengths.insert(shard.to_string(), opened.len());
    }
    locate(file, json, &lengths)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::{FilePart, Storage};

    fn lengths(pairs: &[(&str, u64)]) -> HashMap<String, u64> {
        pairs.iter().map(|(n, l)| (n.to_string(), *l)).collect()
    }

    const TWO_SHARDS: &str = r#"{"format": "layers-model", "modelTopology": {}, "weightsManifest": [
        {"paths": ["g1-shard1of2.bin", "g1-shard2of2.bin"], "weights": [
            {"name": "a", "shape": [3], "dtype": "float32"},
            {"name": "b", "shape": [2, 2], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0}},
            {"name": "c", "shape": [], "dtype": "int32"}]}]}"#;

    #[test]
    fn weights_are_placed_in_their_shards_and_may_cross_one() {
        // a: bytes 0..12, b: 12..16 (uint8 codes), c: 16..20; shards of 14 and 6 bytes.
        let index = locate("model.json", TWO_SHARDS.as_bytes(), &lengths(&[("g1-shard1of2.bin", 14), ("g1-shard2of2.bin", 6)])).unwrap();
        assert_eq!(index.format, Format::Tfjs);
        let t: Vec<_> = index.tensors.iter().map(|t| (t.name.as_str(), t.dtype, t.data_file.as_deref(), t.offset, t.byte_len)).collect();
        assert_eq!(t, vec![("a", DType::F32, Some("g1-shard1of2.bin"), 0, 12), ("b", DType::U8, Some("g1-shard1of2.bin"), 12, 4), ("c", DType::I32, Some("g1-shard2of2.bin"), 2, 4)]);
        let parts = vec![FilePart { file: "g1-shard1of2.bin".into(), offset: 12, len: 2 }, FilePart { file: "g1-shard2of2.bin".into(), offset: 0, len: 2 }];
        assert_eq!(index.tensors[1].storage, Storage::Split { parts });
        // The page hands the description back as JSON: parts and float64 parameters come back exactly.
        let json = serde_json::to_string(&index.tensors[1]).unwrap();
        assert!(json.contains(r#""storage":{"kind":"split","parts":[{"file":"g1-shard1of2.bin","offset":12,"len":2}"#), "{json}");
        assert_eq!(serde_json::from_str::<TensorInfo>(&json).unwrap(), index.tensors[1]);
        let q = index.tensors[1].quant.as_ref().unwrap();
        assert_eq!(q.scheme, StoredScheme::TfjsAffine { scale: 0.5, min: -1.0, int32: false });
        // By hand: codes 0, 1, 2, 255 → −1, −0.5, 0, 126.5.
        assert_eq!(crate::tensor::decode_to_f32(&index.tensors[1], &[0, 1, 2, 255]).unwrap(), vec![-1.0, -0.5, 0.0, 126.5]);
        assert_eq!(index.tensors[2].shape, Vec::<usize>::new());
        assert!(!index.tensors[2].is_quantizable());
    }

    #[test]
    fn lying_sizes_and_missing_shards_are_errors() {
        let short = locate("model.json", TWO_SHARDS.as_bytes(), &lengths(&[("g1-shard1of2.bin", 14), ("g1-shard2of2.bin", 5)])).unwrap_err().to_string();
        assert!(short.contains("group 0's weights need 20 bytes but its shards hold 19 (g1-shard1of2.bin 14, g1-shard2of2.bin 5): the shards are shorter"), "{short}");
        let long = locate("model.json", TWO_SHARDS.as_bytes(), &lengths(&[("g1-shard1of2.bin", 14), ("g1-shard2of2.bin", 7)])).unwrap_err().to_string();
        assert!(long.contains("shards are longer than the manifest says"), "{long}");
        let missing = locate("model.json", TWO_SHARDS.as_bytes(), &lengths(&[("g1-shard1of2.bin", 14)])).unwrap_err().to_string();
        assert!(missing.contains("names shard 'g1-shard2of2.bin', which was not given"), "{missing}");
    }

    #[test]
    fn quantization_rules_follow_decode_weight() {
        let one = |w: &str| format!(r#"[{{"paths": ["w.bin"], "weights": [{w}]}}]"#);
        let err = |w: &str| locate("m.json", one(w).as_bytes(), &lengths(&[("w.bin", 4)])).unwrap_err().to_string();
        assert!(err(r#"{"name": "x", "shape": [1], "dtype": "float64"}"#).contains("dtype 'float64' is not a TF.js weight dtype"));
        assert!(err(r#"{"name": "x", "shape": [4], "dtype": "float32", "quantization": {"dtype": "int4", "scale": 1, "min": 0}}"#).contains("unknown quantization dtype 'int4'"));
        assert!(err(r#"{"name": "x", "shape": [4], "dtype": "float32", "quantization": {"dtype": "uint8", "min": 0}}"#).contains("without its \"scale\" and \"min\""));
        assert!(err(r#"{"name": "x", "shape": [2], "dtype": "int32", "quantization": {"dtype": "float16"}}"#).contains("float16 of float32 weights"));
        // An int32 weight stored as uint8 is Math.round(q·scale + min): 0.5 → 1, 2.5 → 3, −0.5 → −0.
        let ints = locate("m.json", one(r#"{"name": "i", "shape": [4], "dtype": "int32", "quantization": {"dtype": "uint8", "scale": 0.5, "min": -0.5}}"#).as_bytes(), &lengths(&[("w.bin", 4)])).unwrap();
        assert_eq!(crate::tensor::decode_to_f32(&ints.tensors[0], &[2, 0, 6, 1]).unwrap(), vec![1.0, 0.0, 3.0, 0.0]);
        // float16 storage widens as tfjs's tables do.
        let halves = locate("m.json", one(r#"{"name": "h", "shape": [2], "dtype": "float32", "quantization": {"dtype": "float16"}}"#).as_bytes(), &lengths(&[("w.bin", 4)])).unwrap();
        assert_eq!(crate::tensor::decode_to_f32(&halves.tensors[0], &[0x00, 0x3C, 0x01, 0x80]).unwrap(), vec![1.0, -(2f32.powi(-24))]);
    }

    #[test]
    fn strings_stop_their_group_and_paths_may_not_escape() {
        let json = r#"[{"paths": ["a.bin"], "weights": [{"name": "f", "shape": [1], "dtype": "float32"}, {"name": "s", "shape": [2], "dtype": "string"}, {"name": "g", "shape": [1], "dtype": "float32"}]},
                       {"paths": ["b.bin"], "weights": [{"name": "z", "shape": [2], "dtype": "complex64"}, {"name": "k", "shape": [1], "dtype": "bool"}]}]"#;
        // a.bin's length is unknown past the string: not checked. b.bin: 16 bytes of complex64, then k.
        let index = locate("w.json", json.as_bytes(), &lengths(&[("a.bin", 40), ("b.bin", 17)])).unwrap();
        let names: Vec<_> = index.tensors.iter().map(|t| (t.name.as_str(), t.data_file.as_deref().unwrap(), t.offset)).collect();
        assert_eq!(names, vec![("f", "a.bin", 0), ("k", "b.bin", 16)]);
        let skipped: Vec<_> = index.metadata.iter().filter(|(k, _)| k.starts_with("skipped ")).map(|(k, _)| k.as_str()).collect();
        assert_eq!(skipped, vec!["skipped s", "skipped g", "skipped z"]);
        for path in ["../w.bin", "/etc/w.bin", "c:w.bin", ""] {
            let json = format!(r#"[{{"paths": ["{path}"], "weights": []}}]"#);
            let e = locate("w.json", json.as_bytes(), &lengths(&[(path, 0)])).unwrap_err().to_string();
            assert!(e.contains("not a relative path inside the model's folder"), "{e}");
        }
        let e = locate("w.json", br#"{"modelTopology": {}}"#, &HashMap::new()).unwrap_err().to_string();
        assert!(e.contains("without a \"weightsManifest\""), "{e}");
        let e = locate("w.json", br#"[{"paths": ["a.bin"]}]"#, &HashMap::new()).unwrap_err().to_string();
        assert!(e.contains("not a TF.js model.json or weights manifest: missing field `weights`"), "{e}");
    }
}
