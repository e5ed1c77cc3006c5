//! bitsandbytes checkpoints in safetensors, as transformers saves a model loaded with
//! `BitsAndBytesConfig`. Each quantized Linear becomes one stored-quantized tensor `P.weight` of its
//! quant_state's shape ([out, in]); the other tensors are listed as its parameters.
//!
//! 4-bit (`Linear4bit`, bitsandbytes/functional.py QuantState.as_dict(packed=True)): `P.weight` uint8
//! packed codes, `P.weight.absmax`, `P.weight.quant_map` (16 f32), and
//! `P.weight.quant_state.bitsandbytes__nf4|fp4`, a uint8 tensor holding JSON (pack_dict_to_tensor)
//! with quant_type, blocksize, dtype, shape and, with double quantization, nested_blocksize,
//! nested_dtype and nested_offset; then absmax is uint8 codes decoded by `P.weight.nested_absmax`
//! and `P.weight.nested_quant_map` (QuantState.from_dict).
//!
//! 8-bit (`Linear8bitLt`): `P.weight` int8 [out, in] and `P.SCB` f32 [out], one absmax per row.

use super::RangeReader;
use crate::error::{Error, Result};
use crate::tensor::stored::{BnbDtype, CodeLayout, StoredGranularity, StoredQuant, StoredScheme};
use crate::tensor::{DType, TensorInfo};

/// The packed quant_state JSON is a few hundred bytes; more is not one.
const MAX_QUANT_STATE_BYTES: u64 = 1 << 16;

