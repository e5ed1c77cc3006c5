#!/usr/bin/env python3
"""Reference vectors for the narrow floats and the block formats (src/quant/minifloat.rs, mx.rs,
nvfp4.rs, nf4.rs), written to tests/fixtures/dtypes/.

casts.json: for each ml_dtypes type (float8_e4m3fn, float8_e5m2, float6_e2m3fn, float6_e3m2fn,
  float4_e2m1fn, float8_e8m0fnu), f32 inputs (as u32 bits) — every representable value, every midpoint
  between neighbours (the ties) and the f32 just either side, subnormals, overflow, ±0, ±Inf, NaN,
  random values over many magnitudes — with ml_dtypes' `astype` code (`cast`), the code of
  np.clip(x, -max, max) then astype (`saturating`, the quantizers' cast), and the f32 bits of every
  code's value (`decode`).
blocks.json: each block format on edge-case tensors (values in full) and on the 15 inputs of
  tests/fixtures/export/gguf/*.npy (FNV-1a-64 of the codes, the scales and the dequantized f32), made by
  numpy references written from each format's definition:
  - MX: OCP Microscaling Formats v1.0 §6.3: X = 2^(floor(log2 amax) − emax_elem) per 32 along a row,
    elements = RNE saturating cast of x / X (ml_dtypes); MXINT8 as microxcaling (±127/64).
  - NVFP4: modelopt's NVFP4QTensor (qtensor/nvfp4_tensor.py), its searchsorted E2M1 cast included, also
    checked here against ml_dtypes' float4_e2m1fn cast.
  - NF4: bitsandbytes' kQuantizeBlockwise with dQuantizeNF4's decision tree written out as in
    csrc/kernels.cu.
  - FP8 per tensor: modelopt's amax / 448 (E4M3) or amax / 57344 (E5M2), saturating cast.
Needs numpy and ml_dtypes (scripts/requirements.txt).
    python3 scripts/make_dtype_fixtures.py
"""
import json
import os

import ml_dtypes
import numpy as np

from make_gguf_export_reference import fnv1a64

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "dtypes")
GGUF_CASES = os.path.join(HERE, "..", "tests", "fixtures", "export", "gguf")

F32 = np.float32
TYPES = {
    "e4m3": (ml_dtypes.float8_e4m3fn, 8),
    "e5m2": (ml_dtypes.float8_e5m2, 8),
    "e2m3": (ml_dtypes.float6_e2m3fn, 6),
    "e3m2": (ml_dtypes.float6_e3m2fn, 6),
    "e2m1": (ml_dtypes.float4_e2m1fn, 4),
}


def bits(a):
    return np.asarray(a, dtype=F32).view(np.uint32).tolist()


def codes_of(x, dtype):
    return np.asarray(x, dtype=F32).astype(dtype).view(np.uint8)


def cast_inputs(dtype, nbits, rng):
    codes = np.arange(1 << nbits, dtype=np.uint8)
    values = codes.view(dtype).astype(F32) if nbits == 8 else np.array([np.uint8(c).view(dtype) for c in codes]).astype(F32)
    pos = np.unique(values[np.isfinite(values) & (values > 0)])
    mids = ((pos[:-1].astype(np.float64) + pos[1:]) / 2).astype(F32)
    mids = np.concatenate([mids, [pos[0] / 2], [pos[-1] * F32(1.0625)], [pos[-1] * F32(1.125)]]).astype(F32)
    near = np.concatenate([np.nextafter(mids, F32(0)), np.nextafter(mids, F32(np.inf))])
    randoms = (rng.standard_normal(600) * np.exp2(rng.uniform(-14, 18, 600))).astype(F32)
    special = np.array([0.0, np.inf, np.nan, 1e30, 3.4e38, 1e-30, 1e-45, 2.0**-127], dtype=F32)
    x = np.concatenate([values[np.isfinite(values)], mids, near, randoms, special])
    return np.concatenate([x, -x]).astype(F32), values


def make_casts(rng):
    out = {}
    for name, (dtype, nbits) in TYPES.items():
        x, values = cast_inputs(dtype, nbits, rng)
        mx = F32(ml_dtypes.finfo(dtype).max)
        cast = codes_of(x, dtype)
        with np.errstate(invalid="ignore"):
            sat = codes_of(np.clip(x, -mx, mx), dtype)
        out[name] = {"inputs": bits(x), "cast": cast.tolist(), "saturating": sat.tolist(), "decode": bits(values)}
    e8 = ml_dtypes.float8_e8m0fnu
    pos = np.exp2(np.arange(-127, 128, dtype=np.float64)).astype(F32)
    x = np.concatenate([pos, pos * F32(1.5), np.nextafter(pos * F32(1.5), F32(0)), pos * F32(1.25), pos * F32(1.75),
                        (np.exp2(rng.uniform(-126, 127, 400))).astype(F32),
                        np.array([0.0, -0.0, -1.0, np.inf, np.nan, 3.4e38], dtype=F32)]).astype(F32)
    # Between 2^-127 and 2^-126 (f32 subnormals) ml_dtypes 0.6 rounds every value up and 0.7 to nearest;
    # the scales MX computes there are exact powers of two, so those inputs are left out.
    x = x[~((x > F32(2.0**-127)) & (x < F32(2.0**-126)))]
    out["e8m0"] = {"inputs": bits(x), "cast": codes_of(x, e8).tolist(),
                   "decode": bits(np.arange(256, dtype=np.uint8).view(e8).astype(F32))}
    return out


