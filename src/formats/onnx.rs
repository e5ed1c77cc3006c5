//! ONNX models (onnx/onnx.proto): a protobuf ModelProto whose `graph` (field 7, GraphProto) holds
//! the weights as `initializer`s (field 5, TensorProto). A protobuf walk (`protobuf::Reader`)
//! that reads only field headers and small fields, skipping over payloads, so a 2 GB model's
//! index costs a few reads. TensorProto fields used: dims 1, data_type 2, segment 3, float_data 4,
//! int32_data 5, int64_data 7, name 8, raw_data 9, double_data 10, external_data 13
//! (StringStringEntryProto key 1 / value 2), data_location 14.

use super::decode::protobuf::{varint_at, Field, Reader};
use super::{Claim, FileIndex, Format, FormatDetail, Probe, RangeReader};
use crate::error::{Error, Result};
use crate::tensor::stored::{CodeLayout, StoredGranularity, StoredQuant, StoredScheme};
use crate::tensor::{checked_element_count, DType, Storage, TensorInfo};
use std::collections::{HashMap, HashSet};

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

/// Whether an ONNX data_type is 4-bit packed, and signed: INT4 22, UINT4 21 (onnx.proto).
fn nibbles_of(data_type: u64) -> Option<bool> {
    match data_type {
        21 => Some(false),
        22 => Some(true),
        _ => None,
    }
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

#[derive(Default, Clone)]
struct Fields {
    name: Option<String>,
    dims: Vec<u64>,
    data_type: Option<u64>,
    raw: Option<(u64, u64)>,
    float_data: Option<(u64, u64)>,
    double_data: Option<(u64, u64)>,
    int32_data: Option<(u64, u64)>,
    /// int64_data or uint64_data (packed varints either way).
    int64_data: Option<(u64, u64)>,
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
            (7, 2) | (11, 2) => f.int64_data = Some((s, v)),
            (7, _) => f.other_typed = Some("unpacked int64_data"),
            (11, _) => f.other_typed = Some("unpacked uint64_data"),
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
    // INT4 (22) / UINT4 (21): two codes a byte; listed only as the codes of a DequantizeLinear.
    let nibbles = nibbles_of(data_type);
    let Some(dtype) = onnx_dtype(data_type).or(nibbles.map(|signed| if signed { DType::I8 } else { DType::U8 })) else {
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
    let byte_len = match nibbles {
        Some(_) => elements.div_ceil(2),
        None => elements.checked_mul(dtype.size() as u64).ok_or_else(|| bad("byte size overflows".into()))?,
    };
    let sources = [
        f.raw.is_some(),
        f.float_data.is_some(),
        f.double_data.is_some(),
        f.int32_data.is_some(),
        f.int64_data.is_some(),
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
    } else if let Some((at, len)) = f.int32_data.or(f.int64_data).filter(|_| !matches!(dtype, DType::F16 | DType::BF16)) {
        // Integers, one varint each (int32_data for types up to 32 bits, int64_data /
        // uint64_data for 64-bit ones: onnx.proto TensorProto).
        let wide = matches!(dtype, DType::I64 | DType::U64 | DType::U32);
        let fits = if f.int64_data.is_some() { wide } else { !wide && !dtype.is_quantizable() };
        if !fits || nibbles.is_some() {
            notes.push((format!("skipped {name}"), format!("{} values in this typed field are not read", dtype.name())));
            return Ok(None);
        }
        if len < elements || len > elements.saturating_mul(10) {
            return Err(bad(format!("{len} bytes of varints cannot hold {elements} values")));
        }
        info.offset = at;
        info.storage = Storage::Varints { stored_len: len };
    } else if let Some((at, len)) = f.int32_data {
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

/// Subgraphs nest at most this deep (If inside Loop inside If …); deeper is refused.
const MAX_GRAPH_DEPTH: usize = 16;

/// A tensor some graph holds: an initializer, or a Constant node's value (named by its output).
struct Held {
    fields: Fields,
    name: String,
    /// The graph it is in: "" for the main graph, else the node and attribute path ("if/then_branch").
    graph: String,
}

/// What the quantization rules need of a node.
#[derive(Default)]
struct Node {
    op: String,
    domain: String,
    inputs: Vec<String>,
    outputs: Vec<String>,
    label: String,
    ints: Vec<(String, i64)>,
}

impl Node {
    fn int(&self, name: &str) -> Option<i64> {
        self.ints.iter().find(|(n, _)| n == name).map(|&(_, v)| v)
    }
    fn input(&self, i: usize) -> Option<&str> {
        self.inputs.get(i).map(String::as_str).filter(|s| !s.is_empty())
    }
    /// ai.onnx (and ai.onnx.ml) ops have an empty domain; contrib ops name theirs.
    fn is(&self, op: &str, microsoft: bool) -> bool {
        self.op == op && (self.domain.is_empty() || self.domain == "ai.onnx" || (microsoft && self.domain == "com.microsoft"))
    }
}

#[derive(Default)]
struct Walk {
    held: Vec<Held>,
    nodes: Vec<Node>,
    /// Constant values this reader does not list, by kind ("value_ints"): counted for the summary.
    unread_constants: Vec<&'static str>,
    sparse: usize,
}

/// Walks one GraphProto (field 5 initializers first, so the main graph's names win a clash,
/// then field 1 nodes with their subgraphs) — onnx/onnx.proto GraphProto, NodeProto, AttributeProto.
fn walk_graph(p: &mut Reader, start: u64, end: u64, path: &str, depth: usize, w: &mut Walk) -> Result<()> {
    if depth > MAX_GRAPH_DEPTH {
        return Err(p.bad(start, format!("subgraphs nested more than {MAX_GRAPH_DEPTH} deep (at '{path}')")));
    }
    let fields = p.fields(start, end)?;
    for f in fields.iter().filter(|f| (f.number, f.wire) == (5, 2)) {
        let fields = tensor_fields(p, f.start, f.end)?;
        let name = fields.name.clone().unwrap_or_else(|| format!("initializer_{}", w.held.len()));
        w.held.push(Held { fields, name, graph: path.to_string() });
    }
    w.sparse += fields.iter().filter(|f| (f.number, f.wire) == (15, 2)).count();
    for f in fields.iter().filter(|f| (f.number, f.wire) == (1, 2)) {
        walk_node(p, f.start, f.end, path, depth, w)?;
    }
    Ok(())
}

fn walk_node(p: &mut Reader, start: u64, end: u64, path: &str, depth: usize, w: &mut Walk) -> Result<()> {
    let mut node = Node::default();
    let mut name = String::new();
    // (attribute name, value field) of the attributes that may hold tensors or graphs.
    let mut values: Vec<(String, Field)> = Vec::new();
    let mut graphs: Vec<(String, Field)> = Vec::new();
    for f in p.fields(start, end)? {
        match (f.number, f.wire) {
            (1, 2) => node.inputs.push(p.string(&f, MAX_STRING)?),
            (2, 2) => node.outputs.push(p.string(&f, MAX_STRING)?),
            (3, 2) => name = p.string(&f, MAX_STRING)?,
            (4, 2) => node.op = p.string(&f, MAX_STRING)?,
            (7, 2) => node.domain = p.string(&f, MAX_STRING)?,
            (5, 2) => {
                let mut attr = String::new();
                let mut parts = Vec::new();
                for a in p.fields(f.start, f.end)? {
                    match (a.number, a.wire) {
                        (1, 2) => attr = p.string(&a, MAX_STRING)?,
                        (3, 0) => parts.push(a),
                        (2, 5) | (5, 2) | (6, 2) | (7, 2) | (7, 5) | (8, _) | (9, 2) | (4, 2) | (11, 2) | (22, 2) => parts.push(a),
                        _ => {}
                    }
                }
                for a in parts {
                    match a.number {
                        3 => node.ints.push((attr.clone(), a.value as i64)),
                        6 | 11 => graphs.push((attr.clone(), a)),
                        _ => values.push((attr.clone(), a)),
                    }
                }
            }
            _ => {}
        }
    }
    node.label = if name.is_empty() { format!("{}_{}", node.op, w.nodes.len()) } else { name };
    if node.is("Constant", false) {
        let output = node.outputs.first().cloned().unwrap_or_else(|| format!("{}_output", node.label));
        for (attr, a) in &values {
            let fields = match (attr.as_str(), a.number, a.wire) {
                ("value", 5, 2) => Some(tensor_fields(p, a.start, a.end)?),
                // A float scalar / packed float list: little-endian f32 in place, like raw_data.
                ("value_float", 2, 5) => Some(Fields { data_type: Some(1), raw: Some((a.start, 4)), ..Fields::default() }),
                ("value_floats", 7, 2) => Some(Fields { data_type: Some(1), dims: vec![a.value / 4], raw: Some((a.start, a.value)), ..Fields::default() }),
                ("value_int", ..) => {
                    w.unread_constants.push("value_int");
                    None
                }
                ("value_ints", ..) => {
                    w.unread_constants.push("value_ints");
                    None
                }
                ("value_string" | "value_strings", ..) => {
                    w.unread_constants.push("string");
                    None
                }
                ("sparse_value", ..) => {
                    w.unread_constants.push("sparse_value");
                    None
                }
                _ => None,
            };
            if let Some(fields) = fields {
                w.held.push(Held { fields, name: output.clone(), graph: path.to_string() });
            }
        }
    }
    let label = node.label.clone();
    w.nodes.push(node);
    for (attr, g) in graphs {
        let sub = if path.is_empty() { format!("{label}/{attr}") } else { format!("{path}/{label}/{attr}") };
        walk_graph(p, g.start, g.end, &sub, depth + 1, w)?;
    }
    Ok(())
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
    for f in p.fields(start, end)? {
        if (f.number, f.wire) == (2, 2) {
            metadata.push(("graph.name".to_string(), p.string_prefix(&f, MAX_STRING)?));
        }
    }
    let mut w = Walk::default();
    walk_graph(&mut p, start, end, "", 0, &mut w)?;

    // Every held tensor, named as the graph names it; a subgraph's tensor whose name the main
    // graph (or an earlier subgraph) already uses is qualified by its graph's path.
    let mut tensors: Vec<Listed> = Vec::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    let mut names: HashSet<String> = HashSet::new();
    let mut subgraph_tensors = 0;
    for (index, held) in w.held.into_iter().enumerate() {
        let Held { mut fields, name, graph } = held;
        let listed_name = if names.contains(&name) && !graph.is_empty() { format!("{graph}/{name}") } else { name.clone() };
        fields.name = Some(listed_name.clone());
        let kept = fields.clone();
        if let Some(info) = tensor_info(&file, fields, index, &mut metadata)? {
            if !names.insert(listed_name.clone()) {
                return Err(Error::malformed(&file, format!("tensor '{listed_name}': the name appears twice")));
            }
            subgraph_tensors += usize::from(!graph.is_empty());
            by_name.entry(name).or_insert(tensors.len());
            let nibbles = kept.data_type.and_then(nibbles_of);
            tensors.push(Listed { info, nibbles, role: Role::Weight });
        }
    }
    if subgraph_tensors > 0 {
        metadata.push(("subgraph tensors".to_string(), format!("{subgraph_tensors} tensors of If/Loop/Scan bodies are listed")));
    }
    if w.sparse > 0 {
        metadata.push(("skipped sparse initializers".to_string(), format!("{} sparse_initializer entries are not read", w.sparse)));
    }
    if !w.unread_constants.is_empty() {
        let ints = w.unread_constants.iter().filter(|k| k.starts_with("value_int")).count();
        let others = w.unread_constants.len() - ints;
        metadata.push(("skipped constants".to_string(), format!("{ints} Constant value_int(s) (integers, no weights) and {others} string or sparse Constants are not listed")));
    }
    attach_quantization(&mut p, &w.nodes, &mut tensors, &by_name, &mut metadata)?;

    let mut out = Vec::new();
    let (mut parameters, mut unpaired_nibbles) = (0, Vec::new());
    for mut t in tensors {
        match t.role {
            // 4-bit zero points have no dtype of their own to be listed in: they are shown with
            // the quantization they belong to.
            Role::Parameter(_) if t.nibbles.is_some() => parameters += 1,
            Role::Parameter(of) => {
                parameters += 1;
                t.info.parameter_of = Some(of);
                out.push(t.info);
            }
            Role::Weight if t.nibbles.is_some() && t.info.quant.is_none() => unpaired_nibbles.push(t.info.name),
            Role::Weight => out.push(t.info),
        }
    }
    if parameters > 0 {
        metadata.push((
            "quantization parameters".to_string(),
            format!("{parameters} scale and zero-point tensors are parameters of the tensors (or activations) they quantize, not weights (4-bit ones are not listed apart)"),
        ));
    }
    for name in unpaired_nibbles {
        metadata.push((format!("skipped {name}"), "a 4-bit tensor no DequantizeLinear reads: its values are not defined by the file".to_string()));
    }
    Ok(FileIndex { file, format: Format::Onnx, file_len, tensors: out, metadata, detail: FormatDetail::None })
}

#[derive(Clone, PartialEq, Eq)]
enum Role {
    Weight,
    /// A scale or zero point: part of the named tensor's quantization (or of an activation's).
    Parameter(String),
}

struct Listed {
    info: TensorInfo,
    /// Some(signed) for INT4 / UINT4 codes.
    nibbles: Option<bool>,
    role: Role,
}

/// Where one weight's codes and parameters are among a node's inputs.
struct QuantUse {
    codes: usize,
    scale: Option<usize>,
    zero_point: Option<usize>,
    scheme: StoredScheme,
}

/// The weight inputs of the quantized operators (onnx Operators.md DequantizeLinear, QLinearConv,
/// QLinearMatMul, ConvInteger, MatMulInteger; onnxruntime docs/ContribOperators.md QLinearAdd,
/// QLinearMul, MatMulNBits), and which of their inputs are activation parameters.
fn quant_uses(node: &Node) -> (Vec<QuantUse>, &'static [usize]) {
    let q = |codes, scale, zero_point, scheme| QuantUse { codes, scale, zero_point, scheme };
    use StoredScheme::*;
    if node.is("DequantizeLinear", true) {
        (vec![q(0, Some(1), Some(2), OnnxDequantizeLinear)], &[1, 2])
    } else if node.is("QuantizeLinear", true) {
        (vec![], &[1, 2])
    } else if node.is("QLinearConv", false) {
        (vec![q(3, Some(4), Some(5), OnnxQlinear)], &[1, 2, 4, 5, 6, 7])
    } else if node.is("QLinearMatMul", false) || node.is("QLinearAdd", true) || node.is("QLinearMul", true) {
        (vec![q(0, Some(1), Some(2), OnnxQlinear), q(3, Some(4), Some(5), OnnxQlinear)], &[1, 2, 4, 5, 6, 7])
    } else if node.is("ConvInteger", false) || node.is("MatMulInteger", false) {
        (vec![q(1, None, Some(3), OnnxInteger)], &[2, 3])
    } else if node.is("MatMulNBits", true) {
        (vec![q(1, Some(2), Some(3), OnnxMatmulNbits)], &[2, 3, 4])
    } else {
        (vec![], &[])
    }
}

/// Gives every integer weight a quantized operator reads its own parameters, and marks the
/// parameter tensors.
fn attach_quantization(
    p: &mut Reader,
    nodes: &[Node],
    tensors: &mut [Listed],
    by_name: &HashMap<String, usize>,
    notes: &mut Vec<(String, String)>,
) -> Result<()> {
    let find = |name: Option<&str>| name.and_then(|n| by_name.get(n).copied());
    for node in nodes {
        let (uses, parameters) = quant_uses(node);
        // An activation's parameters belong to the node; a weight's are claimed by it below.
        let of = format!("{} '{}'", node.op, node.label);
        for &i in parameters {
            if let Some(t) = find(node.input(i)) {
                if tensors[t].info.quant.is_none() && tensors[t].role == Role::Weight {
                    tensors[t].role = Role::Parameter(of.clone());
                }
            }
        }
        for u in &uses {
            let Some(codes) = find(node.input(u.codes)) else { continue };
            if tensors[codes].info.quant.is_some() || !is_code_dtype(&tensors[codes]) {
                continue;
            }
            let scale = match u.scale {
                Some(i) => find(node.input(i)),
                None => dynamic_weight_scale(nodes, node, &find),
            };
            let Some(scale) = scale else { continue };
            let of = node.input(u.codes).unwrap_or_default().to_string();
            tensors[scale].role = Role::Parameter(of.clone());
            for i in u.zero_point.iter().filter_map(|&i| find(node.input(i))) {
                tensors[i].role = Role::Parameter(of.clone());
            }
            let zero_point = u.zero_point.and_then(|i| find(node.input(i)));
            // MatMulNBits' g_idx (input 4).
            let g_idx = if u.scheme == StoredScheme::OnnxMatmulNbits { find(node.input(4)) } else { None };
            if let Some(g) = g_idx {
                tensors[g].role = Role::Parameter(of.clone());
            }
            match quantization_of(p, node, u, codes, scale, zero_point, g_idx, tensors) {
                Ok(q) => {
                    let t = &mut tensors[codes];
                    // MatMulNBits lists B as the [K, N] weight it stands for.
                    let shape = match q.layout {
                        CodeLayout::MatmulNbits { k, n, .. } => vec![k, n],
                        _ => t.info.shape.clone(),
                    };
                    let listed_shape = std::mem::replace(&mut t.info.shape, shape);
                    match q.check(&t.info.name, t.info.dtype, &t.info.shape, t.info.byte_len) {
                        Ok(()) => {
                            t.info.quant = Some(q);
                            t.role = Role::Weight;
                        }
                        Err(e) => {
                            t.info.shape = listed_shape;
                            notes.push((format!("not dequantized {}", t.info.name), e.to_string()));
                        }
                    }
                }
                Err(why) => notes.push((format!("not dequantized {}", tensors[codes].info.name), why)),
            }
        }
        // QLinearConv's int32 bias: scale x_scale · w_scale, zero point 0
        // (onnxruntime quantization/base_quantizer.py quantize_bias_static_impl).
        if node.is("QLinearConv", false) {
            if let (Some(bias), Some(xs), Some(ws)) = (find(node.input(8)), find(node.input(1)), find(node.input(4))) {
                if tensors[bias].info.quant.is_none() && tensors[bias].info.dtype == DType::I32 {
                    match bias_quantization(p, node, xs, ws, tensors) {
                        Ok(q) => match q.check(&tensors[bias].info.name, DType::I32, &tensors[bias].info.shape, tensors[bias].info.byte_len) {
                            Ok(()) => tensors[bias].info.quant = Some(q),
                            Err(e) => notes.push((format!("not dequantized {}", tensors[bias].info.name), e.to_string())),
                        },
                        Err(why) => notes.push((format!("not dequantized {}", tensors[bias].info.name), why)),
                    }
                }
            }
        }
    }
    Ok(())
}

fn is_code_dtype(t: &Listed) -> bool {
    t.nibbles.is_some() || matches!(t.info.dtype, DType::I8 | DType::U8 | DType::I16 | DType::U16 | DType::I32 | DType::U32)
}

/// quantize_dynamic's weight scale: ConvInteger / MatMulInteger → Cast → Mul(·, x_scale · w_scale),
/// the product made by a Mul of the dynamic input scale and the weight's scale initializer
/// (onnxruntime quantization/operators/conv.py and matmul.py, the *Integer branches).
fn dynamic_weight_scale(nodes: &[Node], node: &Node, find: &dyn Fn(Option<&str>) -> Option<usize>) -> Option<usize> {
    let consumer = |value: &str| nodes.iter().find(|n| n.inputs.iter().any(|i| i == value));
    let cast = consumer(node.outputs.first()?)?;
    if !cast.is("Cast", false) {
        return None;
    }
    let cast_out = cast.outputs.first()?;
    let mul = consumer(cast_out)?;
    if !mul.is("Mul", false) {
        return None;
    }
    let product = mul.inputs.iter().find(|i| *i != cast_out)?;
    let scale_mul = nodes.iter().find(|n| n.outputs.iter().any(|o| o == product))?;
    if !scale_mul.is("Mul", false) {
        return None;
    }
    let mut found = scale_mul.inputs.iter().filter_map(|i| find(Some(i)));
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

/// A tensor's values as f64, read now (a parameter: small, in this file).
fn values_of(p: &mut Reader, t: &Listed) -> std::result::Result<Vec<f64>, String> {
    let info = &t.info;
    if info.data_file.is_some() {
        return Err(format!("'{}' is in external data", info.name));
    }
    if info.byte_len > MAX_PARAMETER_BYTES {
        return Err(format!("'{}' is {} bytes, over the {MAX_PARAMETER_BYTES}-byte limit for parameters", info.name, info.byte_len));
    }
    let (offset, len) = info.stored_range();
    let stored = p.raw(offset, offset + len).map_err(|e| e.to_string())?;
    let bytes = match info.storage {
        Storage::Varint16 { .. } => unpack_varint16(&info.name, &stored, info.byte_len).map_err(|e| e.to_string())?,
        Storage::Varints { .. } => unpack_varints(&info.name, &stored, info.dtype.size(), info.byte_len).map_err(|e| e.to_string())?,
        _ => stored,
    };
    if let Some(signed) = t.nibbles {
        let n = info.element_count();
        return Ok((0..n)
            .map(|i| {
                let v = (bytes[i / 2] >> (4 * (i % 2))) & 0x0F;
                if signed { ((v << 4) as i8 >> 4) as f64 } else { v as f64 }
            })
            .collect());
    }
    let c = |b: &[u8], n: usize| -> Vec<u8> { b[..n].to_vec() };
    let values = match info.dtype {
        DType::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64).collect(),
        DType::F16 => bytes.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f64()).collect(),
        DType::F64 => bytes.chunks_exact(8).map(|b| f64::from_le_bytes(c(b, 8).try_into().unwrap_or([0; 8]))).collect(),
        DType::I8 => bytes.iter().map(|&b| b as i8 as f64).collect(),
        DType::U8 => bytes.iter().map(|&b| b as f64).collect(),
        DType::I16 => bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]]) as f64).collect(),
        DType::U16 => bytes.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]]) as f64).collect(),
        DType::I32 => bytes.chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64).collect(),
        DType::U32 => bytes.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64).collect(),
        other => return Err(format!("'{}' is {}, not a type quantization parameters have here", info.name, other.name())),
    };
    Ok(values)
}

