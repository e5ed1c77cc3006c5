//! TorchScript archives (torch.jit.save of scripted, traced and torch.ao-quantized modules) against
//! what torch itself reads back from them (fixtures and expected values by
//! scripts/make_torchscript_fixtures.py): every tensor's name (its attribute path, CONSTANTS.cN for
//! the code's constants), dtype, shape and values bit for bit, quantized tensors with their own
//! parameters dequantized as torch does — natively and through the page's piece-by-piece protocol.
//! The same checks run over GPTQ / AWQ safetensors checkpoints packed by auto-gptq's and AutoAWQ's
//! own code (scripts/make_gptq_fixtures.py), each Linear one tensor dequantized as their kernels'
//! torch code does.
#![cfg(not(target_arch = "wasm32"))]

use quant_playground::formats::{self, FileSource, Format};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

#[path = "common/pieces.rs"]
mod pieces;
use pieces::index_by_pieces;

fn suite(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formats").join(name)
}

fn dir() -> PathBuf {
    suite("torchscript")
}

fn index_of(file: &str) -> (formats::FileIndex, FileSource) {
    index_in(&dir(), file)
}

fn index_in(dir: &Path, file: &str) -> (formats::FileIndex, FileSource) {
    let path = dir.join(file);
    let path_s = path.to_str().unwrap();
    let mut src = FileSource::open(path_s).unwrap();
    let index = formats::read_index(path_s, &mut src).unwrap_or_else(|e| panic!("{file}: {e}"));
    (index, src)
}

