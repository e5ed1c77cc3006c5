//! The malformed corpus: for every format, files that are truncated anywhere, flipped anywhere,
//! with lengths that lie, counts that overflow, bad magic, zip bombs, pickle opcodes and globals
//! outside the allowed set. Each must give an error that names the file and says what is wrong —
//! never a panic (checked with catch_unwind), a hang, or an allocation sized by a header field.
// Native only: wasm-pack builds every test target for wasm32; the browser tests are in tests/wasm*.rs.
#![cfg(not(target_arch = "wasm32"))]

use quant_playground::formats::{self, container::zip::crc32_of};
use quant_playground::tensor::decode_to_f32;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

/// The first error from indexing the file and reading every tensor (natively, and through the
/// page's piece protocol), or "OK". A panic fails the test with the case's name.
fn outcome(label: &str, name: &str, bytes: &[u8]) -> String {
    let run = || -> String {
        let mut src: &[u8] = bytes;
        let index = match formats::read_index(name, &mut src) {
            Ok(i) => i,
            Err(e) => {
                // The page's path must fail too, with the same kind of message.
                let pieces = [(0u64, bytes)];
                // (An index JSON parses alone in the page: its shards are merged by the caller.)
                if !name.ends_with(".json") {
                    assert!(formats::parse_index_parts(name, &pieces, bytes.len() as u64).is_err(), "{label}: pieces parse but native does not");
                }
                return e.to_string();
            }
        };
        for t in &index.tensors {
            if t.data_file.is_some() {
                continue;
            }
            let r = formats::read_tensor_bytes(&mut src, t).and_then(|b| if t.is_quantizable() { decode_to_f32(t, &b).map(|_| ()) } else { Ok(()) });
            if let Err(e) = r {
                return e.to_string();
            }
        }
        "OK".to_string()
    };
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(s) => s,
        Err(_) => panic!("{label}: PANIC on malformed input"),
    }
}

fn expect_err(label: &str, name: &str, bytes: &[u8], needle: &str) {
    let got = outcome(label, name, bytes);
    assert!(got != "OK", "{label}: parsed fine, wanted an error containing '{needle}'");
    assert!(got.contains(needle), "{label}: got '{got}', wanted '{needle}'");
    assert!(got.starts_with(name) || got.contains(name) || got.contains("tensor '"), "{label}: '{got}' names neither the file nor the tensor");
}

// ---- builders ----------------------------------------------------------------------------

struct ZipMember<'a> {
    name: &'a str,
    data: &'a [u8],
    deflate: bool,
}

/// Field overrides applied to the central directory entry of member `index` (to make it lie).
#[derive(Default, Clone)]
struct Lie {
    index: usize,
    uncompressed: Option<u32>,
    compressed: Option<u32>,
    method: Option<u16>,
    flags: Option<u16>,
    crc: Option<u32>,
    header_offset: Option<u32>,
}

