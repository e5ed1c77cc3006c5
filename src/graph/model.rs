//! An ONNX model held in memory for whole-graph rewriting: the graph's nodes, initializers, inputs,
//! outputs and value_info parsed (onnx/onnx.proto field numbers), everything else kept as the raw
//! protobuf fields it was read as, so a rewrite changes only what it means to.
//!
//! Initializers stay in the source bytes (offsets) until they are written; their float values are
//! decoded on demand by the ONNX reader's tensor decoder (raw_data, float_data, FLOAT16 …).
//! Models that keep initializers in external data are refused: the rewrite writes one file.

use crate::error::{Error, Result};
use crate::export::onnx_qdq::{put_bytes, put_int, put_tag, put_varint};
use crate::formats::decode::protobuf::{Field, Reader};
use crate::formats::{self, Pieces};
use crate::tensor::{DType, TensorInfo};
use std::collections::HashMap;

/// TensorProto.DataType values.
pub const FLOAT: i32 = 1;
pub const UINT8: i32 = 2;
pub const INT8: i32 = 3;
pub const INT32: i32 = 6;
pub const INT64: i32 = 7;
pub const STRING: i32 = 8;
pub const BOOL: i32 = 9;
pub const FLOAT16: i32 = 10;
pub const UINT4: i32 = 21;
pub const INT4: i32 = 22;

/// Names and strings longer than this are refused.
const MAX_STRING: u64 = 1 << 20;

/// One protobuf field as read: its number and its bytes, tag included.
#[derive(Debug, Clone, PartialEq)]
pub struct RawField {
    pub number: u64,
    pub bytes: Vec<u8>,
}

/// Bytes of the source model (a range) or made by a rewrite.
#[derive(Debug, Clone, PartialEq)]
pub enum Bytes {
    Source { start: usize, end: usize },
    Owned(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Dim {
    Value(i64),
    Param(String),
    Unknown,
}

/// A ValueInfoProto: its name, what its type says (tensors only) and its own bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueInfo {
    pub name: String,
    pub elem_type: Option<i32>,
    pub dims: Option<Vec<Dim>>,
    /// The ValueInfoProto body as read; None for one made here (written from the fields above).
    raw: Option<Vec<u8>>,
}

impl ValueInfo {
    /// A tensor value of `elem_type` and the given shape (None: rank unknown).
    pub fn tensor(name: &str, elem_type: i32, dims: Option<Vec<Dim>>) -> ValueInfo {
        ValueInfo { name: name.to_string(), elem_type: Some(elem_type), dims, raw: None }
    }

    fn encode(&self) -> Vec<u8> {
        if let Some(raw) = &self.raw {
            return raw.clone();
        }
        // TypeProto.Tensor: elem_type 1, shape 2 (TensorShapeProto.dim 1: dim_value 1, dim_param 2).
        let mut tensor = Vec::new();
        put_int(&mut tensor, 1, self.elem_type.unwrap_or(0) as u64);
        if let Some(dims) = &self.dims {
            let mut shape = Vec::new();
            for d in dims {
                let mut dim = Vec::new();
                match d {
                    Dim::Value(v) => put_int(&mut dim, 1, *v as u64),
                    Dim::Param(p) => put_bytes(&mut dim, 2, p.as_bytes()),
                    Dim::Unknown => {}
                }
                put_bytes(&mut shape, 1, &dim);
            }
            put_bytes(&mut tensor, 2, &shape);
        }
        let mut ty = Vec::new();
        put_bytes(&mut ty, 1, &tensor);
        let mut out = Vec::new();
        put_bytes(&mut out, 1, self.name.as_bytes());
        put_bytes(&mut out, 2, &ty);
        out
    }
}

/// An AttributeProto: read (its body kept, the scalar fields parsed) or made by a rewrite.
#[derive(Debug, Clone, PartialEq)]
pub enum Attribute {
    Read { name: String, body: Vec<u8>, value: AttrValue },
    Int { name: String, value: i64 },
    Float { name: String, value: f32 },
}

/// What a read attribute holds, as far as the rewrites look.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Int(i64),
    Float(f32),
    Ints(Vec<i64>),
    String(Vec<u8>),
    /// A TensorProto: its range within the attribute body.
    Tensor { start: usize, end: usize },
    /// A graph, graphs, or something the rewrites do not read.
    Other,
}

impl Attribute {
    pub fn name(&self) -> &str {
        match self {
            Attribute::Read { name, .. } | Attribute::Int { name, .. } | Attribute::Float { name, .. } => name,
        }
    }

