//! .npy, numpy's format (numpy/lib/format.py, NEP 1): magic "\x93NUMPY", version major.minor,
//! a header length (u16 LE in 1.0; u32 LE in 2.0 and 3.0), then a Python dict literal
//! {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } padded with spaces and '\n'.

use super::{Claim, FileIndex, Probe, RangeReader};
use crate::error::{Error, Result};
use crate::tensor::{checked_element_count, DType, TensorInfo};

pub const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// numpy refuses headers above this size unless asked (format.py `_MAX_HEADER_SIZE`).
pub const MAX_HEADER_LEN: u64 = 10_000;

/// The magic, or else a .npy name (the reader's error then says what is wrong).
pub fn sniff(p: &Probe) -> Option<Claim> {
    if p.prefix.starts_with(MAGIC) {
        Some(Claim::Content)
    } else {
        p.file.to_ascii_lowercase().ends_with(".npy").then_some(Claim::Name)
    }
}

/// The header is at the start: parsed from the first bytes, asking for more with `NeedMoreBytes`.
pub fn open(p: &Probe, r: &mut dyn RangeReader) -> Result<FileIndex> {
    index_from_prefix(p.file, p.prefix, r.len())
}

/// The tensor name of a .npy file: its file name without directories and without `.npy`.
pub fn tensor_name(file: &str) -> String {
    let base = file.rsplit(['/', '\\']).next().unwrap_or(file);
    base.strip_suffix(".npy").unwrap_or(base).to_string()
}

/// The index of a .npy file (or an .npz member) of `file_len` bytes from its first bytes.
pub fn index_from_prefix(file: &str, prefix: &[u8], file_len: u64) -> Result<FileIndex> {
    let seen = MAGIC.len().min(prefix.len());
    if prefix[..seen] != MAGIC[..seen] || file_len < MAGIC.len() as u64 {
        return Err(Error::malformed(file, "does not start with the .npy magic bytes \\x93NUMPY"));
    }
    if prefix.len() < 10 {
        if file_len < 10 {
            return Err(Error::malformed(file, format!("{file_len} bytes is too short for a .npy header")));
        }
        // 12 bytes hold the longest preamble (version 2.0 and 3.0); never ask past the end of the file.
        return Err(Error::NeedMoreBytes { file: file.into(), needed: file_len.min(12) });
    }
    let (major, minor) = (prefix[6], prefix[7]);
    let (len_bytes, utf8) = match major {
        1 => (2usize, false),
        2 => (4, false),
        3 => (4, true),
        _ => return Err(Error::unsupported(file, format!(".npy format version {major}.{minor} (1.0, 2.0 and 3.0 are read)"))),
    };
    if file_len < (8 + len_bytes) as u64 {
        return Err(Error::malformed(file, format!("{file_len} bytes is too short for a version {major}.{minor} .npy header")));
    }
    let header_len = if len_bytes == 2 {
        super::bytes_at(prefix, 8).map(|b| u16::from_le_bytes(b) as u64)
    } else {
        super::bytes_at(prefix, 8).map(|b| u32::from_le_bytes(b) as u64)
    };
    let Some(header_len) = header_len else {
        return Err(Error::NeedMoreBytes { file: file.into(), needed: (8 + len_bytes) as u64 });
    };
    if header_len > MAX_HEADER_LEN {
        return Err(Error::malformed(file, format!("header length {header_len} is over numpy's limit of {MAX_HEADER_LEN} bytes")));
    }
    let data_start = 8 + len_bytes as u64 + header_len;
    if data_start > file_len {
        return Err(Error::malformed(file, format!("header of {header_len} bytes runs past the end of the {file_len}-byte file")));
    }
    if (prefix.len() as u64) < data_start {
        return Err(Error::NeedMoreBytes { file: file.into(), needed: data_start });
    }
    let raw = &prefix[8 + len_bytes..data_start as usize];
    // Version 3 allows UTF-8; versions 1 and 2 hold a latin-1 dict literal, which numpy writes as ASCII.
    let text = std::str::from_utf8(raw).ok().filter(|t| utf8 || t.is_ascii()).ok_or_else(|| {
        Error::malformed(file, if utf8 { "version 3 header is not UTF-8" } else { "header is not ASCII (versions 1 and 2 are latin-1 dict literals)" })
    })?;
    let header = parse_header_dict(text).map_err(|e| Error::malformed(file, format!("header {e}")))?;
    let (dtype, big_endian) = parse_descr(file, &header.descr)?;
    let elements = checked_element_count(&header.shape)
        .ok_or_else(|| Error::malformed(file, format!("shape {:?} overflows the element count", header.shape)))?;
    let byte_len = (elements as u64)
        .checked_mul(dtype.size() as u64)
        .ok_or_else(|| Error::malformed(file, "byte size overflows"))?;
    let available = file_len - data_start;
    if byte_len > available {
        return Err(Error::malformed(
            file,
            format!("shape {:?} of {} needs {byte_len} bytes of data but the file holds {available} (truncated?)", header.shape, header.descr),
        ));
    }
    let info = TensorInfo {
        name: tensor_name(file),
        dtype,
        shape: header.shape,
        offset: data_start,
        byte_len,
        big_endian,
        fortran_order: header.fortran_order,
        storage: Default::default(),
        data_file: None,
        quant: None,
        parameter_of: None,
    };
    Ok(FileIndex { file: file.into(), format: super::Format::Npy, file_len, tensors: vec![info], metadata: vec![], detail: super::FormatDetail::None })
}

