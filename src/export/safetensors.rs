//! Quantized safetensors: every float tensor as integer codes plus its scales and zero points,
//! under a naming scheme any safetensors reader can follow (README "Export"):
//!
//! | tensor | dtype | shape |
//! |---|---|---|
//! | `<name>` | I8 (symmetric) or U8 (asymmetric); U8 when packed | source shape; packed: `[..., ceil(last/2)]` |
//! | `<name>.scale` | F32 (F16 with `--scale-dtype f16`, exact: the scales were rounded to f16 before use) | `[]`, `[channels]` or `[...leading axes, groups per row]` |
//! | `<name>.zero_point` | I8 (symmetric, all 0) or U8 (asymmetric) | as `.scale` |
//!
//! Packing: 5..=8-bit codes take one byte each. 2..=4-bit codes are packed two per byte, 4 bits
//! wide whatever b is (a 2- or 3-bit code in a nibble), element 2i of each row of the last axis
//! in the low nibble and 2i+1 in the high nibble (DESIGN.md's INT4 layout), each row starting a
//! fresh byte; signed codes are 4-bit two's complement. A scalar counts as one row of one.
//! Non-float tensors are copied as they are. `__metadata__` holds the configuration (`quant.*`
//! keys, see `metadata`) and `quant.shape.<name>`, the source shape, which packing hides.
//!
//! The header is computed from the index alone, so the file streams out one tensor at a time.

use super::{base_name, ExportPlan, ExportReport, ExportedTensor, IntExport};
use crate::calib::{self, Method};
use crate::error::{Error, Result};
use crate::formats::{self, ByteSource, FileIndex};
use crate::quant::{Codes, Granularity, QuantSpec, QuantizedTensor, ScaleDType, Scheme, SlotLayout};
use crate::tensor::{to_c_order_le, DType, TensorInfo};

/// Bumped when the naming scheme or the packing changes.
pub const SCHEME_VERSION: &str = "1";

/// Codes of this many bits or fewer are packed two per byte.
const NIBBLE_BITS: u8 = 4;

/// Shape of the scale / zero-point tensors: per-tensor `[]`, per-channel `[channels]`, per-group
/// the tensor's leading axes then the groups of a row (so they broadcast against the rows).
pub fn slot_shape(shape: &[usize], layout: &SlotLayout, granularity: Granularity) -> Vec<usize> {
    match granularity {
        Granularity::PerTensor => vec![],
        Granularity::PerChannel { .. } => vec![layout.slots],
        Granularity::PerGroup { size } => {
            let mut s = shape.to_vec();
            let last = s.pop().unwrap_or(1);
            s.push(last.div_ceil(size));
            s
        }
    }
}

fn is_packed(spec: &QuantSpec) -> bool {
    spec.format.bits <= NIBBLE_BITS
}

/// The shape the codes are stored in.
fn code_shape(shape: &[usize], spec: &QuantSpec) -> Vec<usize> {
    if !is_packed(spec) {
        return shape.to_vec();
    }
    let mut s: Vec<usize> = if shape.is_empty() { vec![1] } else { shape.to_vec() };
    if let Some(last) = s.last_mut() {
        *last = last.div_ceil(2);
    }
    s
}

fn code_dtype(spec: &QuantSpec) -> DType {
    match (is_packed(spec), spec.format.scheme) {
        (true, _) | (false, Scheme::Asymmetric) => DType::U8,
        (false, Scheme::Symmetric) => DType::I8,
    }
}

fn zero_point_dtype(spec: &QuantSpec) -> DType {
    match spec.format.scheme {
        Scheme::Symmetric => DType::I8,
        Scheme::Asymmetric => DType::U8,
    }
}

fn scale_dtype(spec: &QuantSpec) -> DType {
    match spec.scale_dtype {
        ScaleDType::F32 => DType::F32,
        ScaleDType::F16 => DType::F16,
    }
}

