//! ONNX QDQ: the model written back with each FLOAT initializer that a MatMul, Gemm or Conv
//! takes as its weight (input 1) replaced by `<name>_quantized` (INT8 when symmetric, UINT8 when
//! asymmetric), `<name>_scale` (FLOAT) and `<name>_zero_point` (same type as the codes) and a
//! `DequantizeLinear` node, placed first in the graph, producing `<name>` again, so every consumer
//! is unchanged. Codes of fewer than 8 bits are stored in the 8-bit type (values stay in
//! −2^(b−1)+1..2^(b−1)−1 or 0..2^b−1), which every DequantizeLinear since opset 10 reads.
//!
//! Per-channel scales follow each use (onnx.proto operator docs): MatMul's B is [K, N], so the
//! output channels are its last axis; Gemm's B is [K, N] (axis 1) unless transB = 1 makes it
//! [N, K] (axis 0); Conv's W is [M, C/group, k…] (axis 0). A weight used along two different axes
//! falls back to per-tensor, and the report says so. Per-axis DequantizeLinear needs opset 13;
//! a model importing an older default opset is refused for per-channel rather than bumped, since
//! bumping changes the meaning of other operators (Unsqueeze, Split, Softmax… changed at 13).
//! Per-group (blocked, opset 21) is not written.
//!
//! Everything else is copied byte for byte: the model's other fields, the graph's nodes, inputs,
//! outputs and value_info, and untouched initializers as their raw protobuf fields. Initializers
//! kept in external data are written inline (raw_data), so the output is one self-contained file.
//! Graph inputs naming a quantized initializer are dropped (it is now a node output; IR ≥ 4).
//!
//! Streaming: every size is known from the protobuf skeleton and the shapes, so the header (model
//! fields before the graph, the graph's length, the DequantizeLinear nodes and the graph's other
//! fields) is made first and each initializer follows, one at a time.

use super::{ExportPlan, ExportReport, ExportedTensor, IntExport};
use crate::calib;
use crate::error::{Error, Result};
use crate::formats::decode::protobuf::{Field, Reader};
use crate::formats::{self, RangeReader};
use crate::quant::{Codes, Granularity, QuantSpec, Scheme, SlotLayout};
use crate::tensor::{DType, TensorInfo};
use std::collections::{HashMap, HashSet};

/// ONNX TensorProto.DataType values used here.
const ONNX_FLOAT: u64 = 1;
const ONNX_UINT8: u64 = 2;
const ONNX_INT8: u64 = 3;

/// Names longer than this are refused.
const MAX_NAME: u64 = 1 << 20;

// ---- protobuf writing -------------------------------------------------------------------------

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn put_tag(out: &mut Vec<u8>, number: u64, wire: u64) {
    put_varint(out, (number << 3) | wire);
}

