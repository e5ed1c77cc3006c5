#!/usr/bin/env python3
"""Reference bytes for the GGUF export: ggml's OWN quantizers, called from its shared library.

Writes tests/fixtures/export/gguf/: for each case an input `<case>.npy` (f32, rows of a multiple of
256 values) and, for each ggml type, `<case>.<TYPE>.bin` = the bytes ggml's `quantize_row_<type>_ref`
makes of it; manifest.json lists every file with its sha256, the FNV-1a-64 hash of the f32 values
ggml's `dequantize_row_<type>` gives back from those bytes (tests/export_gguf.rs recomputes both
with our Rust code), and whether the gguf Python package's own quantizer (gguf.quants.quantize)
gives the same bytes.

Getting ggml's library (no build needed; it is a prebuilt llama.cpp from npm):
    cd /tmp && npm pack @node-llama-cpp/linux-x64@3.22.1 && mkdir -p nlc && tar xzf node-llama-cpp-linux-x64-3.22.1.tgz -C nlc
    # -> /tmp/nlc/package/bins/linux-x64/libggml-base.so (exports quantize_row_*_ref, dequantize_row_*)
    python3 scripts/make_gguf_export_reference.py [--lib /tmp/nlc/package/bins/linux-x64/libggml-base.so]
Needs python3 with numpy and gguf (scripts/requirements.txt pins the versions used).
"""
import argparse
import ctypes
import hashlib
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "export", "gguf")
DEFAULT_LIB = "/tmp/nlc/package/bins/linux-x64/libggml-base.so"

# ggml type: (C name, elements per block, bytes per block)
TYPES = {
    "Q8_0": ("q8_0", 32, 34),
    "Q4_0": ("q4_0", 32, 18),
    "Q4_1": ("q4_1", 32, 20),
    "Q5_0": ("q5_0", 32, 22),
    "Q5_1": ("q5_1", 32, 24),
    "Q4_K": ("q4_K", 256, 144),
    "Q6_K": ("q6_K", 256, 210),
    "Q2_K": ("q2_K", 256, 84),
    "Q3_K": ("q3_K", 256, 110),
    "Q5_K": ("q5_K", 256, 176),
    "Q8_K": ("q8_K", 256, 292),
    "IQ4_NL": ("iq4_nl", 32, 18),
    "IQ4_XS": ("iq4_xs", 256, 136),
    "TQ1_0": ("tq1_0", 256, 54),
    "TQ2_0": ("tq2_0", 256, 66),
    "MXFP4": ("mxfp4", 32, 17),
}


