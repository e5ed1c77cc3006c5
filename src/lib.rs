//! quant-playground: what FP16, BF16, INT8 and INT4 do to your weights, computed by one Rust core
//! that runs natively (library and CLI) and in the browser (wasm32 + SIMD128).
//!
//! The numerics contract is in DESIGN.md and README.md; `quant` implements it, `calib` picks ranges,
//! `kernels` holds the hot loops (scalar reference + SIMD twins), `formats` reads weight files lazily,
//! `export` writes them, `metrics` measures the error. `app` is what the page and the CLI present on
//! top of that library; `wasm` (wasm32 only) converts and delegates for the page.

pub mod app;
pub mod calib;
pub mod error;
pub mod export;
pub mod formats;
pub mod graph;
pub mod kernels;
pub mod metrics;
pub mod quant;
pub mod tensor;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use error::{Error, Result};
