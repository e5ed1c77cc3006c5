//! Scale and zero-point arithmetic exactly as onnxruntime's quantization tool does it
//! (onnxruntime/python/tools/quantization/quant_utils.py: `compute_scale_zp`,
//! `get_qmin_qmax_for_qType`, `quantize_nparray`; base_quantizer.py: `quantize_bias_static_impl`;
//! qdq_quantizer.py: `_adjust_weight_scale_for_int32_bias`), with numpy's dtypes followed step by
//! step: ranges in float32, the scale divided in float64 and stored as float32, the zero point
//! rounded half to even in float64, codes rounded half to even in float32.

use super::model::{INT8, UINT8};

/// An integer quantization type of ORT's tool (8-bit here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QType {
    U8,
    S8,
}

impl QType {
    pub fn onnx(self) -> i32 {
        match self {
            QType::U8 => UINT8,
            QType::S8 => INT8,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            QType::U8 => "u8",
            QType::S8 => "s8",
        }
    }

    /// The type's whole range (quant_utils.ONNX_INT_TYPE_RANGE).
    pub fn full_range(self) -> (i32, i32) {
        match self {
            QType::U8 => (0, 255),
            QType::S8 => (-128, 127),
        }
    }

    /// `get_qmin_qmax_for_qType`: reduced range first, then the symmetric int8 range
    /// (−127..127), else the whole range.
    pub fn qmin_qmax(self, reduce_range: bool, symmetric: bool) -> (i32, i32) {
        match (self, reduce_range, symmetric) {
            (QType::U8, true, _) => (0, 127),
            (QType::S8, true, _) => (-64, 64),
            (QType::S8, false, true) => (-127, 127),
            _ => self.full_range(),
        }
    }
}

/// `compute_scale_zp(rmin, rmax, qmin, qmax, symmetric)` for float32 ranges: (zero_point, scale).
pub fn compute_scale_zp(rmin: f32, rmax: f32, qmin: i32, qmax: i32, symmetric: bool) -> (i32, f32) {
    // numpy.minimum / maximum with 0 of the range's dtype.
    let mut rmin = if rmin.is_nan() { rmin } else { rmin.min(0.0) };
    let mut rmax = if rmax.is_nan() { rmax } else { rmax.max(0.0) };
    if symmetric {
        let absmax = rmin.abs().max(rmax.abs());
        rmin = -absmax;
        rmax = absmax;
    }
    let scale = (rmax as f64 - rmin as f64) / (qmax as f64 - qmin as f64);
    // finfo(float32).tiny: a smaller scale becomes 1 with zero point 0.
    if scale < f32::MIN_POSITIVE as f64 {
        return (0, 1.0);
    }
    let zero_point = if symmetric {
        ((qmin + qmax) as f64 / 2.0).round_ties_even()
    } else {
        (qmin as f64 - rmin as f64 / scale).round_ties_even()
    };
    (zero_point as i32, scale as f32)
}

/// The scale and zero point of a weight's values (`compute_data_quant_params`: min and max of
/// the float32 data, 0 and 1.0 for an empty tensor).
pub fn data_scale_zp(data: &[f32], qtype: QType, symmetric: bool, reduce_range: bool) -> (i32, f32) {
    if data.is_empty() {
        return (0, 1.0);
    }
    // numpy's min/max propagate NaN.
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    let mut nan = false;
    for &v in data {
        nan |= v.is_nan();
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if nan {
        (lo, hi) = (f32::NAN, f32::NAN);
    }
    let (qmin, qmax) = qtype.qmin_qmax(reduce_range, symmetric);
    compute_scale_zp(lo, hi, qmin, qmax, symmetric)
}

/// Zero points and scales of a weight of shape `dims`: one pair per tensor, or one per slice along
/// `axis` (`quantize_weight_per_channel_impl`, `_calc_initializer_quant_params`: each channel's
/// `compute_data_quant_params`).
pub fn weight_scale_zp(data: &[f32], dims: &[usize], axis: Option<usize>, qtype: QType, symmetric: bool, reduce_range: bool) -> (Vec<i32>, Vec<f32>) {
    match axis {
        None => {
            let (z, s) = data_scale_zp(data, qtype, symmetric, reduce_range);
            (vec![z], vec![s])
        }
        Some(a) => {
            let channels = dims[a];
            let inner: usize = dims[a + 1..].iter().product();
            let mut per: Vec<Vec<f32>> = vec![Vec::new(); channels];
            for (i, &v) in data.iter().enumerate() {
                per[(i / inner.max(1)) % channels.max(1)].push(v);
            }
            per.iter().map(|c| data_scale_zp(c, qtype, symmetric, reduce_range)).unzip()
        }
    }
}

/// The codes of a weight for the parameters `weight_scale_zp` gave (`quantize_onnx_initializer`),
/// as the bytes of its int8 / uint8 initializer.
pub fn weight_codes(data: &[f32], dims: &[usize], axis: Option<usize>, scales: &[f32], zero_points: &[i32], qtype: QType) -> Vec<u8> {
    let inner: usize = axis.map_or(1, |a| dims[a + 1..].iter().product());
    let channels = scales.len().max(1);
    data.iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = if axis.is_some() { (i / inner.max(1)) % channels } else { 0 };
            quantize_value(v, scales[c], zero_points[c], qtype) as u8
        })
        .collect()
}

