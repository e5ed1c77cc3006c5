//! IQ4_NL: 32 values as 4-bit indices into ggml's non-linear table kvalues_iq4nl against an fp16 d;
//! y = d·k[q]. Read only: ggml's reference quantizer leaves an all-zero block's codes at whatever
//! the previous block chose (its L buffer is not cleared), which a per-block quantizer cannot repeat.

use super::{read_f16, GgmlBlock, QK};
use std::mem::{offset_of, size_of};

/// block_iq4_nl (ggml-common.h).
#[repr(C)]
struct BlockIq4Nl {
    d: [u8; 2],
    qs: [u8; QK / 2],
}
const _: () = assert!(size_of::<BlockIq4Nl>() == 18);

/// kvalues_iq4nl (ggml-common.h).
pub(super) const KVALUES_IQ4NL: [i8; 16] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

pub struct IQ4_NL;

impl GgmlBlock for IQ4_NL {
    const ID: u32 = 20;
    const NAME: &'static str = "IQ4_NL";
    const BLOCK_LEN: usize = QK;
    const BLOCK_BYTES: usize = size_of::<BlockIq4Nl>();
    const CODE_BITS: u8 = 4;

    /// dequantize_row_iq4_nl: byte j holds values j (low nibble) and j + 16.
    fn dequantize_block(b: &[u8], y: &mut [f32]) {
        let d = read_f16(b, offset_of!(BlockIq4Nl, d));
        for (j, &q) in b[offset_of!(BlockIq4Nl, qs)..][..QK / 2].iter().enumerate() {
            y[j] = d * KVALUES_IQ4NL[(q & 0x0F) as usize] as f32;
            y[j + QK / 2] = d * KVALUES_IQ4NL[(q >> 4) as usize] as f32;
        }
    }
}
