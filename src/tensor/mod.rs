//! Element types, tensor descriptions, decoding stored bytes to f32, and the FP16/BF16 casts.

use crate::error::{Error, Result};
use crate::kernels;
use crate::quant::ggml::{self, GgmlType};
use crate::quant::FloatCast;
use stored::StoredQuant;
use half::{bf16, f16};
use serde::{Deserialize, Serialize};

pub mod stored;

/// Element types a weight file may hold. Only the float ones are quantized; the rest are listed.
/// In JSON a dtype is its name ("F32", "Q4_K", "Q2_K"), the spelling of the safetensors spec and ggml.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    F64,
    F32,
    F16,
    BF16,
    F8E4M3,
    F8E5M2,
    I64,
    I32,
    I16,
    I8,
    U64,
    U32,
    U16,
    U8,
    Bool,
    /// A ggml block type (GGUF): the ones in `ggml::DECODED` are quantizable, the rest are listed
    /// with their block size only.
    Ggml(GgmlType),
}

impl DType {
    /// Bytes per element as stored; for ggml block types, bytes per block (see `block`).
    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 | DType::U64 => 8,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F16 | DType::BF16 | DType::I16 | DType::U16 => 2,
            DType::F8E4M3 | DType::F8E5M2 | DType::I8 | DType::U8 | DType::Bool => 1,
            DType::Ggml(t) => t.block_bytes(),
        }
    }

    /// Elements per stored unit: 1 for element types, the block size for ggml block types.
    pub fn block(self) -> usize {
        match self {
            DType::Ggml(t) => t.block_len(),
            _ => 1,
        }
    }

    /// Stored bytes of `elements` elements, or None when the count overflows or is not a whole
    /// number of blocks.
    pub fn bytes_for(self, elements: u64) -> Option<u64> {
        let block = self.block() as u64;
        if block == 0 || elements % block != 0 {
            return None;
        }
        (elements / block).checked_mul(self.size() as u64)
    }

    /// Whether the playground quantizes tensors of this type (the float types it can decode exactly,
    /// and the ggml block types it dequantizes as ggml does).
    pub fn is_quantizable(self) -> bool {
        match self {
            DType::F64 | DType::F32 | DType::F16 | DType::BF16 => true,
            DType::Ggml(t) => t.codec().is_some(),
            _ => false,
        }
    }

    /// The name used in reports, the same spelling as the safetensors spec.
    pub fn name(self) -> &'static str {
        match self {
            DType::F64 => "F64",
            DType::F32 => "F32",
            DType::F16 => "F16",
            DType::BF16 => "BF16",
            DType::F8E4M3 => "F8_E4M3",
            DType::F8E5M2 => "F8_E5M2",
            DType::I64 => "I64",
            DType::I32 => "I32",
            DType::I16 => "I16",
            DType::I8 => "I8",
            DType::U64 => "U64",
            DType::U32 => "U32",
            DType::U16 => "U16",
            DType::U8 => "U8",
            DType::Bool => "BOOL",
            DType::Ggml(t) => t.name(),
        }
    }
}

impl Serialize for DType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for DType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        DType::from_name(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown dtype '{name}'")))
    }
}

impl DType {
    /// The dtype of a name as `name()` spells it.
    pub fn from_name(name: &str) -> Option<DType> {
        const PLAIN: [DType; 15] = [
            DType::F64,
            DType::F32,
            DType::F16,
            DType::BF16,
            DType::F8E4M3,
            DType::F8E5M2,
            DType::I64,
            DType::I32,
            DType::I16,
            DType::I8,
            DType::U64,
            DType::U32,
            DType::U16,
            DType::U8,
            DType::Bool,
        ];
        PLAIN.into_iter().find(|d| d.name() == name).or_else(|| GgmlType::from_name(name).map(DType::Ggml))
    }

    /// The dtype of a GGUF tensor type id, or None for an id ggml does not define.
    pub fn from_ggml_id(id: u32) -> Option<DType> {
        Some(match id {
            0 => DType::F32,
            1 => DType::F16,
            24 => DType::I8,
            25 => DType::I16,
            26 => DType::I32,
            27 => DType::I64,
            28 => DType::F64,
            30 => DType::BF16,
            _ => DType::Ggml(GgmlType::from_id(id)?),
        })
    }
}