/// Parameters this large are refused (a MatMulNBits scale tensor of a 70B model is ~0.5 GB).
const MAX_PARAMETER_BYTES: u64 = 256 * 1024 * 1024;

fn f32_scales(p: &mut Reader, t: &Listed) -> std::result::Result<Vec<f32>, String> {
    if t.info.dtype != DType::F32 {
        return Err(format!("its scale '{}' is {}; only F32 scales are read", t.info.name, t.info.dtype.name()));
    }
    Ok(values_of(p, t)?.into_iter().map(|v| v as f32).collect())
}

/// MatMulNBits' scales: F32, or F16 widened exactly (onnxruntime converts them to float before
/// dequantizing: matmul_nbits.cc MatMulNBits<MLFloat16>, MlasConvertHalfToFloatBuffer).
fn matmul_nbits_scales(p: &mut Reader, t: &Listed) -> std::result::Result<Vec<f32>, String> {
    if t.info.dtype != DType::F16 {
        return f32_scales(p, t);
    }
    Ok(values_of(p, t)?.into_iter().map(|v| v as f32).collect())
}

fn zero_points_of(p: &mut Reader, t: Option<&Listed>) -> std::result::Result<Vec<i32>, String> {
    match t {
        None => Ok(Vec::new()),
        Some(t) if t.info.dtype.is_quantizable() => Err(format!("its zero point '{}' is a float; only integer zero points are read", t.info.name)),
        Some(t) => Ok(values_of(p, t)?.into_iter().map(|v| v as i32).collect()),
    }
}