/// The `__metadata__` of an export: the configuration, as strings.
pub fn metadata(source_file: &str, config: &IntExport) -> Vec<(String, String)> {
    let spec = &config.spec;
    let packing = if is_packed(spec) { "nibbles" } else { "bytes" };
    vec![
        ("quant.scheme_version".into(), SCHEME_VERSION.into()),
        ("quant.bits".into(), spec.format.bits.to_string()),
        ("quant.scheme".into(), spec.format.scheme.short_name().into()),
        ("quant.granularity".into(), spec.granularity.label()),
        ("quant.range".into(), if spec.format.is_full_range() { "full" } else { "narrow" }.into()),
        ("quant.calibration".into(), config.method.label()),
        ("quant.packing".into(), packing.into()),
        ("quant.scale_dtype".into(), scale_dtype(spec).name().into()),
        ("quant.source".into(), base_name(source_file).into()),
        ("quant.producer".into(), format!("quant-playground {}", env!("CARGO_PKG_VERSION"))),
    ]
}

enum Entry {
    Quantize { layout: SlotLayout, code_bytes: u64, slot_count: usize },
    Copy { bytes: u64 },
}

/// A planned quantized-safetensors file.
pub struct SafetensorsPlan {
    file: String,
    config: IntExport,
    sources: Vec<TensorInfo>,
    entries: Vec<Entry>,
    header: Vec<u8>,
    rows: Vec<ExportedTensor>,
    total_bytes: u64,
}

/// The safetensors dtype a copied tensor keeps, or None for ggml types safetensors cannot say.
fn copyable(info: &TensorInfo) -> Option<DType> {
    (!matches!(info.dtype, DType::Ggml(_))).then_some(info.dtype)
}

/// Plans the export of every tensor of `index`: the header is made here, from the index alone.
pub fn plan_safetensors(index: &FileIndex, config: IntExport) -> Result<SafetensorsPlan> {
    let spec = &config.spec;
    spec.validate()?;
    let mut names = std::collections::HashSet::new();
    for t in &index.tensors {
        names.insert(t.name.as_str());
    }
    let mut header = serde_json::Map::new();
    let mut meta: serde_json::Map<String, serde_json::Value> =
        metadata(&index.file, &config).into_iter().map(|(k, v)| (k, v.into())).collect();
    let mut sources = Vec::new();
    let mut entries = Vec::new();
    let mut rows = Vec::new();
    let mut offset = 0u64;
    let mut put = |header: &mut serde_json::Map<String, serde_json::Value>, name: &str, dtype: DType, shape: &[usize], len: u64| {
        header.insert(name.to_string(), serde_json::json!({ "dtype": dtype.name(), "shape": shape, "data_offsets": [offset, offset + len] }));
        offset += len;
    };
    for info in &index.tensors {
        if info.is_quantizable() {
            for suffix in [".scale", ".zero_point"] {
                let extra = format!("{}{suffix}", info.name);
                if names.contains(extra.as_str()) {
                    return Err(Error::unsupported(
                        &index.file,
                        format!("tensor '{}' would be written as '{extra}', a name the file already uses", info.name),
                    ));
                }
            }
            let layout = SlotLayout::new(&info.shape, spec.granularity).map_err(|e| match e {
                Error::InvalidSpec(detail) => Error::InvalidSpec(format!("tensor '{}': {detail}", info.name)),
                other => other,
            })?;
            let cshape = code_shape(&info.shape, spec);
            let code_bytes = cshape.iter().product::<usize>() as u64;
            let pshape = slot_shape(&info.shape, &layout, spec.granularity);
            let slots = layout.slots;
            let (sd, zd) = (scale_dtype(spec), zero_point_dtype(spec));
            put(&mut header, &info.name, code_dtype(spec), &cshape, code_bytes);
            put(&mut header, &format!("{}.scale", info.name), sd, &pshape, slots as u64 * sd.size() as u64);
            put(&mut header, &format!("{}.zero_point", info.name), zd, &pshape, slots as u64);
            meta.insert(format!("quant.shape.{}", info.name), serde_json::Value::from(info.shape.clone()).to_string().into());
            let bytes = code_bytes + slots as u64 * (sd.size() as u64 + 1);
            let note = layout.short_last_group.map(|s| format!("each row's last group holds {s} values"));
            rows.push(ExportedTensor { name: info.name.clone(), written_as: code_dtype(spec).name().into(), bytes, note });
            entries.push(Entry::Quantize { layout, code_bytes, slot_count: slots });
            sources.push(info.clone());
        } else if let Some(dtype) = copyable(info) {
            put(&mut header, &info.name, dtype, &info.shape, info.byte_len);
            rows.push(ExportedTensor {
                name: info.name.clone(),
                written_as: dtype.name().into(),
                bytes: info.byte_len,
                note: Some("not a float tensor: copied as is".into()),
            });
            entries.push(Entry::Copy { bytes: info.byte_len });
            sources.push(info.clone());
        } else {
            rows.push(ExportedTensor {
                name: info.name.clone(),
                written_as: "-".into(),
                bytes: 0,
                note: Some(format!("left out: {} has no safetensors dtype and is not decoded here", info.dtype.name())),
            });
        }
    }
    header.insert("__metadata__".into(), serde_json::Value::Object(meta));
    let head = header_bytes(header);
    let total_bytes = head.len() as u64 + offset;
    Ok(SafetensorsPlan { file: index.file.clone(), config, sources, entries, header: head, rows, total_bytes })
}