fn zip_with(members: &[ZipMember], lie: Option<Lie>, count_lie: Option<u16>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let payload = if m.deflate { miniz_oxide::deflate::compress_to_vec(m.data, 6) } else { m.data.to_vec() };
        let lie = lie.clone().filter(|l| l.index == i).unwrap_or_default();
        let crc = lie.crc.unwrap_or(crc32_of(m.data));
        let method: u16 = lie.method.unwrap_or(if m.deflate { 8 } else { 0 });
        let comp = lie.compressed.unwrap_or(payload.len() as u32);
        let uncomp = lie.uncompressed.unwrap_or(m.data.len() as u32);
        let offset = out.len() as u32;
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&[20, 0]);
        out.extend_from_slice(&lie.flags.unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&method.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&comp.to_le_bytes());
        out.extend_from_slice(&uncomp.to_le_bytes());
        out.extend_from_slice(&(m.name.len() as u16).to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(m.name.as_bytes());
        out.extend_from_slice(&payload);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&[20, 0, 20, 0]);
        central.extend_from_slice(&lie.flags.unwrap_or(0).to_le_bytes());
        central.extend_from_slice(&method.to_le_bytes());
        central.extend_from_slice(&[0; 4]);
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&comp.to_le_bytes());
        central.extend_from_slice(&uncomp.to_le_bytes());
        central.extend_from_slice(&(m.name.len() as u16).to_le_bytes());
        central.extend_from_slice(&[0; 12]);
        central.extend_from_slice(&lie.header_offset.unwrap_or(offset).to_le_bytes());
        central.extend_from_slice(m.name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    let n = count_lie.unwrap_or(members.len() as u16);
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

fn zip(members: &[ZipMember]) -> Vec<u8> {
    zip_with(members, None, None)
}

fn npy(shape: &str, data_len: usize) -> Vec<u8> {
    let mut h = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut v = b"\x93NUMPY\x01\x00".to_vec();
    v.extend_from_slice(&(h.len() as u16).to_le_bytes());
    v.extend_from_slice(h.as_bytes());
    v.extend(std::iter::repeat_n(0u8, data_len));
    v
}

/// A torch.save-style zip around a data.pkl and one 16-byte float storage "0".
fn torch_zip(pkl: &[u8]) -> Vec<u8> {
    let storage = [0u8; 16];
    zip(&[
        ZipMember { name: "m/data.pkl", data: pkl, deflate: false },
        ZipMember { name: "m/byteorder", data: b"little", deflate: false },
        ZipMember { name: "m/data/0", data: &storage, deflate: false },
    ])
}

/// The pickle torch writes for {"w": tensor(size, stride, offset)} over FloatStorage "0" of `numel`.
fn state_dict_pickle(size: &[u32], stride: &[u32], offset: u32, numel: u32) -> Vec<u8> {
    let mut p = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01X\x01\x00\x00\x00wq\x02ctorch._utils\n_rebuild_tensor_v2\nq\x03(("
        .to_vec();
    p.extend_from_slice(b"X\x07\x00\x00\x00storageq\x04ctorch\nFloatStorage\nq\x05X\x01\x00\x00\x000q\x06X\x03\x00\x00\x00cpuq\x07J");
    p.extend_from_slice(&numel.to_le_bytes());
    p.extend_from_slice(b"tq\x08QJ");
    p.extend_from_slice(&offset.to_le_bytes());
    for t in [size, stride] {
        p.push(b'(');
        for &d in t {
            p.push(b'J');
            p.extend_from_slice(&d.to_le_bytes());
        }
        p.push(b't');
    }
    p.extend_from_slice(b"\x89ccollections\nOrderedDict\n)Rtq\x09Rq\x0as.");
    p
}

/// The pickle opcodes torch.jit.save writes for one tensor over storage `key` of `class`
/// (pickler.cpp pushLiteralTensor), 1-D of `n` elements; `quantizer` is _rebuild_qtensor's tuple.
fn ts_tensor(class: &str, key: &str, n: u8, quantizer: Option<&[u8]>) -> Vec<u8> {
    let rebuild: &[u8] = if quantizer.is_some() { b"ctorch._utils\n_rebuild_qtensor\n((" } else { b"ctorch._utils\n_rebuild_tensor_v2\n((" };
    let mut p = rebuild.to_vec();
    p.extend_from_slice(b"X\x07\x00\x00\x00storagectorch\n");
    p.extend_from_slice(class.as_bytes());
    p.extend_from_slice(b"\nX");
    p.extend_from_slice(&(key.len() as u32).to_le_bytes());
    p.extend_from_slice(key.as_bytes());
    p.extend_from_slice(b"X\x03\x00\x00\x00cpuK");
    p.push(n);
    p.extend_from_slice(b"tQK\x00(K");
    p.push(n);
    p.extend_from_slice(b"t(K\x01t");
    if let Some(q) = quantizer {
        p.extend_from_slice(q);
    }
    p.extend_from_slice(b"\x89ccollections\nOrderedDict\n)RtR");
    p
}

/// A TorchScript module `__torch__.Net` whose state dict is {"w": value}.
fn ts_module(value: &[u8]) -> Vec<u8> {
    [&b"\x80\x02c__torch__\nNet\n)\x81}(X\x01\x00\x00\x00w"[..], value, b"ub."].concat()
}

fn gguf_string(v: &mut Vec<u8>, s: &[u8]) {
    v.extend_from_slice(&(s.len() as u64).to_le_bytes());
    v.extend_from_slice(s);
}

/// GGUF v3 with the given raw key-value bytes and tensor infos (name, dims, type, offset), then
/// the data section (aligned to 32) holding `data_len` bytes.
fn gguf(version: u32, kv_count: u64, kvs: &[u8], tensors: &[(&str, &[u64], u32, u64)], data_len: usize) -> Vec<u8> {
    let mut v = b"GGUF".to_vec();
    v.extend_from_slice(&version.to_le_bytes());
    v.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    v.extend_from_slice(&kv_count.to_le_bytes());
    v.extend_from_slice(kvs);
    for (name, dims, t, off) in tensors {
        gguf_string(&mut v, name.as_bytes());
        v.extend_from_slice(&(dims.len() as u32).to_le_bytes());
        for d in *dims {
            v.extend_from_slice(&d.to_le_bytes());
        }
        v.extend_from_slice(&t.to_le_bytes());
        v.extend_from_slice(&off.to_le_bytes());
    }
    while v.len() % 32 != 0 {
        v.push(0);
    }
    v.extend(std::iter::repeat_n(0u8, data_len));
    v
}

fn kv(key: &str, t: u32, value: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    gguf_string(&mut v, key.as_bytes());
    v.extend_from_slice(&t.to_le_bytes());
    v.extend_from_slice(value);
    v
}

fn pb_varint(v: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        v.push((x as u8) | 0x80);
        x >>= 7;
    }
    v.push(x as u8);
}

fn pb_len(v: &mut Vec<u8>, field: u64, payload: &[u8]) {
    pb_varint(v, field << 3 | 2);
    pb_varint(v, payload.len() as u64);
    v.extend_from_slice(payload);
}

fn pb_int(v: &mut Vec<u8>, field: u64, x: u64) {
    pb_varint(v, field << 3);
    pb_varint(v, x);
}

/// An ONNX ModelProto (ir_version 9) whose graph holds the given TensorProto encodings.
fn onnx(tensors: &[Vec<u8>]) -> Vec<u8> {
    let mut graph = Vec::new();
    pb_len(&mut graph, 2, b"g");
    for t in tensors {
        pb_len(&mut graph, 5, t);
    }
    let mut m = Vec::new();
    pb_int(&mut m, 1, 9);
    pb_len(&mut m, 2, b"test");
    pb_len(&mut m, 7, &graph);
    m
}

fn tensor_proto(name: &str, dims: &[u64], data_type: u64, raw: Option<&[u8]>) -> Vec<u8> {
    let mut t = Vec::new();
    for &d in dims {
        pb_int(&mut t, 1, d);
    }
    pb_int(&mut t, 2, data_type);
    pb_len(&mut t, 8, name.as_bytes());
    if let Some(r) = raw {
        pb_len(&mut t, 9, r);
    }
    t
}

/// A GraphProto of these NodeProto and TensorProto encodings.
fn onnx_graph(nodes: &[Vec<u8>], initializers: &[Vec<u8>]) -> Vec<u8> {
    let mut g = Vec::new();
    for n in nodes {
        pb_len(&mut g, 1, n);
    }
    pb_len(&mut g, 2, b"g");
    for t in initializers {
        pb_len(&mut g, 5, t);
    }
    g
}

fn onnx_model(graph: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    pb_int(&mut m, 1, 9);
    pb_len(&mut m, 7, graph);
    m
}

/// A NodeProto; `attrs` are AttributeProto encodings.
fn onnx_node(op: &str, inputs: &[&str], outputs: &[&str], attrs: &[Vec<u8>]) -> Vec<u8> {
    let mut n = Vec::new();
    for i in inputs {
        pb_len(&mut n, 1, i.as_bytes());
    }
    for o in outputs {
        pb_len(&mut n, 2, o.as_bytes());
    }
    pb_len(&mut n, 4, op.as_bytes());
    for a in attrs {
        pb_len(&mut n, 5, a);
    }
    n
}

/// An AttributeProto: an int (field 3), a tensor (5) or a graph (6).
fn onnx_attr(name: &str, field: u64, int: u64, payload: &[u8]) -> Vec<u8> {
    let mut a = Vec::new();
    pb_len(&mut a, 1, name.as_bytes());
    if field == 3 {
        pb_int(&mut a, 3, int);
    } else {
        pb_len(&mut a, field, payload);
    }
    a
}

// ---- the corpus --------------------------------------------------------------------------

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formats");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        if p.is_file() && !name.ends_with(".json") && !name.ends_with(".data") && name != "legacy.pt" {
            out.push((name, std::fs::read(&p).unwrap()));
        }
    }
    let quantized = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/quantized");
    for name in ["constants_if.onnx", "qdq_per_channel.onnx", "dynamic.onnx", "nbits4.onnx", "weights.tflite"] {
        out.push((name.to_string(), std::fs::read(quantized.join(name)).unwrap()));
    }
    // TorchScript archives (torch.jit.save): module objects, constants.pkl, quantized tensors.
    let torchscript = dir.join("torchscript");
    for name in ["traced.pt", "quantized_x86.pt"] {
        out.push((name.to_string(), std::fs::read(torchscript.join(name)).unwrap()));
    }
    // GPTQ / AWQ groups in safetensors: codes, zero points and scales read at index time.
    for name in ["gptq.safetensors", "awq.safetensors"] {
        out.push((name.to_string(), std::fs::read(dir.join("gptq").join(name)).unwrap()));
    }
    // bitsandbytes 4-bit and int8 Linears: quant_state JSON, absmax (nested), SCB read at index time.
    for name in ["nf4_double_fp32_storage_bf16.safetensors", "int8.safetensors"] {
        out.push((name.to_string(), std::fs::read(dir.join("bnb").join(name)).unwrap()));
    }
    out.sort();
    out
}

/// Truncated at every length: an error (naming the file) whenever a byte of tensor data or of
/// the header is missing; never a panic.
#[test]
fn every_fixture_truncated_anywhere() {
    let mut cases = 0;
    for (name, bytes) in fixtures() {
        let mut src: &[u8] = &bytes;
        let index = formats::read_index(&name, &mut src).unwrap();
        // Up to where the last byte that matters lives (a zip's central directory is at its end;
        // GGUF and .npy end with their data; ONNX may end with fields the index does not need).
        let needed = match index.format {
            formats::Format::Npz | formats::Format::PyTorch | formats::Format::Safetensors | formats::Format::Npy => bytes.len(),
            _ => index.tensors.iter().filter(|t| t.data_file.is_none()).map(|t| (t.stored_range().0 + t.stored_range().1) as usize).max().unwrap_or(0),
        };
        // Every length near the ends (headers, central directories), every 37th in between.
        let n = bytes.len();
        for len in (0..n).filter(|&l| l < 2048 || l + 2048 >= n || l % 37 == 0) {
            let got = outcome(&format!("{name} cut to {len}"), &name, &bytes[..len]);
            if len < needed {
                assert!(got != "OK", "{name} cut to {len} of {} parses fine", bytes.len());
                assert!(got.contains(&name), "{name} cut to {len}: '{got}' does not name the file");
            }
            cases += 1;
        }
    }
    eprintln!("truncation cases: {cases}");
    assert!(cases > 20_000, "{cases}");
}

