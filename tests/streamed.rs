//! The streamed per-tensor passes: the report of a tensor fed in one chunk, a few or many (chunk
//! edges inside groups, channels and LANE_BLOCK blocks) is the same bit for bit, for every format
//! family and every calibration method.

use quant_playground::app::explore;
use quant_playground::app::report;
use quant_playground::calib::{self, CalibConfig, Method};
use quant_playground::quant::{Granularity, NumberFormat, QuantSpec, Scheme};
use quant_playground::tensor::DType;

/// A deterministic weight-like tensor with outliers, exact zeros and a few non-finite values.
fn tensor(n: usize) -> Vec<f32> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let u = (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            match i % 997 {
                5 => 40.0 * u,
                11 => 0.0,
                500 if i == 500 => f32::NAN,
                _ if i == 1234 => f32::INFINITY,
                _ => u * (1.0 + (i % 7) as f32 * 0.1),
            }
        })
        .collect()
}

/// Chunk lengths that cut a [rows, 192] tensor inside rows, groups of 32 and 64-element blocks.
const CHUNKS: [usize; 6] = [usize::MAX, 192 * 40, 1000, 193, 77, 31];

fn formats() -> Vec<NumberFormat> {
    let mut labels: Vec<String> = ["fp32", "fp16", "bf16", "q8_0", "q4_0", "q4_k", "fp8-e4m3", "mxfp4", "nf4"].iter().map(|s| s.to_string()).collect();
    for bits in [2, 4, 8] {
        for scheme in ["sym", "asym"] {
            for g in ["tensor", "channel:0", "channel:1", "group:32", "group:100"] {
                labels.push(format!("int{bits} {scheme} {g}"));
            }
        }
    }
    labels.push("int8 sym tensor full".into());
    labels.push("int4 asym group:32 f16-scales".into());
    labels.iter().map(|l| NumberFormat::parse(l).unwrap()).collect()
}

#[test]
fn comparison_reports_do_not_depend_on_the_chunking() {
    let shape = [256, 256];
    let x = tensor(256 * 256);
    let formats = formats();
    let whole = report::comparison("w", DType::F32, &shape, &x, &formats, x.len()).unwrap();
    assert_eq!(whole.len(), formats.len());
    // The one-chunk stream is the in-memory path.
    assert_eq!(whole[..3], report::compare("w", DType::F32, &shape, &x, &[]).unwrap()[..]);
    for chunk in CHUNKS {
        let rows = report::comparison("w", DType::F32, &shape, &x, &formats, chunk).unwrap();
        for (a, b) in whole.iter().zip(&rows) {
            // Debug prints every float exactly (NaN too, which == would not match).
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "{} with chunks of {chunk}", a.config);
        }
    }
}

#[test]
fn a_three_axis_tensor_cut_inside_its_channels() {
    // Channel 0 of [6, 10, 70] spans 700 elements: chunks of 333 end inside channels and rows.
    let shape = [6, 10, 70];
    let x = tensor(6 * 10 * 70);
    let formats: Vec<NumberFormat> =
        ["int8 sym channel:0", "int4 asym channel:2", "int8 asym group:16", "int3 sym channel:1", "bf16"]
            .iter()
            .map(|l| NumberFormat::parse(l).unwrap())
            .collect();
    let whole = report::comparison("w", DType::F32, &shape, &x, &formats, x.len()).unwrap();
    for chunk in [1, 7, 64, 333, 700, 4199] {
        assert_eq!(whole, report::comparison("w", DType::F32, &shape, &x, &formats, chunk).unwrap(), "chunks of {chunk}");
    }
}

#[test]
fn the_sweep_does_not_depend_on_the_chunking() {
    let shape = [64, 192];
    let x = tensor(64 * 192);
    let specs = explore::sweep_specs(&shape);
    let whole = explore::sweep("w", DType::F32, &shape, &x, &specs).unwrap();
    for chunk in [192 * 7, 100, 33] {
        assert_eq!(whole, explore::sweep_chunked("w", DType::F32, &shape, &x, &specs, chunk).unwrap(), "chunks of {chunk}");
    }
}