/// How a tensor's stored bytes (`TensorInfo::stored_range`) become its element bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Storage {
    /// The element bytes themselves: `byte_len` bytes at `offset`.
    #[default]
    Raw,
    /// A deflate-compressed zip member (.npz from savez_compressed, re-zipped .pt): `compressed_len`
    /// bytes at `offset` inflate to `inflated_len` bytes with this CRC-32; the elements are the
    /// `byte_len` bytes from `skip` on (after the member's .npy header, or a storage offset).
    Deflate { compressed_len: u64, inflated_len: u64, crc32: u32, skip: u64 },
    /// ONNX `int32_data` holding fp16/bf16 bit patterns: `stored_len` bytes of packed protobuf
    /// varints at `offset`, one per element, each giving the low 16 bits.
    Varint16 { stored_len: u64 },
    /// ONNX `int32_data` / `int64_data` / `uint64_data` holding integers: `stored_len` bytes of
    /// packed varints at `offset`, one per element, each truncated to the dtype's width (negative
    /// values are sign-extended 64-bit varints, so truncation keeps their two's complement).
    Varints { stored_len: u64 },
    /// Element bytes that run on from one file into the next: TF.js cuts a group's concatenated
    /// weights into shards of a fixed size, so a weight may start near the end of one shard and end
    /// in the next (tensorflowjs/write_weights.py `_shard_group_bytes_to_disk`). The element bytes are
    /// the parts in order; the first part is also `data_file` at `offset`, and `byte_len` is the sum.
    /// A GPTQ / AWQ Linear is split too, into its qweight, qzeros and scales in its own file (parts
    /// whose `file` is empty): `byte_len` is then the codes' (qweight's) length and the parameters
    /// follow them (`stored::LazyParams`).
    Split { parts: Vec<FilePart> },
}

/// `len` bytes at `offset` of `file` (a name relative to the indexed file's folder, as `data_file`;
/// empty for the file that holds the tensor itself: `data_file`, else the indexed file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilePart {
    pub file: String,
    pub offset: u64,
    pub len: u64,
}

impl Storage {
    fn is_raw(&self) -> bool {
        *self == Storage::Raw
    }
}

/// Where a tensor lives in its file and how its bytes are laid out. Parsed from the header only.
/// In JSON it also says `"quantizable"` (`TensorInfo::is_quantizable`), for the page; that key is
/// ignored when read back.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TensorInfo {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    /// Byte offset of the first element from the start of the file.
    pub offset: u64,
    /// Number of element bytes (elements × dtype size; blocks × block bytes for ggml block types).
    pub byte_len: u64,
    /// Elements stored big-endian (only .npy can say so).
    pub big_endian: bool,
    /// Elements stored in Fortran (column-major) order (only .npy can say so).
    pub fortran_order: bool,
    /// How the stored bytes become element bytes; Raw unless said.
    #[serde(default, skip_serializing_if = "Storage::is_raw")]
    pub storage: Storage,
    /// The file holding the bytes when it is not the indexed file itself (ONNX external data,
    /// a shard of a sharded safetensors checkpoint). A name relative to the indexed file's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_file: Option<String>,
    /// Set when the file stores this tensor quantized: the stored bytes are its codes (of `dtype`,
    /// laid out as the quantization says) and its values are their dequantization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quant: Option<StoredQuant>,
    /// Set for a scale or zero point of a quantization stored in the file: the tensor (or
    /// activation) it belongs to. Listed as stored, not a weight to quantize.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter_of: Option<String>,
}

impl Serialize for TensorInfo {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        // Destructured so that a new field cannot be left out of the JSON.
        let TensorInfo { name, dtype, shape, offset, byte_len, big_endian, fortran_order, storage, data_file, quant, parameter_of } = self;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", name)?;
        m.serialize_entry("dtype", dtype)?;
        m.serialize_entry("quantizable", &self.is_quantizable())?;
        m.serialize_entry("shape", shape)?;
        m.serialize_entry("offset", offset)?;
        m.serialize_entry("byte_len", byte_len)?;
        m.serialize_entry("big_endian", big_endian)?;
        m.serialize_entry("fortran_order", fortran_order)?;
        if !storage.is_raw() {
            m.serialize_entry("storage", storage)?;
        }
        if let Some(file) = data_file {
            m.serialize_entry("data_file", file)?;
        }
        if let Some(q) = quant {
            m.serialize_entry("quant", q)?;
        }
        if let Some(of) = parameter_of {
            m.serialize_entry("parameter_of", of)?;
        }
        m.end()
    }
}

