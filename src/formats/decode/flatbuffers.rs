//! A bounds-checked FlatBuffers reader over a `RangeReader` (the TFLite reader's), reading chunks
//! of at least `MIN_REQUEST` as it goes. Layout after the FlatBuffers internals doc: a table
//! starts with an i32 offset back to its vtable (u16 vtable size, u16 table size, then one u16
//! field offset per field, 0 = absent); references (tables, vectors, strings) are u32 offsets
//! forward from where they are stored; a vector is a u32 length and its elements. Every position
//! is checked against the file before it is read. References only point forward, so no walk can
//! loop; a vtable (the one backward offset) is only read, never followed further.

use crate::error::{Error, Result};
use crate::formats::{RangeReader, MIN_REQUEST};

/// A table: where it starts and where its vtable is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Table {
    pub pos: u64,
    vtable: u64,
    vtable_len: u16,
}

/// A vector: where its first element is and how many it holds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Vector {
    pub start: u64,
    pub len: u64,
}

pub(crate) struct Flat<'a> {
    r: &'a mut dyn RangeReader,
    buf_start: u64,
    buf: Vec<u8>,
}

impl<'a> Flat<'a> {
    pub fn new(r: &'a mut dyn RangeReader) -> Self {
        Flat { r, buf_start: 0, buf: Vec::new() }
    }

    pub fn len(&self) -> u64 {
        self.r.len()
    }

    pub fn bad(&self, at: u64, what: impl std::fmt::Display) -> Error {
        Error::malformed(self.r.file(), format!("flatbuffer at byte {at}: {what}"))
    }

    /// The `n` bytes at `pos`.
    pub fn bytes(&mut self, pos: u64, n: u64) -> Result<&[u8]> {
        let len = self.r.len();
        if pos.checked_add(n).is_none_or(|e| e > len) {
            return Err(self.bad(pos, format!("{n} bytes run past the end of the file at {len} (truncated, or an offset out of range)")));
        }
        let in_buf = pos >= self.buf_start && pos + n <= self.buf_start + self.buf.len() as u64;
        if !in_buf {
            let chunk = n.max(MIN_REQUEST).min(len - pos);
            self.buf = self.r.read(pos, chunk)?;
            self.buf_start = pos;
        }
        let at = (pos - self.buf_start) as usize;
        Ok(&self.buf[at..at + n as usize])
    }

    fn array<const N: usize>(&mut self, pos: u64) -> Result<[u8; N]> {
        let b = self.bytes(pos, N as u64)?;
        let mut a = [0u8; N];
        a.copy_from_slice(b);
        Ok(a)
    }

