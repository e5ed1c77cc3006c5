//! Weight-file formats. Every format is a `Reader` with the same two entry points, registered in
//! `READERS`: `sniff`, a cheap look at the first bytes (and a zip's member names), and `open`,
//! which reads only the header (the index: names, dtypes, shapes, where the bytes are) through a
//! `RangeReader`; a tensor's bytes are read later, one tensor at a time. `container/` lists the
//! members of a zip; `decode/` holds the decoders formats share (protobuf, pickle).
//!
//! ## The lazy-reading contract (what the page's JS does)
//! 1. Read the first `FIRST_READ` bytes and the last `TAIL_READ` bytes of the file (Blob.slice)
//!    and call `parse_index_parts(name, [(0, head), (len − tail, tail)], len)`.
//! 2. On `Error::NeedMoreBytes { needed }` hand over the first `needed` bytes instead of the head;
//!    on `Error::NeedRange { offset, len }` add that slice to the pieces. Call again. The pieces
//!    only grow; a parser asks for at most `MAX_ROUNDS` rounds in all (a zip asks for its central
//!    directory, then for every member's local header at once; GGUF and ONNX for the next chunk
//!    of their header).
//! 3. For a tensor, read `info.stored_range()` of the file (`info.data_file` when set: a sibling
//!    file dropped together with this one, e.g. ONNX external data or a safetensors shard) and
//!    call `decode_tensor(info, bytes)`, which inflates / unpacks and decodes to f32.
//!
//! Natively `read_index` and `read_tensor_bytes` do the same over a `ByteSource`.
//!
//! ## What is read (Q = quantizable, decoded to f32; L = listed, not quantizable)
//! | format | Q | L |
//! |---|---|---|
//! | safetensors (+ sharded, index JSON) | F64 F32 F16 BF16 | F8_E4M3 F8_E5M2 I8..I64 U8..U64 BOOL |
//! | bitsandbytes in safetensors (absmax, quant_map, quant_state; SCB) | NF4 / FP4 4-bit and LLM.int8() weights with their parameters | absmax, quant_map, quant_state, SCB as parameters |
//! | .npy v1/v2/v3, C/Fortran, LE/BE | f8 f4 f2 | i1..i8 u1..u8 b1 |
//! | .npz (stored, deflated) | as .npy | as .npy |
//! | GGUF v2/v3 | F32 F16 BF16 F64 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q6_K | every other ggml type, I8..I64 |
//! | PyTorch zip (.pt/.pth/.bin) | Float Double Half BFloat16 storages | Long Int Short Char Byte Bool |
//! | ONNX (raw_data, float/double/int32/int64_data, external data; initializers of every graph, Constant nodes) | FLOAT DOUBLE FLOAT16 BFLOAT16; integer weights read by DequantizeLinear, QLinear*, ConvInteger/MatMulInteger, MatMulNBits, with their own parameters | other ints, bool, FP8 in raw_data; scales and zero points as parameters |
//! | TFLite (.tflite FlatBuffer) | FLOAT32 FLOAT16 FLOAT64 BFLOAT16; INT8 UINT8 INT16 INT32 INT4 with per-tensor / per-channel quantization | ints without quantization, bool |
//! | TF.js (model.json / *weights_manifest.json + .bin shards) | float32; uint8/uint16 affine and float16 storage with its parameters | int32, bool |
//! Every length read from a header is checked against the file's length and a per-format limit
//! before anything is allocated from it.

pub mod bnb;
pub mod container;
pub mod decode;
pub mod gguf;
pub mod gptq;
pub mod multi;
pub mod npy;
pub mod npz;
pub mod onnx;
pub mod pytorch;
pub mod safetensors;
pub mod tflite;
pub mod tfjs;

use crate::error::{Error, Result};
use crate::tensor::{Storage, TensorInfo};
use container::zip;
use serde::{Deserialize, Serialize};

/// The N bytes at `at` as an array, or None when they run past the end: header fields are read
/// without a panic path, whatever the file says.
pub(crate) fn bytes_at<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..)?.first_chunk::<N>().copied()
}

