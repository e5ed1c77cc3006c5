#!/usr/bin/env python3
"""Reference outputs of the MXFP4 and NF4 GEMV (src/kernels/lut4.rs), written to
tests/fixtures/reference/lut4_gemv.json.

For seeded W [n, k] and x [k] (shapes with k a multiple of 32 and 64, and not, so that an MX row has a
short last block and NF4's blocks of 64 of the flattened tensor cross rows), W is quantized by the
numpy references of scripts/make_dtype_fixtures.py (mx_ref: OCP Microscaling v1.0 §6.3 with ml_dtypes'
float4_e2m1fn cast; nf4_ref: bitsandbytes' kQuantizeBlockwise / dQuantizeNF4 tree), dequantized to f32,
and y = dq(W) · x is computed in float64, with Σ_k |dq(W)[j, k] · x[k]| per row (the error bound's scale).
    python3 scripts/make_lut4_gemv_reference.py
"""
import json
import os

import ml_dtypes
import numpy as np

from make_dtype_fixtures import mx_ref, nf4_ref

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "reference", "lut4_gemv.json")
SHAPES = [(4, 256), (5, 100), (3, 64), (7, 33), (2, 1), (6, 160)]


def case(rng, n, k):
    # Heavy-ish tails and a spread of magnitudes across rows, so blocks get different scales.
    w = (rng.standard_t(4, size=(n, k)) * np.exp(rng.uniform(-6, 3, size=(n, 1)))).astype(np.float32)
    x = rng.standard_normal(k).astype(np.float32)
    out = {"n": n, "k": k, "w": w.reshape(-1).tolist(), "x": x.tolist()}
    for label, dq in (("mxfp4", mx_ref(w, ml_dtypes.float4_e2m1fn, 2)[3]), ("nf4", nf4_ref(w)[3])):
        d = dq.astype(np.float64)
        out[label] = {"y": (d @ x.astype(np.float64)).tolist(), "sum_abs": (np.abs(d) @ np.abs(x.astype(np.float64))).tolist()}
    return out


def main():
    rng = np.random.default_rng(20261203)
    cases = [case(rng, n, k) for n, k in SHAPES]
    with open(OUT, "w") as f:
        json.dump({"source": "scripts/make_lut4_gemv_reference.py", "cases": cases}, f)
    print(f"wrote {OUT}: {len(cases)} cases")


if __name__ == "__main__":
    main()
