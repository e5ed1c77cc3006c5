#!/usr/bin/env python3
"""Writes every test fixture under tests/fixtures/ with the real tools (numpy, safetensors, ml_dtypes).

Run from the repository root (or anywhere; paths are relative to this file):

    python3 -m pip install -r scripts/requirements.txt   # once
    python3 scripts/make_fixtures.py

The output is deterministic (one seeded numpy Generator, fixed case list): running it again rewrites
the same bytes, so `git diff --stat tests/fixtures` after a run shows whether anything drifted.

What it writes
- tests/fixtures/reference/quant_cases.json: quantization cases computed by numpy in float32 exactly as
  DESIGN.md's numerics contract says (see `quantize_reference`). tests/reference.rs checks the Rust core
  against them bit for bit. When onnxruntime is installed, the INT8 per-tensor and per-channel cases are
  also checked here against ONNX Runtime's QuantizeLinear / DequantizeLinear (a second, independent tool).
- tests/fixtures/small.safetensors, small_bf16.safetensors: written by safetensors.numpy.save_file. numpy
  has no bfloat16, so the BF16 file uses ml_dtypes.bfloat16 arrays (the dtype safetensors.numpy maps to "BF16";
  the values are numpy float32 rounded to nearest even by ml_dtypes' cast).
- tests/fixtures/npy/*.npy: written by np.save (and np.lib.format.write_array for the version-2.0 header).
- tests/fixtures/reference/files.json: per file and tensor, dtype, shape and the values as numpy's
  astype(float32) gives them (integers for integer tensors), for the readers' round-trip checks.
"""

import json
from pathlib import Path

import ml_dtypes
import numpy as np
from safetensors.numpy import save_file

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures"
REF = FIX / "reference"
NPY = FIX / "npy"

F32 = np.float32
rng = np.random.default_rng(20261127)


# ---------------------------------------------------------------------------------------------
# The numerics contract in numpy float32. Every operand is a float32 array or np.float32 scalar so
# that no step silently runs in float64 (python floats are f64).
# ---------------------------------------------------------------------------------------------

def code_range(bits, scheme, full_range):
    if scheme == "symmetric":
        qmax = 2 ** (bits - 1) - 1
        qmin = -(qmax + 1) if full_range else -qmax
        return qmin, qmax
    return 0, 2**bits - 1


