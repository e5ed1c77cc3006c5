//! A restricted unpickler for PyTorch state dicts and TorchScript archives (Python's pickle
//! protocols 2–5, Lib/pickle.py and pickletools.py for the opcodes). It builds a tree of plain
//! values and never imports or calls anything: the only globals it accepts are the handful
//! torch.save and torch.jit.save write for tensors and containers (collections.OrderedDict,
//! torch._utils._rebuild_tensor_v2 / _rebuild_tensor / _rebuild_parameter / _rebuild_qtensor,
//! torch.*Storage, torch.jit._pickle's list builders and type tags), and they become data, not
//! calls. A TorchScript class (`__torch__.…`, written by torch/csrc/jit/serialization/pickler.cpp
//! as GLOBAL, EMPTY_TUPLE, NEWOBJ, state, BUILD) becomes an opaque object holding its state. Any
//! other global or opcode is an error naming it.

use crate::error::{Error, Result};
use crate::tensor::DType;
use std::collections::HashMap;
use std::rc::Rc;

/// Most values one pickle may create (a state dict has about fifteen per tensor; this allows
/// ~250 000 tensors and bounds memory to a few hundred MB).
const MAX_VALUES: u64 = 4_000_000;
/// Deepest nesting of MARKs.
const MAX_DEPTH: usize = 10_000;
/// Deepest nesting of containers (a state dict nests a few levels).
pub const MAX_NESTING: u32 = 100;

impl Value {
    pub fn depth(&self) -> u32 {
        match self {
            Value::Tuple(_, d) | Value::List(_, d) | Value::Dict(_, d) => *d,
            Value::Object { depth, .. } => *depth,
            Value::Tensor { .. } | Value::Storage { .. } => 1,
            _ => 0,
        }
    }
}

