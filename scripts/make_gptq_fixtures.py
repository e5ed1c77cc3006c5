#!/usr/bin/env python3
"""Writes tests/fixtures/formats/gptq/*: safetensors files holding GPTQ and AWQ Linears packed by the
libraries' own packing code, and their dequantized weights as the libraries' own torch code computes
them, for tests/formats_gptq.rs and scripts/check_convert.py (CI has neither library: the references
are committed).

    pip install torch numpy safetensors
    pip install --no-deps auto-gptq==0.7.1 autoawq==0.2.9   # only their pure-Python packing code is used
    python3 scripts/make_gptq_fixtures.py           # all; --extra: only the files of make_gptq_extra

GPTQ: auto_gptq.nn_modules.qlinear.qlinear_cuda_old.QuantLinear.pack (2, 4 and 8 bits), then its own
forward without the CUDA extension (the torch fallback that unpacks and computes scales · (q − zeros)
in half) on the identity, which gives the weight [in, out] itself. AWQ: awq's WQLinear_GEMM.from_linear
(4 bits) and awq.utils.packing_utils.dequantize_gemm. The packages' __init__ files import transformers
and CUDA kernels; their modules are loaded without them (a namespace stub of the package).
make_gptq_extra adds 3-bit Linears (auto-gptq's 3-bit pack, codes crossing words), act-order ones
(qlinear_cuda.QuantLinear, whose pack and forward take a permuted g_idx) and GPTQModel's gptq_v2 zero
points (auto-gptq's packing of the zeros without the −1, as GPTQModel keeps them; GPTQModel itself
is not installed: it pulls in transformers, accelerate and its CUDA kernels).
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


def gptq_cuda_quant_linear():
    """auto-gptq's qlinear_cuda QuantLinear: the one whose pack and torch forward take g_idx
    (act-order); qlinear_cuda_old.pack ignores it. Call after gptq_quant_linear."""
    from auto_gptq.nn_modules.qlinear.qlinear_cuda import QuantLinear
    return QuantLinear


def grouped_params(w, bits, g_idx, groups):
    """minmax_params over the inputs g_idx puts in each group (act-order groups are not runs)."""
    out = w.shape[0]
    scale, zero = torch.empty(out, groups), torch.empty(out, groups)
    maxq = 2 ** bits - 1
    for j in range(groups):
        g = w[:, g_idx == j]
        lo = torch.clamp(g.min(-1).values, max=0)
        hi = torch.clamp(g.max(-1).values, min=0)
        scale[:, j] = ((hi - lo) / maxq).clamp(min=1e-5)
        zero[:, j] = torch.round(-lo / scale[:, j]).clamp(0, maxq)
    return scale.half(), zero


def make_gptq_extra():
    """3-bit (codes and zeros crossing int32 words), act-order g_idx, and GPTQModel's gptq_v2 zero
    points; added to the manifest without rewriting the older fixtures."""
    Old, Cuda = gptq_quant_linear(), gptq_cuda_quant_linear()
    cases = [
        # (fixture, prefix, QuantLinear, bits, group, k, n, act_order, v2)
        ("gptq3.safetensors", "layers.0.q_proj", Old, 3, 32, 64, 32, False, False),
        ("gptq3.safetensors", "layers.0.down_proj", Cuda, 3, 16, 64, 64, True, False),
        ("gptq_act_order.safetensors", "layers.0.q_proj", Cuda, 4, 32, 128, 32, True, False),
        ("gptq_act_order.safetensors", "layers.0.up_proj", Cuda, 8, 16, 64, 32, True, False),
        ("gptq_v2.safetensors", "layers.0.q_proj", Old, 4, 32, 64, 32, False, True),
        ("gptq_v2.safetensors", "layers.0.k_proj", Cuda, 3, 32, 64, 32, True, True),
    ]
    files = {}
    for fixture, prefix, QL, bits, group, k, n, act_order, v2 in cases:
        torch.manual_seed(100 + bits + k)
        linear = torch.nn.Linear(k, n, bias=False).half()
        linear.weight.data = (torch.randn(n, k) * 0.1).half()
        groups = k // group
        if act_order:
            # GPTQ's desc_act: inputs taken in the order of decreasing Hessian diagonal, groups
            # formed in that order, g_idx[perm[i]] = i // group (auto_gptq quantization/gptq.py).
            perm = torch.randperm(k)
            g_idx = torch.empty(k, dtype=torch.int32)
            g_idx[perm] = torch.arange(k, dtype=torch.int32) // group
        else:
            g_idx = torch.tensor([i // group for i in range(k)], dtype=torch.int32)
        scale, zero = grouped_params(linear.weight.data.float(), bits, g_idx, groups)
        if QL is Old:
            ql = QL(bits, group, k, n, bias=False, use_cuda_fp16=False, weight_dtype=torch.float16)
        else:
            ql = QL(bits, group, k, n, bias=False, weight_dtype=torch.float16)
        ql.pack(linear, scale, zero, g_idx)
        # Its own forward's torch fallback on the identity: W [in, out] in half.
        w = ql.forward(torch.eye(k, dtype=torch.float16)).float().numpy()
        qzeros = ql.qzeros.contiguous()
        if v2:
            # gptq_v2 keeps the zeros themselves (GPTQModel's internal format; its v1 export
            # subtracts the one, convert_gptq_v2_to_v1_format_module): the same packing code given
            # zero + 1, whose own `zeros -= 1` leaves the zeros. Its torch kernel then dequantizes
            # scales[g_idx] · (q − zeros[g_idx]) with them as they are: the values of `w` above.
            twin = QL(bits, group, k, n, bias=False, weight_dtype=torch.float16, **({"use_cuda_fp16": False} if QL is Old else {}))
            twin.pack(linear, scale, zero + 1, g_idx)
            qzeros = twin.qzeros.contiguous()
        t = files.setdefault(fixture, {})
        t[f"{prefix}.qweight"] = ql.qweight.contiguous()
        t[f"{prefix}.qzeros"] = qzeros
        t[f"{prefix}.scales"] = ql.scales.contiguous()
        t[f"{prefix}.g_idx"] = ql.g_idx.to(torch.int32).contiguous()
        group_of[f"{fixture}.{prefix}.qweight"] = group
        expect(fixture, f"{prefix}.qweight", w, (k, n), "gptq", bits)
        manifest["parameters"].setdefault(fixture, []).extend(f"{prefix}.{p}" for p in ("qzeros", "scales", "g_idx"))
    for fixture, tensors in files.items():
        # GPTQModel keeps checkpoint_format in quantize_config.json; the reader sees one file, so
        # the v2 fixture carries the key in its safetensors metadata.
        meta = {"format": "pt", "checkpoint_format": "gptq_v2"} if fixture == "gptq_v2.safetensors" else {"format": "pt"}
        save_file(tensors, os.path.join(OUT, fixture), metadata=meta)


def main_extra():
    import json
    with open(os.path.join(OUT, "manifest.json")) as f:
        old = json.load(f)
    manifest["files"].update(old["files"])
    manifest["parameters"].update(old["parameters"])
    make_gptq_extra()
    write_manifest(OUT, manifest)
    # The older references keep the torch version that made them; the extra ones name theirs.
    manifest["torch_version_extra"], manifest["torch_version"] = manifest["torch_version"], old.get("torch_version")
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(EXP)
    make_gptq(gptq_quant_linear())
    make_awq()
    make_gptq_extra()
    write_manifest(OUT, manifest)


if __name__ == "__main__":
    main_extra() if "--extra" in sys.argv[1:] else main()
