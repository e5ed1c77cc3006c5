#!/usr/bin/env python3
"""Checks GGUF files written by `quant-playground export IN --to gguf:TYPE -o OUT` with the gguf package.

    python3 scripts/check_export_gguf.py SOURCE TYPE OUT.gguf [TYPE OUT.gguf ...] [--ours DIR]

SOURCE is the exported file (.safetensors, .npy or .gguf: read here with numpy and gguf only).
For every OUT, gguf.GGUFReader must read it, and:
- every source tensor is there (or reported skipped: integer types GGUF lacks) with the source's
  shape (GGUF ne reversed) and the type llama.cpp's rules give: TYPE for float tensors of 2+
  dimensions whose row length fits its block, else llama.cpp's fallback (Q4_K→Q5_0, Q5_K→Q5_1,
  Q6_K→Q8_0, Q2_K/Q3_K→IQ4_NL; F16 when the row fits no block), F32 for 1-D tensors (copied as stored from a GGUF source);
- general.alignment (default 32) holds for the data section and every tensor offset;
- metadata: general.quantization_version = 2; a GGUF source's key-values are all carried over
  unchanged (but general.file_type); for other sources general.name and quant_playground.source
  are set and no general.architecture is invented;
- F16 / Q8_0 / Q4_0 / Q4_1 / Q5_0 tensors: gguf.quants.quantize(source values) gives the same bytes;
- every quantized tensor: gguf.quants.dequantize(our bytes) stays within the type's error bound of
  the source values, and, with --ours DIR (DIR/<OUT name>/<tensor>.npy = the f32 values our reader
  decodes, as tests/export_gguf.rs writes them), equals them bit for bit.
With --ggml-lib PATH (ggml's libggml-base.so, see make_gguf_export_reference.py for where to get
it) ggml's own GGUF parser (gguf_init_from_file) must load every OUT too, and agree with gguf-py on
the alignment, the data offset and every tensor's name, type and offset.
Exit status 1 on any mismatch. Needs only numpy and gguf (PyPI).
"""
import argparse
import json
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q

BLOCK = {Q.F32: 1, Q.F16: 1, Q.Q8_0: 32, Q.Q4_0: 32, Q.Q4_1: 32, Q.Q5_0: 32, Q.Q5_1: 32, Q.Q4_K: 256, Q.Q6_K: 256,
         Q.Q2_K: 256, Q.Q3_K: 256, Q.Q5_K: 256, Q.IQ4_NL: 32}
# llama-quant.cpp tensor_type_fallback (Q2_K / Q3_K: IQ4_NL, as quantize_iq4_nl writes it without an imatrix).
FALLBACK = {Q.Q4_K: Q.Q5_0, Q.Q6_K: Q.Q8_0, Q.Q5_K: Q.Q5_1, Q.Q2_K: Q.IQ4_NL, Q.Q3_K: Q.IQ4_NL}
# Block types of a GGUF source the playground decodes (gguf.quants.dequantize reads them all too).
DECODED = (Q.F32, Q.F16, Q.BF16, Q.Q8_0, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q2_K, Q.Q3_K, Q.Q4_K, Q.Q5_K, Q.Q6_K,
           Q.IQ4_NL, Q.IQ4_XS, Q.TQ1_0, Q.TQ2_0, Q.MXFP4)
# Names llama.cpp keeps unquantized (llama-quant.cpp tensor_allows_quantization), for GGUF sources.
KEPT_NAMES = ["_norm.weight", "ffn_gate_inp.weight", "altup", "laurel", "per_layer_model_proj", "ssm_conv1d",
              "shortconv.conv.weight", "attn_rel_b.weight", "position_embd", "token_types.weight", "time_mix_"]
INT_TYPES = {"int8": Q.I8, "int16": Q.I16, "int32": Q.I32, "int64": Q.I64}
FLOAT_KINDS = "f"

failures = []
# gguf-py's numpy quantizers divide by zero-scale blocks (all-zero rows) on purpose; the results are compared exactly.
np.seterr(all="ignore")


def fail(msg):
    failures.append(msg)
    print("FAIL", msg)


