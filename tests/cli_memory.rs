//! The CLI reads a tensor in chunks: on a 1 GiB BF16 tensor (a sparse safetensors file made here,
//! 2^29 values; as f32 it would be 2 GiB) the peak resident memory of `compare` and of `calibrate`
//! (per tensor, every method) stays under 1 GiB. Each child is measured alone: its own rusage from
//! wait4(pid) — not RUSAGE_CHILDREN, which would mix in the children of the tests running beside it.
#![cfg(target_os = "linux")]

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

extern "C" {
    // struct rusage on Linux x86-64 / aarch64: two timevals, then 14 longs; ru_maxrss (KiB) is the first.
    fn wait4(pid: i32, status: *mut i32, options: i32, usage: *mut [i64; 18]) -> i32;
}

/// A sparse safetensors file of one BF16 tensor `w` [131072, 4096] (1 GiB): real values in the first
/// and last 64 rows, the rest a hole (zeros) the file system keeps sparse.
fn bf16_file(name: &str) -> (PathBuf, usize, usize) {
    let (rows, cols) = (131_072usize, 4096usize);
    let data_len = (rows * cols * 2) as u64;
    let header = format!(r#"{{"w":{{"dtype":"BF16","shape":[{rows},{cols}],"data_offsets":[0,{data_len}]}}}}"#);
    let mut header = header.into_bytes();
    while header.len() % 8 != 0 {
        header.push(b' ');
    }
    let dir = std::env::temp_dir().join(format!("qp-cli-memory-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("embedding.safetensors");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(&(header.len() as u64).to_le_bytes()).unwrap();
    f.write_all(&header).unwrap();
    let start = 8 + header.len() as u64;
    let row: Vec<u8> = (0..cols).flat_map(|i| half::bf16::from_f32(((i % 251) as f32 - 125.0) * 0.01).to_bits().to_le_bytes()).collect();
    for r in (0..64).chain(rows - 64..rows) {
        f.seek(SeekFrom::Start(start + (r * cols * 2) as u64)).unwrap();
        f.write_all(&row).unwrap();
    }
    f.set_len(start + data_len).unwrap();
    (path, rows, cols)
}

/// Runs the CLI with `args`; its exit status, stdout, stderr and peak RSS in KiB (its own rusage).
fn run_measured(args: &[&str]) -> (bool, Vec<u8>, String, i64) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_quant-playground"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the CLI runs");
    let mut stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).ok();
        s
    });
    let mut stdout = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut stdout).unwrap();
    let (mut status, mut usage) = (0i32, [0i64; 18]);
    // Reaped here with its rusage; std's Child is not waited for again (dropping it does not wait).
    let pid = unsafe { wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32, "wait4 failed");
    // WIFEXITED && WEXITSTATUS == 0
    let ok = status & 0x7f == 0 && (status >> 8) & 0xff == 0;
    (ok, stdout, errors.join().unwrap(), usage[4])
}

fn cleanup(path: &Path) {
    std::fs::remove_dir_all(path.parent().unwrap()).ok();
}

#[test]
fn compare_of_a_1_gib_bf16_tensor_stays_under_1_gib() {
    let (path, rows, cols) = bf16_file("compare");
    let (ok, stdout, stderr, peak_kib) = run_measured(&["compare", path.to_str().unwrap(), "--tensor", "w", "--granularity", "channel", "--json"]);
    cleanup(&path);
    assert!(ok, "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
    let rows_out = report["tensors"].as_array().unwrap();
    assert_eq!(rows_out.len(), 5);
    assert_eq!(rows_out[0]["elements"], (rows * cols) as u64);
    // BF16 values are exact in BF16; the INT8 per-channel row has a finite SQNR from the real rows.
    assert_eq!(rows_out[2]["config"], "bf16");
    assert_eq!(rows_out[2]["mse"], 0.0);
    assert!(rows_out[3]["sqnr_db"].as_f64().unwrap() > 30.0, "{}", rows_out[3]);
    eprintln!("peak RSS of `compare` on a 1 GiB BF16 tensor: {} MiB", peak_kib / 1024);
    assert!(peak_kib < 1024 * 1024, "peak RSS {} MiB", peak_kib / 1024);
}

#[test]
fn calibrate_of_a_1_gib_bf16_tensor_stays_under_1_gib() {
    let (path, rows, cols) = bf16_file("calibrate");
    let (ok, stdout, stderr, peak_kib) = run_measured(&["calibrate", path.to_str().unwrap(), "--method", "all", "--json"]);
    cleanup(&path);
    assert!(ok, "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
    assert_eq!(report["elements"], (rows * cols) as u64);
    let methods = report["methods"].as_array().unwrap();
    assert_eq!(methods.len(), 5);
    // The real rows' values are k·0.01 for k in −125..=125 (BF16-rounded): min-max is their extremes.
    let lo = half::bf16::from_f32(-1.25).to_f32() as f64;
    let hi = half::bf16::from_f32(1.25).to_f32() as f64;
    assert_eq!(methods[0]["method"], "minmax");
    assert_eq!((methods[0]["range"][0].as_f64().unwrap(), methods[0]["range"][1].as_f64().unwrap()), (lo, hi));
    eprintln!("peak RSS of `calibrate` on a 1 GiB BF16 tensor: {} MiB", peak_kib / 1024);
    assert!(peak_kib < 1024 * 1024, "peak RSS {} MiB", peak_kib / 1024);
}
