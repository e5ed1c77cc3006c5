//! The number formats a weight can be stored in, on one axis: FP32 itself and the float casts, integer
//! b-bit codes with a scale per slot, and ggml's block types. Every label ("fp16", "int8 sym channel:0",
//! "int4 asym group:32 f16-scales", "q4_k") is written and parsed here and nowhere else; the page and
//! the CLI (`quant-playground formats`) take the list of formats from `number_formats`.
//!
//! The formats whose elements are narrow floats or codebook levels under a shared scale — FP8 with a
//! per-tensor scale, the OCP MX types, NVFP4, NF4 — are `BlockFormat`s (rules in block.rs and the
//! modules it names).

use super::ggml::GgmlType;
use super::{QuantSpec, ScaleDType};
use crate::error::{Error, Result};
use half::{bf16, f16};
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Signed codes, zero point 0, scale = amax / qmax.
    #[serde(alias = "sym")]
    Symmetric,
    /// Unsigned codes 0..2^b−1 with a zero point; the range is widened to include 0.
    #[serde(alias = "asym")]
    Asymmetric,
}

impl Scheme {
    pub fn short_name(self) -> &'static str {
        match self {
            Scheme::Symmetric => "sym",
            Scheme::Asymmetric => "asym",
        }
    }
}

/// Which elements share one scale and zero point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    PerTensor,
    /// One slot per index along `axis` (axis 0 = output channels of an [out, in] weight).
    PerChannel { axis: usize },
    /// `size` consecutive elements along the last axis of each row; a shorter last group is allowed.
    PerGroup { size: usize },
}

impl Granularity {
    /// Parses `tensor`, `channel`, `channel:AXIS` or `group:G`.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || Error::InvalidSpec(format!("granularity '{text}': expected tensor, channel, channel:AXIS or group:G"));
        match text.split_once(':') {
            None if text == "tensor" => Ok(Granularity::PerTensor),
            None if text == "channel" => Ok(Granularity::PerChannel { axis: 0 }),
            Some(("channel", a)) => Ok(Granularity::PerChannel { axis: a.parse().map_err(|_| bad())? }),
            Some(("group", g)) => {
                let size: usize = g.parse().map_err(|_| bad())?;
                if size == 0 {
                    return Err(Error::InvalidSpec("group size must be at least 1".into()));
                }
                Ok(Granularity::PerGroup { size })
            }
            _ => Err(bad()),
        }
    }

    pub fn label(self) -> String {
        match self {
            Granularity::PerTensor => "tensor".into(),
            Granularity::PerChannel { axis } => format!("channel:{axis}"),
            Granularity::PerGroup { size } => format!("group:{size}"),
        }
    }
}

impl Serialize for Granularity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.label())
    }
}

impl<'de> Deserialize<'de> for Granularity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Granularity::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Integer b-bit codes: the code range of the numerics contract (DESIGN.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntFormat {
    pub bits: u8,
    pub scheme: Scheme,
    /// Symmetric only: use −2^(b−1) too (narrow range −qmax..qmax is the default).
    #[serde(default)]
    pub full_range: bool,
}

impl IntFormat {
    pub const BITS: RangeInclusive<u8> = 2..=8;

    pub fn new(bits: u8, scheme: Scheme) -> Self {
        IntFormat { bits, scheme, full_range: false }
    }

    pub fn validate(&self) -> Result<()> {
        if !Self::BITS.contains(&self.bits) {
            return Err(Error::InvalidSpec(format!("bits must be 2..=8, got {}", self.bits)));
        }
        Ok(())
    }

    /// Whether −2^(b−1) is used: full range on a symmetric scheme (asymmetric codes always span 0..2^b−1).
    pub fn is_full_range(&self) -> bool {
        self.full_range && self.scheme == Scheme::Symmetric
    }

    /// (qmin, qmax) of the codes.
    pub fn code_range(&self) -> (i32, i32) {
        let b = self.bits as u32;
        match self.scheme {
            Scheme::Symmetric => {
                let qmax = (1i32 << (b - 1)) - 1;
                (if self.full_range { -qmax - 1 } else { -qmax }, qmax)
            }
            Scheme::Asymmetric => (0, (1i32 << b) - 1),
        }
    }
}

/// A cast with no scale, round to nearest even: FP32 is the reference every other format is measured
/// against, FP16 and BF16 are what `.half()` / `.to(torch.bfloat16)` store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatCast {
    F32,
    F16,
    Bf16,
}