fn parse_descr(file: &str, descr: &str) -> Result<(DType, bool)> {
    let bad = || Error::unsupported(file, format!("dtype '{descr}' (numeric little- or big-endian f2/f4/f8, i1..i8, u1..u8 and b1 are read)"));
    let mut chars = descr.chars();
    let order = chars.next().ok_or_else(bad)?;
    let big_endian = match order {
        '<' | '|' | '=' => false,
        '>' => true,
        _ => return Err(bad()),
    };
    let dtype = match chars.as_str() {
        "f2" => DType::F16,
        "f4" => DType::F32,
        "f8" => DType::F64,
        "i1" => DType::I8,
        "i2" => DType::I16,
        "i4" => DType::I32,
        "i8" => DType::I64,
        "u1" => DType::U8,
        "u2" => DType::U16,
        "u4" => DType::U32,
        "u8" => DType::U64,
        "b1" => DType::Bool,
        _ => return Err(bad()),
    };
    Ok((dtype, big_endian && dtype.size() > 1))
}

#[derive(Debug, PartialEq)]
struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// Parses the header's Python dict literal: string keys, and values that are strings, booleans or
/// tuples of integers. Anything else (a structured dtype's list, say) is an error naming it.
fn parse_header_dict(text: &str) -> std::result::Result<Header, String> {
    let mut p = Parser { s: text.as_bytes(), i: 0 };
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    p.expect(b'{')?;
    loop {
        p.skip_ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.string()?;
        p.skip_ws();
        p.expect(b':')?;
        p.skip_ws();
        match key.as_str() {
            "descr" => descr = Some(p.string().map_err(|e| format!("'descr' must be a simple dtype string ({e}); structured dtypes are not read"))?),
            "fortran_order" => fortran = Some(p.boolean()?),
            "shape" => shape = Some(p.int_tuple()?),
            other => return Err(format!("has an unexpected key '{other}'")),
        }
        p.skip_ws();
        if !p.eat(b',') {
            p.skip_ws();
            p.expect(b'}')?;
            break;
        }
    }
    Ok(Header {
        descr: descr.ok_or("lacks 'descr'")?,
        fortran_order: fortran.ok_or("lacks 'fortran_order'")?,
        shape: shape.ok_or("lacks 'shape'")?,
    })
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, c: u8) -> std::result::Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected '{}' at byte {}", c as char, self.i))
        }
    }
    fn string(&mut self) -> std::result::Result<String, String> {
        let quote = match self.s.get(self.i) {
            Some(&q @ (b'\'' | b'"')) => q,
            _ => return Err(format!("expected a quoted string at byte {}", self.i)),
        };
        self.i += 1;
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i] != quote {
            self.i += 1;
        }
        if self.i == self.s.len() {
            return Err("has an unterminated string".into());
        }
        let out = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        self.i += 1;
        Ok(out)
    }
    fn boolean(&mut self) -> std::result::Result<bool, String> {
        if self.s[self.i..].starts_with(b"True") {
            self.i += 4;
            Ok(true)
        } else if self.s[self.i..].starts_with(b"False") {
            self.i += 5;
            Ok(false)
        } else {
            Err(format!("expected True or False at byte {}", self.i))
        }
    }
    fn int_tuple(&mut self) -> std::result::Result<Vec<usize>, String> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        loop {
            self.skip_ws();
            if self.eat(b')') {
                return Ok(dims);
            }
            let start = self.i;
            while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                self.i += 1;
            }
            if start == self.i {
                return Err(format!("shape holds something other than a non-negative integer at byte {start}"));
            }
            let digits = std::str::from_utf8(&self.s[start..self.i]).map_err(|_| format!("shape holds a non-ASCII digit at byte {start}"))?;
            // A trailing 'L' was written by Python 2 numpy.
            self.eat(b'L');
            dims.push(digits.parse().map_err(|_| format!("shape dimension {digits} is too large"))?);
            self.skip_ws();
            if !self.eat(b',') {
                self.skip_ws();
                self.expect(b')')?;
                return Ok(dims);
            }
        }
    }
}

