#!/usr/bin/env python3
"""Regression fixtures for two quirks of onnxruntime's entropy calibration, for tests/calib_reference.rs.

onnxruntime/quantization/calibrate.py `HistogramCollector.get_entropy_threshold`:
  1. the expanded candidate distribution is `q = np.zeros(p.size, dtype=np.int64)`, so
     `quantized_bins[index] / norm` is truncated to an integer;
  2. the KL (`entropy`, float32 throughout) is stored as float32 before the argmin.
On a flat KL curve either one moves the chosen threshold. This script searches seeded small sets for one
where a float q would choose differently (quirk 1) and one where a float64 KL over the same int64 q
would (quirk 2), takes ORT's own threshold for each from HistogramCollector (2048 bins, 128 quantized
bins, one batch), and writes the sets (.npy) and the numbers (calib_quirks.json). The two variants
are this script's own numpy code (marked below), used only to show that the quirk changes the answer.

    python3 scripts/make_calib_quirk_reference.py
"""
import contextlib
import io
import json
import os

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "reference")
SEED = 20261204
NUM_BINS, NUM_QUANTIZED = 2048, 128


def ort_entropy(x):
    from onnxruntime.quantization.calibrate import HistogramCollector

    c = HistogramCollector("entropy", False, NUM_BINS, NUM_QUANTIZED, 99.99, "same")
    with contextlib.redirect_stdout(io.StringIO()):
        c.collect({"x": x})
        r = c.compute_collection_result()["x"]
    hist, edges = c.get_histogram_dict()["x"][:2]
    return (float(r[0]), float(r[1])), hist, edges


def variant_threshold(hist, edges, lo, hi, float_q, float64_kl):
    """Not ORT's code: the same candidate search with q kept in floating point and/or the KL in float64."""
    n = hist.size
    zero, half = n // 2, NUM_QUANTIZED // 2
    best, best_kl = None, np.inf
    for i in range(half, zero + 1):
        s, e = zero - i, min(zero + i + 1, n)
        sliced = hist[s:e].astype(np.int64)
        p = sliced.copy()
        p[0] += hist[:s].sum()
        p[-1] += hist[e:].sum()
        m = sliced.size // NUM_QUANTIZED
        q = np.zeros(p.size, dtype=np.float64 if float_q else np.int64)
        for j in range(NUM_QUANTIZED):
            a, b = j * m, (j + 1) * m
            total = sliced[a:b].sum() + (sliced[NUM_QUANTIZED * m:].sum() if j == NUM_QUANTIZED - 1 else 0)
            nz = (p[a:b] != 0).sum()
            if nz:
                q[a:b] = total / nz
        ps, qs = smooth(p), smooth(q)
        if ps is None or qs is None:
            kl = np.inf
        elif float64_kl:
            ps, qs = ps.astype(np.float64) / ps.sum(dtype=np.float64), qs.astype(np.float64) / qs.sum(dtype=np.float64)
            kl = float(np.sum(ps * np.log(ps / qs)))
        else:
            from onnxruntime.quantization.calibrate import entropy

            kl = float(np.float32(entropy(ps, qs)))
        if kl < best_kl or best is None:
            best, best_kl = (edges[s], edges[e]), kl
    return float(max(best[0], lo)), float(min(best[1], hi))


def smooth(p):
    from onnxruntime.quantization.quant_utils import smooth_distribution

    return smooth_distribution(p)


def candidates(rng):
    while True:
        n = int(rng.integers(5000, 30000))
        kind = rng.integers(0, 3)
        g = rng.standard_normal(n)
        if kind == 0:  # post-LayerNorm-like: skewed, long positive shoulder
            x = (g + 0.8 * np.maximum(rng.standard_normal(n), 0) ** 2) * 0.7 + 0.2
        elif kind == 1:
            x = rng.laplace(0, 1, n)
        else:
            x = rng.standard_t(3, n)
        yield x.astype(np.float32)


def main():
    import onnxruntime

    rng = np.random.default_rng(SEED)
    found = {}
    for tries, x in enumerate(candidates(rng)):
        (lo, hi), hist, edges = ort_entropy(x)
        dmin, dmax = float(x.min()), float(x.max())
        ours_like = variant_threshold(hist, edges, dmin, dmax, float_q=False, float64_kl=False)
        assert ours_like == (lo, hi), (ours_like, (lo, hi))  # the search above is ORT's search
        for quirk, fq, f64 in [("int64_q", True, False), ("float32_kl", False, True)]:
            if quirk in found:
                continue
            other = variant_threshold(hist, edges, dmin, dmax, float_q=fq, float64_kl=f64)
            if other != (lo, hi):
                found[quirk] = (x, (lo, hi), other, float(edges[1] - edges[0]))
        print(f"try {tries}: n={x.size}, found {sorted(found)}", flush=True)
        if len(found) == 2 or tries > 60:
            break
    cases = []
    for quirk, (x, ort_range, other, width) in sorted(found.items()):
        file = f"calib_quirk_{quirk}.npy"
        np.save(os.path.join(OUT, file), x)
        cases.append({
            "quirk": quirk,
            "file": file,
            "n": int(x.size),
            "ort_range": list(ort_range),
            "variant": "float q (float64 division), float32 KL" if quirk == "int64_q" else "int64 q, float64 KL",
            "variant_range": list(other),
            "bin_width": width,
        })
    doc = {
        "generator": "scripts/make_calib_quirk_reference.py",
        "onnxruntime": onnxruntime.__version__,
        "numpy": np.__version__,
        "num_bins": NUM_BINS,
        "num_quantized_bins": NUM_QUANTIZED,
        "cases": cases,
    }
    with open(os.path.join(OUT, "calib_quirks.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
