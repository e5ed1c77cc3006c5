//! The page's lazy-reading protocol (formats/mod.rs), driven over a whole file in memory.

use quant_playground::formats::{self, FileIndex};
use quant_playground::Error;

/// What the page does: first and last bytes, then whatever range the parser asks for.
/// Returns the index, the number of rounds and the bytes handed over.
pub fn index_by_pieces(name: &str, bytes: &[u8]) -> (quant_playground::Result<FileIndex>, usize, u64) {
    let len = bytes.len();
    let head = formats::FIRST_READ.min(len);
    let tail = formats::TAIL_READ.min(len);
    let mut pieces: Vec<(u64, Vec<u8>)> = vec![(0, bytes[..head].to_vec()), ((len - tail) as u64, bytes[len - tail..].to_vec())];
    for round in 1..=formats::MAX_ROUNDS {
        let refs: Vec<(u64, &[u8])> = pieces.iter().map(|(o, b)| (*o, b.as_slice())).collect();
        match formats::parse_index_parts(name, &refs, len as u64) {
            Err(Error::NeedMoreBytes { needed, .. }) => {
                assert!(needed as usize > pieces[0].1.len() && needed as usize <= len, "{name}: asks for {needed} again");
                pieces[0] = (0, bytes[..needed as usize].to_vec());
            }
            Err(Error::NeedRange { offset, len: n, .. }) => {
                let (o, n) = (offset as usize, n as usize);
                assert!(o + n <= len, "{name}: asks for a range past the end");
                pieces.push((offset, bytes[o..o + n].to_vec()));
            }
            other => return (other, round, pieces.iter().map(|p| p.1.len() as u64).sum()),
        }
    }
    panic!("{name}: more than MAX_ROUNDS rounds")
}