impl FloatCast {
    pub const ALL: [FloatCast; 3] = [FloatCast::F32, FloatCast::F16, FloatCast::Bf16];

    pub fn label(self) -> &'static str {
        match self {
            FloatCast::F32 => "fp32",
            FloatCast::F16 => "fp16",
            FloatCast::Bf16 => "bf16",
        }
    }

    pub fn bits(self) -> u8 {
        match self {
            FloatCast::F32 => 32,
            FloatCast::F16 | FloatCast::Bf16 => 16,
        }
    }

    /// x → the narrower float → f32, as the cast stores it (the `half` crate's round-to-nearest-even).
    pub fn round_trip(self, x: &[f32]) -> Vec<f32> {
        x.iter().map(|&v| self.cast_one(v)).collect()
    }

    /// One value through the cast and back.
    #[inline]
    pub fn cast_one(self, v: f32) -> f32 {
        match self {
            FloatCast::F32 => v,
            FloatCast::F16 => f16::from_f32(v).to_f32(),
            FloatCast::Bf16 => bf16::from_f32(v).to_f32(),
        }
    }
}

/// Narrow-float or codebook elements under a shared scale. Each one's rule and reference are in its
/// module: FP8 in minifloat.rs (modelopt's per-tensor amax / max), MX in mx.rs (OCP MX v1.0, blocks of
/// 32, E8M0 scale), NVFP4 in nvfp4.rs (E2M1 in blocks of 16, E4M3 scale, FP32 tensor scale), NF4 in nf4.rs
/// (bitsandbytes, absmax per 64).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockFormat {
    Fp8E4m3,
    Fp8E5m2,
    Mxfp4,
    Mxfp6E2m3,
    Mxfp6E3m2,
    Mxfp8E4m3,
    Mxint8,
    Nvfp4,
    Nf4,
}

impl BlockFormat {
    pub const ALL: [BlockFormat; 9] = [
        BlockFormat::Fp8E4m3,
        BlockFormat::Fp8E5m2,
        BlockFormat::Mxfp8E4m3,
        BlockFormat::Mxint8,
        BlockFormat::Mxfp6E2m3,
        BlockFormat::Mxfp6E3m2,
        BlockFormat::Mxfp4,
        BlockFormat::Nvfp4,
        BlockFormat::Nf4,
    ];

    pub fn label(self) -> &'static str {
        match self {
            BlockFormat::Fp8E4m3 => "fp8-e4m3",
            BlockFormat::Fp8E5m2 => "fp8-e5m2",
            BlockFormat::Mxfp4 => "mxfp4",
            BlockFormat::Mxfp6E2m3 => "mxfp6-e2m3",
            BlockFormat::Mxfp6E3m2 => "mxfp6-e3m2",
            BlockFormat::Mxfp8E4m3 => "mxfp8-e4m3",
            BlockFormat::Mxint8 => "mxint8",
            BlockFormat::Nvfp4 => "nvfp4",
            BlockFormat::Nf4 => "nf4",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            BlockFormat::Fp8E4m3 => "FP8 E4M3",
            BlockFormat::Fp8E5m2 => "FP8 E5M2",
            BlockFormat::Mxfp4 => "MXFP4",
            BlockFormat::Mxfp6E2m3 => "MXFP6 E2M3",
            BlockFormat::Mxfp6E3m2 => "MXFP6 E3M2",
            BlockFormat::Mxfp8E4m3 => "MXFP8 E4M3",
            BlockFormat::Mxint8 => "MXINT8",
            BlockFormat::Nvfp4 => "NVFP4",
            BlockFormat::Nf4 => "NF4",
        }
    }

    pub fn note(self) -> &'static str {
        match self {
            BlockFormat::Fp8E4m3 => "scale amax/448 per tensor",
            BlockFormat::Fp8E5m2 => "scale amax/57344 per tensor",
            BlockFormat::Nvfp4 => "E4M3 scale per 16, FP32 per tensor",
            BlockFormat::Nf4 => "absmax per 64",
            _ => "E8M0 scale per 32",
        }
    }

    /// Bits of one element's code.
    pub fn code_bits(self) -> u8 {
        match self {
            BlockFormat::Fp8E4m3 | BlockFormat::Fp8E5m2 | BlockFormat::Mxfp8E4m3 | BlockFormat::Mxint8 => 8,
            BlockFormat::Mxfp6E2m3 | BlockFormat::Mxfp6E3m2 => 6,
            BlockFormat::Mxfp4 | BlockFormat::Nvfp4 | BlockFormat::Nf4 => 4,
        }
    }

    /// Bits per weight with the block scales counted (a per-tensor scale is not): MX 8/32 per element,
    /// NVFP4 8/16, NF4's f32 absmax 32/64.
    pub fn bits_per_weight(self) -> f64 {
        let scale = match self {
            BlockFormat::Fp8E4m3 | BlockFormat::Fp8E5m2 => 0.0,
            BlockFormat::Nvfp4 => 8.0 / 16.0,
            BlockFormat::Nf4 => 32.0 / 64.0,
            _ => 8.0 / 32.0,
        };
        self.code_bits() as f64 + scale
    }
}

