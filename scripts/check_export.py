#!/usr/bin/env python3
"""Round trips of `quant-playground export` through the real libraries (CI runs this).

safetensors: the `safetensors` package loads every export; numpy unpacks the codes, follows the
  README's naming scheme and dequantizes; codes, scales, zero points and the dequantized values
  must equal, bit for bit, what `quantize --dump` wrote for the same file and configuration.
onnx-qdq: a small model (MatMul, Gemm with transB=0 and =1, Conv) made here with onnx.helper, also
  saved with external data; onnx.checker passes on every export; onnxruntime runs the QDQ model and
  its outputs equal onnxruntime running the original graph with the weights replaced by numpy's
  dequantization of the exported initializers (exact with graph optimizations off, within 1e-6
  relative with basic ones on); those weights equal `quantize --dump` of the source along the same axis.

block formats (safetensors:FORMAT): the README's numpy snippet (ml_dtypes for the element and
  E8M0/E4M3 scale casts) dequantizes every export of digits-mlp; the values must equal, bit for bit,
  the `<name>.dq.npy` that `quantize --type FORMAT --dump` wrote.

Usage: python3 scripts/check_export.py [--bin target/debug/quant-playground]
Exits non-zero on any mismatch and prints a summary.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from safetensors import safe_open
from safetensors.numpy import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "formats")

failures = []
passed = 0


def check(ok, what):
    global passed
    if ok:
        passed += 1
    else:
        failures.append(what)
        print("FAIL:", what)


def run(binary, *args):
    r = subprocess.run([binary, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout


def spec_args(cfg):
    args = ["--bits", str(cfg["bits"]), "--scheme", cfg["scheme"], "--granularity", cfg["granularity"], "--calib", cfg.get("calib", "minmax")]
    if cfg.get("full_range"):
        args.append("--full-range")
    if cfg.get("scale_dtype"):
        args += ["--scale-dtype", cfg["scale_dtype"]]
    return args


def dump(binary, src, tensor, cfg, tmp):
    d = tempfile.mkdtemp(dir=tmp)
    run(binary, "quantize", src, "--tensor", tensor, "--dump", d, *spec_args(cfg))
    q = np.load(os.path.join(d, f"{tensor}.q.npy"))
    s = np.load(os.path.join(d, f"{tensor}.scale.npy"))
    z = np.load(os.path.join(d, f"{tensor}.zero_point.npy"))
    return q, s, z


# ---- safetensors ---------------------------------------------------------------------------------

def unpack_codes(stored, shape, meta):
    """The README's numpy: nibbles low first per row of the last axis, 4-bit two's complement when signed."""
    signed = meta["quant.scheme"] == "sym"
    if meta["quant.packing"] == "bytes":
        return stored.astype(np.int32).reshape(shape)
    if stored.size == 0:
        return np.zeros(shape, np.int32)
    rows = stored.reshape(-1, stored.shape[-1])
    nib = np.stack([rows & 0x0F, rows >> 4], axis=-1).reshape(rows.shape[0], -1).astype(np.int32)
    last = shape[-1] if shape else 1
    nib = nib[:, :last]
    if signed:
        nib = np.where(nib >= 8, nib - 16, nib)
    return nib.reshape(shape)


def dequantize_numpy(codes, scale, zp, shape, meta):
    gran = meta["quant.granularity"]
    scale = scale.astype(np.float32)
    zp = zp.astype(np.int32)
    if gran == "tensor":
        s, z = scale, zp
    elif gran.startswith("channel"):
        axis = int(gran.split(":")[1]) if ":" in gran else 0
        b = [1] * len(shape)
        b[axis] = -1
        s, z = scale.reshape(b), zp.reshape(b)
    else:
        g = int(gran.split(":")[1])
        last = shape[-1]
        s = np.repeat(scale, g, axis=-1)[..., :last]
        z = np.repeat(zp, g, axis=-1)[..., :last]
    return (codes - z).astype(np.float32) * s


SAFETENSORS_CONFIGS = [
    dict(bits=8, scheme="sym", granularity="tensor"),
    dict(bits=8, scheme="asym", granularity="channel"),
    dict(bits=8, scheme="sym", granularity="channel:1", calib="percentile:99.9"),
    dict(bits=6, scheme="sym", granularity="channel", scale_dtype="f16"),
    dict(bits=4, scheme="sym", granularity="group:32"),
    dict(bits=4, scheme="sym", granularity="group:100", full_range=True),
    dict(bits=4, scheme="asym", granularity="group:64", calib="mse"),
    dict(bits=3, scheme="asym", granularity="channel"),
    dict(bits=2, scheme="sym", granularity="tensor"),
]


def check_safetensors(binary, tmp):
    sources = [os.path.join(FIXTURES, "w.safetensors"), os.path.join(FIXTURES, "w.npy"), os.path.join(ROOT, "tests", "fixtures", "small.safetensors")]
    for src in sources:
        for cfg in SAFETENSORS_CONFIGS:
            label = f"{os.path.basename(src)} {cfg}"
            out = os.path.join(tmp, "out.safetensors")
            try:
                report = json.loads(run(binary, "export", src, "--to", "safetensors", "-o", out, "--json", *spec_args(cfg)))
            except RuntimeError as e:
                check(False, f"{label}: {e}")
                continue
            check(os.path.getsize(out) == report["export"]["total_bytes"], f"{label}: file size equals the report's total")
            tensors = load_file(out)
            with safe_open(out, "np") as f:
                meta = f.metadata()
            check(meta["quant.bits"] == str(cfg["bits"]), f"{label}: metadata bits")
            quantized = [k[len("quant.shape."):] for k in meta if k.startswith("quant.shape.")]
            check(len(quantized) > 0, f"{label}: quantized tensors listed in metadata")
            for name in quantized:
                shape = json.loads(meta[f"quant.shape.{name}"])
                codes = unpack_codes(tensors[name], shape, meta)
                scale, zp = tensors[f"{name}.scale"], tensors[f"{name}.zero_point"]
                x_hat = dequantize_numpy(codes, scale, zp, shape, meta)
                q, s, z = dump(binary, src, name, cfg, tmp)
                # The dump writes an empty tensor's per-group slots as (0, 0); the export as (0, groups): both empty.
                s, z = s.reshape(scale.shape), z.reshape(zp.shape)
                check(np.array_equal(codes, q.astype(np.int32)), f"{label} {name}: codes equal quantize --dump")
                check(np.array_equal(scale.astype(np.float32).view(np.uint32), s.astype(np.float32).view(np.uint32)), f"{label} {name}: scales bit-equal")
                check(np.array_equal(zp.astype(np.int32), z.astype(np.int32)), f"{label} {name}: zero points equal")
                want = dequantize_numpy(q.astype(np.int32), s, z, shape, meta)
                check(np.array_equal(x_hat.view(np.uint32), want.view(np.uint32)), f"{label} {name}: dequantized values bit-equal")
            for name, arr in tensors.items():
                if name.endswith((".scale", ".zero_point")) or name in quantized:
                    continue
                check(arr.dtype.kind in "iub", f"{label}: {name} copied as a non-float tensor")


# ---- ONNX QDQ ------------------------------------------------------------------------------------

def make_model(path, external=False, opset=13):
    rng = np.random.default_rng(7)
    w1 = rng.normal(0, 0.3, (16, 8)).astype(np.float32)  # MatMul B [K, N]: channels on axis 1
    b1 = rng.normal(0, 0.1, 8).astype(np.float32)
    w2 = rng.normal(0, 0.3, (4, 8)).astype(np.float32)  # Gemm transB=1: [N, K], axis 0
    b2 = rng.normal(0, 0.1, 4).astype(np.float32)
    w3 = (rng.normal(0, 0.3, (16, 3)) * np.array([1.0, 5.0, 0.1])).astype(np.float32)  # Gemm transB=0: axis 1
    wc = rng.normal(0, 0.3, (3, 2, 3, 3)).astype(np.float32)  # Conv W [M, C, kh, kw]: axis 0
    inits = [numpy_helper.from_array(a, n) for a, n in [(w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"), (w3, "w3"), (wc, "wc")]]
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("Gemm", ["h2", "w2", "b2"], ["y"], transB=1),
        helper.make_node("Gemm", ["x", "w3"], ["z"]),
        helper.make_node("Conv", ["img", "wc"], ["c"], pads=[1, 1, 1, 1]),
    ]
    graph = helper.make_graph(
        nodes,
        "qdq_check",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 16]), helper.make_tensor_value_info("img", TensorProto.FLOAT, [1, 2, 5, 5])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in [("y", [2, 4]), ("z", [2, 3]), ("c", [1, 3, 5, 5])]],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="check_export.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    if external:
        onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True, location=os.path.basename(path) + ".data", size_threshold=0)
    else:
        onnx.save_model(model, path)


def feeds():
    rng = np.random.default_rng(11)
    return {"x": rng.normal(0, 1, (2, 16)).astype(np.float32), "img": rng.normal(0, 1, (1, 2, 5, 5)).astype(np.float32)}


def run_ort(model_or_path, level):
    so = ort.SessionOptions()
    so.graph_optimization_level = level
    data = model_or_path if isinstance(model_or_path, str) else model_or_path.SerializeToString()
    sess = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds())


def dequantized_weights(qdq):
    inits = {t.name: numpy_helper.to_array(t) for t in qdq.graph.initializer}
    out = {}
    for node in qdq.graph.node:
        if node.op_type != "DequantizeLinear":
            continue
        q, s, z = (inits[n] for n in node.input)
        axis = next((a.i for a in node.attribute if a.name == "axis"), None)
        if axis is not None and s.ndim == 1:
            b = [1] * q.ndim
            b[axis] = -1
            s, z = s.reshape(b), z.reshape(b)
        out[node.output[0]] = ((q.astype(np.int32) - z.astype(np.int32)).astype(np.float32) * s.astype(np.float32), axis)
    return out


ONNX_CONFIGS = [
    dict(bits=8, scheme="sym", granularity="tensor"),
    dict(bits=8, scheme="sym", granularity="channel"),
    dict(bits=8, scheme="asym", granularity="channel"),
    dict(bits=4, scheme="sym", granularity="channel", calib="percentile:99.9"),
    dict(bits=8, scheme="asym", granularity="tensor", calib="mse"),
]

EXPECTED_AXES = {"w1": 1, "w2": 0, "w3": 1, "wc": 0}


def check_onnx(binary, tmp):
    plain, ext = os.path.join(tmp, "model.onnx"), os.path.join(tmp, "model_ext.onnx")
    make_model(plain)
    make_model(ext, external=True)
    original = onnx.load(plain)
    for src in [plain, ext]:
        for cfg in ONNX_CONFIGS:
            label = f"{os.path.basename(src)} {cfg}"
            out = os.path.join(tmp, "qdq.onnx")
            try:
                run(binary, "export", src, "--to", "onnx-qdq", "-o", out, *spec_args(cfg))
            except RuntimeError as e:
                check(False, f"{label}: {e}")
                continue
            qdq = onnx.load(out)
            try:
                onnx.checker.check_model(qdq, full_check=True)
                check(True, "checker")
            except Exception as e:  # noqa: BLE001 — report the checker's words
                check(False, f"{label}: onnx.checker: {e}")
                continue
            check(not any(t.HasField("data_location") and t.data_location == 1 for t in qdq.graph.initializer), f"{label}: everything inline")
            check([n.op_type for n in qdq.graph.node[:4]] == ["DequantizeLinear"] * 4, f"{label}: four DequantizeLinear nodes first")
            weights = dequantized_weights(qdq)
            check(sorted(weights) == sorted(EXPECTED_AXES), f"{label}: the weights of MatMul, Gemm and Conv are quantized ({sorted(weights)})")
            want_type = TensorProto.INT8 if cfg["scheme"] == "sym" else TensorProto.UINT8
            check(all(t.data_type == want_type for t in qdq.graph.initializer if t.name.endswith("_quantized")), f"{label}: code type")
            ref = onnx.load(plain)
            for t in ref.graph.initializer:
                if t.name in weights:
                    t.CopyFrom(numpy_helper.from_array(weights[t.name][0], t.name))
            for name, (w, axis) in weights.items():
                per_channel = cfg["granularity"] == "channel"
                check(axis == (EXPECTED_AXES[name] if per_channel else None), f"{label} {name}: axis {axis}")
                gran = f"channel:{axis}" if axis is not None else "tensor"
                q, s, z = dump(binary, plain, name, dict(cfg, granularity=gran), tmp)
                if axis is not None:
                    b = [1] * q.ndim
                    b[axis] = -1
                    s, z = s.reshape(b), z.reshape(b)
                want = (q.astype(np.int32) - z.astype(np.int32)).astype(np.float32) * s
                check(np.array_equal(w.view(np.uint32), want.view(np.uint32)), f"{label} {name}: weights equal quantize --dump")
            exact_q = run_ort(out, ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
            exact_r = run_ort(ref, ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
            for a, b, n in zip(exact_q, exact_r, "yzc"):
                check(np.array_equal(a, b), f"{label}: output {n} equal without optimizations (max diff {np.abs(a - b).max()})")
            # Basic optimizations (constant folding folds the DequantizeLinear of constants). Not
            # ENABLE_ALL: onnxruntime 1.32 then fuses DequantizeLinear + MatMul into its MatMulNBits
            # contrib op, which computes differently (about 3e-2 off here) — its choice, not the model's.
            opt_q = run_ort(out, ort.GraphOptimizationLevel.ORT_ENABLE_BASIC)
            opt_r = run_ort(ref, ort.GraphOptimizationLevel.ORT_ENABLE_BASIC)
            for a, b, n in zip(opt_q, opt_r, "yzc"):
                check(np.allclose(a, b, rtol=1e-6, atol=1e-6), f"{label}: output {n} close with optimizations (max diff {np.abs(a - b).max()})")
            check(len(original.graph.node) + 4 == len(qdq.graph.node), f"{label}: the original nodes are all kept")

    # Opset 12 per channel is refused with a reason; per tensor is written and keeps opset 12.
    old = os.path.join(tmp, "model_op12.onnx")
    make_model(old, opset=12)
    r = subprocess.run([binary, "export", old, "--to", "onnx-qdq", "-o", os.path.join(tmp, "x.onnx"), "--granularity", "channel"], capture_output=True, text=True)
    check(r.returncode != 0 and "opset 13" in r.stderr and not os.path.exists(os.path.join(tmp, "x.onnx")), "opset 12 per-channel is refused, no file left")
    run(binary, "export", old, "--to", "onnx-qdq", "-o", os.path.join(tmp, "y.onnx"))
    m = onnx.load(os.path.join(tmp, "y.onnx"))
    onnx.checker.check_model(m, full_check=True)
    check(m.opset_import[0].version == 12, "opset 12 per-tensor keeps opset 12")
    # A non-ONNX input is refused with a reason.
    r = subprocess.run([binary, "export", os.path.join(FIXTURES, "w.safetensors"), "--to", "onnx-qdq", "-o", os.path.join(tmp, "z.onnx")], capture_output=True, text=True)
    check(r.returncode != 0 and "needs an .onnx input" in r.stderr, "onnx-qdq on safetensors says what is wrong")


BLOCK_FORMATS = ["fp8-e4m3", "fp8-e5m2", "mxfp8-e4m3", "mxint8", "mxfp6-e2m3", "mxfp6-e3m2", "mxfp4", "nvfp4", "nf4"]
NF4_LEVELS = np.array([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
                       -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
                       0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                       0.7229568362236023, 1.0], np.float32)


def dequantize_block_export(f, name):
    """The README's snippet: a safetensors:FORMAT export's tensor back to float32."""
    import ml_dtypes

    meta = f.metadata()
    fmt, shape = meta["quant.format"], json.loads(meta[f"quant.shape.{name}"])
    q, scale = f.get_tensor(name), f.get_tensor(name + ".scale")
    if meta["quant.packing"] == "nibbles":  # element 2i in the low nibble, 2i+1 in the high one
        q = np.stack([q & 0x0F, q >> 4], axis=-1).reshape(*q.shape[:-1], -1)[..., : shape[-1]]
    elem = {"e2m1": ml_dtypes.float4_e2m1fn, "e2m3": ml_dtypes.float6_e2m3fn, "e3m2": ml_dtypes.float6_e3m2fn,
            "e4m3": ml_dtypes.float8_e4m3fn, "e5m2": ml_dtypes.float8_e5m2}.get(meta["quant.element"])
    if meta["quant.element"] == "nf4":
        v = NF4_LEVELS[q]
    elif meta["quant.element"] == "int8":
        v = q.astype(np.float32) / np.float32(64)
    else:
        v = q.view(elem).astype(np.float32)
    block = meta["quant.block"]
    if block == "tensor":
        return v * scale
    if fmt == "nf4":  # absmax per 64 of the flattened tensor
        flat = v.reshape(-1)
        return (flat * np.repeat(scale, 64)[: flat.size]).reshape(shape)
    if meta["quant.scale_format"] == "e8m0":
        s = scale.view(ml_dtypes.float8_e8m0fnu).astype(np.float32)
    else:  # nvfp4: E4M3 block scale times the FP32 tensor scale
        s = scale.view(ml_dtypes.float8_e4m3fn).astype(np.float32) * f.get_tensor(name + ".tensor_scale")
    return v * np.repeat(s, int(block), axis=-1)[..., : shape[-1]]


def check_block_formats(binary, tmp):
    src = os.path.join(ROOT, "www", "examples", "digits-mlp.safetensors")
    for fmt in BLOCK_FORMATS:
        out = os.path.join(tmp, f"digits.{fmt}.safetensors")
        run(binary, "export", src, "--to", f"safetensors:{fmt}", "-o", out)
        d = os.path.join(tmp, f"dump-{fmt}")
        run(binary, "quantize", src, "--type", fmt, "--dump", d)
        with safe_open(out, framework="numpy") as f:
            for name in ["fc1.weight", "fc2.weight", "fc3.weight", "fc2.bias"]:
                got = dequantize_block_export(f, name)
                want = np.load(os.path.join(d, f"{name}.dq.npy"))
                check(got.dtype == np.float32 and np.array_equal(got.view(np.uint32), want.view(np.uint32)),
                      f"{fmt} {name}: numpy's dequantization of the export equals quantize --dump")


def main():
    np.seterr(over="ignore")  # fixtures hold values near the f32 limit; f32 overflow to inf is what Rust computes too
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "debug", "quant-playground"))
    args = ap.parse_args()
    binary = os.environ.get("QP_BIN", args.bin)
    if not os.path.exists(binary):
        sys.exit(f"{binary} not found: build it first (cargo build)")
    with tempfile.TemporaryDirectory() as tmp:
        check_safetensors(binary, tmp)
        check_onnx(binary, tmp)
        check_block_formats(binary, tmp)
    print(f"check_export: {passed} checks passed, {len(failures)} failed (numpy {np.__version__}, onnx {onnx.__version__}, onnxruntime {ort.__version__})")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