def row_blocks(x2d, block):
    """(row, start, stop) of each block along the rows; a short last block is its own block."""
    rows, n = x2d.shape
    for r in range(rows):
        for s in range(0, n, block):
            yield r, s, min(s + block, n)


def finite_amax(xb):
    fin = xb[np.isfinite(xb)]
    return F32(np.max(np.abs(fin))) if fin.size else F32(0)


MX = {  # label: (element dtype or None for int8, emax_elem of OCP MX v1.0 Table 1)
    "mxfp8-e4m3": (ml_dtypes.float8_e4m3fn, 8),
    "mxint8": (None, 0),
    "mxfp6-e2m3": (ml_dtypes.float6_e2m3fn, 2),
    "mxfp6-e3m2": (ml_dtypes.float6_e3m2fn, 4),
    "mxfp4": (ml_dtypes.float4_e2m1fn, 2),
}


def mx_ref(x2d, dtype, emax):
    codes = np.zeros(x2d.shape, np.uint8)
    values = np.zeros(x2d.shape, F32)
    scales = []
    for r, s, e in row_blocks(x2d, 32):
        xb = x2d[r, s:e]
        amax = finite_amax(xb)
        # floor(log2 amax) exactly: frexp gives amax = m · 2^k with m in [0.5, 1). Zero: FP32_MIN_NORMAL.
        top = np.frexp(amax)[1] - 1 if amax > 0 else -126
        shared = int(np.clip(top - emax, -127, 127))
        scales.append(shared + 127)
        X = F32(2.0**shared)
        with np.errstate(invalid="ignore", over="ignore"):
            q = (xb / X).astype(F32)
            if dtype is None:
                k = np.clip(np.rint(q * F32(64)), -127, 127)
                k = np.where(np.isnan(k), 0, k).astype(np.int8)
                codes[r, s:e] = k.view(np.uint8)
                values[r, s:e] = (k.astype(F32) / F32(64)) * X
            else:
                mx = F32(ml_dtypes.finfo(dtype).max)
                c = np.clip(q, -mx, mx).astype(dtype)
                codes[r, s:e] = c.view(np.uint8)
                values[r, s:e] = c.astype(F32) * X
    return codes, np.array(scales, np.uint8), None, values


E2M1_VALUES = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6], F32)
E2M1_BOUNDS = np.array([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5], F32)


def modelopt_cast_fp4(w):
    """NVFP4QTensor._cast_fp4: torch.searchsorted (right=False) on |w|, +1 on the odd bounds."""
    sign = (w < 0).astype(np.uint8)
    a = np.abs(w)
    ordinal = np.searchsorted(E2M1_BOUNDS, a, side="left").astype(np.uint8)
    odd = np.isin(a, E2M1_BOUNDS[[1, 3, 5]]).astype(np.uint8)
    return (sign << 3) + ordinal + odd


def nvfp4_ref(x2d):
    amax = finite_amax(x2d)
    s2 = amax / F32(6.0 * 448.0)
    if s2 == 0:
        s2 = F32(1.0)
    codes = np.zeros(x2d.shape, np.uint8)
    values = np.zeros(x2d.shape, F32)
    scales = []
    for r, s, e in row_blocks(x2d, 16):
        xb = x2d[r, s:e]
        bs = finite_amax(xb) / (F32(6.0) * s2)
        if bs == 0:
            bs = F32(1.0)
        sc = np.array([bs], F32).astype(ml_dtypes.float8_e4m3fn)
        scales.append(int(sc.view(np.uint8)[0]))
        scale = sc.astype(F32)[0] * s2
        with np.errstate(invalid="ignore"):
            q = (xb / scale).astype(F32)
        c = modelopt_cast_fp4(q)
        fin = np.isfinite(q)
        ml = np.clip(q, F32(-6), F32(6)).astype(ml_dtypes.float4_e2m1fn).view(np.uint8)
        ml = np.where(q == 0, 0, ml)
        assert np.array_equal(c[fin], ml[fin]), "modelopt's E2M1 cast and ml_dtypes' RNE saturating cast differ"
        codes[r, s:e] = np.where(fin, c, ml)
        values[r, s:e] = E2M1_VALUES[codes[r, s:e]] * scale
    return codes, np.array(scales, np.uint8), s2, values


