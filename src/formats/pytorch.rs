//! PyTorch checkpoints (.pt / .pth / .bin) in torch.save's zip format (torch/serialization.py,
//! caffe2/serialize/inline_container.cc): a zip whose members sit under one folder, `<a>/data.pkl`
//! (the pickled object, storages replaced by persistent ids) and `<a>/data/<key>` (each storage's
//! raw little-endian bytes, stored uncompressed and 64-byte aligned), plus `<a>/byteorder` in newer
//! versions. The pickle is read by the restricted unpickler in `pickle.rs`; nothing is executed.
//!
//! A TorchScript archive (torch.jit.save; torch/csrc/jit/serialization/export_module.cpp writes it,
//! import.cpp reads it) is the same container with more in it: `data.pkl` pickles the module as
//! `__torch__.…` objects whose state dicts hold the submodules, parameters, buffers and other
//! attributes; `constants.pkl` a tuple of the code's tensor constants, their storages under
//! `constants/` (the code calls them `CONSTANTS.c0`, …); `code/` the compiled Python source, never
//! read or run. Tensors are named by their attribute path (`layers.0.fc.weight`, as state_dict
//! names them); quantized tensors (torch.ao's qint8 / quint8 / qint32 with per-tensor or
//! per-channel affine parameters) are one tensor each with their parameters.

use super::container::zip::{self, Member, Method};
use super::decode::pickle::{self, TorchQuant, Value};
use super::{Claim, FileIndex, Format, FormatDetail, Probe, RangeReader};
use crate::error::{Error, Result};
use crate::tensor::stored::{CodeLayout, StoredGranularity, StoredQuant, StoredScheme};
use crate::tensor::{checked_element_count, DType, Storage, TensorInfo};
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

/// What a walk over an unpickled value found.
#[derive(Default)]
struct Found {
    /// Dotted name, the tensor, and the folder of its storages ("data/" or "constants/").
    tensors: Vec<(String, Value, &'static str)>,
    metadata: Vec<(String, String)>,
    /// Non-tensor attributes of TorchScript objects (flags, sizes, strings…), not listed.
    skipped_attributes: usize,
    /// Values read but not kept, by name: "name: what it was".
    opaque: Vec<String>,
}

fn join(prefix: &str, k: &str) -> String {
    if prefix.is_empty() {
        k.to_string()
    } else {
        format!("{prefix}.{k}")
    }
}

/// A quantized conv module of torch.ao pickles its __getstate__ tuple instead of a dict:
/// (in_channels, out_channels, kernel_size, stride, padding, dilation, transposed, output_padding,
/// groups, padding_mode, weight, bias, scale, zero_point, training) — torch/ao/nn/quantized/modules/
/// conv.py _ConvNd.__getstate__. Its weight and bias get the names state_dict gives them.
fn quantized_conv_state<'a>(class: &str, state: &'a Value) -> Option<&'a [std::rc::Rc<Value>]> {
    let Value::Tuple(items, _) = state else { return None };
    let tensor_or_none = |v: &Value| matches!(v, Value::Tensor { .. } | Value::None);
    (class.contains(".quantized.modules.conv.") && items.len() == 15 && tensor_or_none(&items[10]) && tensor_or_none(&items[11])).then_some(items)
}