    fn encode(&self) -> Vec<u8> {
        // AttributeProto: name 1, f 2, i 3, type 20 (FLOAT 1, INT 2).
        let mut a = Vec::new();
        match self {
            Attribute::Read { body, .. } => return body.clone(),
            Attribute::Int { name, value } => {
                put_bytes(&mut a, 1, name.as_bytes());
                put_int(&mut a, 3, *value as u64);
                put_int(&mut a, 20, 2);
            }
            Attribute::Float { name, value } => {
                put_bytes(&mut a, 1, name.as_bytes());
                put_tag(&mut a, 2, 5);
                a.extend_from_slice(&value.to_le_bytes());
                put_int(&mut a, 20, 1);
            }
        }
        a
    }
}

/// A NodeProto.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub name: String,
    pub op_type: String,
    pub domain: String,
    pub attributes: Vec<Attribute>,
    /// doc_string, overload, metadata_props: kept as read.
    other: Vec<RawField>,
}

impl Node {
    pub fn new(op_type: &str, name: &str, inputs: Vec<String>, outputs: Vec<String>) -> Node {
        Node {
            inputs,
            outputs,
            name: name.to_string(),
            op_type: op_type.to_string(),
            domain: String::new(),
            attributes: Vec::new(),
            other: Vec::new(),
        }
    }

    pub fn with_int(mut self, name: &str, value: i64) -> Node {
        self.attributes.push(Attribute::Int { name: name.to_string(), value });
        self
    }

    pub fn is_default_domain(&self) -> bool {
        self.domain.is_empty() || self.domain == "ai.onnx"
    }

    fn attr(&self, name: &str) -> Option<&AttrValue> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Read { name: n, value, .. } if n == name => Some(value),
            _ => None,
        })
    }

    pub fn attr_int(&self, name: &str) -> Option<i64> {
        for a in &self.attributes {
            match a {
                Attribute::Int { name: n, value } if n == name => return Some(*value),
                Attribute::Read { name: n, value: AttrValue::Int(v), .. } if n == name => return Some(*v),
                _ => {}
            }
        }
        None
    }

    pub fn attr_float(&self, name: &str) -> Option<f32> {
        for a in &self.attributes {
            match a {
                Attribute::Float { name: n, value } if n == name => return Some(*value),
                Attribute::Read { name: n, value: AttrValue::Float(v), .. } if n == name => return Some(*v),
                _ => {}
            }
        }
        None
    }

    pub fn attr_string(&self, name: &str) -> Option<&[u8]> {
        match self.attr(name) {
            Some(AttrValue::String(s)) => Some(s),
            _ => None,
        }
    }

    pub fn attr_ints(&self, name: &str) -> Option<&[i64]> {
        match self.attr(name) {
            Some(AttrValue::Ints(v)) => Some(v),
            _ => None,
        }
    }

    /// The body of a tensor attribute (a Constant's `value`).
    pub fn attr_tensor<'a>(&'a self, name: &str) -> Option<&'a [u8]> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Read { name: n, body, value: AttrValue::Tensor { start, end } } if n == name => body.get(*start..*end),
            _ => None,
        })
    }

    /// The names the node's subgraphs (If/Loop/Scan bodies, at any depth) read: outer-scope tensors
    /// among them, which clean_initializers must keep.
    pub fn subgraph_inputs(&self, file: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for a in &self.attributes {
            let Attribute::Read { body, value: AttrValue::Other, .. } = a else { continue };
            let pieces = [(0u64, &body[..])];
            let mut src = Pieces { file, pieces: &pieces, len: body.len() as u64 };
            let mut r = Reader::new(&mut src);
            // AttributeProto g 6, graphs 11.
            for f in r.fields(0, body.len() as u64)?.into_iter().filter(|f| matches!((f.number, f.wire), (6, 2) | (11, 2))) {
                let g = graph(&mut r, &f)?;
                for n in &g.nodes {
                    out.extend(n.inputs.iter().filter(|i| !i.is_empty()).cloned());
                    out.extend(n.subgraph_inputs(file)?);
                }
            }
        }
        Ok(out)
    }

    /// Sets a float attribute, replacing one of that name where it stood.
    pub fn set_float(&mut self, name: &str, value: f32) {
        let new = Attribute::Float { name: name.to_string(), value };
        match self.attributes.iter().position(|a| a.name() == name) {
            Some(i) => self.attributes[i] = new,
            None => self.attributes.push(new),
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut fields: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut one = |n: u64, bytes: &[u8]| {
            let mut f = Vec::new();
            put_bytes(&mut f, n, bytes);
            fields.push((n, f));
        };
        for i in &self.inputs {
            one(1, i.as_bytes());
        }
        for o in &self.outputs {
            one(2, o.as_bytes());
        }
        if !self.name.is_empty() {
            one(3, self.name.as_bytes());
        }
        one(4, self.op_type.as_bytes());
        for a in &self.attributes {
            one(5, &a.encode());
        }
        if !self.domain.is_empty() {
            one(7, self.domain.as_bytes());
        }
        fields.extend(self.other.iter().map(|f| (f.number, f.bytes.clone())));
        fields.sort_by_key(|(n, _)| *n);
        fields.into_iter().flat_map(|(_, b)| b).collect()
    }
}