fn depth_of<'a>(items: impl Iterator<Item = &'a Rc<Value>>) -> u32 {
    1 + items.map(|v| v.depth()).max().unwrap_or(0)
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer too wide for i64 (LONG1/LONG4), kept only as a marker.
    BigInt,
    Float(f64),
    Str(String),
    Bytes(usize),
    /// Containers carry their nesting depth, kept under MAX_NESTING (a deep value would overflow
    /// the native stack when dropped or walked).
    Tuple(Vec<Rc<Value>>, u32),
    List(Vec<Rc<Value>>, u32),
    Dict(Vec<(Rc<Value>, Rc<Value>)>, u32),
    /// An allowed global, by name; it only means something as the callee of REDUCE.
    Global(&'static str),
    /// A storage named by a persistent id: ('storage', torch.XStorage, key, location, numel).
    Storage {
        dtype: DType,
        key: String,
        numel: u64,
    },
    /// A rebuilt tensor: a view of a storage; `quant` for torch's quantized tensors
    /// (_rebuild_qtensor), whose storage holds the integer codes.
    Tensor {
        dtype: DType,
        key: String,
        storage_offset: u64,
        size: Vec<u64>,
        stride: Vec<u64>,
        quant: Option<Rc<TorchQuant>>,
    },
    /// A TorchScript class named by a `__torch__.…` global; only NEWOBJ (or REDUCE, for an enum
    /// value) makes something of it, and nothing of it is run.
    Class(String),
    /// An instance of a TorchScript class: its state as BUILD gave it (a dict of attributes, or
    /// what the class's __getstate__ returned), None before BUILD.
    Object { class: String, state: Rc<Value>, depth: u32 },
    /// A value read but not kept: a device, a complex number, a tensor of a storage type not
    /// read. The text says what it was.
    Opaque(String),
}

/// The quantizer of a torch quantized tensor (pickler.cpp pushLiteralTensor: the tuple
/// (qscheme, scale, zero_point) or (qscheme, scales, zero_points, axis)).
#[derive(Debug, Clone, PartialEq)]
pub enum TorchQuant {
    PerTensorAffine { scale: f64, zero_point: i64 },
    /// Scales and zero points are tensors of their own (float64 and int64 storages).
    PerChannelAffine { scales: Rc<Value>, zero_points: Rc<Value>, axis: u64 },
}

const ALLOWED: &[(&str, &str, &str)] = &[
    ("collections", "OrderedDict", "OrderedDict"),
    ("torch._utils", "_rebuild_tensor_v2", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_tensor", "_rebuild_tensor"),
    ("torch._utils", "_rebuild_parameter", "_rebuild_parameter"),
    ("torch", "FloatStorage", "FloatStorage"),
    ("torch", "DoubleStorage", "DoubleStorage"),
    ("torch", "HalfStorage", "HalfStorage"),
    ("torch", "BFloat16Storage", "BFloat16Storage"),
    ("torch", "LongStorage", "LongStorage"),
    ("torch", "IntStorage", "IntStorage"),
    ("torch", "ShortStorage", "ShortStorage"),
    ("torch", "CharStorage", "CharStorage"),
    ("torch", "ByteStorage", "ByteStorage"),
    ("torch", "BoolStorage", "BoolStorage"),
    // torch.jit.save (torch/csrc/jit/serialization/pickler.cpp): quantized tensors and their
    // qschemes, the typed-list builders, type tags of dicts and lists, devices.
    ("torch._utils", "_rebuild_qtensor", "_rebuild_qtensor"),
    ("torch", "QInt8Storage", "QInt8Storage"),
    ("torch", "QUInt8Storage", "QUInt8Storage"),
    ("torch", "QInt32Storage", "QInt32Storage"),
    ("torch", "per_tensor_affine", "per_tensor_affine"),
    ("torch", "per_channel_affine", "per_channel_affine"),
    ("torch", "per_channel_affine_float_qparams", "per_channel_affine_float_qparams"),
    ("torch.jit._pickle", "build_intlist", "build_intlist"),
    ("torch.jit._pickle", "build_doublelist", "build_doublelist"),
    ("torch.jit._pickle", "build_boollist", "build_boollist"),
    ("torch.jit._pickle", "build_tensorlist", "build_tensorlist"),
    ("torch.jit._pickle", "restore_type_tag", "restore_type_tag"),
    ("torch.jit._pickle", "build_tensor_from_id", "build_tensor_from_id"),
    ("torch", "device", "device"),
    ("builtins", "complex", "complex"),
];

/// Storage types torch writes whose elements are not read here: their tensors become Opaque.
const UNREAD_STORAGES: &[&str] = &[
    "QUInt4x2Storage",
    "QUInt2x4Storage",
    "ComplexFloatStorage",
    "ComplexDoubleStorage",
    "ComplexHalfStorage",
    "BitsStorage",
];

fn storage_dtype(name: &str) -> Option<DType> {
    Some(match name {
        "FloatStorage" => DType::F32,
        "DoubleStorage" => DType::F64,
        "HalfStorage" => DType::F16,
        "BFloat16Storage" => DType::BF16,
        "LongStorage" => DType::I64,
        "IntStorage" => DType::I32,
        "ShortStorage" => DType::I16,
        "CharStorage" => DType::I8,
        "ByteStorage" => DType::U8,
        "BoolStorage" => DType::Bool,
        // Quantized storages hold the integer codes (c10 qint8 / quint8 / qint32).
        "QInt8Storage" => DType::I8,
        "QUInt8Storage" => DType::U8,
        "QInt32Storage" => DType::I32,
        _ => return None,
    })
}

struct Machine<'a> {
    file: &'a str,
    /// The pickle's member name for messages (data.pkl, constants.pkl).
    member: &'a str,
    data: &'a [u8],
    pos: usize,
    stack: Vec<Rc<Value>>,
    marks: Vec<usize>,
    memo: HashMap<u32, Rc<Value>>,
    created: u64,
}

impl Machine<'_> {
    fn err(&self, at: usize, what: impl std::fmt::Display) -> Error {
        Error::malformed(self.file, format!("{} byte {at}: {what}", self.member))
    }

    fn take(&mut self, n: usize) -> Result<&[u8]> {
        if self.data.len() - self.pos < n {
            return Err(self.err(
                self.pos,
                format!("needs {n} more bytes but the pickle ends (truncated, or a length that lies)"),
            ));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    /// The next N bytes as an array (`take` checked they are there).
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let at = self.pos;
        let bytes = crate::formats::bytes_at::<N>(self.take(N)?, 0);
        bytes.ok_or_else(|| self.err(at, format!("{N} bytes cut short")))
    }
    fn u32(&mut self) -> Result<u32> {
        self.array::<4>().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Result<u64> {
        self.array::<8>().map(u64::from_le_bytes)
    }

    fn push(&mut self, v: Value) -> Result<()> {
        self.created += 1;
        if self.created > MAX_VALUES {
            return Err(self.err(self.pos, format!("more than {MAX_VALUES} values (not a state dict)")));
        }
        if self.stack.len() > MAX_DEPTH * 16 {
            return Err(self.err(self.pos, "the stack grows past any state dict's needs"));
        }
        self.stack.push(Rc::new(v));
        Ok(())
    }

    fn check_nesting(&self, at: usize, depth: u32) -> Result<()> {
        if depth > MAX_NESTING {
            return Err(self.err(at, format!("containers nested deeper than {MAX_NESTING}")));
        }
        Ok(())
    }

    fn push_container(&mut self, at: usize, v: Value) -> Result<()> {
        self.check_nesting(at, v.depth())?;
        self.push(v)
    }

    fn pop(&mut self, at: usize, op: &str) -> Result<Rc<Value>> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() > floor {
            if let Some(v) = self.stack.pop() {
                return Ok(v);
            }
        }
        Err(self.err(at, format!("{op} on an empty stack")))
    }

    fn pop_mark(&mut self, at: usize, op: &str) -> Result<Vec<Rc<Value>>> {
        let mark = self.marks.pop().ok_or_else(|| self.err(at, format!("{op} without a MARK")))?;
        Ok(self.stack.split_off(mark))
    }

    fn top_mut(&mut self, at: usize, op: &str) -> Result<&mut Value> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.err(at, format!("{op} on an empty stack")));
        }
        let Some(top) = self.stack.last() else {
            return Err(self.err(at, format!("{op} on an empty stack")));
        };
        if Rc::strong_count(top) > 1 {
            // Changing a shared (memoized) container copies it: count the copy against the budget.
            self.created += match &**top {
                Value::List(l, _) | Value::Tuple(l, _) => l.len() as u64,
                Value::Dict(d, _) => d.len() as u64,
                _ => 1,
            };
            if self.created > MAX_VALUES {
                return Err(self.err(at, format!("more than {MAX_VALUES} values (not a state dict)")));
            }
        }
        match self.stack.last_mut() {
            Some(top) => Ok(Rc::make_mut(top)),
            // (self.err would borrow all of self while the stack is borrowed: the same text, by fields)
            None => Err(Error::malformed(self.file, format!("{} byte {at}: {op} on an empty stack", self.member))),
        }
    }

    fn string(&mut self, n: u64) -> Result<String> {
        let n = usize::try_from(n).map_err(|_| self.err(self.pos, "string length overflows"))?;
        let at = self.pos;
        let b = self.take(n)?;
        let s = std::str::from_utf8(b).map(str::to_string);
        s.map_err(|_| self.err(at, "a string that is not UTF-8"))
    }

    fn global(&self, at: usize, module: &str, name: &str) -> Result<Value> {
        // A TorchScript class (pickler.cpp pushGlobal(type_name.prefix(), type_name.name())).
        if module == "__torch__" || module.starts_with("__torch__.") {
            return Ok(Value::Class(format!("{module}.{name}")));
        }
        if module == "torch" {
            if let Some(unread) = UNREAD_STORAGES.iter().find(|&&s| s == name) {
                return Ok(Value::Global(unread));
            }
        }
        ALLOWED
            .iter()
            .find(|g| g.0 == module && g.1 == name)
            .map(|g| Value::Global(g.2))
            .ok_or_else(|| {
                self.err(
                    at,
                    format!(
                        "global '{module}.{name}' is not allowed (only tensors, storages, containers and TorchScript classes are read; nothing is imported or run)"
                    ),
                )
            })
    }

    fn memo_key(&self, at: usize, idx: u32) -> Result<Rc<Value>> {
        self.memo
            .get(&idx)
            .cloned()
            .ok_or_else(|| self.err(at, format!("memo entry {idx} was never stored")))
    }
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Int(i) if *i >= 0 => Some(*i as u64),
        _ => None,
    }
}

