//! The numerics contract of DESIGN.md: a quantization spec, parameters from a range, the slot
//! layout of each granularity, quantize / dequantize of whole tensors. Beside it: the number-format
//! axis and its labels (format.rs), INT-b bit packing (packing.rs), ggml's block types (ggml/), and the
//! dynamic quantization that feeds the integer GEMMs (dynamic.rs).

pub mod block;
pub mod dynamic;
pub mod format;
pub mod ggml;
pub mod lut4_weights;
pub mod minifloat;
pub mod mx;
pub mod nf4;
pub mod nvfp4;
pub mod packing;
pub mod stream;

pub use format::{BlockFormat, FloatCast, Granularity, IntFormat, NumberFormat, Scheme};

use crate::error::{Error, Result};
use crate::kernels::{self, ErrorSums};
pub use crate::kernels::{Codes, ScaleDType};
use serde::{Deserialize, Serialize};

/// A full quantization setting: the element format, which elements share a scale, how scales are stored.
/// In JSON the format's fields sit beside the others:
/// `{"bits":8,"scheme":"symmetric","full_range":false,"granularity":"channel:0","scale_dtype":"f32"}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QuantSpec {
    #[serde(flatten)]
    pub format: IntFormat,
    pub granularity: Granularity,
    #[serde(default)]
    pub scale_dtype: ScaleDType,
}

impl QuantSpec {
    pub fn new(bits: u8, scheme: Scheme, granularity: Granularity) -> Self {
        QuantSpec { format: IntFormat::new(bits, scheme), granularity, scale_dtype: ScaleDType::F32 }
    }

    pub fn validate(&self) -> Result<()> {
        self.format.validate()?;
        if let Granularity::PerGroup { size: 0 } = self.granularity {
            return Err(Error::InvalidSpec("group size must be at least 1".into()));
        }
        Ok(())
    }

    /// (qmin, qmax) of the codes.
    pub fn code_range(&self) -> (i32, i32) {
        self.format.code_range()
    }

    /// Its label, such as `int8 sym channel:0` (written by `NumberFormat::label`).
    pub fn label(&self) -> String {
        NumberFormat::Scaled(*self).label()
    }
}

/// One slot's scale and zero point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantParams {
    pub scale: f32,
    pub zero_point: i32,
}

/// Parameters from a calibrated range [lo, hi], per the numerics contract. All arithmetic in f32.
pub fn params_from_range(spec: &QuantSpec, lo: f32, hi: f32) -> QuantParams {
    let (qmin, qmax) = spec.code_range();
    let store = |s: f32| match spec.scale_dtype {
        ScaleDType::F32 => s,
        // What is stored is what dequantizes: round the scale to f16 before using it.
        ScaleDType::F16 => half::f16::from_f32(s).to_f32(),
    };
    let usable = |s: f32| s.is_finite() && s > 0.0;
    match spec.format.scheme {
        Scheme::Symmetric => {
            let amax = lo.abs().max(hi.abs());
            let mut scale = store(amax / qmax as f32);
            if !usable(scale) {
                scale = 1.0;
            }
            QuantParams { scale, zero_point: 0 }
        }
        Scheme::Asymmetric => {
            let lo = lo.min(0.0);
            let hi = hi.max(0.0);
            let steps = (qmax - qmin) as f32;
            let mut scale = (hi - lo) / steps;
            if scale.is_infinite() && lo.is_finite() && hi.is_finite() {
                // hi − lo overflowed f32 (a range near ±3.4e38): take the width in f64 rather than give up.
                scale = ((hi as f64 - lo as f64) / steps as f64) as f32;
            }
            let mut scale = store(scale);
            if !usable(scale) {
                scale = 1.0;
            }
            let zp = (qmin as f32 - lo / scale).round_ties_even();
            let zero_point = if zp.is_nan() { qmin } else { zp.clamp(qmin as f32, qmax as f32) as i32 };
            QuantParams { scale, zero_point }
        }
    }
}

/// How a tensor is cut into contiguous runs that each share one slot (scale, zero point).
#[derive(Debug, Clone, PartialEq)]
pub struct SlotLayout {
    granularity: Granularity,
    len: usize,
    /// Per-channel: elements before / after the axis; per-group: row length.
    outer: usize,
    channels: usize,
    inner: usize,
    pub slots: usize,
    /// Per-group only: the length of the last group of each row when it is shorter than G.
    pub short_last_group: Option<usize>,
}

