#!/usr/bin/env python3
"""Checks `quant-playground quantize MODEL ... --dump DIR` against numpy, bit for bit.

    python3 scripts/check_dump.py MODEL DIR --bits 8 --scheme sym --granularity channel [--full-range]

For every DIR/<name>.q.npy it reads the original tensor from MODEL (.safetensors or .npy, via the
safetensors and numpy libraries), recomputes codes, scales and zero points with the numpy reference of
the numerics contract in make_fixtures.py (min-max ranges), and compares them exactly. It also
dequantizes the dump the way the README shows and reports the SQNR. Exit status 1 on any mismatch.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import F32, code_range, params, slot_ids  # noqa: E402


def load_model(path):
    if path.endswith(".npy"):
        return {Path(path).name[: -len(".npy")]: np.load(path)}
    from safetensors.numpy import load_file

    return load_file(path)


def reference(x, bits, scheme, full_range, granularity):
    """The contract in numpy float32, vectorised over slots (min/max by ufunc.at)."""
    x = x.astype(F32)
    shape = x.shape if x.ndim else (1,)
    x = x.reshape(shape)
    ids, slots = slot_ids(shape, granularity)
    finite = np.isfinite(x)
    lo = np.full(slots, np.inf, dtype=F32)
    hi = np.full(slots, -np.inf, dtype=F32)
    np.minimum.at(lo, ids[finite], x[finite])
    np.maximum.at(hi, ids[finite], x[finite])
    pairs = [params(F32(a), F32(b), bits, scheme, full_range) for a, b in zip(lo, hi)]
    scales = np.array([p[0] for p in pairs], dtype=F32)
    zps = np.array([p[1] for p in pairs], dtype=np.int64)
    qmin, qmax = code_range(bits, scheme, full_range)
    with np.errstate(all="ignore"):
        r = np.round(x / scales[ids])
        q = np.clip(r + zps[ids].astype(F32), F32(qmin), F32(qmax))
    q = np.where(np.isnan(x), zps[ids].astype(F32), q)
    return q.astype(np.int64), scales, zps


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("dump_dir")
    ap.add_argument("--bits", type=int, default=8)
    ap.add_argument("--scheme", default="sym", choices=["sym", "asym"])
    ap.add_argument("--granularity", default="tensor")
    ap.add_argument("--full-range", action="store_true")
    a = ap.parse_args()
    scheme = "symmetric" if a.scheme == "sym" else "asymmetric"
    granularity = "channel:0" if a.granularity == "channel" else a.granularity
    tensors = load_model(a.model)
    dumped = sorted(Path(a.dump_dir).glob("*.q.npy"))
    if not dumped:
        sys.exit(f"no *.q.npy files in {a.dump_dir}")
    bad = 0
    for qfile in dumped:
        name = qfile.name[: -len(".q.npy")]
        x = tensors[name]
        q = np.load(qfile)
        s = np.load(qfile.with_name(f"{name}.scale.npy"))
        z = np.load(qfile.with_name(f"{name}.zero_point.npy"))
        want_q, want_s, want_z = reference(x, a.bits, scheme, a.full_range, granularity)
        ok = (
            q.shape == x.shape
            and np.array_equal(q.astype(np.int64).reshape(-1), want_q.reshape(-1))
            and np.array_equal(s.reshape(-1).view(np.uint32), want_s.view(np.uint32))
            and np.array_equal(z.reshape(-1).astype(np.int64), want_z)
        )
        # Dequantize as the README shows, broadcasting the parameters over the tensor.
        ids, _ = slot_ids(x.shape if x.ndim else (1,), granularity)
        xhat = (q.reshape(ids.shape).astype(np.int32) - z.reshape(-1)[ids]).astype(F32) * s.reshape(-1)[ids]
        xf = x.astype(F32).reshape(ids.shape)
        err = float(np.sum((xf - xhat).astype(np.float64) ** 2))
        sqnr = float("inf") if err == 0 else 10 * np.log10(float(np.sum(xf.astype(np.float64) ** 2)) / err)
        print(f"{'ok      ' if ok else 'MISMATCH'} {name:40s} {str(x.shape):>16s}  {q.dtype}  sqnr {sqnr:.2f} dB")
        bad += not ok
    print(f"{len(dumped) - bad} of {len(dumped)} tensors reproduced bit for bit by numpy")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
