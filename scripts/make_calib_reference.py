#!/usr/bin/env python3
"""Writes the onnxruntime calibration reference that tests/calib_reference.rs checks against.

Seeded float32 samples (Gaussian, Laplace, ReLU'd Gaussian, Gaussian with 0.1% outliers at ±20σ) go to
tests/fixtures/reference/calib_<dist>.npy so both sides read identical inputs; the ranges come from
onnxruntime.quantization.calibrate.HistogramCollector itself (entropy: 2048 bins, 128 quantized bins;
percentile 99.99 and 99.9; symmetric and asymmetric), fed as one batch and as 7 batches
(np.array_split), and go to tests/fixtures/reference/calib_ort.json.

    pip install onnxruntime numpy && python3 scripts/make_calib_reference.py
"""
import contextlib
import io
import json
import os

import numpy as np
import onnxruntime
from onnxruntime.quantization.calibrate import HistogramCollector

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "reference")
N = 16384
SEED = 20251127
NUM_BINS = 2048
NUM_QUANTIZED_BINS = 128


def samples(dist, rng):
    if dist == "gaussian":
        return rng.standard_normal(N)
    if dist == "laplace":
        return rng.laplace(0.0, 1.0 / np.sqrt(2.0), N)  # σ = 1
    if dist == "relu_gaussian":
        return np.maximum(rng.standard_normal(N), 0.0)
    if dist == "gaussian_outliers":
        x = rng.standard_normal(N)
        hit = rng.random(N) < 0.001
        x[hit] = 20.0 * np.sign(x[hit])
        return x
    raise ValueError(dist)


def ort_range(method, symmetric, batches, percentile=99.99):
    collector = HistogramCollector(
        method=method,
        symmetric=symmetric,
        num_bins=NUM_BINS,
        num_quantized_bins=NUM_QUANTIZED_BINS,
        percentile=percentile,
        scenario="same",
    )
    with contextlib.redirect_stdout(io.StringIO()):  # the collector prints progress
        for b in batches:
            collector.collect({"x": b})
        lo, hi = collector.compute_collection_result()["x"][:2]
    # What the thresholds were read from (compute_percentile appends counts, not edges, to its tuple).
    hist, edges = collector.get_histogram_dict()["x"][:2]
    return {
        "range": [float(lo), float(hi)],
        "bin_width": float(edges[1] - edges[0]),
        "bins": int(hist.size),
        "first_edge": float(edges[0]),
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = []
    for i, dist in enumerate(["gaussian", "laplace", "relu_gaussian", "gaussian_outliers"]):
        x = samples(dist, np.random.default_rng(SEED + i)).astype(np.float32)
        file = f"calib_{dist}.npy"
        np.save(os.path.join(OUT, file), x)
        results = []
        for split in [1, 7]:
            batches = np.array_split(x, split)
            for symmetric in [True, False]:
                for method, p in [("entropy", None), ("percentile", 99.99), ("percentile", 99.9)]:
                    r = ort_range(method, symmetric, batches, percentile=p or 99.99)
                    r.update(
                        method="entropy" if p is None else f"percentile:{p}",
                        scheme="sym" if symmetric else "asym",
                        batches=split,
                    )
                    results.append(r)
        cases.append({"dist": dist, "file": file, "seed": SEED + i, "n": N, "results": results})
    doc = {
        "generator": "scripts/make_calib_reference.py",
        "onnxruntime": onnxruntime.__version__,
        "numpy": np.__version__,
        "num_bins": NUM_BINS,
        "num_quantized_bins": NUM_QUANTIZED_BINS,
        "cases": cases,
    }
    with open(os.path.join(OUT, "calib_ort.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