/// How many leading bytes a caller should hand to `parse_index` first.
pub const FIRST_READ: usize = 64 * 1024;
/// How many trailing bytes a caller should hand over with the first bytes (a zip's central
/// directory lives at the end of the file).
pub const TAIL_READ: usize = 66 * 1024;
/// The smallest range a parser asks for at once (fewer round trips through JS).
pub const MIN_REQUEST: u64 = 64 * 1024;
/// The most rounds of `NeedRange` a parser needs; a caller may stop after this many.
pub const MAX_ROUNDS: usize = 4096;
/// No single header read (a central directory, a pickle, a protobuf message header) may exceed this.
pub const MAX_HEADER_READ: u64 = 512 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Safetensors,
    Npy,
    Npz,
    Gguf,
    #[serde(rename = "pytorch")]
    PyTorch,
    Onnx,
    /// model.safetensors.index.json: a weight map naming the shard of each tensor.
    #[serde(rename = "safetensors-index")]
    SafetensorsIndex,
    Tflite,
    /// A TF.js model.json or weights manifest read on its own: no tensors yet, the shards to read
    /// as "shard" metadata (`tfjs::locate` places the weights once the shards' lengths are known).
    #[serde(rename = "tfjs-manifest")]
    TfjsManifest,
    /// A TF.js model with its shards: every weight in its shard (or split over two).
    Tfjs,
}

/// The header of a file: its tensors and where they are, plus any metadata it carries. Deserialize:
/// the page hands the indexes of shards back to `multi::merge_shards` as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileIndex {
    pub file: String,
    pub format: Format,
    pub file_len: u64,
    pub tensors: Vec<TensorInfo>,
    pub metadata: Vec<(String, String)>,
    /// What only this format carries, kept for the writers that carry it over. Not in the JSON
    /// the page gets (a GGUF vocabulary runs to megabytes): `export::make_plan` reads it again.
    #[serde(skip)]
    pub detail: FormatDetail,
}

/// Format-specific metadata beyond `FileIndex::metadata` (which shows everything as text).
#[derive(Debug, Clone, Default, PartialEq)]
pub enum FormatDetail {
    /// Nothing beyond the common index (every format but GGUF, and any index that came from JSON).
    #[default]
    None,
    /// GGUF: the key-value pairs with their types and stored bytes, so the GGUF export can carry
    /// them over unchanged.
    Gguf { key_values: Vec<gguf::KeyValue> },
}

impl FormatDetail {
    /// A GGUF file's typed key-values, or None when this detail is not GGUF's.
    pub fn gguf_key_values(&self) -> Option<&[gguf::KeyValue]> {
        match self {
            FormatDetail::Gguf { key_values } => Some(key_values),
            FormatDetail::None => None,
        }
    }
}

impl FileIndex {
    /// What the file holds besides weights to quantize, for the message when it has none:
    /// "holds no float weights: 42 I64 tensors (shape constants, indices), 1 BOOL tensor".
    pub fn holdings(&self) -> String {
        let mut by_dtype: Vec<(&'static str, usize)> = Vec::new();
        let mut parameters = 0;
        for t in self.tensors.iter().filter(|t| !t.is_quantizable()) {
            if t.parameter_of.is_some() {
                parameters += 1;
                continue;
            }
            match by_dtype.iter_mut().find(|(d, _)| *d == t.dtype.name()) {
                Some((_, n)) => *n += 1,
                None => by_dtype.push((t.dtype.name(), 1)),
            }
        }
        let mut parts: Vec<String> = by_dtype
            .into_iter()
            .map(|(d, n)| {
                let what = if matches!(d, "I64" | "I32") { " (shape constants, indices)" } else { "" };
                format!("{n} {d} tensor{}{what}", if n == 1 { "" } else { "s" })
            })
            .collect();
        if parameters > 0 {
            parts.push(format!("{parameters} quantization parameters (scales, zero points)"));
        }
        let unread = self.metadata.iter().filter(|(k, _)| k.starts_with("skipped ")).count();
        if unread > 0 {
            parts.push(format!("{unread} entries not read (see the metadata)"));
        }
        let quantizable = self.tensors.iter().filter(|t| t.is_quantizable()).count();
        match (quantizable, parts.is_empty()) {
            (0, true) => format!("{} holds no tensors", self.file),
            (0, false) => format!("{} holds no float weights: {}", self.file, parts.join(", ")),
            (n, true) => format!("{} holds {n} weights to quantize", self.file),
            (n, false) => format!("{} holds {n} weights to quantize, and {}", self.file, parts.join(", ")),
        }
    }

    pub fn tensor(&self, name: &str) -> Result<&TensorInfo> {
        self.tensors
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| Error::NoSuchTensor { file: self.file.clone(), tensor: name.to_string() })
    }
}

