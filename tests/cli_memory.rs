//! The CLI's `compare` reads a tensor in chunks: on a 1 GiB BF16 tensor (a sparse safetensors file
//! made here, 2^29 values; as f32 it would be 2 GiB) the child process's peak resident memory, from
//! getrusage(RUSAGE_CHILDREN) after it has been waited for, stays under 1 GiB. One test in its own
//! binary, so no other child of this process can be the one measured.
#![cfg(target_os = "linux")]

use std::io::{Seek, SeekFrom, Write};
use std::process::Command;

extern "C" {
    // struct rusage on Linux x86-64 / aarch64: two timevals, then 14 longs; ru_maxrss (KiB) is the first.
    fn getrusage(who: i32, usage: *mut [i64; 18]) -> i32;
}
const RUSAGE_CHILDREN: i32 = -1;

#[test]
fn compare_of_a_1_gib_bf16_tensor_stays_under_1_gib() {
    let (rows, cols) = (131_072usize, 4096usize);
    let data_len = (rows * cols * 2) as u64;
    let header = format!(r#"{{"w":{{"dtype":"BF16","shape":[{rows},{cols}],"data_offsets":[0,{data_len}]}}}}"#);
    let mut header = header.into_bytes();
    while header.len() % 8 != 0 {
        header.push(b' ');
    }
    let dir = std::env::temp_dir().join(format!("qp-cli-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("embedding.safetensors");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(&(header.len() as u64).to_le_bytes()).unwrap();
    f.write_all(&header).unwrap();
    let start = 8 + header.len() as u64;
    // Real values in the first and last 64 rows; the rest is a hole (zeros) the file system keeps sparse.
    let row: Vec<u8> = (0..cols).flat_map(|i| half::bf16::from_f32(((i % 251) as f32 - 125.0) * 0.01).to_bits().to_le_bytes()).collect();
    for r in (0..64).chain(rows - 64..rows) {
        f.seek(SeekFrom::Start(start + (r * cols * 2) as u64)).unwrap();
        f.write_all(&row).unwrap();
    }
    f.set_len(start + data_len).unwrap();
    drop(f);

    let out = Command::new(env!("CARGO_BIN_EXE_quant-playground"))
        .args(["compare", path.to_str().unwrap(), "--tensor", "w", "--granularity", "channel", "--json"])
        .output()
        .expect("the CLI runs");
    let mut usage = [0i64; 18];
    let peak_kib = if unsafe { getrusage(RUSAGE_CHILDREN, &mut usage) } == 0 { usage[4] } else { i64::MAX };
    std::fs::remove_dir_all(&dir).ok();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
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