/// One point on the number-format axis: what a comparison column is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NumberFormat {
    Float(FloatCast),
    /// Codes with a scale (and zero point) per slot of a granularity.
    Scaled(QuantSpec),
    /// A ggml block type: its scales live inside its blocks.
    Ggml(GgmlType),
    /// Narrow floats or codebook levels with a shared scale (FP8, MX, NVFP4, NF4).
    Block(BlockFormat),
}

impl NumberFormat {
    /// The label: "fp32", "int8 sym channel:0", "int4 asym group:32 f16-scales", "int8 sym tensor full", "q4_k".
    pub fn label(&self) -> String {
        match self {
            NumberFormat::Float(cast) => cast.label().into(),
            NumberFormat::Scaled(spec) => format!("int{} {}", spec.format.bits, scaled_note(spec)),
            NumberFormat::Ggml(t) => ggml_label(*t),
            NumberFormat::Block(b) => b.label().into(),
        }
    }

    /// The inverse of `label`, with an error that says what is wrong with the text.
    pub fn parse(text: &str) -> Result<NumberFormat> {
        let text = text.trim();
        if let Some(cast) = FloatCast::ALL.into_iter().find(|c| c.label() == text) {
            return Ok(NumberFormat::Float(cast));
        }
        // Before the ggml names: "mxfp4" and "nvfp4" are the OCP and NVIDIA definitions here, not ggml's
        // block types of the same names.
        if let Some(b) = BlockFormat::ALL.into_iter().find(|b| b.label() == text) {
            return Ok(NumberFormat::Block(b));
        }
        let ggml_name = text.strip_prefix("ggml-").unwrap_or(text).to_ascii_uppercase();
        if let Some(t) = GgmlType::from_name(&ggml_name) {
            return Ok(NumberFormat::Ggml(t));
        }
        if text.starts_with("int") {
            return parse_scaled(text).map(NumberFormat::Scaled);
        }
        Err(Error::InvalidSpec(format!(
            "'{text}' is not a number format: expected fp32, fp16, bf16, fp8-e4m3, fp8-e5m2, mxfp4, \
             mxfp6-e2m3, mxfp6-e3m2, mxfp8-e4m3, mxint8, nvfp4, nf4, a ggml type such as q8_0, or int<bits> sym|asym tensor|channel:AXIS|group:G [full] [f16-scales]"
        )))
    }

    /// The column heading: "FP16", "INT4", "Q4_K".
    pub fn title(&self) -> String {
        match self {
            NumberFormat::Float(cast) => cast.label().to_ascii_uppercase(),
            NumberFormat::Scaled(spec) => format!("INT{}", spec.format.bits),
            NumberFormat::Ggml(t) => t.name().into(),
            NumberFormat::Block(b) => b.title().into(),
        }
    }

