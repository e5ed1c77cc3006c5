//! Time to calibrate 10 million values with every method, natively:
//!     cargo run --release --example calib_bench [N] [BATCHES]
//! (The browser figure comes from `npm run bench`; this is the native reference.)

use quant_playground::app::synthetic::{generate, Dist};
use quant_playground::calib::{self, CalibConfig, Method};
use quant_playground::quant::{Granularity, QuantSpec, Scheme};
use std::time::Instant;

/// CPU time of this thread in seconds (Linux: /proc/thread-self/schedstat, ns on CPU); the machine
/// may be shared, and wall time then counts other processes' turns too.
fn cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(text.split_whitespace().next()?.parse::<f64>().ok()? * 1e-9)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000_000);
    let batches: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1);
    let x = generate(Dist::GaussianOutliers, n, 1.0, 42);
    let chunks: Vec<&[f32]> = x.chunks(n.div_ceil(batches)).collect();
    println!("{n} values in {} batch(es), {} kernels", chunks.len(), quant_playground::kernels::build_name());
    for scheme in [Scheme::Symmetric, Scheme::Asymmetric] {
        let spec = QuantSpec::new(8, scheme, Granularity::PerTensor);
        let mut rows = vec![];
        let mut sets: Vec<(String, Vec<Method>)> = Method::all().iter().map(|m| (m.label(), vec![*m])).collect();
        sets.push(("all (minmax, percentile, mse, entropy, entropy:trt)".into(), Method::all().to_vec()));
        for (label, methods) in sets {
            let (wall, cpu): (Vec<f64>, Vec<f64>) = (0..5)
                .map(|_| {
                    let (t, c) = (Instant::now(), cpu_seconds());
                    let run = calib::calibrate_batches(&chunks, &spec, &methods, CalibConfig::default()).unwrap();
                    std::hint::black_box(run);
                    (t.elapsed().as_secs_f64(), cpu_seconds().zip(c).map(|(b, a)| b - a).unwrap_or(f64::NAN))
                })
                .unzip();
            rows.push((label, median(wall), median(cpu)));
        }
        let t = Instant::now();
        let rep = calib::calibration_report(&x, &spec, &Method::all(), CalibConfig::default(), false).unwrap();
        let report_s = t.elapsed().as_secs_f64();
        println!("int8 {}:", scheme.short_name());
        for (label, wall, cpu) in rows {
            println!("  {label:<56} {:>8.1} ms wall {:>8.1} ms cpu (medians of 5)", wall * 1e3, cpu * 1e3);
        }
        println!("  {:<56} {:>8.1} ms (once; + fake-quantizing 5 times)", "calibration_report(all)", report_s * 1e3);
        print!("{}", rep.table());
    }
}
