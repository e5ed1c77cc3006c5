#!/usr/bin/env python3
"""The numpy reference of the embedded example (issue 7): the integer-only INT8 pipeline bit for bit, and
every configuration's accuracy, recomputed from the float weights without any Rust code.

    cargo run --release -- eval --export-static-params tests/fixtures/reference/digits_int8_static_params.json
    python3 scripts/digits_int_reference.py

Reads the example (www/examples/digits-*) and the calibrated activation parameters that the Rust side
exported (one set per calibration method: per layer input the range, scale and zero point). It checks that
the scale and zero point follow the numerics contract from the range (f32 arithmetic), recomputes the
weights' quantization itself, and runs (Jacob et al. 2017; TFLite's reference kernels):

    a0        = clamp(round_half_even(x / sa) + za, 0, 255)                    u8 input codes
    acc       = (a − za) · w_sᵀ                                                exact integers
    bias_q    = round_half_even(b / (sa·sw))                                   float32
    hidden    = clamp(MultiplyByQuantizedMultiplier(acc + bias_q, M0, shift) + zy, zy, 255)
                with (M0, shift) = QuantizeMultiplier(sa·sw / sy) in float64
    logits    = acc + bias_q of the last layer (int32), dequantized as f32(logits) · (sa·sw)

Writes tests/fixtures/reference/digits_int8_static_<method>_logits.npy (int32 [N, classes]) that the Rust
tests compare with bit for bit, and tests/fixtures/reference/digits_expected.json: the accuracy of every
configuration in numpy (fp32 in float32; int8-dynamic, int4 and int2 emulated with the kernels' rules),
which the Rust evaluation must match within ±0.5 points.
"""
import json
import math
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

ROOT = Path(__file__).resolve().parent.parent
EX = ROOT / "www" / "examples"
REF = ROOT / "tests" / "fixtures" / "reference"
F32 = np.float32


def load():
    params = load_file(str(EX / "digits-mlp.safetensors"))
    layers = []
    i = 1
    while f"fc{i}.weight" in params:
        layers.append((params[f"fc{i}.weight"].astype(F32), params[f"fc{i}.bias"].astype(F32)))
        i += 1
    x = np.load(EX / "digits-test-x.npy").astype(F32)
    y = np.load(EX / "digits-test-y.npy").astype(np.int64)
    return layers, x, y


# ---- the numerics contract ---------------------------------------------------------------------------

def quantize(x, scale, zp, qmin, qmax):
    """q = clamp(round_half_even(x / scale) + zp, qmin, qmax), float32 division."""
    r = np.round(np.asarray(x, F32) / F32(scale) if np.isscalar(scale) else np.asarray(x, F32) / scale)
    lo, hi = F32(qmin - zp), F32(qmax - zp)
    return (np.clip(r, lo, hi).astype(np.int64) + zp)


def asym_params(lo, hi, bits=8):
    """Asymmetric u8 scale and zero point from a range (f32 arithmetic, range widened to include 0)."""
    qmax = (1 << bits) - 1
    lo, hi = min(F32(lo), F32(0)), max(F32(hi), F32(0))
    scale = F32(F32(hi - lo) / F32(qmax))
    if not (np.isfinite(scale) and scale > 0):
        scale = F32(1)
    zp = int(np.clip(np.round(F32(0) - F32(lo) / scale), 0, qmax))
    return scale, zp


def sym_scale(amax, qmax):
    s = F32(F32(amax) / F32(qmax))
    return np.where(np.isfinite(s) & (s > 0), s, F32(1)).astype(F32)


def weights_per_channel_s8(w):
    scales = sym_scale(np.max(np.abs(w), axis=1), 127)
    return quantize(w, scales[:, None], 0, -127, 127), scales


# ---- TFLite fixed point (tensorflow/lite/kernels/internal/common.h, gemmlowp fixedpoint.h) ------------