def fnv1a64(data: bytes) -> str:
    """FNV-1a 64-bit, as hex: a dependency-free exact fingerprint the Rust test recomputes."""
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def cases():
    """Named inputs: several distributions and the edge cases the reference rounding must match."""
    rng = np.random.default_rng(20261127)
    n = 256
    out = {}
    out["normal_small"] = rng.normal(0, 0.02, (16, n))
    out["normal_unit_512"] = rng.normal(0, 1, (8, 2 * n))
    out["student_t2_heavy_tail"] = rng.standard_t(2, (16, n)) * 0.05
    w = rng.normal(0, 0.02, (16, n))
    mask = rng.random((16, n)) < 0.01
    w[mask] *= 80.0  # sparse outliers, as in LLM weights
    out["outliers"] = w
    out["laplace"] = rng.laplace(0, 0.1, (8, n))
    out["uniform"] = rng.uniform(-1, 1, (8, n))
    out["positive_only"] = np.concatenate([rng.uniform(0.5, 2.0, (4, n)), np.maximum(rng.normal(0, 1, (4, n)), 0)])
    out["all_zero"] = np.zeros((4, n))
    tiny = rng.normal(0, 1e-6, (8, n))
    tiny[4:] = rng.normal(0, 1e-20, (4, n))  # fp16 scales underflow; below GROUP_MAX_EPS for some groups
    out["tiny"] = tiny
    const = np.empty((4, n))
    const[0], const[1], const[2], const[3] = 0.37, -2.0, 1.0, -1e-3
    out["constant"] = const
    # Exact .5 ties after scaling: with amax 127 (Q8_0 d = 1), max −8 (Q4_0 d = 1), min 0 / max 15
    # (Q4_1 d = 1) and power-of-two steps, x/d lands on k + 0.5 where roundf and round-half-even differ.
    ties = np.zeros((8, n))
    k = np.arange(n)
    ties[0] = (k % 255) - 127 + 0.5
    ties[0][::32] = 127.0
    ties[1] = ((k % 16) - 8) + 0.5
    ties[1][::32] = -8.0
    ties[2] = (k % 16) + 0.5
    ties[2][::32] = 0.0
    ties[2][1::32] = 15.0
    ties[3] = ((k % 64) - 32) * 0.5
    ties[4] = ((k % 7) - 3) * 0.25
    ties[5] = np.where(k % 2 == 0, 0.5, -0.5)
    ties[6] = ((k % 32) - 16) * 0.125
    ties[6][::16] = 2.0
    ties[7] = ((k * 37) % 61 - 30) / 8.0
    out["half_ties"] = ties
    # Every 32-block on its own magnitude (k-quant sub-block scales span many octaves).
    mags = 10.0 ** rng.uniform(-4, 2, (8, n // 32))
    out["mixed_block_scales"] = rng.normal(0, 1, (8, n)) * np.repeat(mags, 32, axis=1)
    sparse = np.zeros((8, n))
    idx = rng.random((8, n)) < 0.03
    sparse[idx] = rng.normal(0, 1, idx.sum())
    out["sparse"] = sparse
    out["large_magnitude"] = rng.normal(0, 300, (4, n))
    # NaN and ±Inf among normal values: what ggml's C casts and nearest_int make of them.
    nf = rng.normal(0, 1, (4, n))
    nf[0, 3] = np.nan
    nf[1, 40] = np.inf
    nf[2, 100] = -np.inf
    nf[3, 7] = np.nan
    nf[3, 200] = np.inf
    out["nonfinite"] = nf
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", default=DEFAULT_LIB, help="ggml's libggml-base.so")
    args = ap.parse_args()
    lib = ctypes.CDLL(args.lib)
    fp = ctypes.POINTER(ctypes.c_float)
    for cname, _, _ in TYPES.values():
        q = getattr(lib, f"quantize_row_{cname}_ref")
        q.argtypes = [fp, ctypes.c_void_p, ctypes.c_int64]
        q.restype = None
        d = getattr(lib, f"dequantize_row_{cname}")
        d.argtypes = [ctypes.c_void_p, fp, ctypes.c_int64]
        d.restype = None

    import gguf

    os.makedirs(OUT, exist_ok=True)
    manifest = {
        "made_by": "scripts/make_gguf_export_reference.py",
        "ggml_library": "libggml-base.so of npm @node-llama-cpp/linux-x64@3.22.1 (llama.cpp as built by node-llama-cpp)",
        "gguf_python": gguf.__version__ if hasattr(gguf, "__version__") else "gguf (version unknown)",
        "numpy": np.__version__,
        "dequantized_hash": "FNV-1a 64 of the little-endian f32 values dequantize_row_<type> gives",
        "cases": [],
    }
    for name, x in cases().items():
        np.save(os.path.join(OUT, f"{name}.npy"), x)
        entry = {"name": name, "shape": list(x.shape), "input": f"{name}.npy",
                 "input_sha256": hashlib.sha256(open(os.path.join(OUT, f"{name}.npy"), "rb").read()).hexdigest(),
                 "types": {}}
        flat = x.reshape(-1)
        for tname, (cname, block, size) in TYPES.items():
            nbytes = flat.size // block * size
            buf = ctypes.create_string_buffer(nbytes)
            getattr(lib, f"quantize_row_{cname}_ref")(flat.ctypes.data_as(fp), buf, flat.size)
            raw = buf.raw
            back = np.zeros(flat.size, dtype=np.float32)
            getattr(lib, f"dequantize_row_{cname}")(raw, back.ctypes.data_as(fp), flat.size)
            fname = f"{name}.{tname}.bin"
            with open(os.path.join(OUT, fname), "wb") as f:
                f.write(raw)
            qt = getattr(gguf.GGMLQuantizationType, tname)
            if tname == "Q8_K":
                # gguf-py has no dequantizer for Q8_K (ggml's dot-product intermediate, never in files).
                entry["types"][tname] = {"file": fname, "sha256": hashlib.sha256(raw).hexdigest(),
                                         "dequantized_fnv1a64": fnv1a64(back.astype("<f4").tobytes()),
                                         "gguf_py_quantize_agrees": None, "gguf_py_dequantize_agrees": None}
                continue
            try:
                with np.errstate(all="ignore"):
                    py = gguf.quants.quantize(x, qt).tobytes()
                agrees = py == raw
            except NotImplementedError:
                agrees = None  # gguf-py has no quantizer for this type
            # gguf-py's dequantizer of ggml's bytes: the same f32 values as ggml's?
            with np.errstate(all="ignore"):
                py_back = np.asarray(gguf.quants.dequantize(np.frombuffer(raw, np.uint8).reshape(x.shape[0], -1), qt),
                                     np.float32).reshape(-1)
            entry["types"][tname] = {
                "file": fname,
                "sha256": hashlib.sha256(raw).hexdigest(),
                "dequantized_fnv1a64": fnv1a64(back.astype("<f4").tobytes()),
                "gguf_py_quantize_agrees": agrees,
                "gguf_py_dequantize_agrees": bool(np.array_equal(py_back.view(np.uint32), back.view(np.uint32))),
            }
        manifest["cases"].append(entry)
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, p)) for p in os.listdir(OUT))
    rows = sum(c["shape"][0] for c in manifest["cases"])
    agree = {t: [c["types"][t]["gguf_py_quantize_agrees"] for c in manifest["cases"]] for t in TYPES}
    print(f"{len(manifest['cases'])} cases, {rows} rows, {total} bytes in {OUT}")
    for t, a in agree.items():
        print(f"  gguf.quants.quantize agrees with ggml on {t}: "
              + ("no quantizer in gguf-py" if a[0] is None else f"{sum(a)}/{len(a)} cases"))


if __name__ == "__main__":
    main()