    /// The line under the heading: "reference", "cast", "sym channel:0", "ggml, 32 per block".
    pub fn note(&self) -> String {
        match self {
            NumberFormat::Float(FloatCast::F32) => "reference".into(),
            NumberFormat::Float(_) => "cast".into(),
            NumberFormat::Scaled(spec) => scaled_note(spec),
            NumberFormat::Ggml(t) => format!("ggml, {} per block", t.block_len()),
            NumberFormat::Block(b) => b.note().into(),
        }
    }

    pub fn family(&self) -> Family {
        match self {
            NumberFormat::Float(_) => Family::Float,
            NumberFormat::Scaled(_) => Family::Int,
            NumberFormat::Ggml(_) => Family::Ggml,
            NumberFormat::Block(_) => Family::Block,
        }
    }

    /// Nominal bits per weight: the code width (scales not counted), a ggml block's bytes × 8 / its length,
    /// a block format's code width plus its block scales.
    pub fn bits_per_weight(&self) -> f64 {
        match self {
            NumberFormat::Float(cast) => cast.bits() as f64,
            NumberFormat::Scaled(spec) => spec.format.bits as f64,
            NumberFormat::Ggml(t) => (t.block_bytes() * 8) as f64 / t.block_len() as f64,
            NumberFormat::Block(b) => b.bits_per_weight(),
        }
    }

    pub fn spec(&self) -> Option<QuantSpec> {
        match self {
            NumberFormat::Scaled(spec) => Some(*spec),
            _ => None,
        }
    }

    /// Whether a tensor of `shape` can be stored in this format, else why not: a ggml type quantizes
    /// each row (the last axis) in whole blocks (ggml.c ggml_row_size asserts `ne % blck_size == 0`),
    /// a channel axis must exist; the float casts and the block formats (short last blocks) take any shape.
    pub fn fits_shape(&self, shape: &[usize]) -> Result<()> {
        match self {
            NumberFormat::Ggml(t) => {
                let row = shape.last().copied().unwrap_or(1);
                if row % t.block_len() != 0 {
                    return Err(Error::InvalidSpec(format!(
                        "{}: rows of {row} values are not whole blocks of {} (shape {shape:?})",
                        self.label(),
                        t.block_len()
                    )));
                }
                Ok(())
            }
            NumberFormat::Scaled(spec) => match spec.granularity {
                Granularity::PerChannel { axis } if axis >= shape.len().max(1) => Err(Error::InvalidSpec(format!(
                    "{}: channel axis {axis} is out of range for a tensor of shape {shape:?}",
                    self.label()
                ))),
                _ => Ok(()),
            },
            NumberFormat::Float(_) | NumberFormat::Block(_) => Ok(()),
        }
    }

    /// What the page needs to show and choose this format.
    pub fn describe(&self) -> FormatInfo {
        FormatInfo {
            label: self.label(),
            title: self.title(),
            note: self.note(),
            family: self.family(),
            bits_per_weight: self.bits_per_weight(),
            spec: self.spec(),
        }
    }
}

/// A ggml type's label: its name in lower case ("q4_k"), "ggml-" before it where a block format has the
/// same name ("ggml-mxfp4" is ggml's MXFP4, "mxfp4" the OCP rule).
fn ggml_label(t: GgmlType) -> String {
    let name = t.name().to_ascii_lowercase();
    if BlockFormat::ALL.iter().any(|b| b.label() == name) {
        format!("ggml-{name}")
    } else {
        name
    }
}

/// Everything after "int<bits> " in a scaled label.
fn scaled_note(spec: &QuantSpec) -> String {
    let mut s = format!("{} {}", spec.format.scheme.short_name(), spec.granularity.label());
    if spec.format.is_full_range() {
        s.push_str(" full");
    }
    if spec.scale_dtype == ScaleDType::F16 {
        s.push_str(" f16-scales");
    }
    s
}

