pub mod gemm;
pub mod lut4;
