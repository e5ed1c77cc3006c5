//! Weight-file formats. Each file has a cheap `sniff` on the first bytes and `parse_index`, which
//! reads only the header from a prefix of the file and says how many bytes it needs when the prefix
//! is too short (`Error::NeedMoreBytes`). Tensor bytes are read later, one tensor at a time.

pub mod npy;
pub mod safetensors;

use crate::error::{Error, Result};
use crate::tensor::TensorInfo;
use serde::Serialize;

/// How many leading bytes a caller should hand to `parse_index` first.
pub const FIRST_READ: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Safetensors,
    Npy,
}

/// The header of a file: its tensors and where they are, plus any metadata it carries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileIndex {
    pub file: String,
    pub format: Format,
    pub file_len: u64,
    pub tensors: Vec<TensorInfo>,
    pub metadata: Vec<(String, String)>,
}

impl FileIndex {
    pub fn tensor(&self, name: &str) -> Result<&TensorInfo> {
        self.tensors
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| Error::NoSuchTensor { file: self.file.clone(), tensor: name.to_string() })
    }
}

/// Picks the format from the content; the extension only breaks ties.
pub fn sniff(file: &str, prefix: &[u8]) -> Option<Format> {
    if npy::sniff(prefix) {
        return Some(Format::Npy);
    }
    if safetensors::sniff(prefix) {
        return Some(Format::Safetensors);
    }
    // No content match: a known extension still picks the parser, whose error then says what is wrong.
    let lower = file.to_ascii_lowercase();
    if lower.ends_with(".safetensors") {
        return Some(Format::Safetensors);
    }
    if lower.ends_with(".npy") {
        return Some(Format::Npy);
    }
    None
}

/// Parses the index from the first bytes of a file of `file_len` bytes.
pub fn parse_index(file: &str, prefix: &[u8], file_len: u64) -> Result<FileIndex> {
    if file_len == 0 {
        return Err(Error::malformed(file, "the file is empty"));
    }
    match sniff(file, prefix) {
        Some(Format::Npy) => npy::parse_index(file, prefix, file_len),
        Some(Format::Safetensors) => safetensors::parse_index(file, prefix, file_len),
        None => Err(Error::UnknownFormat { file: file.to_string() }),
    }
}

/// Random access to the bytes of a file (a native file, or memory).
pub trait ByteSource {
    fn len(&self) -> u64;
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()>;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ByteSource for &[u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let start = usize::try_from(offset).ok().filter(|&s| s.saturating_add(buf.len()) <= <[u8]>::len(self));
        let start = start.ok_or_else(|| Error::malformed("buffer", format!("read of {} bytes at {offset} is past the end", buf.len())))?;
        buf.copy_from_slice(&self[start..start + buf.len()]);
        Ok(())
    }
}

/// Parses the index from a source, reading the header only (growing the read as the header asks).
pub fn read_index(file: &str, source: &mut dyn ByteSource) -> Result<FileIndex> {
    let len = source.len();
    let mut want = (FIRST_READ as u64).min(len);
    loop {
        let mut prefix = vec![0u8; want as usize];
        source.read_at(0, &mut prefix)?;
        match parse_index(file, &prefix, len) {
            Err(Error::NeedMoreBytes { needed, .. }) if needed > want && needed <= len => want = needed,
            other => return other,
        }
    }
}

/// Reads one tensor's stored bytes.
pub fn read_tensor_bytes(source: &mut dyn ByteSource, info: &TensorInfo) -> Result<Vec<u8>> {
    let len = usize::try_from(info.byte_len)
        .map_err(|_| Error::unsupported(&info.name, "tensor larger than this machine's address space"))?;
    let mut buf = vec![0u8; len];
    source.read_at(info.offset, &mut buf)?;
    Ok(buf)
}

/// A file on disk (native builds only).
#[cfg(not(target_arch = "wasm32"))]
pub struct FileSource {
    path: String,
    file: std::fs::File,
    len: u64,
}

#[cfg(not(target_arch = "wasm32"))]
impl FileSource {
    pub fn open(path: &str) -> Result<Self> {
        let io = |e: std::io::Error| Error::Io { path: path.to_string(), detail: e.to_string() };
        let file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        Ok(FileSource { path: path.to_string(), file, len })
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl ByteSource for FileSource {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        let io = |e: std::io::Error| Error::Io { path: self.path.clone(), detail: format!("reading {} bytes at offset {offset}: {e}", buf.len()) };
        self.file.seek(SeekFrom::Start(offset)).map_err(io)?;
        let path = self.path.clone();
        self.file
            .read_exact(buf)
            .map_err(|e| Error::Io { path, detail: format!("reading {} bytes at offset {offset}: {e}", buf.len()) })
    }
}