fn bits_of(t: &Listed) -> u32 {
    if t.nibbles.is_some() {
        4
    } else {
        8 * t.info.dtype.size() as u32
    }
}

fn quantization_of(
    p: &mut Reader,
    node: &Node,
    u: &QuantUse,
    codes: usize,
    scale: usize,
    zero_point: Option<usize>,
    g_idx: Option<usize>,
    tensors: &[Listed],
) -> std::result::Result<StoredQuant, String> {
    let t = &tensors[codes];
    let rank = t.info.shape.len();
    let scales = if u.scheme == StoredScheme::OnnxMatmulNbits { matmul_nbits_scales(p, &tensors[scale])? } else { f32_scales(p, &tensors[scale])? };
    let zero_points = zero_points_of(p, zero_point.map(|z| &tensors[z]))?;
    let op = format!("{} '{}'", node.op, node.label);
    let layout = match t.nibbles {
        Some(signed) => CodeLayout::Nibbles { signed },
        None => CodeLayout::Elements,
    };
    let per_axis = |axis: usize| if scales.len() == 1 { StoredGranularity::PerTensor } else { StoredGranularity::PerAxis { axis } };
    let axis_of = |a: i64| -> std::result::Result<usize, String> {
        let r = rank as i64;
        let axis = if a < 0 { a + r } else { a };
        if (0..r.max(1)).contains(&axis) { Ok(axis as usize) } else { Err(format!("axis {a} is outside rank {rank}")) }
    };
    let bits = bits_of(t);
    let (granularity, layout, zero_points, bits) = match u.scheme {
        StoredScheme::OnnxDequantizeLinear => {
            // The axis (default 1) only counts when the scale is not one value (onnx Operators.md).
            let block = node.int("block_size").unwrap_or(0);
            let g = if block > 0 {
                StoredGranularity::Blocked { axis: axis_of(node.int("axis").unwrap_or(1))?, block_size: block as usize }
            } else if scales.len() == 1 {
                StoredGranularity::PerTensor
            } else {
                StoredGranularity::PerAxis { axis: axis_of(node.int("axis").unwrap_or(1))? }
            };
            (g, layout, zero_points, bits)
        }
        StoredScheme::OnnxQlinear | StoredScheme::OnnxInteger => {
            let conv = node.op.starts_with("QLinearConv") || node.op == "ConvInteger";
            let axis = if conv { 0 } else if u.codes == 0 { rank.saturating_sub(2) } else { rank.saturating_sub(1) };
            (per_axis(axis), layout, zero_points, bits)
        }
        StoredScheme::Tflite | StoredScheme::TorchAffine | StoredScheme::Gptq | StoredScheme::Awq | StoredScheme::TfjsAffine { .. } | StoredScheme::TfjsFloat16 | StoredScheme::Bnb4 { .. } | StoredScheme::BnbInt8 => return Err("another format's scheme in an ONNX graph".into()),
        StoredScheme::OnnxMatmulNbits => {
            let attr = |name: &str| node.int(name).filter(|&v| v > 0).map(|v| v as usize).ok_or_else(|| format!("MatMulNBits without a positive {name}"));
            let (k, n, nbits, block) = (attr("K")?, attr("N")?, attr("bits")?, attr("block_size")?);
            if !matches!(nbits, 2 | 4 | 8) {
                return Err(format!("MatMulNBits with bits={nbits}; 2, 4 and 8 are read"));
            }
            let blocks = k.div_ceil(block);
            if scales.len() != n * blocks {
                return Err(format!("{} scales where N={n} columns of {blocks} blocks need {}", scales.len(), n * blocks));
            }
            // onnxruntime stores scales as [N, blocks]; the parameter grid of a [K, N] weight
            // blocked along K is [blocks, N].
            let grid = |v: &[i32], b: usize, c: usize| v[c * blocks + b];
            let grid_scales: Vec<f32> = (0..blocks * n).map(|s| scales[(s % n) * blocks + s / n]).collect();
            let zp = zero_point.map(|z| &tensors[z]);
            let zero_points: Vec<i32> = match zp {
                // Without zero points the codes are centred on 2^(bits−1) (onnxruntime
                // docs/ContribOperators.md MatMulNBits; nbits4_sym.onnx checks it against onnxruntime).
                None => vec![1 << (nbits - 1); blocks * n],
                Some(z) if z.info.dtype == DType::U8 => {
                    let packed: Vec<i32> = values_of(p, z)?.into_iter().map(|v| v as i32).collect();
                    let row = (blocks * nbits).div_ceil(8);
                    if packed.len() != n * row {
                        return Err(format!("{} zero-point bytes where N={n} rows of {row} are needed", packed.len()));
                    }
                    let unpacked: Vec<i32> = (0..n * blocks)
                        .map(|i| {
                            let (c, b) = (i / blocks, i % blocks);
                            let bit = b * nbits;
                            (packed[c * row + bit / 8] >> (bit % 8)) & ((1 << nbits) - 1)
                        })
                        .collect();
                    (0..blocks * n).map(|s| grid(&unpacked, s / n, s % n)).collect()
                }
                Some(z) => return Err(format!("MatMulNBits zero points '{}' of {} are not read (packed U8 are)", z.info.name, z.info.dtype.name())),
            };
            // g_idx (act-order): row k of B takes group g_idx[k]. onnxruntime reads it only in its
            // unpacked 4-bit path (matmul_nbits.cc ComputeBUnpacked: "Only 4b quantization is
            // supported for unpacked compute"), where packed uint8 zero points are not applied
            // (stored.rs `dequantize` says how it computes).
            if node.input(4).is_some() && g_idx.is_none() {
                return Err(format!("MatMulNBits g_idx '{}' is not an initializer", node.input(4).unwrap_or_default()));
            }
            let (row_groups, zero_points) = match g_idx.map(|g| &tensors[g]) {
                None => (Vec::new(), zero_points),
                Some(g) => {
                    if nbits != 4 {
                        return Err(format!("MatMulNBits with g_idx '{}' and bits={nbits}: onnxruntime reads g_idx only for 4 bits", g.info.name));
                    }
                    if !matches!(g.info.dtype, DType::I32) {
                        return Err(format!("MatMulNBits g_idx '{}' is {}, not INT32", g.info.name, g.info.dtype.name()));
                    }
                    let idx = values_of(p, g)?;
                    if idx.len() != k {
                        return Err(format!("MatMulNBits g_idx '{}' has {} entries for K={k}", g.info.name, idx.len()));
                    }
                    if let Some((row, v)) = idx.iter().enumerate().find(|(_, &v)| v < 0.0 || v as usize >= blocks) {
                        return Err(format!("MatMulNBits g_idx '{}'[{row}] = {v} where there are {blocks} blocks", g.info.name));
                    }
                    (idx.iter().map(|&v| v as u32).collect(), vec![8; blocks * n])
                }
            };
            let op = match (&zp, row_groups.is_empty()) {
                (Some(z), false) => format!("{op}, g_idx: onnxruntime's reorder kernel does not apply the zero points '{}'", z.info.name),
                _ => op,
            };
            let layout = CodeLayout::MatmulNbits { k, n, block_size: block, bits: nbits as u32 };
            return Ok(StoredQuant {
                scheme: u.scheme,
                granularity: StoredGranularity::Blocked { axis: 0, block_size: block },
                bits: nbits as u32,
                layout,
                scales: grid_scales,
                zero_points,
                op,
                row_groups,
                // T1 (A, scales, bias and the output) is float16: onnxruntime rounds the f32
                // result to half (matmul_nbits.cc, MatMulNBits<MLFloat16>).
                half_output: tensors[scale].info.dtype == DType::F16,
                lazy: None,
            });
        }
    };
    Ok(StoredQuant { scheme: u.scheme, granularity, bits, layout, scales, zero_points, op, row_groups: Vec::new(), half_output: false, lazy: None })
}

