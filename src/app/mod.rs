//! What the page and the CLI present, above the library: the comparison report (`report`), the page's
//! pictures and sweeps (`explore`), the Outputs view's step-by-step INT8 trace (`trace`), the embedded
//! digits example (`example`), the seeded synthetic sets (`synthetic`), the lecture walk-through (`lesson`), a quantized copy against ours (`theirs`) and how the page times the
//! module (`speed`). Each has one serde schema that the CLI's JSON and the page share. The library (quant, calib, kernels, formats, export,
//! metrics, tensor) never uses this module.

pub mod example;
pub mod explore;
pub mod lesson;
pub mod report;
pub mod speed;
pub mod synthetic;
pub mod theirs;
pub mod trace;
