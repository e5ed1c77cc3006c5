//! Quantization a file already holds: a tensor stored as integer codes with its own scales and
//! zero points (ONNX DequantizeLinear inputs, QLinear*/…Integer weights, MatMulNBits blobs, TF.js
//! uint8/uint16 affine and float16 weights). The
//! reader records the parameters here; `dequantize` gives the values the file's own runtime
//! computes, so every view treats such a tensor as its dequantized f32 values.

use crate::error::{Error, Result};
use super::{checked_element_count, DType};
use serde::{Deserialize, Serialize};

/// Which rule of which runtime the parameters follow. In JSON a unit variant is its name
/// ("onnx_qlinear"); `TfjsAffine` is `{"tfjs_affine": {"scale", "min", "int32"}}` (`label` names any).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoredScheme {
    /// ONNX DequantizeLinear: y = (x − zero_point) · scale.
    OnnxDequantizeLinear,
    /// A weight input of QLinearConv / QLinearMatMul (and com.microsoft QLinearAdd / QLinearMul)
    /// with its scale and zero-point inputs; or QLinearConv's int32 bias, whose scale is
    /// x_scale · w_scale (onnxruntime quantization/base_quantizer.py quantize_bias_static_impl).
    OnnxQlinear,
    /// A weight of ConvInteger / MatMulInteger (onnxruntime quantize_dynamic): its zero point is an
    /// input, its scale the initializer multiplied into the output's scale.
    OnnxInteger,
    /// com.microsoft MatMulNBits: B packed in blocks along K, one scale (and zero point) per block.
    OnnxMatmulNbits,
    /// A TFLite tensor's QuantizationParameters: real = scale · (q − zero_point), per tensor or
    /// along quantized_dimension.
    Tflite,
    /// A torch quantized tensor (qint8 / quint8 / qint32, torch.ao and TorchScript archives):
    /// per tensor fbgemm::Dequantize, float(scale) · (q − zero_point) in f32; per channel aten's
    /// dequantize_per_channel_affine_kernel, (float(q) − zero_point) · scale with the double scale.
    TorchAffine,
    /// A GPTQ Linear in auto-gptq's layout (qweight / qzeros / scales / g_idx, as transformers'
    /// and optimum's GPTQ integrations load it): zeros stored minus one, y = f16(scale · (q − zero))
    /// as the kernels' torch fallback computes it in half (auto_gptq qlinear_cuda_old forward).
    Gptq,
    /// An AutoAWQ GEMM Linear (qweight / qzeros / scales): y = f16(scale · (q − zero)) as
    /// awq.utils.packing_utils.dequantize_gemm computes it in half.
    Awq,
    /// A TF.js weight stored as uint8/uint16 codes (the manifest's `quantization: {dtype, scale,
    /// min}`): value = q·scale + min in float64 (JavaScript numbers), stored as float32; an int32
    /// weight takes Math.round of it (tfjs-core/src/io/io_utils.ts decodeWeight). The manifest's
    /// scale and min are float64 (tensorflowjs/quantization.py computes them in float64), so they
    /// are kept here exactly; `StoredQuant::scales` holds the scale rounded to f32 for display.
    TfjsAffine { scale: f64, min: f64, int32: bool },
    /// A TF.js float32 weight stored as float16 (`quantization: {dtype: "float16"}`), widened by
    /// tfjs's lookup tables (io_utils.ts getFloat16Decoder), which keep a NaN's payload as it is.
    /// No parameters: `StoredQuant::scales` is empty.
    TfjsFloat16,
    /// A bitsandbytes 4-bit Linear weight (NF4 or FP4, `Linear4bit` as transformers saves it):
    /// value = dtype(f32(quant_map[code] · absmax[block])), blocks of `blocksize` consecutive
    /// elements in C order (bitsandbytes/backends/default/ops.py _dequantize_4bit_compute). With
    /// double quantization absmax is itself decoded first (functional.py dequantize_4bit), so
    /// `StoredQuant::scales` holds the f32 absmax the kernel multiplies by.
    Bnb4 { quant_map: [f32; 16], dtype: BnbDtype },
    /// A bitsandbytes LLM.int8() weight (`Linear8bitLt`: int8 codes, per-row `SCB`): value =
    /// f32(f32(code · SCB[row]) · f32(1 / 127)) (backends/default/ops.py int8_vectorwise_dequant,
    /// `A * stats.view(-1, 1) * 7.874015718698502e-3`).
    BnbInt8,
}

/// The dtype a bitsandbytes 4-bit weight dequantizes to (its quant_state's `dtype`), to which each
/// f32 product is rounded (`.to(dtype)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BnbDtype {
    Float32,
    Float16,
    Bfloat16,
}

/// bitsandbytes' reciprocal of 127 as its int8 dequantization writes it (a Python float, which torch
/// multiplies into a float32 tensor as a float32: the literal rounded once to f32).
pub const BNB_INT8_RECIPROCAL: f32 = 7.874015718698502e-3_f64 as f32;