def quantize_multiplier(real):
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = int(math.floor(q * (1 << 31) + 0.5))  # std::round for positive q: exact in float64 here
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    if shift > 30:
        shift, q_fixed = 30, (1 << 31) - 1
    return q_fixed, shift


def srdhm(a, b):
    """SaturatingRoundingDoublingHighMul on int64 arrays holding int32 values (C++ truncating division)."""
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    s = ab + nudge
    q = np.where(s >= 0, s // (1 << 31), -((-s) // (1 << 31)))
    sat = (a == b) & (a == -(1 << 31))
    return np.where(sat, (1 << 31) - 1, q)


def rounding_divide_by_pot(x, exponent):
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0).astype(np.int64)
    return (x >> exponent) + (remainder > threshold).astype(np.int64)


def wrap_i32(v):
    return ((v + (1 << 31)) % (1 << 32)) - (1 << 31)


def multiply_by_quantized_multiplier(x, m0, shift):
    """Per-column m0/shift arrays; x int64 holding int32 values."""
    out = np.empty_like(x)
    for c in range(x.shape[1]):
        left = max(shift[c], 0)
        right = max(-shift[c], 0)
        v = wrap_i32(x[:, c] * (1 << left))
        out[:, c] = rounding_divide_by_pot(srdhm(v, np.int64(m0[c])), right)
    return out


def static_int8_logits(layers, x, inputs):
    """inputs: per layer {'scale', 'zero_point'} of its input. Returns the int32 logits and the scales
    sa·sw (f32) that dequantize them (the classes have different scales: argmax the dequantized ones)."""
    sa, za = F32(inputs[0]["scale"]), inputs[0]["zero_point"]
    a = quantize(x, sa, za, 0, 255)
    for i, (w, b) in enumerate(layers):
        sa, za = F32(inputs[i]["scale"]), inputs[i]["zero_point"]
        wq, sw = weights_per_channel_s8(w)
        acc = (a - za) @ wq.T  # exact in int64
        assert np.abs(acc).max() < 2**31
        bias_q = np.clip(np.round(b / (sa * sw)), -2**31, 2**31 - 1).astype(np.int64)
        acc = wrap_i32(acc + bias_q)
        if i == len(layers) - 1:
            return acc.astype(np.int32), (sa * sw).astype(F32)
        sy, zy = F32(inputs[i + 1]["scale"]), inputs[i + 1]["zero_point"]
        mult = [quantize_multiplier(float(sa) * float(s) / float(sy)) for s in sw]
        y = multiply_by_quantized_multiplier(acc, [m for m, _ in mult], [s for _, s in mult])
        a = np.clip(y + zy, max(zy, 0), 255)


# ---- the other configurations, with the kernels' order of float operations ----------------------------

def fp32_logits(layers, x):
    h = x
    for i, (w, b) in enumerate(layers):
        h = (h @ w.T + b).astype(F32)
        if i < len(layers) - 1:
            h = np.maximum(h, F32(0))
    return h


def dynamic_int8_layer(h, w, b):
    """quantize_dynamic: u8 per row (min-max), s8 per channel, f32 out = f32(acc)·(sa·sw) + b."""
    wq, sw = weights_per_channel_s8(w)
    lo = np.minimum(h.min(axis=1), F32(0))
    hi = np.maximum(h.max(axis=1), F32(0))
    sa = ((hi - lo) / F32(255)).astype(F32)
    sa = np.where(np.isfinite(sa) & (sa > 0), sa, F32(1)).astype(F32)
    za = np.clip(np.round(F32(0) - lo / sa), 0, 255).astype(np.int64)
    a = np.clip(np.round(h / sa[:, None]), -za[:, None], 255 - za[:, None]).astype(np.int64) + za[:, None]
    acc = (a - za[:, None]) @ wq.T
    return (acc.astype(F32) * (sa[:, None] * sw[None, :]) + b).astype(F32)