def load_source(path):
    """name -> (numpy array as stored or decoded, ggml type if GGUF, raw bytes if GGUF)."""
    if path.endswith(".npy"):
        name = os.path.basename(path)[: -len(".npy")]
        return {name: (np.load(path), None, None)}, None
    if path.endswith(".gguf"):
        r = gguf.GGUFReader(path)
        out = {}
        for t in r.tensors:
            shape = [int(d) for d in reversed(t.shape.tolist())]
            if t.tensor_type in DECODED:
                vals = np.asarray(gguf.quants.dequantize(t.data, t.tensor_type), np.float32).reshape(shape)
            elif t.tensor_type in (Q.I8, Q.I16, Q.I32, Q.I64):
                vals = np.asarray(t.data).reshape(shape)
            else:
                vals = None
            out[t.name] = (vals, t.tensor_type, bytes(np.asarray(t.data).view(np.uint8).reshape(-1)), shape)
        return out, r
    # safetensors: an 8-byte header length, a JSON header, the data (numpy reads it; no safetensors lib needed)
    with open(path, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    dtypes = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
              "U8": "u1", "U16": "<u2", "U32": "<u4", "U64": "<u8", "BOOL": "?"}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        if info["dtype"] == "BF16":
            u = np.frombuffer(data[b:e], "<u2").astype(np.uint32) << 16
            arr = u.view(np.float32).reshape(info["shape"])
        elif info["dtype"] in dtypes:
            arr = np.frombuffer(data[b:e], dtypes[info["dtype"]]).reshape(info["shape"])
        else:
            arr = None
        out[name] = (arr, None, None)
    return out, None


def ggml_n_dims(shape):
    ne = list(reversed(shape)) or [1]
    for i in range(len(ne) - 1, -1, -1):
        if ne[i] > 1:
            return i + 1
    return 1


def expected_type(name, arr, shape, src_type, target, from_gguf):
    """What llama.cpp's rules make of one tensor (None: not written)."""
    floaty = arr is not None and arr.dtype.kind == "f"
    if src_type is not None and src_type not in (Q.I8, Q.I16, Q.I32, Q.I64) and arr is None:
        return src_type  # a block type neither side decodes: copied
    if not floaty:
        if arr is None:
            return None
        return INT_TYPES.get(str(arr.dtype))
    if ggml_n_dims(shape) < 2 or (from_gguf and any(k in name for k in KEPT_NAMES)):
        return src_type if from_gguf else Q.F32
    row = shape[-1] if shape else 1
    if row % BLOCK[target] == 0:
        return target
    fb = FALLBACK.get(target)
    if fb is not None and row % BLOCK[fb] == 0:
        return fb
    return Q.F16


def error_bound(t, x):
    """A per-element bound on |x − dequantize(quantize(x))| for ggml type t, per block of x."""
    block = BLOCK[t]
    if t == Q.F32:
        return np.zeros_like(x)
    if t == Q.F16:
        return np.abs(x) * 2.0 ** -11 + 2.0 ** -25
    xb = x.reshape(-1, block)
    amax = np.abs(xb).max(axis=1, keepdims=True)
    rng = xb.max(axis=1, keepdims=True) - np.minimum(xb.min(axis=1, keepdims=True), 0)
    per = {
        Q.Q8_0: amax / 127 * 0.51 + amax * 2.0 ** -10,
        Q.Q4_0: amax / 8 * 1.01,  # +amax with a negative max lands on code 15 = 7·d
        Q.Q5_0: amax / 16 * 1.01,
        Q.Q4_1: (xb.max(axis=1, keepdims=True) - xb.min(axis=1, keepdims=True)) / 15 * 0.51 + amax * 2.0 ** -10,
        # k-quants: 6-bit sub-block scales and mins on top of the codes; generous sanity bounds.
        Q.Q4_K: rng / 15 * 2.0 + amax * 2.0 ** -8,
        Q.Q6_K: amax / 32 * 1.5 + amax * 2.0 ** -8,
        Q.Q5_K: rng / 31 * 2.0 + amax * 2.0 ** -8,
        Q.Q5_1: (xb.max(axis=1, keepdims=True) - xb.min(axis=1, keepdims=True)) / 31 * 0.51 + amax * 2.0 ** -10,
        Q.Q3_K: amax / 4 * 2.0 + amax * 2.0 ** -8,
        Q.Q2_K: rng / 3 * 2.0 + amax * 2.0 ** -8,
        # IQ4_NL: d near amax/127 (refined), levels at most 24 apart: half a gap, scale rounding on top.
        Q.IQ4_NL: amax / 127 * 24 + amax * 2.0 ** -8,
    }[t]
    return np.broadcast_to(per, xb.shape).reshape(x.shape) + 1e-30


