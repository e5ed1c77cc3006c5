//! `lesson`: the numbers of each section of the page's walk-through (`?view=lesson`), the same schema
//! as the page's, text or --json.

use crate::common::print_json;
use quant_playground::app::lesson;
use quant_playground::quant::Scheme;
use quant_playground::{Error, Result};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    section: Section,
    #[arg(long, global = true)]
    json: bool,
}

#[derive(clap::Subcommand)]
enum Section {
    /// One value's bits in FP32, FP16, BF16, FP8 E4M3 / E5M2, INT8 and INT4 (the integers with the scale of ±RANGE).
    Types {
        #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
        value: f32,
        #[arg(long, default_value_t = 1.0)]
        range: f32,
    },
    /// q = round(x / scale) + zero_point and back, every intermediate (default: the lecture's example).
    Formula {
        /// Comma-separated values.
        #[arg(long, default_value = "0.1,0.5,0.9,1.2", allow_hyphen_values = true)]
        values: String,
        #[arg(long, default_value_t = 8)]
        bits: u8,
        #[arg(long, default_value = "sym", value_parser = ["sym", "asym"])]
        scheme: String,
        /// The scale (default: from the values' min and max).
        #[arg(long)]
        scale: Option<f32>,
        #[arg(long, allow_negative_numbers = true)]
        zero_point: Option<i32>,
    },
    /// Symmetric against asymmetric min-max grids on a seeded ReLU-like set.
    Schemes {
        #[arg(long, default_value_t = 8)]
        bits: u8,
        #[arg(long, default_value_t = lesson::RELU_ELEMENTS)]
        elements: usize,
        #[arg(long, default_value_t = lesson::SEED)]
        seed: u64,
    },
    /// Per-tensor, per-channel and per-group scales of one layer of the digits model.
    Granularity {
        #[arg(long, default_value = "www/examples/digits-mlp.safetensors")]
        model: String,
        #[arg(long, default_value = "fc1")]
        layer: String,
        #[arg(long, default_value_t = 4)]
        bits: u8,
        #[arg(long, default_value_t = 16)]
        group: usize,
    },
    /// Calibration methods on a seeded outlier-heavy set, and the clipping trade-off (or one --threshold).
    Calibration {
        #[arg(long, default_value_t = 8)]
        bits: u8,
        #[arg(long, default_value_t = lesson::OUTLIER_ELEMENTS)]
        elements: usize,
        #[arg(long, default_value_t = lesson::SEED)]
        seed: u64,
        #[arg(long, allow_negative_numbers = true)]
        threshold: Option<f32>,
    },
    /// Section 7: every speed-panel kernel's y = W·x on a layer of the digits model with x ~ N(0, 1) from
    /// --seed (what the page times), each y's FNV-1a-64 checksum: the page's kernels must give the same.
    Hardware {
        #[arg(long, default_value = "www/examples/digits-mlp.safetensors")]
        model: String,
        #[arg(long, default_value = "fc2.weight")]
        tensor: String,
        #[arg(long, default_value_t = 8)]
        m: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

fn scheme(text: &str) -> Scheme {
    if text == "asym" { Scheme::Asymmetric } else { Scheme::Symmetric }
}

fn parse_values(text: &str) -> Result<Vec<f32>> {
    text.split(',')
        .map(|v| v.trim().parse::<f32>().map_err(|e| Error::InvalidSpec(format!("--values: '{v}' is not a number ({e})"))))
        .collect()
}

pub fn run(args: Args) -> Result<()> {
    let json = args.json;
    match args.section {
        Section::Types { value, range } => {
            let d = lesson::data_types(value, range)?;
            if json {
                print_json(&d);
                return Ok(());
            }
            for t in &d.types {
                let bits: Vec<String> = t.fields.iter().map(|f| format!("{}={}", f.name, f.bits)).collect();
                outln!("{:<8} {:<48} stores {:<14} error {:.3e}  {}", t.label, bits.join(" "), t.stored, t.abs_error, t.class);
            }
        }
        Section::Formula { values, bits, scheme: s, scale, zero_point } => {
            let f = lesson::formula(&parse_values(&values)?, bits, scheme(&s), scale, zero_point)?;
            if json {
                print_json(&f);
                return Ok(());
            }
            outln!("scale {} zero point {} codes {}..{}", f.scale, f.zero_point, f.qmin, f.qmax);
            for st in &f.steps {
                outln!("{} / {} = {} → {} + {} → {} → {}", st.x, f.scale, st.divided, st.rounded, f.zero_point, st.code, st.dequantized);
            }
            outln!("codes {:?}", f.codes);
        }
        Section::Schemes { bits, elements, seed } => {
            let s = lesson::schemes(&lesson::relu_set(elements, seed), bits)?;
            if json {
                print_json(&s);
                return Ok(());
            }
            for g in &s.grids {
                outln!("{:?}: scale {} zp {} wasted {} of {} codes, sqnr {:.2} dB", g.scheme, g.scale, g.zero_point, g.wasted_codes, g.codes_total, g.metrics.sqnr_db);
            }
        }
        Section::Hardware { model, tensor, m, seed } => {
            let bytes = std::fs::read(&model).map_err(|e| Error::Io { path: model.clone(), detail: e.to_string() })?;
            let h = quant_playground::app::speed::speed_outputs_of_model(&model, &bytes, &tensor, m, seed)?;
            if json {
                print_json(&h);
                return Ok(());
            }
            outln!("{} [{}, {}] × x [{}, {}] ~ N(0, 1) seed {}, {} kernels", h.tensor, h.n, h.k, h.m, h.k, h.seed, h.build);
            for r in &h.kernels {
                outln!("{:<6} checksum {}  y[0, ..4] {:?}", r.kernel, r.checksum, r.head);
            }
        }
        Section::Granularity { model, layer, bits, group } => {
            let bytes = std::fs::read(&model).map_err(|e| Error::Io { path: model.clone(), detail: e.to_string() })?;
            let g = lesson::granularity_of_model(&model, &bytes, &layer, bits, group)?;
            if json {
                print_json(&g);
                return Ok(());
            }
            for m in &g.maps {
                outln!("{:<10} {:>5} scales  mse {:.4e}  sqnr {:.2} dB", m.granularity, m.scales.len(), m.metrics.mse, m.metrics.sqnr_db);
            }
        }
        Section::Calibration { bits, elements, seed, threshold } => {
            let x = lesson::outlier_set(elements, seed);
            if let Some(t) = threshold {
                let p = lesson::clip_point(&x, bits, t)?;
                if json {
                    print_json(&p);
                return Ok(());
                }
                outln!("±{t}: rounding {:.4e} + clipping {:.4e} = {:.4e} ({} clipped)", p.rounding_mse, p.clipping_mse, p.mse, p.clipped);
                return Ok(());
            }
            let c = lesson::calibration(&x, bits, lesson::HISTOGRAM_BINS, lesson::CURVE_POINTS)?;
            if json {
                print_json(&c);
                return Ok(());
            }
            for m in &c.methods {
                outln!("{:<18} [{}, {}]  mse {:.4e}  sqnr {:.2} dB", m.method, m.range[0], m.range[1], m.mse, m.sqnr_db);
            }
        }
    }
    Ok(())
}