impl StoredScheme {
    /// The scheme's name as JSON spells it ("onnx_qlinear", "tfjs_affine").
    pub fn label(&self) -> &'static str {
        match self {
            StoredScheme::OnnxDequantizeLinear => "onnx_dequantize_linear",
            StoredScheme::OnnxQlinear => "onnx_qlinear",
            StoredScheme::OnnxInteger => "onnx_integer",
            StoredScheme::OnnxMatmulNbits => "onnx_matmul_nbits",
            StoredScheme::Tflite => "tflite",
            StoredScheme::TorchAffine => "torch_affine",
            StoredScheme::Gptq => "gptq",
            StoredScheme::Awq => "awq",
            StoredScheme::TfjsAffine { .. } => "tfjs_affine",
            StoredScheme::TfjsFloat16 => "tfjs_float16",
            StoredScheme::Bnb4 { .. } => "bnb4",
            StoredScheme::BnbInt8 => "bnb_int8",
        }
    }
}

/// Which elements share one scale and zero point, in the tensor's listed shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StoredGranularity {
    PerTensor,
    PerAxis { axis: usize },
    /// `block_size` consecutive elements along `axis` (the last block may be shorter).
    Blocked { axis: usize, block_size: usize },
}

/// How the codes lie in the stored bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CodeLayout {
    /// One element of `TensorInfo::dtype` each, little-endian, C order.
    Elements,
    /// ONNX INT4 / UINT4: two codes per byte, C order, the first in the low nibble (onnx.proto
    /// TensorProto: "packed … the first element in the least significant bits").
    Nibbles { signed: bool },
    /// MatMulNBits B for a [K, N] weight: [N, ceil(K / block_size), block_size · bits / 8] bytes,
    /// codes of one column along K, the first in the lowest bits of each byte (onnxruntime
    /// docs/ContribOperators.md com.microsoft.MatMulNBits).
    MatmulNbits { k: usize, n: usize, block_size: usize, bits: u32 },
    /// auto-gptq's qweight for a [K, N] weight (x @ W): int32 words [K · bits / 32, N], column n's
    /// words one little-endian bit string holding row k's code at bit k · bits (QuantLinear.pack;
    /// for 2, 4 and 8 bits word k / (32 / bits), for 3 bits 32 codes in 3 words, some crossing).
    GptqPacked { k: usize, n: usize, bits: u32 },
    /// AutoAWQ's GEMM qweight for a [K, N] weight: int32 words [K, N / 8], eight 4-bit codes of
    /// columns 8j.. in the order 0 2 4 6 1 3 5 7 from the lowest bits (WQLinear_GEMM.from_linear).
    AwqPacked { k: usize, n: usize },
    /// bitsandbytes' packed 4-bit codes: two per byte in C order, the first in the high nibble
    /// (backends/default/ops.py quantize_4bit, `(q[::2] << 4) | q[1::2]`).
    HighNibbleFirst,
}

/// Where AutoAWQ's pack order puts column n mod 8 in its word: the inverse of [0, 2, 4, 6, 1, 3,
/// 5, 7] (awq/utils/packing_utils.py AWQ_REVERSE_ORDER).
pub const AWQ_REVERSE_ORDER: [usize; 8] = [0, 4, 1, 5, 2, 6, 3, 7];

/// A tensor stored quantized, with its own parameters. Values are y = (q − zero_point) · scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredQuant {
    pub scheme: StoredScheme,
    pub granularity: StoredGranularity,
    /// Bits per code as stored.
    pub bits: u32,
    pub layout: CodeLayout,
    /// One scale per parameter slot, in C order of the parameter grid (the shape with the
    /// granularity's axis cut to its blocks; one slot per tensor).
    pub scales: Vec<f32>,
    /// One zero point per slot, or empty for all zero.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zero_points: Vec<i32>,
    /// The operator the parameters come from, as the file names it ("DequantizeLinear 'fc_dq'").
    pub op: String,
    /// Under `Blocked`, the group of each index along the axis when the file gives it (GPTQ and
    /// MatMulNBits `g_idx`, act-order); empty: index / block_size.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub row_groups: Vec<u32>,
    /// The runtime rounds each value to f16 (a float16 MatMulNBits: onnxruntime's CPU kernel
    /// dequantizes and multiplies in f32 and converts its output to half).
    #[serde(default, skip_serializing_if = "is_false")]
    pub half_output: bool,
    /// Set when the scales and zero points are read with the tensor, not held here (GPTQ / AWQ: a
    /// 7B checkpoint has some 51 M of them): `scales` and `zero_points` are then empty and the
    /// tensor's storage is `Split` into its codes, its packed zero points and its scales.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lazy: Option<LazyParams>,
}

/// Parameters a tensor's stored bytes carry after its codes (GPTQ / AWQ Linears: the reader lists
/// the Linear's qweight, qzeros and scales as the parts of one `Storage::Split`, so the index stays
/// small whatever the checkpoint's size). The bytes are the codes (`StoredQuant::stored_bytes`),
/// then `zeros_bytes` of int32 words of packed zero points (qzeros, `groups` rows), then `slots`
/// scales of `scale_dtype` (scales [groups, out], C order: one per slot).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LazyParams {
    /// Scales (and zero points): groups × outputs.
    pub slots: usize,
    pub zeros_bytes: u64,
    /// F16 or F32.
    pub scale_dtype: super::DType,
    /// auto-gptq (GPTQ v1) stores each zero point minus one; gptq_v2 and AWQ the zero itself.
    #[serde(default, skip_serializing_if = "is_false")]
    pub zeros_minus_one: bool,
    /// The zero point of every slot when they are all the same (the reader unpacks qzeros once to
    /// find it, keeping none of them): what tells a symmetric checkpoint from an asymmetric one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uniform_zero: Option<i32>,
}