fn u64_tuple(v: &Value) -> Option<Vec<u64>> {
    match v {
        Value::Tuple(items, _) | Value::List(items, _) => items.iter().map(|i| as_u64(i)).collect(),
        _ => None,
    }
}

fn rebuilt_tensor(m: &Machine, at: usize, name: &str, a: &[Rc<Value>], quant: Option<Rc<TorchQuant>>) -> Result<Value> {
    let (dtype, key) = match &*a[0] {
        Value::Storage { dtype, key, .. } => (*dtype, key.clone()),
        Value::Global(class) if UNREAD_STORAGES.contains(class) => return Ok(Value::Opaque(format!("a tensor of torch.{class} (not read)"))),
        _ => return Err(m.err(at, format!("{name}: the first argument is not a storage"))),
    };
    let storage_offset = as_u64(&a[1]).ok_or_else(|| m.err(at, format!("{name}: storage offset is not a non-negative integer")))?;
    let size = u64_tuple(&a[2]).ok_or_else(|| m.err(at, format!("{name}: size is not a tuple of non-negative integers")))?;
    let stride = u64_tuple(&a[3]).ok_or_else(|| m.err(at, format!("{name}: stride is not a tuple of non-negative integers")))?;
    if size.len() != stride.len() {
        return Err(m.err(at, format!("{name}: size {size:?} and stride {stride:?} differ in length")));
    }
    Ok(Value::Tensor { dtype, key, storage_offset, size, stride, quant })
}