/// What a reader is shown of a file: enough for `sniff` to decide (it reads nothing more) and for
/// `open` to start from.
pub struct Probe<'a> {
    /// The file's name; its extension only breaks ties.
    pub file: &'a str,
    /// The first bytes handed over (`FIRST_READ`, or as many as a `NeedMoreBytes` asked for).
    pub prefix: &'a [u8],
    /// A zip's member list, for the readers that claim a zip by its members; None for other files.
    pub zip: Option<&'a zip::Archive>,
}

impl<'a> Probe<'a> {
    /// A probe without bytes, for opening a file whose format is already known with a reader
    /// that reads its header through the `RangeReader` from the start (GGUF, ONNX).
    pub fn known(file: &'a str) -> Self {
        Probe { file, prefix: &[], zip: None }
    }
}

/// Why a reader says a file is its format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The content says so: a magic, a header that parses, a zip's member names.
    Content,
    /// Only the file's name does. Counts when no reader claims the content, so that the
    /// reader's error then says what is wrong with the file.
    Name,
}

/// What a reader is handed: a file's bytes, or the members of a zip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    File,
    Zip,
}

/// One format's two entry points. Every format has the same two, so a format is added by one
/// module and one line in `READERS` (as netron registers its model factories, each with `match`
/// and `open`, one line each in source/view.js `ModelFactoryService`).
pub struct Reader {
    pub format: Format,
    pub reads: Reads,
    /// Whether the file is this format, from the probe alone.
    pub sniff: fn(&Probe) -> Option<Claim>,
    /// The index, read through `r`: in the page a miss is `Error::NeedRange`; a reader that
    /// parses the first bytes only asks for more of them with `Error::NeedMoreBytes`.
    pub open: fn(&Probe, &mut dyn RangeReader) -> Result<FileIndex>,
}

/// Every reader, in the order that breaks ties: the first content claim wins, and a name claim
/// counts only when no reader claims the content. Protobuf has no magic, so ONNX comes last.
pub static READERS: &[Reader] = &[
    Reader { format: Format::Npy, reads: Reads::File, sniff: npy::sniff, open: npy::open },
    Reader { format: Format::Gguf, reads: Reads::File, sniff: gguf::sniff, open: gguf::open },
    Reader { format: Format::PyTorch, reads: Reads::Zip, sniff: pytorch::sniff, open: pytorch::open },
    Reader { format: Format::Npz, reads: Reads::Zip, sniff: npz::sniff, open: npz::open },
    Reader { format: Format::PyTorch, reads: Reads::File, sniff: pytorch::sniff_legacy, open: pytorch::open_legacy },
    Reader { format: Format::Safetensors, reads: Reads::File, sniff: safetensors::sniff, open: safetensors::open },
    Reader { format: Format::SafetensorsIndex, reads: Reads::File, sniff: multi::sniff, open: multi::open },
    Reader { format: Format::Tflite, reads: Reads::File, sniff: tflite::sniff, open: tflite::open },
    Reader { format: Format::TfjsManifest, reads: Reads::File, sniff: tfjs::sniff, open: tfjs::open },
    Reader { format: Format::Onnx, reads: Reads::File, sniff: onnx::sniff, open: onnx::open },
];

/// The reader for a probe. A zip is what its members say, whatever its name says.
fn choose(probe: &Probe, reads: Reads) -> Result<&'static Reader> {
    let readers = || READERS.iter().filter(move |r| r.reads == reads);
    if let Some(reader) = readers().find(|r| (r.sniff)(probe) == Some(Claim::Content)) {
        return Ok(reader);
    }
    if let Some(archive) = probe.zip {
        let names: Vec<&str> = archive.members.iter().take(5).map(|m| m.name.as_str()).collect();
        return Err(Error::unsupported(
            probe.file,
            format!("a zip that is neither an .npz (no .npy members) nor a PyTorch checkpoint (no data.pkl); it holds {names:?}…"),
        ));
    }
    readers().find(|r| (r.sniff)(probe) == Some(Claim::Name)).ok_or_else(|| Error::UnknownFormat { file: probe.file.to_string() })
}

