#!/usr/bin/env python3
"""Writes tests/fixtures/formats/bnb/*: a safetensors file laid out as transformers saves a model loaded
with BitsAndBytesConfig (4-bit NF4 with double quantization, 4-bit FP4, LLM.int8()), and each quantized
weight's dequantized values, for tests/formats_bnb.rs and scripts/check_convert.py.

    python3 scripts/make_bnb_fixtures.py        # numpy and safetensors only

bitsandbytes needs torch, which this machine's registry cannot supply, so this script follows its code
line by line in numpy float32 (bitsandbytes-foundation/bitsandbytes @ 95f9af30):
- functional.py get_4bit_type (the NF4 table; FP4 [0, .0625, 8, 12, 4, 6, 2, 3, ±…] / 12),
  create_dynamic_map (the 256-entry map of nested absmax), quantize_4bit (compress_statistics: offset =
  absmax.mean(), quantize_blockwise(absmax − offset, blocksize=256)), QuantState.as_dict(packed=True)
  and utils.py pack_dict_to_tensor (json.dumps as uint8);
- backends/default/ops.py quantize_4bit, quantize_blockwise (absmax, clamp(A · (1 / absmax), −1, 1),
  bucketize on midpoints, FP4 remapped through argsort, `(q[::2] << 4) | q[1::2]`);
- the references: dequantize_4bit (absmax = dequantize_blockwise(absmax, state2) + offset in float32),
  _dequantize_4bit_compute (code[q] · absmax[block] in float32, then .to(dtype)), and
  int8_vectorwise_dequant (A · SCB.view(−1, 1) · 7.874015718698502e-3, in float32).
Expected values are raw little-endian float32 (expected/<file>.<tensor>.f32).
"""
import json
import os
import shutil

import numpy as np
from ml_dtypes import bfloat16
from safetensors.numpy import save_file

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "formats", "bnb"))
EXP = os.path.join(OUT, "expected")
F32 = np.float32

NF4 = np.array([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334,
                -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
                0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0], dtype=F32)
_fp4 = np.array([0, 0.0625, 8.0, 12.0, 4.0, 6.0, 2.0, 3.0, -0.0, -0.0625, -8.0, -12.0, -4.0, -6.0, -2.0, -3.0], dtype=F32)
FP4 = (_fp4 / np.abs(_fp4).max()).astype(F32)  # data.div_(data.abs().max()) in float32


def create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8):
    # torch.linspace in float32, the means and the powers of ten in Python floats (tolist()), then
    # torch.tensor(data, dtype=float32).
    data = []
    non_sign_bits = total_bits - 1
    additional_items = 2 ** (non_sign_bits - max_exponent_bits) - 1
    for i in range(max_exponent_bits):
        fraction_items = int(2 ** (i + non_sign_bits - max_exponent_bits) + 1 if signed else 2 ** (i + non_sign_bits - max_exponent_bits + 1) + 1)
        boundaries = np.linspace(0.1, 1, fraction_items, dtype=F32)
        means = (boundaries[:-1] + boundaries[1:]) / F32(2.0)
        # a Python float times a float32 tensor: float32 arithmetic, then tolist()
        data += (F32(10 ** (-(max_exponent_bits - 1) + i)) * means).astype(F32).tolist()
        if signed:
            data += (F32(-(10 ** (-(max_exponent_bits - 1) + i))) * means).astype(F32).tolist()
    if additional_items > 0:
        boundaries = np.linspace(0.1, 1, additional_items + 1, dtype=F32)
        means = (boundaries[:-1] + boundaries[1:]) / F32(2.0)
        data += (F32(10 ** (-(max_exponent_bits - 1) + i)) * means).astype(F32).tolist()
        if signed:
            data += (F32(-(10 ** (-(max_exponent_bits - 1) + i))) * means).astype(F32).tolist()
    data.append(0)
    data.append(1.0)
    assert len(data) == 2 ** total_bits
    data.sort()
    return np.array(data, dtype=F32)


def blockwise_absmax_scaled(a, blocksize):
    """absmax per block and clamp(A · (1 / absmax), −1, 1), as ops.py quantize_blockwise / quantize_4bit."""
    n = a.size
    rem = n % blocksize
    full = n - rem
    com = a[:full].reshape(-1, blocksize)
    absmax = np.abs(com).max(axis=1).astype(F32)
    scaled = np.clip(com * (F32(1.0) / np.maximum(absmax, F32(1e-38)))[:, None], -1, 1).reshape(-1)
    if rem:
        am = np.maximum(np.abs(a[full:]).max(), F32(1e-38))
        absmax = np.concatenate([absmax, [am]]).astype(F32)
        scaled = np.concatenate([scaled, np.clip(a[full:] / am, -1, 1)])
    return absmax, scaled.astype(F32)


def bucketize(x, bounds):
    # torch.bucketize(right=False): the first i with x <= bounds[i].
    return np.searchsorted(bounds, x, side="left")


def quantize_blockwise(a, code, blocksize):
    absmax, scaled = blockwise_absmax_scaled(a, blocksize)
    bounds = ((code[:-1] + code[1:]) / F32(2)).astype(F32)
    return bucketize(scaled, bounds).astype(np.uint8), absmax


def dequantize_blockwise(q, absmax, code, blocksize):
    out = code[q.astype(np.int64)]
    return (out * np.repeat(absmax, blocksize)[: out.size]).astype(F32)