impl TensorInfo {
    /// A tensor whose element bytes are stored as is, in the indexed file.
    pub fn raw(name: impl Into<String>, dtype: DType, shape: Vec<usize>, offset: u64, byte_len: u64) -> Self {
        TensorInfo {
            name: name.into(),
            dtype,
            shape,
            offset,
            byte_len,
            big_endian: false,
            fortran_order: false,
            storage: Storage::Raw,
            data_file: None,
            quant: None,
            parameter_of: None,
        }
    }

    /// Whether the playground can read this tensor's values (and so quantize it): a float or
    /// decoded ggml dtype, or codes stored with their own quantization parameters.
    pub fn is_quantizable(&self) -> bool {
        (self.dtype.is_quantizable() && self.parameter_of.is_none()) || self.quant.is_some()
    }

    pub fn element_count(&self) -> usize {
        self.shape.iter().product()
    }

    /// The byte range of the file (`data_file` if set) to read for this tensor: (offset, length).
    /// For bytes split over files (or ranges) it is the first part's offset and the length of all
    /// the parts (more than the first range holds there): read `file_parts` instead.
    pub fn stored_range(&self) -> (u64, u64) {
        match &self.storage {
            Storage::Raw => (self.offset, self.byte_len),
            Storage::Split { parts } => (self.offset, parts.iter().fold(0u64, |a, p| a.saturating_add(p.len))),
            Storage::Deflate { compressed_len, .. } => (self.offset, *compressed_len),
            Storage::Varint16 { stored_len } | Storage::Varints { stored_len } => (self.offset, *stored_len),
        }
    }

    /// The pieces of files to read and concatenate for this tensor's stored bytes: (file, offset,
    /// length), the file None for the indexed file itself. One piece (`stored_range` of
    /// `data_file`) unless the bytes are split over files or ranges.
    pub fn file_parts(&self) -> Vec<(Option<&str>, u64, u64)> {
        match &self.storage {
            Storage::Split { parts } => parts
                .iter()
                .map(|p| (if p.file.is_empty() { self.data_file.as_deref() } else { Some(p.file.as_str()) }, p.offset, p.len))
                .collect(),
            _ => {
                let (offset, len) = self.stored_range();
                vec![(self.data_file.as_deref(), offset, len)]
            }
        }
    }
}

/// Number of elements of a shape, or None when the product overflows usize.
pub fn checked_element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// Decodes the element bytes of whole rows (last axis) of a raw, C-order tensor: one chunk of it,
/// for a pass that streams the tensor.
pub fn decode_rows_to_f32(info: &TensorInfo, bytes: &[u8]) -> Result<Vec<f32>> {
    decode_to_f32(&rows_part(info, bytes)?, bytes)
}

/// `decode_rows_to_f32` into `out` (whose memory is reused chunk after chunk); returns how many of
/// the values are NaN or ±Inf, which the passes that read the chunk next need not count again.
pub fn decode_rows_into(info: &TensorInfo, bytes: &[u8], out: &mut Vec<f32>) -> Result<usize> {
    let part = rows_part(info, bytes)?;
    let n = part.shape[0] * part.shape[1];
    if part.quant.is_none() && !part.big_endian {
        let decode = match part.dtype {
            DType::F32 => Some(kernels::decode_f32_le as fn(&[u8], &mut [f32]) -> usize),
            DType::F16 => Some(kernels::decode_f16_le as fn(&[u8], &mut [f32]) -> usize),
            DType::BF16 => Some(kernels::decode_bf16_le as fn(&[u8], &mut [f32]) -> usize),
            _ => None,
        };
        if let Some(decode) = decode {
            out.resize(n, 0.0);
            return Ok(decode(bytes, out));
        }
    }
    *out = decode_to_f32(&part, bytes)?;
    Ok(kernels::count_nonfinite(out))
}

/// The description of a chunk of whole rows of `info`, or an error naming the tensor.
fn rows_part(info: &TensorInfo, bytes: &[u8]) -> Result<TensorInfo> {
    let row_len = info.shape.last().copied().unwrap_or(1).max(1);
    let row_bytes = info.dtype.bytes_for(row_len as u64).filter(|&b| b > 0);
    let rows = row_bytes.map(|b| bytes.len() as u64 / b).filter(|&r| row_bytes.map(|b| r * b) == Some(bytes.len() as u64));
    let Some(rows) = rows else {
        return Err(Error::malformed(
            &info.name,
            format!("tensor '{}': a chunk of {} bytes is not whole rows of {row_len} {} values", info.name, bytes.len(), info.dtype.name()),
        ));
    };
    Ok(TensorInfo { shape: vec![rows as usize, row_len], byte_len: bytes.len() as u64, fortran_order: false, ..info.clone() })
}

