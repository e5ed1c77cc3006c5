#!/usr/bin/env python3
"""`quant-playground diff FLOAT QUANTIZED --json` against numpy on the same arrays.

For each real pair (the ONNX float model and onnxruntime's quantize_static / quantize_dynamic /
MatMulNBits copies of it; the digits MLP and gguf-py's renamed Q8_0/Q4_0 copy; a one-block llama in
HF safetensors and its GGUF with llama.cpp's attn_q / attn_k row permutation (both ways); the digits MLP and
our own `export --to gguf:Q4_K`), both files go through `convert` (every tensor as F32, dequantized
with the file's own parameters: check_convert.py proves that output against the libraries), and
numpy recomputes from those arrays, under the pairing the JSON reports:

- theirs: SQNR, cosine, mse (float64 sums) and max |err| (float32) of the copy against the float tensor;
- ours: the float tensor through the same quantizer in numpy — min-max integer codes per the
  numerics contract (DESIGN.md; f32 arithmetic, round half to even), ggml types with gguf-py's
  own quantizer where it has one (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0), FP16/BF16 casts with numpy /
  ml_dtypes — then the same figures;
- the summary: the sums pooled over every element of the tensors that have both.

    python3 scripts/check_diff.py --bin target/debug/quant-playground
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
from safetensors.numpy import load_file

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
Q = os.path.join(ROOT, "tests", "fixtures", "quantized")
DIGITS = os.path.join(ROOT, "www", "examples", "digits-mlp.safetensors")
REL = 1e-6  # our sums add f32 lane partials; numpy's are float64 throughout

failures = []
passed = 0
skipped = []


def check(ok, what):
    global passed
    if ok:
        passed += 1
    else:
        failures.append(what)
        print("FAIL:", what)


def run(binary, *args):
    out = subprocess.run([binary, *args], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(args)} failed: {out.stderr}")
    return out.stdout


def num(v):
    return float(v) if not isinstance(v, str) else (float("inf") if v == "inf" else float("-inf"))


def close(got, want):
    got = num(got)
    return got == want or abs(got - want) <= REL * max(abs(want), 1e-30)


def sums(x, y):
    x64, y64 = x.astype(np.float64).ravel(), y.astype(np.float64).ravel()
    e = x64 - y64
    return {"xx": float(x64 @ x64), "yy": float(y64 @ y64), "xy": float(x64 @ y64), "ee": float(e @ e),
            "max": float(np.max(np.abs(x.ravel() - y.ravel()), initial=0.0)), "n": x.size}


def figures(s):
    sqnr = float("inf") if s["ee"] == 0 else 10 * np.log10(s["xx"] / s["ee"])
    if s["ee"] == 0 or (s["xx"] == 0 and s["yy"] == 0):
        cos = 1.0
    else:
        cos = s["xy"] / (np.sqrt(s["xx"]) * np.sqrt(s["yy"]))
    return {"sqnr_db": sqnr, "cosine": cos, "mse": s["ee"] / max(s["n"], 1), "max_abs_err": s["max"]}


def compare(what, got, s):
    want = figures(s)
    for key in ("sqnr_db", "cosine", "mse"):
        check(close(got[key], want[key]), f"{what} {key}: diff says {got[key]}, numpy {want[key]}")
    check(num(got["max_abs_err"]) == want["max_abs_err"], f"{what} max_abs_err: diff says {got['max_abs_err']}, numpy {want['max_abs_err']}")


def slots_view(x, gran):
    """x reshaped so that each row of the result is one slot's elements, and the inverse."""
    if gran == "tensor":
        return x.reshape(1, -1), lambda y: y.reshape(x.shape)
    kind, arg = gran.split(":")
    if kind == "channel":
        a = int(arg)
        moved = np.moveaxis(x, a, 0)
        return moved.reshape(moved.shape[0], -1), lambda y: np.moveaxis(y.reshape(moved.shape), 0, a)
    g = int(arg)
    last = x.shape[-1]
    assert last % g == 0, "the fixtures have whole groups"
    return x.reshape(-1, g), lambda y: y.reshape(x.shape)


def ours_int(x, bits, scheme, gran, full):
    """The numerics contract's min-max quantize → dequantize, in float32."""
    rows, back = slots_view(x.astype(np.float32), gran)
    lo, hi = rows.min(axis=1), rows.max(axis=1)
    if scheme == "sym":
        qmax = 2 ** (bits - 1) - 1
        qmin = -(2 ** (bits - 1)) if full else -qmax
        scale = (np.maximum(np.abs(lo), np.abs(hi)) / np.float32(qmax)).astype(np.float32)
        scale[~(np.isfinite(scale) & (scale > 0))] = 1.0
        zp = np.zeros_like(scale)
    else:
        qmin, qmax = 0, 2 ** bits - 1
        lo, hi = np.minimum(lo, np.float32(0)), np.maximum(hi, np.float32(0))
        scale = ((hi - lo) / np.float32(qmax - qmin)).astype(np.float32)
        scale[~(np.isfinite(scale) & (scale > 0))] = 1.0
        zp = np.clip(np.rint(np.float32(qmin) - lo / scale), qmin, qmax).astype(np.float32)
    q = np.clip(np.rint(rows / scale[:, None]) + zp[:, None], qmin, qmax)
    return back(((q - zp[:, None]) * scale[:, None]).astype(np.float32))


