//! GGUF export: our ggml quantizers against the bytes ggml's own libggml-base.so made
//! (tests/fixtures/export/gguf, scripts/make_gguf_export_reference.py), our dequantizer against
//! ggml's dequantize_row_* of those bytes, and the GGUF writer read back by our own reader.
// Native only: wasm-pack builds every test target for wasm32.
#![cfg(not(target_arch = "wasm32"))]

#[path = "common/fnv.rs"]
mod fnv;
use fnv::fnv1a64;
#[path = "common/gguf_export.rs"]
mod gguf_export;
use gguf_export::export;

use quant_playground::export::gguf::{plan_gguf, GgufTarget};
use quant_playground::export::ExportPlan;
use quant_playground::formats::{self, FileIndex, Format};
use quant_playground::quant::ggml::{self, GgmlBlock, GgmlQuantize, GgmlType};
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/export/gguf")
}

fn manifest() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir().join("manifest.json")).unwrap()).unwrap()
}

/// A fixture .npy read by our own reader.
fn load_npy(name: &str) -> (Vec<usize>, Vec<f32>) {
    gguf_export::load_npy(&dir().join(name))
}

/// The generic twin harness, instantiated once per block type below: over every fixture case, our
/// `quantize_row_*_ref` gives ggml's bytes, our `dequantize_row_*` of ggml's bytes gives ggml's values
/// (their FNV-1a 64), and the registry path (`ggml::quantize_ref` / `ggml::dequantize`, what the
/// GGUF writer and the readers call) gives the same as the type's own block functions.
fn ggml_block_matches_reference<T: GgmlQuantize>() {
    let m = manifest();
    let mut cases = 0;
    let mut mismatches = Vec::new();
    for case in m["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let rec = &case["types"][T::NAME];
        assert!(rec.is_object(), "case {name} has no {} reference", T::NAME);
        let (shape, x) = load_npy(case["input"].as_str().unwrap());
        assert_eq!(shape, case["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect::<Vec<_>>());
        let want = std::fs::read(dir().join(rec["file"].as_str().unwrap())).unwrap();
        let mut got = vec![0u8; x.len() / T::BLOCK_LEN * T::BLOCK_BYTES];
        for (xb, y) in x.chunks_exact(T::BLOCK_LEN).zip(got.chunks_exact_mut(T::BLOCK_BYTES)) {
            T::quantize_block_ref(xb, y);
        }
        if got != want {
            let first = got.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
            mismatches.push(format!("{name}: first differing byte {first} (block {})", first / T::BLOCK_BYTES));
        }
        let mut via_registry = vec![0u8; got.len()];
        ggml::quantize_ref(T::TYPE, &x, &mut via_registry).unwrap();
        assert!(via_registry == got, "{name} {}: registry quantizer", T::NAME);
        // Our dequantizer of ggml's bytes gives ggml's dequantize_row_* values, bit for bit.
        let mut back = vec![0f32; x.len()];
        for (b, y) in want.chunks_exact(T::BLOCK_BYTES).zip(back.chunks_exact_mut(T::BLOCK_LEN)) {
            T::dequantize_block(b, y);
        }
        let back_bytes: Vec<u8> = back.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(fnv1a64(&back_bytes), rec["dequantized_fnv1a64"].as_str().unwrap(), "{name} {}: dequantized values", T::NAME);
        let via_registry = ggml::dequantize(T::TYPE, &want).unwrap();
        assert_eq!(via_registry.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), back.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        cases += 1;
    }
    assert!(mismatches.is_empty(), "{} of the {} cases differ from ggml's {}:\n{}", mismatches.len(), cases, T::NAME, mismatches.join("\n"));
    assert_eq!(cases, 15, "every case, none skipped");
}

/// A type whose bytes here are not its registry quantizer's: our `dequantize_row_*` of ggml's bytes
/// gives ggml's values, on every case, directly and through the registry.
fn ggml_block_decodes_reference<T: GgmlBlock>() {
    let m = manifest();
    let mut cases = 0;
    for case in m["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let rec = &case["types"][T::NAME];
        assert!(rec.is_object(), "case {name} has no {} reference", T::NAME);
        let want = std::fs::read(dir().join(rec["file"].as_str().unwrap())).unwrap();
        let mut back = vec![0f32; want.len() / T::BLOCK_BYTES * T::BLOCK_LEN];
        for (b, y) in want.chunks_exact(T::BLOCK_BYTES).zip(back.chunks_exact_mut(T::BLOCK_LEN)) {
            T::dequantize_block(b, y);
        }
        let back_bytes: Vec<u8> = back.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(fnv1a64(&back_bytes), rec["dequantized_fnv1a64"].as_str().unwrap(), "{name} {}: dequantized values", T::NAME);
        let via_registry = ggml::dequantize(T::TYPE, &want).unwrap();
        assert_eq!(via_registry.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), back.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        cases += 1;
    }
    assert_eq!(cases, 15, "every case, none skipped");
}

macro_rules! ggml_reference_tests {
    ($($test:ident: $t:ty),* $(,)?; decoded only: $($rtest:ident: $rt:ty),* $(,)?) => {
        $(#[test] fn $test() { ggml_block_matches_reference::<$t>(); })*
        $(#[test] fn $rtest() { ggml_block_decodes_reference::<$rt>(); })*
        /// Every decoded type has its instance above and every manifest type is decoded.
        #[test]
        fn every_decoded_type_is_checked_against_ggml() {
            let tested = [$(<$t as GgmlBlock>::NAME,)* $(<$rt as GgmlBlock>::NAME),*];
            let decoded: Vec<&str> = ggml::DECODED.iter().map(|c| c.name).collect();
            // The lattice (IQ) types are checked by tests/ggml_iq.rs against iq/manifest.json.
            let iq: serde_json::Value = serde_json::from_slice(&std::fs::read(dir().join("iq/manifest.json")).unwrap()).unwrap();
            let iq_types: Vec<String> = iq["cases"][0]["types"].as_object().unwrap().keys().cloned().collect();
            assert!(decoded.iter().all(|n| tested.contains(n) || iq_types.iter().any(|t| t == n)), "{decoded:?} vs {tested:?} + {iq_types:?}");
            assert!(tested.iter().all(|n| decoded.contains(n)), "{tested:?} vs {decoded:?}");
            for case in manifest()["cases"].as_array().unwrap() {
                for t in case["types"].as_object().unwrap().keys() {
                    assert!(tested.contains(&t.as_str()), "manifest names {t}, which has no instance here");
                }
            }
        }
    };
}

ggml_reference_tests! {
    q8_0_matches_ggml: ggml::Q8_0,
    q4_0_matches_ggml: ggml::Q4_0,
    q4_1_matches_ggml: ggml::Q4_1,
    q5_0_matches_ggml: ggml::Q5_0,
    q5_1_matches_ggml: ggml::Q5_1,
    q2_k_matches_ggml: ggml::Q2_K,
    q3_k_matches_ggml: ggml::Q3_K,
    q4_k_matches_ggml: ggml::Q4_K,
    q5_k_matches_ggml: ggml::Q5_K,
    q6_k_matches_ggml: ggml::Q6_K,
    q8_k_matches_ggml: ggml::Q8_K,
    tq1_0_matches_ggml: ggml::TQ1_0,
    tq2_0_matches_ggml: ggml::TQ2_0,
    mxfp4_matches_ggml: ggml::MXFP4,
    iq4_xs_matches_ggml: ggml::IQ4_XS;
    // IQ4_NL: these bytes are quantize_row_iq4_nl_ref's; the registry's quantizer is quantize_iq4_nl's,
    // checked with quantize_row_iq4_nl_ref in tests/ggml_iq.rs.
    decoded only:
    iq4_nl_decodes_as_ggml: ggml::IQ4_NL,
}

fn read_back(name: &str, bytes: &[u8]) -> FileIndex {
    let index = formats::read_index(name, &mut &bytes[..]).unwrap();
    assert_eq!(index.format, Format::Gguf);
    index
}

/// A safetensors file written by hand: (name, dtype, shape, element bytes).
fn safetensors(tensors: &[(&str, &str, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, dtype, shape, bytes) in tensors {
        let begin = data.len();
        data.extend_from_slice(bytes);
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [begin, data.len()]}),
        );
    }
    let mut json = serde_json::to_vec(&serde_json::Value::Object(header)).unwrap();
    while json.len() % 8 != 0 {
        json.push(b' ');
    }
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend(json);
    out.extend(data);
    out
}

/// A .npy (format 1.0) of little-endian f32 values.
fn npy_f32(shape: &[usize], x: &[f32]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_text}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(f32_bytes(x));
    out
}

fn f32_bytes(x: &[f32]) -> Vec<u8> {
    x.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn values(n: usize, seed: u32) -> Vec<f32> {
    // A deterministic spread of magnitudes and signs (no RNG crate needed).
    (0..n).map(|i| (((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32 / 16_777_216.0 - 0.5) * 0.1).collect()
}

#[test]
fn fixture_tensors_export_to_ggml_reference_bytes() {
    // A real source file (a fixture .npy) through the whole writer: the tensor's data in the GGUF
    // is exactly what ggml's quantize_row_*_ref made of it.
    let m = manifest();
    let mut identical = 0;
    for case in m["cases"].as_array().unwrap() {
        let npy = case["input"].as_str().unwrap();
        let source = std::fs::read(dir().join(npy)).unwrap();
        let index = formats::read_index(npy, &mut source.as_slice()).unwrap();
        for (t, target) in [
            ("Q8_0", GgufTarget::Q8_0),
            ("Q4_0", GgufTarget::Q4_0),
            ("Q4_1", GgufTarget::Q4_1),
            ("Q4_K", GgufTarget::Q4_K),
            ("Q6_K", GgufTarget::Q6_K),
            ("Q2_K", GgufTarget::Q2_K),
            ("Q3_K", GgufTarget::Q3_K),
            ("Q5_K", GgufTarget::Q5_K),
        ] {
            let (gguf, report) = export(&index, &source, target);
            let back = read_back("out.gguf", &gguf);
            let info = &back.tensors[0];
            assert_eq!(info.dtype.name(), t, "{npy}");
            assert_eq!(report.tensors[0].written_as, t);
            if npy == "nonfinite.npy" {
                assert!(report.tensors[0].note.as_deref().unwrap().starts_with("5 NaN/±Inf values"), "{:?}", report.tensors[0].note);
            } else {
                assert_eq!(report.tensors[0].note, None, "{npy} {t}: nothing to say");
            }
            let data = formats::read_tensor_bytes(&mut gguf.as_slice(), info).unwrap();
            let want = std::fs::read(dir().join(case["types"][t]["file"].as_str().unwrap())).unwrap();
            assert!(data == want, "{npy} → {t}: the GGUF's tensor bytes differ from ggml's");
            identical += 1;
        }
    }
    assert_eq!(identical, 15 * 8);
}

#[test]
fn written_file_reads_back_with_types_shapes_fallbacks_and_notes() {
    let w = values(4 * 512, 1);
    let odd = values(3 * 300, 2); // 300: not whole 32-blocks → F16 for every block type
    let mid = values(2 * 320, 3); // 320: whole 32-blocks, not 256 → Q5_0 / Q8_0 for Q4_K / Q6_K
    let bias = values(512, 4);
    let bf16: Vec<u8> = values(2 * 256, 5).iter().flat_map(|v| half::bf16::from_f32(*v).to_bits().to_le_bytes()).collect();
    let ids: Vec<u8> = [7i32, -1, 3].iter().flat_map(|v| v.to_le_bytes()).collect();
    let src = safetensors(&[
        ("w", "F32", vec![4, 512], f32_bytes(&w)),
        ("bias", "F32", vec![512], f32_bytes(&bias)),
        ("odd", "F32", vec![3, 300], f32_bytes(&odd)),
        ("mid", "F32", vec![2, 320], f32_bytes(&mid)),
        ("h", "BF16", vec![2, 256], bf16),
        ("ids", "I32", vec![3], ids.clone()),
        ("mask", "U8", vec![4], vec![1, 0, 1, 1]),
        ("row", "F32", vec![1, 256], f32_bytes(&w[..256])),
    ]);
    let index = formats::read_index("model.safetensors", &mut src.as_slice()).unwrap();
    let expect = |target: GgufTarget| -> Vec<(&'static str, &'static str, Vec<usize>)> {
        let (main, mid_t) = match target {
            GgufTarget::Q4_K => ("Q4_K", "Q5_0"),
            GgufTarget::Q6_K => ("Q6_K", "Q8_0"),
            t => (t.name(), t.name()),
        };
        vec![
            ("w", main, vec![4, 512]),
            ("bias", "F32", vec![512]),
            ("odd", "F16", vec![3, 300]),
            ("mid", mid_t, vec![2, 320]),
            ("h", main, vec![2, 256]),
            ("ids", "I32", vec![3]),
            ("row", "F32", vec![1, 256]),
        ]
    };
    for target in [GgufTarget::F16, GgufTarget::Q8_0, GgufTarget::Q4_0, GgufTarget::Q4_1, GgufTarget::Q4_K, GgufTarget::Q6_K] {
        let (gguf, report) = export(&index, &src, target);
        let back = read_back("model.gguf", &gguf);
        let got: Vec<(String, String, Vec<usize>)> =
            back.tensors.iter().map(|t| (t.name.clone(), t.dtype.name().to_string(), t.shape.clone())).collect();
        let want: Vec<(String, String, Vec<usize>)> =
            expect(target).into_iter().map(|(n, d, s)| (n.to_string(), d.to_string(), s)).collect();
        assert_eq!(got, want, "{target:?}");
        // Every tensor's bytes: what our quantizers make of the source values (their identity with
        // ggml is the test above), at offsets aligned to 32.
        for t in &back.tensors {
            assert_eq!(t.offset % 32, 0, "{}", t.name);
            let data = formats::read_tensor_bytes(&mut gguf.as_slice(), t).unwrap();
            let src_info = index.tensor(&t.name).unwrap();
            let (o, l) = src_info.stored_range();
            let src_vals = formats::decode_tensor(src_info, src[o as usize..(o + l) as usize].to_vec());
            let mut want = vec![0u8; t.byte_len as usize];
            match t.dtype.name() {
                "I32" => want = ids.clone(),
                "F32" => want = f32_bytes(&src_vals.unwrap()),
                "F16" => ggml::quantize_row_f16(&src_vals.unwrap(), &mut want).unwrap(),
                name => ggml::quantize_ref(GgmlType::from_name(name).unwrap(), &src_vals.unwrap(), &mut want).unwrap(),
            }
            assert!(data == want, "{target:?} {}: bytes", t.name);
        }
        // The report says why each tensor is not the type asked for, and what was skipped.
        let note = |n: &str| report.tensors.iter().find(|t| t.name == n).unwrap().note.clone().unwrap_or_default();
        if target == GgufTarget::F16 {
            assert_eq!(note("odd"), "", "F16 has no block: nothing falls back");
        } else {
            assert!(note("odd").contains("row length 300 is not a multiple of"), "{}", note("odd"));
        }
        assert!(note("bias").contains("1-D"), "{}", note("bias"));
        assert!(note("row").contains("1-D"), "[1, 256] is 1-D for ggml: {}", note("row"));
        assert!(note("mask").contains("U8 has no GGUF type"), "{}", note("mask"));
        assert_eq!(report.tensors.iter().find(|t| t.name == "mask").unwrap().written_as, "skipped");
        let order: Vec<&str> = report.tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(order, ["w", "bias", "odd", "mid", "h", "ids", "mask", "row"], "the report follows the source");
        if target == GgufTarget::Q4_K {
            assert!(note("mid").contains("written as Q5_0, as llama.cpp's tensor_type_fallback does"), "{}", note("mid"));
            assert!(note("odd").contains("nor of 32 (Q5_0's fallback): written as F16"), "{}", note("odd"));
        }
        if target == GgufTarget::Q8_0 {
            assert!(note("odd").contains("llama-quantize stops here"), "{}", note("odd"));
        }
        // Metadata: what is true of a non-GGUF source, plus llama.cpp's quantization version.
        let kv = |k: &str| back.metadata.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        assert_eq!(kv("general.name").as_deref(), Some("\"model\""));
        assert_eq!(kv("general.quantization_version").as_deref(), Some("2"));
        assert_eq!(kv("general.architecture"), None);
        assert!(kv("quant_playground.source").unwrap().contains("model.safetensors (safetensors)"));
    }
}

#[test]
fn gguf_source_keeps_its_metadata_and_alignment_64() {
    for fixture in ["w_align64.gguf", "w.gguf"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formats").join(fixture);
        let src = std::fs::read(path).unwrap();
        let index = formats::read_index(fixture, &mut src.as_slice()).unwrap();
        let (gguf, report) = export(&index, &src, GgufTarget::Q4_K);
        let back = read_back("out.gguf", &gguf);
        let align = if fixture == "w_align64.gguf" { 64 } else { 32 };
        for t in &back.tensors {
            assert_eq!(t.offset % align, 0, "{fixture} {}", t.name);
        }
        // The data section starts aligned too: the first tensor's offset in the file.
        assert_eq!(back.tensors[0].offset % align, 0);
        // Every key-value pair of the source, typed and byte for byte, plus the two llama.cpp sets.
        let mut want: Vec<_> = index.detail.gguf_key_values().unwrap().iter().filter(|kv| kv.key != "general.file_type").cloned().collect();
        want.retain(|kv| kv.key != "general.quantization_version");
        let got: Vec<_> = back
            .detail
            .gguf_key_values()
            .unwrap()
            .iter()
            .filter(|kv| kv.key != "general.quantization_version" && kv.key != "general.file_type")
            .cloned()
            .collect();
        assert_eq!(got, want, "{fixture}");
        let qv = back.detail.gguf_key_values().unwrap().iter().find(|kv| kv.key == "general.quantization_version").unwrap();
        assert_eq!(qv.value, 2u32.to_le_bytes());
        // 1-D tensors are copied as stored; 2-D ones become Q4_K (requantized from block types).
        for t in &report.tensors {
            let src_t = index.tensor(&t.name).unwrap();
            let out_t = back.tensor(&t.name).unwrap();
            assert_eq!(out_t.shape, src_t.shape, "{}", t.name);
            if src_t.shape.len() == 1 {
                assert_eq!(t.written_as, src_t.dtype.name(), "{}", t.name);
                let (o, l) = src_t.stored_range();
                assert_eq!(formats::read_tensor_bytes(&mut gguf.as_slice(), out_t).unwrap(), src[o as usize..(o + l) as usize]);
            } else if src_t.dtype.is_quantizable() {
                assert_eq!(t.written_as, "Q4_K", "{}", t.name);
            } else {
                // Q2_K cannot be decoded here: copied as it is.
                assert_eq!(t.written_as, src_t.dtype.name(), "{}", t.name);
                assert!(t.note.as_deref().unwrap().contains("cannot be decoded here"));
            }
        }
    }
}

/// The page's path: the index reaches `make_plan` as JSON, which leaves the typed key-values out,
/// and only the pieces of the file the worker has read so far. The plan reads the key-values again
/// from the header, asking for the ranges it lacks, and writes the header the native index gives.
#[test]
fn an_index_from_json_reads_the_gguf_key_values_again_from_the_header() {
    use quant_playground::calib::Method;
    use quant_playground::export::{self, ExportTarget, IntExport};
    use quant_playground::quant::{Granularity, QuantSpec, Scheme};
    use quant_playground::Error;
    let fixture = "w_align64.gguf";
    let src = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formats").join(fixture)).unwrap();
    let native = formats::read_index(fixture, &mut src.as_slice()).unwrap();
    assert!(native.detail.gguf_key_values().is_some_and(|kvs| !kvs.is_empty()));
    let from_json = export::index_from_json(&serde_json::to_string(&native).unwrap()).unwrap();
    assert_eq!(from_json.detail, formats::FormatDetail::None);
    let target = ExportTarget::parse("gguf:Q4_K").unwrap();
    let config = IntExport { spec: QuantSpec::new(8, Scheme::Symmetric, Granularity::parse("tensor").unwrap()), method: Method::MinMax };
    let want = export::make_plan(&target, &native, &mut formats::SourceReader { file: fixture, source: &mut src.as_slice() }, config)
        .unwrap()
        .header()
        .unwrap();
    // Start from the first 64 bytes, as little as the worker could have, and add what is asked for.
    let mut pieces: Vec<(u64, Vec<u8>)> = vec![(0, src[..64].to_vec())];
    let mut rounds = 0;
    let plan = loop {
        let views: Vec<(u64, &[u8])> = pieces.iter().map(|(o, b)| (*o, b.as_slice())).collect();
        let mut reader = formats::Pieces { file: fixture, pieces: &views, len: src.len() as u64 };
        match export::make_plan(&target, &from_json, &mut reader, config) {
            Ok(plan) => break plan,
            Err(Error::NeedRange { offset, len, .. }) => pieces.push((offset, src[offset as usize..(offset + len) as usize].to_vec())),
            Err(e) => panic!("{e}"),
        }
        rounds += 1;
        assert!(rounds < formats::MAX_ROUNDS, "no plan after {rounds} rounds");
    };
    assert!(rounds > 0, "64 bytes cannot hold the header: the plan must have asked for more");
    assert_eq!(plan.header().unwrap(), want);
    // Without the key-values read again the header would lack them (and the alignment of 64).
    assert_ne!(plan_gguf(&from_json, GgufTarget::Q4_K).unwrap().header().unwrap(), want);
}

#[test]
fn bad_requests_are_specific_errors() {
    assert_eq!(GgufTarget::parse("q3_k").unwrap(), GgufTarget::Q3_K);
    let e = GgufTarget::parse("iq3_s").unwrap_err().to_string();
    assert!(e.contains("'iq3_s'") && e.contains("Q6_K"), "{e}");
    let src = safetensors(&[("w", "F32", vec![2, 32], f32_bytes(&values(64, 9)))]);
    let index = formats::read_index("m.safetensors", &mut src.as_slice()).unwrap();
    let mut plan = plan_gguf(&index, GgufTarget::Q8_0).unwrap();
    // Too few bytes for the tensor: an error naming it, not a panic.
    let e = plan.encode(0, vec![0u8; 10]).unwrap_err().to_string();
    assert!(e.contains("'w'"), "{e}");
    let e = plan.encode(3, vec![]).unwrap_err().to_string();
    assert!(e.contains("tensor 3"), "{e}");
}

/// Writes a source and its exports to a folder for scripts/check_export_gguf.py, which runs the
/// gguf package on them (see the script's usage). The folder is printed.
#[test]
fn writes_files_for_the_python_check() {
    let out = std::env::temp_dir().join("quant_playground_gguf_export");
    std::fs::create_dir_all(&out).unwrap();
    let src = safetensors(&[
        ("w", "F32", vec![8, 512], f32_bytes(&values(8 * 512, 11))),
        ("mid", "F32", vec![4, 320], f32_bytes(&values(4 * 320, 12))),
        ("odd", "F32", vec![2, 300], f32_bytes(&values(2 * 300, 13))),
        ("bias", "F32", vec![512], f32_bytes(&values(512, 14))),
        ("ids", "I32", vec![3], [1i32, 2, 3].iter().flat_map(|v| v.to_le_bytes()).collect()),
    ]);
    std::fs::write(out.join("src.safetensors"), &src).unwrap();
    let index = formats::read_index("src.safetensors", &mut src.as_slice()).unwrap();
    for target in ["F16", "Q8_0", "Q4_0", "Q4_1", "Q4_K", "Q6_K"] {
        let (gguf, _) = export(&index, &src, GgufTarget::parse(target).unwrap());
        let name = format!("src.{target}.gguf");
        std::fs::write(out.join(&name), &gguf).unwrap();
        // Our reader's decoded values of each written tensor, for the script's --ours check.
        let ours = out.join("ours").join(&name);
        std::fs::create_dir_all(&ours).unwrap();
        let back = read_back(&name, &gguf);
        for t in back.tensors.iter().filter(|t| t.dtype.is_quantizable()) {
            let vals = formats::decode_tensor(t, formats::read_tensor_bytes(&mut gguf.as_slice(), t).unwrap()).unwrap();
            std::fs::write(ours.join(format!("{}.npy", t.name)), npy_f32(&t.shape, &vals)).unwrap();
        }
    }
    // The repository's own fixtures: F64/F16 sources, rows of 7, 10 and 12, an empty tensor, ints.
    for (dir_name, fixture) in [("tests/fixtures/formats", "w.safetensors"), ("tests/fixtures", "small.safetensors"), ("www/examples", "digits-mlp.safetensors")] {
        let src = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(dir_name).join(fixture)).unwrap();
        std::fs::write(out.join(fixture), &src).unwrap();
        let index = formats::read_index(fixture, &mut src.as_slice()).unwrap();
        for target in ["F16", "Q8_0", "Q4_0", "Q4_1", "Q4_K", "Q6_K"] {
            let (gguf, _) = export(&index, &src, GgufTarget::parse(target).unwrap());
            std::fs::write(out.join(format!("{fixture}.{target}.gguf")), gguf).unwrap();
        }
    }
    // GGUF sources (metadata and alignment 64 carried over).
    for fixture in ["w.gguf", "w_align64.gguf"] {
        let src = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formats").join(fixture)).unwrap();
        let index = formats::read_index(fixture, &mut src.as_slice()).unwrap();
        for target in ["F16", "Q8_0", "Q4_0", "Q4_1", "Q4_K", "Q6_K"] {
            let (gguf, _) = export(&index, &src, GgufTarget::parse(target).unwrap());
            std::fs::write(out.join(format!("{fixture}.{target}.gguf")), gguf).unwrap();
        }
    }
    println!("wrote {}", out.display());
}
