//! Every format against the library that wrote it (fixtures and expected values by
//! scripts/make_format_fixtures.py): the index (names, dtypes, numpy-order shapes), the values bit
//! for bit, both through the native reader and through the page's piece-by-piece protocol; and
//! the same tensor in every format quantizing to the same integers.
// Native only: wasm-pack builds every test target for wasm32; the browser tests are in tests/wasm*.rs.
#![cfg(not(target_arch = "wasm32"))]

use quant_playground::formats::{self, FileIndex, FileSource, Format};
use quant_playground::quant::{self, Codes, Granularity, QuantSpec, Scheme};
use quant_playground::tensor::DType;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[path = "common/pieces.rs"]
mod pieces;
use pieces::index_by_pieces;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formats")
}

fn manifest() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir().join("manifest.json")).unwrap()).unwrap()
}

fn expected(name: &str) -> Vec<f32> {
    std::fs::read(dir().join("expected").join(name)).unwrap().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn dtype_name(d: DType) -> &'static str {
    d.name()
}

#[test]
fn every_fixture_reads_back_bit_for_bit() {
    let m = manifest();
    let mut checked = 0;
    for (file, tensors) in m.as_object().unwrap() {
        let Some(tensors) = tensors.as_object() else { continue };
        if file == "same_tensor" {
            continue;
        }
        let path = dir().join(file);
        let path_s = path.to_str().unwrap();
        let mut src = FileSource::open(path_s).unwrap();
        let index = formats::read_index(path_s, &mut src).unwrap_or_else(|e| panic!("{file}: {e}"));
        // The page's protocol gives the same index (shards are merged by the caller there).
        if index.format != Format::Safetensors || !file.contains("index.json") {
            let bytes = std::fs::read(&path).unwrap();
            let (by_pieces, rounds, read) = index_by_pieces(path_s, &bytes);
            let by_pieces = by_pieces.unwrap_or_else(|e| panic!("{file} by pieces: {e}"));
            assert_eq!(by_pieces.tensors, index.tensors, "{file}: pieces and native reads disagree");
            assert!(rounds < 64, "{file}: {rounds} rounds");
            let _ = read;
        }
        for (name, want) in tensors {
            let info = index.tensor(name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(dtype_name(info.dtype), want["dtype"].as_str().unwrap(), "{file}:{name} dtype");
            let shape: Vec<usize> = want["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
            assert_eq!(info.shape, shape, "{file}:{name} shape");
            let bytes = formats::read_tensor_bytes(&mut src, info).unwrap_or_else(|e| panic!("{file}:{name}: {e}"));
            let got = quant_playground::tensor::decode_to_f32(info, &bytes).unwrap_or_else(|e| panic!("{file}:{name}: {e}"));
            let exp = expected(want["expected"].as_str().unwrap());
            assert_eq!(bits(&got), bits(&exp), "{file}:{name} values differ from the library's");
            // The page's path: the stored range of the right file, then decode_tensor.
            let data_path = match &info.data_file {
                Some(f) => path.parent().unwrap().join(f),
                None => path.clone(),
            };
            let whole = std::fs::read(data_path).unwrap();
            let (o, n) = info.stored_range();
            let stored = whole[o as usize..(o + n) as usize].to_vec();
            let again = formats::decode_tensor(info, stored).unwrap();
            assert_eq!(bits(&again), bits(&exp), "{file}:{name} via decode_tensor");
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} tensors checked");
}

#[test]
fn same_tensor_in_every_format_quantizes_to_the_same_integers() {
    let m = manifest();
    let pairs = m["same_tensor"].as_array().unwrap();
    assert!(pairs.len() >= 10, "{pairs:?}");
    let specs = [
        QuantSpec::new(8, Scheme::Symmetric, Granularity::PerChannel { axis: 0 }),
        QuantSpec::new(4, Scheme::Asymmetric, Granularity::PerGroup { size: 32 }),
    ];
    let mut first: Option<(String, Vec<Vec<i32>>)> = None;
    for p in pairs {
        let (file, name) = (p[0].as_str().unwrap(), p[1].as_str().unwrap());
        let path = dir().join(file);
        let mut src = FileSource::open(path.to_str().unwrap()).unwrap();
        let index = formats::read_index(file, &mut src).unwrap();
        let info = index.tensor(name).unwrap();
        let x = quant_playground::tensor::decode_to_f32(info, &formats::read_tensor_bytes(&mut src, info).unwrap()).unwrap();
        let codes: Vec<Vec<i32>> = specs
            .iter()
            .map(|s| match quant::quantize_minmax(&x, &info.shape, s).unwrap().codes {
                Codes::I8(v) => v.iter().map(|&c| c as i32).collect(),
                Codes::U8(v) => v.iter().map(|&c| c as i32).collect(),
            })
            .collect();
        match &first {
            None => first = Some((format!("{file}:{name}"), codes)),
            Some((which, want)) => assert!(want == &codes, "{file}:{name} quantizes differently from {which}"),
        }
    }
}

#[test]
fn gguf_metadata_is_shown_with_long_arrays_summarized() {
    let path = dir().join("w.gguf");
    let mut src = FileSource::open(path.to_str().unwrap()).unwrap();
    let index = formats::read_index("w.gguf", &mut src).unwrap();
    let meta: BTreeMap<_, _> = index.metadata.iter().cloned().collect();
    assert_eq!(meta["gguf.version"], "3");
    assert_eq!(meta["general.architecture"], "\"llama\"");
    assert_eq!(meta["test.u8"], "200");
    assert_eq!(meta["test.i8"], "-100");
    assert_eq!(meta["test.u64"], (2u64.pow(63) + 5).to_string());
    assert_eq!(meta["test.i64"], (-(2i64.pow(62))).to_string());
    assert_eq!(meta["test.f64"], "-1.5");
    assert_eq!(meta["test.bool"], "true");
    assert_eq!(meta["test.ints"], "[1, 2, 3]");
    assert!(meta["test.tokens"].starts_with("[\"tok0\", \"tok1\"") && meta["test.tokens"].ends_with("… (100 items)]"), "{}", meta["test.tokens"]);
    let q2k = index.tensor("w_Q2_K").unwrap();
    // Q2_K is decoded (tests/export_gguf.rs checks the decoder against ggml's dequantize_row_q2_K).
    assert_eq!((q2k.dtype.name(), q2k.dtype.is_quantizable(), q2k.shape.clone()), ("Q2_K", true, vec![4, 256]));
    assert!(!index.tensor("i32").unwrap().dtype.is_quantizable());
    let idx64 = formats::read_index("a", &mut FileSource::open(dir().join("w_align64.gguf").to_str().unwrap()).unwrap()).unwrap();
    assert!(idx64.tensors.iter().all(|t| t.offset % 64 == 0));
    let v2 = formats::read_index("v2", &mut FileSource::open(dir().join("w_v2.gguf").to_str().unwrap()).unwrap()).unwrap();
    assert_eq!(v2.metadata[0].1, "2");
}

#[test]
fn npz_deflated_members_inflate_only_when_read() {
    let bytes = std::fs::read(dir().join("deflated.npz")).unwrap();
    let index = formats::parse_index_parts("deflated.npz", &[(0, &bytes[..])], bytes.len() as u64).unwrap();
    assert_eq!(index.format, Format::Npz);
    let w = index.tensor("w").unwrap();
    assert!(matches!(w.storage, quant_playground::tensor::Storage::Deflate { .. }), "{:?}", w.storage);
    let stored = std::fs::read(dir().join("stored.npz")).unwrap();
    let index = formats::parse_index_parts("stored.npz", &[(0, &stored[..])], stored.len() as u64).unwrap();
    assert_eq!(index.tensor("w").unwrap().storage, quant_playground::tensor::Storage::Raw);
    assert!(!index.tensor("i").unwrap().dtype.is_quantizable());
}

#[test]
fn sharded_safetensors_merge_with_and_without_the_index() {
    let d = dir().join("sharded");
    let json_path = d.join("model.safetensors.index.json");
    let mut src = FileSource::open(json_path.to_str().unwrap()).unwrap();
    let merged = formats::read_index(json_path.to_str().unwrap(), &mut src).unwrap();
    let mut names: Vec<_> = merged.tensors.iter().map(|t| (t.name.as_str(), t.data_file.as_deref().unwrap())).collect();
    names.sort();
    assert_eq!(
        names,
        vec![("a.weight", "model-00001-of-00002.safetensors"), ("b.bias", "model-00002-of-00002.safetensors"), ("b.weight", "model-00002-of-00002.safetensors")]
    );
    // The page: the JSON alone lists the shards; the shards are parsed one by one and merged.
    let json = std::fs::read(&json_path).unwrap();
    let alone = formats::parse_index("model.safetensors.index.json", &json, json.len() as u64).unwrap();
    assert_eq!(alone.format, Format::SafetensorsIndex);
    let shards: Vec<FileIndex> = alone
        .metadata
        .iter()
        .filter(|(k, _)| k == "shard")
        .map(|(_, s)| {
            let b = std::fs::read(d.join(s)).unwrap();
            formats::parse_index(s, &b, b.len() as u64).unwrap()
        })
        .collect();
    let map = formats::multi::parse_shard_map("index", &json, json.len() as u64).unwrap();
    let merged2 = formats::multi::merge_shards("index", Some(&map), shards.clone()).unwrap();
    assert_eq!(merged2.tensors, merged.tensors);
    // Without the index: names must not repeat.
    assert_eq!(formats::multi::merge_shards("shards", None, shards.clone()).unwrap().tensors.len(), 3);
    let dup = formats::multi::merge_shards("shards", None, vec![shards[0].clone(), shards[0].clone()]).unwrap_err().to_string();
    assert!(dup.contains("'a.weight' is in both"), "{dup}");
    // A shard missing from the set is named.
    let missing = formats::multi::merge_shards("index", Some(&map), vec![shards[0].clone()]).unwrap_err().to_string();
    assert!(missing.contains("does not hold it"), "{missing}");
}

#[test]
fn onnx_external_data_names_its_file() {
    let path = dir().join("w_ext.onnx");
    let bytes = std::fs::read(&path).unwrap();
    let index = formats::parse_index("w_ext.onnx", &bytes, bytes.len() as u64).unwrap();
    let w = index.tensor("w").unwrap();
    assert_eq!(w.data_file.as_deref(), Some("w_ext.onnx.data"));
    // A source that cannot open siblings says so instead of reading the wrong file.
    let mut mem: &[u8] = &bytes;
    let e = formats::read_tensor_bytes(&mut mem, w).unwrap_err().to_string();
    assert!(e.contains("hand that file over"), "{e}");
}

#[test]
fn legacy_torch_files_get_a_resave_message() {
    let path = dir().join("legacy.pt");
    if !path.exists() {
        return;
    }
    let mut src = FileSource::open(path.to_str().unwrap()).unwrap();
    let e = formats::read_index("legacy.pt", &mut src).unwrap_err().to_string();
    assert!(e.contains("_use_new_zipfile_serialization=True"), "{e}");
}

#[test]
fn pytorch_shards_merge_and_read_through_siblings() {
    let pt = dir().join("w.pt");
    let mut src = FileSource::open(pt.to_str().unwrap()).unwrap();
    let pt_index = formats::read_index(pt.to_str().unwrap(), &mut src).unwrap();
    let merged = formats::multi::merge_shards("pytorch_model.bin.index.json", None, vec![pt_index.clone()]).unwrap();
    assert_eq!(merged.format, Format::PyTorch);
    let w = merged.tensor("w").unwrap();
    assert_eq!(w.data_file.as_deref(), Some("w.pt"));
    // Read through a source opened on another file of the folder: the sibling is opened by name.
    let mut other = FileSource::open(dir().join("manifest.json").to_str().unwrap()).unwrap();
    let x = quant_playground::tensor::decode_to_f32(w, &formats::read_tensor_bytes(&mut other, w).unwrap()).unwrap();
    assert_eq!(bits(&x), bits(&expected("w.pt.w.f32")));
    // Shards of different formats do not make one checkpoint.
    let st = dir().join("w.safetensors");
    let st_index = formats::read_index("w.safetensors", &mut FileSource::open(st.to_str().unwrap()).unwrap()).unwrap();
    let e = formats::multi::merge_shards("mixed", None, vec![pt_index, st_index]).unwrap_err().to_string();
    assert!(e.contains("like the other shards"), "{e}");
}

#[test]
fn cli_inspects_and_quantizes_every_format() {
    let exe = env!("CARGO_BIN_EXE_quant-playground");
    for (file, tensor, format) in [
        ("w.npy", "w", "npy"),
        ("deflated.npz", "w", "npz"),
        ("w.safetensors", "w", "safetensors"),
        ("sharded/model.safetensors.index.json", "b.weight", "safetensors"),
        ("w.gguf", "w_Q4_K", "gguf"),
        ("w.pt", "w_t", "pytorch"),
        ("w.onnx", "w_bf16", "onnx"),
        ("w_ext.onnx", "w", "onnx"),
    ] {
        let path = dir().join(file);
        let out = std::process::Command::new(exe).args(["inspect", "--json", path.to_str().unwrap()]).output().unwrap();
        assert!(out.status.success(), "{file}: {}", String::from_utf8_lossy(&out.stderr));
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(j["format"], format, "{file}");
        let out = std::process::Command::new(exe).args(["quantize", "--json", "--tensor", tensor, path.to_str().unwrap()]).output().unwrap();
        assert!(out.status.success(), "{file}: {}", String::from_utf8_lossy(&out.stderr));
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(j["tensors"][0]["name"], tensor, "{file}");
    }
    let out = std::process::Command::new(exe).args(["inspect", dir().join("legacy.pt").to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("re-save"));
}

/// TF.js models (scripts/make_tfjs_fixtures.py: the converter's write_weights; values by tfjs-core's
/// io.decodeWeights): natively, and as the page reads them (the manifest alone, then `tfjs::locate`
/// with the shards' lengths, then each tensor's file parts), every weight bit for bit; weights that
/// cross a shard are read from both.
#[test]
fn tfjs_models_read_as_tfjs_core_decodes_them() {
    let suite = dir().join("tfjs");
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(suite.join("manifest.json")).unwrap()).unwrap();
    let (mut checked, mut split) = (0, 0);
    for (file, tensors) in m["files"].as_object().unwrap() {
        let path = suite.join(file);
        let path_s = path.to_str().unwrap();
        let index = formats::read_index(path_s, &mut FileSource::open(path_s).unwrap()).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(index.format, Format::Tfjs);
        // The page: the manifest's own index names the shards; their lengths place the weights.
        let json = std::fs::read(&path).unwrap();
        let alone = formats::parse_index(path_s, &json, json.len() as u64).unwrap();
        assert_eq!((alone.format, alone.tensors.len()), (Format::TfjsManifest, 0));
        let lengths = alone
            .metadata
            .iter()
            .filter(|(k, _)| k == "shard")
            .map(|(_, s)| (s.clone(), std::fs::metadata(path.parent().unwrap().join(s)).unwrap().len()))
            .collect();
        let placed = formats::tfjs::locate(path_s, &json, &lengths).unwrap();
        assert_eq!(placed.tensors, index.tensors, "{file}: page and native indexes");
        for (name, want) in tensors.as_object().unwrap() {
            let t = index.tensor(name).unwrap();
            let mut src = FileSource::open(path_s).unwrap();
            let x = quant_playground::tensor::decode_to_f32(t, &formats::read_tensor_bytes(&mut src, t).unwrap()).unwrap();
            let expected: Vec<f32> = std::fs::read(suite.join("expected").join(want["expected"].as_str().unwrap()))
                .unwrap()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            assert_eq!(bits(&x), bits(&expected), "{file}: {name}");
            // The page's read: each part from its shard, concatenated.
            let mut stored = Vec::new();
            for (shard, offset, len) in t.file_parts() {
                let bytes = std::fs::read(path.parent().unwrap().join(shard.unwrap())).unwrap();
                stored.extend_from_slice(&bytes[offset as usize..(offset + len) as usize]);
            }
            assert_eq!(bits(&formats::decode_tensor(t, stored).unwrap()), bits(&expected), "{file}: {name} by parts");
            split += usize::from(matches!(t.storage, quant_playground::tensor::Storage::Split { .. }));
            checked += 1;
        }
    }
    assert_eq!(checked, 11);
    assert!(split >= 3, "weights crossing shards: {split}");
}
