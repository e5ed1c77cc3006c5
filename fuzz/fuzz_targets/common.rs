//! What every target does with its input: parse the index as the page would (the whole input as
//! one piece), then decode every tensor whose stored bytes are in the input. Any panic, abort,
//! hang or runaway allocation is a finding.

use quant_playground::formats;

pub fn exercise(name: &str, data: &[u8]) {
    let pieces = [(0u64, data)];
    let Ok(index) = formats::parse_index_parts(name, &pieces, data.len() as u64) else { return };
    for t in index.tensors.iter().take(64) {
        if t.data_file.is_some() {
            continue;
        }
        let (offset, len) = t.stored_range();
        let Some(end) = offset.checked_add(len).filter(|&e| e <= data.len() as u64) else { continue };
        let _ = formats::decode_tensor(t, data[offset as usize..end as usize].to_vec());
    }
    // The native reader over memory must agree that the file parses.
    let mut src: &[u8] = data;
    let _ = formats::read_index(name, &mut src);
}