/// `quantize_nparray`: round(x / scale) + zero_point in float32, clipped to the type's whole range.
pub fn quantize_value(x: f32, scale: f32, zero_point: i32, qtype: QType) -> i32 {
    let (lo, hi) = qtype.full_range();
    let q = (x / scale).round_ties_even() + zero_point as f32;
    // numpy.clip then astype: NaN stays NaN and casts to 0 on x86 (undefined in C); 0 here.
    if q.is_nan() {
        return 0;
    }
    q.clamp(lo as f32, hi as f32) as i32
}

/// The int32 codes of a bias for `bias_scale` (one scale, or one per channel over axis 0):
/// round(bias / scale) in float64, clipped to int32 (`quantize_bias_static_impl`).
pub fn quantize_bias(bias: &[f32], bias_scale: &[f32]) -> Vec<i32> {
    let per_channel = bias_scale.len() > 1;
    bias.iter()
        .enumerate()
        .map(|(i, &b)| {
            let s = if per_channel { bias_scale[i % bias_scale.len()] } else { bias_scale[0] };
            let q = (b as f64 / s as f64).round_ties_even();
            if q.is_nan() {
                0
            } else {
                q.clamp(i32::MIN as f64, i32::MAX as f64) as i32
            }
        })
        .collect()
}

/// `_adjust_weight_scale_for_int32_bias`: a weight scale raised so that input_scale × weight_scale
/// lets the bias fit int32; None when no element changed.
pub fn adjust_weight_scale_for_int32_bias(input_scale: f32, weight_scale: &[f32], bias: &[f32], per_channel: bool) -> Option<Vec<f32>> {
    if weight_scale.is_empty() {
        return None;
    }
    let qrange = i32::MAX as f64 - (i32::MIN as f64 + 1.0);
    let epsilon = 1.0001f64;
    let input = input_scale as f64;
    let mut out = weight_scale.to_vec();
    let mut changed = false;
    if !per_channel {
        // The bias's min/max against a float64 zero: float64 from there on.
        let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
        for &b in bias {
            lo = lo.min(b);
            hi = hi.max(b);
        }
        let rmin = (lo as f64).min(0.0);
        let rmax = (hi as f64).max(0.0);
        let absmax = rmin.abs().max(rmax.abs());
        let smallest = epsilon * (2.0 * absmax) / qrange;
        let w = weight_scale[0] as f64;
        let candidate = input * w;
        if candidate < smallest && candidate > 0.0 {
            out[0] = (w * (smallest / candidate)) as f32;
            changed = true;
        }
    } else {
        for (i, s) in out.iter_mut().enumerate() {
            // np.abs of a float32 element times Python floats stays float32 (NEP 50), then float64.
            let rmax = bias.get(i).map_or(0.0, |b| b.abs());
            let smallest = (epsilon as f32 * (2.0f32 * rmax)) as f64 / qrange;
            let w = *s as f64;
            let candidate = input * w;
            if candidate < smallest && candidate > 0.0 {
                *s = (w * (smallest / candidate)) as f32;
                changed = true;
            }
        }
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_include_zero_and_the_int8_symmetric_range_is_127() {
        assert_eq!(QType::S8.qmin_qmax(false, true), (-127, 127));
        assert_eq!(QType::S8.qmin_qmax(false, false), (-128, 127));
        assert_eq!(QType::U8.qmin_qmax(false, true), (0, 255));
        assert_eq!(QType::U8.qmin_qmax(true, false), (0, 127));
        // [0.5, 2] widens to [0, 2]: scale 2/255, zero point 0.
        assert_eq!(compute_scale_zp(0.5, 2.0, 0, 255, false), (0, (2.0f64 / 255.0) as f32));
        // A range of zero width: scale 1, zero point 0.
        assert_eq!(compute_scale_zp(0.0, 0.0, 0, 255, false), (0, 1.0));
    }
}
