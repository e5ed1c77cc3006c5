//! FNV-1a 64 as hex: the dependency-free exact fingerprint the fixture scripts record
//! (scripts/make_gguf_export_reference.py `fnv1a64`) and the tests recompute.

pub fn fnv1a64(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}