/// `int<bits> sym|asym <granularity> [full] [f16-scales]`.
fn parse_scaled(text: &str) -> Result<QuantSpec> {
    let bad = |why: String| Error::InvalidSpec(format!("'{text}': {why}"));
    let mut words = text.split_whitespace();
    let bits_word = words.next().unwrap_or_default();
    let bits: u8 = bits_word
        .strip_prefix("int")
        .and_then(|b| b.parse().ok())
        .ok_or_else(|| bad(format!("'{bits_word}' should be int<bits>, e.g. int8")))?;
    let scheme = match words.next() {
        Some("sym") => Scheme::Symmetric,
        Some("asym") => Scheme::Asymmetric,
        other => return Err(bad(format!("expected sym or asym after int{bits}, found {}", other.unwrap_or("nothing")))),
    };
    let granularity = Granularity::parse(words.next().ok_or_else(|| bad("the granularity is missing (tensor, channel:AXIS or group:G)".into()))?)?;
    let mut spec = QuantSpec::new(bits, scheme, granularity);
    for word in words {
        match word {
            "full" if spec.format.full_range => return Err(bad("'full' is given twice".into())),
            "full" if scheme == Scheme::Asymmetric => return Err(bad("'full' range applies to sym only".into())),
            "full" => spec.format.full_range = true,
            "f16-scales" if spec.scale_dtype == ScaleDType::F16 => return Err(bad("'f16-scales' is given twice".into())),
            "f16-scales" => spec.scale_dtype = ScaleDType::F16,
            w => return Err(bad(format!("unknown option '{w}' (expected full or f16-scales)"))),
        }
    }
    spec.validate().map_err(|e| bad(e.to_string()))?;
    Ok(spec)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// FP32 and the float casts.
    Float,
    /// Integer codes with scales per slot (parametric: bits, scheme, range, granularity, scale dtype).
    Int,
    /// ggml block types.
    Ggml,
    /// Narrow floats or codebook levels under a shared scale: FP8, MX, NVFP4, NF4.
    Block,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Float => "float",
            Family::Int => "int",
            Family::Ggml => "ggml",
            Family::Block => "block",
        }
    }
}

/// A format as `describe_format` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FormatInfo {
    pub label: String,
    pub title: String,
    pub note: String,
    pub family: Family,
    pub bits_per_weight: f64,
    pub spec: Option<QuantSpec>,
}

/// One entry of the list the page builds its format choices from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServedFormat {
    #[serde(flatten)]
    pub info: FormatInfo,
    /// Shown as a column of the comparison before the user picks any.
    pub default_column: bool,
    /// The short name a preset goes by ("int8", "int4"), or null.
    pub preset: Option<&'static str>,
    /// Int family only: the bit widths a spec of this family may take, [min, max].
    pub bits_range: Option<[u8; 2]>,
}