def quantize_4bit(w, quant_type, blocksize, compress_statistics):
    code = NF4 if quant_type == "nf4" else FP4
    order = np.argsort(code, kind="stable")
    midpoints = ((code[order[:-1]] + code[order[1:]]) / F32(2)).astype(F32)
    a = w.reshape(-1).astype(F32)
    absmax, scaled = blockwise_absmax_scaled(a, blocksize)
    if scaled.size % 2:
        scaled = np.concatenate([scaled, [F32(0)]])
    q = bucketize(scaled, midpoints)
    if quant_type != "nf4":
        q = order[q]
    q8 = q.astype(np.uint8)
    packed = ((q8[::2] << 4) | q8[1::2]).astype(np.uint8)[:, None]
    state = {"absmax": absmax, "quant_map": code}
    if compress_statistics:
        offset = F32(absmax.mean(dtype=F32))
        dyn = create_dynamic_map()
        qabsmax, absmax2 = quantize_blockwise((absmax - offset).astype(F32), dyn, 256)
        state = {"absmax": qabsmax, "quant_map": code, "nested_absmax": absmax2, "nested_quant_map": dyn, "offset": offset}
    return packed, state


def dequantize_4bit(packed, state, blocksize, shape, dtype):
    absmax = state["absmax"]
    if "nested_absmax" in state:
        absmax = (dequantize_blockwise(absmax, state["nested_absmax"], state["nested_quant_map"], 256) + state["offset"]).astype(F32)
    flat = packed.reshape(-1)
    codes = np.empty(flat.size * 2, dtype=np.int64)
    codes[1::2] = flat & 0xF
    codes[::2] = flat >> 4
    n = int(np.prod(shape))
    out = (state["quant_map"][codes[:n]] * np.repeat(absmax, blocksize)[:n]).astype(F32)
    return out.astype(dtype).astype(F32).reshape(shape)


manifest = {"files": {}, "parameters": {}, "listed": {}}


def expect(fixture, name, values, dtype, shape, scheme, bits, granularity):
    key = f"{fixture}.{name}.f32"
    np.ascontiguousarray(values, dtype="<f4").tofile(os.path.join(EXP, key))
    entry = {"expected": key, "dtype": dtype, "shape": list(shape)}
    if scheme:
        entry["quant"] = {"scheme": scheme, "bits": bits, "granularity": granularity}
    manifest["files"].setdefault(fixture, {})[name] = entry


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(EXP)
    rng = np.random.default_rng(19)
    tensors, fixture = {}, "bnb.safetensors"
    # (prefix, shape [out, in], quant type, blocksize, double quantization, compute dtype). The NF4
    # one has 280 blocks: two nested blocks of 256, the second short.
    for prefix, shape, qt, bs, nested, dtype in [
        ("model.layers.0.mlp.up_proj", (40, 448), "nf4", 64, True, "float16"),
        ("model.layers.0.self_attn.o_proj", (24, 128), "fp4", 128, False, "bfloat16"),
        ("model.layers.1.mlp.down_proj", (16, 64), "nf4", 64, False, "float32"),
    ]:
        w = (rng.standard_normal(shape) * 0.05).astype(F32)
        packed, st = quantize_4bit(w, qt, bs, nested)
        p = f"{prefix}.weight"
        tensors[p] = packed
        tensors[f"{p}.absmax"] = st["absmax"]
        tensors[f"{p}.quant_map"] = st["quant_map"]
        info = {"quant_type": qt, "blocksize": bs, "dtype": dtype, "shape": list(shape)}
        if nested:
            tensors[f"{p}.nested_absmax"] = st["nested_absmax"]
            tensors[f"{p}.nested_quant_map"] = st["nested_quant_map"]
            # as_dict: self.offset.item() — the float32 offset as a Python float.
            info.update({"nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": float(st["offset"])})
        tensors[f"{p}.quant_state.bitsandbytes__{qt}"] = np.frombuffer(json.dumps(info).encode("utf-8"), dtype=np.uint8).copy()
        out_dtype = {"float16": np.float16, "bfloat16": bfloat16, "float32": F32}[dtype]
        values = dequantize_4bit(packed, st, bs, shape, out_dtype)
        expect(fixture, p, values, "U8", shape, "bnb4", 4, {"axis": 1, "block_size": bs, "kind": "blocked"})
        parts = ["absmax", "quant_map"] + (["nested_absmax", "nested_quant_map"] if nested else []) + [f"quant_state.bitsandbytes__{qt}"]
        manifest["parameters"].setdefault(fixture, []).extend(f"{p}.{x}" for x in parts)
    # LLM.int8(): int8_vectorwise_quant's rows, round(127 · w / absmax(row)); SCB the f32 row absmax.
    w = (rng.standard_normal((12, 32)) * 0.05).astype(F32)
    scb = np.abs(w).max(axis=1).astype(F32)
    cb = np.round(w * (F32(127) / scb[:, None])).astype(np.int8)
    tensors["model.layers.1.mlp.gate_proj.weight"] = cb
    tensors["model.layers.1.mlp.gate_proj.SCB"] = scb
    values = (cb.astype(F32) * scb[:, None]).astype(F32) * F32(7.874015718698502e-3)
    expect(fixture, "model.layers.1.mlp.gate_proj.weight", values, "I8", (12, 32), "bnb_int8", 8, {"axis": 0, "kind": "per_axis"})
    manifest["parameters"][fixture].append("model.layers.1.mlp.gate_proj.SCB")
    # A float tensor kept as it is (a norm, saved in the compute dtype).
    norm = (1 + rng.standard_normal(40) * 0.1).astype(np.float16)
    tensors["model.norm.weight"] = norm
    expect(fixture, "model.norm.weight", norm.astype(F32), "F16", (40,), None, None, None)
    save_file(tensors, os.path.join(OUT, fixture))
    manifest["bitsandbytes_source"] = "bitsandbytes-foundation/bitsandbytes@95f9af309d4d5793847169c39288dcd3fcbdf564, followed in numpy"
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {sum(len(v) for v in manifest['files'].values())} tensors to {OUT}")


if __name__ == "__main__":
    main()
