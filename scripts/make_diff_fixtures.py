#!/usr/bin/env python3
"""Writes tests/fixtures/diff/: a quantized copy of the digits MLP made by another tool than ours,
under other names, for tests/diff.rs (`quant-playground diff` must pair it by fingerprint).

    pip install numpy safetensors gguf scipy
    python3 scripts/make_diff_fixtures.py

digits_ggufpy.gguf is written by gguf-py's GGUFWriter with llama.cpp-style names, its weights
quantized by gguf-py's own quantizer (gguf.quants.quantize: Q8_0, Q4_0), one weight stored
transposed as F16 (as converters store [in, out] matrices), the biases as F32 / F16:

    fc1.weight [256, 64]  -> blk.0.ffn_up.weight   Q8_0
    fc1.bias   [256]      -> blk.0.ffn_up.bias     F32
    fc2.weight [128, 256] -> blk.1.ffn_up.weight   Q4_0
    fc2.bias   [128]      -> blk.1.ffn_up.bias     F16
    fc3.weight [10, 128]  -> output.weight         F16, transposed to [128, 10]
    fc3.bias   [10]       -> output.bias           F32

expected.json holds, per float tensor, numpy's figures of the copy as gguf-py reads it back
(GGUFReader + gguf.quants.dequantize) against the float values in the copy's layout: SQNR,
cosine, max |err|, mse, stored bytes, and scipy's Spearman correlation of the 256 fingerprint
samples (C-order positions floor(frac(i·0.618…)·n), app/theirs.rs sample_positions).
"""
import json
import os

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader, GGUFWriter
from gguf.quants import dequantize, quantize
from safetensors.numpy import load_file
from scipy.stats import spearmanr

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "diff")
FLOAT = os.path.join(ROOT, "www", "examples", "digits-mlp.safetensors")

# float name -> (their name, their type, stored transposed)
PLAN = {
    "fc1.weight": ("blk.0.ffn_up.weight", T.Q8_0, False),
    "fc1.bias": ("blk.0.ffn_up.bias", T.F32, False),
    "fc2.weight": ("blk.1.ffn_up.weight", T.Q4_0, False),
    "fc2.bias": ("blk.1.ffn_up.bias", T.F16, False),
    "fc3.weight": ("output.weight", T.F16, True),
    "fc3.bias": ("output.bias", T.F32, False),
}


def figures(x, y):
    x64, y64 = x.astype(np.float64).ravel(), y.astype(np.float64).ravel()
    e = x64 - y64
    return {
        "sqnr_db": float(10 * np.log10(np.sum(x64 * x64) / np.sum(e * e))) if np.any(e) else "inf",
        "cosine": float(np.dot(x64, y64) / (np.sqrt(np.dot(x64, x64)) * np.sqrt(np.dot(y64, y64)))),
        "max_abs_err": float(np.max(np.abs(x.ravel() - y.ravel()))),
        "mse": float(np.mean(e * e)),
    }


def sample(v):
    # app/theirs.rs sample_positions: every element up to 256, else a Weyl sequence in f64.
    n = v.size
    if n <= 256:
        return v.ravel()
    return v.ravel()[[min(int(np.floor((i * 0.6180339887498949) % 1.0 * n)), n - 1) for i in range(256)]]


def main():
    os.makedirs(OUT, exist_ok=True)
    weights = load_file(FLOAT)
    path = os.path.join(OUT, "digits_ggufpy.gguf")
    w = GGUFWriter(path, "digits-mlp")
    w.add_name("digits MLP, quantized by gguf-py")
    for name, (theirs, qtype, transposed) in PLAN.items():
        x = weights[name].astype(np.float32)
        if transposed:
            x = np.ascontiguousarray(x.T)
        if qtype in (T.F32, T.F16):
            w.add_tensor(theirs, quantize(x, qtype))
        else:
            w.add_tensor(theirs, quantize(x, qtype), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    read = {t.name: t for t in GGUFReader(path).tensors}
    expected = {}
    for name, (theirs, qtype, transposed) in PLAN.items():
        t = read[theirs]
        x = weights[name].astype(np.float32)
        if transposed:
            x = np.ascontiguousarray(x.T)
        y = dequantize(np.asarray(t.data), t.tensor_type).reshape(x.shape).astype(np.float32)
        rho = spearmanr(sample(x), sample(y)).statistic
        expected[name] = {
            "quantized_name": theirs,
            "dtype": qtype.name,
            "transposed": transposed,
            "bytes": int(t.n_bytes),
            "spearman": float(rho),
            **figures(x, y),
        }
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump({"digits_ggufpy.gguf": expected}, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {path} and expected.json ({len(expected)} tensors)")


if __name__ == "__main__":
    main()