impl SlotLayout {
    pub fn new(shape: &[usize], granularity: Granularity) -> Result<Self> {
        let shape: Vec<usize> = if shape.is_empty() { vec![1] } else { shape.to_vec() };
        let len = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| Error::InvalidSpec(format!("shape {shape:?} has more elements than fit in memory")))?;
        let mut layout =
            SlotLayout { granularity, len, outer: 1, channels: 1, inner: len, slots: 1, short_last_group: None };
        match granularity {
            Granularity::PerTensor => {}
            Granularity::PerChannel { axis } => {
                if axis >= shape.len() {
                    return Err(Error::InvalidSpec(format!(
                        "channel axis {axis} is out of range for a tensor of shape {shape:?}"
                    )));
                }
                layout.outer = shape[..axis].iter().product();
                layout.channels = shape[axis];
                layout.inner = shape[axis + 1..].iter().product();
                layout.slots = layout.channels;
            }
            Granularity::PerGroup { size } => {
                let row = *shape.last().expect("non-empty shape");
                let groups_per_row = row.div_ceil(size);
                layout.outer = len.checked_div(row).unwrap_or(0);
                layout.inner = row;
                layout.channels = groups_per_row;
                layout.slots = layout.outer * groups_per_row;
                if row % size != 0 && row > size {
                    layout.short_last_group = Some(row % size);
                }
            }
        }
        Ok(layout)
    }

    /// Calls `f(start, len, slot)` for each contiguous run of elements, in memory order.
    pub fn for_each_run(&self, mut f: impl FnMut(usize, usize, usize)) {
        match self.granularity {
            Granularity::PerTensor => {
                if self.len > 0 {
                    f(0, self.len, 0)
                }
            }
            Granularity::PerChannel { .. } => {
                if self.inner == 0 {
                    return;
                }
                for o in 0..self.outer {
                    for c in 0..self.channels {
                        f((o * self.channels + c) * self.inner, self.inner, c);
                    }
                }
            }
            Granularity::PerGroup { size } => {
                for r in 0..self.outer {
                    for g in 0..self.channels {
                        let start = g * size;
                        f(r * self.inner + start, size.min(self.inner - start), r * self.channels + g);
                    }
                }
            }
        }
    }
}

/// A calibrated range per slot.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotRanges {
    pub lo: Vec<f32>,
    pub hi: Vec<f32>,
    /// Non-finite values seen (ignored by the range).
    pub nonfinite: usize,
}

/// Min-max calibration per slot: the first range source of the contract (the streamed range pass
/// fed the whole tensor as one chunk).
pub fn minmax_ranges(x: &[f32], layout: &SlotLayout) -> SlotRanges {
    let mut pass = stream::RangePass::new(layout.clone());
    // The callers have checked x against the layout; a longer x is cut to it.
    let _ = pass.feed(&x[..x.len().min(layout.len)]);
    pass.ranges()
}

/// A quantized tensor with everything needed to dequantize and to report it.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedTensor {
    pub spec: QuantSpec,
    pub shape: Vec<usize>,
    pub layout: SlotLayout,
    pub scales: Vec<f32>,
    pub zero_points: Vec<i32>,
    pub codes: Codes,
    /// Finite inputs that fell outside the representable range and were clamped.
    pub clipped: usize,
    /// NaN / ±Inf inputs (NaN became the zero point, ±Inf clamped).
    pub nonfinite: usize,
    pub error: ErrorSums,
}

/// Quantizes with min-max ranges per slot.
pub fn quantize_minmax(x: &[f32], shape: &[usize], spec: &QuantSpec) -> Result<QuantizedTensor> {
    spec.validate()?;
    let layout = SlotLayout::new(shape, spec.granularity)?;
    check_len(x, &layout, shape)?;
    let ranges = minmax_ranges(x, &layout);
    quantize_with_ranges(x, shape, spec, &ranges)
}

fn check_len(x: &[f32], layout: &SlotLayout, shape: &[usize]) -> Result<()> {
    if x.len() != layout.len {
        return Err(Error::InvalidSpec(format!("{} values given for shape {shape:?} ({} elements)", x.len(), layout.len)));
    }
    Ok(())
}

/// Quantizes with given ranges per slot (from any calibration method): the streamed scaled pass
/// fed the whole tensor as one chunk, its codes kept.
pub fn quantize_with_ranges(x: &[f32], shape: &[usize], spec: &QuantSpec, ranges: &SlotRanges) -> Result<QuantizedTensor> {
    spec.validate()?;
    let layout = SlotLayout::new(shape, spec.granularity)?;
    check_len(x, &layout, shape)?;
    let mut pass = stream::ScaledPass::new(spec, layout.clone(), ranges)?;
    let codes = pass.feed_codes(x)?.clone();
    let out = pass.finish()?;
    Ok(QuantizedTensor {
        spec: *spec,
        shape: shape.to_vec(),
        layout,
        scales: out.params.iter().map(|p| p.scale).collect(),
        zero_points: out.params.iter().map(|p| p.zero_point).collect(),
        codes,
        clipped: out.clipped,
        nonfinite: out.nonfinite,
        error: out.error,
    })
}