/// Every byte of every header (and a sample of the data) flipped: no panic, whatever the result.
#[test]
fn every_fixture_with_a_byte_flipped() {
    let mut cases = 0;
    for (name, bytes) in fixtures() {
        let len = bytes.len();
        let positions: Vec<usize> = (0..len).filter(|&i| i < 1024 || i + 512 >= len || i % 61 == 0).collect();
        for i in positions {
            for flip in [0xFFu8, 0x01] {
                let mut b = bytes.clone();
                b[i] ^= flip;
                outcome(&format!("{name} byte {i} ^ {flip:#x}"), &name, &b);
                cases += 1;
            }
        }
    }
    eprintln!("byte-flip cases: {cases}");
    assert!(cases > 20_000, "{cases}");
}

#[test]
fn empty_and_unknown_files() {
    for name in ["e.npy", "e.safetensors", "e.npz", "e.gguf", "e.pt", "e.onnx", "e.bin"] {
        expect_err(name, name, b"", "the file is empty");
    }
    expect_err("text", "notes.txt", b"hello, world", "not a file format the playground reads");
    expect_err("zip of text", "x.zip", &zip(&[ZipMember { name: "a.txt", data: b"hi", deflate: false }]), "neither an .npz");
}

#[test]
fn npy_cases() {
    // The .npy name picks the parser when the content matches nothing, so the error is specific.
    expect_err("bad magic", "a.npy", b"\x93NUMPX\x01\x00\x10\x00{}", "does not start with the .npy magic");
    expect_err("version 9", "a.npy", b"\x93NUMPY\x09\x00\x10\x00{}", "version 9.0");
    let mut over = b"\x93NUMPY\x02\x00".to_vec();
    over.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    over.extend_from_slice(&[b' '; 64]);
    expect_err("header over limit", "a.npy", &over, "over numpy's limit");
    expect_err("overflowing shape", "a.npy", &npy("(4294967296, 4294967296, 16)", 0), "overflows");
    expect_err("data short", "a.npy", &npy("(4,)", 15), "truncated");
    expect_err("negative dim", "a.npy", &npy("(-1,)", 4), "non-negative");
    let zero = npy("(0, 4)", 0);
    assert_eq!(outcome("zero elements", "z.npy", &zero), "OK");
}

#[test]
fn safetensors_cases() {
    let st = |h: &str, data: usize| {
        let mut v = (h.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(h.as_bytes());
        v.extend(std::iter::repeat_n(0u8, data));
        v
    };
    expect_err("gap", "a.safetensors", &st(r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, 8), "gap");
    expect_err("overlap", "a.safetensors", &st(r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, 8), "overlaps");
    expect_err("lying size", "a.safetensors", &st(r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, 8), "needs 12");
    expect_err("past end", "a.safetensors", &st(r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, 4), "past the end");
    expect_err("overflow", "a.safetensors", &st(r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,4]}}"#, 4), "overflows");
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    expect_err("deeply nested JSON", "a.safetensors", &st(&deep, 0), "not valid JSON");
    let mut huge = (200_000_000u64).to_le_bytes().to_vec();
    huge.extend_from_slice(b"{}");
    expect_err("header over limit", "a.safetensors", &huge, "over the limit of 100000000 bytes");
    let zero = st(r#"{"a":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]}}"#, 0);
    assert_eq!(outcome("zero elements", "z.safetensors", &zero), "OK");
}

/// A safetensors file of (name, dtype, shape, bytes), laid out in order.
fn safetensors_of(tensors: &[(&str, &str, &[usize], Vec<u8>)]) -> Vec<u8> {
    let (mut header, mut data) = (serde_json::Map::new(), Vec::new());
    for (name, dtype, shape, bytes) in tensors {
        let at = data.len();
        data.extend_from_slice(bytes);
        header.insert(name.to_string(), serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [at, data.len()]}));
    }
    let h = serde_json::Value::Object(header).to_string();
    let mut v = (h.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(h.as_bytes());
    v.extend(data);
    v
}

#[test]
fn bitsandbytes_cases() {
    let f32s = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let nf4: Vec<f32> = (0..16).map(|i| i as f32 / 15.0).collect();
    // A [2, 64] NF4 weight in blocks of 64: 64 packed bytes, 2 absmax.
    let linear4 = |state: &str, codes: usize, absmax: &[f32]| {
        safetensors_of(&[
            ("l.weight", "U8", &[codes, 1], vec![0x17; codes]),
            ("l.weight.absmax", "F32", &[absmax.len()], f32s(absmax)),
            ("l.weight.quant_map", "F32", &[16], f32s(&nf4)),
            ("l.weight.quant_state.bitsandbytes__nf4", "U8", &[state.len()], state.as_bytes().to_vec()),
        ])
    };
    let good = r#"{"quant_type": "nf4", "blocksize": 64, "dtype": "float16", "shape": [2, 64]}"#;
    assert_eq!(outcome("bnb good", "b.safetensors", &linear4(good, 64, &[1.0, 2.0])), "OK");
    let lying_shape = r#"{"quant_type": "nf4", "blocksize": 64, "dtype": "float16", "shape": [4, 64]}"#;
    expect_err("bnb quant_state shape lies", "b.safetensors", &linear4(lying_shape, 64, &[1.0, 2.0]), "does not hold the 256 packed 4-bit codes of quant_state shape [4, 64]");
    expect_err("bnb absmax short", "b.safetensors", &linear4(good, 64, &[1.0]), "absmax 'l.weight.absmax' is F32 [1] where 2 float32 values are needed");
    expect_err("bnb quant_state not JSON", "b.safetensors", &linear4("{\"quant_type\": ", 64, &[1.0, 2.0]), "is not JSON");
    let bad_block = r#"{"quant_type": "nf4", "blocksize": 48, "dtype": "float16", "shape": [2, 64]}"#;
    expect_err("bnb blocksize", "b.safetensors", &linear4(bad_block, 64, &[1.0, 2.0]), "blocksize 48");
    let wrong_type = r#"{"quant_type": "fp4", "blocksize": 64, "dtype": "float16", "shape": [2, 64]}"#;
    expect_err("bnb quant_type against key", "b.safetensors", &linear4(wrong_type, 64, &[1.0, 2.0]), "is not its key's 'nf4'");
    // Codes stored in a float dtype (bnb_4bit_quant_storage): read by their bytes, which must be
    // the packed codes' count (64 bytes = 32 bfloat16), not by their element count.
    let stored_as = |dtype: &str, elements: usize, bytes: usize| {
        safetensors_of(&[
            ("l.weight", dtype, &[elements, 1], vec![0x17; bytes]),
            ("l.weight.absmax", "F32", &[2], f32s(&[1.0, 2.0])),
            ("l.weight.quant_map", "F32", &[16], f32s(&nf4)),
            ("l.weight.quant_state.bitsandbytes__nf4", "U8", &[good.len()], good.as_bytes().to_vec()),
        ])
    };
    assert_eq!(outcome("bnb codes in bfloat16", "b.safetensors", &stored_as("BF16", 32, 64)), "OK");
    expect_err("bnb codes in too much bfloat16", "b.safetensors", &stored_as("BF16", 64, 128), "BF16 [64, 1] (128 bytes) does not hold the 128 packed 4-bit codes");
    // Double quantization whose nested absmax is short: 300 blocks need 2 of 256.
    let nested = r#"{"quant_type": "nf4", "blocksize": 64, "dtype": "float16", "shape": [300, 64], "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": 0.5}"#;
    let double = |nested_absmax: &[f32]| {
        safetensors_of(&[
            ("l.weight", "U8", &[9600, 1], vec![0x17; 9600]),
            ("l.weight.absmax", "U8", &[300], vec![7; 300]),
            ("l.weight.quant_map", "F32", &[16], f32s(&nf4)),
            ("l.weight.nested_absmax", "F32", &[nested_absmax.len()], f32s(nested_absmax)),
            ("l.weight.nested_quant_map", "F32", &[256], f32s(&[0.25; 256])),
            ("l.weight.quant_state.bitsandbytes__nf4", "U8", &[nested.len()], nested.as_bytes().to_vec()),
        ])
    };
    assert_eq!(outcome("bnb double good", "b.safetensors", &double(&[1.0, 2.0])), "OK");
    expect_err("bnb nested absmax short", "b.safetensors", &double(&[1.0]), "where 2 float32 values are needed");
    // LLM.int8(): SCB one per row.
    let int8 = |rows: usize| safetensors_of(&[("l.SCB", "F32", &[rows], f32s(&vec![1.0; rows])), ("l.weight", "I8", &[3, 4], vec![1; 12])]);
    assert_eq!(outcome("bnb int8 good", "b.safetensors", &int8(3)), "OK");
    expect_err("bnb int8 SCB short", "b.safetensors", &int8(2), "with SCB F32 [2]");
}

