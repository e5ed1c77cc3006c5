"""Checks `quant-playground ptq` against onnxruntime's quantize_static (QuantFormat.QDQ) on the same
models and calibration data: every scale and zero point ORT writes (activations, weights, biases),
the other initializers (quantized weights, int32 biases), the node list (op type, name, inputs,
outputs, in order), and the outputs of both models under onnxruntime python.

Models: a small CNN made here with onnx.helper (Conv+bias, Relu, MaxPool, residual Add,
GlobalAveragePool, Flatten, Gemm with beta, Softmax, MatMul, Reshape, Transpose), and the real
models of www/examples/ptq/ (scripts/fetch_ptq_models.py; ptq-page): the PaddleOCR MobileNetV3
text-direction classifier and paraphrase-MiniLM-L3-v2.

Usage: python3 scripts/check_ptq.py [--bin target/debug/quant-playground] [--quick] [--models DIR]
Exit status 1 when anything differs beyond the stated tolerance.
"""
import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static
from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

ROOT = Path(__file__).resolve().parent.parent
METHODS = {
    "minmax": CalibrationMethod.MinMax,
    "percentile": CalibrationMethod.Percentile,
    "entropy": CalibrationMethod.Entropy,
    "distribution": CalibrationMethod.Distribution,
}
# Every method's ranges are ORT's exactly (percentile and entropy: the whole calibration set's
# histogram in ORT's one-call layout, src/graph/calibration.rs): any difference fails the check.
EXACT_METHODS = set(METHODS)


def small_cnn(path):
    rng = np.random.default_rng(7)

    def init(name, shape, scale=0.3):
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1], group=4),
        helper.make_node("Clip", ["c2", "lo", "hi"], ["r2"], name="clip2"),
        helper.make_node("Add", ["r2", "p1"], ["s2"], name="residual"),
        helper.make_node("Transpose", ["s2"], ["t2"], name="nhwc", perm=[0, 2, 3, 1]),
        helper.make_node("Transpose", ["t2"], ["t3"], name="nchw", perm=[0, 3, 1, 2]),
        helper.make_node("GlobalAveragePool", ["t3"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "wfc", "bfc"], ["fc"], name="fc", transB=1, beta=0.5),
        helper.make_node("MatMul", ["fc", "wmm"], ["mm"], name="matmul"),
        helper.make_node("Reshape", ["mm", "shape"], ["rs"], name="reshape"),
        helper.make_node("Softmax", ["rs"], ["y"], name="softmax", axis=-1),
    ]
    inits = [
        init("w1", [8, 3, 3, 3]),
        init("b1", [8], 0.1),
        init("w2", [8, 2, 3, 3]),
        init("b2", [8], 0.1),
        numpy_helper.from_array(np.array(0.0, np.float32), "lo"),
        numpy_helper.from_array(np.array(6.0, np.float32), "hi"),
        init("wfc", [10, 8]),
        init("bfc", [10], 0.1),
        init("wmm", [10, 6]),
        numpy_helper.from_array(np.array([-1, 6], np.int64), "shape"),
    ]
    graph = helper.make_graph(
        nodes,
        "small_cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 6])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    calib = {"x": rng.standard_normal((12, 3, 16, 16)).astype(np.float32)}
    evaluation = {"x": rng.standard_normal((6, 3, 16, 16)).astype(np.float32)}
    return calib, evaluation


class Reader(CalibrationDataReader):
    """One sample per batch, the first axis kept: the CLI's --calib-data FILE.npz convention."""

    def __init__(self, arrays):
        n = len(next(iter(arrays.values())))
        self.batches = iter([{k: v[i : i + 1] for k, v in arrays.items()} for i in range(n)])

    def get_next(self):
        return next(self.batches, None)


def run(model, feed):
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    return sess.run(None, {k: v for k, v in feed.items() if k in names})


def node_key(n):
    attrs = sorted((a.name, str(helper.get_attribute_value(a))) for a in n.attribute)
    return (n.op_type, n.domain, n.name, list(n.input), list(n.output), attrs)


def compare(ort_path, our_path):
    a, b = onnx.load(ort_path), onnx.load(our_path)
    ia = {i.name: numpy_helper.to_array(i) for i in a.graph.initializer}
    ib = {i.name: numpy_helper.to_array(i) for i in b.graph.initializer}
    stats = {"scale": [0, 0], "zero_point": [0, 0], "other": [0, 0]}
    diffs = []
    for name, va in ia.items():
        kind = "scale" if name.endswith("_scale") else "zero_point" if name.endswith("_zero_point") else "other"
        stats[kind][1] += 1
        vb = ib.get(name)
        if vb is not None and va.dtype == vb.dtype and va.shape == vb.shape and np.array_equal(va, vb):
            stats[kind][0] += 1
        else:
            diffs.append((name, va, vb))
    extra = sorted(set(ib) - set(ia))
    na = [node_key(n) for n in a.graph.node]
    nb = [node_key(n) for n in b.graph.node]
    return stats, diffs, extra, na == nb, na, nb


def describe(diffs, limit=3):
    out = []
    for name, va, vb in diffs[:limit]:
        if vb is None:
            out.append(f"{name}: missing in ours")
        elif va.shape != vb.shape or va.dtype != vb.dtype:
            out.append(f"{name}: ORT {va.dtype}{list(va.shape)} ours {vb.dtype}{list(vb.shape)}")
        else:
            d = np.abs(va.astype(np.float64) - vb.astype(np.float64))
            out.append(f"{name}: {int((d > 0).sum())}/{d.size} differ, max {d.max():.3g} (ORT {va.ravel()[:2]} ours {vb.ravel()[:2]})")
    return "; ".join(out)


def explain(diffs, extra, same_nodes, na, nb):
    """Prints what differs: a few initializers, the extra ones, the first differing node."""
    if diffs:
        print(f"     {describe(diffs)}")
    if extra:
        print(f"     initializers only in ours: {extra[:5]}")
    if not same_nodes:
        first = next((i for i, (x, y) in enumerate(zip(na, nb)) if x != y), min(len(na), len(nb)))
        print(f"     first differing node #{first}: ORT {na[first] if first < len(na) else None} ours {nb[first] if first < len(nb) else None}")


def check_rewrite(tag, cmd, ort_out, our_out, evaluation, rows, row):
    """Runs ours, compares every initializer, the nodes and the outputs with ORT's; 1 when they differ."""
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        print(f"DIFF {tag}: ours failed: {res.stderr.strip()}")
        return 1
    stats, diffs, extra, same_nodes, na, nb = compare(ort_out, our_out)
    ya, yb = run(ort_out, evaluation), run(our_out, evaluation)
    out_diff = max(float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)))) if x.size else 0.0 for x, y in zip(ya, yb))
    alle = [sum(v[0] for v in stats.values()), sum(v[1] for v in stats.values())]
    ok = not diffs and same_nodes and not extra and out_diff == 0.0
    rows.append({**row, "initializers_equal": alle, "nodes_equal": same_nodes, "nodes": [len(na), len(nb)], "output_max_abs_diff": out_diff})
    print(f"{'ok  ' if ok else 'DIFF'} {tag:42s} initializers {alle[0]}/{alle[1]}  nodes {'same' if same_nodes else f'differ ({len(na)} vs {len(nb)})'}  output max|diff| {out_diff:.3g}")
    explain(diffs, extra, same_nodes, na, nb)
    return 0 if ok else 1