/// Picks the format from the content; the extension only breaks ties. A zip is reported as
/// .npz or PyTorch by its extension here (its members are not in the first bytes); `parse_index`
/// decides by the member names.
pub fn sniff(file: &str, prefix: &[u8]) -> Option<Format> {
    if zip::sniff(prefix) {
        return Some(if file.to_ascii_lowercase().ends_with(".npz") { Format::Npz } else { Format::PyTorch });
    }
    choose(&Probe { file, prefix, zip: None }, Reads::File).ok().map(|r| r.format)
}

/// Opens a file with the reader its first bytes (and, for a zip, its member list) choose.
fn open(file: &str, prefix: &[u8], r: &mut dyn RangeReader) -> Result<FileIndex> {
    let (archive, reads) = if zip::sniff(prefix) { (Some(zip::central_directory(r)?), Reads::Zip) } else { (None, Reads::File) };
    let probe = Probe { file, prefix, zip: archive.as_ref() };
    (choose(&probe, reads)?.open)(&probe, r)
}

/// Parses the index from the first bytes of a file of `file_len` bytes (formats whose header is
/// at the start). Zip, GGUF and ONNX files may answer `NeedRange`: use `parse_index_parts`.
pub fn parse_index(file: &str, prefix: &[u8], file_len: u64) -> Result<FileIndex> {
    parse_index_parts(file, &[(0, prefix)], file_len)
}

/// Parses the index from pieces of the file (offset, bytes) — see the contract at the top.
pub fn parse_index_parts(file: &str, pieces: &[(u64, &[u8])], file_len: u64) -> Result<FileIndex> {
    if file_len == 0 {
        return Err(Error::malformed(file, "the file is empty"));
    }
    let prefix = pieces.iter().filter(|p| p.0 == 0).map(|p| p.1).max_by_key(|p| p.len()).unwrap_or(&[]);
    open(file, prefix, &mut Pieces { file, pieces, len: file_len })
}

/// Random reads for header parsers. Natively it reads the file; in the page it holds the pieces
/// JS has handed over so far, and a miss becomes `Error::NeedRange`.
pub trait RangeReader {
    fn file(&self) -> &str;
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// `len` bytes at `offset`. Errors (never panics) when the range is past the end of the file
    /// or over `MAX_HEADER_READ`.
    fn read(&mut self, offset: u64, len: u64) -> Result<Vec<u8>>;
}

fn check_range(file: &str, file_len: u64, offset: u64, len: u64) -> Result<()> {
    if len > MAX_HEADER_READ {
        return Err(Error::malformed(file, format!("a header read of {len} bytes at offset {offset} is over the limit of {MAX_HEADER_READ}")));
    }
    match offset.checked_add(len) {
        Some(end) if end <= file_len => Ok(()),
        _ => Err(Error::malformed(
            file,
            format!("needs {len} bytes at offset {offset} but the file ends at {file_len} (truncated, or a length that lies)"),
        )),
    }
}

/// The pieces of a file handed over by the page.
pub struct Pieces<'a> {
    pub file: &'a str,
    pub pieces: &'a [(u64, &'a [u8])],
    pub len: u64,
}

impl RangeReader for Pieces<'_> {
    fn file(&self) -> &str {
        self.file
    }
    fn len(&self) -> u64 {
        self.len
    }
    fn read(&mut self, offset: u64, len: u64) -> Result<Vec<u8>> {
        check_range(self.file, self.len, offset, len)?;
        for (start, bytes) in self.pieces {
            if offset >= *start && start.checked_add(<[u8]>::len(bytes) as u64).is_some_and(|end| offset + len <= end) {
                let at = (offset - *start) as usize;
                return Ok(bytes[at..at + len as usize].to_vec());
            }
        }
        let want = len.max(MIN_REQUEST).min(self.len - offset);
        Err(Error::NeedRange { file: self.file.to_string(), offset, len: want })
    }
}

/// A `ByteSource` as a `RangeReader` (native reads).
pub struct SourceReader<'a> {
    pub file: &'a str,
    pub source: &'a mut dyn ByteSource,
}

