//! `diff FLOAT QUANTIZED`: a quantized copy of a model against our quantization of its float
//! tensors, tensor by tensor, worst first (app::theirs).

use crate::common::{fmt_db, load, open, print_json};
use quant_playground::app::theirs::{self, DiffReport, MatchedBy, Side};
use quant_playground::Result;

#[derive(clap::Args)]
pub struct Args {
    /// The float model (any format the playground reads).
    float: String,
    /// Its quantized copy (ONNX QDQ / QOperator / MatMulNBits, GGUF, TFLite, F16/BF16 safetensors, …).
    quantized: String,
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let Args { float, quantized, json } = args;
    let (f_index, mut f_source) = open(&float)?;
    let (q_index, mut q_source) = open(&quantized)?;
    let report = theirs::diff(&f_index, &q_index, |side, info| match side {
        Side::Float => load(&mut f_source, info),
        Side::Quantized => load(&mut q_source, info),
    })?;
    if json {
        print_json(&report);
    } else {
        print_report(&report);
    }
    Ok(())
}

fn cos(c: Option<f64>) -> String {
    c.map(|c| format!("{c:.6}")).unwrap_or_else(|| "-".into())
}

fn print_report(r: &DiffReport) {
    outln!("{} against {}: {} tensors matched, worst first", r.quantized_file, r.float_file, r.summary.matched);
    let width = r.tensors.iter().map(|t| t.name.len() + 2).max().unwrap_or(6).max(8);
    outln!(
        "{:width$}  {:>9}  {:>9}  {:>6}  {:>9}  {:>9}  {:>6}  their format / our format",
        "tensor", "their dB", "cosine", "bits/w", "our dB", "cosine", "bits/w"
    );
    for t in &r.tensors {
        // A mark after the name: * matched by fingerprint, ~ by a renamed name, ! the values disagree.
        let mark = match (t.values_disagree, t.matched_by) {
            (true, _) => " !",
            (_, MatchedBy::Fingerprint) => " *",
            (_, MatchedBy::RenamedName) => " ~",
            _ => "",
        };
        let name = format!("{}{mark}", t.name);
        let (our_db, our_cos, our_bpw, our_format) = match &t.ours {
            Some(o) => (fmt_db(o.measured.sqnr_db), cos(o.measured.cosine), format!("{:.3}", o.measured.bits_per_weight), o.format.clone()),
            None => ("-".into(), "-".into(), "-".into(), t.ours_note.clone()),
        };
        outln!(
            "{name:width$}  {:>9}  {:>9}  {:>6.3}  {:>9}  {:>9}  {:>6}  {} / {}",
            fmt_db(t.theirs.measured.sqnr_db),
            cos(t.theirs.measured.cosine),
            t.theirs.measured.bits_per_weight,
            our_db,
            our_cos,
            our_bpw,
            if t.transposed { format!("{} (stored transposed)", t.theirs.format) } else { t.theirs.format.clone() },
            our_format
        );
    }
    let s = &r.summary;
    match (&s.theirs, &s.ours) {
        (Some(theirs), Some(ours)) => outln!(
            "summary over {} tensors with both ({} elements): theirs {} dB at {:.3} bits/w, ours {} dB at {:.3} bits/w",
            theirs.tensors,
            theirs.elements,
            fmt_db(theirs.measured.sqnr_db),
            theirs.measured.bits_per_weight,
            fmt_db(ours.measured.sqnr_db),
            ours.measured.bits_per_weight
        ),
        _ => outln!("no matched tensor has a quantization of ours beside theirs (the copy keeps them as they are, or in formats we lack)"),
    }
    outln!(
        "all {} matched: theirs {} dB at {:.3} bits/w",
        s.theirs_all.tensors,
        fmt_db(s.theirs_all.measured.sqnr_db),
        s.theirs_all.measured.bits_per_weight
    );
    outln!("matched by name {}, by renamed name {} (~), by fingerprint {} (*): {}", s.by_name, s.by_renamed_name, s.by_fingerprint, s.fingerprint_rule);
    if s.values_disagree > 0 {
        outln!("{} name matches (!) hold values that do not follow each other (rank correlation below 0.5)", s.values_disagree);
    }
    for u in &r.unmatched {
        outln!("unmatched in the {} file: {} {} {:?}: {}", u.file, u.name, u.dtype, u.shape, u.reason);
    }
}
