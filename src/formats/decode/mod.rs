//! Decoders that more than one format (or writer) shares, apart from the formats themselves:
//! a lazy protobuf walk (ONNX, the ONNX QDQ export), a bounds-checked FlatBuffers reader (TFLite)
//! and a restricted unpickler (PyTorch).

pub(crate) mod flatbuffers;
pub(crate) mod protobuf;
pub mod pickle;