/// The 8-byte length and the JSON header, padded with spaces to a multiple of 8 bytes as the
/// reference writer pads it. Display of a JSON value cannot fail, so the header has no panic path.
pub(super) fn header_bytes(header: serde_json::Map<String, serde_json::Value>) -> Vec<u8> {
    let mut text = serde_json::Value::Object(header).to_string();
    while text.len() % 8 != 0 {
        text.push(' ');
    }
    let mut head = Vec::with_capacity(8 + text.len());
    head.extend_from_slice(&(text.len() as u64).to_le_bytes());
    head.extend_from_slice(text.as_bytes());
    head
}

/// Codes as stored: one byte each, or two 4-bit fields per byte, row by row along the last axis.
pub fn code_bytes(q: &QuantizedTensor) -> Vec<u8> {
    if !is_packed(&q.spec) {
        return match &q.codes {
            Codes::I8(v) => v.iter().map(|&c| c as u8).collect(),
            Codes::U8(v) => v.clone(),
        };
    }
    let row = q.shape.last().copied().unwrap_or(1);
    let n = q.codes.len();
    let mut out = Vec::with_capacity(n.checked_div(row).unwrap_or(0) * row.div_ceil(2));
    if row == 0 {
        return out;
    }
    for start in (0..n).step_by(row) {
        out.extend(crate::quant::packing::pack((start..start + row).map(|i| q.codes.get(i)), NIBBLE_BITS));
    }
    out
}

impl ExportPlan for SafetensorsPlan {
    fn header(&self) -> Result<Vec<u8>> {
        Ok(self.header.clone())
    }

    fn sources(&self) -> &[TensorInfo] {
        &self.sources
    }

    fn encode(&mut self, i: usize, stored: Vec<u8>) -> Result<Vec<u8>> {
        let info = self.sources.get(i).ok_or_else(|| Error::InvalidSpec(format!("no source tensor {i} in this export")))?;
        match &self.entries[i] {
            Entry::Copy { bytes } => {
                let out = copied_bytes(info, stored)?;
                check_len(&self.file, &info.name, out.len() as u64, *bytes)?;
                Ok(out)
            }
            Entry::Quantize { layout, code_bytes: want_codes, slot_count } => {
                let x = formats::decode_tensor(info, stored)?;
                let q = calib::quantize_calibrated(&x, &info.shape, &self.config.spec, &self.config.method)?;
                drop(x);
                debug_assert_eq!(&q.layout, layout);
                let mut out = code_bytes(&q);
                check_len(&self.file, &info.name, out.len() as u64, *want_codes)?;
                check_len(&self.file, &info.name, q.scales.len() as u64, *slot_count as u64)?;
                match self.config.spec.scale_dtype {
                    ScaleDType::F32 => out.extend(q.scales.iter().flat_map(|s| s.to_le_bytes())),
                    // Exact: params_from_range already rounded each scale to f16.
                    ScaleDType::F16 => out.extend(q.scales.iter().flat_map(|&s| half::f16::from_f32(s).to_le_bytes())),
                }
                out.extend(q.zero_points.iter().map(|&z| z as u8));
                Ok(out)
            }
        }
    }