/// _rebuild_qtensor's quantizer tuple (torch/_utils.py _rebuild_qtensor reads the same).
fn torch_quant(m: &Machine, at: usize, params: &Value) -> Result<std::result::Result<TorchQuant, String>> {
    let bad = |what: &str| m.err(at, format!("_rebuild_qtensor: {what}"));
    let Value::Tuple(p, _) = params else { return Err(bad("the quantizer is not a tuple")) };
    let Some(Value::Global(scheme)) = p.first().map(|v| &**v) else { return Err(bad("the quantizer has no qscheme")) };
    match (*scheme, p.len()) {
        ("per_tensor_affine", 3) => {
            let scale = match &*p[1] {
                Value::Float(f) => *f,
                Value::Int(i) => *i as f64,
                _ => return Err(bad("the scale is not a number")),
            };
            let Value::Int(zero_point) = &*p[2] else { return Err(bad("the zero point is not an integer")) };
            Ok(Ok(TorchQuant::PerTensorAffine { scale, zero_point: *zero_point }))
        }
        ("per_channel_affine", 4) => {
            let axis = as_u64(&p[3]).ok_or_else(|| bad("the axis is not a non-negative integer"))?;
            match (&*p[1], &*p[2]) {
                (Value::Tensor { .. }, Value::Tensor { .. }) => Ok(Ok(TorchQuant::PerChannelAffine { scales: p[1].clone(), zero_points: p[2].clone(), axis })),
                _ => Err(bad("per_channel_affine scales and zero points are not tensors")),
            }
        }
        // Float zero points (embedding bags): x = (q − zp) · scale with zp a float; not an
        // integer zero point, so not read.
        ("per_channel_affine_float_qparams", _) => Ok(Err("a per_channel_affine_float_qparams tensor (float zero points, not read)".to_string())),
        (other, n) => Err(bad(&format!("qscheme {other} with {n} parameters"))),
    }
}

