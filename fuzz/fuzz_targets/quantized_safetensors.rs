#![no_main]
//! Quantized checkpoints in safetensors (bitsandbytes NF4/FP4/LLM.int8(), GPTQ, AWQ): the input is
//! the header's JSON, a NUL byte, then the data buffer; the target puts the header's u64 length in
//! front, so a mutation of a name, shape, dtype or offset (and of a bitsandbytes quant_state JSON in
//! the buffer) reaches src/formats/bnb.rs and gptq.rs instead of failing the length check. An input
//! without a NUL is taken as a whole safetensors file.
#[path = "common.rs"]
mod common;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(at) = data.iter().position(|&b| b == 0) else {
        common::exercise("f.safetensors", data);
        return;
    };
    let mut file = Vec::with_capacity(data.len() + 7);
    file.extend_from_slice(&(at as u64).to_le_bytes());
    file.extend_from_slice(&data[..at]);
    file.extend_from_slice(&data[at + 1..]);
    common::exercise("f.safetensors", &file);
});