/// The `bits`-wide field at bit `bit` of a little-endian bit string of words (a field may cross
/// into the next word: 3-bit packing).
fn packed_field(words: &[u32], first: usize, bit: usize, bits: u32) -> u32 {
    let (w, shift) = (first + bit / 32, bit % 32);
    let lo = words[w] as u64;
    let two = if shift + bits as usize > 32 { lo | (words[w + 1] as u64) << 32 } else { lo };
    ((two >> shift) & ((1u64 << bits) - 1)) as u32
}

/// The zero points of a GPTQ / AWQ Linear of `out` outputs from its qzeros words (`zc` words a
/// group): GPTQ packs each group's zeros along the outputs at bit n · bits (auto-gptq
/// QuantLinear.pack); AWQ eight 4-bit zeros a word in the order 0 2 4 6 1 3 5 7. The caller
/// checks that `zw` holds `groups · zc` words and `zc` words hold `out` zeros.
pub fn unpack_packed_zeros(gptq: bool, bits: u32, out: usize, zc: usize, groups: usize, zw: &[u32], minus_one: bool) -> Vec<i32> {
    let mask = (1u32 << bits) - 1;
    (0..groups * out)
        .map(|s| {
            let (gr, n) = (s / out, s % out);
            if gptq {
                let z = packed_field(zw, gr * zc, n * bits as usize, bits);
                // auto-gptq stores zero − 1; its dequantization adds 1 back, masked to `bits` for
                // 2, 4 and 8 (qlinear_cuda_old forward: zeros = (zeros + 1) & (2^bits − 1)),
                // unmasked for 3 (its `elif self.bits == 3` branch). GPTQModel's gptq_v2 stores
                // the zero itself (gptqmodel/utils/model.py convert_gptq_v1_to_v2_format_module).
                match (minus_one, bits) {
                    (true, 3) => z as i32 + 1,
                    (true, _) => (z.wrapping_add(1) & mask) as i32,
                    (false, _) => z as i32,
                }
            } else {
                let word = zw[gr * zc + n / 8];
                ((word >> (AWQ_REVERSE_ORDER[n % 8] * 4)) & 0xF) as i32
            }
        })
        .collect()
}

