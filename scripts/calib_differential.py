#!/usr/bin/env python3
"""Differential test: the core's calibrators against the real onnxruntime and nvidia-modelopt code.

Seeded float32 activation sets (Gaussian, Laplace, skewed post-LayerNorm-like, ReLU'd, GELU'd,
heavy-tailed with outliers, multimodal, few values, constant, with NaN/Inf), each calibrated whole and
split into k uneven batches. The core's side comes from `examples/calib_differential.rs` (one pass per
scheme, histograms growing as ORT's do); ORT's from onnxruntime.quantization.calibrate itself:
HistogramCollector (entropy, percentile sym/asym, distribution) and MinMaxCalibrater on a real ONNX
model (min-max, moving_average within one collect_data call, and merge_range across calls). Every
range must equal ORT's bit for bit; the only exclusions are named causes, each counted and checked:

  nonfinite-raises  ORT raises on ±Inf (np.histogram: range not finite) and on NaN in the first |x|
                    batch; the core drops and counts non-finite values, so those sets are compared
                    with ORT run on their finite values, and ORT's failure on the raw set is asserted.
  bin-cap           ORT's signed histogram never stops growing; the core's merges bins in pairs past
                    CalibConfig::max_bins (16384): where ORT's grew past it, entropy and distribution
                    are not compared (the count is printed). Elsewhere the bin counts must agree.
  symmetric-minmax  MinMaxCalibrater(symmetric=True) returns (−a, a), a = max(|min|, |max|); the core's
                    minmax / minmax:ma keep the data's [min, max] (quant::params_from_range takes the
                    same a), so ORT's rule is applied to the core's range before the comparison.

modelopt (TensorRT's calibrators): `_compute_amax_entropy` and `_compute_amax_percentile` are taken
unchanged from the nvidia-modelopt wheel's histogram.py and run under numpy (their one torch call gets
a stand-in), on the core's |x| histogram, whose counts are first checked against np.histogram over
the same float32 edges. `_compute_amax_mse` needs torch's fake_tensor_quant and is not run here.

    python3 scripts/calib_differential.py --example target/debug/examples/calib_differential \
        [--modelopt-wheel WHEEL] [--sets 300]
"""
import argparse
import ast
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile

import numpy as np

SEED = 20261203
FAMILIES = [
    "gaussian", "laplace", "post_layernorm", "relu", "gelu", "outliers", "multimodal", "few_values",
    "constant", "nan_inf",
]
PERCENTILES = [99.99, 99.9, 99.999]
MAX_BINS = 2048 * 8  # calib::CalibConfig::default().max_bins


def make_set(family, rng):
    n = int(rng.integers(300, 4000))
    s = float(np.exp(rng.uniform(-3, 3)))
    g = rng.standard_normal(n)
    if family == "gaussian":
        x = g * s + rng.uniform(-1, 1) * s
    elif family == "laplace":
        x = rng.laplace(0, s, n)
    elif family == "post_layernorm":
        # LayerNorm output with a learned gain/bias: most values near 0, a long positive shoulder.
        x = (g + 0.8 * np.maximum(rng.standard_normal(n), 0) ** 2) * 0.7 + 0.2
        x = x * s
    elif family == "relu":
        x = np.maximum(g * s + rng.uniform(-0.5, 0.5) * s, 0.0)
    elif family == "gelu":
        from math import erf

        v = g * s * 2
        x = v * 0.5 * (1 + np.vectorize(erf)(v / np.sqrt(2)))
    elif family == "outliers":
        # Outliers up to ~4x the bulk's reach: a batch that brings them grows ORT's histogram that
        # much, and ORT's entropy search (a Python loop) grows with the square of its bins.
        x = rng.standard_t(2.5, n) * s
        hit = rng.random(n) < 0.002
        x[hit] = rng.choice([-1, 1], hit.sum()) * s * rng.uniform(10, 40)
    elif family == "multimodal":
        c = rng.choice([-3.0, 0.5, 4.0], n, p=[0.3, 0.5, 0.2])
        x = (c + 0.4 * g) * s
    elif family == "few_values":
        vals = rng.uniform(-2, 3, int(rng.integers(1, 6))) * s
        x = rng.choice(vals, n)
    elif family == "constant":
        x = np.full(n, rng.choice([0.0, 2.5 * s, -s]))
    elif family == "nan_inf":
        x = g * s
        k = int(rng.integers(1, 6))
        x[rng.integers(0, n, k)] = rng.choice([np.nan, np.inf, -np.inf], k)
    else:
        raise ValueError(family)
    return x.astype(np.float32)


def split(n, k, rng):
    """k uneven, non-empty pieces."""
    if k == 1:
        return [n]
    cuts = np.sort(rng.choice(np.arange(1, n), k - 1, replace=False))
    return list(np.diff(np.concatenate([[0], cuts, [n]])).astype(int))


