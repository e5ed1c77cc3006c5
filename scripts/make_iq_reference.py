#!/usr/bin/env python3
"""Reference blocks for ggml's IQ (lattice) types, made by ggml's OWN quantizers and dequantizers.

Writes tests/fixtures/export/gguf/iq/ for the 15 cases of scripts/make_gguf_export_reference.py (their
inputs are the committed ../<case>.npy; this script re-makes them and checks their sha256):

- `<case>.<TYPE>.bin`: what ggml's `quantize_<type>` (the function llama-quantize reaches through
  ggml_quantize_chunk) makes of the case's rows, after `ggml_quantize_init` (iq2xs_init_impl /
  iq3xs_init_impl: the grid maps and neighbour lists). IQ2_XXS, IQ2_XS, IQ1_S and IQ1_M refuse to
  run without an importance matrix (ggml_quantize_requires_imatrix); they get `imatrix_<n>.npy`, a
  fixed positive vector per row length (committed, as a later port of the quantizers needs it); the
  others run with quant_weights = NULL, as their quantize_row_*_ref does. IQ4_NL here is
  quantize_iq4_nl (NULL weights: 7 scale tries, every block's codes its own), which is what
  llama-quantize writes, unlike quantize_row_iq4_nl_ref (../<case>.IQ4_NL.bin).
- `random.<TYPE>.bin`: 64 blocks of random bytes (block scales kept finite), to reach every grid
  point, sign pattern and scale the quantizers may never choose, and `zero.<TYPE>.bin`, all-zero
  blocks.
- manifest.json: each file's sha256, the FNV-1a-64 of the f32 values ggml's `dequantize_row_<type>`
  gives from it, whether they are all finite, and whether the gguf package's dequantizer agrees bit
  for bit. A quantizer that aborts on an input (GGML_ASSERT) is run in a child process and recorded.

    python3 scripts/make_iq_reference.py [--lib /tmp/nlc/package/bins/linux-x64/libggml-base.so]
(the library as the docstring of make_gguf_export_reference.py gets it; needs numpy and gguf.)
"""
import argparse
import ctypes
import hashlib
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_gguf_export_reference import DEFAULT_LIB, cases, fnv1a64  # noqa: E402

GGUF_DIR = os.path.join(HERE, "..", "tests", "fixtures", "export", "gguf")
OUT = os.path.join(GGUF_DIR, "iq")

# ggml type: (C name, ggml_type id, elements per block, bytes per block, byte ranges of fp16 scales)
TYPES = {
    "IQ2_XXS": ("iq2_xxs", 16, 256, 66, [0]),
    "IQ2_XS": ("iq2_xs", 17, 256, 74, [0]),
    "IQ2_S": ("iq2_s", 22, 256, 82, [0]),
    "IQ3_XXS": ("iq3_xxs", 18, 256, 98, [0]),
    "IQ3_S": ("iq3_s", 21, 256, 110, [0]),
    "IQ1_S": ("iq1_s", 19, 256, 50, [0]),
    "IQ1_M": ("iq1_m", 29, 256, 56, None),  # fp16 d in the top nibbles of the scale words
    "IQ4_NL": ("iq4_nl", 20, 32, 18, [0]),
}
RANDOM_BLOCKS = 64


def imatrix(n):
    """A fixed importance vector for rows of n (positive, spread over two decades, as imatrix files are)."""
    rng = np.random.default_rng(1400 + n)
    return np.ascontiguousarray(10.0 ** rng.uniform(-1, 1, n), dtype=np.float32)


def random_blocks(tname, block_bytes, d_at, seed):
    """Random bytes with each fp16 block scale's exponent kept below 31 (finite, |d| < 2)."""
    rng = np.random.default_rng(seed)
    b = rng.integers(0, 256, (RANDOM_BLOCKS, block_bytes), dtype=np.uint8)
    if d_at is not None:
        for at in d_at:
            b[:, at + 1] &= 0xBF  # clear fp16 bit 14: exponent ≤ 15
    else:
        # IQ1_M: d's bits 12..15 sit in the top nibble of scale word 3 (bytes 54..55, high byte 55).
        b[:, 55] &= 0xBF
    return b.reshape(-1).tobytes()