/// Flattens a state dict or a TorchScript module (nested dicts, lists, objects) into dotted names
/// and tensors. Other leaves of a plain checkpoint (an epoch number, a string) go to the
/// metadata; those of a TorchScript object are counted as skipped.
fn flatten(prefix: &str, v: &Value, in_object: bool, dir: &'static str, out: &mut Found) {
    match v {
        Value::Dict(items, _) => {
            for (k, v) in items {
                let key = match &**k {
                    Value::Str(s) => s.clone(),
                    Value::Int(i) => i.to_string(),
                    other => format!("{other:?}"),
                };
                flatten(&join(prefix, &key), v, in_object, dir, out);
            }
        }
        Value::List(items, _) | Value::Tuple(items, _) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&join(prefix, &i.to_string()), v, in_object, dir, out);
            }
        }
        Value::Object { class, state, .. } => match quantized_conv_state(class, state) {
            Some(items) => {
                flatten(&join(prefix, "weight"), &items[10], true, dir, out);
                flatten(&join(prefix, "bias"), &items[11], true, dir, out);
                out.skipped_attributes += items.len() - 2;
            }
            None => flatten(prefix, state, true, dir, out),
        },
        // torch.save(tensor) pickles a bare tensor: call it "tensor".
        t @ Value::Tensor { .. } => out.tensors.push((if prefix.is_empty() { "tensor".to_string() } else { prefix.to_string() }, t.clone(), dir)),
        Value::Opaque(what) => out.opaque.push(format!("{prefix}: {what}")),
        Value::None => {}
        _ if in_object => out.skipped_attributes += 1,
        Value::Str(s) => out.metadata.push((prefix.to_string(), s.chars().take(200).collect())),
        Value::Int(i) => out.metadata.push((prefix.to_string(), i.to_string())),
        Value::Float(f) => out.metadata.push((prefix.to_string(), f.to_string())),
        Value::Bool(b) => out.metadata.push((prefix.to_string(), b.to_string())),
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

/// The bytes of a pickle member, within the size limit.
fn read_pickle(r: &mut dyn RangeReader, file: &str, pkl: &Member, cd_offset: u64) -> Result<Vec<u8>> {
    let short = pkl.name.rsplit('/').next().unwrap_or(&pkl.name);
    if pkl.uncompressed > MAX_PICKLE {
        return Err(Error::malformed(file, format!("{short} of {} bytes is over the limit of {MAX_PICKLE}", pkl.uncompressed)));
    }
    zip::check_inflated_size(file, pkl)?;
    let at = zip::data_offset(r, pkl, cd_offset)?;
    let data = zip::member_prefix(r, pkl, at, pkl.uncompressed)?;
    if data.len() as u64 != pkl.uncompressed {
        return Err(Error::malformed(file, format!("{short} inflates to {} bytes but declares {}", data.len(), pkl.uncompressed)));
    }
    Ok(data)
}

/// The archive's members, for reading a quantized tensor's parameter tensors.
struct Archive<'a> {
    folder: &'a str,
    by_name: &'a HashMap<&'a str, &'a Member>,
    cd_offset: u64,
    big_endian: bool,
}

/// The elements of a small 1-D tensor (a per-channel quantizer's scales or zero points) as f64.
fn small_tensor(r: &mut dyn RangeReader, file: &str, a: &Archive, dir: &str, t: &Value, what: &str) -> Result<Vec<f64>> {
    let bad = |why: String| Error::malformed(file, format!("a quantized tensor's {what}: {why}"));
    let Value::Tensor { dtype, key, storage_offset, size, .. } = t else { return Err(bad("not a tensor".into())) };
    let [n] = size[..] else { return Err(bad(format!("shape {size:?} is not one-dimensional"))) };
    let member_name = format!("{}{dir}{key}", a.folder);
    let m = a.by_name.get(member_name.as_str()).ok_or_else(|| bad(format!("its storage '{member_name}' is not in the archive")))?;
    let esize = dtype.size() as u64;
    let start = storage_offset.checked_mul(esize).ok_or_else(|| bad("offset overflows".into()))?;
    let len = n.checked_mul(esize).filter(|&l| l <= MAX_PICKLE).ok_or_else(|| bad(format!("{n} elements are too many")))?;
    let end = start.checked_add(len).filter(|&e| e <= m.uncompressed).ok_or_else(|| bad(format!("elements lie outside its {}-byte storage", m.uncompressed)))?;
    zip::check_inflated_size(file, m)?;
    let at = zip::data_offset(r, m, a.cd_offset)?;
    let bytes = match m.method {
        Method::Stored => r.read(at + start, len)?,
        Method::Deflated => zip::member_prefix(r, m, at, end)?.split_off(start as usize),
    };
    let value = |c: &[u8]| -> Option<f64> {
        let mut b = [0u8; 8];
        b[..c.len()].copy_from_slice(c);
        if a.big_endian {
            b[..c.len()].reverse();
        }
        Some(match dtype {
            DType::F64 => f64::from_le_bytes(b),
            DType::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
            DType::I64 => i64::from_le_bytes(b) as f64,
            DType::I32 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
            _ => return None,
        })
    };
    bytes.chunks_exact(esize as usize).map(|c| value(c).ok_or_else(|| bad(format!("of dtype {}", dtype.name())))).collect()
}