pub(crate) fn put_bytes(out: &mut Vec<u8>, number: u64, bytes: &[u8]) {
    put_tag(out, number, 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

pub(crate) fn put_int(out: &mut Vec<u8>, number: u64, v: u64) {
    put_tag(out, number, 0);
    put_varint(out, v);
}

/// A graph `initializer` field (GraphProto 5) of a TensorProto whose raw_data (9) is `raw_len`
/// bytes, up to and excluding those bytes: dims 1, data_type 2, name 8, raw_data 9.
fn initializer_head(name: &str, dims: &[usize], data_type: u64, raw_len: u64) -> Vec<u8> {
    let mut t = Vec::new();
    for &d in dims {
        put_int(&mut t, 1, d as u64);
    }
    put_int(&mut t, 2, data_type);
    put_bytes(&mut t, 8, name.as_bytes());
    put_tag(&mut t, 9, 2);
    put_varint(&mut t, raw_len);
    let mut out = Vec::new();
    put_tag(&mut out, 5, 2);
    put_varint(&mut out, t.len() as u64 + raw_len);
    out.extend_from_slice(&t);
    out
}

/// NodeProto: input 1, output 2, name 3, op_type 4, attribute 5 (AttributeProto name 1, i 3, type 20 = INT).
fn dequantize_node(name: &str, axis: Option<usize>) -> Vec<u8> {
    let mut n = Vec::new();
    for input in [format!("{name}_quantized"), format!("{name}_scale"), format!("{name}_zero_point")] {
        put_bytes(&mut n, 1, input.as_bytes());
    }
    put_bytes(&mut n, 2, name.as_bytes());
    put_bytes(&mut n, 3, format!("{name}_DequantizeLinear").as_bytes());
    put_bytes(&mut n, 4, b"DequantizeLinear");
    if let Some(axis) = axis {
        let mut a = Vec::new();
        put_bytes(&mut a, 1, b"axis");
        put_int(&mut a, 3, axis as u64);
        put_int(&mut a, 20, 2);
        put_bytes(&mut n, 5, &a);
    }
    let mut out = Vec::new();
    put_bytes(&mut out, 1, &n);
    out
}

// ---- the plan ---------------------------------------------------------------------------------

enum Piece {
    /// A quantized weight: per-channel axis (None: per tensor) and the exact bytes it becomes.
    Quantize { axis: Option<usize>, bytes: u64 },
    /// An untouched initializer: its whole graph field, copied.
    Copy,
    /// An initializer kept in external data: its TensorProto fields but the external ones, then raw_data.
    Inline { kept: Vec<u8> },
}

/// A planned QDQ model.
pub struct OnnxQdqPlan {
    file: String,
    config: IntExport,
    header: Vec<u8>,
    trailer: Vec<u8>,
    sources: Vec<TensorInfo>,
    pieces: Vec<Piece>,
    rows: Vec<ExportedTensor>,
    total_bytes: u64,
}

struct Initializer {
    name: String,
    data_type: u64,
    field: Field,
    external: bool,
    /// TensorProto fields other than external_data (13) and data_location (14), raw.
    kept: Vec<(u64, u64)>,
}

struct Use {
    op: String,
    axis: Option<usize>,
}

/// The default-domain opset the model imports (OperatorSetIdProto: domain 1, version 2).
fn default_opset(w: &mut Reader, model: &[Field]) -> Result<Option<u64>> {
    let mut found = None;
    for f in model.iter().filter(|f| f.number == 8 && f.wire == 2) {
        let (mut domain, mut version) = (String::new(), 0);
        for g in w.fields(f.start, f.end)? {
            match (g.number, g.wire) {
                (1, 2) => domain = w.string(&g, MAX_NAME)?,
                (2, 0) => version = g.value,
                _ => {}
            }
        }
        if domain.is_empty() || domain == "ai.onnx" {
            found = Some(version);
        }
    }
    Ok(found)
}

/// Plans the QDQ model of the ONNX file `r` reads. Reads the protobuf skeleton (every field but
/// the weights' payloads); the weights are read later, one per `encode`.
pub fn plan_onnx_qdq(r: &mut dyn RangeReader, config: IntExport) -> Result<OnnxQdqPlan> {
    let spec = config.spec;
    spec.validate()?;
    let file = r.file().to_string();
    if let Granularity::PerGroup { .. } = spec.granularity {
        return Err(Error::InvalidSpec(format!(
            "{file}: onnx-qdq writes per-tensor or per-channel DequantizeLinear; per-group (blocked, opset 21) is not written — use --granularity tensor or channel"
        )));
    }
    let index = formats::onnx::open(&formats::Probe::known(&file), r)?;
    let infos: HashMap<&str, &TensorInfo> = index.tensors.iter().map(|t| (t.name.as_str(), t)).collect();
    let file_len = r.len();
    let mut w = Reader::new(r);

    let model = w.fields(0, file_len)?;
    let graph = model
        .iter()
        .find(|f| f.number == 7 && f.wire == 2)
        .copied()
        .ok_or_else(|| Error::malformed(&file, "ONNX model without a graph"))?;
    let ir_version = model.iter().find(|f| f.number == 1 && f.wire == 0).map_or(0, |f| f.value);
    let opset = default_opset(&mut w, &model)?;

    // The graph: nodes (1), initializers (5), inputs (11); everything else is copied as is.
    let graph_fields = w.fields(graph.start, graph.end)?;
    let mut initializers: Vec<Initializer> = Vec::new();
    let mut uses: HashMap<String, Vec<Use>> = HashMap::new();
    let mut taken: HashSet<String> = HashSet::new();
    let mut input_names: Vec<Option<String>> = Vec::new();
    let mut initializer_names: HashSet<String> = HashSet::new();
    for f in &graph_fields {
        match (f.number, f.wire) {
            (1, 2) => {
                let (mut inputs, mut op, mut domain, mut trans_b) = (Vec::new(), String::new(), String::new(), 0u64);
                for g in w.fields(f.start, f.end)? {
                    match (g.number, g.wire) {
                        (1, 2) => inputs.push(w.string(&g, MAX_NAME)?),
                        (2, 2) => {
                            taken.insert(w.string(&g, MAX_NAME)?);
                        }
                        (4, 2) => op = w.string(&g, MAX_NAME)?,
                        (7, 2) => domain = w.string(&g, MAX_NAME)?,
                        (5, 2) => {
                            let (mut name, mut i) = (String::new(), 0u64);
                            for a in w.fields(g.start, g.end)? {
                                match (a.number, a.wire) {
                                    (1, 2) => name = w.string(&a, MAX_NAME)?,
                                    (3, 0) => i = a.value,
                                    _ => {}
                                }
                            }
                            if name == "transB" {
                                trans_b = i;
                            }
                        }
                        _ => {}
                    }
                }
                let default_domain = domain.is_empty() || domain == "ai.onnx";
                if default_domain && matches!(op.as_str(), "MatMul" | "Gemm" | "Conv") {
                    if let Some(weight) = inputs.get(1) {
                        let rank = infos.get(weight.as_str()).map_or(0, |t| t.shape.len());
                        let axis = match op.as_str() {
                            "MatMul" if rank >= 2 => Some(rank - 1),
                            "Gemm" if rank == 2 => Some(if trans_b == 1 { 0 } else { 1 }),
                            "Conv" if rank >= 1 => Some(0),
                            _ => None,
                        };
                        uses.entry(weight.clone()).or_default().push(Use { op: op.clone(), axis });
                    }
                }
            }
            (5, 2) => {
                let (mut name, mut data_type, mut external) = (None, 0, false);
                let mut kept = Vec::new();
                for g in w.fields(f.start, f.end)? {
                    match (g.number, g.wire) {
                        (8, 2) => name = Some(w.string(&g, MAX_NAME)?),
                        (2, 0) => data_type = g.value,
                        (14, 0) if g.value == 1 => external = true,
                        (13, 2) => external = true,
                        _ => {}
                    }
                    if !matches!(g.number, 13 | 14) {
                        kept.push((g.at, g.end));
                    }
                }
                let name = name.unwrap_or_else(|| format!("initializer_{}", initializers.len()));
                // The index skips initializers of types it does not read, so its own check misses
                // a name shared with one of those; the plan matches initializers by name and would
                // write one tensor's quantization twice.
                if !initializer_names.insert(name.clone()) {
                    return Err(Error::malformed(&file, format!("two initializers are named '{name}' (ONNX names must be unique)")));
                }
                initializers.push(Initializer { name, data_type, field: *f, external, kept });
            }
            (11, 2) => {
                let mut name = None;
                for g in w.fields(f.start, f.end)? {
                    if (g.number, g.wire) == (1, 2) {
                        name = Some(w.string(&g, MAX_NAME)?);
                    }
                }
                input_names.push(name);
            }
            _ => {}
        }
    }
    for init in &initializers {
        taken.insert(init.name.clone());
    }
    for name in input_names.iter().flatten() {
        taken.insert(name.clone());
    }

    // Which initializers become DequantizeLinear, and along which axis.
    let per_channel = matches!(spec.granularity, Granularity::PerChannel { .. });
    let mut plan_of: HashMap<String, (Option<usize>, Option<String>)> = HashMap::new();
    for init in &initializers {
        let Some(list) = uses.get(&init.name) else { continue };
        let info = infos.get(init.name.as_str());
        if init.data_type != ONNX_FLOAT || info.is_none_or(|t| t.dtype != DType::F32) {
            continue;
        }
        let ops: Vec<&str> = list.iter().map(|u| u.op.as_str()).collect();
        let (axis, note) = if !per_channel {
            (None, None)
        } else {
            let axes: HashSet<Option<usize>> = list.iter().map(|u| u.axis).collect();
            match axes.into_iter().collect::<Vec<_>>().as_slice() {
                [Some(a)] => (Some(*a), None),
                [None] => (None, Some(format!("per tensor: a {} weight of rank {} has no output-channel axis", ops[0], info.map_or(0, |t| t.shape.len())))),
                _ => (None, Some(format!("per tensor: used along different axes by {}", ops.join(", ")))),
            }
        };
        plan_of.insert(init.name.clone(), (axis, note));
    }
    if !plan_of.is_empty() {
        let opset = opset.ok_or_else(|| Error::malformed(&file, "the model imports no default-domain opset (opset_import)"))?;
        if opset < 10 {
            return Err(Error::unsupported(&file, format!("the model imports opset {opset}; DequantizeLinear needs opset 10 or later")));
        }
        if opset < 13 && plan_of.values().any(|(a, _)| a.is_some()) {
            return Err(Error::unsupported(
                &file,
                format!(
                    "the model imports opset {opset}; per-channel DequantizeLinear (axis) needs opset 13. Convert it first \
                     (onnx.version_converter.convert_version(model, 13)) or use --granularity tensor"
                ),
            ));
        }
        if ir_version < 4 {
            return Err(Error::unsupported(&file, format!("IR version {ir_version} lists initializers as graph inputs; IR 4 or later is written")));
        }
        for name in plan_of.keys() {
            for suffix in ["_quantized", "_scale", "_zero_point"] {
                let new = format!("{name}{suffix}");
                if taken.contains(&new) {
                    return Err(Error::unsupported(&file, format!("initializer '{name}' would add '{new}', a name the model already uses")));
                }
            }
        }
    }

    // Pieces, sizes and the report, in the graph's initializer order.
    let (code_type, code_dtype) = match spec.format.scheme {
        Scheme::Symmetric => (ONNX_INT8, DType::I8),
        Scheme::Asymmetric => (ONNX_UINT8, DType::U8),
    };
    let mut sources = Vec::new();
    let mut pieces = Vec::new();
    let mut rows = Vec::new();
    let mut dq_nodes = Vec::new();
    let mut init_bytes = 0u64;
    for init in &initializers {
        let info = infos.get(init.name.as_str()).copied();
        if let Some((axis, note)) = plan_of.get(&init.name) {
            let Some(info) = info else {
                return Err(Error::malformed(&file, format!("initializer '{}' is not in the model's index", init.name)));
            };
            let (layout, slot_dims) = slot_layout(&info.shape, *axis)?;
            let n = info.element_count() as u64;
            let slots = layout.slots as u64;
            let bytes = initializer_head(&format!("{}_quantized", init.name), &info.shape, code_type, n).len() as u64
                + n
                + initializer_head(&format!("{}_scale", init.name), &slot_dims, ONNX_FLOAT, 4 * slots).len() as u64
                + 4 * slots
                + initializer_head(&format!("{}_zero_point", init.name), &slot_dims, code_type, slots).len() as u64
                + slots;
            dq_nodes.extend(dequantize_node(&init.name, *axis));
            let mut notes = Vec::new();
            notes.extend(note.clone());
            if let Some(a) = axis {
                notes.push(format!("per channel along axis {a}"));
            }
            if spec.format.bits < 8 {
                notes.push(format!("int{} codes stored as {}", spec.format.bits, code_dtype.name()));
            }
            if info.data_file.is_some() {
                notes.push("external data written inline".into());
            }
            rows.push(ExportedTensor {
                name: init.name.clone(),
                written_as: code_dtype.name().into(),
                bytes,
                note: (!notes.is_empty()).then(|| notes.join("; ")),
            });
            init_bytes += bytes;
            pieces.push(Piece::Quantize { axis: *axis, bytes });
            sources.push(info.clone());
        } else if init.external {
            let info = info.ok_or_else(|| {
                Error::unsupported(&file, format!("initializer '{}' is in external data of a type this tool does not read, so it cannot be written inline", init.name))
            })?;
            let mut kept = Vec::new();
            for &(a, b) in &init.kept {
                kept.extend(w.raw(a, b)?);
            }
            let mut head = Vec::new();
            let body = kept.len() as u64 + 1 + varint_len(info.byte_len) + info.byte_len;
            put_tag(&mut head, 5, 2);
            put_varint(&mut head, body);
            let bytes = head.len() as u64 + body;
            rows.push(ExportedTensor {
                name: init.name.clone(),
                written_as: info.dtype.name().into(),
                bytes,
                note: Some("external data written inline".into()),
            });
            init_bytes += bytes;
            pieces.push(Piece::Inline { kept });
            sources.push(info.clone());
        } else {
            let len = init.field.end - init.field.at;
            let why = match (info, uses.contains_key(&init.name)) {
                (Some(t), true) if t.dtype != DType::F32 => format!("kept: {} weights stay as they are (DequantizeLinear here outputs float32)", t.dtype.name()),
                (_, true) => "kept: not a FLOAT tensor".into(),
                _ => "kept: no MatMul, Gemm or Conv takes it as a weight".into(),
            };
            rows.push(ExportedTensor {
                name: init.name.clone(),
                written_as: info.map_or("as is", |t| t.dtype.name()).into(),
                bytes: len,
                note: Some(why),
            });
            init_bytes += len;
            pieces.push(Piece::Copy);
            sources.push(TensorInfo::raw(init.name.clone(), DType::U8, vec![len as usize], init.field.at, len));
        }
    }

    // The graph: DequantizeLinear nodes first (nodes must be topologically sorted), then its own
    // fields but the initializers and the inputs that are now node outputs, then the initializers.
    let mut graph_head = dq_nodes;
    for (f, input) in graph_fields.iter().filter(|f| f.number != 5).zip(graph_input_names(&graph_fields, &input_names)) {
        if input.is_some_and(|name| plan_of.contains_key(name)) {
            continue;
        }
        graph_head.extend(w.raw(f.at, f.end)?);
    }
    let graph_len = graph_head.len() as u64 + init_bytes;
    let mut header = w.raw(0, graph.at)?;
    put_tag(&mut header, 7, 2);
    put_varint(&mut header, graph_len);
    header.extend_from_slice(&graph_head);
    let trailer = w.raw(graph.end, file_len)?;
    let total_bytes = header.len() as u64 + init_bytes + trailer.len() as u64;
    Ok(OnnxQdqPlan { file, config, header, trailer, sources, pieces, rows, total_bytes })
}

/// For each non-initializer graph field, the name of the graph input it is (None for others).
fn graph_input_names<'a>(fields: &[Field], names: &'a [Option<String>]) -> Vec<Option<&'a str>> {
    let mut inputs = names.iter();
    fields
        .iter()
        .filter(|f| f.number != 5)
        .map(|f| if (f.number, f.wire) == (11, 2) { inputs.next().and_then(|n| n.as_deref()) } else { None })
        .collect()
}