    pub fn u16(&mut self, pos: u64) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(pos)?))
    }
    pub fn u32(&mut self, pos: u64) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(pos)?))
    }
    pub fn i32(&mut self, pos: u64) -> Result<i32> {
        Ok(i32::from_le_bytes(self.array(pos)?))
    }
    pub fn i64(&mut self, pos: u64) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array(pos)?))
    }
    pub fn f32(&mut self, pos: u64) -> Result<f32> {
        Ok(f32::from_le_bytes(self.array(pos)?))
    }

    /// Where the u32 reference stored at `at` points.
    fn follow(&mut self, at: u64) -> Result<u64> {
        let off = self.u32(at)? as u64;
        let to = at + off;
        if to >= self.r.len() {
            return Err(self.bad(at, format!("an offset to byte {to}, past the end of the file at {} (truncated, or an offset out of range)", self.r.len())));
        }
        Ok(to)
    }

    /// The table at `pos`, with its vtable checked.
    pub fn table(&mut self, pos: u64) -> Result<Table> {
        let back = self.i32(pos)? as i64;
        let vtable = pos as i64 - back;
        if vtable < 0 || vtable as u64 + 4 > self.r.len() {
            return Err(self.bad(pos, format!("a table whose vtable would be at byte {vtable}, outside the file (truncated, or an offset out of range)")));
        }
        let vtable = vtable as u64;
        let vtable_len = self.u16(vtable)?;
        if vtable_len < 4 || vtable_len % 2 != 0 {
            return Err(self.bad(vtable, format!("a vtable of {vtable_len} bytes (at least 4, and even)")));
        }
        self.bytes(vtable, vtable_len as u64)?;
        Ok(Table { pos, vtable, vtable_len })
    }

    /// The root table (the u32 at the start of the buffer).
    pub fn root(&mut self) -> Result<Table> {
        let at = self.follow(0)?;
        self.table(at)
    }

    /// Where field `field` of `t` is stored, or None when the table leaves it out.
    pub fn field(&mut self, t: &Table, field: u16) -> Result<Option<u64>> {
        let entry = 4 + 2 * field as u64;
        if entry + 2 > t.vtable_len as u64 {
            return Ok(None);
        }
        let off = self.u16(t.vtable + entry)?;
        Ok((off != 0).then_some(t.pos + off as u64))
    }

    /// A table-valued field.
    pub fn table_field(&mut self, t: &Table, field: u16) -> Result<Option<Table>> {
        match self.field(t, field)? {
            Some(at) => {
                let to = self.follow(at)?;
                Ok(Some(self.table(to)?))
            }
            None => Ok(None),
        }
    }

    /// A vector-valued field whose elements are `elem` bytes each, checked to lie in the file.
    pub fn vector(&mut self, t: &Table, field: u16, elem: u64) -> Result<Option<Vector>> {
        let Some(at) = self.field(t, field)? else { return Ok(None) };
        let to = self.follow(at)?;
        let len = self.u32(to)? as u64;
        let start = to + 4;
        if len.checked_mul(elem).and_then(|b| b.checked_add(start)).is_none_or(|e| e > self.r.len()) {
            return Err(self.bad(to, format!("a vector of {len} elements of {elem} bytes runs past the end of the file (truncated, or a length that lies)")));
        }
        Ok(Some(Vector { start, len }))
    }

    /// Element `i` of a vector of tables.
    pub fn table_in(&mut self, v: &Vector, i: u64) -> Result<Table> {
        let to = self.follow(v.start + 4 * i)?;
        self.table(to)
    }

    /// A string field of at most `limit` bytes (longer is cut); not UTF-8 becomes U+FFFD.
    pub fn string(&mut self, t: &Table, field: u16, limit: u64) -> Result<Option<String>> {
        let Some(v) = self.vector(t, field, 1)? else { return Ok(None) };
        let b = self.bytes(v.start, v.len.min(limit))?;
        Ok(Some(String::from_utf8_lossy(b).into_owned()))
    }

    /// A scalar field of `N` bytes, or None when absent (the schema's default applies).
    pub fn scalar<const N: usize>(&mut self, t: &Table, field: u16) -> Result<Option<[u8; N]>> {
        match self.field(t, field)? {
            Some(at) => Ok(Some(self.array(at)?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::Pieces;

    fn flat_err(bytes: &[u8], f: impl FnOnce(&mut Flat) -> Result<()>) -> String {
        let pieces = [(0u64, bytes)];
        let mut pieces = Pieces { file: "m.tflite", pieces: &pieces, len: bytes.len() as u64 };
        f(&mut Flat::new(&mut pieces)).unwrap_err().to_string()
    }

    #[test]
    fn offsets_out_of_range_are_errors() {
        // Root offset past the end.
        let err = flat_err(&[0xFF, 0, 0, 0], |f| f.root().map(|_| ()));
        assert!(err.contains("past the end of the file"), "{err}");
        // A table whose vtable offset points before the file.
        let err = flat_err(&[4, 0, 0, 0, 0x00, 0x10, 0, 0], |f| f.root().map(|_| ()));
        assert!(err.contains("outside the file"), "{err}");
        // vtable of odd size.
        let err = flat_err(&[8, 0, 0, 0, 3, 0, 4, 0, 4, 0, 0, 0], |f| f.root().map(|_| ()));
        assert!(err.contains("a vtable of 3 bytes"), "{err}");
    }

    #[test]
    fn a_vector_whose_length_lies_is_an_error() {
        // 0: root → 12; 4: vtable [size 6, table 8, field 0 at +4]; 12: table (vtable 8 back);
        // 16: field 0 → vector at 20; 20: its length, 1000, with no elements after it.
        let mut bytes = vec![0u8; 24];
        bytes[0..4].copy_from_slice(&12u32.to_le_bytes());
        bytes[4..10].copy_from_slice(&[6, 0, 8, 0, 4, 0]);
        bytes[12..16].copy_from_slice(&8i32.to_le_bytes());
        bytes[16..20].copy_from_slice(&4u32.to_le_bytes());
        bytes[20..24].copy_from_slice(&1000u32.to_le_bytes());
        let err = flat_err(&bytes, |f| {
            let t = f.root()?;
            f.vector(&t, 0, 4).map(|_| ())
        });
        assert!(err.contains("a vector of 1000 elements of 4 bytes runs past the end"), "{err}");
        // The same with length 0 reads, and an absent field is None.
        bytes[20..24].copy_from_slice(&0u32.to_le_bytes());
        let pieces = [(0u64, &bytes[..])];
        let mut pieces = Pieces { file: "m.tflite", pieces: &pieces, len: 24 };
        let mut f = Flat::new(&mut pieces);
        let t = f.root().unwrap();
        assert_eq!(f.vector(&t, 0, 4).unwrap().map(|v| v.len), Some(0));
        assert!(f.field(&t, 1).unwrap().is_none());
    }
}