/// Decodes a tensor's stored bytes to f32 in C (row-major) order. F64 is rounded to nearest f32;
/// F16 and BF16 widen exactly.
pub fn decode_to_f32(info: &TensorInfo, bytes: &[u8]) -> Result<Vec<f32>> {
    if let Some(q) = &info.quant {
        return stored::dequantize(&info.name, q, info.dtype, &info.shape, bytes);
    }
    if !info.dtype.is_quantizable() {
        return Err(Error::NotQuantizable { tensor: info.name.clone(), dtype: info.dtype.name().into() });
    }
    let n = checked_element_count(&info.shape)
        .ok_or_else(|| Error::malformed(&info.name, format!("tensor '{}': shape {:?} overflows the element count", info.name, info.shape)))?;
    let expected = info.dtype.bytes_for(n as u64);
    if bytes.len() as u64 != info.byte_len || expected != Some(bytes.len() as u64) {
        return Err(Error::malformed(
            &info.name,
            format!(
                "tensor '{}' should have {} bytes ({} elements of {}) but {} were given",
                info.name,
                expected.map_or_else(|| "a whole number of blocks of".to_string(), |e| e.to_string()),
                n,
                info.dtype.name(),
                bytes.len()
            ),
        ));
    }
    if let DType::Ggml(t) = info.dtype {
        // ggml block types are little-endian, C order by definition.
        return ggml::dequantize(t, bytes).ok_or_else(|| Error::NotQuantizable { tensor: info.name.clone(), dtype: info.dtype.name().into() });
    }
    let be = info.big_endian;
    if !be && matches!(info.dtype, DType::F32 | DType::F16 | DType::BF16) {
        // The SIMD decoders (kernels::decode_*_le; their scalar twins equal the half crate's).
        let mut out = vec![0.0; n];
        match info.dtype {
            DType::F32 => kernels::decode_f32_le(bytes, &mut out),
            DType::F16 => kernels::decode_f16_le(bytes, &mut out),
            _ => kernels::decode_bf16_le(bytes, &mut out),
        };
        if info.fortran_order && info.shape.len() > 1 {
            out = fortran_to_c_order(&out, &info.shape);
        }
        return Ok(out);
    }
    let mut out = Vec::with_capacity(n);
    match info.dtype {
        DType::F32 => out.extend(bytes.chunks_exact(4).map(|c| {
            let a = [c[0], c[1], c[2], c[3]];
            if be { f32::from_be_bytes(a) } else { f32::from_le_bytes(a) }
        })),
        DType::F64 => out.extend(bytes.chunks_exact(8).map(|c| {
            let a: [u8; 8] = c.try_into().expect("chunk of 8");
            (if be { f64::from_be_bytes(a) } else { f64::from_le_bytes(a) }) as f32
        })),
        DType::F16 => out.extend(bytes.chunks_exact(2).map(|c| {
            let bits = if be { u16::from_be_bytes([c[0], c[1]]) } else { u16::from_le_bytes([c[0], c[1]]) };
            f16::from_bits(bits).to_f32()
        })),
        DType::BF16 => out.extend(bytes.chunks_exact(2).map(|c| {
            let bits = if be { u16::from_be_bytes([c[0], c[1]]) } else { u16::from_le_bytes([c[0], c[1]]) };
            bf16::from_bits(bits).to_f32()
        })),
        _ => unreachable!("checked by is_quantizable above"),
    }
    if info.fortran_order && info.shape.len() > 1 {
        out = fortran_to_c_order(&out, &info.shape);
    }
    Ok(out)
}

/// Reorders column-major data into row-major order for the same shape.
pub fn fortran_to_c_order(data: &[f32], shape: &[usize]) -> Vec<f32> {
    fortran_sources(shape, data.len()).map(|src| data[src]).collect()
}