fn bias_quantization(p: &mut Reader, node: &Node, x_scale: usize, w_scale: usize, tensors: &[Listed]) -> std::result::Result<StoredQuant, String> {
    let xs = f32_scales(p, &tensors[x_scale])?;
    let ws = f32_scales(p, &tensors[w_scale])?;
    let [x] = xs[..] else { return Err(format!("x_scale '{}' is not one value", tensors[x_scale].info.name)) };
    let scales: Vec<f32> = ws.iter().map(|&w| x * w).collect();
    let granularity = if scales.len() == 1 { StoredGranularity::PerTensor } else { StoredGranularity::PerAxis { axis: 0 } };
    Ok(StoredQuant { scheme: StoredScheme::OnnxQlinear, granularity, bits: 32, layout: CodeLayout::Elements, scales, zero_points: Vec::new(), op: format!("{} '{}' bias", node.op, node.label), row_groups: Vec::new(), half_output: false, lazy: None })
}

/// ONNX int32_data / int64_data integers: packed varints, one per element, each kept as its low
/// `width` bytes, little-endian.
pub fn unpack_varints(name: &str, stored: &[u8], width: usize, byte_len: u64) -> Result<Vec<u8>> {
    let bad = |what: String| Error::malformed(name, format!("tensor '{name}': packed integers {what}"));
    let mut out = Vec::with_capacity(byte_len.min(stored.len() as u64 * 8) as usize);
    let mut p = 0;
    while p < stored.len() {
        let (v, n) = varint_at(&stored[p..]).ok_or_else(|| bad(format!("have a broken varint at byte {p}")))?;
        out.extend_from_slice(&v.to_le_bytes()[..width.min(8)]);
        p += n;
    }
    if out.len() as u64 != byte_len {
        return Err(bad(format!("hold {} values where {} are needed", out.len() / width.max(1), byte_len / width.max(1) as u64)));
    }
    Ok(out)
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