/// A torch quantizer as the file's own parameters: Err(why) when it cannot be one (said in the
/// metadata, the codes still listed).
fn stored_quant(r: &mut dyn RangeReader, file: &str, a: &Archive, dir: &str, q: &TorchQuant, dtype: DType, shape: &[usize]) -> Result<std::result::Result<StoredQuant, String>> {
    let (granularity, scales, zero_points, op) = match q {
        TorchQuant::PerTensorAffine { scale, zero_point } => {
            // fbgemm::Dequantize uses the scale as a float (TensorQuantizationParams::scale).
            (StoredGranularity::PerTensor, vec![*scale as f32], vec![*zero_point], "torch per_tensor_affine")
        }
        TorchQuant::PerChannelAffine { scales, zero_points, axis } => {
            let axis = *axis as usize;
            if axis >= shape.len() {
                return Ok(Err(format!("per_channel_affine axis {axis} of a {}-dimensional tensor", shape.len())));
            }
            let s = small_tensor(r, file, a, dir, scales, "scales")?;
            let z = small_tensor(r, file, a, dir, zero_points, "zero points")?;
            // aten multiplies by the double scale; one that is not a float exactly would round
            // differently through the f32 parameters kept here.
            if let Some(x) = s.iter().find(|&&x| x as f32 as f64 != x && x.is_finite()) {
                return Ok(Err(format!("a per-channel scale {x} is not exactly a float32")));
            }
            let z: Vec<i64> = z.iter().map(|&v| v as i64).collect();
            (StoredGranularity::PerAxis { axis }, s.iter().map(|&x| x as f32).collect(), z, "torch per_channel_affine")
        }
    };
    let mut zps = Vec::with_capacity(zero_points.len());
    for z in zero_points {
        match i32::try_from(z) {
            Ok(z) => zps.push(z),
            Err(_) => return Ok(Err(format!("zero point {z} does not fit 32 bits"))),
        }
    }
    Ok(Ok(StoredQuant {
        scheme: StoredScheme::TorchAffine,
        granularity,
        bits: dtype.size() as u32 * 8,
        layout: CodeLayout::Elements,
        scales,
        zero_points: if zps.iter().all(|&z| z == 0) { Vec::new() } else { zps },
        op: op.to_string(),
        row_groups: Vec::new(),
        half_output: false,
        lazy: None,
    }))
}

/// A zip holding a data.pkl, or an old TorchScript archive's model.json.
pub fn sniff(p: &Probe) -> Option<Claim> {
    let members = &p.zip?.members;
    (members.iter().any(is_pickle) || legacy_model_json(members).is_some()).then_some(Claim::Content)
}

/// The `<a>/model.json` of a TorchScript archive from torch.jit.save before torch 1.4 (the
/// "legacy" layout torch still imports: torch/csrc/jit/serialization/import_legacy.cpp): a
/// ModelDef (caffe2/proto/torch.proto) as protobuf JSON, beside `tensors/<n>` storages, `code/`
/// (`libs/`) and `attributes.pkl`. Only with a sibling tensors/, code/, libs/ or attributes.pkl.
fn legacy_model_json(members: &[Member]) -> Option<&Member> {
    let m = members.iter().filter(|m| m.name == "model.json" || m.name.ends_with("/model.json")).min_by_key(|m| m.name.matches('/').count())?;
    let folder = m.name.strip_suffix("model.json").unwrap_or_default();
    let sibling = |rest: &str| members.iter().any(|o| o.name.strip_prefix(folder).is_some_and(|r| r.starts_with(rest)));
    (sibling("tensors/") || sibling("code/") || sibling("libs/") || sibling("attributes.pkl")).then_some(m)
}