    fn trailer(&mut self) -> Result<Vec<u8>> {
        Ok(Vec::new())
    }

    fn report(&self) -> ExportReport {
        ExportReport { format: "safetensors".into(), tensors: self.rows.clone(), total_bytes: self.total_bytes }
    }
}

/// A non-float tensor as safetensors stores it: little-endian, C order.
pub(super) fn copied_bytes(info: &TensorInfo, stored: Vec<u8>) -> Result<Vec<u8>> {
    Ok(to_c_order_le(info, formats::element_bytes(info, stored)?))
}

fn check_len(file: &str, tensor: &str, got: u64, planned: u64) -> Result<()> {
    if got != planned {
        return Err(Error::malformed(file, format!("tensor '{tensor}': {got} bytes where the header planned {planned}")));
    }
    Ok(())
}

// ---- reading an export back ------------------------------------------------------------------

fn meta<'a>(index: &'a FileIndex, key: &str) -> Result<&'a str> {
    index
        .metadata
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| Error::malformed(&index.file, format!("__metadata__ has no '{key}': not a quant-playground export")))
}

/// The export's configuration, from its `__metadata__`.
pub fn read_config(index: &FileIndex) -> Result<IntExport> {
    let version = meta(index, "quant.scheme_version")?;
    if version != SCHEME_VERSION {
        return Err(Error::unsupported(&index.file, format!("export scheme version {version}; this build reads {SCHEME_VERSION}")));
    }
    let bad = |key: &str, v: &str| Error::malformed(&index.file, format!("__metadata__ '{key}' = '{v}' is not understood"));
    let bits_text = meta(index, "quant.bits")?;
    let bits: u8 = bits_text.parse().map_err(|_| bad("quant.bits", bits_text))?;
    let scheme = match meta(index, "quant.scheme")? {
        "sym" => Scheme::Symmetric,
        "asym" => Scheme::Asymmetric,
        v => return Err(bad("quant.scheme", v)),
    };
    let mut spec = QuantSpec::new(bits, scheme, Granularity::parse(meta(index, "quant.granularity")?)?);
    spec.format.full_range = meta(index, "quant.range")? == "full";
    spec.scale_dtype = match meta(index, "quant.scale_dtype")? {
        "F32" => ScaleDType::F32,
        "F16" => ScaleDType::F16,
        v => return Err(bad("quant.scale_dtype", v)),
    };
    spec.validate()?;
    let method = Method::parse(meta(index, "quant.calibration")?)?;
    Ok(IntExport { spec, method })
}

