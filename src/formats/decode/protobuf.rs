//! A lazy protobuf reader over a `RangeReader`, shared by the ONNX reader and the ONNX QDQ export:
//! it reads field headers and the small fields asked for, fetching chunks of at least
//! `MIN_REQUEST` as it goes, and skips over payloads, so a 2 GB model's skeleton costs a few reads.
//! Wire format: protobuf's encoding guide (varints, wire types 0, 1, 2, 5; groups are refused).

use crate::error::{Error, Result};
use crate::formats::{RangeReader, MIN_REQUEST};

/// A varint at the start of `b`: (value, bytes used), or None when it is cut short or needs more
/// than 64 bits (a 10th byte over 1).
pub(crate) fn varint_at(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        if i == 9 && byte > 1 {
            return None;
        }
        v |= ((byte & 0x7F) as u64) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// One protobuf field: where its tag starts, its number and wire type, its value (varint) or
/// payload length (8 or 4 for the fixed wire types), where the value or payload starts and where
/// the field ends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub at: u64,
    pub number: u64,
    pub wire: u64,
    pub value: u64,
    pub start: u64,
    pub end: u64,
}

/// Reads the protobuf messages of one file. Errors say "ONNX protobuf at byte N: …": its two
/// users read ONNX models.
pub(crate) struct Reader<'a> {
    r: &'a mut dyn RangeReader,
    buf_start: u64,
    buf: Vec<u8>,
}

impl<'a> Reader<'a> {
    pub fn new(r: &'a mut dyn RangeReader) -> Self {
        Reader { r, buf_start: 0, buf: Vec::new() }
    }

    pub fn file(&self) -> &str {
        self.r.file()
    }

    pub fn bad(&self, at: u64, what: impl std::fmt::Display) -> Error {
        Error::malformed(self.r.file(), format!("ONNX protobuf at byte {at}: {what}"))
    }

    /// The `n` bytes at `pos` of a message ending at `end`.
    pub fn bytes(&mut self, pos: u64, n: u64, end: u64) -> Result<&[u8]> {
        if pos.checked_add(n).is_none_or(|e| e > end) {
            return Err(self.bad(
                pos,
                format!("a field of {n} bytes runs past the end of its message at {end} (truncated, or a length that lies)"),
            ));
        }
        let in_buf = pos >= self.buf_start && pos + n <= self.buf_start + self.buf.len() as u64;
        if !in_buf {
            let chunk = n.max(MIN_REQUEST).min(self.r.len() - pos);
            self.buf = self.r.read(pos, chunk)?;
            self.buf_start = pos;
        }
        let at = (pos - self.buf_start) as usize;
        Ok(&self.buf[at..at + n as usize])
    }

    /// A varint at `pos` within a message ending at `end`: (value, bytes used).
    pub fn varint(&mut self, pos: u64, end: u64) -> Result<(u64, u64)> {
        let avail = end.saturating_sub(pos).min(10);
        let b = self.bytes(pos, avail, end)?;
        varint_at(b)
            .map(|(v, n)| (v, n as u64))
            .ok_or_else(|| self.bad(pos, "a varint that is cut short or over 64 bits"))
    }

    /// The field at `pos` of a message ending at `end`; whatever its wire type, it must end
    /// within the message.
    pub fn field(&mut self, pos: u64, end: u64) -> Result<Field> {
        let (tag, n) = self.varint(pos, end)?;
        let (number, wire) = (tag >> 3, tag & 7);
        let p = pos + n;
        let (value, start, stop) = match wire {
            0 => {
                let (v, n) = self.varint(p, end)?;
                (v, p, p + n)
            }
            1 => (8, p, p + 8),
            5 => (4, p, p + 4),
            2 => {
                let (len, n) = self.varint(p, end)?;
                let s = p + n;
                (len, s, s.saturating_add(len))
            }
            w => {
                return Err(self.bad(
                    pos,
                    format!("field {number} has wire type {w}, which protobuf does not define (or groups, which ONNX does not use)"),
                ))
            }
        };
        if stop > end {
            let what = match wire {
                2 => format!("says {value} bytes"),
                _ => format!("is a fixed {value}-byte value"),
            };
            return Err(self.bad(
                pos,
                format!("field {number} {what} but its message ends at {end} (truncated, or a length that lies)"),
            ));
        }
        Ok(Field { at: pos, number, wire, value, start, end: stop })
    }

