//! Decoders that more than one format (or writer) shares, apart from the formats themselves:
//! a lazy protobuf walk (ONNX, the ONNX QDQ export) and a restricted unpickler (PyTorch).

pub(crate) mod protobuf;
pub mod pickle;