/// Reads one quantized tensor of an export back: codes, scales and zero points as the playground
/// holds them, so `dequantize()` gives exactly what `quantize` measured.
pub fn read_quantized(index: &FileIndex, source: &mut dyn ByteSource, name: &str) -> Result<QuantizedTensor> {
    let config = read_config(index)?;
    let spec = config.spec;
    let shape_text = meta(index, &format!("quant.shape.{name}"))?;
    let shape: Vec<usize> = serde_json::from_str(shape_text)
        .map_err(|e| Error::malformed(&index.file, format!("__metadata__ quant.shape.{name} = '{shape_text}': {e}")))?;
    let layout = SlotLayout::new(&shape, spec.granularity)?;
    let n: usize = shape.iter().product();
    let bad = |what: String| Error::malformed(&index.file, format!("tensor '{name}': {what}"));

    let codes_info = index.tensor(name)?;
    let want = (code_dtype(&spec), code_shape(&shape, &spec));
    if (codes_info.dtype, codes_info.shape.clone()) != want {
        return Err(bad(format!("codes are {} {:?}, the metadata implies {} {:?}", codes_info.dtype.name(), codes_info.shape, want.0.name(), want.1)));
    }
    let raw = formats::read_tensor_bytes(source, codes_info)?;
    let signed = spec.format.scheme == Scheme::Symmetric;
    let values: Vec<i32> = if is_packed(&spec) {
        let row = shape.last().copied().unwrap_or(1);
        let row_bytes = row.div_ceil(2);
        let mut v = Vec::with_capacity(n);
        if row > 0 {
            for chunk in raw.chunks(row_bytes) {
                v.extend(crate::quant::packing::unpack(chunk, NIBBLE_BITS, row, signed)?);
            }
        }
        v
    } else if signed {
        raw.iter().map(|&b| b as i8 as i32).collect()
    } else {
        raw.iter().map(|&b| b as i32).collect()
    };
    if values.len() != n {
        return Err(bad(format!("{} codes for shape {shape:?}", values.len())));
    }
    let (qmin, qmax) = spec.code_range();
    if let Some(c) = values.iter().find(|&&c| c < qmin || c > qmax) {
        return Err(bad(format!("code {c} lies outside {qmin}..={qmax}")));
    }
    let codes = if signed { Codes::I8(values.iter().map(|&c| c as i8).collect()) } else { Codes::U8(values.iter().map(|&c| c as u8).collect()) };

    let pshape = slot_shape(&shape, &layout, spec.granularity);
    let scale_info = index.tensor(&format!("{name}.scale"))?;
    let zp_info = index.tensor(&format!("{name}.zero_point"))?;
    if scale_info.shape != pshape || zp_info.shape != pshape || scale_info.dtype != scale_dtype(&spec) || zp_info.dtype != zero_point_dtype(&spec) {
        return Err(bad(format!(
            "scale {} {:?} / zero point {} {:?}, expected {} / {} of shape {pshape:?}",
            scale_info.dtype.name(),
            scale_info.shape,
            zp_info.dtype.name(),
            zp_info.shape,
            scale_dtype(&spec).name(),
            zero_point_dtype(&spec).name()
        )));
    }
    let scales = crate::tensor::decode_to_f32(scale_info, &formats::read_tensor_bytes(source, scale_info)?)?;
    let zp_raw = formats::read_tensor_bytes(source, zp_info)?;
    let zero_points: Vec<i32> = zp_raw.iter().map(|&b| if signed { b as i8 as i32 } else { b as i32 }).collect();
    Ok(QuantizedTensor {
        spec,
        shape,
        layout,
        scales,
        zero_points,
        codes,
        clipped: 0,
        nonfinite: 0,
        error: Default::default(),
    })
}

/// The names of the quantized tensors of an export (those with a `quant.shape.<name>` entry).
pub fn quantized_names(index: &FileIndex) -> Vec<String> {
    let mut v: Vec<String> = index.metadata.iter().filter_map(|(k, _)| k.strip_prefix("quant.shape.").map(str::to_string)).collect();
    v.sort();
    v
}