impl RangeReader for SourceReader<'_> {
    fn file(&self) -> &str {
        self.file
    }
    fn len(&self) -> u64 {
        self.source.len()
    }
    fn read(&mut self, offset: u64, len: u64) -> Result<Vec<u8>> {
        check_range(self.file, self.source.len(), offset, len)?;
        let mut buf = vec![0u8; len as usize];
        self.source.read_at(offset, &mut buf)?;
        Ok(buf)
    }
}

/// Random access to the bytes of a file (a native file, or memory).
pub trait ByteSource {
    fn len(&self) -> u64;
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()>;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// A file next to this one (ONNX external data, a safetensors shard), by the relative name a
    /// header gave. Sources that cannot open other files say so.
    fn sibling(&mut self, name: &str) -> Result<Box<dyn ByteSource>> {
        Err(Error::unsupported(name, "this source cannot open files next to it; hand that file over too"))
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
/// A safetensors index JSON opens its shards through `ByteSource::sibling`.
pub fn read_index(file: &str, source: &mut dyn ByteSource) -> Result<FileIndex> {
    let len = source.len();
    if len == 0 {
        return Err(Error::malformed(file, "the file is empty"));
    }
    let mut want = (FIRST_READ as u64).min(len);
    loop {
        let mut prefix = vec![0u8; want as usize];
        source.read_at(0, &mut prefix)?;
        let opened = open(file, &prefix, &mut SourceReader { file, source });
        match opened {
            Err(Error::NeedMoreBytes { needed, .. }) if needed > want && needed <= len => want = needed,
            // Natively the shards the index JSON names can be opened next to it.
            Ok(index) if index.format == Format::SafetensorsIndex => {
                return multi::open_shards(file, multi::parse_shard_map(file, &prefix, len)?, source)
            }
            // So are a TF.js manifest's shards, whose lengths place its weights.
            Ok(index) if index.format == Format::TfjsManifest => return tfjs::open_shards(file, &prefix, source),
            other => return other,
        }
    }
}

/// Reads one tensor's stored bytes (`info.stored_range()`) as they are in the file, from the sibling
/// file it names (ONNX external data, a safetensors shard) when it is not the indexed file.
pub fn read_stored(source: &mut dyn ByteSource, info: &TensorInfo) -> Result<Vec<u8>> {
    let (_, stored) = info.stored_range();
    let stored_len = usize::try_from(stored)
        .map_err(|_| Error::unsupported(&info.name, "tensor larger than this machine's address space"))?;
    if let Storage::Split { parts } = &info.storage {
        return read_split(source, info, parts, stored_len);
    }
    with_stored_source(source, info, |source, offset, _| {
        let mut buf = vec![0u8; stored_len];
        source.read_at(offset, &mut buf)?;
        Ok(buf)
    })
}

/// Reads the parts of a tensor whose bytes run over several files (each from its sibling file) or
/// ranges (a part with an empty file name is in the tensor's own file: `data_file`, else `source`).
fn read_split(source: &mut dyn ByteSource, info: &TensorInfo, parts: &[crate::tensor::FilePart], stored_len: usize) -> Result<Vec<u8>> {
    let total = parts.iter().try_fold(0u64, |a, p| a.checked_add(p.len));
    if total != Some(stored_len as u64) {
        return Err(Error::malformed(&info.name, format!("tensor '{}': its parts add up to {total:?} bytes, not its {stored_len}", info.name)));
    }
    let mut buf = Vec::with_capacity(stored_len);
    for part in parts {
        let own = part.file.is_empty();
        let name = if own { info.data_file.as_deref().unwrap_or(&info.name) } else { part.file.as_str() };
        let mut sibling;
        let file: &mut dyn ByteSource = match (own, &info.data_file) {
            (true, None) => &mut *source,
            (true, Some(data_file)) => {
                sibling = source.sibling(data_file)?;
                sibling.as_mut()
            }
            (false, _) => {
                sibling = source.sibling(&part.file)?;
                sibling.as_mut()
            }
        };
        if part.offset.checked_add(part.len).is_none_or(|end| end > file.len()) {
            return Err(Error::malformed(
                name,
                format!("tensor '{}' needs bytes {}..{} of it but the file is {} bytes", info.name, part.offset, part.offset.saturating_add(part.len), file.len()),
            ));
        }
        let at = buf.len();
        buf.resize(at + part.len as usize, 0);
        file.read_at(part.offset, &mut buf[at..])?;
    }
    Ok(buf)
}

/// Calls `f` with the source that holds the tensor's stored bytes (the sibling file it names, if
/// any) and their offset and length, once they are known to lie inside it.
fn with_stored_source<T>(
    source: &mut dyn ByteSource,
    info: &TensorInfo,
    f: impl FnOnce(&mut dyn ByteSource, u64, u64) -> Result<T>,
) -> Result<T> {
    let (offset, stored) = info.stored_range();
    let mut sibling;
    let source: &mut dyn ByteSource = match &info.data_file {
        Some(name) => {
            sibling = source.sibling(name)?;
            sibling.as_mut()
        }
        None => source,
    };
    if offset.checked_add(stored).is_none_or(|end| end > source.len()) {
        return Err(Error::malformed(
            info.data_file.as_deref().unwrap_or(&info.name),
            format!("tensor '{}' needs bytes {offset}..{} but the file is {} bytes", info.name, offset.saturating_add(stored), source.len()),
        ));
    }
    f(source, offset, stored)
}

/// Reads one tensor's element bytes (inflated / unpacked as its storage says; from the sibling
/// file it names, if any).
pub fn read_tensor_bytes(source: &mut dyn ByteSource, info: &TensorInfo) -> Result<Vec<u8>> {
    element_bytes(info, read_stored(source, info)?)
}

/// Turns a tensor's stored bytes (`info.stored_range()` of its file) into its element bytes.
pub fn element_bytes(info: &TensorInfo, stored: Vec<u8>) -> Result<Vec<u8>> {
    let bad = |what: String| Error::malformed(&info.name, format!("tensor '{}': {what}", info.name));
    let (_, stored_len) = info.stored_range();
    if stored.len() as u64 != stored_len {
        return Err(bad(format!("{} stored bytes were given where {stored_len} are stored", stored.len())));
    }
    match info.storage {
        Storage::Raw | Storage::Split { .. } => Ok(stored),
        Storage::Deflate { inflated_len, crc32, skip, .. } => {
            let end = skip.checked_add(info.byte_len).filter(|&e| e <= inflated_len);
            let end = end.ok_or_else(|| bad(format!("bytes {skip}+{} lie outside the {inflated_len}-byte member", info.byte_len)))?;
            let mut inflated = zip::inflate(&info.name, &stored, inflated_len, crc32)?;
            drop(stored);
            // In place: no second copy of the tensor in (wasm) memory.
            inflated.truncate(end as usize);
            inflated.drain(..skip as usize);
            Ok(inflated)
        }
        Storage::Varint16 { .. } => onnx::unpack_varint16(&info.name, &stored, info.byte_len),
        Storage::Varints { .. } => onnx::unpack_varints(&info.name, &stored, info.dtype.size(), info.byte_len),
    }
}

/// Reads a tensor as f32 values in C order, in chunks of whole rows (last axis) of about
/// `chunk_elements` values, and hands each to `f`: memory holds one chunk, not the tensor. Stored
/// bytes that must be undone whole (deflated, varint-packed, Fortran order, rows that are not whole
/// ggml blocks) are decoded at once and then handed over in the same chunks.
pub fn for_each_chunk(
    source: &mut dyn ByteSource,
    info: &TensorInfo,
    chunk_elements: usize,
    mut f: impl FnMut(&[f32]) -> Result<()>,
) -> Result<()> {
    let n = crate::tensor::checked_element_count(&info.shape)
        .ok_or_else(|| Error::malformed(&info.name, format!("tensor '{}': shape {:?} overflows the element count", info.name, info.shape)))?;
    let row_len = info.shape.last().copied().unwrap_or(1).max(1);
    let Some((rows, row_bytes)) = row_reads(info) else {
        let x = crate::tensor::decode_to_f32(info, &read_tensor_bytes(source, info)?)?;
        for c in x.chunks(chunk_elements.max(1)) {
            f(c)?;
        }
        return Ok(());
    };
    if Some(info.byte_len) != info.dtype.bytes_for(n as u64) {
        return Err(Error::malformed(&info.name, format!("tensor '{}' has {} bytes for {n} elements of {}", info.name, info.byte_len, info.dtype.name())));
    }
    with_stored_source(source, info, |source, offset, _| read_rows(source, info, offset, rows, row_len, row_bytes, chunk_elements, f))
}

/// Whether a tensor's stored bytes can be read a few whole rows at a time, each piece decoded on its
/// own (raw storage, C order, rows of whole ggml blocks): Some((rows, bytes per row)) from the start of
/// its stored range, else None (deflated, varint-packed, Fortran order: decoded at once).
pub fn row_reads(info: &TensorInfo) -> Option<(usize, u64)> {
    let n = crate::tensor::checked_element_count(&info.shape)?;
    let row_len = info.shape.last().copied().unwrap_or(1).max(1);
    let rows = n / row_len;
    let streamable = info.storage == Storage::Raw && !(info.fortran_order && info.shape.len() > 1) && rows * row_len == n;
    Some((rows, info.dtype.bytes_for(row_len as u64)?)).filter(|_| streamable)
}

/// Reads whole rows from `offset` on, `chunk_elements` values at a time, decoded for `f`.
#[allow(clippy::too_many_arguments)]
fn read_rows(
    source: &mut dyn ByteSource,
    info: &TensorInfo,
    offset: u64,
    rows: usize,
    row_len: usize,
    row_bytes: u64,
    chunk_elements: usize,
    mut f: impl FnMut(&[f32]) -> Result<()>,
) -> Result<()> {
    let rows_per_chunk = (chunk_elements / row_len).max(1);
    let mut buf = Vec::new();
    let mut row = 0;
    while row < rows {
        let k = rows_per_chunk.min(rows - row);
        let bytes = k as u64 * row_bytes;
        buf.resize(bytes as usize, 0);
        source.read_at(offset + row as u64 * row_bytes, &mut buf)?;
        f(&crate::tensor::decode_rows_to_f32(info, &buf)?)?;
        row += k;
    }
    Ok(())
}

/// A tensor's stored bytes (`info.stored_range()`) to f32 values in C order: what the page calls.
pub fn decode_tensor(info: &TensorInfo, stored: Vec<u8>) -> Result<Vec<f32>> {
    let bytes = element_bytes(info, stored)?;
    crate::tensor::decode_to_f32(info, &bytes)
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
    fn sibling(&mut self, name: &str) -> Result<Box<dyn ByteSource>> {
        let path = multi::sibling_path(&self.path, name)?;
        Ok(Box::new(FileSource::open(&path)?))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_has_a_reader() {
        let all = [Format::Safetensors, Format::Npy, Format::Npz, Format::Gguf, Format::PyTorch, Format::Onnx, Format::SafetensorsIndex, Format::Tflite, Format::TfjsManifest];
        for format in all {
            // Exhaustive, so a new Format does not compile here until it is listed above.
            match format {
                Format::Safetensors | Format::Npy | Format::Npz | Format::Gguf | Format::PyTorch | Format::Onnx | Format::SafetensorsIndex | Format::Tflite | Format::TfjsManifest => {}
                // Made from a manifest and its shards (tfjs::locate), not read by a reader itself.
                Format::Tfjs => continue,
            }
            assert!(READERS.iter().any(|r| r.format == format), "{format:?} has no line in READERS");
        }
    }

    #[test]
    fn content_wins_over_the_name_and_a_zip_is_what_its_members_say() {
        let npy = npy::write("<f4", &[1], &[0, 0, 128, 63]);
        assert_eq!(sniff("weights.safetensors", &npy), Some(Format::Npy));
        assert_eq!(sniff("weights.safetensors", b"short"), Some(Format::Safetensors));
        assert_eq!(sniff("weights.bin", b"short"), None);
        // A zip's member names decide, whatever the file is called.
        let pt: &[u8] = include_bytes!("../../tests/fixtures/formats/w.pt");
        assert_eq!(parse_index("w.npz", pt, pt.len() as u64).unwrap().format, Format::PyTorch);
        let npz: &[u8] = include_bytes!("../../tests/fixtures/formats/stored.npz");
        assert_eq!(parse_index("w.pt", npz, npz.len() as u64).unwrap().format, Format::Npz);
    }
}