#[test]
fn calibration_reports_do_not_depend_on_the_chunking() {
    let x = tensor(50_000);
    let methods = Method::parse_list("all").unwrap();
    let mut methods = methods;
    methods.push(Method::MovingAverage);
    methods.push(Method::EntropyTrt);
    for scheme in [Scheme::Symmetric, Scheme::Asymmetric] {
        for bits in [4, 8] {
            let spec = QuantSpec::new(bits, scheme, Granularity::PerTensor);
            let whole = calib::calibration_report(&x, &spec, &methods, CalibConfig::default(), true).unwrap();
            assert_eq!(whole.methods.len(), methods.len());
            let json = serde_json::to_string(&whole).unwrap();
            for chunk in [25_000, 4096, 999, 64, 63] {
                let got =
                    calib::calibration_report_chunked(&x, &spec, &methods, CalibConfig::default(), true, chunk).unwrap();
                assert_eq!(json, serde_json::to_string(&got).unwrap(), "int{bits} {scheme:?} in chunks of {chunk}");
            }
        }
    }
}

/// The page's path (a weight calibrated in chunks) and the CLI's (`calibrate`, one batch) give the same
/// report. ORT's |x| histogram of symmetric percentile starts at the smallest |x|, not at 0: a chunked
/// read must lay out its bins from the whole tensor's [min|x|, max|x|] before the first chunk.
#[test]
fn a_chunked_weight_calibrates_as_one_batch() {
    // No value near 0, so min|x| is far from 0 and a [0, max|x|] layout would move the percentile.
    let x: Vec<f32> = tensor(40_000).iter().map(|v| if v.is_finite() { v.signum() * (0.25 + v.abs()) } else { *v }).collect();
    let methods = Method::parse_list("all").unwrap();
    for scheme in [Scheme::Symmetric, Scheme::Asymmetric] {
        let spec = QuantSpec::new(8, scheme, Granularity::PerTensor);
        let cli = calib::batches::calibration_report_batches(&[&x], &spec, &methods, CalibConfig::default(), false).unwrap().report;
        for chunk in [usize::MAX, 4096, 333] {
            let page = calib::calibration_report_chunked(&x, &spec, &methods, CalibConfig::default(), false, chunk).unwrap();
            assert_eq!(serde_json::to_string(&cli).unwrap(), serde_json::to_string(&page).unwrap(), "{scheme:?} in chunks of {chunk}");
        }
    }
}

/// The page's path: each chunk of stored BF16 rows decoded once into a reused buffer (with its
/// non-finite count), then fed to one column at a time, gives the rows of the in-memory comparison
/// of the decoded tensor; for one chunk and for many (1 row of 256: chunk edges inside no group;
/// the tensor's rows are its channels, so every edge is a channel's end), and for chunks of elements
/// that cut groups and channels (the same stream fed by the CLI).
#[test]
fn columns_fed_one_by_one_from_a_chunk_decoded_once_equal_the_whole_comparison() {
    use quant_playground::tensor::{decode_rows_into, decode_rows_to_f32, TensorInfo};
    let (rows, cols) = (70, 256);
    let x = tensor(rows * cols);
    let bytes: Vec<u8> = x.iter().flat_map(|v| half::bf16::from_f32(*v).to_bits().to_le_bytes()).collect();
    let info: TensorInfo = serde_json::from_value(serde_json::json!({
        "name": "w", "dtype": "BF16", "shape": [rows, cols], "offset": 0, "byte_len": bytes.len(), "big_endian": false, "fortran_order": false
    }))
    .unwrap();
    let decoded = decode_rows_to_f32(&info, &bytes).unwrap();
    let formats = formats();
    let whole = report::comparison("w", DType::BF16, &[rows, cols], &decoded, &formats, decoded.len()).unwrap();
    for chunk_rows in [rows, 7, 1] {
        let mut stream = report::ComparisonStream::new("w", DType::BF16, &[rows, cols], &formats).unwrap();
        let mut chunk = Vec::new();
        for pass in ["range", "measure"] {
            for part in bytes.chunks(chunk_rows * cols * 2) {
                let nonfinite = decode_rows_into(&info, part, &mut chunk).unwrap();
                assert_eq!(nonfinite, chunk.iter().filter(|v| !v.is_finite()).count());
                for i in 0..stream.columns() {
                    if pass == "range" {
                        stream.feed_range_column(i, &chunk).unwrap();
                    } else {
                        stream.feed_column(i, &chunk, nonfinite).unwrap();
                    }
                }
            }
            if pass == "range" {
                stream.end_range_pass().unwrap();
            }
        }
        let got = stream.finish().unwrap();
        for (a, b) in whole.iter().zip(&got) {
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "{} in chunks of {chunk_rows} rows", a.config);
        }
    }
    // A column fed past the tensor's end, or one that does not exist, is an error; so is a column
    // left short when the others are done.
    let f = [NumberFormat::parse("fp16").unwrap(), NumberFormat::parse("int4 asym group:32").unwrap()];
    let mut s = report::ComparisonStream::new("w", DType::F32, &[2, 64], &f).unwrap();
    s.feed_range(&decoded[..128]).unwrap();
    s.end_range_pass().unwrap();
    assert!(s.feed_column(2, &decoded[..128], 0).is_err());
    s.feed_column(0, &decoded[..128], 0).unwrap();
    assert!(s.feed_column(0, &decoded[..1], 0).is_err());
    s.feed_column(1, &decoded[..100], 0).unwrap();
    assert!(s.finish().is_err(), "column 1 saw 100 of 128 values");
}

