//! The zip container under .npz and PyTorch files (PKWARE APPNOTE.TXT: end of central directory,
//! zip64 locator and record, central directory entries, local file headers), read lazily: the
//! central directory from the end of the file, then each member's local header; member data only
//! when a tensor is asked for. Stored members are read in place; deflated members are inflated
//! (miniz_oxide) up to their declared size, which is checked against `MAX_INFLATED` and deflate's
//! largest possible ratio first, so a zip bomb is an error and never an allocation.
//! What the members make up is not decided here: the readers of zip formats (npz, PyTorch) claim
//! an archive by its member names.

use crate::formats::RangeReader;
use std::borrow::Cow;
use crate::error::{Error, Result};

/// The most one member may inflate to.
pub const MAX_INFLATED: u64 = 4 << 30;
/// Deflate cannot expand more than about 1032:1 (258-byte matches coded in 2 bits); a member that
/// claims more is lying.
pub const MAX_DEFLATE_RATIO: u64 = 1032;
/// Central directories larger than this are refused (about 2 million members).
pub const MAX_CENTRAL_DIRECTORY: u64 = 128 << 20;

const EOCD_SIG: u32 = 0x0605_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const LOCAL_SIG: u32 = 0x0403_4b50;

pub fn sniff(prefix: &[u8]) -> bool {
    prefix.starts_with(b"PK\x03\x04") || prefix.starts_with(b"PK\x05\x06")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Stored,
    Deflated,
}

/// One central-directory entry.
#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    pub method: Method,
    pub crc32: u32,
    pub compressed: u64,
    pub uncompressed: u64,
    pub header_offset: u64,
}

// Every caller checks the record's length first; past the end these read 0 (no panic path), which
// no signature or size check accepts.
fn u16_at(b: &[u8], at: usize) -> u16 {
    crate::formats::bytes_at::<2>(b, at).map_or(0, u16::from_le_bytes)
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    crate::formats::bytes_at::<4>(b, at).map_or(0, u32::from_le_bytes)
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    crate::formats::bytes_at::<8>(b, at).map_or(0, u64::from_le_bytes)
}

/// A zip's member list, as its central directory gives it.
#[derive(Debug, Clone)]
pub struct Archive {
    pub members: Vec<Member>,
    /// Where the central directory starts: every member's data ends before it.
    pub cd_offset: u64,
}