/// Reorders column-major elements of `size` bytes each into row-major order for the same shape.
pub fn fortran_bytes_to_c_order(data: &[u8], shape: &[usize], size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    for src in fortran_sources(shape, data.len() / size.max(1)) {
        out.extend_from_slice(&data[src * size..(src + 1) * size]);
    }
    out
}

/// A tensor's element bytes (as `formats::element_bytes` gives them) as little-endian elements in
/// row-major order, whatever the file stored: what a writer or a runtime takes (.npy alone can say
/// big-endian or Fortran order).
pub fn to_c_order_le(info: &TensorInfo, mut bytes: Vec<u8>) -> Vec<u8> {
    let size = info.dtype.size();
    if info.big_endian && size > 1 {
        bytes.chunks_exact_mut(size).for_each(|c| c.reverse());
    }
    if info.fortran_order && info.shape.len() > 1 {
        bytes = fortran_bytes_to_c_order(&bytes, &info.shape, size);
    }
    bytes
}

/// For each of `n` elements in row-major (C) order, its index in the column-major (Fortran) layout.
fn fortran_sources(shape: &[usize], n: usize) -> impl Iterator<Item = usize> + '_ {
    // Strides of the Fortran layout: the first axis varies fastest.
    let mut f_strides = vec![1usize; shape.len()];
    for a in 1..shape.len() {
        f_strides[a] = f_strides[a - 1] * shape[a - 1];
    }
    let mut index = vec![0usize; shape.len()];
    (0..n).map(move |_| {
        let src = index.iter().zip(&f_strides).map(|(i, s)| i * s).sum();
        // Advance the C-order multi-index (last axis fastest).
        for a in (0..shape.len()).rev() {
            index[a] += 1;
            if index[a] < shape[a] {
                break;
            }
            index[a] = 0;
        }
        src
    })
}

/// f32 → f16 → f32 with round-to-nearest-even (the `half` crate's conversion), as a dtype cast would store it.
pub fn round_trip_f16(x: &[f32]) -> Vec<f32> {
    FloatCast::F16.round_trip(x)
}

/// f32 → bf16 → f32 with round-to-nearest-even, as torch's `.to(torch.bfloat16)` stores it.
pub fn round_trip_bf16(x: &[f32]) -> Vec<f32> {
    FloatCast::Bf16.round_trip(x)
}

#[cfg(test)]
mod tests {
    #[test]
    fn to_c_order_le_swaps_bytes_and_axes() {
        // i16 [2, 2] stored big-endian, column-major: elements a00=1, a10=2, a01=3, a11=4 in that order.
        let mut info = TensorInfo::raw("t", DType::I16, vec![2, 2], 0, 8);
        info.big_endian = true;
        info.fortran_order = true;
        let stored = vec![0, 1, 0, 2, 0, 3, 0, 4];
        // Row-major little-endian: a00, a01, a10, a11 = 1, 3, 2, 4.
        assert_eq!(to_c_order_le(&info, stored.clone()), vec![1, 0, 3, 0, 2, 0, 4, 0]);
        let plain = TensorInfo::raw("t", DType::I16, vec![2, 2], 0, 8);
        assert_eq!(to_c_order_le(&plain, stored.clone()), stored);
    }

    use super::*;
    use crate::quant::ggml::GgmlBlock;