impl LazyParams {
    /// Splits a lazy tensor's stored bytes into its codes and the quantization with its scales and
    /// zero points read from the bytes after them; every length is checked first.
    pub fn fill<'a>(&self, name: &str, q: &StoredQuant, dtype: super::DType, shape: &[usize], bytes: &'a [u8]) -> Result<(StoredQuant, &'a [u8])> {
        use super::DType;
        let bad = |what: String| Error::malformed(name, format!("quantized tensor '{name}': {what}"));
        let elements = checked_element_count(shape).ok_or_else(|| bad(format!("shape {shape:?} overflows")))?;
        let codes = q.stored_bytes(dtype, elements).ok_or_else(|| bad("the stored size overflows".into()))?;
        let scale_size: u64 = match self.scale_dtype {
            DType::F16 => 2,
            DType::F32 => 4,
            other => return Err(bad(format!("{} scales (half or float32 are read)", other.name()))),
        };
        let want = (self.slots as u64).checked_mul(scale_size).and_then(|s| s.checked_add(self.zeros_bytes)).and_then(|s| s.checked_add(codes));
        if want != Some(bytes.len() as u64) {
            return Err(bad(format!("{} stored bytes where its codes, zero points and scales need {want:?}", bytes.len())));
        }
        let (gptq, bits, out) = match q.layout {
            CodeLayout::GptqPacked { n, bits, .. } => (true, bits, n),
            CodeLayout::AwqPacked { n, .. } => (false, 4, n),
            other => return Err(bad(format!("parameters read with the tensor for layout {other:?}"))),
        };
        let groups = if out == 0 { 0 } else { self.slots / out };
        let zc = if groups == 0 { 0 } else { (self.zeros_bytes / 4) as usize / groups };
        if out == 0 || groups * out != self.slots || zc as u64 * 4 * groups as u64 != self.zeros_bytes || zc * 32 < out * bits as usize {
            return Err(bad(format!("{} bytes of zero points for {groups} groups of {out} {bits}-bit zeros", self.zeros_bytes)));
        }
        let (code_bytes, rest) = bytes.split_at(codes as usize);
        let (zb, sb) = rest.split_at(self.zeros_bytes as usize);
        let zw: Vec<u32> = zb.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        let scales: Vec<f32> = if scale_size == 2 {
            sb.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect()
        } else {
            sb.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
        };
        let zero_points = unpack_packed_zeros(gptq, bits, out, zc, groups, &zw, self.zeros_minus_one);
        let full = StoredQuant { scales, zero_points, lazy: None, ..q.clone() };
        Ok((full, code_bytes))
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl StoredQuant {
    /// How many parameter slots a tensor of `shape` has under this granularity.
    pub fn slots(&self, shape: &[usize]) -> Option<usize> {
        match self.granularity {
            StoredGranularity::PerTensor => Some(1),
            StoredGranularity::PerAxis { axis } => shape.get(axis).copied(),
            StoredGranularity::Blocked { axis, block_size } => {
                let along = *shape.get(axis)?;
                if block_size == 0 {
                    return None;
                }
                let mut grid = shape.to_vec();
                grid[axis] = along.div_ceil(block_size);
                checked_element_count(&grid)
            }
        }
    }

    /// Stored bytes of the codes of `elements` elements of `dtype`.
    pub fn stored_bytes(&self, dtype: DType, elements: usize) -> Option<u64> {
        match self.layout {
            CodeLayout::Elements => (elements as u64).checked_mul(dtype.size() as u64),
            CodeLayout::Nibbles { .. } | CodeLayout::HighNibbleFirst => Some((elements as u64).div_ceil(2)),
            CodeLayout::MatmulNbits { k, n, block_size, bits } => {
                let blob = (block_size as u64).checked_mul(bits as u64)? / 8;
                (n as u64).checked_mul((k as u64).div_ceil(block_size as u64))?.checked_mul(blob)
            }
            CodeLayout::GptqPacked { bits, .. } => (elements as u64).checked_mul(bits as u64).map(|b| b / 8),
            CodeLayout::AwqPacked { .. } => Some(elements as u64 / 2),
        }
    }

    /// Checks the parameters against a tensor of `shape` stored as `byte_len` bytes of `dtype`.
    pub fn check(&self, name: &str, dtype: DType, shape: &[usize], byte_len: u64) -> Result<()> {
        let bad = |what: String| Error::malformed(name, format!("quantized tensor '{name}': {what}"));
        let elements = checked_element_count(shape).ok_or_else(|| bad(format!("shape {shape:?} overflows")))?;
        let slots = self.slots(shape).ok_or_else(|| bad(format!("granularity {:?} does not fit shape {shape:?}", self.granularity)))?;
        if self.scheme == StoredScheme::TfjsFloat16 {
            if !self.scales.is_empty() || !self.zero_points.is_empty() || dtype != DType::F16 || self.layout != CodeLayout::Elements {
                return Err(bad("TF.js float16 storage is F16 elements without scales or zero points".into()));
            }
        } else if let Some(lazy) = &self.lazy {
            if lazy.slots != slots || !self.scales.is_empty() || !self.zero_points.is_empty() {
                return Err(bad(format!("{} scales read with the tensor where shape {shape:?} with {:?} has {slots} slots", lazy.slots, self.granularity)));
            }
        } else if self.scales.len() != slots {
            return Err(bad(format!("{} scales where shape {shape:?} with {:?} has {slots} slots", self.scales.len(), self.granularity)));
        }
        if !self.zero_points.is_empty() && self.zero_points.len() != slots {
            return Err(bad(format!("{} zero points where there are {slots} scales", self.zero_points.len())));
        }
        if !self.row_groups.is_empty() {
            let StoredGranularity::Blocked { axis, block_size } = self.granularity else {
                return Err(bad("a group per row without blocks".into()));
            };
            let (along, groups) = (shape[axis], shape[axis].div_ceil(block_size));
            if self.row_groups.len() != along {
                return Err(bad(format!("{} row groups (g_idx) for {along} rows", self.row_groups.len())));
            }
            if let Some((row, g)) = self.row_groups.iter().enumerate().find(|(_, &g)| g as usize >= groups) {
                return Err(bad(format!("g_idx[{row}] = {g} where there are {groups} groups")));
            }
        }
        if let CodeLayout::MatmulNbits { k, n, block_size, bits } = self.layout {
            if shape != [k, n] || !matches!(bits, 2 | 4 | 8) || block_size == 0 || block_size * bits as usize % 8 != 0 {
                return Err(bad(format!("MatMulNBits K={k} N={n} bits={bits} block_size={block_size} for shape {shape:?}")));
            }
        }
        match self.layout {
            CodeLayout::GptqPacked { k, n, bits } if shape != [k, n] || !matches!(bits, 2 | 3 | 4 | 8) || (k * bits as usize) % 32 != 0 => {
                return Err(bad(format!("GPTQ K={k} N={n} bits={bits} for shape {shape:?}")));
            }
            CodeLayout::AwqPacked { k, n } if shape != [k, n] || n % 8 != 0 => return Err(bad(format!("AWQ K={k} N={n} for shape {shape:?}"))),
            _ => {}
        }
        let want = self.stored_bytes(dtype, elements).ok_or_else(|| bad("the stored size overflows".into()))?;
        if want != byte_len {
            return Err(bad(format!("{byte_len} stored bytes where {elements} codes need {want}")));
        }
        Ok(())
    }
}

/// The code of element `i` (C order) of a tensor.
fn code_at(dtype: DType, layout: CodeLayout, bytes: &[u8], i: usize) -> i64 {
    match layout {
        CodeLayout::Elements => {
            let s = dtype.size();
            let b = &bytes[i * s..(i + 1) * s];
            match dtype {
                DType::I8 => b[0] as i8 as i64,
                DType::U8 => b[0] as i64,
                DType::I16 => i16::from_le_bytes([b[0], b[1]]) as i64,
                DType::U16 => u16::from_le_bytes([b[0], b[1]]) as i64,
                DType::I32 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
                DType::U32 => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
                _ => 0,
            }
        }
        CodeLayout::Nibbles { signed } => {
            let nibble = (bytes[i / 2] >> (4 * (i % 2))) & 0x0F;
            if signed {
                ((nibble << 4) as i8 >> 4) as i64
            } else {
                nibble as i64
            }
        }
        CodeLayout::HighNibbleFirst => ((bytes[i / 2] >> if i % 2 == 0 { 4 } else { 0 }) & 0x0F) as i64,
        CodeLayout::MatmulNbits { k, n, block_size, bits } => {
            let (row, col) = (i / n.max(1), i % n.max(1));
            let blocks = k.div_ceil(block_size);
            let blob = block_size * bits as usize / 8;
            let bit = (row % block_size) * bits as usize;
            let byte = bytes[(col * blocks + row / block_size) * blob + bit / 8];
            ((byte >> (bit % 8)) & ((1u16 << bits) - 1) as u8) as i64
        }
        CodeLayout::GptqPacked { n, bits, .. } => {
            // Row k's code starts at bit k · bits of column n's words read as one little-endian
            // bit string: for 3 bits a code may cross into the next word (QuantLinear.pack's
            // `intweight[i] << 30` / `(intweight[i] >> 2) & 1`).
            let (row, col) = (i / n.max(1), i % n.max(1));
            let bit = row * bits as usize;
            let word = |r: usize| {
                let w = (r * n + col) * 4;
                u32::from_le_bytes([bytes[w], bytes[w + 1], bytes[w + 2], bytes[w + 3]]) as u64
            };
            let (r, shift) = (bit / 32, bit % 32);
            let two = if shift + bits as usize > 32 { word(r) | word(r + 1) << 32 } else { word(r) };
            ((two >> shift) & ((1u64 << bits) - 1)) as i64
        }
        CodeLayout::AwqPacked { n, .. } => {
            let (row, col) = (i / n.max(1), i % n.max(1));
            let w = (row * (n / 8) + col / 8) * 4;
            let word = u32::from_le_bytes([bytes[w], bytes[w + 1], bytes[w + 2], bytes[w + 3]]);
            ((word >> (AWQ_REVERSE_ORDER[col % 8] * 4)) & 0xF) as i64
        }
    }
}

/// The parameter slot of element `i` (C order) of a tensor of `shape`.
fn slot_of(granularity: StoredGranularity, row_groups: &[u32], shape: &[usize], i: usize) -> usize {
    match granularity {
        StoredGranularity::PerTensor => 0,
        StoredGranularity::PerAxis { axis } => {
            let inner: usize = shape[axis + 1..].iter().product();
            (i / inner.max(1)) % shape[axis].max(1)
        }
        StoredGranularity::Blocked { axis, block_size } => {
            let inner: usize = shape[axis + 1..].iter().product();
            let along = shape[axis];
            let outer = i / (inner.max(1) * along.max(1));
            let a = (i / inner.max(1)) % along.max(1);
            let rest = i % inner.max(1);
            let group = row_groups.get(a).map_or(a / block_size, |&g| g as usize);
            (outer * along.div_ceil(block_size) + group) * inner + rest
        }
    }
}

/// The values of a quantized tensor from its stored code bytes: float(q − zero_point) · scale in
/// f32 (onnx Operators.md DequantizeLinear, y = (x − x_zero_point) · x_scale; onnxruntime
/// docs/ContribOperators.md MatMulNBits, (code − zero_point) · scale). The subtraction is exact,
/// so the one rounding is the product's; tests/formats_quantized.rs checks it bit for bit against
/// onnxruntime's own output.
pub fn dequantize(name: &str, q: &StoredQuant, dtype: DType, shape: &[usize], bytes: &[u8]) -> Result<Vec<f32>> {
    if let Some(lazy) = &q.lazy {
        let (full, codes) = lazy.fill(name, q, dtype, shape, bytes)?;
        return dequantize(name, &full, dtype, shape, codes);
    }
    q.check(name, dtype, shape, bytes.len() as u64)?;
    let n = checked_element_count(shape).unwrap_or(0);
    match q.scheme {
        StoredScheme::TfjsFloat16 => {
            return Ok(bytes.chunks_exact(2).map(|c| tfjs_float16_to_float32(u16::from_le_bytes([c[0], c[1]]))).collect());
        }
        StoredScheme::TfjsAffine { scale, min, int32 } => {
            return Ok((0..n)
                .map(|i| {
                    // JavaScript: `v * quantization.scale + quantization.min`, two float64
                    // roundings (no fused multiply-add), then the Float32Array (or Int32Array)
                    // store.
                    let value = code_at(dtype, q.layout, bytes, i) as f64 * scale + min;
                    if int32 { js_math_round_to_int32(value) as f32 } else { value as f32 }
                })
                .collect());
        }
        StoredScheme::Bnb4 { quant_map, dtype: out } => {
            return Ok((0..n)
                .map(|i| {
                    let v = quant_map[code_at(dtype, q.layout, bytes, i) as usize & 0x0F] * q.scales[slot_of(q.granularity, &q.row_groups, shape, i)];
                    match out {
                        BnbDtype::Float32 => v,
                        BnbDtype::Float16 => half::f16::from_f32(v).to_f32(),
                        BnbDtype::Bfloat16 => half::bf16::from_f32(v).to_f32(),
                    }
                })
                .collect());
        }
        StoredScheme::BnbInt8 => {
            return Ok((0..n).map(|i| code_at(dtype, q.layout, bytes, i) as f32 * q.scales[slot_of(q.granularity, &q.row_groups, shape, i)] * BNB_INT8_RECIPROCAL).collect());
        }
        _ => {}
    }
    // TFLite widens the scale to double and rounds the product once to float
    // (tensorflow/lite/kernels/internal/reference/dequantize.h; DequantizationParams::scale is a
    // double); onnxruntime turns the integer to float first. The two differ only for codes over
    // 2^24 (int32 biases).
    let in_double = q.scheme == StoredScheme::Tflite
        || (q.scheme == StoredScheme::TorchAffine && matches!(q.granularity, StoredGranularity::PerAxis { .. }));
    let in_half = matches!(q.scheme, StoredScheme::Gptq | StoredScheme::Awq) || q.half_output;
    // MatMulNBits with g_idx: onnxruntime dequantizes in its reorder kernel as q·scale + (−scale ·
    // zero_point), two f32 roundings, and never reads packed uint8 zero points there (its `zp`
    // local is unpacked but `zp_f` stays 8; the reader sets them to 8), onnxruntime
    // contrib_ops/cpu/quantization/matmul_nbits_impl.cc Dequantize4BitsKernelReOrder, measured
    // on onnxruntime 1.32.0 by scripts/make_quantized_fixtures.py (nbits4_gidx*.onnx).
    let reorder = q.scheme == StoredScheme::OnnxMatmulNbits && !q.row_groups.is_empty();
    Ok((0..n)
        .map(|i| {
            let slot = slot_of(q.granularity, &q.row_groups, shape, i);
            let zero = q.zero_points.get(slot).copied().unwrap_or(0) as i64;
            let centred = code_at(dtype, q.layout, bytes, i) - zero;
            if reorder {
                let (code, scale) = (code_at(dtype, q.layout, bytes, i) as f32, q.scales[slot]);
                let v = code * scale + -scale * zero as f32;
                if in_half { half::f16::from_f32(v).to_f32() } else { v }
            } else if in_half {
                // GPTQ / AWQ: an exact f32 product (an 11-bit scale by a small integer) rounded
                // once to half; a float16 MatMulNBits: the f32 product of the widened scale, then
                // the output's conversion to half (onnxruntime matmul_nbits.cc, MatMulNBits<MLFloat16>
                // ComputeBPacked / ComputeBUnpacked: MlasConvertFloatToHalfBuffer of the f32 result).
                half::f16::from_f32(centred as f32 * q.scales[slot]).to_f32()
            } else if in_double {
                (centred as f64 * q.scales[slot] as f64) as f32
            } else {
                centred as f32 * q.scales[slot]
            }
        })
        .collect())
}

/// TF.js's float16 → float32 widening (tfjs-core/src/io/io_utils.ts getFloat16Decoder, after
/// fox-toolkit.org/ftp/fasthalffloatconversion.pdf): mantissa[offset[h >> 10] + (h & 0x3ff)] +
/// exponent[h >> 10] with its three tables, each entry computed as tfjs fills it. Equal to the IEEE
/// widening for every code, except that a NaN keeps its payload unquieted.
pub fn tfjs_float16_to_float32(h: u16) -> f32 {
    let top = (h >> 10) as u32; // sign and exponent: an index of the 64-entry tables
    let mantissa_entry = |i: u32| -> u32 {
        if i == 0 {
            0
        } else if i < 1024 {
            // computeFloat16MantisaTable's convertMantissa: normalise a subnormal's mantissa.
            let (mut m, mut e) = (i << 13, 0u32);
            while m & 0x0080_0000 == 0 {
                e = e.wrapping_sub(0x0080_0000);
                m <<= 1;
            }
            (m & !0x0080_0000) | e.wrapping_add(0x3880_0000)
        } else {
            0x3800_0000 + ((i - 1024) << 13)
        }
    };
    let exponent_entry = match top {
        0 => 0,
        31 => 0x4780_0000,
        32 => 0x8000_0000,
        63 => 0xc780_0000,
        1..=30 => top << 23,
        _ => 0x8000_0000 + ((top - 32) << 23),
    };
    let offset_entry = if top == 0 || top == 32 { 0 } else { 1024 };
    f32::from_bits(mantissa_entry(offset_entry + (h as u32 & 0x3ff)).wrapping_add(exponent_entry))
}

/// `Math.round(x)` stored into an Int32Array: the nearest integer, halves towards +∞ (ECMAScript
/// Math.round), then ToInt32 (modulo 2^32; NaN and ±∞ are 0).
fn js_math_round_to_int32(x: f64) -> i32 {
    if !x.is_finite() {
        return 0;
    }
    let floor = x.floor();
    // x − floor(x) is exact for every float64.
    let rounded = if x - floor >= 0.5 { floor + 1.0 } else { floor };
    rounded.rem_euclid(4_294_967_296.0) as u32 as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quant(granularity: StoredGranularity, layout: CodeLayout, scales: Vec<f32>, zero_points: Vec<i32>) -> StoredQuant {
        StoredQuant { scheme: StoredScheme::OnnxDequantizeLinear, granularity, bits: 8, layout, scales, zero_points, op: "test".into(), row_groups: Vec::new(), half_output: false, lazy: None }
    }

    #[test]
    fn per_axis_and_blocked_slots_by_hand() {
        // [2, 3] int8, per axis 1: scales 1, 2, 4; zero points 0, 1, -1.
        let q = quant(StoredGranularity::PerAxis { axis: 1 }, CodeLayout::Elements, vec![1.0, 2.0, 4.0], vec![0, 1, -1]);
        let codes = [1u8, 1, 1, 0xFF, 3, 0];
        let y = dequantize("w", &q, DType::I8, &[2, 3], &codes).unwrap();
        assert_eq!(y, vec![1.0, 0.0, 8.0, -1.0, 4.0, 4.0]);
        // [5] blocked along 0 with block 2: slots 0 0 1 1 2.
        let q = quant(StoredGranularity::Blocked { axis: 0, block_size: 2 }, CodeLayout::Elements, vec![1.0, 10.0, 100.0], vec![]);
        let y = dequantize("w", &q, DType::U8, &[5], &[1, 2, 3, 4, 5]).unwrap();
        assert_eq!(y, vec![1.0, 2.0, 30.0, 40.0, 500.0]);
    }

    #[test]
    fn nibbles_are_low_first_and_sign_extended() {
        let q = quant(StoredGranularity::PerTensor, CodeLayout::Nibbles { signed: true }, vec![1.0], vec![]);
        // 0x8F: first code 0xF = -1, second 0x8 = -8; 0x07: 7, then 0.
        assert_eq!(dequantize("w", &q, DType::I8, &[3], &[0x8F, 0x07]).unwrap(), vec![-1.0, -8.0, 7.0]);
        let q = quant(StoredGranularity::PerTensor, CodeLayout::Nibbles { signed: false }, vec![1.0], vec![8]);
        assert_eq!(dequantize("w", &q, DType::U8, &[2], &[0x8F]).unwrap(), vec![7.0, 0.0]);
    }

    #[test]
    fn matmul_nbits_reads_columns_along_k() {
        // K = 4, N = 2, 4 bits, block 2: B[n][block][1 byte] holds k = 2b (low) and 2b + 1 (high).
        let layout = CodeLayout::MatmulNbits { k: 4, n: 2, block_size: 2, bits: 4 };
        let q = quant(StoredGranularity::Blocked { axis: 0, block_size: 2 }, layout, vec![1.0, 1.0, 1.0, 1.0], vec![8, 8, 8, 8]);
        // column 0: k0=9 k1=10 | k2=11 k3=12; column 1: 7 6 | 5 4.
        let b = [0xA9, 0xCB, 0x67, 0x45];
        let y = dequantize("w", &q, DType::U8, &[4, 2], &b).unwrap();
        assert_eq!(y, vec![1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 4.0, -4.0]);
    }

    #[test]
    fn row_groups_pick_each_rows_group_and_matmul_nbits_reorders_as_onnxruntime() {
        // [4, 1] blocked along 0 by 2, rows in groups 1 0 0 1: scales 0.5 (group 0), 3 (group 1).
        let mut q = quant(StoredGranularity::Blocked { axis: 0, block_size: 2 }, CodeLayout::Elements, vec![0.5, 3.0], vec![1, 2]);
        q.row_groups = vec![1, 0, 0, 1];
        let y = dequantize("w", &q, DType::U8, &[4, 1], &[4, 4, 5, 5]).unwrap();
        assert_eq!(y, vec![6.0, 1.5, 2.0, 9.0]);
        q.row_groups = vec![1, 0, 2, 1];
        assert!(dequantize("w", &q, DType::U8, &[4, 1], &[4, 4, 5, 5]).is_err(), "group 2 of 2");
        // MatMulNBits' reorder kernel: q·s + (−s·8), each rounded to f32. 0.1f32 · 9 + (−0.1f32 · 8)
        // differs from the exact (9 − 8) · 0.1f32 in the last bit.
        let layout = CodeLayout::MatmulNbits { k: 2, n: 1, block_size: 2, bits: 4 };
        let mut q = quant(StoredGranularity::Blocked { axis: 0, block_size: 2 }, layout, vec![0.1], vec![8]);
        q.scheme = StoredScheme::OnnxMatmulNbits;
        q.row_groups = vec![0, 0];
        let y = dequantize("w", &q, DType::U8, &[2, 1], &[0x99]).unwrap();
        let want = 9.0f32 * 0.1 + -0.1f32 * 8.0;
        assert_ne!(want, 0.1f32);
        assert_eq!(y, vec![want, want]);
        // A float16 MatMulNBits rounds the f32 result to half.
        q.row_groups.clear();
        q.half_output = true;
        let y = dequantize("w", &q, DType::U8, &[2, 1], &[0x99]).unwrap();
        assert_eq!(y, vec![half::f16::from_f32(0.1).to_f32(); 2]);
    }

    #[test]
    fn gptq_and_awq_words_unpack_by_hand_and_round_to_half() {
        // GPTQ 4-bit [K = 8, N = 1]: one word, k's code at bits 4k: 0x76543210 holds 0..7.
        let layout = CodeLayout::GptqPacked { k: 8, n: 1, bits: 4 };
        let mut q = quant(StoredGranularity::Blocked { axis: 0, block_size: 8 }, layout, vec![1.0], vec![3]);
        q.scheme = StoredScheme::Gptq;
        let y = dequantize("w", &q, DType::I32, &[8, 1], &0x7654_3210u32.to_le_bytes()).unwrap();
        assert_eq!(y, vec![-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0]);
        // The product is rounded to half: f16(0.1) = 1638 / 2^14, times 3 is 4914 / 2^14, which half
        // (step 4 / 2^14 there) rounds to even, 4912 / 2^14.
        q.scales = vec![half::f16::from_f32(0.1).to_f32()];
        let y = dequantize("w", &q, DType::I32, &[8, 1], &0x7654_3210u32.to_le_bytes()).unwrap();
        assert_eq!(y[6], 4912.0 / 16384.0);
        // AWQ [K = 1, N = 8]: nibble p of the word is column [0, 2, 4, 6, 1, 3, 5, 7][p].
        let mut q = quant(StoredGranularity::Blocked { axis: 0, block_size: 1 }, CodeLayout::AwqPacked { k: 1, n: 8 }, vec![1.0; 8], vec![]);
        q.scheme = StoredScheme::Awq;
        let y = dequantize("w", &q, DType::I32, &[1, 8], &0x7654_3210u32.to_le_bytes()).unwrap();
        assert_eq!(y, vec![0.0, 4.0, 1.0, 5.0, 2.0, 6.0, 3.0, 7.0]);
    }

    #[test]
    fn bitsandbytes_codes_are_high_nibble_first_and_round_to_the_dtype() {
        // [2, 2] in blocks of 2 along axis 1: absmax 1 and 3; byte 0x1F holds codes 1 (first) and 15.
        let map: [f32; 16] = std::array::from_fn(|i| i as f32 / 10.0);
        let mut q = quant(StoredGranularity::Blocked { axis: 1, block_size: 2 }, CodeLayout::HighNibbleFirst, vec![1.0, 3.0], vec![]);
        q.bits = 4;
        q.scheme = StoredScheme::Bnb4 { quant_map: map, dtype: BnbDtype::Float32 };
        let y = dequantize("w", &q, DType::U8, &[2, 2], &[0x1F, 0x20]).unwrap();
        assert_eq!(y, vec![map[1], map[15], map[2] * 3.0, 0.0]);
        // 0.1f32 · 3 rounded to half: 0.30000001192… → 1229 / 4096 = 0.300048828125.
        q.scheme = StoredScheme::Bnb4 { quant_map: map, dtype: BnbDtype::Float16 };
        assert_eq!(dequantize("w", &q, DType::U8, &[2, 2], &[0x11, 0x10]).unwrap()[2], 1229.0 / 4096.0);
        q.scheme = StoredScheme::Bnb4 { quant_map: map, dtype: BnbDtype::Bfloat16 };
        assert_eq!(dequantize("w", &q, DType::U8, &[2, 2], &[0x11, 0x10]).unwrap()[2], half::bf16::from_f32(0.1f32 * 3.0).to_f32());
        // LLM.int8(): code · SCB, then · f32(1/127): 127 · 2.54 / 127.
        let mut q = quant(StoredGranularity::PerAxis { axis: 0 }, CodeLayout::Elements, vec![2.54, 1.0], vec![]);
        q.scheme = StoredScheme::BnbInt8;
        let y = dequantize("w", &q, DType::I8, &[2, 1], &[127, 0x81]).unwrap();
        assert_eq!(y, vec![127.0 * 2.54f32 * BNB_INT8_RECIPROCAL, -127.0 * BNB_INT8_RECIPROCAL]);
    }

    #[test]
    fn tfjs_float16_tables_widen_like_ieee_and_keep_nan_payloads() {
        for h in 0..=u16::MAX {
            let ours = tfjs_float16_to_float32(h);
            let ieee = half::f16::from_bits(h).to_f32();
            if ieee.is_nan() {
                // tfjs adds exponent 0x47800000 (+ sign) to 0x38000000 + (m << 13): no quiet bit set.
                assert_eq!(ours.to_bits(), (h as u32 & 0x8000) << 16 | 0x7F80_0000 | (h as u32 & 0x3ff) << 13, "{h:#06x}");
            } else {
                assert_eq!(ours.to_bits(), ieee.to_bits(), "{h:#06x}");
            }
        }
    }

    #[test]
    fn scheme_labels_are_the_json_names() {
        use StoredScheme::*;
        let bnb4 = Bnb4 { quant_map: [0.5; 16], dtype: BnbDtype::Float16 };
        let all = [OnnxDequantizeLinear, OnnxQlinear, OnnxInteger, OnnxMatmulNbits, Tflite, TorchAffine, Gptq, Awq, TfjsAffine { scale: 0.5, min: -1.0, int32: false }, TfjsFloat16, bnb4, BnbInt8];
        for s in all {
            let j = serde_json::to_value(s).unwrap();
            let name = j.as_str().map(str::to_string).or_else(|| j.as_object().and_then(|o| o.keys().next().cloned())).unwrap();
            assert_eq!(name, s.label());
            assert_eq!(serde_json::from_value::<StoredScheme>(j).unwrap(), s);
        }
        // The float64 parameters round-trip exactly through JSON (serde_json's float_roundtrip).
        let exact = TfjsAffine { scale: 0.014094831896763221, min: -1.7054746595083499, int32: true };
        assert_eq!(serde_json::from_str::<StoredScheme>(&serde_json::to_string(&exact).unwrap()).unwrap(), exact);
    }

    #[test]
    fn js_math_round_goes_half_up_and_wraps_like_int32_array() {
        for (x, want) in [(2.5, 3), (-2.5, -2), (-0.5, 0), (0.49999999999999994, 0), (1.5, 2), (2147483648.0, i32::MIN), (f64::NAN, 0), (-4294967297.0, -1)] {
            assert_eq!(js_math_round_to_int32(x), want, "{x}");
        }
    }

    #[test]
    fn lying_parameters_are_errors() {
        let q = quant(StoredGranularity::PerAxis { axis: 0 }, CodeLayout::Elements, vec![1.0], vec![]);
        let err = dequantize("w", &q, DType::I8, &[2, 2], &[0; 4]).unwrap_err().to_string();
        assert!(err.contains("1 scales where shape [2, 2]"), "{err}");
        let q = quant(StoredGranularity::PerTensor, CodeLayout::Elements, vec![1.0], vec![]);
        let err = dequantize("w", &q, DType::I8, &[2, 2], &[0; 3]).unwrap_err().to_string();
        assert!(err.contains("3 stored bytes where 4 codes need 4"), "{err}");
    }
}
