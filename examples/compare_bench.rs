//! Throughput of the five-format comparison (fp32, fp16, bf16, int8 sym channel:0, int4 asym
//! group:32), natively, on an [rows, cols] tensor streamed in chunks of rows:
//!     cargo run --release --example compare_bench [ROWS] [COLS] [CHUNK_ROWS] [FORMATS]
//! The chunks are generated again for each read (the tensor is never whole in memory); generation is
//! timed apart and left out. The numpy peer is scripts/bench_compare_numpy.py; the browser figure
//! comes from `npm run bench`.

use quant_playground::app::report::{compare_formats, ComparisonStream};
use quant_playground::app::synthetic::{generate, Dist};
use quant_playground::quant::NumberFormat;
use quant_playground::tensor::DType;
use std::time::Instant;

/// CPU time of this thread in seconds (Linux: /proc/thread-self/schedstat); on a shared machine wall
/// time counts other processes' turns too. Falls back to wall time elsewhere.
fn cpu_now() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse::<f64>().ok())
        .map(|ns| ns * 1e-9)
        .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, d: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let (rows, cols) = (arg(1, 2500), arg(2, 4000));
    let chunk_rows = arg(3, (1 << 22) / cols.max(1)).max(1);
    let specs: Vec<_> = ["int8 sym channel:0", "int4 asym group:32"]
        .iter()
        .map(|l| match NumberFormat::parse(l) {
            Ok(NumberFormat::Scaled(s)) => s,
            _ => unreachable!("fixed labels"),
        })
        .collect();
    // A fourth argument, labels separated by commas, times those formats alone. Times are CPU seconds of this thread.
    let formats = match args.get(4) {
        Some(list) => list.split(',').map(|l| NumberFormat::parse(l).unwrap()).collect(),
        None => compare_formats(&specs),
    };
    let n = rows * cols;
    let chunks: Vec<(usize, usize)> = (0..rows).step_by(chunk_rows).map(|r| (r, chunk_rows.min(rows - r))).collect();
    let make = |(r, k): (usize, usize)| generate(Dist::GaussianOutliers, k * cols, 0.02, r as u64);
    let mut best = f64::INFINITY;
    let mut best_wall = f64::INFINITY;
    let mut gen_s = 0.0;
    for _ in 0..3 {
        let mut stream = ComparisonStream::new("w", DType::F32, &[rows, cols], &formats).unwrap();
        let mut compute = 0.0;
        let mut wall = 0.0;
        let mut gen = 0.0;
        for read in 0..2 {
            for &c in &chunks {
                let t = Instant::now();
                let x = make(c);
                gen += t.elapsed().as_secs_f64();
                let (t, w) = (cpu_now(), Instant::now());
                if read == 0 { stream.feed_range(&x).unwrap() } else { stream.feed(&x).unwrap() }
                compute += cpu_now() - t;
                wall += w.elapsed().as_secs_f64();
            }
            if read == 0 {
                stream.end_range_pass().unwrap();
            }
        }
        let t = cpu_now();
        let report = stream.finish().unwrap();
        compute += cpu_now() - t;
        std::hint::black_box(report);
        best = best.min(compute);
        best_wall = best_wall.min(wall);
        gen_s = gen;
    }
    println!(
        "{{\"env\":\"native\",\"kernels\":\"{}\",\"elements\":{n},\"rows\":{rows},\"cols\":{cols},\"chunk_rows\":{chunk_rows},\"seconds\":{best:.4},\"melem_per_s\":{:.1},\"wall_seconds\":{best_wall:.4},\"wall_melem_per_s\":{:.1},\"generate_seconds\":{gen_s:.3}}}",
        quant_playground::kernels::build_name(),
        n as f64 / best / 1e6,
        n as f64 / best_wall / 1e6
    );
}