/// caffe2.proto TensorProto.DataType (names as protobuf JSON prints them, or their numbers).
fn legacy_dtype(v: &serde_json::Value) -> Option<DType> {
    let by_number = |n: u64| match n {
        1 => Some("FLOAT"),
        2 => Some("INT32"),
        3 => Some("BYTE"),
        5 => Some("BOOL"),
        6 => Some("UINT8"),
        7 => Some("INT8"),
        8 => Some("UINT16"),
        9 => Some("INT16"),
        10 => Some("INT64"),
        12 => Some("FLOAT16"),
        13 => Some("DOUBLE"),
        _ => None,
    };
    let name = match v {
        serde_json::Value::String(s) => s.as_str(),
        serde_json::Value::Number(n) => by_number(n.as_u64()?)?,
        // proto3 JSON leaves a default (UNDEFINED = 0) out; torch never wrote one.
        _ => return None,
    };
    Some(match name {
        "FLOAT" => DType::F32,
        "DOUBLE" => DType::F64,
        "FLOAT16" => DType::F16,
        "INT8" => DType::I8,
        "UINT8" | "BYTE" => DType::U8,
        "INT16" => DType::I16,
        "UINT16" => DType::U16,
        "INT32" => DType::I32,
        "INT64" => DType::I64,
        "BOOL" => DType::Bool,
        _ => return None,
    })
}

/// A protobuf-JSON int64 (printed as a string) or a number.
fn json_u64(v: Option<&serde_json::Value>) -> Option<u64> {
    match v {
        None => Some(0),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        Some(v) => v.as_u64(),
    }
}

