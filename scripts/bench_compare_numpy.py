#!/usr/bin/env python3
"""The numpy peer of the five-format comparison (fp32, fp16, bf16, int8 sym channel:0, int4 asym
group:32): each format's round trip and its error metrics (mse, SQNR, max |error|, cosine), vectorised
as a user would write it, float32, one process. Prints one JSON line per size, CPU seconds of this
process (time.process_time) and wall seconds for the computation only; the data is made first and not timed.

    python3 scripts/bench_compare_numpy.py [ROWS COLS]...     (default: 2500 4000)

A tensor above 2^24 elements is processed in blocks of whole rows of about 2^24 elements (the whole
235 M-element tensor and numpy's temporaries would not fit beside the other processes of this machine).
"""
import json
import sys
import time

import numpy as np


def metrics(x, y):
    e = x - y
    xx, yy, ee = np.dot(x, x), np.dot(y, y), np.dot(e, e)
    return {"sum_ee": float(ee), "sum_xx": float(xx), "sum_yy": float(yy), "sum_xy": float(np.dot(x, y)),
            "max_abs_err": float(np.max(np.abs(e))) if e.size else 0.0}


def bf16_round_trip(x):
    b = x.view(np.uint32)
    return ((b + np.uint32(0x7FFF) + ((b >> 16) & np.uint32(1))) & np.uint32(0xFFFF0000)).view(np.float32)


def int8_sym_channel(x2):
    amax = np.max(np.abs(x2), axis=1, keepdims=True)
    scale = amax / np.float32(127)
    scale[scale == 0] = 1
    return np.clip(np.rint(x2 / scale), -127, 127) * scale


def int4_asym_group32(x2):
    g = x2.reshape(x2.shape[0], -1, 32)
    lo = np.minimum(g.min(axis=-1, keepdims=True), 0)
    hi = np.maximum(g.max(axis=-1, keepdims=True), 0)
    scale = (hi - lo) / np.float32(15)
    scale[scale == 0] = 1
    zp = np.clip(np.rint(-lo / scale), 0, 15)
    q = np.clip(np.rint(g / scale) + zp, 0, 15)
    return ((q - zp) * scale).reshape(x2.shape)


def compare(x2):
    x = x2.reshape(-1)
    return [
        metrics(x, x),
        metrics(x, x.astype(np.float16).astype(np.float32)),
        metrics(x, bf16_round_trip(x)),
        metrics(x, int8_sym_channel(x2).reshape(-1)),
        metrics(x, int4_asym_group32(x2).reshape(-1)),
    ]


def main():
    args = [int(a) for a in sys.argv[1:]] or [2500, 4000]
    for rows, cols in zip(args[0::2], args[1::2]):
        block = max(1, (1 << 24) // cols) if rows * cols > (1 << 24) else rows
        rng = np.random.default_rng(42)
        seconds = wall = 0.0
        for r in range(0, rows, block):
            k = min(block, rows - r)
            x2 = (rng.standard_normal((k, cols), dtype=np.float32) * np.float32(0.02))
            t, w = time.process_time(), time.perf_counter()
            compare(x2)
            seconds += time.process_time() - t
            wall += time.perf_counter() - w
        n = rows * cols
        print(json.dumps({"env": "numpy", "numpy": np.__version__, "elements": n, "rows": rows, "cols": cols,
                          "block_rows": block, "seconds": round(seconds, 4), "melem_per_s": round(n / seconds / 1e6, 1),
                          "wall_seconds": round(wall, 4), "wall_melem_per_s": round(n / wall / 1e6, 1)}))


if __name__ == "__main__":
    main()