/// A graph initializer.
#[derive(Debug, Clone, PartialEq)]
pub struct Initializer {
    pub name: String,
    pub data_type: i32,
    pub dims: Vec<usize>,
    /// The TensorProto body.
    body: Bytes,
    /// Where its values are within the body, for the types the ONNX reader decodes.
    info: Option<TensorInfo>,
}

impl Initializer {
    /// A new initializer holding `raw` (little-endian element bytes) as raw_data.
    pub fn new(name: &str, data_type: i32, dims: Vec<usize>, raw: &[u8]) -> Initializer {
        // TensorProto: dims 1, data_type 2, name 8, raw_data 9.
        let mut t = Vec::new();
        for &d in &dims {
            put_int(&mut t, 1, d as u64);
        }
        put_int(&mut t, 2, data_type as u64);
        put_bytes(&mut t, 8, name.as_bytes());
        put_bytes(&mut t, 9, raw);
        let offset = (t.len() - raw.len()) as u64;
        let info = (data_type == FLOAT).then(|| TensorInfo::raw(name, DType::F32, dims.clone(), offset, raw.len() as u64));
        Initializer { name: name.to_string(), data_type, dims, body: Bytes::Owned(t), info }
    }

    pub fn f32s(values: &[f32], name: &str, dims: Vec<usize>) -> Initializer {
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Initializer::new(name, FLOAT, dims, &raw)
    }

    pub fn element_count(&self) -> usize {
        self.dims.iter().product()
    }
}

/// A GraphProto.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    pub name: String,
    pub nodes: Vec<Node>,
    pub initializers: Vec<Initializer>,
    pub inputs: Vec<ValueInfo>,
    pub outputs: Vec<ValueInfo>,
    pub value_info: Vec<ValueInfo>,
    other: Vec<RawField>,
}

/// A ModelProto with its graph parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub file: String,
    source: Vec<u8>,
    pub ir_version: u64,
    /// opset_import: (domain, version); "" is the default domain.
    pub opsets: Vec<(String, u64)>,
    pub producer_name: Option<String>,
    pub producer_version: Option<String>,
    other: Vec<RawField>,
    pub graph: Graph,
}

fn bad(file: &str, what: impl Into<String>) -> Error {
    Error::malformed(file, what.into())
}

fn string_of(r: &mut Reader, f: &Field, what: &str) -> Result<String> {
    if f.wire != 2 {
        return Err(r.bad(f.at, format!("{what} (field {}) should be a string", f.number)));
    }
    r.string(f, MAX_STRING)
}

fn raw_field(r: &mut Reader, f: &Field) -> Result<RawField> {
    Ok(RawField { number: f.number, bytes: r.raw(f.at, f.end)? })
}