/// REDUCE: only the allowed globals, applied as data constructors.
fn reduce(m: &Machine, at: usize, func: &Value, args: &Rc<Value>) -> Result<Value> {
    // An enum value of a TorchScript class: GLOBAL, the value, REDUCE (pickler.cpp isEnum).
    if let Value::Class(class) = func {
        let depth = 1 + args.depth();
        return Ok(Value::Object { class: class.clone(), state: args.clone(), depth });
    }
    let Value::Global(name) = func else {
        return Err(m.err(at, "REDUCE of something that is not an allowed global"));
    };
    let Value::Tuple(a, _) = &**args else {
        return Err(m.err(at, format!("{name} called with arguments that are not a tuple")));
    };
    match *name {
        "OrderedDict" if a.is_empty() => Ok(Value::Dict(Vec::new(), 1)),
        "_rebuild_tensor_v2" | "_rebuild_tensor" if a.len() >= 4 => rebuilt_tensor(m, at, name, a, None),
        // (storage, storage_offset, size, stride, quantizer_params, requires_grad, backward_hooks)
        "_rebuild_qtensor" if a.len() >= 5 => match torch_quant(m, at, &a[4])? {
            Ok(q) => rebuilt_tensor(m, at, name, a, Some(Rc::new(q))),
            Err(why) => Ok(Value::Opaque(why)),
        },
        "_rebuild_parameter" if !a.is_empty() => match &*a[0] {
            t @ (Value::Tensor { .. } | Value::Opaque(_)) => Ok(t.clone()),
            _ => Err(m.err(at, "_rebuild_parameter of something that is not a tensor")),
        },
        // build_intlist([..]) and friends give the list; restore_type_tag(value, "Dict[str, Tensor]")
        // gives the value (torch/jit/_pickle.py).
        "build_intlist" | "build_doublelist" | "build_boollist" | "build_tensorlist" if a.len() == 1 => match &*a[0] {
            Value::List(..) => Ok((*a[0]).clone()),
            _ => Err(m.err(at, format!("{name} of something that is not a list"))),
        },
        "restore_type_tag" if a.len() == 2 => Ok((*a[0]).clone()),
        "device" if a.len() == 1 => Ok(Value::Opaque("a torch.device".to_string())),
        "complex" if a.len() == 2 => Ok(Value::Opaque("a complex number".to_string())),
        "build_tensor_from_id" => Err(m.err(
            at,
            "a tensor by table id (torch.jit._pickle.build_tensor_from_id: a legacy or mobile archive whose tensors live outside the pickle) is not read",
        )),
        other => Err(m.err(at, format!("{other} called with {} arguments it does not take", a.len()))),
    }
}

/// BINPERSID: torch's ('storage', storage_type, key, location, numel).
fn persistent(m: &Machine, at: usize, pid: &Value) -> Result<Value> {
    let bad = || m.err(at, "persistent id is not ('storage', torch.XStorage, key, location, numel)");
    let Value::Tuple(t, _) = pid else { return Err(bad()) };
    if t.len() != 5 || *t[0] != Value::Str("storage".into()) {
        return Err(bad());
    }
    let Value::Global(class) = &*t[1] else { return Err(bad()) };
    if UNREAD_STORAGES.contains(class) {
        // Kept as the storage's type name: the tensor over it becomes Opaque.
        return Ok((*t[1]).clone());
    }
    let dtype = storage_dtype(class).ok_or_else(bad)?;
    let key = match &*t[2] {
        Value::Str(s) => s.clone(),
        _ => return Err(bad()),
    };
    let numel = as_u64(&t[4]).ok_or_else(bad)?;
    Ok(Value::Storage { dtype, key, numel })
}

/// Runs the pickle in `data` (torch.save's data.pkl) and returns its result.
pub fn load(file: &str, data: &[u8]) -> Result<Rc<Value>> {
    load_member(file, "data.pkl", data)
}