#[test]
fn zip_and_npz_cases() {
    let member = npy("(4,)", 16);
    let good = zip(&[ZipMember { name: "w.npy", data: &member, deflate: true }]);
    assert_eq!(outcome("good", "a.npz", &good), "OK");
    // The end record gone, or pointing nowhere.
    expect_err("no end record", "a.npz", &good[..good.len() - 22], "end-of-central-directory");
    let mut bad_cd = good.clone();
    let n = bad_cd.len();
    bad_cd[n - 6..n - 2].copy_from_slice(&0xFFFF_FF00u32.to_le_bytes());
    expect_err("central directory offset past the end", "a.npz", &bad_cd, "central directory");
    expect_err("member count overflows", "a.npz", &zip_with(&[ZipMember { name: "w.npy", data: &member, deflate: false }], None, Some(60000)), "cannot fit");
    // Zip bombs: a declared size over the limit, a ratio deflate cannot produce, and a member
    // that inflates past what it declares.
    let lie = |l: Lie| zip_with(&[ZipMember { name: "w.npy", data: &member, deflate: true }], Some(l), None);
    expect_err("declares 4 GB from a few bytes", "a.npz", &lie(Lie { uncompressed: Some(0xFFFF_FFF0), ..Default::default() }), "zip bomb");
    let zeros = {
        // Declares 4 MiB (a 128-byte header and 1048544 floats) but inflates to 64 MiB.
        let mut z = npy("(1048544,)", 0);
        assert_eq!(z.len(), 128);
        z.extend(std::iter::repeat_n(0u8, 64 << 20));
        z
    };
    let bomb = zip_with(&[ZipMember { name: "w.npy", data: &zeros, deflate: true }], Some(Lie { uncompressed: Some(4 << 20), ..Default::default() }), None);
    assert!(bomb.len() < 200_000, "{}", bomb.len());
    expect_err("inflates past its declared size", "bomb.npz", &bomb, "zip bomb");
    expect_err("bad CRC", "a.npz", &lie(Lie { crc: Some(1234), ..Default::default() }), "CRC-32");
    expect_err("encrypted", "a.npz", &lie(Lie { flags: Some(1), ..Default::default() }), "encrypted");
    expect_err("bzip2", "a.npz", &lie(Lie { method: Some(12), ..Default::default() }), "compression method 12");
    expect_err("local header elsewhere", "a.npz", &lie(Lie { header_offset: Some(3), ..Default::default() }), "no local header");
    expect_err("runs into the central directory", "a.npz", &lie(Lie { compressed: Some(100_000), ..Default::default() }), "central directory");
    let stored_lie = zip_with(&[ZipMember { name: "w.npy", data: &member, deflate: false }], Some(Lie { uncompressed: Some(5), ..Default::default() }), None);
    expect_err("stored sizes disagree", "a.npz", &stored_lie, "stored member");
    let empty = npy("(0,)", 0);
    assert_eq!(outcome("zero elements", "z.npz", &zip(&[ZipMember { name: "e.npy", data: &empty, deflate: true }])), "OK");
    let short = npy("(40,)", 16);
    expect_err("member shorter than its array", "a.npz", &zip(&[ZipMember { name: "w.npy", data: &short, deflate: false }]), "truncated");
    expect_err("garbage deflate", "a.npz", &zip_with(&[ZipMember { name: "w.npy", data: &member, deflate: false }], Some(Lie { method: Some(8), ..Default::default() }), None), "declares 144");
}

