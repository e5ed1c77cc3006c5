//! One error type for the whole core. Every bad input becomes a variant whose message says
//! which file, which tensor and what is wrong, so the CLI and the page can show it as is.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The bytes do not follow the format: `file` names the input, `detail` says what and where.
    Malformed { file: String, detail: String },
    /// The format or dtype is understood but not supported by this tool.
    Unsupported { file: String, detail: String },
    /// The content matched no format the playground knows.
    UnknownFormat { file: String },
    /// A tensor name that the file does not contain.
    NoSuchTensor { file: String, tensor: String },
    /// The tensor exists but cannot be quantized (integer, bool, fp8 dtypes).
    NotQuantizable { tensor: String, dtype: String },
    /// A quantization setting out of its allowed set.
    InvalidSpec(String),
    /// The header asks the caller for more leading bytes before it can be parsed (lazy reading).
    NeedMoreBytes { file: String, needed: u64 },
    /// The index needs `len` bytes at `offset` (a zip central directory at the end, a member's
    /// header, the next part of a protobuf or GGUF header); hand them over and parse again.
    NeedRange { file: String, offset: u64, len: u64 },
    /// An operating-system error while reading or writing a file (native only).
    Io { path: String, detail: String },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn malformed(file: &str, detail: impl Into<String>) -> Self {
        Error::Malformed { file: file.to_string(), detail: detail.into() }
    }
    pub fn unsupported(file: &str, detail: impl Into<String>) -> Self {
        Error::Unsupported { file: file.to_string(), detail: detail.into() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Malformed { file, detail } => write!(f, "{file}: malformed file: {detail}"),
            Error::Unsupported { file, detail } => write!(f, "{file}: not supported: {detail}"),
            Error::UnknownFormat { file } => write!(
                f,
                "{file}: not a file format the playground reads (expected .safetensors, .npy, .npz, .gguf, a PyTorch .pt/.bin/.pth zip, .onnx, .tflite, or a TF.js model.json opened with its .bin shards)"
            ),
            Error::NoSuchTensor { file, tensor } => write!(f, "{file}: no tensor named '{tensor}'"),
            Error::NotQuantizable { tensor, dtype } => write!(
                f,
                "tensor '{tensor}' has dtype {dtype}, which this tool cannot decode to floats; F64, F32, F16, BF16 and the ggml types Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q6_K are quantized"
            ),
            Error::InvalidSpec(detail) => write!(f, "invalid quantization setting: {detail}"),
            Error::NeedMoreBytes { file, needed } => {
                write!(f, "{file}: the header needs the first {needed} bytes of the file")
            }
            Error::NeedRange { file, offset, len } => {
                write!(f, "{file}: the header needs {len} bytes at offset {offset}")
            }
            Error::Io { path, detail } => write!(f, "{path}: {detail}"),
        }
    }
}

impl std::error::Error for Error {}
