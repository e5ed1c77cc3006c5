#!/usr/bin/env python3
"""Writes the onnxruntime calibration reference that tests/calib_reference.rs checks against.

Seeded float32 samples (Gaussian, Laplace, ReLU'd Gaussian, Gaussian with 0.1% outliers at ±20σ) go to
tests/fixtures/reference/calib_<dist>.npy so both sides read identical inputs; the ranges come from
onnxruntime.quantization.calibrate.HistogramCollector itself (entropy: 2048 bins, 128 quantized bins;
percentile 99.99 and 99.9; symmetric and asymmetric), fed as one batch and as 7 batches
(np.array_split), and go to tests/fixtures/reference/calib_ort.json.

    pip install onnxruntime numpy && python3 scripts/make_calib_reference.py

TensorRT's entropy (`entropy:trt`): NVIDIA's reference is `_compute_amax_entropy` in nvidia-modelopt's
modelopt/torch/quantization/calib/histogram.py (formerly pytorch_quantization's calib/histogram.py). Its
module imports torch, and torch from PyPI resolves to the CUDA build plus ~15 nvidia-* CUDA wheels (several
GB; the CPU wheel is only on download.pytorch.org). So `--trt WHEEL` reads histogram.py straight out of the
nvidia-modelopt wheel (no install), takes `_compute_amax_entropy` from it with `ast` and runs that code
unchanged under numpy and scipy; the one torch call in it, `torch.tensor(calib_amax.item())` on the
result, gets a stand-in that returns the float. It is fed two histograms of |x| (2048 bins): the layout of
HistogramCalibrator's default collect (torch.histc over [0, max|x|], emulated with numpy), and the layout of
the core's Abs histogram ([0, 2048·w], w a power of two). Results go to calib_trt.json.

    pip download --no-deps nvidia-modelopt==0.47.0 -d /tmp/modelopt && pip install scipy numpy
    python3 scripts/make_calib_reference.py --trt /tmp/modelopt/nvidia_modelopt-0.47.0-py3-none-any.whl
"""
import ast
import contextlib
import io
import json
import os
import sys
import zipfile

import numpy as np

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
    from onnxruntime.quantization.calibrate import HistogramCollector

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
    import onnxruntime

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


MODELOPT_HISTOGRAM = "modelopt/torch/quantization/calib/histogram.py"


def modelopt_entropy(wheel):
    """NVIDIA's `_compute_amax_entropy`, its source taken unchanged from the wheel's histogram.py."""
    with zipfile.ZipFile(wheel) as z:
        source = z.read(MODELOPT_HISTOGRAM).decode()
    tree = ast.parse(source)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "_compute_amax_entropy")
    from collections import Counter

    from scipy.stats import entropy

    class TorchStandIn:  # the function's only torch call wraps its float result in a tensor
        @staticmethod
        def tensor(v):
            return float(v)

    scope = {"np": np, "Counter": Counter, "entropy": entropy, "torch": TorchStandIn}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), MODELOPT_HISTOGRAM, "exec"), scope)
    return scope["_compute_amax_entropy"], fn.lineno, fn.end_lineno


def core_abs_width(amax):
    """The bin width of src/calib/histogram.rs's Abs histogram: the smallest power of two w with 2048·w ≥ amax."""
    w = 2.0 ** np.ceil(np.log2(amax / NUM_BINS))
    while NUM_BINS * w < amax:
        w *= 2.0
    return float(w)


def trt_main(wheel):
    compute, first, last = modelopt_entropy(wheel)
    cases = []
    for i, dist in enumerate(["gaussian", "laplace", "relu_gaussian", "gaussian_outliers"]):
        file = f"calib_{dist}.npy"
        x = np.load(os.path.join(OUT, file))  # the inputs the ORT reference and the Rust test read
        a = np.abs(x).astype(np.float32)  # collect(): |x| when any value is negative (a no-op otherwise)
        amax_x = float(a.max())
        layouts = {}
        # (1) HistogramCalibrator's default collect (torch_hist=True): torch.histc(|x|, 2048, min=0, max=max|x|)
        #     with edges torch.linspace(0, max|x|, 2049); emulated with numpy over the same float32 edges.
        # (2) The same function on the layout the core's Abs histogram uses: [0, 2048·w], w a power of two.
        for name, top in [("modelopt_default", amax_x), ("core_layout", NUM_BINS * core_abs_width(amax_x))]:
            edges = np.linspace(0.0, top, NUM_BINS + 1, dtype=np.float32)
            hist, _ = np.histogram(a, bins=edges)
            amax = compute(hist.astype(np.int64), edges, num_bits=8, unsigned=False)
            layouts[name] = {"amax": amax, "bin_width": float(edges[1] - edges[0]), "top_edge": float(edges[-1])}
        cases.append({"dist": dist, "file": file, "max_abs": amax_x, **layouts})
    doc = {
        "generator": "scripts/make_calib_reference.py --trt",
        "reference": f"nvidia-modelopt {os.path.basename(wheel)}: {MODELOPT_HISTOGRAM} _compute_amax_entropy "
        f"(lines {first}-{last}), num_bits=8, unsigned=False, stride=1, start_bin=128, run unchanged under numpy/scipy",
        "numpy": np.__version__,
        "num_bins": NUM_BINS,
        "cases": cases,
    }
    with open(os.path.join(OUT, "calib_trt.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--trt":
        trt_main(sys.argv[2])
    else:
        main()
