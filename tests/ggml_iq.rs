//! ggml's IQ (lattice) types against ggml's own libggml-base.so (tests/fixtures/export/gguf/iq,
//! scripts/make_iq_reference.py): our `dequantize_row_*` of the blocks ggml's `quantize_*` made of
//! the 15 export cases, of random blocks and of all-zero blocks gives ggml's f32 values bit for bit.
// Native only: wasm-pack builds every test target for wasm32.
#![cfg(not(target_arch = "wasm32"))]

#[path = "common/fnv.rs"]
mod fnv;
use fnv::fnv1a64;
#[path = "common/gguf_export.rs"]
mod gguf_export;

use quant_playground::formats;
use quant_playground::quant::ggml::{self, GgmlBlock};
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/export/gguf/iq")
}

fn manifest() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir().join("manifest.json")).unwrap()).unwrap()
}

/// `T::dequantize_block` over whole blocks, checked against the registry path the GGUF reader takes.
fn decode<T: GgmlBlock>(bytes: &[u8]) -> Vec<f32> {
    let mut back = vec![0f32; bytes.len() / T::BLOCK_BYTES * T::BLOCK_LEN];
    for (b, y) in bytes.chunks_exact(T::BLOCK_BYTES).zip(back.chunks_exact_mut(T::BLOCK_LEN)) {
        T::dequantize_block(b, y);
    }
    let via_registry = ggml::dequantize(T::TYPE, bytes).unwrap();
    assert!(via_registry.iter().map(|v| v.to_bits()).eq(back.iter().map(|v| v.to_bits())), "{}: registry decode", T::NAME);
    back
}

fn hash(values: &[f32]) -> String {
    fnv1a64(&values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())
}

/// Every case ggml could quantize, plus the random and all-zero blocks: our values are ggml's.
/// Returns (cases decoded, cases where ggml's quantizer aborted).
fn decodes_as_ggml<T: GgmlBlock>() -> (usize, usize) {
    let m = manifest();
    let (mut decoded, mut aborted) = (0, 0);
    for case in m["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let rec = &case["types"][T::NAME];
        assert!(rec.is_object(), "case {name} has no {} reference", T::NAME);
        if rec["aborted"].as_bool() == Some(true) {
            // ggml's quantizers assert on NaN/±Inf (no bytes to decode); the other cases must all run.
            assert_eq!(name, "nonfinite", "{}: ggml aborted on {name}", T::NAME);
            aborted += 1;
            continue;
        }
        let bytes = std::fs::read(dir().join(rec["file"].as_str().unwrap())).unwrap();
        let rows = case["shape"][0].as_u64().unwrap() as usize;
        let cols = case["shape"][1].as_u64().unwrap() as usize;
        assert_eq!(bytes.len(), rows * cols / T::BLOCK_LEN * T::BLOCK_BYTES, "{name}");
        let back = decode::<T>(&bytes);
        assert_eq!(hash(&back), rec["dequantized_fnv1a64"].as_str().unwrap(), "{name} {}: dequantized values", T::NAME);
        assert_eq!(back.iter().all(|v| v.is_finite()), rec["dequantized_all_finite"].as_bool().unwrap(), "{name}");
        decoded += 1;
    }
    let mut sets = 0;
    for rec in m["bytes"].as_array().unwrap().iter().filter(|r| r["type"] == T::NAME) {
        let file = rec["file"].as_str().unwrap();
        let bytes = std::fs::read(dir().join(file)).unwrap();
        let back = decode::<T>(&bytes);
        assert_eq!(back.len(), rec["blocks"].as_u64().unwrap() as usize * T::BLOCK_LEN);
        assert_eq!(hash(&back), rec["dequantized_fnv1a64"].as_str().unwrap(), "{file}: dequantized values");
        if file.starts_with("zero.") {
            assert!(back.iter().all(|v| *v == 0.0), "{file}: all-zero blocks decode to ±0, never NaN");
        }
        assert!(back.iter().all(|v| v.is_finite()), "{file}: finite scales give finite values");
        sets += 1;
    }
    assert_eq!(sets, 2, "{}: random and zero blocks", T::NAME);
    assert_eq!(decoded + aborted, 15, "{}: every case, none skipped", T::NAME);
    (decoded, aborted)
}