/// The INT8 and INT4 presets: the headline configurations of the numerics contract.
pub fn presets() -> [(&'static str, QuantSpec); 2] {
    [
        ("int8", QuantSpec::new(8, Scheme::Symmetric, Granularity::PerChannel { axis: 0 })),
        ("int4", QuantSpec::new(4, Scheme::Asymmetric, Granularity::PerGroup { size: 32 })),
    ]
}

/// The formats the core serves to the page and the CLI, in column order: FP32 | FP16 | BF16 | INT8 |
/// INT4 (the default comparison), then FP8, MX, NVFP4 and NF4, then every ggml block type the core quantizes.
pub fn number_formats() -> Vec<ServedFormat> {
    let column = |format: NumberFormat, default_column, preset| ServedFormat {
        info: format.describe(),
        default_column,
        preset,
        bits_range: (format.family() == Family::Int).then_some([*IntFormat::BITS.start(), *IntFormat::BITS.end()]),
    };
    let mut out: Vec<ServedFormat> = FloatCast::ALL.into_iter().map(|c| column(NumberFormat::Float(c), true, None)).collect();
    out.extend(presets().into_iter().map(|(name, spec)| column(NumberFormat::Scaled(spec), true, Some(name))));
    out.extend(BlockFormat::ALL.into_iter().map(|b| column(NumberFormat::Block(b), false, None)));
    out.extend(GgmlType::quantizable().map(|t| column(NumberFormat::Ggml(t), false, None)));
    out
}

/// The served formats outside the int family (FP8, MX, NVFP4, NF4, the ggml types) that a tensor of
/// `shape` can be stored in, in column order: what the sweep adds beside its integer specs.
pub fn fixed_formats_for_shape(shape: &[usize]) -> Vec<FormatInfo> {
    number_formats()
        .into_iter()
        .filter(|f| matches!(f.info.family, Family::Block | Family::Ggml))
        .filter(|f| NumberFormat::parse(&f.info.label).is_ok_and(|format| format.fits_shape(shape).is_ok()))
        .map(|f| f.info)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_labels_keep_their_text_and_parse_back() {
        let mut f16_scales = QuantSpec::new(4, Scheme::Asymmetric, Granularity::PerGroup { size: 32 });
        f16_scales.scale_dtype = ScaleDType::F16;
        let mut full = QuantSpec::new(8, Scheme::Symmetric, Granularity::PerTensor);
        full.format.full_range = true;
        let cases = [
            (NumberFormat::Float(FloatCast::F32), "fp32"),
            (NumberFormat::Float(FloatCast::F16), "fp16"),
            (NumberFormat::Float(FloatCast::Bf16), "bf16"),
            (NumberFormat::Scaled(QuantSpec::new(8, Scheme::Symmetric, Granularity::PerChannel { axis: 0 })), "int8 sym channel:0"),
            (NumberFormat::Scaled(f16_scales), "int4 asym group:32 f16-scales"),
            (NumberFormat::Scaled(full), "int8 sym tensor full"),
        ];
        for (format, label) in cases {
            assert_eq!(format.label(), label);
            assert_eq!(NumberFormat::parse(label).unwrap(), format, "{label}");
        }
    }

    #[test]
    fn parse_is_strict_and_says_why() {
        let spec = NumberFormat::parse("int3 sym tensor full f16-scales").unwrap().spec().unwrap();
        assert_eq!((spec.format.bits, spec.format.full_range, spec.scale_dtype), (3, true, ScaleDType::F16));
        assert_eq!(NumberFormat::parse("int3 sym tensor f16-scales full").unwrap().label(), "int3 sym tensor full f16-scales");
        for (text, says) in [
            ("int9 sym tensor", "bits must be 2..=8"),
            ("int1 asym tensor", "bits must be 2..=8"),
            ("int8 sym", "granularity is missing"),
            ("int8 both tensor", "expected sym or asym"),
            ("int8 sym group:0", "group size must be at least 1"),
            ("int4 asym tensor full", "applies to sym only"),
            ("int8 sym tensor full full", "given twice"),
            ("int8 sym tensor fast", "unknown option 'fast'"),
            ("intx sym tensor", "should be int<bits>"),
            ("fp8", "is not a number format"),
            ("", "is not a number format"),
        ] {
            let e = NumberFormat::parse(text).unwrap_err().to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn served_list_leads_with_the_default_comparison() {
        let list = number_formats();
        let defaults: Vec<(&str, &str, &str)> =
            list.iter().filter(|f| f.default_column).map(|f| (f.info.title.as_str(), f.info.note.as_str(), f.info.label.as_str())).collect();
        assert_eq!(
            defaults,
            [
                ("FP32", "reference", "fp32"),
                ("FP16", "cast", "fp16"),
                ("BF16", "cast", "bf16"),
                ("INT8", "sym channel:0", "int8 sym channel:0"),
                ("INT4", "asym group:32", "int4 asym group:32")
            ]
        );
        assert_eq!(list.iter().map(|f| f.preset).filter(Option::is_some).collect::<Vec<_>>(), [Some("int8"), Some("int4")]);
        let bits: Vec<f64> = list.iter().take(5).map(|f| f.info.bits_per_weight).collect();
        assert_eq!(bits, [32.0, 16.0, 16.0, 8.0, 4.0]);
        // Every served label parses back to the format it describes: the page can send any of them.
        for f in &list {
            let format = NumberFormat::parse(&f.info.label).unwrap();
            assert_eq!(format.describe(), f.info);
            assert_eq!(f.bits_range.is_some(), f.info.family == Family::Int);
        }
        // Every ggml type with a reference quantizer is a (non-default) column the page can add.
        let ggml: Vec<String> = list.iter().filter(|f| f.info.family == Family::Ggml).map(|f| f.info.label.clone()).collect();
        assert_eq!(ggml, GgmlType::quantizable().map(ggml_label).collect::<Vec<_>>());
        assert!(ggml.contains(&"q4_k".to_string()));
    }

    #[test]
    fn block_formats_have_their_labels_and_true_bits() {
        let want = [
            ("fp8-e4m3", "FP8 E4M3", 8.0),
            ("fp8-e5m2", "FP8 E5M2", 8.0),
            ("mxfp8-e4m3", "MXFP8 E4M3", 8.25),
            ("mxint8", "MXINT8", 8.25),
            ("mxfp6-e2m3", "MXFP6 E2M3", 6.25),
            ("mxfp6-e3m2", "MXFP6 E3M2", 6.25),
            ("mxfp4", "MXFP4", 4.25),
            ("nvfp4", "NVFP4", 4.5),
            ("nf4", "NF4", 4.5),
        ];
        let served: Vec<(String, String, f64)> = number_formats()
            .into_iter()
            .filter(|f| f.info.family == Family::Block)
            .map(|f| (f.info.label, f.info.title, f.info.bits_per_weight))
            .collect();
        assert_eq!(served, want.map(|(l, t, b)| (l.to_string(), t.to_string(), b)));
        // The OCP and NVIDIA definitions, not ggml's MXFP4 / NVFP4 block types.
        assert_eq!(NumberFormat::parse("mxfp4").unwrap(), NumberFormat::Block(BlockFormat::Mxfp4));
        assert_eq!(NumberFormat::parse("nvfp4").unwrap().family(), Family::Block);
        let ggml_mxfp4 = NumberFormat::parse("ggml-mxfp4").unwrap();
        assert_eq!((ggml_mxfp4.label().as_str(), ggml_mxfp4.family()), ("ggml-mxfp4", Family::Ggml));
        assert_eq!(NumberFormat::parse("ggml-q4_k").unwrap().label(), "q4_k");
    }

    #[test]
    fn a_shape_allows_the_ggml_types_whose_blocks_fill_its_rows() {
        let labels = |shape: &[usize]| fixed_formats_for_shape(shape).into_iter().map(|f| f.label).collect::<Vec<_>>();
        let blocks: Vec<String> = BlockFormat::ALL.iter().map(|b| b.label().to_string()).collect();
        let ggml_by_len = |len: usize| GgmlType::quantizable().filter(move |t| t.block_len() == len).map(ggml_label);
        // Rows of 256: every block format and every ggml type (blocks of 32 and of 256 both divide 256).
        let all: Vec<String> = blocks.iter().cloned().chain(GgmlType::quantizable().map(ggml_label)).collect();
        assert_eq!(labels(&[4, 256]), all);
        assert!(ggml_by_len(256).any(|l| l == "q4_k") && ggml_by_len(32).any(|l| l == "q8_0"));
        // Rows of 96: whole blocks of 32 only, so Q8_0 but no K-quant.
        let rows96 = labels(&[3, 96]);
        assert_eq!(rows96, blocks.iter().cloned().chain(ggml_by_len(32)).collect::<Vec<_>>());
        assert!(rows96.contains(&"q8_0".to_string()) && !rows96.contains(&"q4_k".to_string()));
        // Rows of 10: no ggml type; the block formats still (their last block is short).
        assert_eq!(labels(&[10]), blocks);
        let q4k = NumberFormat::parse("q4_k").unwrap().fits_shape(&[2, 96]).unwrap_err().to_string();
        assert!(q4k.contains("rows of 96 values are not whole blocks of 256"), "{q4k}");
        let channel1 = NumberFormat::parse("int8 sym channel:1").unwrap();
        assert!(channel1.fits_shape(&[4, 8]).is_ok());
        assert!(channel1.fits_shape(&[32]).unwrap_err().to_string().contains("channel axis 1 is out of range"));
        assert!(NumberFormat::parse("int8 sym channel:0").unwrap().fits_shape(&[]).is_ok());
    }

    #[test]
    fn served_list_json_shape() {
        let json = serde_json::to_value(number_formats()).unwrap();
        assert_eq!(json[0], serde_json::json!({"label": "fp32", "title": "FP32", "note": "reference", "family": "float",
            "bits_per_weight": 32.0, "spec": null, "default_column": true, "preset": null, "bits_range": null}));
        assert_eq!(json[3]["spec"], serde_json::json!({"bits": 8, "scheme": "symmetric", "full_range": false,
            "granularity": "channel:0", "scale_dtype": "f32"}));
        assert_eq!(json[4]["bits_range"], serde_json::json!([2, 8]));
    }
}