    /// Every field of the message `start..end`, in order.
    pub fn fields(&mut self, start: u64, end: u64) -> Result<Vec<Field>> {
        let mut out = Vec::new();
        let mut pos = start;
        while pos < end {
            let f = self.field(pos, end)?;
            pos = f.end;
            out.push(f);
        }
        Ok(out)
    }

    /// A string field of at most `limit` bytes (longer is an error); bytes that are not UTF-8
    /// become U+FFFD.
    pub fn string(&mut self, f: &Field, limit: u64) -> Result<String> {
        if f.wire == 2 && f.value > limit {
            return Err(self.bad(f.at, format!("field {} is a string of {} bytes, over the limit of {limit}", f.number, f.value)));
        }
        self.string_prefix(f, limit)
    }

    /// The first `limit` bytes of a string field: for text only shown (a producer's name), where
    /// a long one is no reason to refuse the file.
    pub fn string_prefix(&mut self, f: &Field, limit: u64) -> Result<String> {
        if f.wire != 2 {
            return Err(self.bad(f.at, format!("field {} should be a string (wire type 2), not wire type {}", f.number, f.wire)));
        }
        let b = self.bytes(f.start, f.value.min(limit), f.end)?;
        Ok(String::from_utf8_lossy(b).into_owned())
    }

    /// The bytes `start..end` as they are in the file.
    pub fn raw(&mut self, start: u64, end: u64) -> Result<Vec<u8>> {
        Ok(self.bytes(start, end - start, end)?.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::Pieces;

    fn first_field(bytes: &[u8]) -> Result<Field> {
        let pieces = [(0u64, bytes)];
        let mut pieces = Pieces { file: "m.onnx", pieces: &pieces, len: bytes.len() as u64 };
        Reader::new(&mut pieces).field(0, bytes.len() as u64)
    }

    #[test]
    fn a_varint_over_64_bits_is_refused() {
        let max = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01];
        assert_eq!(varint_at(&max), Some((u64::MAX, 10)));
        let over = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02];
        assert_eq!(varint_at(&over), None);
        assert_eq!(varint_at(&[0x80]), None);
        assert_eq!(varint_at(&[0xAC, 0x02]), Some((300, 2)));
    }

    #[test]
    fn every_wire_type_must_end_within_its_message() {
        // Field 1 as fixed64, fixed32 and length-delimited, each one byte short.
        for (bytes, says) in [
            (&[0x09, 0, 0, 0, 0, 0, 0, 0][..], "field 1 is a fixed 8-byte value"),
            (&[0x0d, 0, 0, 0][..], "field 1 is a fixed 4-byte value"),
            (&[0x0a, 0x03, b'a', b'b'][..], "field 1 says 3 bytes"),
        ] {
            let err = first_field(bytes).unwrap_err().to_string();
            assert!(err.contains(says) && err.contains("truncated"), "{err}");
        }
        let f = first_field(&[0x0d, 1, 2, 3, 4]).unwrap();
        assert_eq!((f.number, f.wire, f.value, f.start, f.end), (1, 5, 4, 1, 5));
        let err = first_field(&[0x0b]).unwrap_err().to_string();
        assert!(err.contains("wire type 3"), "{err}");
    }

    #[test]
    fn strings_are_refused_or_cut_at_the_callers_limit() {
        let bytes = [0x12, 0x05, b'h', b'e', b'l', b'l', b'o'];
        let pieces = [(0u64, &bytes[..])];
        let mut pieces = Pieces { file: "m.onnx", pieces: &pieces, len: bytes.len() as u64 };
        let mut r = Reader::new(&mut pieces);
        let f = r.field(0, bytes.len() as u64).unwrap();
        assert_eq!(r.string(&f, 5).unwrap(), "hello");
        assert_eq!(r.string_prefix(&f, 3).unwrap(), "hel");
        let err = r.string(&f, 4).unwrap_err().to_string();
        assert!(err.contains("field 2 is a string of 5 bytes, over the limit of 4"), "{err}");
    }
}