/// Writes a version 1.0 .npy file (little-endian, C order), as numpy.save does.
pub fn write(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let shape_text = match shape {
        [d] => format!("({d},)"),
        _ => format!("({})", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    // numpy pads so that magic + lengths + header is a multiple of 64 bytes, ending in '\n'.
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat(total.next_multiple_of(64) - total));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numpy_headers() {
        let h = parse_header_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }          \n").unwrap();
        assert_eq!(h, Header { descr: "<f4".into(), fortran_order: false, shape: vec![3, 4] });
        assert_eq!(parse_header_dict("{'descr': '>f8', 'fortran_order': True, 'shape': (5,)}").unwrap().shape, vec![5]);
        assert_eq!(parse_header_dict("{'descr': '<f2', 'fortran_order': False, 'shape': ()}").unwrap().shape, Vec::<usize>::new());
        assert!(parse_header_dict("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}").unwrap_err().contains("structured"));
        assert!(parse_header_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}").is_err());
        assert!(parse_header_dict("{'descr': '<f4'").is_err());
    }

    #[test]
    fn write_then_read() {
        let data: Vec<u8> = [1.5f32, -2.0, 3.0, 4.0, 5.0, 6.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let f = write("<f4", &[2, 3], &data);
        assert_eq!((f.len() - data.len()) % 64, 0);
        let idx = index_from_prefix("dir/w.npy", &f, f.len() as u64).unwrap();
        let t = &idx.tensors[0];
        assert_eq!((t.name.as_str(), t.shape.clone(), t.dtype), ("w", vec![2, 3], DType::F32));
        assert_eq!(&f[t.offset as usize..], &data[..]);
    }

    #[test]
    fn truncated_data_is_named() {
        let f = write("<f4", &[4], &[0u8; 16]);
        let err = index_from_prefix("t.npy", &f[..f.len() - 1], f.len() as u64 - 1).unwrap_err().to_string();
        assert!(err.contains("needs 16 bytes") && err.contains("truncated"), "{err}");
    }
}