def main():
    logging.disable(logging.INFO)
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / "quant-playground"))
    ap.add_argument("--models", default=None, help="folder with the real models (default www/examples/ptq, then /work/ptq-models)")
    ap.add_argument("--quick", action="store_true", help="minmax and distribution only")
    ap.add_argument("--only", default=None, help="run only the model of this name")
    ap.add_argument("--methods", default=None, help="comma-separated methods (default all four)")
    ap.add_argument("--json", default=None, help="write the figures here")
    ap.add_argument("--light", action="append", default=[], help="for this model run minmax and int4 only (repeatable)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="check-ptq-"))
    cases = []
    calib, evaluation = small_cnn(tmp / "small_cnn.onnx")
    np.savez(tmp / "small_cnn-calib.npz", **calib)
    cases.append(("small_cnn", tmp / "small_cnn.onnx", tmp / "small_cnn-calib.npz", evaluation, None))

    folders = [Path(args.models)] if args.models else [ROOT / "www/examples/ptq", Path("/work/ptq-models")]
    folder = next((f for f in folders if (f / "textline-direction-cls.onnx").exists()), None)
    if folder is None:
        print(f"the real models are missing from {', '.join(map(str, folders))}: run scripts/setup.sh (scripts/fetch_ptq_models.py)")
        return 1
    cls_eval = dict(np.load(folder / "textline-eval.npz"))
    cases.append(("textline-cls", folder / "textline-direction-cls.onnx", folder / "textline-calib.npz", {"x": cls_eval["x"]}, None))
    minilm_eval = dict(np.load(folder / "sentences-eval.npz"))
    cases.append(("minilm-l3", folder / "paraphrase-minilm-l3.onnx", folder / "sentences-calib.npz", minilm_eval, "461"))

    methods = ["minmax", "distribution"] if args.quick else list(METHODS)
    if args.methods:
        methods = args.methods.split(",")
    failures, rows = 0, []
    for name, model, calib_path, evaluation, output in cases:
        if args.only and name != args.only:
            continue
        calib = dict(np.load(calib_path))
        fp32 = run(model, evaluation)
        model_methods = [m for m in methods if m in METHODS and (name not in args.light or m == "minmax")]
        for method in model_methods:
            for per_channel in (False, True):
                for act in ("u8", "s8"):
                    tag = f"{name}-{method}-{'channel' if per_channel else 'tensor'}-{act}"
                    ort_out, our_out = tmp / f"{tag}-ort.onnx", tmp / f"{tag}-ours.onnx"
                    try:
                        quantize_static(
                            str(model),
                            str(ort_out),
                            Reader(calib),
                            quant_format=QuantFormat.QDQ,
                            per_channel=per_channel,
                            activation_type=QuantType.QUInt8 if act == "u8" else QuantType.QInt8,
                            weight_type=QuantType.QInt8,
                            calibrate_method=METHODS[method],
                        )
                    except Exception as e:  # noqa: BLE001 - ORT's own failure is a figure too
                        print(f"ORT  {tag:42s} onnxruntime's quantize_static fails: {type(e).__name__}: {str(e)[:120]}")
                        rows.append({"model": name, "method": method, "granularity": "channel" if per_channel else "tensor",
                                     "activations": act, "ort_error": f"{type(e).__name__}: {e}"})
                        continue
                    cmd = [args.bin, "ptq", str(model), "--calib-data", str(calib_path), "--method", method,
                           "--granularity", "channel" if per_channel else "tensor", "--activations", act, "-o", str(our_out), "--json"]
                    res = subprocess.run(cmd, capture_output=True, text=True)
                    if res.returncode != 0:
                        print(f"{tag}: ours failed: {res.stderr.strip()}")
                        failures += 1
                        continue
                    stats, diffs, extra, same_nodes, na, nb = compare(ort_out, our_out)
                    idx = list(range(len(fp32))) if output is None else [[o.name for o in onnx.load(str(model), load_external_data=False).graph.output].index(output)]
                    ya, yb = run(ort_out, evaluation), run(our_out, evaluation)
                    out_diff = max(float(np.max(np.abs(ya[i].astype(np.float64) - yb[i].astype(np.float64)))) if ya[i].size else 0.0 for i in idx)
                    exact = method in EXACT_METHODS
                    ok = (not diffs and same_nodes and not extra and out_diff == 0.0) if exact else same_nodes
                    failures += not ok
                    row = {"model": name, "method": method, "granularity": "channel" if per_channel else "tensor", "activations": act,
                           "scales_equal": stats["scale"], "zero_points_equal": stats["zero_point"], "other_initializers_equal": stats["other"],
                           "nodes_equal": same_nodes, "nodes": [len(na), len(nb)], "extra_initializers": extra, "output_max_abs_diff": out_diff}
                    rows.append(row)
                    s, z, o = stats["scale"], stats["zero_point"], stats["other"]
                    print(f"{'ok  ' if ok else 'DIFF'} {tag:42s} scales {s[0]}/{s[1]}  zero points {z[0]}/{z[1]}  weights/biases {o[0]}/{o[1]}"
                          f"  nodes {'same' if same_nodes else f'differ ({len(na)} vs {len(nb)})'}  output max|diff| {out_diff:.3g}")
                    explain(diffs, extra, same_nodes, na, nb)
        if not args.methods or "dynamic" in args.methods.split(","):
            for per_channel in (False, True):
                tag = f"{name}-dynamic-{'channel' if per_channel else 'tensor'}"
                ort_out, our_out = tmp / f"{tag}-ort.onnx", tmp / f"{tag}-ours.onnx"
                quantize_dynamic(str(model), str(ort_out), per_channel=per_channel, weight_type=QuantType.QInt8)
                cmd = [args.bin, "ptq", str(model), "--dynamic", "--granularity", "channel" if per_channel else "tensor", "-o", str(our_out), "--json"]
                failures += check_rewrite(tag, cmd, ort_out, our_out, evaluation, rows, {"model": name, "method": "dynamic", "per_channel": per_channel})
        if args.methods and "int4" not in args.methods.split(","):
            continue
        for symmetric in (False, True):
            tag = f"{name}-int4-{'sym' if symmetric else 'asym'}"
            ort_out, our_out = tmp / f"{tag}-ort.onnx", tmp / f"{tag}-ours.onnx"
            q = MatMulNBitsQuantizer(onnx.load(str(model)), block_size=128, is_symmetric=symmetric)
            q.process()
            q.model.save_model_to_file(str(ort_out), False)
            cmd = [args.bin, "ptq", str(model), "--int4", "-o", str(our_out), "--json"] + (["--int4-symmetric"] if symmetric else [])
            failures += check_rewrite(tag, cmd, ort_out, our_out, evaluation, rows, {"model": name, "method": "int4", "symmetric": symmetric})
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    print(f"{len(rows)} configurations, {failures} with differences" + ("" if failures == 0 else " (see DIFF lines)"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
