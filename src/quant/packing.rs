//! Bit packing of b-bit codes, least significant bits first: element i occupies bits
//! [i·b, (i+1)·b) of the byte stream. For b = 4 that is the contract's INT4 layout: element 2i
//! in the low nibble and 2i+1 in the high nibble of byte i.

use crate::error::{Error, Result};

/// Packs codes (signed codes as their b-bit two's complement) into ceil(n·b/8) bytes.
pub fn pack(codes: impl ExactSizeIterator<Item = i32>, bits: u8) -> Vec<u8> {
    assert!((1..=8).contains(&bits));
    let n = codes.len();
    let mut out = vec![0u8; (n * bits as usize).div_ceil(8)];
    let mask = (1u32 << bits) - 1;
    let mut bit = 0usize;
    for c in codes {
        let v = (c as u32) & mask;
        let (byte, shift) = (bit / 8, bit % 8);
        let wide = v << shift;
        out[byte] |= wide as u8;
        if shift + bits as usize > 8 {
            out[byte + 1] |= (wide >> 8) as u8;
        }
        bit += bits as usize;
    }
    out
}

/// Unpacks `n` codes; `signed` sign-extends each b-bit field.
pub fn unpack(packed: &[u8], bits: u8, n: usize, signed: bool) -> Result<Vec<i32>> {
    if !(1..=8).contains(&bits) {
        return Err(Error::InvalidSpec(format!("bits must be 1..=8, got {bits}")));
    }
    // Checked: a count from a file could make n·bits wrap to a small number and pass the length check.
    let need = n
        .checked_mul(bits as usize)
        .map(|b| b.div_ceil(8))
        .ok_or_else(|| Error::InvalidSpec(format!("{n} codes of {bits} bits overflow the address space")))?;
    if packed.len() < need {
        return Err(Error::InvalidSpec(format!("{n} codes of {bits} bits need {need} bytes, got {}", packed.len())));
    }
    let mask = (1u32 << bits) - 1;
    Ok((0..n)
        .map(|i| {
            let bit = i * bits as usize;
            let (byte, shift) = (bit / 8, bit % 8);
            let mut wide = packed[byte] as u32;
            if shift + bits as usize > 8 {
                wide |= (packed[byte + 1] as u32) << 8;
            }
            let v = (wide >> shift) & mask;
            if signed && v >> (bits - 1) == 1 {
                v as i32 - (1 << bits)
            } else {
                v as i32
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int4_nibble_order() {
        // Element 0 in the low nibble, element 1 in the high nibble.
        assert_eq!(pack([1, 2, 3].into_iter(), 4), vec![0x21, 0x03]);
        assert_eq!(pack([-1, 7].into_iter(), 4), vec![0x7F]);
        assert_eq!(unpack(&[0x7F], 4, 2, true).unwrap(), vec![-1, 7]);
        assert_eq!(unpack(&[0x7F], 4, 2, false).unwrap(), vec![15, 7]);
    }

    #[test]
    fn odd_widths_cross_byte_boundaries() {
        let codes = vec![5, 1, 7, 0, 6, 3];
        let packed = pack(codes.iter().copied(), 3);
        assert_eq!(packed.len(), 3);
        assert_eq!(unpack(&packed, 3, 6, false).unwrap(), codes);
    }

    #[test]
    fn short_buffer_is_an_error() {
        assert!(unpack(&[0], 4, 3, false).is_err());
    }
}