def field_bytes(field):
    return b"".join(bytes(np.asarray(p).view(np.uint8).reshape(-1)) for p in field.parts[1:])  # parts[0] is the key length


def check_with_ggml(lib_path, out_path, r):
    """ggml's gguf_init_from_file (no_alloc) against what gguf-py read."""
    import ctypes

    lib = ctypes.CDLL(lib_path)

    class InitParams(ctypes.Structure):
        _fields_ = [("no_alloc", ctypes.c_bool), ("ctx", ctypes.c_void_p)]

    lib.gguf_init_from_file.argtypes = [ctypes.c_char_p, InitParams]
    lib.gguf_init_from_file.restype = ctypes.c_void_p
    for fn, res in [("gguf_get_n_tensors", ctypes.c_int64), ("gguf_get_alignment", ctypes.c_size_t),
                    ("gguf_get_data_offset", ctypes.c_size_t)]:
        getattr(lib, fn).argtypes = [ctypes.c_void_p]
        getattr(lib, fn).restype = res
    for fn, res in [("gguf_get_tensor_name", ctypes.c_char_p), ("gguf_get_tensor_type", ctypes.c_int),
                    ("gguf_get_tensor_offset", ctypes.c_size_t)]:
        getattr(lib, fn).argtypes = [ctypes.c_void_p, ctypes.c_int64]
        getattr(lib, fn).restype = res
    lib.gguf_free.argtypes = [ctypes.c_void_p]
    tag = os.path.basename(out_path)
    ctx = lib.gguf_init_from_file(out_path.encode(), InitParams(True, None))
    if not ctx:
        fail(f"{tag}: ggml's gguf_init_from_file refuses the file")
        return
    try:
        if lib.gguf_get_alignment(ctx) != r.alignment or lib.gguf_get_data_offset(ctx) != r.data_offset:
            fail(f"{tag}: ggml reads alignment {lib.gguf_get_alignment(ctx)} / data offset "
                 f"{lib.gguf_get_data_offset(ctx)}, gguf-py {r.alignment} / {r.data_offset}")
        ggml_view = [(lib.gguf_get_tensor_name(ctx, i).decode(), lib.gguf_get_tensor_type(ctx, i),
                      r.data_offset + lib.gguf_get_tensor_offset(ctx, i)) for i in range(lib.gguf_get_n_tensors(ctx))]
        py_view = [(t.name, int(t.tensor_type), int(t.data_offset)) for t in r.tensors]
        if ggml_view != py_view:
            fail(f"{tag}: ggml's reading of the tensors differs from gguf-py's")
        else:
            print(f"{tag}: ggml's gguf_init_from_file reads it the same ({len(ggml_view)} tensors)")
    finally:
        lib.gguf_free(ctx)