def batches_of(x, sizes):
    out, start = [], 0
    for s in sizes:
        out.append(x[start:start + s])
        start += s
    return out


def finite(b):
    return b[np.isfinite(b)]


# ---------------------------------------------------------------------------------------- onnxruntime
def ort_histogram(method, symmetric, batches, bins, percentile=99.99):
    from onnxruntime.quantization.calibrate import HistogramCollector

    c = HistogramCollector(method=method, symmetric=symmetric, num_bins=bins, num_quantized_bins=128,
                           percentile=percentile, scenario="same")
    with contextlib.redirect_stdout(io.StringIO()):
        for b in batches:
            c.collect({"x": b})
        r = c.compute_collection_result()["x"]
    grown = len(c.get_histogram_dict()["x"][0])
    if method == "distribution":
        return (np.float32(r.range_value[0]), np.float32(r.range_value[1]), np.float32(r.avg), np.float32(r.std)), grown
    return (np.float32(r[0]), np.float32(r[1])), grown


def identity_model(path, count):
    import onnx
    from onnx import TensorProto, helper

    inputs = [helper.make_tensor_value_info(f"x{i}", TensorProto.FLOAT, [f"n{i}"]) for i in range(count)]
    outputs = [helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, [f"n{i}"]) for i in range(count)]
    nodes = [helper.make_node("Identity", [f"x{i}"], [f"y{i}"]) for i in range(count)]
    model = helper.make_model(helper.make_graph(nodes, "calib", inputs, outputs),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


class Reader:
    def __init__(self, feeds):
        self.feeds = list(feeds)

    def get_next(self):
        return self.feeds.pop(0) if self.feeds else None


def ort_minmax(tmp, per_set_batches, symmetric, moving_average, calls):
    """MinMaxCalibrater on one model holding every set as an input; `calls`: 'one' collect_data over
    all batches, or 'each' batch its own collect_data (merge_range)."""
    from onnxruntime.quantization.calibrate import MinMaxCalibrater

    count = len(per_set_batches)
    model = os.path.join(tmp, f"identity{count}.onnx")
    if not os.path.exists(model):
        identity_model(model, count)
    k = len(per_set_batches[0])
    feeds = [{f"x{i}": per_set_batches[i][j] for i in range(count)} for j in range(k)]
    cal = MinMaxCalibrater(model, augmented_model_path=os.path.join(tmp, "augmented.onnx"), symmetric=symmetric,
                           moving_average=moving_average)
    cal.augment_graph()
    cal.create_inference_session()
    if calls == "one":
        cal.collect_data(Reader(feeds))
    else:
        for f in feeds:
            cal.collect_data(Reader([f]))
    r = cal.compute_data()
    return [tuple(np.float32(v) for v in r[f"x{i}"].range_value) for i in range(count)]


# ----------------------------------------------------------------------------------------- modelopt
MODELOPT_HISTOGRAM = "modelopt/torch/quantization/calib/histogram.py"


def modelopt_functions(wheel):
    """`_compute_amax_entropy` and `_compute_amax_percentile`, their source unchanged from the wheel."""
    with zipfile.ZipFile(wheel) as z:
        source = z.read(MODELOPT_HISTOGRAM).decode()
    tree = ast.parse(source)
    wanted = {"_compute_amax_entropy", "_compute_amax_percentile"}
    fns = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in wanted]
    from collections import Counter

    from scipy.stats import entropy

    class TorchStandIn:  # their only torch call wraps the float result: torch.tensor(calib_amax.item())
        @staticmethod
        def tensor(v):
            return float(v)

    scope = {"np": np, "Counter": Counter, "entropy": entropy, "torch": TorchStandIn}
    exec(compile(ast.Module(body=fns, type_ignores=[]), MODELOPT_HISTOGRAM, "exec"), scope)
    return scope["_compute_amax_entropy"], scope["_compute_amax_percentile"]


