//! Reference vectors: the Rust core against numbers numpy and safetensors made
//! (scripts/make_fixtures.py, which writes tests/fixtures/). Everything is compared bit for bit:
//! f32 by `to_bits`, integers exactly. The fixtures are compiled in with include_str!/include_bytes!,
//! so this file needs no file system and can be built for wasm32 as well.
// Native only: wasm-pack builds every test target for wasm32; the browser tests are in tests/wasm*.rs.
#![cfg(not(target_arch = "wasm32"))]

use quant_playground::formats::{self, Format};
use quant_playground::quant::{quantize_minmax, Codes, Granularity, IntFormat, QuantSpec, ScaleDType, Scheme};
use quant_playground::tensor::{decode_to_f32, DType};
use quant_playground::Error;
use serde::Deserialize;
use std::collections::BTreeMap;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

const QUANT_CASES: &str = include_str!("fixtures/reference/quant_cases.json");
const FILES_JSON: &str = include_str!("fixtures/reference/files.json");

macro_rules! fixture {
    ($path:literal) => {
        ($path, include_bytes!(concat!("fixtures/", $path)) as &[u8])
    };
}

/// Every fixture file, by its path under tests/fixtures/ (the keys of files.json).
const FIXTURE_FILES: &[(&str, &[u8])] = &[
    fixture!("small.safetensors"),
    fixture!("small_bf16.safetensors"),
    fixture!("npy/weight_f32.npy"),
    fixture!("npy/weight_f16.npy"),
    fixture!("npy/weight_f64.npy"),
    fixture!("npy/weight_be_f2.npy"),
    fixture!("npy/weight_fortran_3d.npy"),
    fixture!("npy/shared_f32.npy"),
    fixture!("npy/shared_f16.npy"),
    fixture!("npy/shared_f64.npy"),
    fixture!("npy/shared_be_f4.npy"),
    fixture!("npy/shared_fortran.npy"),
    fixture!("npy/shared_v2.npy"),
    fixture!("npy/counts_i32.npy"),
    fixture!("npy/scalar_f32.npy"),
];

#[derive(Deserialize)]
struct Case {
    name: String,
    shape: Vec<usize>,
    /// float32 values written as the exact f64 of each f32; `as f32` recovers the f32 even if the JSON
    /// parser's last f64 bit were off.
    x: Vec<f64>,
    bits: u8,
    scheme: Scheme,
    full_range: bool,
    granularity: Granularity,
    scales: Vec<f64>,
    zero_points: Vec<i32>,
    q: Vec<i32>,
    dequantized: Vec<f64>,
    clipped: usize,
    max_abs_err: f64,
    mse: f64,
}

impl Case {
    fn spec(&self) -> QuantSpec {
        QuantSpec {
            format: IntFormat { bits: self.bits, scheme: self.scheme, full_range: self.full_range },
            granularity: self.granularity,
            scale_dtype: ScaleDType::F32,
        }
    }
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&d| d as f32).collect()
}

fn cases() -> Vec<Case> {
    serde_json::from_str(QUANT_CASES).expect("quant_cases.json parses")
}

fn case(name: &str) -> Case {
    cases().into_iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no case {name}"))
}

/// Indices where two f32 slices differ in bits (both lengths must agree).
fn f32_mismatches(got: &[f32], want: &[f32]) -> Vec<String> {
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .enumerate()
        .filter(|(_, (g, w))| g.to_bits() != w.to_bits())
        .map(|(i, (g, w))| format!("[{i}] got {g:e} ({:#010x}) want {w:e} ({:#010x})", g.to_bits(), w.to_bits()))
        .collect()
}

fn int_mismatches(got: &[i32], want: &[i32]) -> Vec<String> {
    assert_eq!(got.len(), want.len());
    got.iter().zip(want).enumerate().filter(|(_, (g, w))| g != w).map(|(i, (g, w))| format!("[{i}] got {g} want {w}")).collect()
}