def check(src_path, target_name, out_path, ours_dir, ggml_lib=None):
    target = Q[target_name.upper()]
    tag = f"{os.path.basename(out_path)}"
    src, src_reader = load_source(src_path)
    from_gguf = src_reader is not None
    r = gguf.GGUFReader(out_path)
    if ggml_lib:
        check_with_ggml(ggml_lib, out_path, r)
    align = int(r.fields["general.alignment"].parts[-1][0]) if "general.alignment" in r.fields else 32
    if from_gguf and align != src_reader.alignment:
        fail(f"{tag}: alignment {align}, the source has {src_reader.alignment}")
    if r.data_offset % align:
        fail(f"{tag}: data section at {r.data_offset}, not a multiple of {align}")
    qv = r.fields.get("general.quantization_version")
    if qv is None or int(qv.parts[-1][0]) != 2:
        fail(f"{tag}: general.quantization_version is not 2")
    if from_gguf:
        for key, f in src_reader.fields.items():
            if key.startswith("GGUF.") or key in ("general.file_type", "general.quantization_version"):
                continue
            g = r.fields.get(key)
            if g is None or g.types != f.types or field_bytes(g) != field_bytes(f):
                fail(f"{tag}: key '{key}' not carried over unchanged")
    else:
        if "general.name" not in r.fields or "quant_playground.source" not in r.fields:
            fail(f"{tag}: general.name / quant_playground.source missing")
        if "general.architecture" in r.fields:
            fail(f"{tag}: general.architecture invented for a non-GGUF source")
    written = {t.name: t for t in r.tensors}
    counts = {"tensors": 0, "bytes_equal_gguf_py": 0, "dequant_in_bound": 0, "dequant_equal_ours": 0}
    for name, entry in src.items():
        arr, src_type = entry[0], entry[1]
        shape = entry[3] if len(entry) > 3 else list(arr.shape)
        want = expected_type(name, arr, shape, src_type, target, from_gguf)
        t = written.get(name)
        if want is None:
            if t is not None:
                fail(f"{tag}: '{name}' written, but it has no GGUF type")
            continue
        if t is None:
            fail(f"{tag}: '{name}' missing")
            continue
        counts["tensors"] += 1
        got_shape = [int(d) for d in reversed(t.shape.tolist())]
        if got_shape != (list(shape) or [1]):
            fail(f"{tag}: '{name}' shape {got_shape}, source {list(shape)}")
        if t.tensor_type != want:
            fail(f"{tag}: '{name}' is {t.tensor_type.name}, expected {want.name}")
            continue
        if t.data_offset % align:
            fail(f"{tag}: '{name}' at {t.data_offset}, not a multiple of {align}")
        ours = bytes(np.asarray(t.data).view(np.uint8).reshape(-1))
        if arr is None or arr.dtype.kind != "f" or (from_gguf and t.tensor_type == src_type and ggml_n_dims(shape) < 2):
            if from_gguf and ours != entry[2]:
                fail(f"{tag}: '{name}' not copied byte for byte")
            elif not from_gguf and arr is not None and ours != np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes():
                fail(f"{tag}: integer tensor '{name}' not copied as stored")
            continue
        x = np.ascontiguousarray(arr, dtype=np.float32)
        if not np.all(np.isfinite(x)):
            # ggml's C casts and numpy's differ on NaN / Inf (the Rust tests hold ggml's own bytes).
            print(f"{tag}: '{name}' has NaN/Inf values: not compared with gguf-py")
            continue
        if t.tensor_type in (Q.F16, Q.Q8_0, Q.Q4_0, Q.Q4_1, Q.Q5_0):
            py = gguf.quants.quantize(x.reshape(-1, shape[-1]), t.tensor_type).tobytes()
            if py != ours:
                fail(f"{tag}: '{name}' {t.tensor_type.name} bytes differ from gguf.quants.quantize")
            else:
                counts["bytes_equal_gguf_py"] += 1
        if t.tensor_type == Q.F32:
            back = np.frombuffer(ours, "<f4").reshape(shape)
        else:
            back = np.asarray(gguf.quants.dequantize(np.asarray(t.data), t.tensor_type), np.float32).reshape(shape)
        err = np.abs(back.astype(np.float64) - x.astype(np.float64)).reshape(-1)
        bound = error_bound(t.tensor_type, x.reshape(-1).astype(np.float64))
        # F16 overflows to ±inf past 65504 (as ggml's conversion does); its bytes were compared exactly above.
        if t.tensor_type == Q.F16:
            err = np.where(np.abs(x.reshape(-1)) > 65504, 0, err)
        if np.any(err > bound):
            i = int(np.argmax(err - bound))
            fail(f"{tag}: '{name}' {t.tensor_type.name} error {err[i]:.3g} over the bound {bound[i]:.3g} at {i}")
        else:
            counts["dequant_in_bound"] += 1
        if ours_dir:
            p = os.path.join(ours_dir, os.path.basename(out_path), f"{name}.npy")
            if os.path.exists(p):
                mine = np.load(p).astype(np.float32).reshape(shape)
                if not np.array_equal(mine.view(np.uint32), back.view(np.uint32)):
                    fail(f"{tag}: '{name}' gguf.quants.dequantize differs from our decoded values")
                else:
                    counts["dequant_equal_ours"] += 1
    print(f"{tag}: {target.name}, {counts}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source")
    ap.add_argument("pairs", nargs="+", help="TYPE OUT.gguf pairs")
    ap.add_argument("--ours", help="folder of our decoded values: DIR/<OUT name>/<tensor>.npy")
    ap.add_argument("--ggml-lib", help="ggml's libggml-base.so: its GGUF parser must read every OUT too")
    a = ap.parse_args()
    if len(a.pairs) % 2:
        ap.error("give TYPE OUT.gguf pairs")
    for typ, out in zip(a.pairs[::2], a.pairs[1::2]):
        check(a.source, typ, out, a.ours, a.ggml_lib)
    if failures:
        print(f"{len(failures)} failure(s)")
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