/// The tensors of an old TorchScript archive's ModelDef: each `mainModule` parameter (and
/// buffer) by its module path, as LEGACY_convertModule registers them (submodule names joined
/// with dots, then the parameter's name); tensors no parameter names are the code's constants,
/// `CONSTANTS.c<n>` (their index in the tensor table, as the legacy code refers to them).
fn legacy_tensors(file: &str, json: &[u8], found: &mut Found) -> Result<()> {
    let bad = |what: String| Error::malformed(file, format!("model.json (an old TorchScript archive, torch < 1.4): {what}"));
    let model: serde_json::Value = serde_json::from_slice(json).map_err(|e| bad(format!("not JSON: {e}")))?;
    let version = json_u64(model.get("protoVersion").or_else(|| model.get("proto_version"))).ok_or_else(|| bad("protoVersion is not a number".into()))?;
    let field = |v: &'_ serde_json::Value, camel: &str, snake: &str| v.get(camel).or_else(|| v.get(snake)).cloned();
    let table = match field(&model, "tensors", "tensors") {
        None => Vec::new(),
        Some(serde_json::Value::Array(a)) => a,
        Some(_) => return Err(bad("tensors is not a list".into())),
    };
    let mut names: Vec<Vec<String>> = vec![Vec::new(); table.len()];
    // Depth-first over the modules, as LEGACY_convertModule recurses.
    let main = field(&model, "mainModule", "main_module").ok_or_else(|| bad("no mainModule".into()))?;
    let mut stack = vec![(String::new(), main, 0usize)];
    while let Some((path, module, depth)) = stack.pop() {
        if depth > 64 {
            return Err(bad("modules nested over 64 deep".into()));
        }
        for p in field(&module, "parameters", "parameters").and_then(|v| v.as_array().cloned()).unwrap_or_default() {
            let name = p.get("name").and_then(|n| n.as_str()).ok_or_else(|| bad(format!("a parameter of '{path}' has no name")))?;
            let id = json_u64(field(&p, "tensorId", "tensor_id").as_ref()).ok_or_else(|| bad(format!("parameter '{path}{name}': tensorId is not a number")))? as usize;
            let slot = names.get_mut(id).ok_or_else(|| bad(format!("parameter '{path}{name}' names tensor {id} of {}", table.len())))?;
            // A tensor two parameters share (tied weights) is listed under both, one storage.
            slot.push(format!("{path}{name}"));
        }
        let subs = field(&module, "submodules", "submodules").and_then(|v| v.as_array().cloned()).unwrap_or_default();
        for sub in subs.into_iter().rev() {
            let name = sub.get("name").and_then(|n| n.as_str()).ok_or_else(|| bad(format!("a submodule of '{path}' has no name")))?.to_string();
            stack.push((format!("{path}{name}."), sub, depth + 1));
        }
    }
    for (i, t) in table.iter().enumerate() {
        let mut all = std::mem::take(&mut names[i]);
        if all.is_empty() {
            all.push(format!("CONSTANTS.c{i}"));
        }
        let name = all[0].clone();
        let tbad = |what: String| bad(format!("tensor {i} ('{name}'): {what}"));
        let dtype = legacy_dtype(&field(t, "dataType", "data_type").unwrap_or_default()).ok_or_else(|| tbad(format!("dataType {:?} is not read", field(t, "dataType", "data_type"))))?;
        let list = |k: &str| -> Result<Vec<u64>> {
            match t.get(k) {
                None => Ok(Vec::new()),
                Some(serde_json::Value::Array(a)) => a.iter().map(|d| json_u64(Some(d)).ok_or_else(|| tbad(format!("{k} holds {d}")))).collect(),
                Some(other) => Err(tbad(format!("{k} is {other}"))),
            }
        };
        let (size, stride) = (list("dims")?, list("strides")?);
        if size.len() != stride.len() {
            return Err(tbad(format!("{} dims and {} strides", size.len(), stride.len())));
        }
        let storage_offset = json_u64(t.get("offset")).ok_or_else(|| tbad("offset is not a number".into()))?;
        let key = t.get("data").and_then(|d| d.get("key")).and_then(|k| k.as_str()).ok_or_else(|| tbad("no data.key (its storage record)".into()))?.to_string();
        if key.split('/').any(|part| part == ".." || part.is_empty()) {
            return Err(tbad(format!("storage record '{key}' is not a path inside the archive")));
        }
        let quantized = field(t, "isQuantized", "is_quantized").and_then(|v| v.as_bool()).unwrap_or(false);
        let quant = if quantized {
            // LEGACY_loadTensor: _empty_affine_quantized(type → its QInt type, scale, zero_point).
            let scale = t.get("scale").and_then(|v| v.as_f64()).ok_or_else(|| tbad("quantized without a scale".into()))?;
            let zero_point = field(t, "zeroPoint", "zero_point").map_or(Some(0), |v| v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))).ok_or_else(|| tbad("zeroPoint is not a number".into()))?;
            Some(std::rc::Rc::new(TorchQuant::PerTensorAffine { scale, zero_point }))
        } else {
            None
        };
        for name in all {
            found.tensors.push((name, Value::Tensor { dtype, key: key.clone(), storage_offset, size: size.clone(), stride: stride.clone(), quant: quant.clone() }, ""));
        }
    }
    found.metadata.push((
        "torchscript".to_string(),
        format!(
            "an old TorchScript archive (torch.jit.save before torch 1.4: model.json, proto version {version}); {} tensors from tensors/; its code and attributes.pkl are not read or run",
            table.len()
        ),
    ));
    for key in ["producerName", "producerVersion"] {
        if let Some(v) = model.get(key).and_then(|v| v.as_str()) {
            found.metadata.push((key.to_string(), v.to_string()));
        }
    }
    Ok(())
}

/// The most of model.json read (a ModelDef is a few hundred bytes per tensor).
const MAX_MODEL_JSON: u64 = 64 << 20;