/// Reads the central directory: where the members are.
pub fn central_directory(r: &mut dyn RangeReader) -> Result<Archive> {
    let file = r.file().to_string();
    let bad = |what: String| Error::malformed(&file, format!("zip: {what}"));
    let len = r.len();
    if len < 22 {
        return Err(bad(format!("{len} bytes is too short for a zip (the end record alone is 22)")));
    }
    // The end record is the last 22 bytes plus a comment of at most 65535 bytes.
    let tail_len = len.min(22 + 65535);
    let tail = r.read(len - tail_len, tail_len)?;
    let at = (0..=tail.len() - 22)
        .rev()
        .find(|&i| u32_at(&tail, i) == EOCD_SIG && i + 22 + u16_at(&tail, i + 20) as usize == tail.len())
        .or_else(|| (0..=tail.len() - 22).rev().find(|&i| u32_at(&tail, i) == EOCD_SIG))
        .ok_or_else(|| bad("no end-of-central-directory record (truncated, or not a zip)".into()))?;
    let eocd_offset = len - tail_len + at as u64;
    let e = &tail[at..at + 22];
    if u16_at(e, 4) != 0 || u16_at(e, 6) != 0 {
        return Err(Error::unsupported(&file, "multi-disk (split) zip archives"));
    }
    let mut count = u16_at(e, 10) as u64;
    let mut cd_size = u32_at(e, 12) as u64;
    let mut cd_offset = u32_at(e, 16) as u64;
    if count == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_offset == 0xFFFF_FFFF {
        // zip64: a locator right before the end record points at the zip64 end record.
        if eocd_offset < 20 {
            return Err(bad("zip64 fields without room for a zip64 locator".into()));
        }
        let loc = r.read(eocd_offset - 20, 20)?;
        if u32_at(&loc, 0) != ZIP64_LOCATOR_SIG {
            return Err(bad("the end record has zip64 markers but no zip64 locator precedes it".into()));
        }
        let z_offset = u64_at(&loc, 8);
        if z_offset.checked_add(56).is_none_or(|end| end > eocd_offset) {
            return Err(bad(format!("zip64 end record offset {z_offset} is out of bounds")));
        }
        let z = r.read(z_offset, 56)?;
        if u32_at(&z, 0) != ZIP64_EOCD_SIG {
            return Err(bad(format!("no zip64 end record at offset {z_offset}")));
        }
        count = u64_at(&z, 32);
        cd_size = u64_at(&z, 40);
        cd_offset = u64_at(&z, 48);
    }
    if cd_offset.checked_add(cd_size).is_none_or(|end| end > eocd_offset) {
        return Err(bad(format!(
            "central directory at {cd_offset} of {cd_size} bytes runs past its end record at {eocd_offset}"
        )));
    }
    if cd_size > MAX_CENTRAL_DIRECTORY {
        return Err(bad(format!(
            "central directory of {cd_size} bytes is over the limit of {MAX_CENTRAL_DIRECTORY}"
        )));
    }
    if count > cd_size / 46 {
        return Err(bad(format!(
            "{count} members cannot fit a {cd_size}-byte central directory (46 bytes each at least)"
        )));
    }
    let cd = r.read(cd_offset, cd_size)?;
    let mut members = Vec::with_capacity(count as usize);
    let mut p = 0usize;
    for i in 0..count {
        if p + 46 > cd.len() || u32_at(&cd, p) != CENTRAL_SIG {
            return Err(bad(format!(
                "central directory entry {i} at offset {} is missing or cut short",
                cd_offset + p as u64
            )));
        }
        let h = &cd[p..p + 46];
        let flags = u16_at(h, 8);
        let method = u16_at(h, 10);
        let (n, x, c) = (u16_at(h, 28) as usize, u16_at(h, 30) as usize, u16_at(h, 32) as usize);
        if p + 46 + n + x + c > cd.len() {
            return Err(bad(format!("central directory entry {i} runs past the directory's end")));
        }
        let name = String::from_utf8_lossy(&cd[p + 46..p + 46 + n]).into_owned();
        let extra = &cd[p + 46 + n..p + 46 + n + x];
        let mut member = Member {
            method: Method::Stored,
            crc32: u32_at(h, 16),
            compressed: u32_at(h, 20) as u64,
            uncompressed: u32_at(h, 24) as u64,
            header_offset: u32_at(h, 42) as u64,
            name,
        };
        apply_zip64_extra(&mut member, extra).map_err(|w| bad(format!("member '{}': {w}", member.name)))?;
        if flags & 1 != 0 {
            return Err(Error::unsupported(&file, format!("zip member '{}' is encrypted", member.name)));
        }
        member.method = match method {
            0 => Method::Stored,
            8 => Method::Deflated,
            m => {
                return Err(Error::unsupported(
                    &file,
                    format!(
                        "zip member '{}' uses compression method {m} (stored and deflate are read)",
                        member.name
                    ),
                ))
            }
        };
        if member.method == Method::Stored && member.compressed != member.uncompressed {
            return Err(bad(format!(
                "stored member '{}' says {} bytes stored but {} uncompressed",
                member.name, member.compressed, member.uncompressed
            )));
        }
        if member
            .header_offset
            .checked_add(30 + member.compressed)
            .is_none_or(|end| end > cd_offset)
        {
            return Err(bad(format!(
                "member '{}' at offset {} of {} bytes runs into the central directory",
                member.name, member.header_offset, member.compressed
            )));
        }
        members.push(member);
        p += 46 + n + x + c;
    }
    Ok(Archive { members, cd_offset })
}

/// The zip64 extended-information extra field (id 1) holds the 64-bit values of those fields that
/// are 0xFFFFFFFF, in the order uncompressed, compressed, local header offset.
fn apply_zip64_extra(m: &mut Member, mut extra: &[u8]) -> std::result::Result<(), String> {
    let wants = [
        m.uncompressed == 0xFFFF_FFFF,
        m.compressed == 0xFFFF_FFFF,
        m.header_offset == 0xFFFF_FFFF,
    ];
    if !wants.iter().any(|&w| w) {
        return Ok(());
    }
    while extra.len() >= 4 {
        let (id, size) = (u16_at(extra, 0), u16_at(extra, 2) as usize);
        if 4 + size > extra.len() {
            break;
        }
        if id == 1 {
            let mut data = &extra[4..4 + size];
            let mut take = || -> std::result::Result<u64, String> {
                if data.len() < 8 {
                    return Err("zip64 extra field is too short".into());
                }
                let v = u64_at(data, 0);
                data = &data[8..];
                Ok(v)
            };
            if wants[0] {
                m.uncompressed = take()?;
            }
            if wants[1] {
                m.compressed = take()?;
            }
            if wants[2] {
                m.header_offset = take()?;
            }
            return Ok(());
        }
        extra = &extra[4 + size..];
    }
    Err("sizes marked zip64 but no zip64 extra field".into())
}

/// The archive already listed (a probe's), or else its central directory read now.
pub fn listed<'a>(given: Option<&'a Archive>, r: &mut dyn RangeReader) -> Result<Cow<'a, Archive>> {
    match given {
        Some(archive) => Ok(Cow::Borrowed(archive)),
        None => central_directory(r).map(Cow::Owned),
    }
}