def nf4_tree(x):
    """dQuantizeNF4 (bitsandbytes csrc/kernels.cu), branch for branch, on one f32."""
    f = F32
    if x > f(0.03979014977812767):
        if x > f(0.3893125355243683):
            if x > f(0.6427869200706482):
                return 0b1111 if x > f(0.8614784181118011) else 0b1110
            return 0b1101 if x > f(0.5016634166240692) else 0b1100
        if x > f(0.2035212516784668):
            return 0b1011 if x > f(0.2920137718319893) else 0b1010
        return 0b1001 if x > f(0.1202552504837513) else 0b1000
    if x > f(-0.33967943489551544):
        if x > f(-0.13791173323988914):
            return 0b0111 if x > f(-0.045525018125772476) else 0b0110
        return 0b0101 if x > f(-0.23460740596055984) else 0b0100
    if x > f(-0.6106329262256622):
        return 0b0011 if x > f(-0.4599952697753906) else 0b0010
    return 0b0001 if x > f(-0.8480964004993439) else 0b0000


NF4_LUT = np.array([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
                    -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
                    0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                    0.7229568362236023, 1.0], F32)


def nf4_ref(x2d):
    flat = x2d.reshape(-1)
    codes = np.zeros(flat.shape, np.uint8)
    values = np.zeros(flat.shape, F32)
    absmax = []
    for s in range(0, flat.size, 64):
        xb = flat[s:s + 64]
        a = finite_amax(xb)
        absmax.append(a)
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = F32(1.0) / a
            v = (xb * inv).astype(F32)
        c = np.array([nf4_tree(t) for t in v], np.uint8)
        codes[s:s + 64] = c
        values[s:s + 64] = NF4_LUT[c] * a
    return codes.reshape(x2d.shape), np.array(absmax, F32), None, values.reshape(x2d.shape)


def fp8_ref(x2d, dtype):
    mx = F32(ml_dtypes.finfo(dtype).max)
    scale = finite_amax(x2d) / mx
    if not (np.isfinite(scale) and scale > 0):
        scale = F32(1.0)
    with np.errstate(invalid="ignore"):
        c = np.clip((x2d / scale).astype(F32), -mx, mx).astype(dtype)
    return c.view(np.uint8), np.zeros(0, np.uint8), scale, c.astype(F32) * scale


def references(x2d):
    out = {"fp8-e4m3": fp8_ref(x2d, ml_dtypes.float8_e4m3fn), "fp8-e5m2": fp8_ref(x2d, ml_dtypes.float8_e5m2)}
    for label, (dtype, emax) in MX.items():
        out[label] = mx_ref(x2d, dtype, emax)
    out["nvfp4"] = nvfp4_ref(x2d)
    out["nf4"] = nf4_ref(x2d)
    return out


def scale_bytes(scales):
    return np.asarray(scales).tobytes()


def edge_cases(rng):
    cases = {}
    x = np.zeros((2, 64), F32)
    x[0] = rng.standard_normal(64).astype(F32)
    cases["gaussian_and_zero_row"] = x
    cases["short_rows_40"] = (rng.standard_normal((3, 40)) * 0.1).astype(F32)
    t = np.zeros((1, 64), F32)
    t[0, :32] = np.array([6, 5, 4, 3.5, 3, 2.5, 2, 1.75, 1.5, 1.25, 1, 0.75, 0.5, 0.25, 0.125, 0] * 2, F32)
    t[0, 32:] = -t[0, :32] * F32(448.0 / 6.0)
    cases["ties_on_the_grids"] = t
    cases["subnormal_scales"] = (rng.standard_normal((1, 64)) * 1e-39).astype(F32)
    cases["near_f32_max"] = (rng.uniform(-1, 1, (1, 64)) * 3e38).astype(F32)
    nf = (rng.standard_normal((1, 64))).astype(F32)
    nf[0, 3], nf[0, 40], nf[0, 41] = np.nan, np.inf, -np.inf
    cases["nonfinite"] = nf
    return cases


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20261203)
    with open(os.path.join(OUT, "casts.json"), "w") as f:
        json.dump(make_casts(rng), f, separators=(",", ":"))
    edge = []
    for name, x in edge_cases(rng).items():
        formats = {}
        for label, (codes, scales, tensor_scale, values) in references(x).items():
            formats[label] = {"codes": codes.reshape(-1).tolist(),
                              "scales": bits(scales) if scales.dtype == F32 else scales.tolist(),
                              "tensor_scale": None if tensor_scale is None else bits([tensor_scale])[0],
                              "values": bits(values.reshape(-1))}
        edge.append({"name": name, "shape": list(x.shape), "x": bits(x.reshape(-1)), "formats": formats})
    hashed = []
    for fname in sorted(os.listdir(GGUF_CASES)):
        if not fname.endswith(".npy"):
            continue
        x = np.load(os.path.join(GGUF_CASES, fname)).astype(F32)
        formats = {}
        for label, (codes, scales, tensor_scale, values) in references(x).items():
            formats[label] = {"codes_fnv1a64": fnv1a64(codes.tobytes()), "scales_fnv1a64": fnv1a64(scale_bytes(scales)),
                              "tensor_scale": None if tensor_scale is None else bits([tensor_scale])[0],
                              "values_fnv1a64": fnv1a64(values.astype("<f4").tobytes())}
        hashed.append({"case": fname[:-4], "formats": formats})
    with open(os.path.join(OUT, "blocks.json"), "w") as f:
        json.dump({"edge": edge, "gguf_cases": hashed}, f, separators=(",", ":"))
    print("wrote", OUT)


if __name__ == "__main__":
    main()