# --------------------------------------------------------------------------------------------- main
def same(a, b):
    a, b = np.float32(a), np.float32(b)
    return (a == b) or (np.isnan(a) and np.isnan(b))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--example", required=True, help="target/…/examples/calib_differential")
    ap.add_argument("--modelopt-wheel", help="nvidia_modelopt-*.whl (pip download --no-deps nvidia-modelopt)")
    ap.add_argument("--sets", type=int, default=300)
    args = ap.parse_args()
    # ORT's own arithmetic warns on the sets it is meant to meet (constant: std of a negative variance).
    warnings.simplefilter("ignore", RuntimeWarning)
    t0 = time.time()
    rng = np.random.default_rng(SEED)

    sets = []
    for i in range(args.sets):
        family = FAMILIES[i % len(FAMILIES)]
        x = make_set(family, rng)
        # One set in seven at ORT's 2048 bins, the rest at 512: ORT's entropy search is a Python loop,
        # and its cost grows with the square of the bins (outlier sets, whose histograms grow, stay at 512).
        bins = 2048 if i % 7 == 3 and family != "outliers" else 512
        k = int(rng.integers(2, 8))
        sets.append({"family": family, "x": x, "bins": bins, "percentile": PERCENTILES[i % 3],
                     "batchings": [[len(x)], split(len(x), k, rng)]})

    # The core's answers, all jobs in one run of the example.
    jobs, blob, offset = [], [], 0
    for si, s in enumerate(sets):
        blob.append(s["x"])
        for bi, sizes in enumerate(s["batchings"]):
            p = s["percentile"]
            jobs.append({"set": si, "batching": bi, "offset": offset, "len": len(s["x"]), "batches": [int(v) for v in sizes],
                         "bins": s["bins"], "abs_histogram": bi == 0,
                         # modelopt's methods on the |x| histogram, which no batching changes: whole sets only.
                         "methods": f"minmax,minmax:ma,minmax:ema,percentile:{p},entropy,distribution"
                         + (f",entropy:trt,percentile:trt:{p}" if bi == 0 else "")})
        offset += len(s["x"])
    with tempfile.TemporaryDirectory() as tmp:
        manifest, values = os.path.join(tmp, "jobs.json"), os.path.join(tmp, "values.f32")
        with open(manifest, "w") as f:
            json.dump({"jobs": jobs}, f)
        np.concatenate(blob).astype("<f4").tofile(values)
        ours = json.loads(subprocess.run([args.example, manifest, values], check=True, capture_output=True).stdout)["jobs"]
        t_ours = time.time() - t0

        checks, failures = 0, []
        causes = {"nonfinite-raises": 0, "bin-cap": 0, "symmetric-minmax": 0}

        def len_signed(job):
            # No bins yet (only zeros seen) is ORT's fresh histogram over (−0.5, 0.5).
            return ours[job]["asym"].get("signed_bins") or jobs[job]["bins"]
        combos = set()

        def check(label, want, got, combo):
            nonlocal checks
            checks += 1
            combos.add(combo)
            if not all(same(a, b) for a, b in zip(want, got)):
                failures.append(f"{label}: ORT {[float(v) for v in want]} ours {[float(v) for v in got]}")

        def row(job, scheme, method):
            return ours[job][scheme][method]

        # HistogramCollector methods, set by set.
        for ji, job in enumerate(jobs):
            s = sets[job["set"]]
            raw = batches_of(s["x"], job["batches"])
            clean = [finite(b) for b in raw]
            p = s["percentile"]
            if s["family"] == "nan_inf":
                # The named cause: ORT on the raw batches raises — or, when only later |x| batches hold
                # NaN, drops them as the core does (then its raw answer must be the core's).
                try:
                    raw_pc, _ = ort_histogram("percentile", True, raw, s["bins"], percentile=p)
                    check(f"set {job['set']} raw percentile sym", raw_pc, row(ji, "sym", f"percentile:{p}")["range"],
                          ("percentile", "sym", "1" if len(raw) == 1 else "k"))
                except (ValueError, OverflowError):
                    causes["nonfinite-raises"] += 1
            tag = f"set {job['set']} {s['family']} x{len(job['batches'])} bins {s['bins']}"
            nb = "1" if len(job["batches"]) == 1 else "k"
            entropy, grown = ort_histogram("entropy", False, clean, s["bins"])
            if job["set"] < 10:  # ORT's entropy never reads `symmetric`: checked, then run once.
                assert ort_histogram("entropy", True, clean, s["bins"])[0] == entropy
            for scheme, symmetric in [("sym", True), ("asym", False)]:
                pc, _ = ort_histogram("percentile", symmetric, clean, s["bins"], percentile=p)
                check(f"{tag} percentile:{p} {scheme}", pc, row(ji, scheme, f"percentile:{p}")["range"], ("percentile", scheme, nb))
                if grown > MAX_BINS:
                    # bin-cap: ORT's signed histogram grew past the core's memory bound, where the core
                    # merges bins in pairs and ORT never does.
                    causes["bin-cap"] += 1
                    continue
                if not symmetric:
                    check(f"{tag} percentile:{p} asym bins", [grown], [len_signed(ji)], ("percentile", scheme, nb))
                check(f"{tag} entropy {scheme}", entropy, row(ji, scheme, "entropy")["range"], ("entropy", scheme, nb))
                d, _ = ort_histogram("distribution", symmetric, clean, s["bins"])
                r = row(ji, scheme, "distribution")
                check(f"{tag} distribution {scheme}", d, [*r["range"], r["avg"], r["std"]], ("distribution", scheme, nb))

        # MinMaxCalibrater: one model per batch count, every set of that count an input.
        by_k = {}
        for ji, job in enumerate(jobs):
            by_k.setdefault(len(job["batches"]), []).append(ji)
        for k, group in sorted(by_k.items()):
            per_set = [[finite(b) for b in batches_of(sets[jobs[ji]["set"]]["x"], jobs[ji]["batches"])] for ji in group]
            for scheme, symmetric in [("sym", True), ("asym", False)]:
                for method, ma, calls in [("minmax", False, "one"), ("minmax:ma", True, "one"), ("minmax:ema", True, "each")]:
                    got = ort_minmax(tmp, per_set, symmetric, ma, calls)
                    for ji, want in zip(group, got):
                        s = sets[jobs[ji]["set"]]
                        got_range = row(ji, scheme, method)["range"]
                        if symmetric and method != "minmax:ema":
                            # symmetric-minmax: the core keeps [min, max]; ORT's (−a, a) is max(|min|, |max|).
                            a = max(abs(np.float32(got_range[0])), abs(np.float32(got_range[1])))
                            got_range = [-a, a]
                            causes["symmetric-minmax"] += 1
                        check(f"set {jobs[ji]['set']} {s['family']} x{k} {method} {scheme}", want,
                              got_range, (method, scheme, "1" if k == 1 else "k"))
        # ORT's MinMaxCalibrater on raw ±Inf gives an infinite range (the core's is the finite one).
        inf_sets = [ji for ji, j in enumerate(jobs) if sets[j["set"]]["family"] == "nan_inf" and len(j["batches"]) == 1]
        raw = ort_minmax(tmp, [[sets[jobs[ji]["set"]]["x"]] for ji in inf_sets], False, False, "one")
        for ji, (lo, hi) in zip(inf_sets, raw):
            x = sets[jobs[ji]["set"]]["x"]
            if np.isinf(x).any() and np.isfinite(lo) and np.isfinite(hi):
                failures.append(f"set {jobs[ji]['set']}: ORT's min-max was finite on ±Inf")
        t_ort = time.time() - t0 - t_ours

        # modelopt, on the core's |x| histogram (the same for any batching: checked by the Rust tests).
        trt_sets = 0
        if args.modelopt_wheel:
            amax_entropy, amax_percentile = modelopt_functions(args.modelopt_wheel)
            for ji, job in enumerate(jobs):
                if len(job["batches"]) != 1:
                    continue
                s = sets[job["set"]]
                h = ours[ji]["sym"].get("abs_histogram")
                if h is None:
                    continue
                counts = np.array(h["counts"], dtype=np.int64)
                edges = np.linspace(0.0, np.float32(h["top"]), len(counts) + 1, dtype=np.float32)
                a = np.abs(finite(s["x"]))
                tag = f"set {job['set']} {s['family']}"
                if not np.array_equal(np.histogram(a, bins=edges)[0], counts):
                    failures.append(f"{tag}: the core's |x| histogram is not np.histogram over its edges")
                    continue
                trt_sets += 1
                p = s["percentile"]
                for scheme in ["sym", "asym"]:
                    if len(counts) >= 128:
                        # entropy:trt's range is modelopt's ±amax clamped to the data's [min, max].
                        # A copy: `bins = calib_hist[:]; bins[0] = bins[1]` writes into the caller's histogram.
                        e = np.float32(amax_entropy(counts.copy(), edges, num_bits=8, unsigned=False))
                        lo, hi = np.float32(finite(s["x"]).min()), np.float32(finite(s["x"]).max())
                        check(f"{tag} entropy:trt {scheme}", [max(-e, lo), min(e, hi)], row(ji, scheme, "entropy:trt")["range"],
                              ("entropy:trt", scheme, "1"))
                    e = np.float32(amax_percentile(counts.copy(), edges, p))
                    check(f"{tag} percentile:trt {scheme}", [-e, e], row(ji, scheme, f"percentile:trt:{p}")["range"], ("percentile:trt", scheme, "1"))

    methods = sorted({c[0] for c in combos})
    print(f"calib differential: {len(sets)} sets × {len(methods)} methods ({', '.join(methods)}) × 2 schemes × 2 batchings "
          f"(whole, 2-7 uneven batches): {checks} ranges compared with onnxruntime"
          + (f" and modelopt ({trt_sets} sets)" if trt_sets else "")
          + f"; core {t_ours:.1f} s, references {time.time() - t0 - t_ours:.1f} s")
    for cause, n in causes.items():
        print(f"  named cause {cause}: {n}")
    if failures:
        print(f"{len(failures)} ranges differ:")
        for f in failures[:40]:
            print("  " + f)
        sys.exit(1)
    print("every range equals the reference's bit for bit")


if __name__ == "__main__":
    main()