/// Where a member's data starts: after its local header, name and (local) extra field.
pub fn data_offset(r: &mut dyn RangeReader, m: &Member, cd_offset: u64) -> Result<u64> {
    let file = r.file().to_string();
    let h = r.read(m.header_offset, 30)?;
    if u32_at(&h, 0) != LOCAL_SIG {
        return Err(Error::malformed(
            &file,
            format!("zip member '{}': no local header at offset {}", m.name, m.header_offset),
        ));
    }
    let start = m.header_offset + 30 + u16_at(&h, 26) as u64 + u16_at(&h, 28) as u64;
    if start.checked_add(m.compressed).is_none_or(|end| end > cd_offset) {
        return Err(Error::malformed(
            &file,
            format!(
                "zip member '{}': its {} bytes of data at offset {start} run into the central directory at {cd_offset}",
                m.name, m.compressed
            ),
        ));
    }
    Ok(start)
}

/// Checks a member's declared inflated size against the limit and deflate's largest ratio.
pub fn check_inflated_size(file: &str, m: &Member) -> Result<()> {
    if m.uncompressed > MAX_INFLATED {
        return Err(Error::malformed(
            file,
            format!(
                "zip member '{}' inflates to {} bytes, over the limit of {MAX_INFLATED} (a zip bomb?)",
                m.name, m.uncompressed
            ),
        ));
    }
    if m.method == Method::Deflated && m.uncompressed > m.compressed.saturating_mul(MAX_DEFLATE_RATIO).saturating_add(1024) {
        return Err(Error::malformed(
            file,
            format!(
                "zip member '{}' claims {} bytes from {} compressed, more than deflate can produce (a zip bomb?)",
                m.name, m.uncompressed, m.compressed
            ),
        ));
    }
    Ok(())
}

/// The first (up to) `max` bytes of a member's content: stored bytes as they are, deflated ones
/// inflated only as far as needed (reading a little more than `max` compressed bytes).
pub fn member_prefix(r: &mut dyn RangeReader, m: &Member, data_at: u64, max: u64) -> Result<Vec<u8>> {
    let want = max.min(m.uncompressed);
    match m.method {
        Method::Stored => r.read(data_at, want),
        Method::Deflated => {
            use miniz_oxide::inflate::stream::{inflate, InflateState};
            use miniz_oxide::{DataFormat, MZFlush, MZStatus};
            // zlib never expands data by more than stored blocks do (5 bytes per 65535); allow a
            // generous 2× for odd encoders, so this much input yields `want` bytes of output.
            let input_len = m.compressed.min(want.saturating_mul(2).saturating_add(1024));
            let input = r.read(data_at, input_len)?;
            let mut state = InflateState::new_boxed(DataFormat::Raw);
            let mut out = vec![0u8; want as usize];
            let res = inflate(&mut state, &input, &mut out, MZFlush::None);
            if res.bytes_written < out.len() {
                let what = match res.status {
                    Ok(MZStatus::StreamEnd) => format!("inflates to {} bytes but declares {}", res.bytes_written, m.uncompressed),
                    status => format!("is not valid deflate data ({status:?} after {} bytes)", res.bytes_written),
                };
                return Err(Error::malformed(r.file(), format!("zip member '{}' {what}", m.name)));
            }
            out.truncate(res.bytes_written);
            Ok(out)
        }
    }
}

/// Inflates a whole deflated member to exactly `inflated_len` bytes with this CRC-32.
pub fn inflate(name: &str, compressed: &[u8], inflated_len: u64, crc32: u32) -> Result<Vec<u8>> {
    let bad = |what: String| Error::malformed(name, format!("tensor '{name}': {what}"));
    if inflated_len > MAX_INFLATED || inflated_len > (compressed.len() as u64).saturating_mul(MAX_DEFLATE_RATIO).saturating_add(1024) {
        return Err(bad(format!(
            "declared inflated size {inflated_len} from {} compressed bytes is over the limit (a zip bomb?)",
            compressed.len()
        )));
    }
    let limit = usize::try_from(inflated_len).map_err(|_| bad(format!("{inflated_len} inflated bytes do not fit this machine's address space")))?;
    let out = miniz_oxide::inflate::decompress_to_vec_with_limit(compressed, limit).map_err(|e| {
        if e.status == miniz_oxide::inflate::TINFLStatus::HasMoreOutput {
            bad(format!(
                "member inflates to more than its declared {inflated_len} bytes (a zip bomb?)"
            ))
        } else {
            bad(format!("member is not valid deflate data ({:?})", e.status))
        }
    })?;
    if out.len() as u64 != inflated_len {
        return Err(bad(format!("member inflates to {} bytes but declares {inflated_len}", out.len())));
    }
    let got = crc32_of(&out);
    if got != crc32 {
        return Err(bad(format!("member's CRC-32 is {got:08x} but the zip says {crc32:08x} (corrupt)")));
    }
    Ok(out)
}

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320) as zip uses it.
pub fn crc32_of(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    let mut c = !0u32;
    for &b in data {
        c = TABLE[((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8);
    }
    !c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_zlib() {
        // zlib.crc32(b"123456789") == 0xCBF43926, the standard check value.
        assert_eq!(crc32_of(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32_of(b""), 0);
    }
}
