//! A malformed-input corpus, generated here: truncations of the real fixture files at every byte,
//! safetensors headers that lie (length, offsets, shapes, dtypes, encoding, nesting) and .npy headers
//! that lie (version, dtype, shape, encoding, length). Every input must give an `Err` whose message
//! names the file and says what is wrong: never a panic (checked with catch_unwind), never a large
//! allocation (checked with a counting global allocator), never "give me more bytes" once the whole
//! file was given.
// Native only: wasm-pack builds every test target for wasm32; the browser tests are in tests/wasm.rs.
#![cfg(not(target_arch = "wasm32"))]

use quant_playground::formats::{self, npy, safetensors};
use quant_playground::tensor::{decode_to_f32, TensorInfo};
use quant_playground::Error;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};

// ---------------------------------------------------------------------------------------------
// The largest single allocation made by this thread, to prove that a lying header does not make the
// reader reserve what the header claims.
// ---------------------------------------------------------------------------------------------

struct Tracking;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|c| {
        if c.get() < size {
            c.set(size)
        }
    });
}

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// Reads a file the way the CLI and the page do: the index, then every tensor's bytes and values.
fn open_everything(name: &str, bytes: &[u8]) -> Result<usize, Error> {
    let mut source = bytes;
    let index = formats::read_index(name, &mut source)?;
    for info in &index.tensors {
        let raw = formats::read_tensor_bytes(&mut source, info)?;
        match decode_to_f32(info, &raw) {
            Ok(_) | Err(Error::NotQuantizable { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(index.tensors.len())
}

/// Runs `f` and returns its result, or a description of its panic, plus the largest allocation.
fn guarded<T>(f: impl FnOnce() -> T) -> (Result<T, String>, usize) {
    LARGEST.with(|c| c.set(0));
    let r = catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
    });
    (r, LARGEST.with(|c| c.get()))
}

/// No allocation above this while reading a malformed file of `len` bytes: the file itself, twice
/// over, plus a fixed allowance for the parsed header.
fn allocation_limit(len: usize) -> usize {
    2 * len + (1 << 20)
}

/// Checks one malformed input; returns a description of what went wrong, if anything.
fn check(name: &str, bytes: &[u8], needles: &[&str]) -> Option<String> {
    let (r, largest) = guarded(|| open_everything(name, bytes));
    match r {
        Err(panic) => Some(format!("{name}: PANIC: {panic}")),
        Ok(Ok(n)) => Some(format!("{name}: accepted ({n} tensors)")),
        Ok(Err(e)) => check_error(name, bytes.len(), &e, largest, needles),
    }
}

fn check_error(name: &str, len: usize, err: &Error, largest: usize, needles: &[&str]) -> Option<String> {
    let msg = err.to_string();
    let lower = msg.to_lowercase();
    if largest > allocation_limit(len) {
        return Some(format!("{name}: allocated {largest} bytes for a {len}-byte file ({msg})"));
    }
    if let Error::NeedMoreBytes { .. } = err {
        return Some(format!("{name}: asks for more bytes although the whole file was given: {msg}"));
    }
    if !msg.contains(name) {
        return Some(format!("{name}: message does not name the file: {msg}"));
    }
    if !needles.is_empty() && !needles.iter().any(|n| lower.contains(&n.to_lowercase())) {
        return Some(format!("{name}: message {msg:?} says none of {needles:?}"));
    }
    None
}

fn run_corpus(corpus: &[(String, Vec<u8>, Vec<&str>)]) {
    let failures: Vec<String> = corpus.iter().filter_map(|(name, bytes, needles)| check(name, bytes, needles)).collect();
    assert!(failures.is_empty(), "{} of {} malformed inputs mishandled:\n{}", failures.len(), corpus.len(), failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------------------------

fn st_with_len(n: u64, header: &[u8], data: usize) -> Vec<u8> {
    let mut v = n.to_le_bytes().to_vec();
    v.extend_from_slice(header);
    v.resize(v.len() + data, 0);
    v
}

fn st(header: &str, data: usize) -> Vec<u8> {
    st_with_len(header.len() as u64, header.as_bytes(), data)
}

fn npy_with(major: u8, minor: u8, header: &[u8], data: usize) -> Vec<u8> {
    let mut v = npy::MAGIC.to_vec();
    v.extend_from_slice(&[major, minor]);
    if major == 1 {
        v.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        v.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    v.extend_from_slice(header);
    v.resize(v.len() + data, 0);
    v
}

fn npy_dict(descr: &str, fortran: &str, shape: &str, data: usize) -> Vec<u8> {
    npy_with(1, 0, format!("{{'descr': {descr}, 'fortran_order': {fortran}, 'shape': {shape}, }}\n").as_bytes(), data)
}

const FIXTURES: &[(&str, &[u8])] = &[
    ("small.safetensors", include_bytes!("fixtures/small.safetensors")),
    ("small_bf16.safetensors", include_bytes!("fixtures/small_bf16.safetensors")),
    ("weight_f32.npy", include_bytes!("fixtures/npy/weight_f32.npy")),
    ("weight_be_f2.npy", include_bytes!("fixtures/npy/weight_be_f2.npy")),
    ("weight_fortran_3d.npy", include_bytes!("fixtures/npy/weight_fortran_3d.npy")),
    ("shared_v2.npy", include_bytes!("fixtures/npy/shared_v2.npy")),
    ("counts_i32.npy", include_bytes!("fixtures/npy/counts_i32.npy")),
    ("scalar_f32.npy", include_bytes!("fixtures/npy/scalar_f32.npy")),
];

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn the_intact_fixtures_open() {
    // The control group: the files the truncations are cut from are fine as a whole.
    for (name, bytes) in FIXTURES {
        let (r, _) = guarded(|| open_everything(name, bytes));
        let n = r.unwrap().unwrap_or_else(|e| panic!("{e}"));
        assert!(n >= 1, "{name}");
    }
}

#[test]
fn truncation_at_every_byte_is_an_error() {
    let mut failures = Vec::new();
    let mut count = 0;
    for (name, bytes) in FIXTURES {
        for cut in 0..bytes.len() {
            count += 1;
            let cut_bytes = &bytes[..cut];
            let (r, largest) = guarded(|| open_everything(name, cut_bytes));
            let problem = match r {
                Err(panic) => Some(format!("{name} cut at {cut}: PANIC: {panic}")),
                Ok(Ok(n)) => Some(format!("{name} cut at {cut}: accepted ({n} tensors)")),
                Ok(Err(e)) => {
                    // A .npy cut inside its 6-byte magic is no longer recognisable as .npy.
                    let unknown_ok = name.ends_with(".npy") && cut < 6;
                    match e {
                        Error::Malformed { .. } => check_error(name, cut, &e, largest, &[]),
                        Error::UnknownFormat { .. } if unknown_ok => check_error(name, cut, &e, largest, &["not a file format"]),
                        other => Some(format!("{name} cut at {cut}: unexpected kind of error: {other:?}")),
                    }
                    .map(|p| format!("cut at {cut}: {p}"))
                }
            };
            failures.extend(problem);
        }
    }
    assert!(count > 5000, "{count}");
    assert!(failures.is_empty(), "{} of {count} truncations mishandled:\n{}", failures.len(), failures[..failures.len().min(30)].join("\n"));
}

#[test]
fn truncated_files_name_what_is_missing() {
    // Hand-picked cuts of small.safetensors and weight_f32.npy (12×20 f32 = 960 bytes of data after a
    // 128-byte header) and the message each must give.
    let st_file = FIXTURES[0].1;
    let npy_file = FIXTURES[2].1;
    let n = u64::from_le_bytes(st_file[..8].try_into().unwrap()) as usize;
    let cases: Vec<(&str, &[u8], &str)> = vec![
        ("small.safetensors", &st_file[..0], "empty"),
        ("small.safetensors", &st_file[..5], "too short"),
        ("small.safetensors", &st_file[..8 + n / 2], "runs past the end"),
        ("small.safetensors", &st_file[..8 + n + 7], "run past the end of the data"),
        ("small.safetensors", &st_file[..st_file.len() - 1], "past the end of the data"),
        ("weight_f32.npy", &npy_file[..9], "too short"),
        ("weight_f32.npy", &npy_file[..100], "runs past the end"),
        ("weight_f32.npy", &npy_file[..128 + 959], "needs 960 bytes of data but the file holds 959"),
        ("weight_f32.npy", &npy_file[..128], "the file holds 0"),
    ];
    for (name, bytes, needle) in cases {
        let (r, _) = guarded(|| open_everything(name, bytes));
        let msg = r.unwrap().unwrap_err().to_string();
        assert!(msg.starts_with(name) && msg.contains(needle), "{} bytes: {msg:?} lacks {needle:?}", bytes.len());
    }
}

#[test]
fn safetensors_headers_that_lie() {
    let f32x2 = r#""dtype":"F32","shape":[2]"#;
    let mut corpus: Vec<(String, Vec<u8>, Vec<&str>)> = vec![
        ("empty.safetensors".into(), vec![], vec!["the file is empty"]),
        ("three_bytes.safetensors".into(), vec![1, 2, 3], vec!["too short"]),
        ("len_past_end.safetensors".into(), st_with_len(1000, b"{}", 0), vec!["runs past the end"]),
        ("len_one_past_end.safetensors".into(), st_with_len(3, b"{}", 0), vec!["runs past the end"]),
        // Over the spec's 100 MB limit: the content no longer looks like safetensors, so the dispatcher
        // may call it an unknown format; the format's own parser must say why (test below).
        ("len_over_limit.safetensors".into(), st_with_len(100_000_001, b"{}", 0), vec!["over the limit", "not a file format"]),
        ("len_u64_max.safetensors".into(), st_with_len(u64::MAX, b"{}", 0), vec!["over the limit", "not a file format"]),
        ("len_at_limit.safetensors".into(), st_with_len(100_000_000, b"{}", 0), vec!["runs past the end"]),
        ("offsets_past_end.safetensors".into(), st(&format!(r#"{{"a":{{{f32x2},"data_offsets":[0,8]}}}}"#), 4), vec!["past the end of the data"]),
        ("offsets_u64_max.safetensors".into(), st(r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[18446744073709551614,18446744073709551615]}}"#, 4), vec!["past the end of the data"]),
        ("offsets_overlap.safetensors".into(), st(&format!(r#"{{"a":{{{f32x2},"data_offsets":[0,8]}},"b":{{{f32x2},"data_offsets":[4,12]}}}}"#), 12), vec!["overlaps"]),
        ("offsets_same_range.safetensors".into(), st(&format!(r#"{{"a":{{{f32x2},"data_offsets":[0,8]}},"b":{{{f32x2},"data_offsets":[0,8]}}}}"#), 8), vec!["overlaps"]),
        ("offsets_gap.safetensors".into(), st(&format!(r#"{{"a":{{{f32x2},"data_offsets":[0,8]}},"b":{{{f32x2},"data_offsets":[12,20]}}}}"#), 20), vec!["gap"]),
        ("offsets_start_late.safetensors".into(), st(&format!(r#"{{"a":{{{f32x2},"data_offsets":[4,12]}}}}"#), 12), vec!["gap"]),
        ("offsets_reversed.safetensors".into(), st(r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#, 8), vec!["end before they begin"]),
        ("offsets_short_of_data.safetensors".into(), st(&format!(r#"{{"a":{{{f32x2},"data_offsets":[0,8]}}}}"#), 16), vec!["cover 8 bytes but the data area holds 16"]),
        ("offsets_negative.safetensors".into(), st(r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,4]}}"#, 4), vec!["not a non-negative integer"]),
        ("offsets_float.safetensors".into(), st(r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0.0,4.0]}}"#, 4), vec!["not a non-negative integer"]),
        ("offsets_three.safetensors".into(), st(r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}"#, 8), vec!["[begin, end]"]),
        ("offsets_missing.safetensors".into(), st(r#"{"a":{"dtype":"F32","shape":[1]}}"#, 4), vec!["missing array 'data_offsets'"]),
        ("size_mismatch.safetensors".into(), st(r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, 8), vec!["holds 8 bytes but shape [3] of F32 needs 12"]),
        ("elements_overflow_usize.safetensors".into(), st(r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,4]}}"#, 4), vec!["overflows the element count"]),
        ("elements_u64_max.safetensors".into(), st(r#"{"a":{"dtype":"U8","shape":[18446744073709551615,2],"data_offsets":[0,4]}}"#, 4), vec!["overflows the element count"]),
        ("bytes_overflow_u64.safetensors".into(), st(r#"{"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,4]}}"#, 4), vec!["byte size overflows"]),
        ("shape_negative.safetensors".into(), st(r#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, 4), vec!["non-negative integer"]),
        ("shape_negative_inner.safetensors".into(), st(r#"{"a":{"dtype":"F32","shape":[2,-2],"data_offsets":[0,16]}}"#, 16), vec!["non-negative integer"]),
        ("shape_beyond_u64.safetensors".into(), st(r#"{"a":{"dtype":"F32","shape":[99999999999999999999999],"data_offsets":[0,4]}}"#, 4), vec!["non-negative integer"]),
        ("shape_string.safetensors".into(), st(r#"{"a":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}"#, 4), vec!["non-negative integer"]),
        ("shape_missing.safetensors".into(), st(r#"{"a":{"dtype":"F32","data_offsets":[0,4]}}"#, 4), vec!["missing array 'shape'"]),
        ("dtype_unknown.safetensors".into(), st(r#"{"a":{"dtype":"Q9","shape":[1],"data_offsets":[0,4]}}"#, 4), vec!["dtype 'q9'"]),
        ("dtype_empty.safetensors".into(), st(r#"{"a":{"dtype":"","shape":[1],"data_offsets":[0,4]}}"#, 4), vec!["dtype ''"]),
        ("dtype_lowercase.safetensors".into(), st(r#"{"a":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}}"#, 4), vec!["dtype 'f32'"]),
        ("dtype_number.safetensors".into(), st(r#"{"a":{"dtype":7,"shape":[1],"data_offsets":[0,4]}}"#, 4), vec!["missing string 'dtype'"]),
        ("dtype_null.safetensors".into(), st(r#"{"a":{"dtype":null,"shape":[1],"data_offsets":[0,4]}}"#, 4), vec!["missing string 'dtype'"]),
        ("entry_not_object.safetensors".into(), st(r#"{"a":5}"#, 0), vec!["entry is not an object"]),
        ("metadata_not_object.safetensors".into(), st(r#"{"__metadata__":[1,2]}"#, 0), vec!["__metadata__ is not an object"]),
        ("metadata_not_string.safetensors".into(), st(r#"{"__metadata__":{"k":1}}"#, 0), vec!["'k' is not a string"]),
        ("header_not_json.safetensors".into(), st(r#"{"a": "#, 0), vec!["not valid json"]),
        ("header_trailing_garbage.safetensors".into(), st(r#"{} x"#, 0), vec!["not valid json"]),
        ("header_nul_padding.safetensors".into(), st("{}\0\0\0\0\0\0", 0), vec!["not valid json"]),
        (
            "header_not_utf8.safetensors".into(),
            st_with_len(57, b"{\"a\xff\xfe\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
            vec!["not utf-8"],
        ),
        (
            "header_nested_arrays.safetensors".into(),
            st(&format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000)), 0),
            vec!["not valid json"],
        ),
        (
            "header_nested_objects.safetensors".into(),
            st(&format!("{}{}", "{\"a\":".repeat(50_000), "}".repeat(50_000)).replacen("{\"a\":", "{\"__metadata__\":", 1), 0),
            vec!["not valid json"],
        ),
        ("header_unclosed_nesting.safetensors".into(), st(&format!("{{\"a\":{}", "[".repeat(200_000)), 0), vec!["not valid json"]),
    ];
    // A header that starts with '[' instead of '{': the content no longer looks like safetensors.
    corpus.push(("not_an_object.safetensors".into(), st("[1,2,3]", 0), vec!["not a file format", "must start with '{'"]));
    run_corpus(&corpus);
}

#[test]
fn safetensors_parser_names_the_header_length_limit() {
    // The dispatcher may not recognise a file whose header length is absurd; the format's own parser
    // says exactly what is wrong.
    for n in [100_000_001u64, 1 << 40, u64::MAX] {
        let f = st_with_len(n, b"{}", 0);
        let (r, largest) = guarded(|| safetensors::index_from_prefix("big.safetensors", &f, f.len() as u64));
        let msg = r.unwrap().unwrap_err().to_string();
        assert!(msg.contains("big.safetensors") && msg.contains(&format!("header length {n} is over the limit")), "{msg}");
        assert!(largest < 1 << 20);
    }
}

#[test]
fn npy_headers_that_lie() {
    let corpus: Vec<(String, Vec<u8>, Vec<&str>)> = vec![
        ("empty.npy".into(), vec![], vec!["the file is empty"]),
        ("magic_only.npy".into(), npy::MAGIC.to_vec(), vec!["too short"]),
        ("no_length.npy".into(), [&npy::MAGIC[..], &[1, 0]].concat(), vec!["too short"]),
        // Version 2.0 needs a 4-byte header length: 10 or 11 bytes cannot hold it.
        ("v2_short_length.npy".into(), [&npy::MAGIC[..], &[2, 0, 16, 0]].concat(), vec!["too short"]),
        ("v3_short_length.npy".into(), [&npy::MAGIC[..], &[3, 0, 16, 0, 0]].concat(), vec!["too short"]),
        ("version_0.npy".into(), npy_with(0, 0, b"{}", 0), vec!["version 0.0"]),
        ("version_4.npy".into(), npy_with(4, 0, b"{}", 0), vec!["version 4.0"]),
        ("version_255.npy".into(), npy_with(255, 255, b"{}", 0), vec!["version 255.255"]),
        ("structured.npy".into(), npy_dict("[('a', '<f4'), ('b', '<i4')]", "False", "(2,)", 16), vec!["structured"]),
        ("negative_dim.npy".into(), npy_dict("'<f4'", "False", "(-1,)", 4), vec!["non-negative integer"]),
        ("negative_inner_dim.npy".into(), npy_dict("'<f4'", "False", "(3, -2)", 24), vec!["non-negative integer"]),
        ("elements_overflow.npy".into(), npy_dict("'<f4'", "False", "(4294967296, 4294967296, 16)", 4), vec!["overflows the element count"]),
        ("bytes_overflow.npy".into(), npy_dict("'<f4'", "False", "(4611686018427387904,)", 4), vec!["byte size overflows"]),
        ("dim_beyond_usize.npy".into(), npy_dict("'<f4'", "False", "(99999999999999999999999,)", 4), vec!["too large"]),
        ("huge_shape_small_data.npy".into(), npy_dict("'<f8'", "False", "(1000000, 1000000)", 64), vec!["needs 8000000000000 bytes of data"]),
        ("shape_not_tuple.npy".into(), npy_dict("'<f4'", "False", "[2]", 8), vec!["expected '('"]),
        ("shape_nested.npy".into(), npy_dict("'<f4'", "False", "((2,),)", 8), vec!["non-negative integer"]),
        ("descr_complex.npy".into(), npy_dict("'<c8'", "False", "(1,)", 8), vec!["dtype '<c8'"]),
        ("descr_object.npy".into(), npy_dict("'|O'", "False", "(1,)", 8), vec!["dtype '|o'"]),
        ("descr_unicode.npy".into(), npy_dict("'<U10'", "False", "(1,)", 40), vec!["dtype '<u10'"]),
        ("descr_datetime.npy".into(), npy_dict("'<M8[ns]'", "False", "(1,)", 8), vec!["dtype '<m8[ns]'"]),
        ("descr_empty.npy".into(), npy_dict("''", "False", "(1,)", 4), vec!["dtype ''"]),
        ("descr_number.npy".into(), npy_dict("4", "False", "(1,)", 4), vec!["simple dtype string"]),
        ("fortran_not_bool.npy".into(), npy_dict("'<f4'", "'no'", "(1,)", 4), vec!["true or false"]),
        ("missing_shape.npy".into(), npy_with(1, 0, b"{'descr': '<f4', 'fortran_order': False}\n", 4), vec!["lacks 'shape'"]),
        ("missing_descr.npy".into(), npy_with(1, 0, b"{'fortran_order': False, 'shape': (1,)}\n", 4), vec!["lacks 'descr'"]),
        ("unexpected_key.npy".into(), npy_with(1, 0, b"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}\n", 4), vec!["unexpected key 'x'"]),
        ("not_a_dict.npy".into(), npy_with(1, 0, b"[1, 2]\n", 0), vec!["expected '{'"]),
        ("unterminated.npy".into(), npy_with(1, 0, b"{'descr': '<f4", 0), vec!["unterminated"]),
        ("unclosed_dict.npy".into(), npy_with(1, 0, b"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", 4), vec!["expected '}'"]),
        ("header_len_zero.npy".into(), npy_with(1, 0, b"", 4), vec!["expected '{'"]),
        ("header_past_end.npy".into(), {
            let mut f = npy_dict("'<f4'", "False", "(1,)", 4);
            f[8..10].copy_from_slice(&500u16.to_le_bytes());
            f
        }, vec!["runs past the end"]),
        ("header_over_limit.npy".into(), {
            let mut f = npy_with(2, 0, b"{}", 0);
            f[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
            f
        }, vec!["over numpy's limit"]),
        ("non_ascii_v1.npy".into(), npy_with(1, 0, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'é': 1}\n".as_bytes(), 4), vec!["not ascii"]),
        ("non_utf8_v3.npy".into(), npy_with(3, 0, b"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), '\xff': 1}\n", 4), vec!["not utf-8"]),
        ("truncated_data.npy".into(), npy_dict("'<f4'", "False", "(4,)", 12), vec!["needs 16 bytes of data but the file holds 12 (truncated?)"]),
        ("nested_parens.npy".into(), npy_dict("'<f4'", "False", &"(".repeat(5_000), 4), vec!["non-negative integer"]),
    ];
    run_corpus(&corpus);
}

#[test]
fn wrong_content_for_the_name_is_named() {
    let corpus: Vec<(String, Vec<u8>, Vec<&str>)> = vec![
        ("weights.bin".into(), b"GGUF\x03\x00\x00\x00 not something this tool reads".to_vec(), vec!["GGUF", "over the limits"]),
        // The content is a zip, so the zip reader names the problem whatever the name says.
        ("weights.npy".into(), b"PK\x03\x04 an .npz is a zip".to_vec(), vec!["zip"]),
        ("model.onnx".into(), vec![0x08, 0x07, 0x12, 0x04], vec!["ONNX", "truncated"]),
    ];
    run_corpus(&corpus);
}

/// The lazy-reading protocol of `parse_index`: handed a prefix of the file, it either answers as it
/// does for the whole file or asks for more with `NeedMoreBytes { needed }` where prefix < needed ≤ file
/// length (so a caller that reads what is asked for always makes progress and never reads past the end).
#[test]
fn short_prefixes_ask_for_more_bytes_or_give_the_final_answer() {
    let mut files: Vec<(String, Vec<u8>)> = FIXTURES.iter().map(|(n, b)| (n.to_string(), b.to_vec())).collect();
    files.push(("padded_header.safetensors".into(), {
        // A header longer than FIRST_READ (64 KiB), as a file with many tensors has.
        let mut h = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#.to_string();
        h.push_str(&" ".repeat(70_000));
        st(&h, 8)
    }));
    files.push(("truncated_data.npy".into(), npy_dict("'<f4'", "False", "(4,)", 12)));
    files.push(("v2_short_length.npy".into(), [&npy::MAGIC[..], &[2, 0, 16, 0]].concat()));
    files.push(("offsets_gap.safetensors".into(), st(r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, 8)));
    let mut failures = Vec::new();
    for (name, bytes) in &files {
        let len = bytes.len() as u64;
        let full = parse_index(name, bytes, len);
        if let Err(Error::NeedMoreBytes { .. }) = full {
            failures.push(format!("{name}: whole file given, still asks for more: {full:?}"));
            continue;
        }
        // .safetensors files are recognised by name while a prefix is too short to sniff (< 9 bytes);
        // .npy needs its 6-byte magic.
        let first = if name.ends_with(".npy") { 6 } else { 1 };
        let stride = if bytes.len() > 5000 { 97 } else { 1 };
        for p in (first..bytes.len()).step_by(stride) {
            match parse_index(name, &bytes[..p], len) {
                Err(Error::NeedMoreBytes { needed, .. }) if (needed as usize) > p && needed <= len => {}
                r if r == full => {}
                other => failures.push(format!("{name}: prefix of {p} of {len} bytes: {other:?} (whole file: {full:?})")),
            }
        }
        // read_index follows the protocol to the end for the big header too.
        let mut source: &[u8] = bytes;
        let r = guarded(|| formats::read_index(name, &mut source)).0.unwrap();
        if r != full {
            failures.push(format!("{name}: read_index gave {r:?}, parse_index of the whole file {full:?}"));
        }
    }
    failures.dedup_by(|a, b| a.split(':').next() == b.split(':').next());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn parse_index(name: &str, prefix: &[u8], len: u64) -> Result<formats::FileIndex, Error> {
    match guarded(|| formats::parse_index(name, prefix, len)).0 {
        Ok(r) => r,
        Err(panic) => panic!("{name}, prefix of {} bytes: PANIC {panic}", prefix.len()),
    }
}

#[test]
fn decode_with_an_inconsistent_tensor_description_is_an_error() {
    // The wasm layer deserializes a TensorInfo from JavaScript and hands it to decode_to_f32. A shape
    // whose element count overflows must be an error: today `element_count()` overflows (a panic in
    // debug builds), and in release the wrapped product 4·(2^62 + 1) = 4 matches the 4 bytes given, so
    // Vec::with_capacity(2^62 + 1) aborts. Found by this corpus and fixed in decode_to_f32.
    for shape in ["[4611686018427387905]", "[4294967296,4294967296,16]"] {
        let info: TensorInfo = serde_json::from_str(&format!(
            r#"{{"name":"w","dtype":"F32","shape":{shape},"offset":0,"byte_len":4,"big_endian":false,"fortran_order":false}}"#
        ))
        .unwrap();
        let (r, largest) = guarded(|| decode_to_f32(&info, &[0, 0, 128, 63]));
        let err = r.unwrap_or_else(|p| panic!("shape {shape}: PANIC {p}")).unwrap_err();
        assert!(err.to_string().contains('w'), "{err}");
        assert!(largest < 1 << 20);
    }
}