fn value_info(r: &mut Reader, f: &Field) -> Result<ValueInfo> {
    let mut vi = ValueInfo { name: String::new(), elem_type: None, dims: None, raw: Some(r.raw(f.start, f.end)?) };
    for g in r.fields(f.start, f.end)? {
        match (g.number, g.wire) {
            (1, 2) => vi.name = r.string(&g, MAX_STRING)?,
            (2, 2) => {
                for t in r.fields(g.start, g.end)? {
                    if (t.number, t.wire) != (1, 2) {
                        continue; // not a tensor type (sequence, map, optional)
                    }
                    for e in r.fields(t.start, t.end)? {
                        match (e.number, e.wire) {
                            (1, 0) => vi.elem_type = Some(e.value as i32),
                            (2, 2) => {
                                let mut dims = Vec::new();
                                for d in r.fields(e.start, e.end)?.into_iter().filter(|d| (d.number, d.wire) == (1, 2)) {
                                    let mut dim = Dim::Unknown;
                                    for v in r.fields(d.start, d.end)? {
                                        match (v.number, v.wire) {
                                            (1, 0) => dim = Dim::Value(v.value as i64),
                                            (2, 2) => dim = Dim::Param(r.string(&v, MAX_STRING)?),
                                            _ => {}
                                        }
                                    }
                                    dims.push(dim);
                                }
                                vi.dims = Some(dims);
                            }
                            _ => {}
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(vi)
}

fn attribute(r: &mut Reader, f: &Field) -> Result<Attribute> {
    let body = r.raw(f.start, f.end)?;
    let (mut name, mut ty) = (String::new(), 0u64);
    let (mut i, mut fl, mut s, mut t) = (None, None, None, None);
    let mut ints = Vec::new();
    for g in r.fields(f.start, f.end)? {
        match (g.number, g.wire) {
            (1, 2) => name = r.string(&g, MAX_STRING)?,
            (20, 0) => ty = g.value,
            (3, 0) => i = Some(g.value as i64),
            (2, 5) => fl = Some(f32::from_le_bytes(r.raw(g.start, g.end)?.try_into().unwrap_or([0; 4]))),
            (4, 2) => s = Some(r.raw(g.start, g.end)?),
            (5, 2) => t = Some(((g.start - f.start) as usize, (g.end - f.start) as usize)),
            (8, 0) => ints.push(g.value as i64),
            (8, 2) => {
                let packed = r.raw(g.start, g.end)?;
                let mut p = 0;
                while p < packed.len() {
                    let (v, n) = crate::formats::decode::protobuf::varint_at(&packed[p..])
                        .ok_or_else(|| r.bad(g.at, format!("attribute '{name}': a packed int that is cut short")))?;
                    ints.push(v as i64);
                    p += n;
                }
            }
            _ => {}
        }
    }
    // AttributeProto.AttributeType: FLOAT 1, INT 2, STRING 3, TENSOR 4, INTS 7.
    let value = match (ty, i, fl, s, t) {
        (2, Some(v), _, _, _) | (0, Some(v), None, None, None) => AttrValue::Int(v),
        (1, _, Some(v), _, _) | (0, None, Some(v), None, None) => AttrValue::Float(v),
        (3, _, _, Some(v), _) => AttrValue::String(v),
        (4, _, _, _, Some((start, end))) => AttrValue::Tensor { start, end },
        (7, ..) => AttrValue::Ints(ints),
        (2, None, ..) => AttrValue::Int(0),
        (1, _, None, ..) => AttrValue::Float(0.0),
        _ => AttrValue::Other,
    };
    Ok(Attribute::Read { name, body, value })
}

fn node(r: &mut Reader, f: &Field) -> Result<Node> {
    let mut n = Node::new("", "", Vec::new(), Vec::new());
    for g in r.fields(f.start, f.end)? {
        match (g.number, g.wire) {
            (1, 2) => n.inputs.push(r.string(&g, MAX_STRING)?),
            (2, 2) => n.outputs.push(r.string(&g, MAX_STRING)?),
            (3, 2) => n.name = r.string(&g, MAX_STRING)?,
            (4, 2) => n.op_type = r.string(&g, MAX_STRING)?,
            (7, 2) => n.domain = r.string(&g, MAX_STRING)?,
            (5, 2) => n.attributes.push(attribute(r, &g)?),
            (1..=5 | 7, _) => return Err(r.bad(g.at, format!("NodeProto field {} has wire type {}", g.number, g.wire))),
            _ => n.other.push(raw_field(r, &g)?),
        }
    }
    if n.op_type.is_empty() {
        return Err(r.bad(f.at, format!("node '{}' has no op_type", n.name)));
    }
    Ok(n)
}

fn initializer(r: &mut Reader, f: &Field, index: usize) -> Result<Initializer> {
    let mut notes = Vec::new();
    let (mut name, mut data_type, mut dims) = (None, 0i32, Vec::new());
    for g in r.fields(f.start, f.end)? {
        match (g.number, g.wire) {
            (8, 2) => name = Some(string_of(r, &g, "initializer name")?),
            (2, 0) => data_type = g.value as i32,
            (1, 0) => dims.push(usize::try_from(g.value).map_err(|_| r.bad(g.at, "a dimension that does not fit in memory"))?),
            (1, 2) => {
                let packed = r.raw(g.start, g.end)?;
                let mut p = 0;
                while p < packed.len() {
                    let (v, n) = crate::formats::decode::protobuf::varint_at(&packed[p..]).ok_or_else(|| r.bad(g.at, "packed dims cut short"))?;
                    dims.push(v as usize);
                    p += n;
                }
            }
            _ => {}
        }
    }
    let name = name.unwrap_or_else(|| format!("initializer_{index}"));
    let info = formats::onnx::tensor_proto(r, f.start, f.end, index, &mut notes)?;
    if let Some(info) = &info {
        if let Some(data_file) = &info.data_file {
            return Err(Error::unsupported(
                r.file(),
                format!(
                    "initializer '{name}' keeps its values in external data ('{data_file}'); the graph rewrite writes one file — \
                     save the model without external data first (onnx.save_model(model, path, save_as_external_data=False))"
                ),
            ));
        }
    }
    // Offsets relative to the TensorProto body.
    let info = info.map(|mut i| {
        i.offset -= f.start;
        i
    });
    Ok(Initializer { name, data_type, dims, body: Bytes::Source { start: f.start as usize, end: f.end as usize }, info })
}

fn graph(r: &mut Reader, f: &Field) -> Result<Graph> {
    let mut g = Graph {
        name: String::new(),
        nodes: Vec::new(),
        initializers: Vec::new(),
        inputs: Vec::new(),
        outputs: Vec::new(),
        value_info: Vec::new(),
        other: Vec::new(),
    };
    for h in r.fields(f.start, f.end)? {
        match (h.number, h.wire) {
            (1, 2) => g.nodes.push(node(r, &h)?),
            (2, 2) => g.name = r.string(&h, MAX_STRING)?,
            (5, 2) => {
                let i = g.initializers.len();
                g.initializers.push(initializer(r, &h, i)?)
            }
            (11, 2) => g.inputs.push(value_info(r, &h)?),
            (12, 2) => g.outputs.push(value_info(r, &h)?),
            (13, 2) => g.value_info.push(value_info(r, &h)?),
            (1 | 2 | 5 | 11 | 12 | 13, _) => {
                return Err(r.bad(h.at, format!("GraphProto field {} has wire type {}", h.number, h.wire)))
            }
            _ => g.other.push(raw_field(r, &h)?),
        }
    }
    Ok(g)
}

impl Graph {
    pub fn new(name: &str, nodes: Vec<Node>, initializers: Vec<Initializer>, inputs: Vec<ValueInfo>, outputs: Vec<ValueInfo>) -> Graph {
        Graph { name: name.to_string(), nodes, initializers, inputs, outputs, value_info: Vec::new(), other: Vec::new() }
    }
}

impl Model {
    /// A model of IR version 8 importing the default-domain `opset`.
    pub fn new(file: &str, opset: u64, graph: Graph) -> Model {
        Model {
            file: file.to_string(),
            source: Vec::new(),
            ir_version: 8,
            opsets: vec![(String::new(), opset)],
            producer_name: None,
            producer_version: None,
            other: Vec::new(),
            graph,
        }
    }

    /// Parses a whole ONNX model held in memory.
    pub fn parse(file: &str, bytes: Vec<u8>) -> Result<Model> {
        if bytes.is_empty() {
            return Err(bad(file, "the file is empty"));
        }
        let len = bytes.len() as u64;
        let (ir_version, opsets, producer_name, producer_version, other, graph_found) = {
            let pieces = [(0u64, &bytes[..])];
            let mut src = Pieces { file, pieces: &pieces, len };
            let mut r = Reader::new(&mut src);
            let (mut ir, mut opsets, mut pn, mut pv, mut other, mut graph_found) = (0, Vec::new(), None, None, Vec::new(), None);
            for f in r.fields(0, len)? {
                match (f.number, f.wire) {
                    (1, 0) => ir = f.value,
                    (2, 2) => pn = Some(r.string(&f, MAX_STRING)?),
                    (3, 2) => pv = Some(r.string(&f, MAX_STRING)?),
                    (7, 2) => {
                        if graph_found.is_some() {
                            return Err(bad(file, "the model has two graphs (ModelProto field 7 twice)"));
                        }
                        graph_found = Some(graph(&mut r, &f)?);
                    }
                    (8, 2) => {
                        let (mut domain, mut version) = (String::new(), 0);
                        for g in r.fields(f.start, f.end)? {
                            match (g.number, g.wire) {
                                (1, 2) => domain = r.string(&g, MAX_STRING)?,
                                (2, 0) => version = g.value,
                                _ => {}
                            }
                        }
                        opsets.push((domain, version));
                    }
                    (1 | 2 | 3 | 7 | 8, _) => {
                        return Err(r.bad(f.at, format!("ModelProto field {} has wire type {}", f.number, f.wire)))
                    }
                    _ => other.push(raw_field(&mut r, &f)?),
                }
            }
            (ir, opsets, pn, pv, other, graph_found)
        };
        let graph = graph_found.ok_or_else(|| bad(file, "no graph (ModelProto field 7): not an ONNX model"))?;
        Ok(Model { file: file.to_string(), source: bytes, ir_version, opsets, producer_name, producer_version, other, graph })
    }

    /// The default-domain opset version, or an error when the model imports none (as ORT's
    /// quant_utils.get_opset_version refuses).
    pub fn default_opset(&self) -> Result<u64> {
        let found: Vec<u64> = self.opsets.iter().filter(|(d, _)| d.is_empty() || d == "ai.onnx").map(|(_, v)| *v).collect();
        match found.as_slice() {
            [v] => Ok(*v),
            [] => Err(bad(&self.file, "the model imports no default-domain (ai.onnx) opset")),
            _ => Err(bad(&self.file, "the model imports the default-domain opset more than once")),
        }
    }

    fn body<'a>(&'a self, b: &'a Bytes) -> &'a [u8] {
        match b {
            Bytes::Source { start, end } => &self.source[*start..*end],
            Bytes::Owned(v) => v,
        }
    }

    pub fn initializer(&self, name: &str) -> Option<&Initializer> {
        self.graph.initializers.iter().find(|i| i.name == name)
    }

    /// The float values of an initializer (FLOAT, FLOAT16, DOUBLE … as the ONNX reader decodes them).
    pub fn initializer_values(&self, init: &Initializer) -> Result<Vec<f32>> {
        let info = init.info.as_ref().ok_or_else(|| {
            Error::unsupported(&self.file, format!("initializer '{}' has data_type {}, which is not read as floats", init.name, init.data_type))
        })?;
        let body = self.body(&init.body);
        let (offset, len) = info.stored_range();
        let stored = body
            .get(offset as usize..(offset + len) as usize)
            .ok_or_else(|| bad(&self.file, format!("initializer '{}': its values lie outside its message", init.name)))?;
        formats::decode_tensor(info, stored.to_vec())
    }

    /// The float values of a TensorProto body (a Constant node's `value`).
    pub fn tensor_body_values(&self, name: &str, body: &[u8]) -> Result<Vec<f32>> {
        let pieces = [(0u64, body)];
        let mut src = Pieces { file: &self.file, pieces: &pieces, len: body.len() as u64 };
        let mut r = Reader::new(&mut src);
        let mut notes = Vec::new();
        let info = formats::onnx::tensor_proto(&mut r, 0, body.len() as u64, 0, &mut notes)?
            .ok_or_else(|| Error::unsupported(&self.file, format!("tensor '{name}' is not of a type read as floats")))?;
        let (offset, len) = info.stored_range();
        let stored = body.get(offset as usize..(offset + len) as usize).ok_or_else(|| bad(&self.file, format!("tensor '{name}': values outside its message")))?;
        formats::decode_tensor(&info, stored.to_vec())
    }

    /// The data_type of a TensorProto body.
    pub fn tensor_body_type(body: &[u8]) -> Option<i32> {
        let mut p = 0;
        while p < body.len() {
            let (tag, n) = crate::formats::decode::protobuf::varint_at(&body[p..])?;
            p += n;
            let (number, wire) = (tag >> 3, tag & 7);
            match wire {
                0 => {
                    let (v, n) = crate::formats::decode::protobuf::varint_at(&body[p..])?;
                    if number == 2 {
                        return Some(v as i32);
                    }
                    p += n;
                }
                1 => p += 8,
                5 => p += 4,
                2 => {
                    let (len, n) = crate::formats::decode::protobuf::varint_at(&body[p..])?;
                    p = p.checked_add(n)?.checked_add(usize::try_from(len).ok()?)?;
                }
                _ => return None,
            }
        }
        None
    }

    /// The GraphProto's fields, in field-number order.
    fn graph_fields(&self) -> Vec<(u64, Vec<u8>)> {
        let g = &self.graph;
        let mut graph_fields: Vec<(u64, Vec<u8>)> = Vec::new();
        let field = |n: u64, body: &[u8]| {
            let mut f = Vec::new();
            put_bytes(&mut f, n, body);
            (n, f)
        };
        for n in &g.nodes {
            graph_fields.push(field(1, &n.encode()));
        }
        if !g.name.is_empty() {
            graph_fields.push(field(2, g.name.as_bytes()));
        }
        for i in &g.initializers {
            graph_fields.push(field(5, self.body(&i.body)));
        }
        for v in &g.inputs {
            graph_fields.push(field(11, &v.encode()));
        }
        for v in &g.outputs {
            graph_fields.push(field(12, &v.encode()));
        }
        for v in &g.value_info {
            graph_fields.push(field(13, &v.encode()));
        }
        graph_fields.extend(g.other.iter().map(|f| (f.number, f.bytes.clone())));
        graph_fields.sort_by_key(|(n, _)| *n);
        graph_fields
    }

    /// The graph as a GraphProto message body.
    pub fn graph_bytes(&self) -> Vec<u8> {
        self.graph_fields().into_iter().flat_map(|(_, b)| b).collect()
    }

    /// The model as ONNX bytes.
    pub fn encode(&self) -> Vec<u8> {
        let graph_fields = self.graph_fields();
        let field = |n: u64, body: &[u8]| {
            let mut f = Vec::new();
            put_bytes(&mut f, n, body);
            (n, f)
        };
        let graph_len: usize = graph_fields.iter().map(|(_, b)| b.len()).sum();

        let mut model_fields: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut ir = Vec::new();
        put_int(&mut ir, 1, self.ir_version);
        model_fields.push((1, ir));
        if let Some(p) = &self.producer_name {
            model_fields.push(field(2, p.as_bytes()));
        }
        if let Some(p) = &self.producer_version {
            model_fields.push(field(3, p.as_bytes()));
        }
        let mut head = Vec::new();
        put_tag(&mut head, 7, 2);
        put_varint(&mut head, graph_len as u64);
        model_fields.push((7, head));
        for (domain, version) in &self.opsets {
            let mut o = Vec::new();
            if !domain.is_empty() {
                put_bytes(&mut o, 1, domain.as_bytes());
            }
            put_int(&mut o, 2, *version);
            model_fields.push(field(8, &o));
        }
        model_fields.extend(self.other.iter().map(|f| (f.number, f.bytes.clone())));
        model_fields.sort_by_key(|(n, _)| *n);
        let mut out = Vec::with_capacity(graph_len + 4096);
        for (n, b) in model_fields {
            out.extend_from_slice(&b);
            if n == 7 {
                for (_, gb) in &graph_fields {
                    out.extend_from_slice(gb);
                }
            }
        }
        out
    }

    /// The element type of every tensor whose type is known: value_info, outputs and inputs (in
    /// that order of precedence, as ORT's calibrater reads them), initializers, Constant values,
    /// and the outputs of nodes by the rules of `output_types` — what ORT gets from ONNX shape
    /// inference, for the element type only.
    pub fn elem_types(&self) -> HashMap<String, i32> {
        let g = &self.graph;
        let mut types: HashMap<String, i32> = HashMap::new();
        for i in &g.initializers {
            types.insert(i.name.clone(), i.data_type);
        }
        for v in g.value_info.iter().chain(&g.outputs).chain(&g.inputs) {
            if let Some(t) = v.elem_type {
                types.insert(v.name.clone(), t);
            }
        }
        for n in &g.nodes {
            let outs = output_types(n, &types);
            for (o, t) in n.outputs.iter().zip(outs) {
                if let (false, Some(t)) = (o.is_empty(), t) {
                    types.entry(o.clone()).or_insert(t);
                }
            }
        }
        types
    }
}

/// The element types of a node's outputs from its inputs' types and attributes (the type rules of
/// the ONNX operator docs, for the ops whose outputs are not simply of their first input's type).
fn output_types(n: &Node, types: &HashMap<String, i32>) -> Vec<Option<i32>> {
    let input = |i: usize| n.inputs.get(i).filter(|s| !s.is_empty()).and_then(|s| types.get(s)).copied();
    let count = n.outputs.len();
    let all = |t: Option<i32>| vec![t; count];
    if !n.is_default_domain() {
        // Contrib ops: only the quantization ones are known here.
        return match n.op_type.as_str() {
            "QuantizeLinear" => all(input(2).or(Some(UINT8))),
            "DequantizeLinear" => all(input(1).or(Some(FLOAT))),
            _ => all(None),
        };
    }
    match n.op_type.as_str() {
        "Shape" | "Size" | "NonZero" | "ArgMax" | "ArgMin" | "NonMaxSuppression" => all(Some(INT64)),
        "Equal" | "Less" | "Greater" | "LessOrEqual" | "GreaterOrEqual" | "Not" | "And" | "Or" | "Xor" | "IsNaN"
        | "IsInf" => all(Some(BOOL)),
        "Cast" => all(n.attr_int("to").map(|t| t as i32)),
        "CastLike" => all(input(1)),
        "Constant" => {
            let t = if let Some(body) = n.attr_tensor("value") {
                Model::tensor_body_type(body)
            } else if n.attr("value_float").is_some() || n.attr("value_floats").is_some() {
                Some(FLOAT)
            } else if n.attr("value_int").is_some() || n.attr("value_ints").is_some() {
                Some(INT64)
            } else if n.attr("value_string").is_some() || n.attr("value_strings").is_some() {
                Some(STRING)
            } else {
                None
            };
            all(t)
        }
        "ConstantOfShape" => all(Some(n.attr_tensor("value").and_then(Model::tensor_body_type).unwrap_or(FLOAT))),
        "EyeLike" | "RandomUniformLike" | "RandomNormalLike" => all(n.attr_int("dtype").map(|t| t as i32).or(input(0))),
        "RandomUniform" | "RandomNormal" => all(Some(n.attr_int("dtype").map_or(FLOAT, |t| t as i32))),
        "Multinomial" => all(Some(n.attr_int("dtype").map_or(INT32, |t| t as i32))),
        "QuantizeLinear" => all(input(2).or(Some(UINT8))),
        "DequantizeLinear" => all(input(1)),
        "DynamicQuantizeLinear" => vec![Some(UINT8), Some(FLOAT), Some(UINT8)].into_iter().take(count).collect(),
        "MatMulInteger" | "ConvInteger" => all(Some(INT32)),
        "Where" => all(input(1)),
        "OneHot" => all(input(2)),
        "TopK" => (0..count).map(|i| if i == 0 { input(0) } else { Some(INT64) }).collect(),
        "MaxPool" => (0..count).map(|i| if i == 0 { input(0) } else { Some(INT64) }).collect(),
        "Unique" => (0..count).map(|i| if i == 0 { input(0) } else { Some(INT64) }).collect(),
        "Dropout" => (0..count).map(|i| if i == 0 { input(0) } else { Some(BOOL) }).collect(),
        "LayerNormalization" => (0..count).map(|i| if i == 0 { input(0) } else { Some(n.attr_int("stash_type").map_or(FLOAT, |t| t as i32)) }).collect(),
        // Ops with subgraphs: their outputs' types come from the subgraph, not read here.
        "If" | "Loop" | "Scan" | "SequenceMap" => all(None),
        _ => all(input(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Model {
        let mut g = Graph {
            name: "g".into(),
            nodes: vec![
                Node::new("Shape", "s", vec!["x".into()], vec!["sh".into()]),
                Node::new("Relu", "r", vec!["x".into()], vec!["y".into()]),
            ],
            initializers: vec![Initializer::f32s(&[1.0, -2.0], "w", vec![2])],
            inputs: vec![ValueInfo::tensor("x", FLOAT, Some(vec![Dim::Param("N".into()), Dim::Value(2)]))],
            outputs: vec![ValueInfo::tensor("y", FLOAT, None)],
            value_info: Vec::new(),
            other: Vec::new(),
        };
        g.nodes[1] = g.nodes[1].clone().with_int("k", 3);
        Model {
            file: "t.onnx".into(),
            source: Vec::new(),
            ir_version: 8,
            opsets: vec![(String::new(), 13)],
            producer_name: Some("p".into()),
            producer_version: None,
            other: Vec::new(),
            graph: g,
        }
    }

    #[test]
    fn a_model_round_trips_through_its_bytes() {
        let m = tiny();
        let bytes = m.encode();
        let back = Model::parse("t.onnx", bytes.clone()).unwrap();
        assert_eq!(back.encode(), bytes);
        assert_eq!(back.graph.nodes[1].attr_int("k"), Some(3));
        assert_eq!(back.graph.inputs[0].dims, Some(vec![Dim::Param("N".into()), Dim::Value(2)]));
        let w = back.initializer("w").unwrap();
        assert_eq!(back.initializer_values(w).unwrap(), vec![1.0, -2.0]);
        let types = back.elem_types();
        assert_eq!((types["sh"], types["y"], types["w"]), (INT64, FLOAT, FLOAT));
        assert_eq!(back.default_opset().unwrap(), 13);
    }

    #[test]
    fn not_a_model_is_a_clear_error() {
        let err = Model::parse("x.onnx", vec![]).unwrap_err().to_string();
        assert!(err.contains("empty"), "{err}");
        // ir_version only: no graph.
        let err = Model::parse("x.onnx", vec![0x08, 0x07]).unwrap_err().to_string();
        assert!(err.contains("no graph"), "{err}");
        // A graph field whose length runs past the end.
        let err = Model::parse("x.onnx", vec![0x08, 0x07, 0x3a, 0x10, 0x0a]).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
    }
}