def low_bit_layer(h, w, b, bits, group):
    """Symmetric low-bit weights per group (group=None: per tensor), s8 activations per row, the INT4
    kernel's order: acc += f32(Σ_group a·q) · s_group, group by group; y = acc · sa + b."""
    n, k = w.shape
    qmax = (1 << (bits - 1)) - 1
    g = k if group is None else group
    groups = -(-k // g)
    wq = np.empty((n, k), np.int64)
    scales = np.empty((n, groups), F32)
    tensor_scale = sym_scale(np.abs(w).max(), qmax)
    for j in range(groups):
        blk = w[:, j * g:(j + 1) * g]
        s = np.full(n, tensor_scale, F32) if group is None else sym_scale(np.abs(blk).max(axis=1), qmax)
        scales[:, j] = s
        wq[:, j * g:(j + 1) * g] = quantize(blk, s[:, None], 0, -qmax, qmax)
    sa = sym_scale(np.abs(h).max(axis=1), 127)
    a = quantize(h, sa[:, None], 0, -127, 127)
    acc = np.zeros((h.shape[0], n), F32)
    for j in range(groups):
        part = a[:, j * g:(j + 1) * g] @ wq[:, j * g:(j + 1) * g].T
        acc = (acc + part.astype(F32) * scales[None, :, j]).astype(F32)
    return (acc * sa[:, None] + b).astype(F32)


def run_layers(layers, x, layer_fn):
    h = x
    for i, (w, b) in enumerate(layers):
        h = layer_fn(h, w, b)
        if i < len(layers) - 1:
            h = np.maximum(h, F32(0))
    return h


def main():
    layers, x, y = load()
    exported = json.loads((REF / "digits_int8_static_params.json").read_text())
    acc = lambda logits: float(np.mean(np.argmax(logits, axis=1) == y))
    expected = {"fp32": acc(fp32_logits(layers, x))}
    expected["int8-dynamic"] = acc(run_layers(layers, x, dynamic_int8_layer))

    # The exported minmax ranges are the FP32 activations' extremes on the calibration split.
    calib = np.load(EX / "digits-calib-x.npy").astype(F32)
    h = calib
    for method in exported["static"]:
        for p in method["layers"]:
            scale, zp = asym_params(*p["range"])
            assert scale == F32(p["scale"]) and zp == p["zero_point"], (method["method"], p, scale, zp)
    minmax = next(m for m in exported["static"] if m["method"] == "minmax")
    for i, (w, b) in enumerate(layers):
        lo, hi = minmax["layers"][i]["range"]
        assert np.isclose(h.min(), lo, rtol=1e-5, atol=1e-6) and np.isclose(h.max(), hi, rtol=1e-5), (i, h.min(), h.max(), lo, hi)
        h = np.maximum(h @ w.T + b, F32(0))

    for method in exported["static"]:
        logits, dequant = static_int8_logits(layers, x, method["layers"])
        np.save(REF / f"digits_int8_static_{method['method']}_logits.npy", logits)
        expected[f"int8-static-{method['method']}"] = acc(logits.astype(F32) * dequant)

    for name, bits, group in [("int4-g16", 4, 16), ("int4-g32", 4, 32), ("int4-tensor", 4, None), ("int2-g16", 2, 16)]:
        expected[name] = acc(run_layers(layers, x, lambda h, w, b: low_bit_layer(h, w, b, bits, group)))

    out = {
        "about": "accuracy on www/examples/digits-test-*.npy per configuration, computed in numpy by scripts/digits_int_reference.py",
        "tolerance_points": 0.5,
        "test_rows": int(len(y)),
        "accuracy": expected,
    }
    (REF / "digits_expected.json").write_text(json.dumps(out, indent=2) + "\n")
    for k, v in expected.items():
        print(f"{k:24} {100 * v:6.2f}%")


if __name__ == "__main__":
    main()
