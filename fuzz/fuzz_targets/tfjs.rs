#![no_main]
//! A TF.js model.json / weights manifest: parsed as the page does (the manifest alone, then
//! `tfjs::locate` with shard lengths made from the input), then every placed tensor decoded from
//! zero bytes of its stored length (the shard bytes are not the parser's input; the layout is).
use libfuzzer_sys::fuzz_target;
use quant_playground::formats::{self, tfjs};

fuzz_target!(|data: &[u8]| {
    let pieces = [(0u64, data)];
    let Ok(alone) = formats::parse_index_parts("model.json", &pieces, data.len() as u64) else { return };
    // Each shard as long as a slice of the input says (the sum of the manifest's sizes, or not).
    let lengths = alone
        .metadata
        .iter()
        .filter(|(k, _)| k == "shard")
        .enumerate()
        .map(|(i, (_, s))| (s.clone(), data.get(i).map_or(0, |&b| b as u64 * 4)))
        .collect();
    let Ok(index) = tfjs::locate("model.json", data, &lengths) else { return };
    for t in index.tensors.iter().take(64) {
        let parts: u64 = t.file_parts().iter().map(|p| p.2).sum();
        if parts <= 1 << 20 {
            let _ = formats::decode_tensor(t, vec![0u8; parts as usize]);
        }
    }
});