def slot_ids(shape, granularity):
    """The slot (scale / zero point index) of every element, as an int array of `shape`."""
    n = int(np.prod(shape))
    if granularity == "tensor":
        return np.zeros(shape, dtype=np.int64), 1
    kind, arg = granularity.split(":")
    arg = int(arg)
    if kind == "channel":
        idx = np.indices(shape)[arg]
        return idx, shape[arg]
    assert kind == "group"
    row = shape[-1]
    groups_per_row = -(-row // arg)
    rows = n // row
    col = np.arange(row) // arg
    ids = (np.arange(rows)[:, None] * groups_per_row + col[None, :]).reshape(shape)
    return ids, rows * groups_per_row


def params(lo, hi, bits, scheme, full_range):
    """scale, zero point of one slot from its range [lo, hi] (np.float32 scalars)."""
    qmin, qmax = code_range(bits, scheme, full_range)
    if scheme == "symmetric":
        amax = max(abs(lo), abs(hi))  # float32 operands → float32 result
        with np.errstate(all="ignore"):
            scale = F32(amax / F32(qmax))
        if not (np.isfinite(scale) and scale > 0):
            scale = F32(1.0)
        return scale, 0
    lo = min(lo, F32(0.0))
    hi = max(hi, F32(0.0))
    with np.errstate(all="ignore"):
        scale = F32((hi - lo) / F32(qmax - qmin))
    if not (np.isfinite(scale) and scale > 0):
        scale = F32(1.0)
    zp = np.round(F32(qmin) - F32(lo / scale))
    assert zp.dtype == np.float32
    zp = int(np.clip(zp, F32(qmin), F32(qmax)))
    return scale, zp


def quantize_reference(x, shape, bits, scheme, full_range, granularity):
    x = np.asarray(x, dtype=F32).reshape(shape)
    assert np.all(np.isfinite(x)), "reference cases hold finite values only (JSON has no NaN)"
    qmin, qmax = code_range(bits, scheme, full_range)
    ids, slots = slot_ids(shape, granularity)
    scales = np.ones(slots, dtype=F32)
    zps = np.zeros(slots, dtype=np.int64)
    for s in range(slots):
        v = x[ids == s]
        lo = v.min() if v.size else F32(np.inf)
        hi = v.max() if v.size else F32(-np.inf)
        assert lo.dtype == np.float32 and hi.dtype == np.float32
        scales[s], zps[s] = params(lo, hi, bits, scheme, full_range)
    s_el = scales[ids]  # float32, per element
    z_el = zps[ids].astype(F32)
    r = np.round(x / s_el)  # float32 division, round half to even
    q = np.clip(r + z_el, F32(qmin), F32(qmax))
    assert q.dtype == np.float32 and r.dtype == np.float32
    q = q.astype(np.int64)
    clipped = int(np.count_nonzero((r + z_el < F32(qmin)) | (r + z_el > F32(qmax))))
    deq = (q - zps[ids]).astype(F32) * s_el
    assert deq.dtype == np.float32
    return scales, zps, q, deq, clipped


def f32_list(a):
    return [float(v) for v in np.asarray(a, dtype=F32).ravel()]


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------

def gaussian(shape, sigma=0.02):
    return (rng.standard_normal(shape) * sigma).astype(F32)


def laplace(shape, b=0.03):
    return rng.laplace(0.0, b, shape).astype(F32)


def student_t(shape, df=3, s=0.01):
    return (rng.standard_t(df, shape) * s).astype(F32)


def with_outliers(shape, sigma=0.02, share=0.02, mag=20.0):
    x = gaussian(shape, sigma)
    flat = x.reshape(-1)
    k = max(1, int(flat.size * share))
    idx = rng.choice(flat.size, size=k, replace=False)
    flat[idx] = (rng.choice([-1.0, 1.0], size=k) * mag * sigma * (1 + rng.random(k))).astype(F32)
    return x


def sym_ties(qmax, exp, n_extra):
    """Values (k + 0.5)·2^exp plus ±qmax·2^exp, so scale = qmax·2^exp / qmax = 2^exp exactly and every
    (k + 0.5) lands on a rounding tie."""
    step = F32(2.0**exp)
    ks = np.arange(-qmax, qmax, dtype=F32)  # k + 0.5 in (−qmax, qmax)
    ties = (ks + F32(0.5)) * step
    sel = rng.choice(ties.size, size=min(n_extra, ties.size), replace=False)
    x = np.concatenate([[F32(qmax) * step, -F32(qmax) * step], ties[np.sort(sel)]]).astype(F32)
    return x


def asym_ties(lo_steps, exp, qmax):
    """lo = −lo_steps·2^exp (lo_steps ends in .5: the zero point itself is a tie), hi = lo + qmax·2^exp,
    so scale = 2^exp exactly; the data holds lo, hi and values on half steps of the grid."""
    step = F32(2.0**exp)
    lo = F32(-lo_steps) * step
    hi = lo + F32(qmax) * step
    assert F32((hi - lo) / F32(qmax)) == step
    half_steps = (np.arange(-int(lo_steps), qmax - int(lo_steps), 3, dtype=F32) + F32(0.5)) * step
    half_steps = half_steps[(half_steps > lo) & (half_steps < hi)]
    return np.concatenate([[lo, hi], half_steps]).astype(F32)


def build_cases():
    cases = []

    def add(name, x, shape, bits, scheme, granularity, full_range=False):
        x = np.asarray(x, dtype=F32).reshape(shape)
        scales, zps, q, deq, clipped = quantize_reference(x, shape, bits, scheme, full_range, granularity)
        err = x - deq  # float32, as the Rust kernels form it
        cases.append({
            "name": name,
            "shape": list(shape),
            "x": f32_list(x),
            "bits": bits,
            "scheme": scheme,
            "full_range": full_range,
            "granularity": granularity,
            "scales": f32_list(scales),
            "zero_points": [int(z) for z in zps],
            "q": [int(v) for v in q.ravel()],
            "dequantized": f32_list(deq),
            "clipped": clipped,
            # max |x − x̂| is exact in float32; the mean squared error is summed in float64 here and in a
            # different order by the kernels, so tests compare it with a relative tolerance.
            "max_abs_err": float(np.max(np.abs(err))) if err.size else 0.0,
            "mse": float(np.mean(err.astype(np.float64) ** 2)) if err.size else 0.0,
        })

    # Per-tensor, INT8, the three schemes on Gaussian weights.
    g = gaussian((8, 32))
    add("tensor_int8_sym_gaussian", g, (8, 32), 8, "symmetric", "tensor")
    add("tensor_int8_sym_full_gaussian", g, (8, 32), 8, "symmetric", "tensor", full_range=True)
    add("tensor_int8_asym_gaussian", g, (8, 32), 8, "asymmetric", "tensor")
    # Heavy tails: outliers blow up the per-tensor scale (the reason per-channel / per-group exist).
    o = with_outliers((8, 32))
    add("tensor_int8_sym_outliers", o, (8, 32), 8, "symmetric", "tensor")
    add("tensor_int4_sym_outliers", o, (8, 32), 4, "symmetric", "tensor")
    add("tensor_int4_asym_student_t", student_t((96,)), (96,), 4, "asymmetric", "tensor")
    # Per-channel along axis 0 of an [out, in] weight, one channel all zeros (degenerate: scale 1).
    lap = laplace((12, 20))
    lap[5] = 0.0
    add("channel0_int8_sym_laplace_zero_row", lap, (12, 20), 8, "symmetric", "channel:0")
    add("channel0_int8_asym_laplace_zero_row", lap, (12, 20), 8, "asymmetric", "channel:0")
    add("channel0_int4_sym_full_laplace", lap, (12, 20), 4, "symmetric", "channel:0", full_range=True)
    # Per-channel along inner axes of a 3-D tensor.
    t3 = student_t((4, 6, 8))
    add("channel1_int8_sym_3d_student_t", t3, (4, 6, 8), 8, "symmetric", "channel:1")
    add("channel1_int4_asym_3d_student_t", t3, (4, 6, 8), 4, "asymmetric", "channel:1")
    add("channel2_int8_asym_3d_gaussian", gaussian((3, 4, 10), 0.5), (3, 4, 10), 8, "asymmetric", "channel:2")
    # Per-group, G = 32 along rows of 64 (two whole groups).
    g64 = gaussian((6, 64))
    add("group32_int4_sym_gaussian", g64, (6, 64), 4, "symmetric", "group:32")
    add("group32_int4_asym_gaussian", g64, (6, 64), 4, "asymmetric", "group:32")
    add("group32_int8_sym_outliers", with_outliers((4, 64)), (4, 64), 8, "symmetric", "group:32")
    # Per-group with a short last group: rows of 40 with G = 16 → groups of 16, 16, 8.
    g40 = laplace((5, 40))
    add("group16_row40_int4_sym_laplace", g40, (5, 40), 4, "symmetric", "group:16")
    add("group16_row40_int4_asym_laplace", g40, (5, 40), 4, "asymmetric", "group:16")
    add("group16_row40_int8_sym_full_laplace", g40, (5, 40), 8, "symmetric", "group:16", full_range=True)
    # G larger than the row: one group per row.
    add("group32_row20_int8_asym_3d", gaussian((2, 3, 20)), (2, 3, 20), 8, "asymmetric", "group:32")
    # Low bit widths.
    add("tensor_int2_sym_gaussian", gaussian((64,)), (64,), 2, "symmetric", "tensor")
    add("tensor_int3_asym_laplace", laplace((64,)), (64,), 3, "asymmetric", "tensor")
    add("channel0_int3_sym_full_gaussian", gaussian((4, 16)), (4, 16), 3, "symmetric", "channel:0", full_range=True)
    # One-sided data: the asymmetric range is widened to include 0.
    pos = np.abs(gaussian((48,), 1.0)) + F32(0.25)
    add("tensor_int8_asym_positive_only", pos, (48,), 8, "asymmetric", "tensor")
    add("tensor_int4_asym_negative_only", -pos, (48,), 4, "asymmetric", "tensor")
    # Wide dynamic range: log-uniform magnitudes 1e-4 .. 1e2 with random signs.
    wide = (10.0 ** rng.uniform(-4, 2, 64) * rng.choice([-1.0, 1.0], 64)).astype(F32)
    add("tensor_int8_sym_wide_range", wide, (64,), 8, "symmetric", "tensor")
    # Exact ties: x / scale = k + 0.5 with a power-of-two scale, so round-half-to-even decides.
    add("ties_int8_sym_scale_2^-6", sym_ties(127, -6, 60), (62,), 8, "symmetric", "tensor")
    add("ties_int4_sym_scale_2^-3", sym_ties(7, -3, 14), (16,), 4, "symmetric", "tensor")
    add("ties_int3_sym_full_scale_1", sym_ties(3, 0, 6), (8,), 3, "symmetric", "tensor", full_range=True)
    # Asymmetric with a tie in the zero point too: lo = −100.5·2^-7 → zp = round(100.5) = 100 (even),
    # lo = −101.5·2^-7 → zp = 102.
    a1 = asym_ties(100.5, -7, 255)
    add("ties_int8_asym_zp_100.5", a1, (a1.size,), 8, "asymmetric", "tensor")
    a2 = asym_ties(101.5, -7, 255)
    add("ties_int8_asym_zp_101.5", a2, (a2.size,), 8, "asymmetric", "tensor")
    a3 = asym_ties(6.5, -2, 15)
    add("ties_int4_asym_zp_6.5", a3, (a3.size,), 4, "asymmetric", "tensor")
    # Values already on the grid (integers, scale 1) come back exactly.
    grid = np.arange(-127, 128, 5, dtype=F32)
    add("grid_int8_sym_integers", np.concatenate([grid, [F32(127)]]), (grid.size + 1,), 8, "symmetric", "tensor")
    # Tiny tensors: one element per channel, a single element.
    add("channel0_int8_asym_1d_each_own_slot", gaussian((5,), 1.0), (5,), 8, "asymmetric", "channel:0")
    add("tensor_int8_sym_single", np.array([-2.5], dtype=F32), (1,), 8, "symmetric", "tensor")
    # The lecture example: [0.1, 0.5, 0.9, 1.2], symmetric INT8, scale 1.2/127 → [11, 53, 95, 127].
    add("lecture_int8_sym", np.array([0.1, 0.5, 0.9, 1.2], dtype=F32), (4,), 8, "symmetric", "tensor")
    return cases, add


def add_shared_cases(add, shared):
    """The tensor that every fixture file stores in its own dtype: tests/reference.rs quantizes what each
    reader decodes and compares with these codes."""
    add("shared_int8_sym_channel0", shared, shared.shape, 8, "symmetric", "channel:0")
    add("shared_int4_asym_group8", shared, shared.shape, 4, "asymmetric", "group:8")


def cross_check_with_onnxruntime(cases):
    """INT8 per-tensor and per-channel cases: ONNX Runtime's QuantizeLinear / DequantizeLinear with the
    numpy scales and zero points must give the same codes and values (a second implementation of the
    same rounding). Returns how many cases were checked; 0 when onnxruntime is not installed."""
    try:
        import onnx
        import onnxruntime as ort
        from onnx import TensorProto, helper
    except ImportError:
        print("onnxruntime not installed: skipping the QuantizeLinear cross-check")
        return 0
    checked = 0
    for c in cases:
        if c["bits"] != 8 or c["granularity"].startswith("group"):
            continue
        signed = c["scheme"] == "symmetric"
        qtype = TensorProto.INT8 if signed else TensorProto.UINT8
        npq = np.int8 if signed else np.uint8
        shape = c["shape"]
        axis = int(c["granularity"].split(":")[1]) if c["granularity"].startswith("channel") else None
        x = np.array(c["x"], dtype=F32).reshape(shape)
        scale = np.array(c["scales"], dtype=F32)
        zp = np.array(c["zero_points"], dtype=npq)
        if axis is None:
            scale, zp = scale.reshape(()), zp.reshape(())
        attrs = {} if axis is None else {"axis": axis}
        nodes = [
            helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], **attrs),
            helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], **attrs),
        ]
        graph = helper.make_graph(
            nodes, "qdq",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
            [helper.make_tensor_value_info("q", qtype, shape), helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
            initializer=[onnx.numpy_helper.from_array(scale, "s"), onnx.numpy_helper.from_array(zp, "z")],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
        model.ir_version = 9
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        q, y = sess.run(None, {"x": x})
        assert np.array_equal(q.astype(np.int64), np.array(c["q"]).reshape(shape)), f"{c['name']}: QuantizeLinear disagrees"
        y_ours = np.array(c["dequantized"], dtype=F32).reshape(shape)
        assert np.array_equal(y.view(np.uint32), y_ours.view(np.uint32)), f"{c['name']}: DequantizeLinear disagrees"
        checked += 1
    print(f"onnxruntime {ort.__version__}: QuantizeLinear/DequantizeLinear agree on {checked} INT8 cases")
    return checked


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------

def shared_tensor():
    """A [6, 10] tensor exactly representable in F16, BF16, F32 and F64, so the same values can be
    stored in every format and must quantize to the same integers."""
    s = gaussian((6, 10), 0.05).astype(ml_dtypes.bfloat16).astype(F32)
    s[np.abs(s) < F32(2.0**-12)] = F32(0.0)  # keep clear of F16 subnormals (fewer than 8 significant bits)
    assert np.array_equal(s.astype(np.float16).astype(F32), s)
    assert np.array_equal(s.astype(ml_dtypes.bfloat16).astype(F32), s)
    return s


def tensor_entry(arr, dtype_name):
    a = np.asarray(arr)
    entry = {"dtype": dtype_name, "shape": list(a.shape)}
    if a.dtype.kind in "iu":
        entry["int_values"] = [int(v) for v in a.ravel(order="C")]
    else:
        with np.errstate(over="ignore"):
            entry["values"] = f32_list(np.ascontiguousarray(a).astype(F32))
    return entry


def write_files(shared):
    files = {}
    NPY.mkdir(parents=True, exist_ok=True)

    # F64 values chosen to test the f64 → f32 rounding: ties to even at 1 + 2^-24 and 1 + 3·2^-24,
    # values under the f32 subnormal range, and the largest f32.
    f64_edges = np.array([1 + 2.0**-24, 1 + 3 * 2.0**-24, -(1 + 2.0**-24), 1e-50, 2.0**-149, 2.0**-150,
                          3 * 2.0**-150, 3.4028234663852886e38, 0.1, -0.3], dtype=np.float64)
    w64 = np.concatenate([rng.standard_normal(25) * 0.1, f64_edges]).reshape(5, 7)
    # F16 values from a Gaussian cast by numpy (round to nearest even), plus the F16 extremes.
    w16 = np.concatenate([(rng.standard_normal(92) * 0.1).astype(np.float16),
                          np.array([65504.0, -65504.0, 2.0**-24, 2.0**-14], dtype=np.float16)]).reshape(8, 12)
    tensors = {
        "weight_f32": gaussian((16, 32)),
        "weight_f16": w16,
        "weight_f64": w64,
        "shared_f32": shared,
        "shared_f16": shared.astype(np.float16),
        "shared_f64": shared.astype(np.float64),
        "positions_i64": np.arange(-3, 7, dtype=np.int64) * 1_000_000_007,
        "empty_f32": np.zeros((0, 4), dtype=F32),
    }
    names = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16", np.dtype(np.float64): "F64",
             np.dtype(np.int64): "I64", np.dtype(np.int32): "I32", np.dtype(ml_dtypes.bfloat16): "BF16"}
    metadata = {"source": "make_fixtures.py"}
    save_file(tensors, str(FIX / "small.safetensors"), metadata=metadata)
    files["small.safetensors"] = {
        "format": "safetensors",
        "metadata": metadata,
        "tensors": {k: tensor_entry(v, names[v.dtype]) for k, v in tensors.items()},
    }

    # BF16: ml_dtypes.bfloat16 arrays; astype rounds float32 to nearest even. safetensors.numpy writes
    # them with dtype "BF16".
    wbf = gaussian((8, 16), 0.1)
    wbf[0, :4] = np.array([1 + 2.0**-8, 1 + 3 * 2.0**-8, 3.0e38, -1e-30], dtype=F32)  # ties and extremes
    bf_tensors = {"weight_bf16": wbf.astype(ml_dtypes.bfloat16), "shared_bf16": shared.astype(ml_dtypes.bfloat16)}
    save_file(bf_tensors, str(FIX / "small_bf16.safetensors"))
    files["small_bf16.safetensors"] = {
        "format": "safetensors",
        "metadata": {},
        "tensors": {k: tensor_entry(v, "BF16") for k, v in bf_tensors.items()},
    }

    def npy(name, arr, dtype_name, version=None):
        path = NPY / name
        if version is None:
            np.save(path, arr)
        else:
            with open(path, "wb") as f:
                np.lib.format.write_array(f, arr, version=version)
        back = np.load(path)
        assert back.dtype == arr.dtype and np.array_equal(back, arr, equal_nan=True)
        files[f"npy/{name}"] = {"format": "npy", "metadata": {},
                                "tensors": {name[:-4]: tensor_entry(arr, dtype_name)}}

    npy("weight_f32.npy", gaussian((12, 20)), "F32")
    npy("weight_f16.npy", (rng.standard_normal((7, 9)) * 0.1).astype(np.float16), "F16")
    npy("weight_f64.npy", rng.standard_normal((3, 11)) * 0.1, "F64")
    npy("weight_be_f2.npy", (rng.standard_normal(10) * 0.1).astype(">f2"), "F16")
    npy("weight_fortran_3d.npy", np.asfortranarray(gaussian((3, 4, 5))), "F32")
    npy("shared_f32.npy", shared, "F32")
    npy("shared_f16.npy", shared.astype(np.float16), "F16")
    npy("shared_f64.npy", shared.astype(np.float64), "F64")
    npy("shared_be_f4.npy", shared.astype(">f4"), "F32")
    npy("shared_fortran.npy", np.asfortranarray(shared), "F32")
    npy("shared_v2.npy", shared, "F32", version=(2, 0))
    npy("counts_i32.npy", np.arange(-6, 6, dtype=np.int32).reshape(3, 4) * 7, "I32")
    npy("scalar_f32.npy", np.array(1.5, dtype=F32), "F32")
    return files


def dump(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False)
    path.write_text(text + "\n")


def main():
    cases, add = build_cases()
    shared = shared_tensor()
    add_shared_cases(add, shared)
    names = [c["name"] for c in cases]
    assert len(names) == len(set(names))
    cross_check_with_onnxruntime(cases)
    dump(REF / "quant_cases.json", cases)
    files = write_files(shared)
    files_json = {"shared_tensor": {"shape": list(shared.shape), "values": f32_list(shared)}, "files": files}
    dump(REF / "files.json", files_json)
    total = sum(p.stat().st_size for p in FIX.rglob("*") if p.is_file())
    print(f"wrote {len(cases)} quantization cases and {len(files)} files; tests/fixtures holds {total} bytes")
    assert total < 1_000_000


if __name__ == "__main__":
    main()