/// Runs the pickle of the archive's member `member` (named in messages).
pub fn load_member(file: &str, member: &str, data: &[u8]) -> Result<Rc<Value>> {
    let mut m = Machine {
        file,
        member,
        data,
        pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        created: 0,
    };
    loop {
        let at = m.pos;
        let op = m.u8().map_err(|_| m.err(at, "the pickle ends without STOP (truncated?)"))?;
        match op {
            0x80 => {
                let proto = m.u8()?;
                if !(2..=5).contains(&proto) {
                    return Err(m.err(at, format!("pickle protocol {proto} (2 to 5 are read)")));
                }
            }
            0x95 => {
                m.u64()?; // FRAME: a length hint only
            }
            b'.' => {
                let v = m.pop(at, "STOP")?;
                return Ok(v);
            }
            b'(' => {
                if m.marks.len() >= MAX_DEPTH {
                    return Err(m.err(at, format!("MARKs nested deeper than {MAX_DEPTH}")));
                }
                m.marks.push(m.stack.len());
            }
            b')' => m.push(Value::Tuple(Vec::new(), 1))?,
            b']' => m.push(Value::List(Vec::new(), 1))?,
            b'}' => m.push(Value::Dict(Vec::new(), 1))?,
            b't' => {
                let items = m.pop_mark(at, "TUPLE")?;
                let d = depth_of(items.iter());
                m.push_container(at, Value::Tuple(items, d))?;
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(m.pop(at, "TUPLEn")?);
                }
                items.reverse();
                let d = depth_of(items.iter());
                m.push_container(at, Value::Tuple(items, d))?;
            }
            b'l' => {
                let items = m.pop_mark(at, "LIST")?;
                let d = depth_of(items.iter());
                m.push_container(at, Value::List(items, d))?;
            }
            b'd' => {
                let items = m.pop_mark(at, "DICT")?;
                if items.len() % 2 != 0 {
                    return Err(m.err(at, "DICT with an odd number of items"));
                }
                let d = depth_of(items.iter());
                let pairs = items.chunks_exact(2).map(|p| (p[0].clone(), p[1].clone())).collect();
                m.push_container(at, Value::Dict(pairs, d))?;
            }
            b'a' => {
                let v = m.pop(at, "APPEND")?;
                m.check_nesting(at, 1 + v.depth())?;
                match m.top_mut(at, "APPEND")? {
                    Value::List(l, d) => {
                        *d = (*d).max(1 + v.depth());
                        l.push(v)
                    }
                    _ => return Err(m.err(at, "APPEND to something that is not a list")),
                }
            }
            b'e' => {
                let items = m.pop_mark(at, "APPENDS")?;
                let nd = depth_of(items.iter());
                m.check_nesting(at, nd)?;
                match m.top_mut(at, "APPENDS")? {
                    Value::List(l, d) => {
                        *d = (*d).max(nd);
                        l.extend(items)
                    }
                    _ => return Err(m.err(at, "APPENDS to something that is not a list")),
                }
            }
            b's' => {
                let v = m.pop(at, "SETITEM")?;
                let k = m.pop(at, "SETITEM")?;
                let nd = 1 + v.depth().max(k.depth());
                m.check_nesting(at, nd)?;
                match m.top_mut(at, "SETITEM")? {
                    Value::Dict(d, depth) => {
                        *depth = (*depth).max(nd);
                        d.push((k, v))
                    }
                    _ => return Err(m.err(at, "SETITEM on something that is not a dict")),
                }
            }
            b'u' => {
                let items = m.pop_mark(at, "SETITEMS")?;
                if items.len() % 2 != 0 {
                    return Err(m.err(at, "SETITEMS with an odd number of items"));
                }
                let nd = depth_of(items.iter());
                m.check_nesting(at, nd)?;
                match m.top_mut(at, "SETITEMS")? {
                    Value::Dict(d, depth) => {
                        *depth = (*depth).max(nd);
                        d.extend(items.chunks_exact(2).map(|p| (p[0].clone(), p[1].clone())))
                    }
                    _ => return Err(m.err(at, "SETITEMS on something that is not a dict")),
                }
            }
            b'N' => m.push(Value::None)?,
            0x88 => m.push(Value::Bool(true))?,
            0x89 => m.push(Value::Bool(false))?,
            b'J' => {
                let v = m.u32()? as i32;
                m.push(Value::Int(v as i64))?;
            }
            b'K' => {
                let v = m.u8()?;
                m.push(Value::Int(v as i64))?;
            }
            b'M' => {
                let v = m.u16()?;
                m.push(Value::Int(v as i64))?;
            }
            0x8a | 0x8b => {
                let n = if op == 0x8a { m.u8()? as u64 } else { m.u32()? as u64 };
                let n = usize::try_from(n).map_err(|_| m.err(at, "LONG length overflows"))?;
                let b = m.take(n)?;
                let v = if n <= 8 {
                    // Little-endian two's complement, sign-extended.
                    let mut buf = if b.last().is_some_and(|&x| x & 0x80 != 0) {
                        [0xFFu8; 8]
                    } else {
                        [0u8; 8]
                    };
                    buf[..n].copy_from_slice(b);
                    Value::Int(i64::from_le_bytes(buf))
                } else {
                    Value::BigInt
                };
                m.push(v)?;
            }
            b'G' => {
                let v = f64::from_be_bytes(m.array::<8>()?);
                m.push(Value::Float(v))?;
            }
            b'X' | 0x8c | 0x8d | b'T' | b'U' => {
                let n = match op {
                    b'X' | b'T' => m.u32()? as u64,
                    0x8d => m.u64()?,
                    _ => m.u8()? as u64,
                };
                let s = if op == b'T' || op == b'U' {
                    // Protocol-2 byte strings (Python 2 str): latin-1.
                    let n = usize::try_from(n).map_err(|_| m.err(at, "length overflows"))?;
                    m.take(n)?.iter().map(|&c| c as char).collect()
                } else {
                    m.string(n)?
                };
                m.push(Value::Str(s))?;
            }
            b'B' | b'C' | 0x8e => {
                let n = match op {
                    b'B' => m.u32()? as u64,
                    b'C' => m.u8()? as u64,
                    _ => m.u64()?,
                };
                let n = usize::try_from(n).map_err(|_| m.err(at, "length overflows"))?;
                m.take(n)?;
                m.push(Value::Bytes(n))?;
            }
            b'c' => {
                let rest = &m.data[m.pos..];
                let line = |s: &[u8]| s.iter().position(|&c| c == b'\n');
                let e1 = line(rest).ok_or_else(|| m.err(at, "GLOBAL without a newline"))?;
                let e2 = line(&rest[e1 + 1..]).ok_or_else(|| m.err(at, "GLOBAL without a second newline"))?;
                let module = String::from_utf8_lossy(&rest[..e1]).into_owned();
                let name = String::from_utf8_lossy(&rest[e1 + 1..e1 + 1 + e2]).into_owned();
                m.pos += e1 + e2 + 2;
                let g = m.global(at, &module, &name)?;
                m.push(g)?;
            }
            0x93 => {
                let name = m.pop(at, "STACK_GLOBAL")?;
                let module = m.pop(at, "STACK_GLOBAL")?;
                match (&*module, &*name) {
                    (Value::Str(module), Value::Str(name)) => {
                        let g = m.global(at, module, name)?;
                        m.push(g)?;
                    }
                    _ => return Err(m.err(at, "STACK_GLOBAL of values that are not strings")),
                }
            }
            b'Q' => {
                let pid = m.pop(at, "BINPERSID")?;
                let s = persistent(&m, at, &pid)?;
                m.push(s)?;
            }
            b'R' => {
                let args = m.pop(at, "REDUCE")?;
                let func = m.pop(at, "REDUCE")?;
                let v = reduce(&m, at, &func, &args)?;
                m.push(v)?;
            }
            b'b' => {
                // BUILD sets an object's state: a TorchScript object's attributes (kept), an
                // OrderedDict's _metadata (not needed).
                let state = m.pop(at, "BUILD")?;
                let nd = 1 + state.depth();
                m.check_nesting(at, nd)?;
                match m.top_mut(at, "BUILD")? {
                    Value::Object { state: s, depth, .. } => {
                        *s = state;
                        *depth = nd;
                    }
                    Value::Dict(..) | Value::Tensor { .. } | Value::Opaque(_) => {}
                    _ => return Err(m.err(at, "BUILD on something that is not an object, dict or tensor")),
                }
            }
            0x81 => {
                // NEWOBJ: cls.__new__(cls, *args), here only for a TorchScript class (pickler.cpp
                // writes it with an empty tuple); its state comes with BUILD.
                let _args = m.pop(at, "NEWOBJ")?;
                let cls = m.pop(at, "NEWOBJ")?;
                let Value::Class(class) = &*cls else {
                    return Err(m.err(at, "pickle opcode NEWOBJ (0x81) of something that is not a TorchScript class is not allowed"));
                };
                m.push(Value::Object { class: class.clone(), state: Rc::new(Value::None), depth: 1 })?;
            }
            b'q' | b'r' | 0x94 => {
                let idx = match op {
                    b'q' => m.u8()? as u32,
                    b'r' => m.u32()?,
                    _ => m.memo.len() as u32,
                };
                let top = m.stack.last().cloned().ok_or_else(|| m.err(at, "PUT on an empty stack"))?;
                m.memo.insert(idx, top);
            }
            b'h' | b'j' => {
                let idx = if op == b'h' { m.u8()? as u32 } else { m.u32()? };
                let v = m.memo_key(at, idx)?;
                m.created += 1;
                m.stack.push(v);
            }
            b'0' => {
                m.pop(at, "POP")?;
            }
            b'2' => {
                let v = m.stack.last().cloned().ok_or_else(|| m.err(at, "DUP on an empty stack"))?;
                m.created += 1;
                m.stack.push(v);
            }
            b'1' => {
                m.pop_mark(at, "POP_MARK")?;
            }
            other => {
                let name = opcode_name(other);
                return Err(m.err(at, format!("pickle opcode {name} (0x{other:02x}) is not allowed")));
            }
        }
    }
}