#[test]
fn quant_cases_cover_what_the_contract_names() {
    let cases = cases();
    assert!(cases.len() >= 30, "{} cases", cases.len());
    let has = |f: &dyn Fn(&Case) -> bool| cases.iter().any(f);
    for bits in [2, 3, 4, 8] {
        assert!(has(&|c| c.bits == bits), "no INT{bits} case");
    }
    assert!(has(&|c| c.scheme == Scheme::Symmetric && !c.full_range));
    assert!(has(&|c| c.scheme == Scheme::Symmetric && c.full_range));
    assert!(has(&|c| c.scheme == Scheme::Asymmetric));
    assert!(has(&|c| c.granularity == Granularity::PerChannel { axis: 0 }));
    assert!(has(&|c| matches!(c.granularity, Granularity::PerChannel { axis } if axis > 0 && axis + 1 < c.shape.len())));
    assert!(has(&|c| c.granularity == Granularity::PerGroup { size: 32 }));
    assert!(has(&|c| matches!(c.granularity, Granularity::PerGroup { size } if c.shape.last().unwrap() % size != 0)));
    // Exact ties: some x / scale is k + 0.5 exactly (in f64, so no rounding hides it).
    let ties: usize = cases
        .iter()
        .map(|c| {
            let spec = c.spec();
            let q = quantize_minmax(&f32s(&c.x), &c.shape, &spec).unwrap();
            let mut n = 0;
            q.layout.for_each_run(|start, len, slot| {
                let s = c.scales[slot];
                n += c.x[start..start + len].iter().filter(|&&v| (v / s).fract().abs() == 0.5).count();
            });
            n
        })
        .sum();
    assert!(ties >= 100, "only {ties} exact .5 ties");
}