    #[test]
    fn fortran_order_is_transposed_back() {
        // numpy: np.asfortranarray(np.arange(6).reshape(2,3)).tobytes('A') == [0,3,1,4,2,5]
        let stored = [0.0, 3.0, 1.0, 4.0, 2.0, 5.0];
        assert_eq!(fortran_to_c_order(&stored, &[2, 3]), vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn f16_and_bf16_round_to_nearest_even() {
        // 1 + 2^-11 is halfway between f16 neighbours 1 and 1 + 2^-10: ties to even gives 1.
        assert_eq!(round_trip_f16(&[1.0 + 2f32.powi(-11)]), vec![1.0]);
        // 1 + 3·2^-11 is halfway between 1 + 2^-10 and 1 + 2^-9: ties to even gives 1 + 2^-9.
        assert_eq!(round_trip_f16(&[1.0 + 3.0 * 2f32.powi(-11)]), vec![1.0 + 2f32.powi(-9)]);
        // bf16 keeps 8 significant bits: 1 + 2^-8 is a tie, goes to 1.
        assert_eq!(round_trip_bf16(&[1.0 + 2f32.powi(-8)]), vec![1.0]);
        assert_eq!(round_trip_bf16(&[1.0 + 3.0 * 2f32.powi(-8)]), vec![1.0 + 2f32.powi(-6)]);
    }

    #[test]
    fn dtypes_are_names_in_json() {
        for d in [DType::F32, DType::BF16, DType::Bool, DType::F8E4M3, DType::Ggml(ggml::Q4_K::TYPE), DType::from_ggml_id(10).unwrap()] {
            let j = serde_json::to_string(&d).unwrap();
            assert_eq!(j, format!("\"{}\"", d.name()));
            assert_eq!(serde_json::from_str::<DType>(&j).unwrap(), d);
        }
        assert!(serde_json::from_str::<DType>("\"Q9\"").is_err());
    }

    #[test]
    fn ggml_dtypes_take_their_sizes_from_the_block_types() {

        for (dt, name, id, block, bytes) in [
            (DType::Ggml(ggml::Q4_0::TYPE), "Q4_0", 2, 32, 18),
            (DType::Ggml(ggml::Q4_1::TYPE), "Q4_1", 3, 32, 20),
            (DType::Ggml(ggml::Q5_0::TYPE), "Q5_0", 6, 32, 22),
            (DType::Ggml(ggml::Q5_1::TYPE), "Q5_1", 7, 32, 24),
            (DType::Ggml(ggml::Q8_0::TYPE), "Q8_0", 8, 32, 34),
            (DType::Ggml(ggml::Q4_K::TYPE), "Q4_K", 12, 256, 144),
            (DType::Ggml(ggml::Q6_K::TYPE), "Q6_K", 14, 256, 210),
            (DType::Ggml(ggml::Q2_K::TYPE), "Q2_K", 10, 256, 84),
            (DType::Ggml(ggml::Q3_K::TYPE), "Q3_K", 11, 256, 110),
            (DType::Ggml(ggml::Q5_K::TYPE), "Q5_K", 13, 256, 176),
            (DType::Ggml(ggml::IQ4_NL::TYPE), "IQ4_NL", 20, 32, 18),
            (DType::Ggml(ggml::IQ4_XS::TYPE), "IQ4_XS", 23, 256, 136),
            (DType::Ggml(ggml::TQ1_0::TYPE), "TQ1_0", 34, 256, 54),
            (DType::Ggml(ggml::TQ2_0::TYPE), "TQ2_0", 35, 256, 66),
            (DType::Ggml(ggml::MXFP4::TYPE), "MXFP4", 39, 32, 17),
        ] {
            assert_eq!((dt.name(), dt.block(), dt.size()), (name, block, bytes));
            assert_eq!(DType::from_ggml_id(id), Some(dt));
            assert!(dt.is_quantizable());
        }
        assert_eq!(DType::from_ggml_id(9).unwrap().name(), "Q8_1");
        assert!(!DType::from_ggml_id(9).unwrap().is_quantizable(), "listed, not decoded");
        assert_eq!(DType::from_ggml_id(5), None);
        assert_eq!(DType::from_ggml_id(30), Some(DType::BF16));
    }

    #[test]
    fn tensor_json_says_whether_it_is_quantizable_and_reads_back() {
        let mut info = TensorInfo::raw("w", DType::Ggml(ggml::Q4_K::TYPE), vec![256], 0, 144);
        info.data_file = Some("part-2.bin".into());
        let j = serde_json::to_value(&info).unwrap();
        assert_eq!(j["quantizable"], true);
        assert_eq!(j["dtype"], "Q4_K");
        assert_eq!(j["data_file"], "part-2.bin");
        assert!(j.get("storage").is_none());
        assert_eq!(serde_json::from_value::<TensorInfo>(j).unwrap(), info);
        for (dtype, quantizable) in [(DType::F16, true), (DType::I8, false), (DType::from_ggml_id(9).unwrap(), false)] {
            let j = serde_json::to_value(TensorInfo::raw("t", dtype, vec![1], 0, 0)).unwrap();
            assert_eq!(j["quantizable"], quantizable, "{}", dtype.name());
        }
    }

    #[test]
    fn decode_rejects_wrong_length() {
        let info = TensorInfo::raw("w", DType::F32, vec![2], 0, 8);
        assert!(decode_to_f32(&info, &[0u8; 7]).is_err());
        assert_eq!(decode_to_f32(&info, &[0, 0, 128, 63, 0, 0, 0, 64]).unwrap(), vec![1.0, 2.0]);
    }
}