fn find(tensors: &[TensorInfo], name: &str) -> Option<usize> {
    tensors.iter().position(|t| t.name == name && t.data_file.is_none())
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// bitsandbytes' 4-bit tables as functional.get_4bit_type builds them in float32 (what transformers
/// saves as `quant_map`). dequantize_4bit takes only the quant_type, never the stored map (the CPU
/// and CUDA kernels hold these tables as literals; the FP4 one there has −0 for code 8, where
/// get_4bit_type's Python `-0` is +0: bitsandbytes' own quantizer never emits code 8).
const NF4_TABLE: [f32; 16] = crate::quant::nf4::LEVELS;
const FP4_TABLE: [f32; 16] = [
    0.0, 0.0625 / 12.0, 8.0 / 12.0, 1.0, 4.0 / 12.0, 6.0 / 12.0, 2.0 / 12.0, 3.0 / 12.0,
    0.0, -0.0625 / 12.0, -8.0 / 12.0, -1.0, -4.0 / 12.0, -6.0 / 12.0, -2.0 / 12.0, -3.0 / 12.0,
];

/// The tensors of one 4-bit Linear, by index into the file's list.
struct Linear4 {
    weight: usize,
    quant_type: String,
    state: usize,
    absmax: Option<usize>,
    quant_map: Option<usize>,
    nested_absmax: Option<usize>,
    nested_quant_map: Option<usize>,
}

fn dtype_named(s: &str) -> Option<BnbDtype> {
    match s {
        "float32" => Some(BnbDtype::Float32),
        "float16" => Some(BnbDtype::Float16),
        "bfloat16" => Some(BnbDtype::Bfloat16),
        _ => None,
    }
}

/// A tensor's f32 values, or why it is not the f32 vector of `want` elements it must be.
fn f32_vector(r: &mut dyn RangeReader, t: &TensorInfo, want: usize, what: &str) -> Result<std::result::Result<Vec<f32>, String>> {
    if t.dtype != DType::F32 || t.element_count() != want {
        return Ok(Err(format!("{what} '{}' is {} {:?} where {want} float32 values are needed", t.name, t.dtype.name(), t.shape)));
    }
    Ok(Ok(f32s(&r.read(t.offset, t.byte_len)?)))
}

/// The stored quantization of a 4-bit Linear and its shape, or why it is not one. A file whose
/// parameters contradict each other is an error (`Err`); one this reader does not know (another
/// dtype, a blocksize that splits rows) stays listed with a note (`Ok(Err)`).
/// With it, a note when the stored quant_map is not bitsandbytes' table (the table is used, as
/// bitsandbytes does).
fn quant4(r: &mut dyn RangeReader, tensors: &[TensorInfo], l: &Linear4) -> Result<std::result::Result<(StoredQuant, Vec<usize>, Option<String>), String>> {
    let file = r.file().to_string();
    let w = &tensors[l.weight];
    let bad = |what: String| Error::malformed(&file, format!("bitsandbytes 4-bit weight '{}': {what}", w.name));
    let st = &tensors[l.state];
    if st.dtype != DType::U8 || st.byte_len > MAX_QUANT_STATE_BYTES {
        return Err(bad(format!("quant_state '{}' is {} of {} bytes, not a uint8 JSON blob under {MAX_QUANT_STATE_BYTES} bytes", st.name, st.dtype.name(), st.byte_len)));
    }
    // functional.py unpack_tensor_to_dict: the uint8 bytes are UTF-8 JSON.
    let text = r.read(st.offset, st.byte_len)?;
    let json: serde_json::Value = serde_json::from_slice(&text).map_err(|e| bad(format!("quant_state '{}' is not JSON: {e}", st.name)))?;
    let field = |k: &str| json.get(k);
    let usize_field = |k: &str| -> Result<usize> {
        field(k).and_then(|v| v.as_u64()).map(|v| v as usize).ok_or_else(|| bad(format!("quant_state has no whole-number '{k}'")))
    };
    if field("quant_type").and_then(|v| v.as_str()) != Some(l.quant_type.as_str()) {
        return Err(bad(format!("quant_state's quant_type {:?} is not its key's '{}'", field("quant_type"), l.quant_type)));
    }
    let shape: Vec<usize> = field("shape")
        .and_then(|v| v.as_array())
        .and_then(|a| a.iter().map(|d| d.as_u64().map(|d| d as usize)).collect::<Option<Vec<_>>>())
        .ok_or_else(|| bad("quant_state has no 'shape' list of whole numbers".into()))?;
    let blocksize = usize_field("blocksize")?;
    let Some(dtype) = field("dtype").and_then(|v| v.as_str()).and_then(dtype_named) else {
        return Ok(Err(format!("quant_state dtype {:?} (float32, float16 and bfloat16 are read)", field("dtype"))));
    };
    let n = crate::tensor::checked_element_count(&shape).ok_or_else(|| bad(format!("shape {shape:?} overflows")))?;
    // Any dtype may hold the packed codes (Params4bit's quant_storage: bfloat16 for QLoRA under
    // FSDP); dequantize_4bit views them as uint8 (backends/cpu/ops.py, default/ops.py:
    // `A.view(torch.uint8)`), so only their byte count matters.
    if w.byte_len != (n as u64).div_ceil(2) {
        return Err(bad(format!("{} {:?} ({} bytes) does not hold the {n} packed 4-bit codes of quant_state shape {shape:?}", w.dtype.name(), w.shape, w.byte_len)));
    }
    // functional.py dequantize_4bit accepts these block sizes only.
    if ![32, 64, 128, 256, 512, 1024, 2048, 4096].contains(&blocksize) {
        return Err(bad(format!("blocksize {blocksize} (bitsandbytes allows 32 … 4096, powers of two)")));
    }
    let Some(&last) = shape.last() else { return Ok(Err("a scalar quant_state shape".into())) };
    if last % blocksize != 0 {
        return Ok(Err(format!("blocks of {blocksize} straddle rows of {last}: not dequantized")));
    }
    let blocks = n.div_ceil(blocksize);
    let (Some(absmax), Some(quant_map)) = (l.absmax, l.quant_map) else {
        return Err(bad("its absmax or quant_map tensor is missing".into()));
    };
    let quant_map = match f32_vector(r, &tensors[quant_map], 16, "quant_map")? {
        Ok(m) => m,
        Err(why) => return Err(bad(why)),
    };
    let absmax_t = &tensors[absmax];
    let scales: Vec<f32> = match (l.nested_absmax, l.nested_quant_map) {
        (None, None) => match f32_vector(r, absmax_t, blocks, "absmax")? {
            Ok(a) => a,
            Err(why) => return Err(bad(why)),
        },
        (Some(na), Some(nm)) => {
            // dequantize_4bit: absmax = dequantize_blockwise(absmax, state2) + offset, in float32
            // (nested_dtype float32: code[a] · nested_absmax[j / nested_blocksize], then += offset).
            if absmax_t.dtype != DType::U8 || absmax_t.element_count() != blocks {
                return Err(bad(format!("absmax '{}' is {} {:?} where {blocks} uint8 codes are needed", absmax_t.name, absmax_t.dtype.name(), absmax_t.shape)));
            }
            if field("nested_dtype").and_then(|v| v.as_str()) != Some("float32") {
                return Ok(Err(format!("nested_dtype {:?} (float32 is read)", field("nested_dtype"))));
            }
            let nested_blocksize = usize_field("nested_blocksize")?;
            let offset = field("nested_offset").and_then(|v| v.as_f64()).ok_or_else(|| bad("quant_state has no number 'nested_offset'".into()))? as f32;
            if nested_blocksize == 0 {
                return Err(bad("nested_blocksize 0".into()));
            }
            let code = match f32_vector(r, &tensors[nm], 256, "nested_quant_map")? {
                Ok(c) => c,
                Err(why) => return Err(bad(why)),
            };
            let nested = match f32_vector(r, &tensors[na], blocks.div_ceil(nested_blocksize), "nested_absmax")? {
                Ok(a) => a,
                Err(why) => return Err(bad(why)),
            };
            let codes = r.read(absmax_t.offset, absmax_t.byte_len)?;
            codes.iter().enumerate().map(|(j, &c)| code[c as usize] * nested[j / nested_blocksize] + offset).collect()
        }
        _ => return Err(bad("one of nested_absmax and nested_quant_map without the other".into())),
    };
    let stored_map: [f32; 16] = quant_map.try_into().map_err(|m: Vec<f32>| bad(format!("quant_map holds {} bytes of float32, not 16 values", m.len() * 4)))?;
    let quant_map = if l.quant_type == "nf4" { NF4_TABLE } else { FP4_TABLE };
    // Equal up to the sign of zero (see FP4_TABLE).
    let note = (stored_map.iter().zip(&quant_map).any(|(a, b)| a.to_bits() != b.to_bits() && !(*a == 0.0 && *b == 0.0)))
        .then(|| format!("stored quant_map {stored_map:?} is not bitsandbytes' {} table; dequantize_4bit uses that table whatever is stored, and so does this reader", l.quant_type.to_uppercase()));
    let granularity = StoredGranularity::Blocked { axis: shape.len() - 1, block_size: blocksize };
    let double = if l.nested_absmax.is_some() { ", double-quantized absmax" } else { "" };
    let storage = if w.dtype != DType::U8 { format!(", codes stored as {}", w.dtype.name()) } else { String::new() };
    let op = format!("bitsandbytes {}, block {blocksize}{double}{storage}, as {} ('{}')", l.quant_type.to_uppercase(), field("dtype").and_then(|v| v.as_str()).unwrap_or(""), w.name);
    let quant = StoredQuant { scheme: StoredScheme::Bnb4 { quant_map, dtype }, granularity, bits: 4, layout: CodeLayout::HighNibbleFirst, scales, zero_points: Vec::new(), op, row_groups: Vec::new(), half_output: false, lazy: None };
    Ok(Ok((quant, shape, note)))
}

/// Finds the bitsandbytes Linears among a safetensors file's tensors and makes each one stored-
/// quantized tensor.
pub fn recognise(tensors: &mut [TensorInfo], metadata: &mut Vec<(String, String)>, r: &mut dyn RangeReader) -> Result<()> {
    let mut linears = Vec::new();
    for (i, t) in tensors.iter().enumerate() {
        let Some((weight, quant_type)) = t.name.split_once(".quant_state.bitsandbytes__") else { continue };
        if t.data_file.is_some() {
            continue;
        }
        let Some(w) = find(tensors, weight) else {
            return Err(Error::malformed(r.file(), format!("'{}' has no weight '{weight}' beside it", t.name)));
        };
        let part = |p: &str| find(tensors, &format!("{weight}.{p}"));
        linears.push(Linear4 {
            weight: w,
            quant_type: quant_type.to_string(),
            state: i,
            absmax: part("absmax"),
            quant_map: part("quant_map"),
            nested_absmax: part("nested_absmax"),
            nested_quant_map: part("nested_quant_map"),
        });
    }
    let mut read = 0;
    for l in linears {
        let name = tensors[l.weight].name.clone();
        if !matches!(l.quant_type.as_str(), "nf4" | "fp4") {
            metadata.push((format!("not dequantized {name}"), format!("bitsandbytes quant_type '{}' (nf4 and fp4 are read)", l.quant_type)));
            continue;
        }
        match quant4(r, tensors, &l)? {
            Ok((quant, shape, note)) => {
                if let Some(note) = note {
                    metadata.push((format!("quant_map of {name}"), note));
                }
                let w = &mut tensors[l.weight];
                // The codes as bitsandbytes views them, whatever dtype stored them (checked above).
                quant.check(&w.name, DType::U8, &shape, w.byte_len).map_err(|e| Error::malformed(r.file(), e.to_string()))?;
                w.dtype = DType::U8;
                w.shape = shape;
                w.quant = Some(quant);
                for p in [Some(l.state), l.absmax, l.quant_map, l.nested_absmax, l.nested_quant_map].into_iter().flatten() {
                    tensors[p].parameter_of = Some(name.clone());
                }
                read += 1;
            }
            Err(why) => metadata.push((format!("not dequantized {name}"), why)),
        }
    }
    // LLM.int8(): `P.SCB` beside an int8 `P.weight`.
    let int8: Vec<(usize, usize)> = tensors
        .iter()
        .enumerate()
        .filter(|(_, t)| t.data_file.is_none())
        .filter_map(|(i, t)| t.name.strip_suffix(".SCB").and_then(|p| find(tensors, &format!("{p}.weight"))).map(|w| (w, i)))
        .collect();
    for (w, scb) in int8 {
        let (wt, st) = (&tensors[w], &tensors[scb]);
        let [rows, _] = wt.shape[..] else {
            return Err(Error::malformed(r.file(), format!("bitsandbytes int8 weight '{}' has shape {:?}, not [out, in]", wt.name, wt.shape)));
        };
        if wt.dtype != DType::I8 || st.dtype != DType::F32 || st.element_count() != rows {
            return Err(Error::malformed(r.file(), format!("bitsandbytes int8 weight '{}' is {} {:?} with SCB {} {:?}: int8 [out, in] and float32 [out] are needed", wt.name, wt.dtype.name(), wt.shape, st.dtype.name(), st.shape)));
        }
        let scales = f32s(&r.read(st.offset, st.byte_len)?);
        let quant = StoredQuant {
            scheme: StoredScheme::BnbInt8,
            granularity: StoredGranularity::PerAxis { axis: 0 },
            bits: 8,
            layout: CodeLayout::Elements,
            scales,
            zero_points: Vec::new(),
            op: format!("bitsandbytes LLM.int8(), SCB per row ('{}')", wt.name),
            row_groups: Vec::new(),
            half_output: false,
            lazy: None,
        };
        quant.check(&wt.name, wt.dtype, &wt.shape, wt.byte_len).map_err(|e| Error::malformed(r.file(), e.to_string()))?;
        let owner = wt.name.clone();
        tensors[w].quant = Some(quant);
        tensors[scb].parameter_of = Some(owner.clone());
        // Older transformers also save `P.weight_format` (a uint8 scalar naming the row layout).
        if let Some(f) = find(tensors, &format!("{owner}_format")) {
            tensors[f].parameter_of = Some(owner);
        }
        read += 1;
    }
    if read > 0 {
        metadata.push(("bitsandbytes linears".to_string(), format!("{read} 4-bit / int8 weights read as one tensor each")));
    }
    Ok(())
}
