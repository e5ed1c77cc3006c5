#!/usr/bin/env python3
"""Writes src/quant/ggml/iq_grids.rs: ggml's IQ lattice tables, generated from data, never pasted.

The source is the PyPI `gguf` package (gguf-py, the llama.cpp project's own Python reader): its
gguf/quants.py carries each IQ type's grid as `grid_hex` (every byte of ggml's table packed into 2 or
3 bits, indices into `grid_map`), which `init_grid()` unpacks, and `IQ2_XXS.ksigns` (ggml's
ksigns_iq2xs). Each grid entry is written the way ggml-common.h declares it (iq2*_grid and iq1s_grid
as uint64, iq3*_grid as uint32; byte j of the little-endian word is element j), so the file can be
read against ggml's tables line by line.

    python3 scripts/make_iq_grids.py        # needs numpy and gguf (scripts/requirements.txt pins them)
"""
import os

import gguf
import numpy as np
from gguf import quants

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "src", "quant", "ggml", "iq_grids.rs")

# (Rust name, gguf-py class, ggml's table name, bytes per entry, what the bytes are)
GRIDS = [
    ("IQ2XXS_GRID", quants.IQ2_XXS, "iq2xxs_grid", 8, "magnitudes from {8, 25, 43}"),
    ("IQ2XS_GRID", quants.IQ2_XS, "iq2xs_grid", 8, "magnitudes from {8, 25, 43}"),
    ("IQ2S_GRID", quants.IQ2_S, "iq2s_grid", 8, "magnitudes from {8, 25, 43}"),
    ("IQ3XXS_GRID", quants.IQ3_XXS, "iq3xxs_grid", 4, "magnitudes from {4, 12, 20, 28, 36, 44, 52, 62}"),
    ("IQ3S_GRID", quants.IQ3_S, "iq3s_grid", 4, "magnitudes from {1, 3, 5, …, 15}"),
    ("IQ1S_GRID", quants.IQ1_S, "iq1s_grid", 8, "int8 values from {−1, 0, 1}"),
]


def entries(cls, width):
    """The table as ggml's integer words: byte j (little-endian) = element j of the grid point."""
    cls.init_grid()
    grid = np.asarray(cls.grid, dtype=np.float32).reshape(cls.grid_shape)
    assert grid.shape[1] == width, cls.__name__
    ints = grid.astype(np.int64)
    assert np.array_equal(ints.astype(np.float32), grid), "grid values are integers"
    as_bytes = (ints & 0xFF).astype(np.uint8)  # int8 −1 → 0xff, as iq1s_grid stores it
    word = np.dtype("<u8" if width == 8 else "<u4")
    return as_bytes.reshape(-1).view(word).tolist()


def rust_table(name, words, width, per_line):
    ty = "u64" if width == 8 else "u32"
    digits = 2 * width
    lines = [f"pub(super) const {name}: [{ty}; {len(words)}] = ["]
    for i in range(0, len(words), per_line):
        lines.append("    " + " ".join(f"0x{w:0{digits}x}," for w in words[i:i + per_line]))
    lines.append("];")
    return "\n".join(lines)


def main():
    version = getattr(gguf, "__version__", None)
    if version is None:
        from importlib.metadata import version as dist_version
        version = dist_version("gguf")
    parts = [
        "//! ggml's IQ lattice tables (ggml-common.h), GENERATED: do not edit.",
        f"//! Made by scripts/make_iq_grids.py from the PyPI package gguf {version} (gguf/quants.py's",
        "//! `grid_hex` / `grid_map` as its `init_grid()` unpacks them, and `IQ2_XXS.ksigns`), numpy "
        + np.__version__ + ".",
        "//! Each entry is ggml's word: byte j (little-endian) is element j of the grid point.",
        "",
    ]
    for name, cls, ggml_name, width, what in GRIDS:
        words = entries(cls, width)
        parts.append(f"/// {ggml_name}: {len(words)} points of {width} {what}.")
        parts.append(rust_table(name, words, width, 4 if width == 8 else 8))
        parts.append("")
    ksigns = list(np.frombuffer(quants.IQ2_XXS.ksigns, dtype=np.uint8))
    assert len(ksigns) == 128
    parts.append("/// ksigns_iq2xs: the sign bits of 8 values from 7 stored bits (bit 7 makes the count of")
    parts.append("/// minus signs even).")
    parts.append("pub(super) const KSIGNS_IQ2XS: [u8; 128] = [")
    for i in range(0, 128, 16):
        parts.append("    " + " ".join(f"{v}," for v in ksigns[i:i + 16]))
    parts.append("];")
    parts.append("")
    with open(OUT, "w") as f:
        f.write("\n".join(parts))
    print(f"wrote {os.path.normpath(OUT)} (gguf {version})")


if __name__ == "__main__":
    main()
