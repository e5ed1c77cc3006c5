//! The Outputs view's trace (src/app/trace.rs) against the full static INT8 pipeline: on the digits
//! example's first layer with the parameters int8_static::calibrate learns, every traced element's final
//! code equals the code StaticInt8Mlp's own loop writes for that element, and the accumulator equals
//! the kernel's. The hand-worked M0 / shift case is a unit test in src/app/trace.rs.
#![cfg(not(target_arch = "wasm32"))]

use quant_playground::app::example::{int8_static, Example, StaticInt8Mlp};
use quant_playground::app::trace::{self, LayerQuantization};
use quant_playground::calib::Method;

const MODEL: &[u8] = include_bytes!("../www/examples/digits-mlp.safetensors");
const TEST_X: &[u8] = include_bytes!("../www/examples/digits-test-x.npy");
const TEST_Y: &[u8] = include_bytes!("../www/examples/digits-test-y.npy");
const CALIB_X: &[u8] = include_bytes!("../www/examples/digits-calib-x.npy");

#[test]
fn trace_codes_equal_the_static_pipeline_on_the_first_layer() {
    let ex = Example::from_bytes(MODEL, TEST_X, TEST_Y, CALIB_X).unwrap();
    let fc1 = &ex.mlp.layers[0];
    let (n, k) = (fc1.out_features, fc1.in_features);
    for method in [Method::MinMax, Method::Percentile(99.99), Method::Entropy] {
        let params = int8_static::calibrate(&ex.mlp, &ex.calib_x, ex.calib_rows, &method).unwrap();
        let net = StaticInt8Mlp::new(&ex.mlp, &params).unwrap();
        let m = 16;
        let x = &ex.test_x[..m * k];
        let hidden = &net.layer_inputs(x, m).unwrap()[1];
        let (input, output) = (&params.layers[0], &params.layers[1]);
        let q = LayerQuantization {
            input_range: input.range,
            input_scale: input.scale,
            input_zero_point: input.zero_point,
            output_range: output.range,
            output_scale: output.scale,
            output_zero_point: output.zero_point,
            relu: true,
        };
        let mut nonzero = 0;
        for sample in [0, 5, 15] {
            for row in (0..n).step_by(7) {
                let t = trace::trace_element(&fc1.weight, n, k, Some(&fc1.bias), x, m, sample, row, &q).unwrap();
                assert_eq!(t.code, hidden[sample * n + row] as i32, "{method:?}: sample {sample}, row {row}");
                assert_eq!(t.accumulator, t.kernel_accumulator);
                assert_eq!(t.accumulator as i64, t.sum_products + t.zero_point_terms.input_zero_point_term);
                // The requantized value is within one output step (plus the clamp) of the real one.
                if t.code > t.clamp_min {
                    nonzero += 1;
                    assert!((t.dequantized - t.fp32).abs() <= 1.01 * q.output_scale + 0.02 * t.fp32.abs(), "{t:?}");
                }
            }
        }
        assert!(nonzero > 5, "{method:?}: only {nonzero} traced elements above the ReLU clamp");
    }
}

#[test]
fn whole_output_errors_rank_as_expected() {
    let ex = Example::from_bytes(MODEL, TEST_X, TEST_Y, CALIB_X).unwrap();
    let fc1 = &ex.mlp.layers[0];
    let (n, k) = (fc1.out_features, fc1.in_features);
    let m = 64;
    let t = trace::trace_outputs(&fc1.weight, n, k, Some(&fc1.bias), &ex.test_x[..m * k], m, 3, 10, &Method::MinMax, false).unwrap();
    // Static INT8 pays for its 8-bit output (about 30 dB here); dynamic INT8 keeps an f32 output and is
    // far better than INT4 g32.
    assert!(t.static_int8.sqnr_db > 25.0, "{:?}", t.static_int8);
    assert!(t.dynamic_int8.sqnr_db > t.int4_g32.sqnr_db + 10.0, "{t:?}");
    // The element's code is the whole output's code at (3, 10).
    let q = &t.quantization;
    let w = quant_playground::kernels::gemm::PackedI8::quantize(&fc1.weight, n, k).unwrap();
    let codes = trace::static_int8_codes(&w, &ex.test_x[..m * k], m, Some(&fc1.bias), q).unwrap();
    assert_eq!(t.element.code, codes[3 * n + 10] as i32);
    // Bad requests name what is wrong.
    let e = trace::trace_outputs(&fc1.weight, n, k, None, &ex.test_x[..m * k], m, m, 0, &Method::MinMax, false).unwrap_err();
    assert!(e.to_string().contains(&format!("sample {m}")), "{e}");
}
