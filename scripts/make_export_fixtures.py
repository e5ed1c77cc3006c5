#!/usr/bin/env python3
"""Writes tests/fixtures/export/: the small ONNX model of scripts/check_export.py (MatMul, Gemm with
transB=0 and 1, Conv), inline and with external data, for the native tests in tests/export.rs."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_export import ROOT, make_model  # noqa: E402

out = os.path.join(ROOT, "tests", "fixtures", "export")
os.makedirs(out, exist_ok=True)
make_model(os.path.join(out, "mlp.onnx"))
make_model(os.path.join(out, "mlp_ext.onnx"), external=True)
print("wrote", sorted(os.listdir(out)))
