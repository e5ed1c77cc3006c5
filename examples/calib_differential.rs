//! The core's side of scripts/calib_differential.py: reads activation sets (raw little-endian f32)
//! and how each is batched, streams every batch through one `calib::Calibrator` per scheme (one
//! pass, histograms growing as ORT's do) and prints every method's range as JSON.
//!
//!     cargo run --release --example calib_differential -- MANIFEST.json VALUES.f32 > OURS.json
//!
//! The manifest: {"jobs": [{"offset": i, "len": n, "batches": [n1, n2, ...], "bins": 2048,
//! "methods": "minmax,entropy,...", "abs_histogram": true}]}.

use quant_playground::calib::{self, histogram::HistKind, CalibConfig, Method};
use quant_playground::quant::{Granularity, QuantSpec, Scheme};
use serde_json::{json, Value};

fn fail(msg: String) -> ! {
    eprintln!("calib_differential: {msg}");
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        fail("usage: calib_differential MANIFEST.json VALUES.f32".into());
    }
    let manifest: Value = std::fs::read(&args[1])
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        .unwrap_or_else(|e| fail(format!("{}: {e}", args[1])));
    let bytes = std::fs::read(&args[2]).unwrap_or_else(|e| fail(format!("{}: {e}", args[2])));
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let jobs = manifest["jobs"]
        .as_array()
        .unwrap_or_else(|| fail("manifest has no jobs".into()));
    let mut out = Vec::with_capacity(jobs.len());
    for (j, job) in jobs.iter().enumerate() {
        let field = |k: &str| {
            job[k]
                .as_u64()
                .unwrap_or_else(|| fail(format!("job {j}: no {k}"))) as usize
        };
        let (offset, len, bins) = (field("offset"), field("len"), field("bins"));
        let x = values
            .get(offset..offset + len)
            .unwrap_or_else(|| fail(format!("job {j}: values out of range")));
        let sizes: Vec<usize> = job["batches"]
            .as_array()
            .unwrap_or_else(|| fail(format!("job {j}: no batches")))
            .iter()
            .map(|v| v.as_u64().unwrap_or(0) as usize)
            .collect();
        if sizes.iter().sum::<usize>() != len {
            fail(format!("job {j}: batch sizes do not add up to {len}"));
        }
        let methods = Method::parse_list(job["methods"].as_str().unwrap_or("minmax"))
            .unwrap_or_else(|e| fail(e.to_string()));
        let cfg = CalibConfig {
            bins,
            ..CalibConfig::default()
        };
        let mut schemes = serde_json::Map::new();
        for scheme in [Scheme::Symmetric, Scheme::Asymmetric] {
            let spec = QuantSpec::new(8, scheme, Granularity::PerTensor);
            let mut c = calib::Calibrator::new(&spec, &methods, cfg)
                .unwrap_or_else(|e| fail(e.to_string()));
            let mut start = 0;
            for &n in &sizes {
                c.add_batch(&x[start..start + n]);
                start += n;
            }
            let run = c.run();
            let mut rows = serde_json::Map::new();
            for r in &run.results {
                let mut row = json!({ "range": r.range });
                if let Some(d) = &r.distribution {
                    row["avg"] = json!(d.avg);
                    row["std"] = json!(d.std);
                }
                if let Some(curve) = &r.curve {
                    row["best"] = json!(curve.best);
                }
                rows.insert(r.method.clone(), row);
            }
            if let Some(h) = run.histograms.iter().find(|h| h.kind == HistKind::Signed) {
                rows.insert("signed_bins".into(), json!(h.counts.len()));
            }
            if job["abs_histogram"].as_bool() == Some(true) {
                if let Some(h) = run.histograms.iter().find(|h| h.kind == HistKind::Abs) {
                    rows.insert("abs_histogram".into(), json!({ "counts": h.counts, "top": h.lo + h.width * h.counts.len() as f64 }));
                }
            }
            schemes.insert(scheme.short_name().into(), Value::Object(rows));
        }
        out.push(Value::Object(schemes));
    }
    println!("{}", json!({ "jobs": out }));
}
