#![no_main]
//! PyTorch zips (torch.save) and TorchScript archives (torch.jit.save). An input that is a zip is
//! read as it is; any other input is cut at SEP into members of a stored zip the target writes:
//! `archive/data.pkl`, `archive/constants.pkl` (when not empty), then each further part as both
//! `archive/data/<i>` and `archive/constants/<i>`, so the mutations land in the pickles and the
//! storages instead of the zip's offsets and CRCs.
#[path = "common.rs"]
mod common;
use libfuzzer_sys::fuzz_target;
use quant_playground::formats::container::zip::crc32_of;

const SEP: &[u8] = b"\n--member--\n";

fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while let Some(at) = rest.windows(SEP.len()).position(|w| w == SEP) {
        parts.push(&rest[..at]);
        rest = &rest[at + SEP.len()..];
    }
    parts.push(rest);
    parts
}

/// A stored (uncompressed) zip of these members, as torch's PyTorchStreamWriter writes one
/// (without its 64-byte alignment padding, which readers do not need).
fn stored_zip(members: &[(String, &[u8])]) -> Vec<u8> {
    let (mut out, mut central) = (Vec::new(), Vec::new());
    for (name, bytes) in members {
        let offset = out.len() as u32;
        let crc = crc32_of(bytes);
        let fixed = |v: &mut Vec<u8>| {
            v.extend_from_slice(&20u16.to_le_bytes()); // version needed
            v.extend_from_slice(&0u16.to_le_bytes()); // flags
            v.extend_from_slice(&0u16.to_le_bytes()); // stored
            v.extend_from_slice(&0u32.to_le_bytes()); // time, date
            v.extend_from_slice(&crc.to_le_bytes());
            v.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            v.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes()); // extra
        };
        out.extend_from_slice(b"PK\x03\x04");
        fixed(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(bytes);
        central.extend_from_slice(b"PK\x01\x02");
        central.extend_from_slice(&20u16.to_le_bytes()); // version made by
        fixed(&mut central);
        central.extend_from_slice(&[0u8; 8]); // comment length, disk, internal and
        central.extend_from_slice(&[0u8; 4]); // external attributes
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06");
    out.extend_from_slice(&[0u8; 4]);
    let count = members.len() as u16;
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fuzz_target!(|data: &[u8]| {
    if data.starts_with(b"PK") {
        common::exercise("f.pt", data);
        return;
    }
    let parts = split(data);
    let mut members = vec![("archive/data.pkl".to_string(), parts[0])];
    if let Some(c) = parts.get(1).filter(|c| !c.is_empty()) {
        members.push(("archive/constants.pkl".to_string(), c));
    }
    for (i, s) in parts.iter().skip(2).take(16).enumerate() {
        members.push((format!("archive/data/{i}"), s));
        members.push((format!("archive/constants/{i}"), s));
    }
    common::exercise("f.pt", &stored_zip(&members));
});