def ours_values(x, label, note):
    """(the float values in the layout ours quantizes, ours dequantized), or None without a numpy quantizer."""
    m = re.fullmatch(r"int(\d) (sym|asym) (tensor|channel:\d+|group:\d+)( full)?", label)
    if m:
        moved = re.search(r"axis (\d+) moved last", note)
        if moved:
            x = np.ascontiguousarray(np.moveaxis(x, int(moved.group(1)), -1))
        return x, ours_int(x, int(m.group(1)), m.group(2), m.group(3), bool(m.group(4)))
    if label == "fp16":
        return x, x.astype(np.float16).astype(np.float32)
    if label == "bf16":
        import ml_dtypes
        return x, x.astype(ml_dtypes.bfloat16).astype(np.float32)
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize, quantize
    qtype = GGMLQuantizationType[label.upper()]
    try:
        return x, dequantize(quantize(x, qtype), qtype).reshape(x.shape)
    except NotImplementedError:
        return None  # gguf-py reads this type but has no quantizer (the K-quants)


def llama_permute(w, heads):
    """llama.cpp convert_hf_to_gguf.py LlamaModel.permute (with the head count already chosen)."""
    return np.ascontiguousarray(w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape))


def llama_unpermute(w, heads):
    return np.ascontiguousarray(w.reshape(heads, w.shape[0] // heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape))


def check_pair(binary, tmp, float_path, quantized_path, label):
    report = json.loads(run(binary, "diff", float_path, quantized_path, "--json"))
    arrays = []
    for i, path in enumerate((float_path, quantized_path)):
        out = os.path.join(tmp, f"{label}.{i}.safetensors")
        run(binary, "convert", path, "-o", out)
        arrays.append(load_file(out))
    f, q = arrays
    pooled_theirs, pooled_ours = [], []
    for row in report["tensors"]:
        x, y = f[row["name"]].astype(np.float32), q[row["quantized_name"]].astype(np.float32)
        if row["transposed"]:
            x = np.ascontiguousarray(x.T)
        rows = row.get("llama_rows")
        if rows:
            # The float rows in the copy's order: llama.cpp's permute (HF → GGUF), or its inverse
            # when the float file is the GGUF.
            x = (llama_unpermute if rows["float_is_gguf"] else llama_permute)(x, rows["heads"])
        what = f"{label} {row['name']}"
        check(x.shape == y.shape, f"{what}: shapes {x.shape} and {y.shape}")
        s = sums(x, y)
        compare(what + " theirs", row["theirs"], s)
        if row["ours"] is None:
            continue
        pooled_theirs.append(s)
        ours = ours_values(x, row["ours"]["format"], row["ours_note"])
        if ours is None:
            skipped.append(f"{what} ours ({row['ours']['format']}: gguf-py has no quantizer for it)")
            # The summary still adds it: Σe² from the row's mse (Σx² is the float tensor's own).
            pooled_ours.append({"xx": s["xx"], "ee": row["ours"]["mse"] * row["elements"], "n": row["elements"]})
            continue
        o = sums(*ours)
        compare(what + " ours", row["ours"], o)
        pooled_ours.append(o)

    def sqnr(ss):
        return 10 * np.log10(sum(s["xx"] for s in ss) / sum(s["ee"] for s in ss))

    summary = report["summary"]
    check((summary["theirs"] is None) == (not pooled_theirs), f"{label} summary: pooled figures exactly when some tensor has ours")
    if pooled_theirs:
        check(close(summary["theirs"]["sqnr_db"], sqnr(pooled_theirs)), f"{label} summary theirs sqnr {summary['theirs']['sqnr_db']} vs {sqnr(pooled_theirs)}")
        check(close(summary["ours"]["sqnr_db"], sqnr(pooled_ours)), f"{label} summary ours sqnr {summary['ours']['sqnr_db']} vs {sqnr(pooled_ours)}")
        check(summary["theirs"]["elements"] == sum(s["n"] for s in pooled_theirs), f"{label} summary elements")
    return report


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    args = ap.parse_args()
    binary = os.path.abspath(args.bin)
    with tempfile.TemporaryDirectory() as tmp:
        pairs = [(os.path.join(Q, "float.onnx"), os.path.join(Q, f"{n}.onnx"), n) for n in
                 ("qdq_per_tensor", "qdq_per_channel", "qoperator", "dynamic", "nbits4", "nbits4_sym", "nbits2", "nbits4_qdq")]
        pairs.append((DIGITS, os.path.join(ROOT, "tests", "fixtures", "diff", "digits_ggufpy.gguf"), "digits_ggufpy"))
        # A llama GGUF as convert_hf_to_gguf.py writes it (attn_q / attn_k rows permuted) against its HF
        # safetensors, both ways round.
        llama_hf, llama_gguf = (os.path.join(ROOT, "tests", "fixtures", "diff", f) for f in ("llama_hf.safetensors", "llama_ggufpy.gguf"))
        pairs += [(llama_hf, llama_gguf, "llama_ggufpy"), (llama_gguf, llama_hf, "llama_ggufpy_reversed")]
        own = os.path.join(tmp, "digits-q4_k.gguf")
        run(binary, "export", DIGITS, "--to", "gguf:Q4_K", "-o", own)
        pairs.append((DIGITS, own, "digits_q4_k_ours"))
        for float_path, quantized_path, label in pairs:
            r = check_pair(binary, tmp, float_path, quantized_path, label)
            s = r["summary"]
            both = (f"theirs {num(s['theirs']['sqnr_db']):.4f} dB at {s['theirs']['bits_per_weight']:.3f} b/w, "
                    f"ours {num(s['ours']['sqnr_db']):.4f} dB at {s['ours']['bits_per_weight']:.3f} b/w") if s["theirs"] else "nothing quantized"
            print(f"{label}: {s['matched']} matched ({s['by_name']} name, {s['by_renamed_name']} renamed, {s['by_fingerprint']} fingerprint); {both}")
    for s in skipped:
        print("not checked:", s)
    print(f"check_diff: {passed} checks passed, {len(failures)} failed, {len(skipped)} not checked (numpy {np.__version__})")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