/// An exported tensor dequantized back to f32: x̂ = (q − zero_point) · scale per slot.
pub fn dequantize_exported(index: &FileIndex, source: &mut dyn ByteSource, name: &str) -> Result<Vec<f32>> {
    Ok(read_quantized(index, source, name)?.dequantize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::write_plan;
    use crate::tensor::fortran_bytes_to_c_order;

    fn export(x: &[f32], shape: &[usize], spec: QuantSpec) -> (Vec<u8>, QuantizedTensor) {
        let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
        let src = formats::safetensors::write(&[("w", DType::F32, shape, &bytes), ("ids", DType::I64, &[2], &[1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0])], &[]);
        let index = formats::parse_index("src.safetensors", &src, src.len() as u64).unwrap();
        let config = IntExport { spec, method: Method::MinMax };
        let mut plan = plan_safetensors(&index, config).unwrap();
        let mut out = Vec::new();
        let report = write_plan(&mut plan, &mut &src[..], &mut out, "out", &mut |_, _, _| {}).unwrap();
        assert_eq!(report.total_bytes, out.len() as u64);
        (out, calib::quantize_calibrated(x, shape, &spec, &Method::MinMax).unwrap())
    }

    #[test]
    fn int4_symmetric_packs_rows_low_nibble_first() {
        // Rows of 3: [-7, 0, 7] and [1, -1, 3.5]; scale per tensor 7/7 = 1.
        let x = [-7.0, 0.0, 7.0, 1.0, -1.0, 3.5];
        let spec = QuantSpec::new(4, Scheme::Symmetric, Granularity::PerTensor);
        let (out, q) = export(&x, &[2, 3], spec);
        let index = formats::parse_index("out.safetensors", &out, out.len() as u64).unwrap();
        let codes = index.tensor("w").unwrap();
        assert_eq!((codes.dtype, codes.shape.clone()), (DType::U8, vec![2, 2]));
        let at = codes.offset as usize;
        // −7 = 0x9, 0 = 0x0 → 0x09; 7 → 0x07 (each row starts a byte); 1, −1 = 0xF → 0xF1; 3.5 → 4 (ties to even) → 0x04.
        assert_eq!(&out[at..at + 4], &[0x09, 0x07, 0xF1, 0x04]);
        assert_eq!(dequantize_exported(&index, &mut &out[..], "w").unwrap(), q.dequantize());
        let ids = index.tensor("ids").unwrap();
        assert_eq!((ids.dtype, ids.byte_len), (DType::I64, 16));
        assert_eq!(quantized_names(&index), vec!["w".to_string()]);
    }

    #[test]
    fn int8_asymmetric_per_group_reads_back_exactly() {
        let x: Vec<f32> = (0..30).map(|i| ((i * 37 % 17) as f32 - 5.0) * 0.31).collect();
        let spec = QuantSpec::new(8, Scheme::Asymmetric, Granularity::PerGroup { size: 4 });
        let (out, q) = export(&x, &[3, 10], spec);
        let index = formats::parse_index("out.safetensors", &out, out.len() as u64).unwrap();
        assert_eq!(index.tensor("w").unwrap().dtype, DType::U8);
        assert_eq!(index.tensor("w.scale").unwrap().shape, vec![3, 3]);
        assert_eq!(index.tensor("w.zero_point").unwrap().dtype, DType::U8);
        let back = read_quantized(&index, &mut &out[..], "w").unwrap();
        assert_eq!((back.codes.clone(), back.scales.clone(), back.zero_points.clone()), (q.codes.clone(), q.scales.clone(), q.zero_points.clone()));
        assert_eq!(back.dequantize(), q.dequantize());
    }

    #[test]
    fn fortran_order_integers_are_copied_in_c_order() {
        // numpy: np.asfortranarray(np.arange(6, dtype='<i2').reshape(2, 3)).tobytes('A') holds 0 3 1 4 2 5.
        let stored: Vec<u8> = [0i16, 3, 1, 4, 2, 5].iter().flat_map(|v| v.to_le_bytes()).collect();
        let want: Vec<u8> = (0i16..6).flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(fortran_bytes_to_c_order(&stored, &[2, 3], 2), want);
    }

    #[test]
    fn name_collisions_are_refused() {
        let f = formats::safetensors::write(&[("w", DType::F32, &[1], &[0, 0, 128, 63]), ("w.scale", DType::F32, &[1], &[0, 0, 128, 63])], &[]);
        let index = formats::parse_index("clash.safetensors", &f, f.len() as u64).unwrap();
        let config = IntExport { spec: QuantSpec::new(8, Scheme::Symmetric, Granularity::PerTensor), method: Method::MinMax };
        let err = plan_safetensors(&index, config).err().unwrap().to_string();
        assert!(err.contains("'w.scale'") && err.contains("already uses"), "{err}");
    }
}