macro_rules! iq_decode_tests {
    ($($test:ident: $t:ty, aborted on nonfinite: $aborted:expr;)*) => {
        $(#[test] fn $test() { assert_eq!(decodes_as_ggml::<$t>(), (15 - $aborted, $aborted)); })*
        /// Every type in the manifest has its instance above.
        #[test]
        fn every_iq_reference_type_is_checked() {
            let tested = [$(<$t as GgmlBlock>::NAME),*];
            for case in manifest()["cases"].as_array().unwrap() {
                let names: Vec<&String> = case["types"].as_object().unwrap().keys().collect();
                assert_eq!(names.len(), tested.len());
                assert!(names.iter().all(|t| tested.contains(&t.as_str())), "{names:?} vs {tested:?}");
            }
        }
    };
}

iq_decode_tests! {
    iq2_xxs_decodes_as_ggml: ggml::IQ2_XXS, aborted on nonfinite: 0;
    iq2_xs_decodes_as_ggml: ggml::IQ2_XS, aborted on nonfinite: 1;
    iq2_s_decodes_as_ggml: ggml::IQ2_S, aborted on nonfinite: 1;
    iq3_xxs_decodes_as_ggml: ggml::IQ3_XXS, aborted on nonfinite: 1;
    iq3_s_decodes_as_ggml: ggml::IQ3_S, aborted on nonfinite: 1;
    iq1_s_decodes_as_ggml: ggml::IQ1_S, aborted on nonfinite: 0;
    iq1_m_decodes_as_ggml: ggml::IQ1_M, aborted on nonfinite: 1;
    iq4_nl_decodes_as_ggml: ggml::IQ4_NL, aborted on nonfinite: 0;
}

/// The fixture inputs are the export cases' committed .npy files, read by our own reader.
#[test]
fn cases_are_the_export_inputs() {
    let m = manifest();
    for case in m["cases"].as_array().unwrap() {
        let input = case["input"].as_str().unwrap();
        let bytes = std::fs::read(dir().join(input)).unwrap();
        let index = formats::read_index(input, &mut bytes.as_slice()).unwrap();
        let shape: Vec<usize> = case["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
        assert_eq!(index.tensors[0].shape, shape, "{input}");
    }
}

/// A GGUF file holding IQ tensors is decoded by the reader (it lists and compares them like the
/// other ggml types): one IQ3_S tensor of ggml's bytes, written as a minimal GGUF v3.
#[test]
fn a_gguf_with_an_iq_tensor_decodes_to_ggmls_values() {
    let m = manifest();
    let case = m["cases"].as_array().unwrap().iter().find(|c| c["name"] == "laplace").unwrap();
    let rec = &case["types"]["IQ3_S"];
    let data = std::fs::read(dir().join(rec["file"].as_str().unwrap())).unwrap();
    let (rows, cols) = (case["shape"][0].as_u64().unwrap(), case["shape"][1].as_u64().unwrap());
    let mut f = b"GGUF".to_vec();
    f.extend(3u32.to_le_bytes());
    f.extend(1u64.to_le_bytes()); // tensors
    f.extend(0u64.to_le_bytes()); // key-values
    f.extend((1u64).to_le_bytes());
    f.extend(b"w");
    f.extend(2u32.to_le_bytes()); // n_dims
    f.extend(cols.to_le_bytes()); // ne[0]: the row
    f.extend(rows.to_le_bytes());
    f.extend(21u32.to_le_bytes()); // GGML_TYPE_IQ3_S
    f.extend(0u64.to_le_bytes()); // offset in the data section
    while f.len() % 32 != 0 {
        f.push(0);
    }
    f.extend(&data);
    let index = formats::read_index("iq.gguf", &mut f.as_slice()).unwrap();
    let info = &index.tensors[0];
    assert_eq!((info.dtype.name(), info.shape.clone()), ("IQ3_S", vec![rows as usize, cols as usize]));
    assert!(info.is_quantizable(), "decoded, so it can be compared");
    let values = formats::decode_tensor(info, formats::read_tensor_bytes(&mut f.as_slice(), info).unwrap()).unwrap();
    assert_eq!(hash(&values), rec["dequantized_fnv1a64"].as_str().unwrap());
}

fn load_npy(name: &str) -> (Vec<usize>, Vec<f32>) {
    gguf_export::load_npy(&dir().join(name))
}

/// The registry's IQ4_NL quantizer gives the bytes of ggml's `quantize_iq4_nl` (NULL importance,
/// what ggml_quantize_chunk and so llama-quantize run) on every case, NaN/±Inf included.
#[test]
fn iq4_nl_quantizes_as_ggmls_quantize_iq4_nl() {
    use ggml::GgmlQuantize;
    let m = manifest();
    let mut identical = 0;
    for case in m["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let rec = &case["types"]["IQ4_NL"];
        assert_eq!(rec["made_by"], "quantize_iq4_nl(NULL)");
        let (shape, x) = load_npy(case["input"].as_str().unwrap());
        let want = std::fs::read(dir().join(rec["file"].as_str().unwrap())).unwrap();
        let mut got = vec![0u8; want.len()];
        ggml::quantize_ref(ggml::IQ4_NL::TYPE, &x, &mut got).unwrap();
        let first = got.iter().zip(&want).position(|(a, b)| a != b);
        assert_eq!(first, None, "{name}: first differing byte (block {:?})", first.map(|b| b / 18));
        let mut one = [0u8; 18];
        ggml::IQ4_NL::quantize_block_ref(&x[..32], &mut one);
        assert_eq!(one[..], want[..18]);
        // The whole-tensor path the comparison and the GGUF writer take: the same bytes and ggml's values.
        let (bytes, values) = ggml::round_trip(ggml::IQ4_NL::TYPE, &x, &shape).unwrap();
        assert!(bytes == want, "{name}: round trip bytes");
        assert_eq!(hash(&values), rec["dequantized_fnv1a64"].as_str().unwrap(), "{name}");
        identical += 1;
    }
    assert_eq!(identical, 15);
}

/// `IQ4_NL::quantize_row_ref` gives the bytes of ggml's `quantize_row_iq4_nl_ref` (one call over each
/// case, as scripts/make_gguf_export_reference.py makes them), codes carried into the blocks below
/// GROUP_MAX_EPS included. Only a leading run of such blocks differs: ggml's codes there are its
/// uninitialised stack buffer; their d (0) must still agree, and ours are code 8 (the level of 0).
#[test]
fn iq4_nl_row_ref_is_ggmls_quantize_row_iq4_nl_ref() {
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(dir().join("../manifest.json")).unwrap()).unwrap();
    let (mut compared, mut undefined, mut carried) = (0, 0, 0);
    for case in m["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (_, x) = load_npy(&format!("../{}", case["input"].as_str().unwrap()));
        let want = std::fs::read(dir().join("..").join(case["types"]["IQ4_NL"]["file"].as_str().unwrap())).unwrap();
        let mut got = vec![0u8; want.len()];
        ggml::IQ4_NL::quantize_row_ref(&x, &mut got);
        let mut leading = true;
        for (i, (xb, (g, w))) in x.chunks_exact(32).zip(got.chunks_exact(18).zip(want.chunks_exact(18))).enumerate() {
            let tiny = xb.iter().all(|v| v.abs() < 1e-15);
            leading &= tiny;
            if leading {
                assert_eq!((&g[..2], &w[..2]), (&[0u8, 0][..], &[0u8, 0][..]), "{name} block {i}: d");
                assert!(g[2..].iter().all(|&q| q == 0x88), "{name} block {i}: ours start at code 8");
                undefined += 1;
            } else {
                assert_eq!(g, w, "{name} block {i}");
                compared += 1;
                carried += tiny as usize;
            }
        }
    }
    // all_zero (32 blocks) is undefined throughout; tiny's rows of 1e-20 (32 blocks) and sparse's empty
    // blocks carry the codes of the block before them.
    assert_eq!((compared, undefined, carried), (1056, 32, 56));
    println!("quantize_row_iq4_nl_ref: {compared} blocks identical ({carried} with carried codes), {undefined} undefined in ggml");
}

/// `export --to gguf:IQ4_NL`: each case's .npy written as a GGUF whose tensor bytes are ggml's
/// `quantize_iq4_nl` bytes; and Q2_K rows of 320 fall back to IQ4_NL as llama.cpp's
/// tensor_type_fallback does (rows of 300 to F16).
#[test]
fn gguf_export_writes_ggmls_iq4_nl_bytes_and_q2_k_falls_back_to_it() {
    use gguf_export::export;
    use quant_playground::export::gguf::GgufTarget;
    let m = manifest();
    let mut identical = 0;
    for case in m["cases"].as_array().unwrap() {
        let npy = case["input"].as_str().unwrap();
        let source = std::fs::read(dir().join(npy)).unwrap();
        let index = formats::read_index(npy, &mut source.as_slice()).unwrap();
        let (gguf, report) = export(&index, &source, GgufTarget::parse("iq4_nl").unwrap());
        assert_eq!(report.tensors[0].written_as, "IQ4_NL");
        let back = formats::read_index("out.gguf", &mut gguf.as_slice()).unwrap();
        let data = formats::read_tensor_bytes(&mut gguf.as_slice(), &back.tensors[0]).unwrap();
        let want = std::fs::read(dir().join(case["types"]["IQ4_NL"]["file"].as_str().unwrap())).unwrap();
        assert!(data == want, "{npy}: the GGUF's tensor bytes differ from ggml's quantize_iq4_nl");
        identical += 1;
    }
    assert_eq!(identical, 15);
    // A .npy of [2, 320] and one of [2, 300] to Q2_K.
    for (cols, want) in [(320usize, "IQ4_NL"), (300, "F16")] {
        let (_, x) = load_npy("../laplace.npy");
        let x = &x[..2 * cols];
        let header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': (2, {cols}), }}");
        let mut npy = b"\x93NUMPY\x01\x00".to_vec();
        let pad = 64 - (10 + header.len() + 1) % 64;
        npy.extend(((header.len() + pad + 1) as u16).to_le_bytes());
        npy.extend(header.as_bytes());
        npy.extend(std::iter::repeat_n(b' ', pad));
        npy.push(b'\n');
        npy.extend(x.iter().flat_map(|v| v.to_le_bytes()));
        let index = formats::read_index("w.npy", &mut npy.as_slice()).unwrap();
        let (gguf, report) = export(&index, &npy, GgufTarget::Q2_K);
        assert_eq!(report.tensors[0].written_as, want, "{:?}", report.tensors[0].note);
        let back = formats::read_index("out.gguf", &mut gguf.as_slice()).unwrap();
        if want == "IQ4_NL" {
            assert!(report.tensors[0].note.as_deref().unwrap().contains("written as IQ4_NL, as llama.cpp's tensor_type_fallback does"));
            let data = formats::read_tensor_bytes(&mut gguf.as_slice(), &back.tensors[0]).unwrap();
            let mut expect = vec![0u8; 2 * cols / 32 * 18];
            ggml::quantize_ref(ggml::IQ4_NL::TYPE, x, &mut expect).unwrap();
            assert!(data == expect);
        }
    }
}

/// Our quantizer of a lattice type against the bytes ggml's `quantize_*` (NULL importance) made of
/// every case it ran on.
fn quantizes_as_ggml<T: ggml::GgmlQuantize>() -> usize {
    let m = manifest();
    let mut identical = 0;
    let mut mismatches = Vec::new();
    for case in m["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let rec = &case["types"][T::NAME];
        if rec["aborted"].as_bool() == Some(true) {
            continue;
        }
        assert!(rec["made_by"].as_str().unwrap().ends_with("(NULL)"), "{name}: {}", rec["made_by"]);
        let (_, x) = load_npy(case["input"].as_str().unwrap());
        let want = std::fs::read(dir().join(rec["file"].as_str().unwrap())).unwrap();
        let mut got = vec![0u8; want.len()];
        ggml::quantize_ref(T::TYPE, &x, &mut got).unwrap();
        match got.iter().zip(&want).position(|(a, b)| a != b) {
            None => identical += 1,
            Some(first) => mismatches.push(format!("{name}: first differing byte {first} (block {})", first / T::BLOCK_BYTES)),
        }
    }
    assert!(mismatches.is_empty(), "{} differ from ggml's {}:\n{}", mismatches.len(), T::NAME, mismatches.join("\n"));
    identical
}

#[test]
fn iq3_xxs_quantizes_as_ggmls_quantize_iq3_xxs() {
    // 14: ggml aborts on the NaN/Inf case.
    assert_eq!(quantizes_as_ggml::<ggml::IQ3_XXS>(), 14);
}

#[test]
fn iq3_s_quantizes_as_ggmls_quantize_iq3_s() {
    assert_eq!(quantizes_as_ggml::<ggml::IQ3_S>(), 14);
}

#[test]
fn iq2_s_quantizes_as_ggmls_quantize_iq2_s() {
    assert_eq!(quantizes_as_ggml::<ggml::IQ2_S>(), 14);
}

/// Where ggml's lattice quantizers abort (GGML_ASSERT on NaN/±Inf), ours return blocks, never panic
/// (a panic would kill the page's wasm instance); the blocks decode.
#[test]
fn lattice_quantizers_take_nonfinite_input_without_panicking() {
    let (shape, x) = load_npy("../nonfinite.npy");
    for t in [ggml::IQ3_S::TYPE, ggml::IQ3_XXS::TYPE, ggml::IQ2_S::TYPE, ggml::IQ1_M::TYPE] {
        let (bytes, values) = ggml::round_trip(t, &x, &shape).unwrap();
        assert_eq!((bytes.len(), values.len()), (x.len() / 256 * t.block_bytes(), x.len()), "{}", t.name());
    }
}

#[test]
fn iq1_m_quantizes_as_ggmls_quantize_iq1_m() {
    // sparse included: its all-zero groups of 16 inside non-zero blocks take shift 0 as in ggml.
    assert_eq!(quantizes_as_ggml::<ggml::IQ1_M>(), 14);
}
