//! .npz (numpy.savez / savez_compressed): a zip of .npy members, one per array, stored or
//! deflated. The index comes from the central directory and each member's .npy header; a stored
//! member's elements are read in place, a deflated one is inflated when its tensor is asked for.

use super::container::zip::{self, Method};
use super::{Claim, FileIndex, Format, FormatDetail, Probe, RangeReader};
use crate::error::{Error, Result};
use crate::tensor::Storage;

/// Enough of a member for the largest .npy header numpy writes (12 + 10 000 bytes), rounded up.
const NPY_HEADER_MAX: u64 = 16 * 1024;

/// A zip with .npy members (or none: numpy.savez of no arrays).
pub fn sniff(p: &Probe) -> Option<Claim> {
    let members = &p.zip?.members;
    (members.is_empty() || members.iter().any(|m| m.name.ends_with(".npy"))).then_some(Claim::Content)
}

/// The index from the member list and each member's .npy header.
pub fn open(p: &Probe, r: &mut dyn RangeReader) -> Result<FileIndex> {
    let archive = zip::listed(p.zip, r)?;
    let file = r.file().to_string();
    let mut tensors = Vec::new();
    let mut metadata = Vec::new();
    for m in &archive.members {
        let Some(name) = m.name.strip_suffix(".npy") else {
            metadata.push(("ignored member".to_string(), m.name.clone()));
            continue;
        };
        let label = format!("{file}: member '{}'", m.name);
        zip::check_inflated_size(&file, m)?;
        let data_at = zip::data_offset(r, m, archive.cd_offset)?;
        let head = zip::member_prefix(r, m, data_at, NPY_HEADER_MAX)?;
        let inner = match super::npy::index_from_prefix(&label, &head, m.uncompressed) {
            Err(Error::NeedMoreBytes { needed, .. }) => {
                return Err(Error::malformed(
                    &label,
                    format!("its .npy header needs {needed} bytes, more than the {NPY_HEADER_MAX} a .npy header may have"),
                ))
            }
            other => other?,
        };
        let mut t = inner
            .tensors
            .into_iter()
            .next()
            .ok_or_else(|| Error::malformed(&label, "no array in the member"))?;
        t.name = name.to_string();
        match m.method {
            Method::Stored => t.offset += data_at,
            Method::Deflated => {
                t.storage = Storage::Deflate {
                    compressed_len: m.compressed,
                    inflated_len: m.uncompressed,
                    crc32: m.crc32,
                    skip: t.offset,
                };
                t.offset = data_at;
            }
        }
        tensors.push(t);
    }
    Ok(FileIndex {
        file,
        format: Format::Npz,
        file_len: r.len(),
        tensors,
        metadata,
        detail: FormatDetail::None,
    })
}