impl QuantizedTensor {
    /// x̂ = (q − zp) · scale for every element, in the tensor's shape.
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0.0f32; self.codes.len()];
        self.layout.for_each_run(|start, len, slot| {
            let (s, zp) = (self.scales[slot], self.zero_points[slot]);
            match &self.codes {
                Codes::I8(q) => kernels::dequantize(&q[start..start + len], s, zp, &mut out[start..start + len]),
                Codes::U8(q) => kernels::dequantize(&q[start..start + len], s, zp, &mut out[start..start + len]),
            }
        });
        out
    }

    /// Finite elements, the denominator of the mean error and the clipped share.
    pub fn finite_count(&self) -> usize {
        self.codes.len() - self.nonfinite
    }

    /// Bytes stored: packed codes + scales + zero points (one byte each, asymmetric only).
    pub fn stored_bytes(&self) -> u64 {
        stored_bytes(&self.spec, self.codes.len() as u64, self.layout.slots as u64)
    }
}

/// Bytes a quantized tensor of `elements` values in `slots` slots occupies.
pub fn stored_bytes(spec: &QuantSpec, elements: u64, slots: u64) -> u64 {
    let payload = (elements * spec.format.bits as u64).div_ceil(8);
    let scale_bytes = match spec.scale_dtype {
        ScaleDType::F32 => 4,
        ScaleDType::F16 => 2,
    };
    let zp_bytes = if spec.format.scheme == Scheme::Asymmetric { 1 } else { 0 };
    payload + slots * (scale_bytes + zp_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym8() -> QuantSpec {
        QuantSpec::new(8, Scheme::Symmetric, Granularity::PerTensor)
    }

    #[test]
    fn lecture_example_int8_symmetric() {
        // The lecture: FP32 [0.1, 0.5, 0.9, 1.2], symmetric INT8, scale = 1.2 / 127.
        let q = quantize_minmax(&[0.1, 0.5, 0.9, 1.2], &[4], &sym8()).unwrap();
        assert_eq!(q.scales, vec![1.2f32 / 127.0]);
        assert_eq!(q.codes, Codes::I8(vec![11, 53, 95, 127]));
        // Why the lecture's slide shows 96 for 0.9: it rounds the scale to 0.0094 first.
        // 0.9 / 0.0094 = 95.74 → 96, while with the exact scale 0.9 / (1.2/127) = 95.25 → 95.
        let with_rounded_scale = (0.9f32 / 0.0094).round_ties_even();
        assert_eq!(with_rounded_scale, 96.0);
    }

    #[test]
    fn asymmetric_hand_worked() {
        // Range [−1, 3] over 8 bits: scale = 4/255, zp = round(0 − (−1)/(4/255)) = round(63.75) = 64.
        let spec = QuantSpec::new(8, Scheme::Asymmetric, Granularity::PerTensor);
        let p = params_from_range(&spec, -1.0, 3.0);
        assert_eq!(p.scale, 4.0f32 / 255.0);
        assert_eq!(p.zero_point, 64);
        let q = quantize_minmax(&[-1.0, 0.0, 3.0], &[3], &spec).unwrap();
        // −1/(4/255) = −63.75 → −64 + 64 = 0; 0 → 64; 3/(4/255) = 191.25 → 191 + 64 = 255.
        assert_eq!(q.codes, Codes::U8(vec![0, 64, 255]));
    }

    #[test]
    fn asymmetric_positive_range_is_widened_to_zero() {
        let spec = QuantSpec::new(8, Scheme::Asymmetric, Granularity::PerTensor);
        let p = params_from_range(&spec, 2.0, 4.0);
        assert_eq!(p.scale, 4.0f32 / 255.0);
        assert_eq!(p.zero_point, 0);
    }

    #[test]
    fn int4_symmetric_narrow_and_full_range() {
        let mut spec = QuantSpec::new(4, Scheme::Symmetric, Granularity::PerTensor);
        assert_eq!(spec.code_range(), (-7, 7));
        spec.format.full_range = true;
        assert_eq!(spec.code_range(), (-8, 7));
        let q = quantize_minmax(&[-7.0, -3.5, 0.0, 2.5, 7.0], &[5], &spec).unwrap();
        // scale = 7/7 = 1; −3.5 → −4 and 2.5 → 2 (ties to even).
        assert_eq!(q.codes, Codes::I8(vec![-7, -4, 0, 2, 7]));
    }

    #[test]
    fn degenerate_inputs_are_defined() {
        for spec in [sym8(), QuantSpec::new(8, Scheme::Asymmetric, Granularity::PerTensor)] {
            // All zeros: scale 1, codes at the zero point, exact.
            let q = quantize_minmax(&[0.0; 5], &[5], &spec).unwrap();
            assert_eq!(q.scales, vec![1.0]);
            assert!(q.dequantize().iter().all(|&v| v == 0.0));
            // Single element.
            let q = quantize_minmax(&[-2.5], &[1], &spec).unwrap();
            assert_eq!(q.dequantize()[0], -2.5);
            // Empty tensor.
            let q = quantize_minmax(&[], &[0, 4], &spec).unwrap();
            assert_eq!(q.codes.len(), 0);
            assert!(q.scales.iter().all(|s| s.is_finite()));
            // NaN → zero point, ±Inf clamps, the range ignores them.
            let q = quantize_minmax(&[f32::NAN, 1.0, f32::INFINITY, -1.0, f32::NEG_INFINITY], &[5], &spec).unwrap();
            let (qmin, qmax) = spec.code_range();
            assert_eq!(q.nonfinite, 3);
            assert_eq!(q.codes.get(0), q.zero_points[0]);
            assert_eq!(q.codes.get(2), qmax);
            assert_eq!(q.codes.get(4), qmin);
            assert!(q.dequantize().iter().all(|v| v.is_finite()));
            assert!(q.error.sum_ee.is_finite());
        }
    }

    #[test]
    fn all_nonfinite_tensor_gets_scale_one() {
        let q = quantize_minmax(&[f32::NAN, f32::INFINITY], &[2], &sym8()).unwrap();
        assert_eq!(q.scales, vec![1.0]);
        assert_eq!(q.codes, Codes::I8(vec![0, 127]));
    }

    #[test]
    fn per_group_layout_with_short_last_group() {
        let layout = SlotLayout::new(&[2, 5], Granularity::PerGroup { size: 2 }).unwrap();
        let mut runs = vec![];
        layout.for_each_run(|s, l, slot| runs.push((s, l, slot)));
        assert_eq!(runs, vec![(0, 2, 0), (2, 2, 1), (4, 1, 2), (5, 2, 3), (7, 2, 4), (9, 1, 5)]);
        assert_eq!(layout.short_last_group, Some(1));
        assert_eq!(layout.slots, 6);
    }

    #[test]
    fn per_channel_layout_on_inner_axis() {
        let layout = SlotLayout::new(&[2, 3, 2], Granularity::PerChannel { axis: 1 }).unwrap();
        let mut runs = vec![];
        layout.for_each_run(|s, l, slot| runs.push((s, l, slot)));
        assert_eq!(runs, vec![(0, 2, 0), (2, 2, 1), (4, 2, 2), (6, 2, 0), (8, 2, 1), (10, 2, 2)]);
        assert!(SlotLayout::new(&[2, 3], Granularity::PerChannel { axis: 2 }).is_err());
    }

    #[test]
    fn f16_scales_are_rounded_before_use() {
        let mut spec = sym8();
        spec.scale_dtype = ScaleDType::F16;
        let p = params_from_range(&spec, -1.0, 1.0);
        assert_eq!(p.scale, half::f16::from_f32(1.0 / 127.0).to_f32());
    }

    #[test]
    fn spec_json_keeps_the_shape_the_page_sends() {
        let page = r#"{"bits":8,"scheme":"symmetric","full_range":false,"granularity":"channel:0","scale_dtype":"f32"}"#;
        let spec: QuantSpec = serde_json::from_str(page).unwrap();
        assert_eq!(spec, QuantSpec::new(8, Scheme::Symmetric, Granularity::PerChannel { axis: 0 }));
        assert_eq!(serde_json::to_string(&spec).unwrap(), page);
        // The short spellings and the defaults the page may leave out.
        let spec: QuantSpec = serde_json::from_str(r#"{"bits":4,"scheme":"asym","granularity":"group:32"}"#).unwrap();
        assert_eq!(spec.label(), "int4 asym group:32");
        assert!(serde_json::from_str::<QuantSpec>(r#"{"scheme":"sym","granularity":"tensor"}"#).is_err());
    }

    #[test]
    fn sizes_count_payload_scales_and_zero_points() {
        let spec = QuantSpec::new(4, Scheme::Asymmetric, Granularity::PerGroup { size: 32 });
        // 64 × 4 bits = 32 bytes, 2 groups × (4-byte scale + 1-byte zero point) = 10.
        assert_eq!(stored_bytes(&spec, 64, 2), 42);
        assert_eq!(stored_bytes(&sym8(), 3, 1), 7);
    }
}