#[test]
fn pytorch_cases() {
    let ok = torch_zip(&state_dict_pickle(&[2, 2], &[2, 1], 0, 4));
    assert_eq!(outcome("good", "m.pt", &ok), "OK");
    expect_err("os.system", "m.pt", &torch_zip(b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00lsq\x00\x85R."), "global 'os.system' is not allowed");
    expect_err("builtins.eval via STACK_GLOBAL", "m.pt", &torch_zip(b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93."), "global 'builtins.eval' is not allowed");
    expect_err("a module class", "m.pt", &torch_zip(b"\x80\x02ctorch.nn.modules.linear\nLinear\n."), "torch.nn.modules.linear.Linear");
    expect_err("INST", "m.pt", &torch_zip(b"\x80\x02(i__builtin__\nobject\n."), "INST");
    expect_err("NEWOBJ", "m.pt", &torch_zip(b"\x80\x02)\x81."), "NEWOBJ");
    expect_err("protocol 1", "m.pt", &torch_zip(b"\x80\x01."), "protocol 1");
    expect_err("no STOP", "m.pt", &torch_zip(b"\x80\x02}"), "without STOP");
    expect_err("string longer than the pickle", "m.pt", &torch_zip(b"\x80\x02X\xff\xff\xff\x7f"), "truncated");
    expect_err("memo never stored", "m.pt", &torch_zip(b"\x80\x02h\x05."), "memo entry 5");
    expect_err("empty stack", "m.pt", &torch_zip(b"\x80\x02R."), "empty stack");
    let mut deep = b"\x80\x02)".to_vec();
    deep.extend(std::iter::repeat_n(0x85u8, 100_000));
    deep.push(b'.');
    expect_err("deep nesting", "m.pt", &torch_zip(&deep), "nested deeper");
    let mut marks = b"\x80\x02".to_vec();
    marks.extend(std::iter::repeat_n(b'(', 100_000));
    expect_err("MARK flood", "m.pt", &torch_zip(&marks), "MARKs nested deeper");
    // torch.save(tensor): the bare tensor is listed as "tensor".
    let sd = state_dict_pickle(&[2], &[1], 0, 4);
    let at = sd.windows(13).position(|w| w == b"ctorch._utils").unwrap();
    let bare = [&b"\x80\x02"[..], &sd[at..sd.len() - 2], b"."].concat();
    let zipped = torch_zip(&bare);
    assert_eq!(outcome("bare tensor", "t.pt", &zipped), "OK");
    let mut src: &[u8] = &zipped;
    assert_eq!(formats::read_index("t.pt", &mut src).unwrap().tensors[0].name, "tensor");
    assert_eq!(outcome("zero elements", "z.pt", &torch_zip(&state_dict_pickle(&[0, 4], &[4, 1], 0, 4))), "OK");
    let mut dup = state_dict_pickle(&[2], &[1], 0, 4);
    // {"w": t} then SETITEMS again with the same key: the name appears twice.
    dup.truncate(dup.len() - 1);
    dup.extend_from_slice(b"(X\x01\x00\x00\x00wh\x0au.");
    expect_err("duplicate name", "m.pt", &torch_zip(&dup), "appears twice");
    expect_err("tensor past its storage", "m.pt", &torch_zip(&state_dict_pickle(&[4, 4], &[4, 1], 0, 16)), "outside its 16-byte storage");
    expect_err("offset past its storage", "m.pt", &torch_zip(&state_dict_pickle(&[2], &[1], 3, 4)), "outside");
    expect_err("non-contiguous", "m.pt", &torch_zip(&state_dict_pickle(&[2, 2], &[1, 3], 0, 4)), "non-contiguous");
    let mut no_storage = state_dict_pickle(&[2], &[1], 0, 2);
    let pos = no_storage.windows(5).position(|w| w == b"\x01\x00\x00\x000").unwrap();
    no_storage[pos + 4] = b'9';
    expect_err("storage member missing", "m.pt", &torch_zip(&no_storage), "'m/data/9' is not in the archive");
    expect_err("legacy", "old.pt", b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", "_use_new_zipfile_serialization=True");
    let bad_order = zip(&[
        ZipMember { name: "m/data.pkl", data: &state_dict_pickle(&[2], &[1], 0, 4), deflate: false },
        ZipMember { name: "m/byteorder", data: b"middle", deflate: false },
    ]);
    expect_err("byteorder", "m.pt", &bad_order, "byteorder");
    // A deflated data.pkl declaring a bomb.
    let pkl = state_dict_pickle(&[2], &[1], 0, 4);
    let bomb = zip_with(&[ZipMember { name: "m/data.pkl", data: &pkl, deflate: true }], Some(Lie { uncompressed: Some(0x7FFF_FFFF), ..Default::default() }), None);
    expect_err("pickle bomb", "m.pt", &bomb, "over the limit");
}

#[test]
fn torchscript_cases() {
    let archive = |members: &[(&str, &[u8])]| zip(&members.iter().map(|(name, data)| ZipMember { name, data, deflate: false }).collect::<Vec<_>>());
    let floats = [0u8; 16];
    let ok = archive(&[("m/data.pkl", &ts_module(&ts_tensor("FloatStorage", "0", 4, None))), ("m/data/0", &floats)]);
    assert_eq!(outcome("good", "m.pt", &ok), "OK");
    let mut src: &[u8] = &ok;
    assert_eq!(formats::read_index("m.pt", &mut src).unwrap().tensors[0].name, "w");
    // A deeper pickle that happens to be called data.pkl is not the archive's.
    let deeper = archive(&[("m/extra/data.pkl", b"not a pickle"), ("m/data.pkl", &ts_module(&ts_tensor("FloatStorage", "0", 4, None))), ("m/data/0", &floats)]);
    assert_eq!(outcome("deeper data.pkl first", "m.pt", &deeper), "OK");
    // Globals outside the allowed set stay errors inside a module's state; nothing is called.
    expect_err("unknown global in a module", "m.pt", &archive(&[("m/data.pkl", &ts_module(b"ctorch.nn\nLinear\n"))]), "global 'torch.nn.Linear' is not allowed");
    expect_err("os.system as a module attribute", "m.pt", &archive(&[("m/data.pkl", &ts_module(b"cos\nsystem\nX\x02\x00\x00\x00ls\x85R"))]), "global 'os.system' is not allowed");
    expect_err("NEWOBJ of a non-class", "m.pt", &archive(&[("m/data.pkl", b"\x80\x02ccollections\nOrderedDict\n)\x81.")]), "not a TorchScript class");
    expect_err("tensor table id", "m.pt", &archive(&[("m/data.pkl", &ts_module(b"ctorch.jit._pickle\nbuild_tensor_from_id\n(K\x00tR"))]), "build_tensor_from_id");
    expect_err("unknown qscheme", "m.pt", &archive(&[("m/data.pkl", &ts_module(&ts_tensor("QInt8Storage", "0", 4, Some(b"(ctorch\nper_tensor_symmetric\nG?\xf0\x00\x00\x00\x00\x00\x00K\x00t"))))]), "global 'torch.per_tensor_symmetric' is not allowed");
    expect_err("quantizer with a string scale", "m.pt", &archive(&[("m/data.pkl", &ts_module(&ts_tensor("QInt8Storage", "0", 4, Some(b"(ctorch\nper_tensor_affine\nX\x01\x00\x00\x00aK\x00t")))), ("m/data/0", &floats)]), "the scale is not a number");
    // A tensor's storage missing, in data/ and in constants/.
    expect_err("storage missing", "m.pt", &archive(&[("m/data.pkl", &ts_module(&ts_tensor("FloatStorage", "7", 4, None)))]), "'m/data/7' is not in the archive");
    let constants = [&b"\x80\x02"[..], &ts_tensor("FloatStorage", "0", 2, None), b"\x85."].concat();
    let with_constants = |c: &[u8]| archive(&[("m/data.pkl", &ts_module(b"N")), ("m/constants.pkl", &constants), ("m/constants/0", c)]);
    let ok = with_constants(&[0; 8]);
    let mut src: &[u8] = &ok;
    assert_eq!(formats::read_index("m.pt", &mut src).unwrap().tensors[0].name, "CONSTANTS.c0");
    expect_err("constant past its storage", "m.pt", &with_constants(&[0; 4]), "outside its 4-byte storage");
    expect_err("constant storage missing", "m.pt", &archive(&[("m/data.pkl", &ts_module(b"N")), ("m/constants.pkl", &constants)]), "'m/constants/0' is not in the archive");
    expect_err("constants not a tuple", "m.pt", &archive(&[("m/data.pkl", &ts_module(b"N")), ("m/constants.pkl", b"\x80\x02}.")]), "constants.pkl does not hold a tuple");
    expect_err("constants.pkl truncated", "m.pt", &archive(&[("m/data.pkl", &ts_module(b"N")), ("m/constants.pkl", &constants[..constants.len() - 6])]), "constants.pkl byte");
    // Per-channel parameters: their own storages must be there and fit.
    let per_channel = |scales_key: &str| {
        let mut q = b"(ctorch\nper_channel_affine\n".to_vec();
        q.extend(ts_tensor("DoubleStorage", scales_key, 4, None));
        q.extend(ts_tensor("LongStorage", "2", 4, None));
        q.extend_from_slice(b"K\x00t");
        ts_module(&ts_tensor("QInt8Storage", "0", 4, Some(&q)))
    };
    let scales = [0.5f64, 0.25, 1.0, 2.0].iter().flat_map(|s| s.to_le_bytes()).collect::<Vec<u8>>();
    let zps = [0u8; 32];
    let codes = [1u8, 2, 0xFF, 4];
    let good = archive(&[("m/data.pkl", &per_channel("1")), ("m/data/0", &codes), ("m/data/1", &scales), ("m/data/2", &zps)]);
    let mut src: &[u8] = &good;
    let index = formats::read_index("m.pt", &mut src).unwrap();
    let w = &index.tensors[0];
    let values = decode_to_f32(w, &formats::read_tensor_bytes(&mut src, w).unwrap()).unwrap();
    assert_eq!(values, vec![0.5, 0.5, -1.0, 8.0], "(q − 0) · scale per channel");
    expect_err("scales storage missing", "m.pt", &archive(&[("m/data.pkl", &per_channel("5")), ("m/data/0", &codes), ("m/data/2", &zps)]), "'m/data/5' is not in the archive");
    expect_err("scales storage short", "m.pt", &archive(&[("m/data.pkl", &per_channel("1")), ("m/data/0", &codes), ("m/data/1", &scales[..16]), ("m/data/2", &zps)]), "outside its 16-byte storage");
}

#[test]
fn gguf_cases() {
    let f32_tensor: &[(&str, &[u64], u32, u64)] = &[("w", &[4], 0, 0)];
    assert_eq!(outcome("good", "a.gguf", &gguf(3, 0, &[], f32_tensor, 16)), "OK");
    expect_err("bad magic", "a.gguf", b"GGUX\x03\x00\x00\x00", "not a file format");
    expect_err("version 1", "a.gguf", &gguf(1, 0, &[], &[], 0), "version 1");
    expect_err("version 99", "a.gguf", &gguf(99, 0, &[], &[], 0), "unknown version 99");
    expect_err("big-endian", "a.gguf", &gguf(3u32.swap_bytes(), 0, &[], &[], 0), "big-endian");
    expect_err("kv count overflows", "a.gguf", &gguf(3, u64::MAX, &[], &[], 0), "over the limits");
    expect_err("kv count lies", "a.gguf", &gguf(3, 1000, &[], &[], 0), "cannot fit");
    let mut many = gguf(3, 0, &[], &[], 0);
    many[8..16].copy_from_slice(&(1u64 << 60).to_le_bytes());
    expect_err("tensor count overflows", "a.gguf", &many, "over the limits");
    many[8..16].copy_from_slice(&1000u64.to_le_bytes());
    expect_err("tensor count lies", "a.gguf", &many, "cannot fit");
    let mut long_key = Vec::new();
    long_key.extend_from_slice(&(u64::MAX - 3).to_le_bytes());
    expect_err("key length lies", "a.gguf", &gguf(3, 1, &long_key, &[], 0), "over the limit");
    let mut arr = 4u32.to_le_bytes().to_vec();
    arr.extend_from_slice(&(u64::MAX / 2).to_le_bytes());
    expect_err("array count overflows", "a.gguf", &gguf(3, 1, &kv("a", 9, &arr), &[], 0), "cannot fit");
    let mut nested = Vec::new();
    for _ in 0..20 {
        nested.extend_from_slice(&9u32.to_le_bytes());
        nested.extend_from_slice(&1u64.to_le_bytes());
    }
    expect_err("arrays nested too deep", "a.gguf", &gguf(3, 1, &kv("a", 9, &nested), &[], 64), "nested deeper");
    expect_err("unknown value type", "a.gguf", &gguf(3, 1, &kv("a", 77, &[0; 8]), &[], 0), "unknown value type 77");
    let mut str_lie = Vec::new();
    gguf_string(&mut str_lie, b"abc");
    str_lie.truncate(9);
    str_lie[..8].copy_from_slice(&1_000_000u64.to_le_bytes());
    expect_err("string value past the end", "a.gguf", &gguf(3, 1, &kv("a", 8, &str_lie), &[], 0), "over the limit");
    let two = [kv("a", 4, &1u32.to_le_bytes()), kv("a", 4, &2u32.to_le_bytes())].concat();
    expect_err("duplicate key", "a.gguf", &gguf(3, 2, &two, &[], 0), "appears twice");
    expect_err("alignment 3", "a.gguf", &gguf(3, 1, &kv("general.alignment", 4, &3u32.to_le_bytes()), &[], 0), "not a power of two");
    expect_err("alignment as a string", "a.gguf", &gguf(3, 1, &kv("general.alignment", 8, &[0; 8]), &[], 0), "must be a uint32");
    expect_err("5 dims", "a.gguf", &gguf(3, 0, &[], &[("w", &[1, 1, 1, 1, 1], 0, 0)], 4), "more than ggml's 4");
    expect_err("unknown type", "a.gguf", &gguf(3, 0, &[], &[("w", &[4], 5, 0)], 16), "unknown ggml type 5");
    expect_err("unaligned offset", "a.gguf", &gguf(3, 0, &[], &[("w", &[4], 0, 4)], 32), "not a multiple of the alignment");
    expect_err("past the end", "a.gguf", &gguf(3, 0, &[], &[("w", &[8], 0, 0)], 16), "run past the end");
    expect_err("overlap", "a.gguf", &gguf(3, 0, &[], &[("a", &[16], 0, 0), ("b", &[8], 0, 32)], 64), "overlaps");
    expect_err("partial block", "a.gguf", &gguf(3, 0, &[], &[("q", &[40], 8, 0)], 96), "whole 32-element blocks");
    expect_err("dims overflow", "a.gguf", &gguf(3, 0, &[], &[("w", &[1 << 40, 1 << 40], 0, 0)], 16), "overflows");
    expect_err("duplicate tensor", "a.gguf", &gguf(3, 0, &[], &[("w", &[4], 0, 0), ("w", &[4], 0, 32)], 48), "appears twice");
    assert_eq!(outcome("zero elements", "z.gguf", &gguf(3, 0, &[], &[("w", &[0, 4], 0, 0)], 0)), "OK");
}

#[test]
fn onnx_cases() {
    let raw = [0u8; 16];
    assert_eq!(outcome("good", "m.onnx", &onnx(&[tensor_proto("w", &[4], 1, Some(&raw))])), "OK");
    expect_err("raw_data length lies", "m.onnx", &onnx(&[tensor_proto("w", &[5], 1, Some(&raw))]), "needs 20");
    let good = onnx(&[tensor_proto("w", &[4], 1, Some(&raw))]);
    let mut cut = good.clone();
    cut.truncate(good.len() - 3);
    expect_err("graph cut short", "m.onnx", &cut, "truncated");
    let mut wire = good.clone();
    let at = wire.iter().position(|&b| b == 0x3a).unwrap(); // the graph's tag
    wire[at] = 0x3b; // wire type 3 (group start)
    expect_err("wire type 3", "m.onnx", &wire, "wire type 3");
    let mut ext = tensor_proto("w", &[4], 1, None);
    let mut entry = Vec::new();
    pb_len(&mut entry, 1, b"location");
    pb_len(&mut entry, 2, b"../../etc/passwd");
    pb_len(&mut ext, 13, &entry);
    pb_int(&mut ext, 14, 1);
    expect_err("external data outside the folder", "m.onnx", &onnx(&[ext]), "not a relative path inside");
    let mut abs = tensor_proto("w", &[4], 1, None);
    let mut entry = Vec::new();
    pb_len(&mut entry, 1, b"location");
    pb_len(&mut entry, 2, b"/etc/passwd");
    pb_len(&mut abs, 13, &entry);
    expect_err("absolute external path", "m.onnx", &onnx(&[abs]), "not a relative path inside");
    expect_err("negative dim", "m.onnx", &onnx(&[tensor_proto("w", &[u64::MAX], 1, Some(&raw))]), "negative or too large");
    expect_err("dims overflow", "m.onnx", &onnx(&[tensor_proto("w", &[1 << 40, 1 << 40], 1, Some(&raw))]), "overflows");
    let mut two = tensor_proto("w", &[4], 1, Some(&raw));
    pb_len(&mut two, 4, &raw);
    expect_err("two data sources", "m.onnx", &onnx(&[two]), "more than one place");
    let mut m = Vec::new();
    pb_int(&mut m, 1, 9);
    pb_len(&mut m, 2, b"no graph");
    expect_err("no graph", "m.onnx", &m, "without a graph");
    let mut varint = Vec::new();
    pb_int(&mut varint, 1, 9);
    varint.extend_from_slice(&[0x3a, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]);
    expect_err("varint over 64 bits", "m.onnx", &varint, "varint");
    let mut f16 = tensor_proto("h", &[2], 10, None);
    pb_len(&mut f16, 5, &[0xFF, 0xFF, 0x7F, 0x01]); // 2097151 then 1: not 16-bit
    expect_err("fp16 in int32_data over 16 bits", "m.onnx", &onnx(&[f16]), "not a 16-bit pattern");
    expect_err("no values", "m.onnx", &onnx(&[tensor_proto("w", &[4], 1, None)]), "no values");
    expect_err("no data_type", "m.onnx", &onnx(&[{
        let mut t = Vec::new();
        pb_int(&mut t, 1, 4);
        pb_len(&mut t, 8, b"w");
        t
    }]), "no data_type");
    expect_err("duplicate names", "m.onnx", &onnx(&[tensor_proto("w", &[4], 1, Some(&raw)), tensor_proto("w", &[4], 1, Some(&raw))]), "appears twice");
    assert_eq!(outcome("zero elements", "z.onnx", &onnx(&[tensor_proto("w", &[0, 4], 1, None)])), "OK");
}

#[test]
fn sharded_index_cases() {
    let bad = br#"{"weight_map": {"a": "../outside.safetensors"}}"#;
    expect_err("shard outside the folder", "model.safetensors.index.json", bad, "not a relative path inside");
    let not_obj = br#"{"weight_map": [1, 2]}"#;
    expect_err("weight_map not an object", "model.safetensors.index.json", not_obj, "no \"weight_map\" object");
    let missing = br#"{"weight_map": {"a": "nowhere.safetensors"}}"#;
    let got = outcome("shard not given", "model.safetensors.index.json", missing);
    assert!(got.contains("nowhere.safetensors") && got.contains("cannot open files next to it"), "{got}");
}

#[test]
fn gguf_long_key_over_a_long_array_of_arrays_reads_in_linear_time() {
    // Each item of an array of arrays is one more `value` call: with a key of 65 535 bytes (the
    // most a key may have) and 12-byte empty arrays, per-call text made from the key turned a
    // 25 MB file into ~140 GB of copying (6.5 s here, minutes for a GB); now 0.7 s in a debug build.
    let items: u64 = 1 << 21;
    let mut arr = 9u32.to_le_bytes().to_vec();
    arr.extend_from_slice(&items.to_le_bytes());
    for _ in 0..items {
        arr.extend_from_slice(&0u32.to_le_bytes());
        arr.extend_from_slice(&0u64.to_le_bytes());
    }
    // Compared with the same file under a 1-byte key, read in the same process (best of two each), so
    // a loaded machine slows both alike: the time must not grow with the key's length.
    let best_of_two = |key: &str| {
        let file = gguf(3, 1, &kv(key, 9, &arr), &[], 0);
        (0..2)
            .map(|_| {
                let start = std::time::Instant::now();
                assert_eq!(outcome("long array of arrays", "a.gguf", &file), "OK");
                start.elapsed()
            })
            .min()
            .expect("two runs")
    };
    let short = best_of_two("k");
    let long = best_of_two(&"k".repeat(65_535));
    assert!(long < short * 3 + std::time::Duration::from_millis(300), "a 65 535-byte key took {long:?} where a 1-byte key took {short:?}");
}

#[test]
fn onnx_constants_subgraphs_and_stored_quantization_cases() {
    let floats: Vec<u8> = [1.0f32, -2.0, 0.5, 4.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    // A Constant's tensor is listed under its output's name, a subgraph's under its own.
    let constant = onnx_node("Constant", &[], &["c"], &[onnx_attr("value", 5, 0, &tensor_proto("ignored", &[4], 1, Some(&floats)))]);
    let body = onnx_graph(&[], &[tensor_proto("inner", &[4], 1, Some(&floats))]);
    let branch = onnx_node("If", &["cond"], &["y"], &[onnx_attr("then_branch", 6, 0, &body), onnx_attr("else_branch", 6, 0, &onnx_graph(&[], &[]))]);
    let m = onnx_model(&onnx_graph(&[constant, branch], &[tensor_proto("inner", &[4], 1, Some(&floats))]));
    assert_eq!(outcome("constant and subgraph", "m.onnx", &m), "OK");
    let index = formats::parse_index("m.onnx", &m, m.len() as u64).unwrap();
    let names: Vec<&str> = index.tensors.iter().map(|t| t.name.as_str()).collect();
    // The main graph keeps the plain name; the If body's twin is qualified by its path.
    assert_eq!(names, ["inner", "c", "If_1/then_branch/inner"]);

    // Subgraphs nested past the limit: refused, not a stack overflow.
    let mut g = onnx_graph(&[], &[]);
    for _ in 0..40 {
        g = onnx_graph(&[onnx_node("If", &["c"], &["y"], &[onnx_attr("then_branch", 6, 0, &g)])], &[]);
    }
    expect_err("subgraphs 40 deep", "m.onnx", &onnx_model(&g), "nested more than 16 deep");

    // DequantizeLinear whose scale count lies about the axis: the codes stay listed as I8, said why.
    let codes = tensor_proto("q", &[2, 2], 3, Some(&[1, 2, 3, 4]));
    let scales = tensor_proto("s", &[3], 1, Some(&floats[..12]));
    let dq = onnx_node("DequantizeLinear", &["q", "s"], &["w"], &[onnx_attr("axis", 3, 0, &[])]);
    let m = onnx_model(&onnx_graph(&[dq], &[codes.clone(), scales]));
    assert_eq!(outcome("scales that lie", "m.onnx", &m), "OK");
    let index = formats::parse_index("m.onnx", &m, m.len() as u64).unwrap();
    assert!(index.tensor("q").unwrap().quant.is_none());
    let note = index.metadata.iter().find(|(k, _)| k == "not dequantized q").unwrap();
    assert!(note.1.contains("3 scales where shape [2, 2]"), "{note:?}");
    // An axis outside the rank.
    let scales = tensor_proto("s", &[2], 1, Some(&floats[..8]));
    let dq = onnx_node("DequantizeLinear", &["q", "s"], &["w"], &[onnx_attr("axis", 3, 7, &[])]);
    let m = onnx_model(&onnx_graph(&[dq], &[codes.clone(), scales.clone()]));
    let index = formats::parse_index("m.onnx", &m, m.len() as u64).unwrap();
    assert!(index.metadata.iter().any(|(k, v)| k == "not dequantized q" && v.contains("axis 7 is outside rank 2")), "{:?}", index.metadata);
    // Per axis done right: values as onnx Operators.md DequantizeLinear says, (q − 0) · s[axis 1].
    let dq = onnx_node("DequantizeLinear", &["q", "s"], &["w"], &[onnx_attr("axis", 3, 1, &[])]);
    let m = onnx_model(&onnx_graph(&[dq], &[codes, scales]));
    let index = formats::parse_index("m.onnx", &m, m.len() as u64).unwrap();
    let q = index.tensor("q").unwrap();
    let (o, n) = q.stored_range();
    assert_eq!(formats::decode_tensor(q, m[o as usize..(o + n) as usize].to_vec()).unwrap(), vec![1.0, -4.0, 3.0, -8.0]);
    assert_eq!(index.tensor("s").unwrap().parameter_of.as_deref(), Some("q"));

    // MatMulNBits whose K, N lie about B's bytes: listed as stored, said why.
    let b = tensor_proto("b", &[2, 1, 16], 2, Some(&[0x88; 32]));
    let s2 = tensor_proto("s", &[2], 1, Some(&floats[..8]));
    let attrs = [("K", 64u64), ("N", 2), ("bits", 4), ("block_size", 32)].map(|(k, v)| onnx_attr(k, 3, v, &[]));
    let mut nbits = onnx_node("MatMulNBits", &["a", "b", "s"], &["y"], &attrs);
    pb_len(&mut nbits, 7, b"com.microsoft");
    let m = onnx_model(&onnx_graph(&[nbits], &[b, s2]));
    let index = formats::parse_index("m.onnx", &m, m.len() as u64).unwrap();
    assert!(index.tensor("b").unwrap().quant.is_none(), "K=64 with one block of 32 per column");
    assert!(index.metadata.iter().any(|(k, v)| k == "not dequantized b" && v.contains("2 scales where N=2 columns of 2 blocks need 4")), "{:?}", index.metadata);
}

/// tests/fixtures/quantized/weights.tflite (scripts/make_quantized_fixtures.py).
fn tflite_fixture() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/quantized/weights.tflite")).unwrap()
}

#[test]
fn tflite_cases() {
    let good = tflite_fixture();
    assert_eq!(outcome("good", "m.tflite", &good), "OK");
    // The root offset out of range.
    let mut b = good.clone();
    b[0..4].copy_from_slice(&(good.len() as u32 + 8).to_le_bytes());
    expect_err("root past the end", "m.tflite", &b, "past the end of the file");
    // No file identifier: by name only, and the reader says what is wrong.
    let mut b = good.clone();
    b[4..8].copy_from_slice(b"XXXX");
    expect_err("no TFL3", "m.tflite", &b, "no 'TFL3' file identifier");
    // A buffer's data vector whose length lies (the first tensor's bytes, 128 of dense/kernel).
    let kernel: Vec<u8> = {
        let index = formats::parse_index("m.tflite", &good, good.len() as u64).unwrap();
        let t = index.tensor("dense/kernel").unwrap();
        let at = t.offset as usize - 4;
        assert_eq!(u32::from_le_bytes(good[at..at + 4].try_into().unwrap()), 128);
        let mut b = good.clone();
        b[at..at + 4].copy_from_slice(&129u32.to_le_bytes());
        b
    };
    expect_err("buffer length lies", "m.tflite", &kernel, "holds 129 bytes but shape [4, 8] of F32 needs 128");
    let mut huge = kernel.clone();
    let index = formats::parse_index("m.tflite", &good, good.len() as u64).unwrap();
    let at = index.tensor("dense/kernel").unwrap().offset as usize - 4;
    huge[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    expect_err("buffer length past the end", "m.tflite", &huge, "runs past the end of the file");
    // Truncated inside the tables.
    expect_err("cut in the header", "m.tflite", &good[..40], "truncated");
}

/// A folder of files in memory: a TF.js manifest opens its shards as siblings.
struct Folder {
    files: std::rc::Rc<std::collections::HashMap<String, Vec<u8>>>,
    name: String,
}

impl formats::ByteSource for Folder {
    fn len(&self) -> u64 {
        self.files[&self.name].len() as u64
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> quant_playground::Result<()> {
        let mut bytes: &[u8] = &self.files[&self.name];
        bytes.read_at(offset, buf)
    }
    fn sibling(&mut self, name: &str) -> quant_playground::Result<Box<dyn formats::ByteSource>> {
        if !self.files.contains_key(name) {
            return Err(quant_playground::Error::Io { path: name.to_string(), detail: "No such file or directory".into() });
        }
        Ok(Box::new(Folder { files: self.files.clone(), name: name.to_string() }))
    }
}

/// The first error from opening `model.json` among `files` and reading every tensor, or "OK".
fn tfjs_outcome(label: &str, files: &[(&str, &[u8])]) -> String {
    let files = std::rc::Rc::new(files.iter().map(|(n, b)| (n.to_string(), b.to_vec())).collect::<std::collections::HashMap<_, _>>());
    let run = || -> String {
        let mut src = Folder { files: files.clone(), name: "model.json".into() };
        let index = match formats::read_index("model.json", &mut src) {
            Ok(i) => i,
            Err(e) => return e.to_string(),
        };
        for t in index.tensors.iter().filter(|t| t.is_quantizable()) {
            if let Err(e) = formats::read_tensor_bytes(&mut src, t).and_then(|b| decode_to_f32(t, &b)) {
                return e.to_string();
            }
        }
        "OK".into()
    };
    catch_unwind(AssertUnwindSafe(run)).unwrap_or_else(|_| panic!("{label}: PANIC on malformed input"))
}

#[test]
fn tfjs_cases() {
    let manifest = |weights: &str, paths: &str| format!(r#"{{"format": "graph-model", "modelTopology": {{}}, "weightsManifest": [{{"paths": [{paths}], "weights": [{weights}]}}]}}"#);
    let w = r#"{"name": "w", "shape": [2, 3], "dtype": "float32"}, {"name": "q", "shape": [4], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 0.1, "min": -0.2}}"#;
    let good = manifest(w, r#""a.bin", "b.bin""#);
    // 24 + 4 bytes over shards of 20 and 8: w crosses into b.bin.
    let (a, b) = ([0u8; 20], [0u8; 8]);
    // Four bool weights of 2^62 bytes each: their offsets overflow 64 bits.
    let huge_bools = (0..4).map(|i| format!(r#"{{"name": "b{i}", "shape": [4611686018427387904], "dtype": "bool"}}"#)).collect::<Vec<_>>().join(", ");
    let cases: Vec<(&str, String, Vec<(&str, &[u8])>, &str)> = vec![
        ("reads", good.clone(), vec![("a.bin", &a), ("b.bin", &b)], "OK"),
        ("shards shorter", good.clone(), vec![("a.bin", &a), ("b.bin", &b[..7])], "group 0's weights need 28 bytes but its shards hold 27 (a.bin 20, b.bin 7): the shards are shorter than the manifest says"),
        ("shards longer", good.clone(), vec![("a.bin", &a), ("b.bin", &[0u8; 12])], "the shards are longer than the manifest says"),
        ("missing shard", good.clone(), vec![("a.bin", &a)], "names shard 'b.bin', which could not be opened next to it"),
        ("unknown dtype", manifest(r#"{"name": "w", "shape": [2], "dtype": "float64"}"#, r#""a.bin""#), vec![("a.bin", &a[..16])], "weight 'w' (group 0, weight 0): dtype 'float64' is not a TF.js weight dtype"),
        ("unknown quantization", manifest(r#"{"name": "w", "shape": [2], "dtype": "float32", "quantization": {"dtype": "int8"}}"#, r#""a.bin""#), vec![("a.bin", &a[..2])], "unknown quantization dtype 'int8'"),
        ("path escaping", manifest(w, r#""../a.bin""#), vec![("a.bin", &a)], "names shard '../a.bin', which is not a relative path inside the model's folder"),
        ("absolute path", manifest(w, r#""/tmp/a.bin""#), vec![], "not a relative path inside the model's folder"),
        ("not a manifest", r#"{"modelTopology": {"layers": []}, "weightsManifest": {"paths": "a.bin"}}"#.into(), vec![], "not a TF.js model.json or weights manifest: invalid type: map, expected a sequence"),
        ("no manifest", r#"{"modelTopology": {}}"#.into(), vec![], "without a \"weightsManifest\""),
        ("duplicate name", manifest(r#"{"name": "w", "shape": [1], "dtype": "float32"}, {"name": "w", "shape": [1], "dtype": "float32"}"#, r#""a.bin""#), vec![("a.bin", &a[..8])], "weight 'w' is listed twice"),
        ("huge shape", manifest(r#"{"name": "w", "shape": [4294967296, 4294967296, 4294967296], "dtype": "float32"}"#, r#""a.bin""#), vec![("a.bin", &a)], "overflows"),
        ("no paths", manifest(w, ""), vec![], "lists 2 weights but no shard paths"),
        ("sizes overflow", manifest(&huge_bools, r#""a.bin""#), vec![("a.bin", &a)], "add up to more bytes than a file can hold"),
    ];
    for (label, json, shards, needle) in cases {
        let mut files: Vec<(&str, &[u8])> = vec![("model.json", json.as_bytes())];
        files.extend(shards);
        let got = tfjs_outcome(label, &files);
        assert!(got.contains(needle), "{label}: got '{got}', wanted '{needle}'");
        if needle != "OK" {
            assert!(got.starts_with("model.json:"), "{label}: '{got}' does not name the manifest");
        }
    }
    // Truncated anywhere, or a byte flipped anywhere: an error or a reading, never a panic.
    let bytes = good.as_bytes();
    for cut in 0..bytes.len() {
        let _ = tfjs_outcome("truncated", &[("model.json", &bytes[..cut]), ("a.bin", &a), ("b.bin", &b)]);
    }
    for i in 0..bytes.len() {
        let mut flipped = bytes.to_vec();
        flipped[i] ^= 0x55;
        let _ = tfjs_outcome("flipped", &[("model.json", &flipped), ("a.bin", &a), ("b.bin", &b)]);
    }
}
