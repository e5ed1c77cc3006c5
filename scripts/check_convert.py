#!/usr/bin/env python3
"""`quant-playground convert` against the libraries, for every fixture tensor: each fixture of
tests/fixtures/formats and tests/fixtures/quantized is converted to .safetensors, read back with
safetensors.numpy, and every tensor with expected values (written by the libraries themselves:
numpy, safetensors, gguf-py's dequantize, torch, onnx.numpy_helper, onnxruntime's DequantizeLinear
and MatMulNBits, tfjs-core's io.decodeWeights — see make_format_fixtures.py,
make_quantized_fixtures.py and make_tfjs_fixtures.py) must be F32 and
bit-equal to them. The output must hold exactly what `inspect --json` lists, under the same names.

    python3 scripts/check_convert.py --bin target/debug/quant-playground
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from safetensors.numpy import load_file

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
SUITES = [os.path.join(ROOT, "tests", "fixtures", "formats"), os.path.join(ROOT, "tests", "fixtures", "quantized")]
# TorchScript archives (torch.jit.save) against what torch.jit.load gives back, references committed by
# scripts/make_torchscript_fixtures.py (CI has no torch): float tensors, and quantized ones as dequantize().
SUITES.append(os.path.join(ROOT, "tests", "fixtures", "formats", "torchscript"))
# GPTQ / AWQ safetensors packed by auto-gptq's and AutoAWQ's own code, against their dequantization in
# half (scripts/make_gptq_fixtures.py).
SUITES.append(os.path.join(ROOT, "tests", "fixtures", "formats", "gptq"))
# bitsandbytes 4-bit (NF4 with double quantization, FP4) and LLM.int8() weights laid out as transformers
# saves them, against bitsandbytes' dequantize_4bit / int8_vectorwise_dequant followed in numpy
# (scripts/make_bnb_fixtures.py; CI has no torch).
SUITES.append(os.path.join(ROOT, "tests", "fixtures", "formats", "bnb"))
# TF.js models (model.json / weights_manifest.json with their .bin shards, weights crossing shards,
# uint8/uint16/float16 storage), the expected values read by tfjs-core's io.decodeWeights.
SUITES.append(os.path.join(ROOT, "tests", "fixtures", "formats", "tfjs"))


def fixtures(suite):
    with open(os.path.join(suite, "manifest.json")) as f:
        m = json.load(f)
    files = m["files"] if "files" in m else m
    for name, tensors in files.items():
        if isinstance(tensors, dict) and os.path.isfile(os.path.join(suite, name)):
            yield name, tensors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--suite", action="append", help="check this folder (a manifest.json and expected/, e.g. real TF.js models with references by scripts/tfjs_decode_reference.mjs) instead of the fixtures")
    args = ap.parse_args()
    suites = args.suite or SUITES
    checked, files = 0, 0
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        for suite in suites:
            for name, tensors in fixtures(suite):
                path = os.path.join(suite, name)
                out = os.path.join(tmp, name.replace("/", "_") + ".safetensors")
                report = json.loads(subprocess.run([args.bin, "convert", path, "-o", out, "--json"], check=True, capture_output=True, text=True).stdout)
                skipped = {t["name"] for t in report["convert"]["tensors"] if t["written_as"] == "skipped"}
                for t in report["convert"]["tensors"]:
                    if t["written_as"] == "skipped":
                        print(f"  {name}:{t['name']}: {t['note']}")
                listed = json.loads(subprocess.run([args.bin, "inspect", path, "--json"], check=True, capture_output=True, text=True).stdout)
                got = load_file(out)
                # Everything listed, but ggml types the playground does not decode (said above).
                want_names = {t["name"] for t in listed["tensors"]} - skipped
                if set(got) != want_names:
                    failures.append(f"{name}: convert wrote {sorted(set(got) ^ want_names)} unlike inspect")
                for t in listed["tensors"]:
                    if t["name"] in skipped and t["quantizable"]:
                        failures.append(f"{name}:{t['name']}: quantizable but left out")
                    elif t["quantizable"] and got[t["name"]].dtype != np.float32:
                        failures.append(f"{name}:{t['name']}: written as {got[t['name']].dtype}, not float32")
                for tensor, entry in tensors.items():
                    exp = np.fromfile(os.path.join(suite, "expected", entry["expected"]), dtype="<f4")
                    if tensor not in got:
                        failures.append(f"{name}:{tensor}: missing from the conversion")
                        continue
                    a = np.ascontiguousarray(got[tensor]).reshape(-1)
                    if a.dtype != np.float32 or a.shape != exp.shape:
                        failures.append(f"{name}:{tensor}: {a.dtype}{a.shape}, expected float32{exp.shape}")
                        continue
                    ab, eb = a.view(np.uint32).copy(), exp.view(np.uint32).copy()
                    if entry.get("zero_sign") is False:
                        # The reference cannot carry a −0 (a product with the identity adds +0).
                        zero = ((ab << 1) == 0) & ((eb << 1) == 0)
                        ab[zero] = eb[zero]
                    if not np.array_equal(ab, eb):
                        bad = int(np.sum(ab != eb))
                        failures.append(f"{name}:{tensor}: {bad} of {a.size} values differ from the library's")
                    checked += 1
                files += 1
    for f in failures:
        print("FAIL", f)
    print(f"convert: {checked} tensors of {files} files bit-equal to their libraries" if not failures else f"{len(failures)} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