/// The scalar twins of the SIMD decoders (the reference the wasm tests hold the SIMD code to) widen
/// every f16 and bf16 bit pattern exactly as the half crate does, NaN payloads and all, and count
/// the NaN and ±Inf among them.
#[test]
fn the_decoders_widen_as_the_half_crate_does() {
    use quant_playground::kernels::scalar;
    let bytes: Vec<u8> = (0..=u16::MAX).flat_map(|h| h.to_le_bytes()).collect();
    let mut out = vec![0f32; 65536];
    let n = scalar::decode_f16_le(&bytes, &mut out);
    for (h, v) in (0..=u16::MAX).zip(&out) {
        assert_eq!(v.to_bits(), half::f16::from_bits(h).to_f32().to_bits(), "f16 {h:#06x}");
    }
    assert_eq!(n, 2 * 1024, "f16: ±Inf and 2 × 1023 NaNs");
    let n = scalar::decode_bf16_le(&bytes, &mut out);
    for (h, v) in (0..=u16::MAX).zip(&out) {
        assert_eq!(v.to_bits(), half::bf16::from_bits(h).to_f32().to_bits(), "bf16 {h:#06x}");
    }
    assert_eq!(n, 2 * 128, "bf16: ±Inf and 2 × 127 NaNs");
    // The dispatching decoders (the scalar twins natively) and the whole-tensor path agree.
    let x = tensor(1301);
    let le: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    let mut got = vec![0f32; x.len()];
    assert_eq!(quant_playground::kernels::decode_f32_le(&le, &mut got), 2);
    assert_eq!(got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), x.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
}

#[test]
fn chunks_past_the_end_or_short_are_errors() {
    let x = tensor(100);
    let f = [NumberFormat::parse("int8 sym tensor").unwrap()];
    let mut s = report::ComparisonStream::new("w", DType::F32, &[10, 10], &f).unwrap();
    assert!(s.feed(&x).is_err(), "measuring before the range pass ended");
    s.feed_range(&x[..60]).unwrap();
    assert!(s.feed_range(&x).is_err());
    assert!(s.end_range_pass().is_err(), "a range pass that saw 60 of 100 values");
    let s = report::ComparisonStream::new("w", DType::F32, &[10, 10], &[NumberFormat::parse("fp16").unwrap()]).unwrap();
    assert!(s.finish().is_err());
}