/// Every tensor of every file of a suite's manifest against the library's values; returns how
/// many tensors were compared and how many of them are stored quantized.
fn check_suite(dir: &Path, format: Format) -> (usize, usize) {
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let expected = |name: &str| -> Vec<u32> { std::fs::read(dir.join("expected").join(name)).unwrap().chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect() };
    let (mut checked, mut quantized) = (0, 0);
    for (file, tensors) in m["files"].as_object().unwrap() {
        let (index, mut src) = index_in(dir, file);
        assert_eq!(index.format, format, "{file}");
        let path = dir.join(file);
        let (by_pieces, rounds, _) = index_by_pieces(path.to_str().unwrap(), &std::fs::read(&path).unwrap());
        assert_eq!(by_pieces.unwrap_or_else(|e| panic!("{file} by pieces: {e}")).tensors, index.tensors, "{file}");
        assert!(rounds < 16, "{file}: {rounds} rounds");

        // Exactly the tensors torch gives back: no quantizer scale or zero point listed apart.
        let mut want: BTreeSet<&str> = tensors.as_object().unwrap().keys().map(String::as_str).collect();
        for (name, dtype) in m["listed"][file].as_object().into_iter().flatten() {
            let info = index.tensor(name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(info.dtype.name(), dtype.as_str().unwrap(), "{file}:{name}");
            assert!(!info.is_quantizable(), "{file}:{name}");
            want.insert(name);
        }
        for name in m["parameters"][file].as_array().into_iter().flatten() {
            let info = index.tensor(name.as_str().unwrap()).unwrap_or_else(|e| panic!("{e}"));
            assert!(info.parameter_of.is_some() && !info.is_quantizable(), "{file}:{name} is a parameter");
            want.insert(name.as_str().unwrap());
        }
        let got: BTreeSet<&str> = index.tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(got, want, "{file}: the listed tensors");

        for (name, want) in tensors.as_object().unwrap() {
            let info = index.tensor(name).unwrap();
            assert_eq!(info.dtype.name(), want["dtype"].as_str().unwrap(), "{file}:{name} dtype");
            let shape: Vec<usize> = want["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
            assert_eq!(info.shape, shape, "{file}:{name} shape");
            match (&info.quant, want.get("quant")) {
                (Some(q), Some(wq)) => {
                    let j = serde_json::to_value(q).unwrap();
                    assert_eq!(j["scheme"], wq["scheme"], "{file}:{name}");
                    assert_eq!(j["granularity"], wq["granularity"], "{file}:{name}");
                    assert_eq!(j["bits"], wq["bits"], "{file}:{name}");
                    quantized += 1;
                }
                (None, None) => {}
                (got, want) => panic!("{file}:{name}: quantization {got:?}, the library says {want:?}"),
            }
            let stored = formats::read_stored(&mut src, info).unwrap();
            let values = formats::decode_tensor(info, stored).unwrap_or_else(|e| panic!("{file}:{name}: {e}"));
            let got: Vec<u32> = values.iter().map(|v| v.to_bits()).collect();
            assert_eq!(got, expected(want["expected"].as_str().unwrap()), "{file}:{name}: values differ from the library's");
            checked += 1;
        }
    }
    (checked, quantized)
}

#[test]
fn every_tensor_reads_as_torch_reads_it() {
    let (checked, quantized) = check_suite(&dir(), Format::PyTorch);
    assert!(checked >= 45 && quantized >= 7, "{checked} tensors, {quantized} quantized");
}

#[test]
fn gptq_and_awq_linears_read_as_their_kernels_dequantize_them() {
    let (checked, quantized) = check_suite(&suite("gptq"), Format::Safetensors);
    assert!(checked >= 12 && quantized >= 11, "{checked} tensors, {quantized} quantized");
    let (index, _) = index_in(&suite("gptq"), "gptq.safetensors");
    let q = index.tensor("layers.0.q_proj.qweight").unwrap().quant.as_ref().unwrap();
    // One scale and zero per group and output, read with the tensor (not held in the index).
    let lazy = q.lazy.as_ref().unwrap();
    assert_eq!((lazy.slots, q.scales.len(), q.zero_points.len()), (2 * 32, 0, 0), "one scale and zero per group and output");
    assert!(index.metadata.iter().any(|(k, v)| k == "quantized linears" && v.starts_with("3 GPTQ") && v.contains("stored minus one (v1")), "{:?}", index.metadata);
    // 3-bit (codes crossing words), act-order, and gptq_v2 zero points (said by the metadata).
    let (three, _) = index_in(&suite("gptq"), "gptq3.safetensors");
    let q = three.tensor("layers.0.down_proj.qweight").unwrap().quant.as_ref().unwrap();
    assert_eq!((q.bits, q.row_groups.len()), (3, 64));
    let (v2, _) = index_in(&suite("gptq"), "gptq_v2.safetensors");
    assert!(v2.metadata.iter().any(|(k, v)| k == "quantized linears" && v.ends_with("GPTQ zero points as stored (gptq_v2)")), "{:?}", v2.metadata);
    assert!(v2.tensor("layers.0.q_proj.qweight").unwrap().quant.as_ref().unwrap().op.starts_with("GPTQ gptq_v2 4-bit"));
}

#[test]
fn skipped_attributes_and_the_archive_are_said() {
    let (index, _) = index_of("cnn_script.pt");
    let meta = |k: &str| index.metadata.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone()).unwrap_or_else(|| panic!("no {k}: {:?}", index.metadata));
    assert!(meta("torchscript").contains("__torch__.SmallCnn"), "{}", meta("torchscript"));
    // gain, label, sizes, every module's `training` and `_is_full_backward_hook`-free flags, the
    // conv and norm hyper-parameters…: all counted, none listed.
    let skipped = meta("skipped");
    assert!(skipped.ends_with("non-tensor attributes skipped (flags, sizes, numbers, strings)"), "{skipped}");
    let n: usize = skipped.split(' ').next().unwrap().parse().unwrap();
    assert!(n > 20, "{skipped}");
    let (traced, _) = index_of("traced.pt");
    assert!(traced.metadata.iter().any(|(k, _)| k == "traced_inputs"), "{:?}", traced.metadata);
}

#[test]
fn tied_weights_and_views_share_their_bytes() {
    let (index, _) = index_of("tied.pt");
    let t = |n: &str| index.tensor(n).unwrap();
    // The tied weight is one storage listed under both names; `row` views `table` at element 12.
    assert_eq!(t("back.weight").offset, t("embed.weight").offset);
    assert_eq!(t("row").offset, t("table").offset + 12 * 4);
}

#[test]
fn quantized_weights_carry_torchs_parameters() {
    let (index, _) = index_of("quantized_x86.pt");
    let w = index.tensor("fc._packed_params._packed_params.0").unwrap();
    let q = w.quant.as_ref().unwrap();
    assert_eq!(q.scales.len(), 4, "one scale per output channel");
    assert!(q.zero_points.is_empty(), "symmetric qint8: all zero points 0");
    assert_eq!(q.op, "torch per_channel_affine");
    let (attrs, _) = index_of("quantized_attrs.pt");
    let qa = attrs.tensor("qa").unwrap().quant.as_ref().unwrap();
    assert_eq!((qa.scales[0], qa.zero_points.as_slice()), (0.037f64 as f32, &[131][..]));
    let qc = attrs.tensor("qc").unwrap().quant.as_ref().unwrap();
    assert_eq!(qc.zero_points, vec![0, 1, -2, 3, 0]);
    // float64 scales no float32 equals: the codes are listed, and the metadata says why.
    assert!(attrs.tensor("qd").unwrap().quant.is_none());
    let note = attrs.metadata.iter().find(|(k, _)| k == "not dequantized qd").unwrap();
    assert!(note.1.contains("is not exactly a float32"), "{note:?}");
}

#[test]
fn gptq_groups_that_cannot_be_read_stay_listed_and_say_why() {
    let path = suite("gptq").join("gptq.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let index = formats::parse_index("gptq.safetensors", &bytes, bytes.len() as u64).unwrap();
    // act-order: a g_idx that is not k / group_size is each input's group (input 0 moved to group 1).
    let g = index.tensor("layers.0.q_proj.g_idx").unwrap();
    let mut act_order = bytes.clone();
    let at = g.offset as usize;
    act_order[at..at + 4].copy_from_slice(&1u32.to_le_bytes());
    let reordered = formats::parse_index("gptq.safetensors", &act_order, bytes.len() as u64).unwrap();
    let q = reordered.tensor("layers.0.q_proj.qweight").unwrap().quant.clone().unwrap();
    assert_eq!((q.row_groups.len(), q.row_groups[0], q.row_groups[1], q.row_groups[32]), (64, 1, 0, 1));
    assert!(q.op.contains("act-order"), "{}", q.op);
    // A group past the last (2 groups of 32): listed as stored, and said.
    for (value, says) in [(2u32, "g_idx[0] = 2 where there are 2 groups"), (u32::MAX, "g_idx[0] = -1 where there are 2 groups")] {
        act_order[at..at + 4].copy_from_slice(&value.to_le_bytes());
        let index = formats::parse_index("gptq.safetensors", &act_order, bytes.len() as u64).unwrap();
        let w = index.tensor("layers.0.q_proj.qweight").unwrap();
        assert!(w.quant.is_none() && w.shape == [8, 32] && !w.is_quantizable(), "listed as stored: {w:?}");
        let note = index.metadata.iter().find(|(k, _)| k == "not dequantized layers.0.q_proj.qweight").unwrap();
        assert_eq!(note.1, says);
        // The other groups are still read.
        assert!(index.tensor("layers.0.o_proj.qweight").unwrap().quant.is_some());
    }
}

/// A stored (uncompressed) zip of `members`, as torch's PyTorchStreamWriter lays one out.
fn stored_zip(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    use quant_playground::formats::container::zip::crc32_of;
    let (mut out, mut central) = (Vec::new(), Vec::new());
    for (name, data) in members {
        let (crc, len, offset) = (crc32_of(data), data.len() as u32, out.len() as u32);
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        for v in [crc, len, len] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        for v in [crc, len, len] {
            central.extend_from_slice(&v.to_le_bytes());
        }
        central.extend_from_slice(&(name.len() as u16).to_le_bytes());
        central.extend_from_slice(&[0; 12]);
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    let n = members.len() as u16;
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

#[test]
fn an_old_torchscript_archive_reads_by_module_path_and_says_what_it_is() {
    // legacy_script.pt (make_torchscript_fixtures.py make_legacy): torch < 1.4's model.json layout;
    // every_tensor_reads_as_torch_reads_it checks its values, here the names and the sharing.
    let (index, _) = index_of("legacy_script.pt");
    let meta = index.metadata.iter().find(|(k, _)| k == "torchscript").unwrap();
    assert!(meta.1.starts_with("an old TorchScript archive (torch.jit.save before torch 1.4: model.json, proto version 3)"), "{meta:?}");
    let t = |n: &str| index.tensor(n).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t("tied").offset, t("head.2.weight").offset, "two parameters of one tensor: one storage");
    assert_eq!(t("row").offset, t("table").offset + 12 * 4, "a view at element 12 of table's storage");
    assert_eq!(t("CONSTANTS.c13").dtype.name(), "F64", "a table tensor no parameter names is the code's constant");
    assert_eq!(t("bn.num_batches_tracked").dtype.name(), "I64");
}

#[test]
fn a_malformed_old_torchscript_archive_is_a_clear_error() {
    let storage = vec![0u8; 16];
    let model = |tensors: &str, params: &str| format!(r#"{{"protoVersion":"3","mainModule":{{"name":"m","parameters":[{params}]}},"tensors":[{tensors}]}}"#);
    let good_tensor = r#"{"dims":["2","2"],"offset":"0","strides":["2","1"],"dataType":"FLOAT","data":{"key":"tensors/0"},"device":"cpu"}"#;
    let archive = |json: String| stored_zip(&[("m/version", b"1\n".to_vec()), ("m/model.json", json.into_bytes()), ("m/tensors/0", storage.clone())]);
    // The good case reads: one 2 × 2 float parameter.
    let ok = archive(model(good_tensor, r#"{"name":"w","tensorId":"0"}"#));
    let index = formats::parse_index("old.pt", &ok, ok.len() as u64).unwrap();
    assert_eq!((index.tensors.len(), index.tensors[0].name.as_str(), index.tensors[0].shape.as_slice()), (1, "w", &[2usize, 2][..]));
    let cases: Vec<(String, &str)> = vec![
        ("{not json".to_string(), "model.json (an old TorchScript archive, torch < 1.4): not JSON"),
        (model(good_tensor, r#"{"name":"w","tensorId":"3"}"#), "parameter 'w' names tensor 3 of 1"),
        (model(&good_tensor.replace("FLOAT", "STRING"), r#"{"name":"w","tensorId":"0"}"#), "dataType Some(String(\"STRING\")) is not read"),
        (model(&good_tensor.replace("tensors/0", "tensors/9"), r#"{"name":"w","tensorId":"0"}"#), "its storage 'm/tensors/9' is not in the archive"),
        (model(&good_tensor.replace("tensors/0", "../x"), r#"{"name":"w","tensorId":"0"}"#), "storage record '../x' is not a path inside the archive"),
        (model(&good_tensor.replace(r#""offset":"0""#, r#""offset":"3""#), r#"{"name":"w","tensorId":"0"}"#), "lie outside its 16-byte storage"),
        (model(&good_tensor.replace(r#"["2","1"]"#, r#"["1"]"#), r#"{"name":"w","tensorId":"0"}"#), "2 dims and 1 strides"),
        (r#"{"protoVersion":"3","tensors":[]}"#.to_string(), "no mainModule"),
    ];
    for (json, says) in cases {
        let bytes = archive(json.clone());
        let err = formats::parse_index("old.pt", &bytes, bytes.len() as u64).expect_err(&json).to_string();
        assert!(err.contains(says) && err.contains("old.pt"), "{json}: {err}");
    }
}