fn varint_len(v: u64) -> u64 {
    let mut out = Vec::new();
    put_varint(&mut out, v);
    out.len() as u64
}

/// The slot layout and the scale / zero-point dims: scalars per tensor, [shape[axis]] per axis.
fn slot_layout(shape: &[usize], axis: Option<usize>) -> Result<(SlotLayout, Vec<usize>)> {
    Ok(match axis {
        None => (SlotLayout::new(shape, Granularity::PerTensor)?, vec![]),
        Some(a) => (SlotLayout::new(shape, Granularity::PerChannel { axis: a })?, vec![shape[a]]),
    })
}

impl OnnxQdqPlan {
    /// The spec one weight is quantized with: the configured bits, scheme and range, with the
    /// granularity this weight's use decided.
    fn spec_for(&self, axis: Option<usize>) -> QuantSpec {
        let mut spec = self.config.spec;
        spec.granularity = match axis {
            None => Granularity::PerTensor,
            Some(axis) => Granularity::PerChannel { axis },
        };
        // Scales rounded to f16 (--scale-dtype f16) are written as FLOAT, which holds them exactly.
        spec
    }
}

impl ExportPlan for OnnxQdqPlan {
    fn header(&self) -> Result<Vec<u8>> {
        Ok(self.header.clone())
    }