#[test]
fn value_and_error_histograms_do_not_depend_on_the_chunking() {
    let shape = [40, 96];
    let x = tensor(40 * 96);
    let mut h = explore::HistogramStream::new(50);
    for c in x.chunks(77) {
        h.feed_range(c);
    }
    h.end_range_pass();
    for c in x.chunks(77) {
        h.feed(c);
    }
    assert_eq!(h.finish(), explore::histogram(&x, 50));
    for label in ["int8 sym tensor", "int4 asym channel:0", "int3 sym group:32", "int8 asym channel:1"] {
        let NumberFormat::Scaled(spec) = NumberFormat::parse(label).unwrap() else { unreachable!() };
        for method in [Method::MinMax, Method::Mse, Method::Percentile(99.9)] {
            let whole = explore::error_histogram(&x, &shape, &spec, &method, 64).unwrap();
            // The same bins as the histogram of the materialised errors.
            assert_eq!(whole, explore::histogram(&explore::errors(&x, &shape, &spec, &method).unwrap(), 64));
            for chunk in [1000, 97, 5] {
                let got = explore::error_histogram_chunked(&x, &shape, &spec, &method, 64, chunk).unwrap();
                assert_eq!(whole, got, "{label} {method:?} in chunks of {chunk}");
            }
        }
    }
}

#[test]
fn the_fused_casts_round_as_the_half_crate_does() {
    use quant_playground::kernels::scalar::{bf16_round_trip, f16_round_trip};
    // Every exponent, with mantissas that hit ties, near-ties and the ends; both signs.
    let mantissas = [0u32, 1, 0x0fff, 0x1000, 0x1001, 0x1fff, 0x2000, 0x7fff, 0x8000, 0x8001, 0xffff, 0x1_0000, 0x40_0000, 0x7f_e000, 0x7f_efff, 0x7f_f000, 0x7f_ffff];
    let mut checked = 0;
    for sign in [0u32, 0x8000_0000] {
        for e in 0..255u32 {
            for (k, &m) in mantissas.iter().enumerate() {
                for step in 0..64u32 {
                    let m = (m.wrapping_add(step.wrapping_mul(0x1_1111 * (k as u32 + 1)))) & 0x7f_ffff;
                    let v = f32::from_bits(sign | (e << 23) | m);
                    let want16 = half::f16::from_f32(v).to_f32();
                    let want_b = half::bf16::from_f32(v).to_f32();
                    assert_eq!(f16_round_trip(v).to_bits(), want16.to_bits(), "f16 of {v:e} ({:#x})", v.to_bits());
                    assert_eq!(bf16_round_trip(v).to_bits(), want_b.to_bits(), "bf16 of {v:e}");
                    checked += 1;
                }
            }
        }
    }
    for v in [65504.0f32, 65519.0, 65520.0, 65536.0, 1e9, f32::MAX, f32::INFINITY, 5.96e-8, 2.98e-8, 2.99e-8, 6.1e-5] {
        for v in [v, -v] {
            assert_eq!(f16_round_trip(v).to_bits(), half::f16::from_f32(v).to_f32().to_bits(), "f16 of {v:e}");
        }
    }
    assert!(checked > 500_000);
}

#[test]
fn the_fused_blocks_equal_the_materialised_round_trip() {
    use quant_playground::kernels::{self, ErrorSums};
    let x = tensor(64 * 50);
    for (scale, zp, qmin, qmax) in [(0.01f32, 0i32, -127i32, 127i32), (0.003, 7, -8, 7), (0.02, 130, 0, 255)] {
        let mut run = ErrorSums::default();
        let (lo, hi) = ((qmin - zp) as f32, (qmax - zp) as f32);
        let clipped = kernels::quantize_error_blocks(&mut run, &x, scale, lo, hi, kernels::count_nonfinite(&x) == 0);
        let mut q = vec![0i8; x.len()];
        let mut q8 = vec![0u8; x.len()];
        let (want_clipped, back) = if qmin < 0 {
            let c = kernels::quantize(&x, scale, zp, qmin, qmax, &mut q);
            let mut back = vec![0.0; x.len()];
            kernels::dequantize(&q, scale, zp, &mut back);
            (c, back)
        } else {
            let c = kernels::quantize(&x, scale, zp, qmin, qmax, &mut q8);
            let mut back = vec![0.0; x.len()];
            kernels::dequantize(&q8, scale, zp, &mut back);
            (c, back)
        };
        assert_eq!(clipped, want_clipped);
        assert!(clipped > 0);
        assert_eq!(run, kernels::error_sums_f32(&x, &back));
    }
}

