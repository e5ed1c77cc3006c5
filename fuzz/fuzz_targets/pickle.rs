#![no_main]
#[path = "common.rs"]
mod common;
use libfuzzer_sys::fuzz_target;

// The restricted unpickler on its own (most inputs are not zips), then as a .pt's data.pkl.
fuzz_target!(|data: &[u8]| {
    let _ = quant_playground::formats::decode::pickle::load("data.pkl", data);
    common::exercise("f.pt", data);
});