    fn sources(&self) -> &[TensorInfo] {
        &self.sources
    }

    fn encode(&mut self, i: usize, stored: Vec<u8>) -> Result<Vec<u8>> {
        let info = self.sources.get(i).ok_or_else(|| Error::InvalidSpec(format!("no source tensor {i} in this export")))?.clone();
        match &self.pieces[i] {
            Piece::Copy => Ok(stored),
            Piece::Inline { kept } => {
                let data = formats::element_bytes(&info, stored)?;
                let mut body = kept.clone();
                put_bytes(&mut body, 9, &data);
                let mut out = Vec::new();
                put_bytes(&mut out, 5, &body);
                Ok(out)
            }
            Piece::Quantize { axis, bytes } => {
                let (axis, planned) = (*axis, *bytes);
                let spec = self.spec_for(axis);
                let x = formats::decode_tensor(&info, stored)?;
                let q = calib::quantize_calibrated(&x, &info.shape, &spec, &self.config.method)?;
                drop(x);
                let (_, slot_dims) = slot_layout(&info.shape, axis)?;
                let code_type = if spec.format.scheme == Scheme::Symmetric { ONNX_INT8 } else { ONNX_UINT8 };
                let codes: Vec<u8> = match &q.codes {
                    Codes::I8(v) => v.iter().map(|&c| c as u8).collect(),
                    Codes::U8(v) => v.clone(),
                };
                let mut out = initializer_head(&format!("{}_quantized", info.name), &info.shape, code_type, codes.len() as u64);
                out.extend_from_slice(&codes);
                let scales: Vec<u8> = q.scales.iter().flat_map(|s| s.to_le_bytes()).collect();
                out.extend(initializer_head(&format!("{}_scale", info.name), &slot_dims, ONNX_FLOAT, scales.len() as u64));
                out.extend_from_slice(&scales);
                let zps: Vec<u8> = q.zero_points.iter().map(|&z| z as u8).collect();
                out.extend(initializer_head(&format!("{}_zero_point", info.name), &slot_dims, code_type, zps.len() as u64));
                out.extend_from_slice(&zps);
                if out.len() as u64 != planned {
                    return Err(Error::malformed(&self.file, format!("tensor '{}': {} bytes where the header planned {planned}", info.name, out.len())));
                }
                Ok(out)
            }
        }
    }

    fn trailer(&mut self) -> Result<Vec<u8>> {
        Ok(self.trailer.clone())
    }

    fn report(&self) -> ExportReport {
        ExportReport { format: "onnx-qdq".into(), tensors: self.rows.clone(), total_bytes: self.total_bytes }
    }
}