#[test]
fn a_file_read_in_chunks_of_rows_decodes_as_the_whole_tensor() {
    use quant_playground::formats;
    // A safetensors file in memory: F16 [7, 5] and BF16 [3, 4].
    let f16: Vec<u8> = (0..35).flat_map(|i| half::f16::from_f32(i as f32 * 0.37 - 6.0).to_bits().to_le_bytes()).collect();
    let bf16: Vec<u8> = (0..12).flat_map(|i| half::bf16::from_f32(i as f32 * -1.5).to_bits().to_le_bytes()).collect();
    let header = r#"{"a":{"dtype":"F16","shape":[7,5],"data_offsets":[0,70]},"b":{"dtype":"BF16","shape":[3,4],"data_offsets":[70,94]}}"#;
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header.as_bytes());
    file.extend_from_slice(&f16);
    file.extend_from_slice(&bf16);
    let mut source: &[u8] = &file;
    let index = formats::read_index("mem.safetensors", &mut source).unwrap();
    for name in ["a", "b"] {
        let info = index.tensor(name).unwrap().clone();
        let whole = formats::decode_tensor(&info, formats::read_stored(&mut source, &info).unwrap()).unwrap();
        for chunk in [1, 5, 11, 1000] {
            let mut got = Vec::new();
            let mut sizes = Vec::new();
            formats::for_each_chunk(&mut source, &info, chunk, |c| {
                sizes.push(c.len());
                got.extend_from_slice(c);
                Ok(())
            })
            .unwrap();
            assert_eq!(got, whole, "{name} in chunks of {chunk}");
            let row = info.shape[1];
            assert!(sizes.iter().all(|s| s % row == 0), "whole rows only: {sizes:?}");
        }
    }
}

/// FP8 / MX / NVFP4 / NF4 streamed a piece of whole blocks at a time equal the whole tensor quantized
/// at once by block::quantize (rows of 70: MX and NVFP4 rows end in a short block, NF4's blocks of 64
/// of the flattened tensor cross rows), for chunks that cut rows, blocks and NF4 blocks anywhere.
#[test]
fn block_formats_stream_as_the_whole_tensor_quantized_at_once() {
    use quant_playground::quant::{block, BlockFormat};
    let shape = [37, 70];
    let x = tensor(37 * 70);
    let formats: Vec<NumberFormat> = BlockFormat::ALL.iter().map(|&f| NumberFormat::Block(f)).collect();
    let want: Vec<_> = BlockFormat::ALL
        .iter()
        .map(|&f| format!("{:?}", report::block_report("w", DType::F32, &x, &block::quantize(f, &x, &shape))))
        .collect();
    for chunk in [x.len(), 1, 7, 63, 64, 69, 70, 71, 140, 1000] {
        let rows = report::comparison("w", DType::F32, &shape, &x, &formats, chunk).unwrap();
        for (w, r) in want.iter().zip(&rows) {
            assert_eq!(w, &format!("{r:?}"), "{} in chunks of {chunk}", r.config);
        }
    }
    // A 1-D tensor (one row) and an empty one.
    let one = tensor(100);
    for &f in &BlockFormat::ALL {
        let whole = format!("{:?}", report::block_report("v", DType::F32, &one, &block::quantize(f, &one, &[100])));
        let got = report::comparison("v", DType::F32, &[100], &one, &[NumberFormat::Block(f)], 33).unwrap();
        assert_eq!(whole, format!("{:?}", got[0]), "{f:?} of a 1-D tensor");
        let empty = report::comparison("e", DType::F32, &[0, 8], &[], &[NumberFormat::Block(f)], 8).unwrap();
        let want = report::block_report("e", DType::F32, &[], &block::quantize(f, &[], &[0, 8]));
        assert_eq!(format!("{want:?}"), format!("{:?}", empty[0]), "{f:?} of an empty tensor");
    }
}
