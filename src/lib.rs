//! quant-playground: what FP16, BF16, INT8 and INT4 do to your weights, computed by one Rust core
//! that runs natively (library and CLI) and in the browser (wasm32 + SIMD128).
//!
//! The numerics contract is in DESIGN.md and README.md; `quant` implements it, `kernels` holds the
//! hot loops (scalar reference + SIMD twins), `formats` reads weight files lazily.

pub mod calib;
pub mod error;
pub mod explore;
pub mod export;
pub mod formats;
pub mod graph;
pub mod kernels;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod quant;
pub mod report;
pub mod synthetic;
pub mod tensor;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use error::{Error, Result};