/// The index from data.pkl (unpickled, nothing executed) and where each storage member starts.
pub fn open(p: &Probe, r: &mut dyn RangeReader) -> Result<FileIndex> {
    let archive = zip::listed(p.zip, r)?;
    let (members, cd_offset) = (&archive.members, archive.cd_offset);
    let file = r.file().to_string();
    // The shallowest data.pkl is the archive's (`<a>/data.pkl`): a TorchScript archive may hold
    // other pickles deeper (code/…, extra/…).
    let pkl = members.iter().filter(|m| is_pickle(m)).min_by_key(|m| m.name.matches('/').count());
    let legacy = if pkl.is_none() { legacy_model_json(members) } else { None };
    let folder = match (pkl, legacy) {
        (Some(p), _) => p.name.strip_suffix("data.pkl").unwrap_or_default().to_string(), // found by that suffix
        (None, Some(m)) => m.name.strip_suffix("model.json").unwrap_or_default().to_string(),
        (None, None) => return Err(Error::malformed(&file, "no data.pkl member")),
    };
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

    let mut found = Found { metadata, ..Default::default() };
    let root = match (pkl, legacy) {
        (Some(pkl), _) => {
            let data = read_pickle(r, &file, pkl, cd_offset)?;
            let root = pickle::load(&file, &data)?;
            flatten("", &root, false, "data/", &mut found);
            Some(root)
        }
        (None, Some(m)) => {
            if m.uncompressed > MAX_MODEL_JSON {
                return Err(Error::malformed(&file, format!("model.json of {} bytes is over the limit of {MAX_MODEL_JSON}", m.uncompressed)));
            }
            let json = read_pickle(r, &file, m, cd_offset)?;
            legacy_tensors(&file, &json, &mut found)?;
            None
        }
        (None, None) => None,
    };
    // TorchScript: the code's tensor constants, named as the code calls them (CONSTANTS.c0 …;
    // torch/csrc/jit/serialization/import_source.cpp resolves `CONSTANTS.cN` to element N).
    if let Some(m) = by_name.get(format!("{folder}constants.pkl").as_str()) {
        let bytes = read_pickle(r, &file, m, cd_offset)?;
        let constants = pickle::load_member(&file, "constants.pkl", &bytes)?;
        let Value::Tuple(items, _) = &*constants else {
            return Err(Error::malformed(&file, "constants.pkl does not hold a tuple of constants"));
        };
        for (i, v) in items.iter().enumerate() {
            flatten(&format!("CONSTANTS.c{i}"), v, true, "constants/", &mut found);
        }
    }
    let Found { tensors: found_tensors, mut metadata, skipped_attributes, opaque } = found;
    if let Some(Value::Object { class, .. }) = root.as_deref() {
        metadata.push((
            "torchscript".to_string(),
            format!("a TorchScript archive (torch.jit.save) of {class}; its code/ is not read or run"),
        ));
        if by_name.contains_key(format!("{folder}traced_inputs.pkl").as_str()) {
            metadata.push(("traced_inputs".to_string(), "the trace's example inputs (traced_inputs.pkl) are not weights: not listed".to_string()));
        }
    }
    if skipped_attributes > 0 {
        metadata.push(("skipped".to_string(), format!("{skipped_attributes} non-tensor attributes skipped (flags, sizes, numbers, strings)")));
    }
    if !opaque.is_empty() {
        let shown: Vec<&str> = opaque.iter().take(8).map(String::as_str).collect();
        let more = if opaque.len() > 8 { format!(" and {} more", opaque.len() - 8) } else { String::new() };
        metadata.push(("not read".to_string(), format!("{} values not read: {}{more}", opaque.len(), shown.join("; "))));
    }
    let mut offsets: HashMap<String, u64> = HashMap::new();
    let mut tensors = Vec::with_capacity(found_tensors.len());
    let mut names = std::collections::HashSet::new();
    let ctx = Archive { folder: &folder, by_name: &by_name, cd_offset, big_endian };
    for (name, t, dir) in found_tensors {
        let Value::Tensor {
            dtype,
            key,
            storage_offset,
            size,
            stride,
            quant,
        } = t
        else {
            continue;
        };
        let bad = |what: String| Error::malformed(&file, format!("tensor '{name}': {what}"));
        if !names.insert(name.clone()) {
            return Err(bad("the name appears twice (a key with dots and a nested dict that spell the same name?)".into()));
        }
        let member_name = format!("{folder}{dir}{key}");
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
        if let Some(q) = quant {
            if fortran {
                metadata.push((format!("not dequantized {}", info.name), "a quantized tensor in Fortran order".to_string()));
            } else {
                match stored_quant(r, &file, &ctx, dir, &q, dtype, &info.shape)? {
                    Ok(sq) => match sq.check(&info.name, dtype, &info.shape, byte_len) {
                        Ok(()) => info.quant = Some(sq),
                        Err(e) => metadata.push((format!("not dequantized {}", info.name), e.to_string())),
                    },
                    Err(why) => metadata.push((format!("not dequantized {}", info.name), why)),
                }
            }
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