#[test]
fn quantize_minmax_matches_numpy_bit_for_bit() {
    let mut failures = Vec::new();
    for c in cases() {
        let spec = c.spec();
        let x = f32s(&c.x);
        let n: usize = c.shape.iter().product();
        assert_eq!(x.len(), n, "{}: x has {} values for shape {:?}", c.name, x.len(), c.shape);
        let q = quantize_minmax(&x, &c.shape, &spec).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let mut bad = Vec::new();
        bad.extend(f32_mismatches(&q.scales, &f32s(&c.scales)).into_iter().map(|m| format!("scale {m}")));
        bad.extend(int_mismatches(&q.zero_points, &c.zero_points).into_iter().map(|m| format!("zero point {m}")));
        bad.extend(int_mismatches(&q.codes.to_i32(), &c.q).into_iter().map(|m| format!("q {m}")));
        bad.extend(f32_mismatches(&q.dequantize(), &f32s(&c.dequantized)).into_iter().map(|m| format!("x̂ {m}")));
        match (&q.codes, c.scheme) {
            (Codes::I8(_), Scheme::Symmetric) | (Codes::U8(_), Scheme::Asymmetric) => {}
            (codes, scheme) => bad.push(format!("{scheme:?} stored as {}", if matches!(codes, Codes::I8(_)) { "i8" } else { "u8" })),
        }
        if q.clipped != c.clipped {
            bad.push(format!("clipped {} want {}", q.clipped, c.clipped));
        }
        if q.nonfinite != 0 {
            bad.push(format!("nonfinite {} want 0", q.nonfinite));
        }
        if q.error.max_abs_err.to_bits() != (c.max_abs_err as f32).to_bits() {
            bad.push(format!("max_abs_err {:e} want {:e}", q.error.max_abs_err, c.max_abs_err));
        }
        // The kernels sum in f32 lanes over 64-element blocks; numpy sums in f64. Same values, another order.
        let mse = q.error.sum_ee / n as f64;
        if (mse - c.mse).abs() > 1e-5 * c.mse {
            bad.push(format!("mse {mse:e} want {:e}", c.mse));
        }
        if !bad.is_empty() {
            failures.push(format!("{} ({}): {} mismatches, first: {}", c.name, spec.label(), bad.len(), bad[..bad.len().min(5)].join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn ties_round_half_to_even() {
    // scale = 127·2^-6 / 127 = 2^-6 exactly, so x / scale = k + 0.5 exactly for the tie values.
    let c = case("ties_int8_sym_scale_2^-6");
    assert_eq!(c.scales, vec![0.015625]);
    let q = quantize_minmax(&f32s(&c.x), &c.shape, &c.spec()).unwrap();
    let mut checked = 0;
    for (i, &v) in c.x.iter().enumerate() {
        let t = v / 0.015625;
        if t.fract().abs() == 0.5 {
            let even = if (t.floor() as i64) % 2 == 0 { t.floor() } else { t.ceil() };
            assert_eq!(q.codes.get(i), even as i32, "x = {v} = {t} steps");
            checked += 1;
        }
    }
    assert_eq!(checked, 60);
    // Hand-worked: the zero point itself is a tie. lo = −100.5·2^-7, hi = 154.5·2^-7, scale = 2^-7,
    // zp = round(100.5) = 100; hi → round(154.5) + 100 = 254. With lo = −101.5·2^-7: zp = 102 and hi =
    // 153.5·2^-7 → 154 + 102 = 256, clamped to 255.
    let c = case("ties_int8_asym_zp_100.5");
    let q = quantize_minmax(&f32s(&c.x), &c.shape, &c.spec()).unwrap();
    assert_eq!((q.scales[0], q.zero_points[0]), (0.0078125, 100));
    assert_eq!((q.codes.get(0), q.codes.get(1)), (0, 254));
    let c = case("ties_int8_asym_zp_101.5");
    let q = quantize_minmax(&f32s(&c.x), &c.shape, &c.spec()).unwrap();
    assert_eq!((q.scales[0], q.zero_points[0]), (0.0078125, 102));
    assert_eq!((q.codes.get(0), q.codes.get(1), q.clipped), (0, 255, 1));
}

#[test]
fn lecture_example() {
    // FP32 [0.1, 0.5, 0.9, 1.2], symmetric INT8: scale = 1.2 / 127; 0.1/s = 10.58 → 11, 0.5/s = 52.92 → 53,
    // 0.9/s = 95.25 → 95, 1.2/s = 127.
    let spec = QuantSpec::new(8, Scheme::Symmetric, Granularity::PerTensor);
    let q = quantize_minmax(&[0.1, 0.5, 0.9, 1.2], &[4], &spec).unwrap();
    assert_eq!(q.scales[0].to_bits(), (1.2f32 / 127.0).to_bits());
    assert_eq!(q.codes, Codes::I8(vec![11, 53, 95, 127]));
    assert_eq!(q.zero_points, vec![0]);
    let s = 1.2f32 / 127.0;
    assert_eq!(q.dequantize(), vec![11.0 * s, 53.0 * s, 95.0 * s, 127.0 * s]);
    // And numpy agrees.
    let c = case("lecture_int8_sym");
    assert_eq!(c.q, vec![11, 53, 95, 127]);
    assert_eq!(c.scales[0] as f32, s);
}

#[test]
fn degenerate_channel_gets_scale_one() {
    // Row 5 of this weight is all zeros: scale 1 (sym: zp 0; asym: zp 0), every code at the zero point.
    for name in ["channel0_int8_sym_laplace_zero_row", "channel0_int8_asym_laplace_zero_row"] {
        let c = case(name);
        let q = quantize_minmax(&f32s(&c.x), &c.shape, &c.spec()).unwrap();
        assert_eq!((q.scales[5], q.zero_points[5]), (1.0, 0), "{name}");
        assert!((5 * 20..6 * 20).all(|i| q.codes.get(i) == 0), "{name}");
    }
}

// ---------------------------------------------------------------------------------------------
// Files written by safetensors / numpy
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct FilesJson {
    shared_tensor: SharedTensor,
    files: BTreeMap<String, FileEntry>,
}

#[derive(Deserialize)]
struct SharedTensor {
    shape: Vec<usize>,
    values: Vec<f64>,
}

#[derive(Deserialize)]
struct FileEntry {
    format: String,
    metadata: BTreeMap<String, String>,
    tensors: BTreeMap<String, TensorEntry>,
}

#[derive(Deserialize)]
struct TensorEntry {
    dtype: String,
    shape: Vec<usize>,
    values: Option<Vec<f64>>,
    int_values: Option<Vec<i64>>,
}

fn files_json() -> FilesJson {
    serde_json::from_str(FILES_JSON).expect("files.json parses")
}

/// One tensor as read: its name, stored bytes, and decoded values (an error for integer tensors).
type ReadTensor = (String, Vec<u8>, Result<Vec<f32>, Error>);

/// Index, then every tensor's bytes and (for float tensors) its f32 values, as the page reads a file.
fn open(name: &str, bytes: &[u8]) -> (formats::FileIndex, Vec<ReadTensor>) {
    let mut source = bytes;
    let index = formats::read_index(name, &mut source).unwrap_or_else(|e| panic!("{e}"));
    let tensors = index
        .tensors
        .iter()
        .map(|info| {
            let raw = formats::read_tensor_bytes(&mut source, info).unwrap_or_else(|e| panic!("{name}/{}: {e}", info.name));
            let values = decode_to_f32(info, &raw);
            (info.name.clone(), raw, values)
        })
        .collect();
    (index, tensors)
}

#[test]
fn every_fixture_file_is_listed_and_present() {
    let listed: Vec<String> = files_json().files.into_keys().collect(); // sorted: a BTreeMap
    let mut compiled: Vec<String> = FIXTURE_FILES.iter().map(|(n, _)| n.to_string()).collect();
    compiled.sort();
    assert_eq!(listed, compiled, "files.json and FIXTURE_FILES list different files");
}

#[test]
fn fixture_files_decode_to_the_values_numpy_stored() {
    let json = files_json();
    for (name, bytes) in FIXTURE_FILES {
        let entry = &json.files[*name];
        let (index, tensors) = open(name, bytes);
        let want_format = match entry.format.as_str() {
            "safetensors" => Format::Safetensors,
            "npy" => Format::Npy,
            other => panic!("{name}: unknown format {other} in files.json"),
        };
        assert_eq!(index.format, want_format, "{name}");
        assert_eq!(index.file_len, bytes.len() as u64, "{name}");
        let metadata: BTreeMap<String, String> = index.metadata.iter().cloned().collect();
        assert_eq!(metadata, entry.metadata, "{name}: metadata");
        let mut names: Vec<String> = tensors.iter().map(|(n, _, _)| n.clone()).collect();
        names.sort();
        assert_eq!(names, entry.tensors.keys().cloned().collect::<Vec<_>>(), "{name}: tensor names");
        for (tname, raw, decoded) in &tensors {
            let want = &entry.tensors[tname];
            let info = index.tensor(tname).unwrap();
            assert_eq!(info.dtype.name(), want.dtype, "{name}/{tname}: dtype");
            assert_eq!(info.shape, want.shape, "{name}/{tname}: shape");
            let n: usize = want.shape.iter().product();
            assert_eq!(info.byte_len, (n * info.dtype.size()) as u64, "{name}/{tname}: byte length");
            match (&want.values, &want.int_values) {
                (Some(values), None) => {
                    let got = decoded.as_ref().unwrap_or_else(|e| panic!("{name}/{tname}: {e}"));
                    let bad = f32_mismatches(got, &f32s(values));
                    assert!(bad.is_empty(), "{name}/{tname}: {} of {} values differ: {:?}", bad.len(), n, &bad[..bad.len().min(5)]);
                }
                (None, Some(ints)) => {
                    // Integer tensors are listed, not quantized; their bytes are still the right ones.
                    match decoded {
                        Err(Error::NotQuantizable { tensor, dtype }) => assert_eq!((tensor, dtype), (tname, &want.dtype)),
                        other => panic!("{name}/{tname}: integer tensor decoded as {other:?}"),
                    }
                    let got: Vec<i64> = match info.dtype {
                        DType::I64 => raw.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect(),
                        DType::I32 => raw.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap()) as i64).collect(),
                        other => panic!("{name}/{tname}: no integer check for {other:?}"),
                    };
                    assert_eq!(&got, ints, "{name}/{tname}");
                }
                _ => panic!("{name}/{tname}: files.json entry has neither values nor int_values"),
            }
        }
    }
}

#[test]
fn readers_report_layout_flags_from_the_headers() {
    let flags = |name: &str| {
        let (_, bytes) = FIXTURE_FILES.iter().find(|(n, _)| *n == name).unwrap();
        let mut source: &[u8] = bytes;
        let index = formats::read_index(name, &mut source).unwrap();
        let t = &index.tensors[0];
        (t.dtype, t.big_endian, t.fortran_order, t.shape.clone())
    };
    assert_eq!(flags("npy/shared_be_f4.npy"), (DType::F32, true, false, vec![6, 10]));
    assert_eq!(flags("npy/weight_be_f2.npy"), (DType::F16, true, false, vec![10]));
    assert_eq!(flags("npy/shared_fortran.npy"), (DType::F32, false, true, vec![6, 10]));
    assert_eq!(flags("npy/weight_fortran_3d.npy"), (DType::F32, false, true, vec![3, 4, 5]));
    assert_eq!(flags("npy/shared_v2.npy"), (DType::F32, false, false, vec![6, 10]));
    assert_eq!(flags("npy/scalar_f32.npy"), (DType::F32, false, false, vec![]));
    // The version-2.0 file really has the 2.0 header (4-byte length) that the script asked numpy for.
    let (_, v2) = FIXTURE_FILES.iter().find(|(n, _)| *n == "npy/shared_v2.npy").unwrap();
    assert_eq!(&v2[..8], b"\x93NUMPY\x02\x00");
}

#[test]
fn the_same_tensor_in_every_format_quantizes_to_the_same_integers() {
    let json = files_json();
    let shared = f32s(&json.shared_tensor.values);
    let shape = json.shared_tensor.shape.clone();
    let refs = [case("shared_int8_sym_channel0"), case("shared_int4_asym_group8")];
    let mut stores = Vec::new();
    for (name, bytes) in FIXTURE_FILES {
        let (index, tensors) = open(name, bytes);
        for (tname, _, decoded) in tensors.into_iter().filter(|(t, _, _)| t.starts_with("shared")) {
            let dtype = index.tensor(&tname).unwrap().dtype;
            let x = decoded.unwrap_or_else(|e| panic!("{name}/{tname}: {e}"));
            assert!(f32_mismatches(&x, &shared).is_empty(), "{name}/{tname} decodes to other values");
            for c in &refs {
                let q = quantize_minmax(&x, &shape, &c.spec()).unwrap();
                assert_eq!(q.codes.to_i32(), c.q, "{name}/{tname}: {}", c.name);
                assert!(f32_mismatches(&q.scales, &f32s(&c.scales)).is_empty(), "{name}/{tname}: {}", c.name);
                assert_eq!(q.zero_points, c.zero_points, "{name}/{tname}: {}", c.name);
            }
            stores.push(format!("{name}/{tname} ({})", dtype.name()));
        }
    }
    // safetensors F32, F16, F64, BF16; npy <f4, <f2, <f8, >f4, Fortran order, version 2.0.
    assert_eq!(stores.len(), 10, "{stores:?}");
}