def run_isolated(fn):
    """fn() in a forked child (ggml's GGML_ASSERT aborts the process): its bytes, or None if it died."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.environ["GGML_NO_BACKTRACE"] = "1"  # ggml_abort would otherwise attach gdb for a backtrace
        try:
            data = fn()
            with os.fdopen(w, "wb") as f:
                f.write(data)
            os._exit(0)
        except BaseException:
            os._exit(3)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    return data if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", default=DEFAULT_LIB, help="ggml's libggml-base.so")
    args = ap.parse_args()
    lib = ctypes.CDLL(args.lib)
    fp = ctypes.POINTER(ctypes.c_float)
    lib.ggml_quantize_init.argtypes = [ctypes.c_int]
    lib.ggml_quantize_requires_imatrix.argtypes = [ctypes.c_int]
    lib.ggml_quantize_requires_imatrix.restype = ctypes.c_bool
    for cname, tid, _, _, _ in TYPES.values():
        q = getattr(lib, f"quantize_{cname}")
        q.argtypes = [fp, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, fp]
        q.restype = ctypes.c_size_t
        d = getattr(lib, f"dequantize_row_{cname}")
        d.argtypes = [ctypes.c_void_p, fp, ctypes.c_int64]
        d.restype = None
        lib.ggml_quantize_init(tid)

    import gguf

    old = json.load(open(os.path.join(GGUF_DIR, "manifest.json")))
    input_sha = {c["name"]: c["input_sha256"] for c in old["cases"]}
    os.makedirs(OUT, exist_ok=True)

    def record(tname, raw, n, rows):
        cname, _, block, size, _ = TYPES[tname]
        assert len(raw) == n // block * size
        back = np.zeros(n, dtype=np.float32)
        getattr(lib, f"dequantize_row_{cname}")(raw, back.ctypes.data_as(fp), n)
        qt = getattr(gguf.GGMLQuantizationType, tname)
        with np.errstate(all="ignore"):
            py = np.asarray(gguf.quants.dequantize(np.frombuffer(raw, np.uint8).reshape(rows, -1), qt), np.float32).reshape(-1)
        return {
            "sha256": hashlib.sha256(raw).hexdigest(),
            "dequantized_fnv1a64": fnv1a64(back.astype("<f4").tobytes()),
            "dequantized_all_finite": bool(np.isfinite(back).all()),
            "gguf_py_dequantize_agrees": bool(np.array_equal(py.view(np.uint32), back.view(np.uint32))),
        }

    manifest = {
        "made_by": "scripts/make_iq_reference.py",
        "ggml_library": "libggml-base.so of npm @node-llama-cpp/linux-x64@3.22.1 (llama.cpp as built by node-llama-cpp)",
        "gguf_python": getattr(gguf, "__version__", None) or __import__("importlib.metadata").metadata.version("gguf"),
        "numpy": np.__version__,
        "dequantized_hash": "FNV-1a 64 of the little-endian f32 values dequantize_row_<type> gives",
        "cases": [],
        "bytes": [],
    }
    imatrices = {}
    for name, x in cases().items():
        npy = os.path.join(GGUF_DIR, f"{name}.npy")
        assert hashlib.sha256(open(npy, "rb").read()).hexdigest() == input_sha[name], f"{name}.npy is not the committed input"
        rows, n_per_row = x.shape
        entry = {"name": name, "input": f"../{name}.npy", "shape": list(x.shape), "types": {}}
        for tname, (cname, tid, block, size, _) in TYPES.items():
            qw = None
            if lib.ggml_quantize_requires_imatrix(tid):
                qw = imatrices.setdefault(n_per_row, imatrix(n_per_row))
            nbytes = x.size // block * size

            def quantize(cname=cname, qw=qw, nbytes=nbytes):
                buf = ctypes.create_string_buffer(nbytes)
                got = getattr(lib, f"quantize_{cname}")(x.ctypes.data_as(fp), buf, rows, n_per_row,
                                                         qw.ctypes.data_as(fp) if qw is not None else None)
                assert got == nbytes
                return buf.raw

            raw = run_isolated(quantize)
            rec = {"made_by": f"quantize_{cname}(" + (f"imatrix_{n_per_row}.npy" if qw is not None else "NULL") + ")"}
            if raw is None:
                rec["aborted"] = True  # ggml's quantizer stops the process on this input (GGML_ASSERT)
            else:
                fname = f"{name}.{tname}.bin"
                with open(os.path.join(OUT, fname), "wb") as f:
                    f.write(raw)
                rec.update({"file": fname, **record(tname, raw, x.size, rows)})
            entry["types"][tname] = rec
        manifest["cases"].append(entry)
    for n, w in sorted(imatrices.items()):
        np.save(os.path.join(OUT, f"imatrix_{n}.npy"), w)
    for seed, (tname, (cname, _, block, size, d_at)) in enumerate(TYPES.items()):
        for kind in ("random", "zero"):
            raw = random_blocks(tname, size, d_at, 7000 + seed) if kind == "random" else bytes(RANDOM_BLOCKS * size)
            fname = f"{kind}.{tname}.bin"
            with open(os.path.join(OUT, fname), "wb") as f:
                f.write(raw)
            manifest["bytes"].append({"type": tname, "file": fname, "blocks": RANDOM_BLOCKS,
                                      **record(tname, raw, RANDOM_BLOCKS * block, RANDOM_BLOCKS)})
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, p)) for p in os.listdir(OUT))
    print(f"{len(manifest['cases'])} cases + random/zero blocks, {total} bytes in {os.path.normpath(OUT)}")
    for t in TYPES:
        recs = [c["types"][t] for c in manifest["cases"]]
        aborted = [c["name"] for c in manifest["cases"] if c["types"][t].get("aborted")]
        agree = sum(bool(r.get("gguf_py_dequantize_agrees")) for r in recs)
        byte_agree = sum(b["gguf_py_dequantize_agrees"] for b in manifest["bytes"] if b["type"] == t)
        print(f"  {t}: {recs[0]['made_by'].split('(')[1][:-1]}; gguf-py dequantize agrees on {agree}/{len(recs)} cases, "
              f"{byte_agree}/2 byte sets" + (f"; ggml aborts on {aborted}" if aborted else ""))


if __name__ == "__main__":
    main()
