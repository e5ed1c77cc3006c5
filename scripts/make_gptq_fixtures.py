#!/usr/bin/env python3
"""Writes tests/fixtures/formats/gptq/*: safetensors files holding GPTQ and AWQ Linears packed by the
libraries' own packing code, and their dequantized weights as the libraries' own torch code computes
them, for tests/formats_gptq.rs and scripts/check_convert.py (CI has neither library: the references
are committed).

    pip install torch numpy safetensors
    pip install --no-deps auto-gptq==0.7.1 autoawq==0.2.9   # only their pure-Python packing code is used
    python3 scripts/make_gptq_fixtures.py

GPTQ: auto_gptq.nn_modules.qlinear.qlinear_cuda_old.QuantLinear.pack (2, 4 and 8 bits), then its own
forward without the CUDA extension (the torch fallback that unpacks and computes scales · (q − zeros)
in half) on the identity, which gives the weight [in, out] itself. AWQ: awq's WQLinear_GEMM.from_linear
(4 bits) and awq.utils.packing_utils.dequantize_gemm. The packages' __init__ files import transformers
and CUDA kernels; their modules are loaded without them (a namespace stub of the package).
Expected values are raw little-endian float32 (expected/<key>.f32) of those half results.
"""
import importlib.util
import os
import shutil
import sys
import types

import numpy as np
import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_torchscript_fixtures import write_manifest  # noqa: E402

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "formats", "gptq"))
EXP = os.path.join(OUT, "expected")
manifest = {"files": {}, "parameters": {}}


def package_without_init(name):
    """Makes `import name.sub` load the installed package's submodules without its __init__."""
    spec = importlib.util.find_spec(name)
    pkg = types.ModuleType(name)
    pkg.__path__ = list(spec.submodule_search_locations)
    sys.modules[name] = pkg


def gptq_quant_linear():
    # qlinear_cuda_old imports transformers only for an isinstance check on Conv1D.
    transformers = types.ModuleType("transformers")
    transformers.pytorch_utils = types.SimpleNamespace(Conv1D=type("Conv1D", (), {}))
    sys.modules.setdefault("transformers", transformers)
    package_without_init("auto_gptq")
    from auto_gptq.nn_modules.qlinear.qlinear_cuda_old import QuantLinear
    return QuantLinear


def minmax_params(w, bits, group):
    """Asymmetric min-max scale and zero per (output, group), as GPTQ's Quantizer.find_params does
    without its search; any scales work, these are plausible ones."""
    out, k = w.shape
    g = w.reshape(out, k // group, group)
    lo = torch.clamp(g.min(-1).values, max=0)
    hi = torch.clamp(g.max(-1).values, min=0)
    maxq = 2 ** bits - 1
    scale = ((hi - lo) / maxq).clamp(min=1e-5)
    zero = torch.round(-lo / scale).clamp(0, maxq)
    return scale.half().float(), zero  # [out, groups]


def expect(fixture, name, values, shape, scheme, bits):
    key = f"{fixture}.{name}"
    np.ascontiguousarray(values, dtype="<f4").tofile(os.path.join(EXP, key + ".f32"))
    manifest["files"].setdefault(fixture, {})[name] = {
        "expected": key + ".f32", "dtype": "I32", "shape": list(shape),
        "quant": {"scheme": scheme, "granularity": {"kind": "blocked", "axis": 0, "block_size": group_of[key]}, "bits": bits},
    }


group_of = {}


def make_gptq(QuantLinear):
    tensors, fixture = {}, "gptq.safetensors"
    for prefix, bits, group, k, n in [("layers.0.q_proj", 4, 32, 64, 32), ("layers.0.o_proj", 8, 16, 32, 64), ("layers.1.fc", 2, 64, 128, 32)]:
        torch.manual_seed(bits)
        # A half model, as GPTQ checkpoints are (pack keeps the scales in the weight's dtype).
        linear = torch.nn.Linear(k, n, bias=False).half()
        linear.weight.data = (torch.randn(n, k) * 0.1).half()
        scale, zero = minmax_params(linear.weight.data.float(), bits, group)
        scale = scale.half()
        ql = QuantLinear(bits, group, k, n, bias=False, use_cuda_fp16=False, weight_dtype=torch.float16)
        g_idx = torch.tensor([i // group for i in range(k)], dtype=torch.int32)
        ql.pack(linear, scale, zero, g_idx)
        # The forward's torch fallback on the identity gives W [in, out] = scales · (q − zeros) in half.
        w = ql.forward(torch.eye(k, dtype=torch.float16)).float().numpy()
        for part in ("qweight", "qzeros", "scales", "g_idx"):
            tensors[f"{prefix}.{part}"] = getattr(ql, part).contiguous()
        group_of[f"{fixture}.{prefix}.qweight"] = group
        expect(fixture, f"{prefix}.qweight", w, (k, n), "gptq", bits)
        manifest["parameters"].setdefault(fixture, []).extend(f"{prefix}.{p}" for p in ("qzeros", "scales", "g_idx"))
    tensors["norm.weight"] = torch.ones(16, dtype=torch.float16)
    save_file(tensors, os.path.join(OUT, fixture))
    manifest["files"][fixture]["norm.weight"] = {"expected": f"{fixture}.norm.weight.f32", "dtype": "F16", "shape": [16]}
    np.ones(16, dtype="<f4").tofile(os.path.join(EXP, f"{fixture}.norm.weight.f32"))


def make_awq():
    # awq.utils.utils imports accelerate for functions not used here.
    sys.modules.setdefault("accelerate", types.ModuleType("accelerate"))
    package_without_init("awq")
    from awq.modules.linear.gemm import WQLinear_GEMM
    from awq.utils.packing_utils import dequantize_gemm
    tensors, fixture = {}, "awq.safetensors"
    for prefix, group, k, n in [("model.layers.0.mlp.up_proj", 32, 64, 32), ("model.layers.0.mlp.down_proj", 16, 32, 64)]:
        torch.manual_seed(k)
        linear = torch.nn.Linear(k, n, bias=False)
        linear.weight.data = (torch.randn(n, k) * 0.1).half().float()
        scale, zero = minmax_params(linear.weight.data, 4, group)
        # from_linear takes scales and zeros as [groups, out] (awq/quantize/quantizer.py passes .t()).
        ql = WQLinear_GEMM.from_linear(linear, 4, group, scales=scale.t().contiguous(), zeros=zero.t().contiguous())
        w = dequantize_gemm(ql.qweight, ql.qzeros, ql.scales, 4, group).float().numpy()
        for part in ("qweight", "qzeros", "scales"):
            tensors[f"{prefix}.{part}"] = getattr(ql, part).contiguous()
        group_of[f"{fixture}.{prefix}.qweight"] = group
        expect(fixture, f"{prefix}.qweight", w, (k, n), "awq", 4)
        manifest["parameters"].setdefault(fixture, []).extend(f"{prefix}.{p}" for p in ("qzeros", "scales"))
    save_file(tensors, os.path.join(OUT, fixture))


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(EXP)
    make_gptq(gptq_quant_linear())
    make_awq()
    write_manifest(OUT, manifest)


if __name__ == "__main__":
    main()