fn opcode_name(op: u8) -> &'static str {
    match op {
        b'i' => "INST",
        b'o' => "OBJ",
        0x81 => "NEWOBJ",
        0x92 => "NEWOBJ_EX",
        b'I' => "INT",
        b'L' => "LONG",
        b'F' => "FLOAT",
        b'S' => "STRING",
        b'V' => "UNICODE",
        b'P' => "PERSID",
        b'g' => "GET",
        b'p' => "PUT",
        0x82..=0x84 => "EXT",
        0x8f => "EMPTY_SET",
        0x90 => "ADDITEMS",
        0x91 => "FROZENSET",
        0x96 => "BYTEARRAY8",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_os_system() {
        let p = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R.";
        let e = load("evil.pt", p).unwrap_err().to_string();
        assert!(e.contains("'os.system' is not allowed"), "{e}");
    }

    #[test]
    fn reads_a_small_dict() {
        // pickle.dumps({'a': 1, 'b': (2, 3)}, protocol=2)
        let p = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01K\x01X\x01\x00\x00\x00bq\x02K\x02K\x03\x86q\x03u.";
        let v = load("x", p).unwrap();
        let Value::Dict(d, _) = &*v else { panic!() };
        assert_eq!(d.len(), 2);
        assert_eq!(*d[1].1, Value::Tuple(vec![Rc::new(Value::Int(2)), Rc::new(Value::Int(3))], 1));
    }

    #[test]
    fn a_torchscript_object_keeps_its_state_and_nothing_is_called() {
        // What pickler.cpp writes for a module {"sizes": build_intlist([1, 2]), "d": device("cpu"),
        // "m": restore_type_tag({}, "Dict[str, Tensor]"), "e": an enum value 3}.
        let p = b"\x80\x02c__torch__.m\nNet\n)\x81}(X\x05\x00\x00\x00sizesctorch.jit._pickle\nbuild_intlist\n(](K\x01K\x02etR\
X\x01\x00\x00\x00dctorch\ndevice\nX\x03\x00\x00\x00cpu\x85R\
X\x01\x00\x00\x00mctorch.jit._pickle\nrestore_type_tag\n}X\x11\x00\x00\x00Dict[str, Tensor]\x86R\
X\x01\x00\x00\x00ec__torch__.m\nColor\nK\x03Rub.";
        let v = load("x", p).unwrap();
        let Value::Object { class, state, depth } = &*v else { panic!("{v:?}") };
        assert_eq!(class, "__torch__.m.Net");
        let Value::Dict(items, _) = &**state else { panic!("{state:?}") };
        let get = |k: &str| items.iter().find(|(key, _)| **key == Value::Str(k.into())).map(|(_, v)| (**v).clone()).unwrap();
        assert_eq!(get("sizes"), Value::List(vec![Rc::new(Value::Int(1)), Rc::new(Value::Int(2))], 1));
        assert_eq!(get("d"), Value::Opaque("a torch.device".into()));
        assert_eq!(get("m"), Value::Dict(Vec::new(), 1));
        assert_eq!(get("e"), Value::Object { class: "__torch__.m.Color".into(), state: Rc::new(Value::Int(3)), depth: 1 });
        assert_eq!(*depth, 3, "the object over its dict over the enum object");
    }

    #[test]
    fn refuses_unknown_opcodes() {
        let e = load("x", b"\x80\x02(i__builtin__\nobject\n.").unwrap_err().to_string();
        assert!(e.contains("INST"), "{e}");
    }
}
