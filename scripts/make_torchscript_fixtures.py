#!/usr/bin/env python3
"""Writes tests/fixtures/formats/torchscript/*: small TorchScript archives saved by torch.jit.save
(script and trace), and what torch itself reads back from them, for tests/formats_torchscript.rs and
scripts/check_convert.py (CI has no torch: the references are committed).

    pip install torch numpy        # torch only to make these files once; CI does not need it
    python3 scripts/make_torchscript_fixtures.py

Each archive is loaded back with torch.jit.load and every tensor the playground should list is taken
from the loaded module: parameters and buffers (state_dict), plain tensor attributes, tensors inside
Dict/List attributes, the trace's constants (`CONSTANTS.cN`, as the archive's code names them), and
the weights of quantized modules. Values are written as raw little-endian float32
(expected/<key>.f32): a float tensor's own values, a quantized tensor's `dequantize()`. The script
also checks that torch's dequantize() equals the rule the reader uses, (q − zero_point) · scale
(per tensor: fbgemm::Dequantize, float scale; per channel: aten's
dequantize_per_channel_affine_kernel, double scale), so a difference shows here first.
manifest.json: {"files": {archive: {tensor: {"expected", "dtype", "shape", "quant"?}}},
"listed": {archive: {tensor: dtype}} (integer tensors, listed but not read as floats),
"skipped": {archive: text the reader must say}, "torch_version": ...}.
"""
import collections
import json
import os
import pickle
import shutil
import sys
import zipfile
from typing import Dict, List

import numpy as np
import torch
from torch.ao import quantization as tq

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "formats", "torchscript"))
EXP = os.path.join(OUT, "expected")
manifest = {"files": {}, "listed": {}, "skipped": {}}

DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
          torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8", torch.int8: "I8", torch.bool: "Bool",
          torch.qint8: "I8", torch.quint8: "U8", torch.qint32: "I32"}


def rule_dequantize(t):
    """The reader's rule, from the integer codes (aten int_repr) and torch's own parameters."""
    q = t.int_repr().numpy().astype(np.int64)
    if t.qscheme() == torch.per_tensor_affine:
        # fbgemm::Dequantize: scale (a float) * (src - zero_point)
        return np.float32(t.q_scale()) * (q - t.q_zero_point()).astype(np.float32)
    axis = t.q_per_channel_axis()
    shape = [1] * q.ndim
    shape[axis] = q.shape[axis]
    scales = t.q_per_channel_scales().numpy().astype(np.float64).reshape(shape)
    zps = t.q_per_channel_zero_points().numpy().astype(np.float32).reshape(shape)
    # aten: (static_cast<float>(q) - zero_point) * (double) scale, stored as float
    return ((q.astype(np.float32) - zps).astype(np.float64) * scales).astype(np.float32)


def expect(archive, name, t):
    if not t.is_quantized and not t.is_floating_point():
        # Integer tensors (num_batches_tracked, an int64 attribute): listed in their dtype, not read as floats.
        manifest["listed"].setdefault(archive, {})[name] = DTYPES[t.dtype]
        return
    key = f"{archive}.{name}".replace("/", "_")
    entry = {"expected": key + ".f32", "dtype": DTYPES[t.dtype], "shape": list(t.shape)}
    if t.is_quantized:
        values = t.dequantize().numpy()
        mine = rule_dequantize(t)
        assert np.array_equal(values.view(np.uint32), mine.view(np.uint32)), f"{archive}:{name}: torch's dequantize differs from the rule"
        per_tensor = t.qscheme() == torch.per_tensor_affine
        entry["quant"] = {
            "scheme": "torch_affine",
            "granularity": {"kind": "per_tensor"} if per_tensor else {"kind": "per_axis", "axis": t.q_per_channel_axis()},
            "bits": t.element_size() * 8,
        }
    else:
        values = t.detach().float().numpy()
    np.ascontiguousarray(values, dtype="<f4").tofile(os.path.join(EXP, key + ".f32"))
    manifest["files"].setdefault(archive, {})[name] = entry


class Block(torch.nn.Module):
    def __init__(self, n):
        super().__init__()
        self.fc = torch.nn.Linear(n, n)
        self.norm = torch.nn.LayerNorm(n)

    def forward(self, x):
        return self.norm(torch.relu(self.fc(x)))


class SmallCnn(torch.nn.Module):
    """Nested modules (Sequential, ModuleList, a block in a block), a buffer, plain tensor attributes,
    tensors in a Dict and a List attribute, and non-tensor attributes the reader must skip."""

    tensors: Dict[str, torch.Tensor]
    stack: List[torch.Tensor]

    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.Conv2d(4, 2, 3))
        self.layers = torch.nn.ModuleList([Block(8), Block(8)])
        self.head = torch.nn.Linear(8, 3, bias=False)
        self.register_buffer("mean", torch.linspace(-1, 1, 8))
        self.offset = torch.tensor([0.25, -0.5, 1.0], dtype=torch.float64)  # a tensor attribute, not a buffer
        self.small = torch.arange(6, dtype=torch.float16).reshape(2, 3) / 8
        self.tensors = {"a": torch.full((2,), 3.5), "b": torch.eye(2)}
        self.stack = [torch.ones(3), torch.zeros(1, 2)]
        self.steps = torch.tensor([1, 2, 3])  # int64: listed, not quantizable
        self.gain = 0.5
        self.label = "small cnn"
        self.sizes = [1, 2, 3]

    def forward(self, x):
        y = self.features(x).flatten(1)[:, :8] - self.mean
        for layer in self.layers:
            y = layer(y)
        return self.head(y) * self.gain + self.offset.float() + self.tensors["a"][0] + self.stack[0]


class Tied(torch.nn.Module):
    """A weight tied between two layers and a buffer that views another tensor's storage at an offset."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Linear(4, 6)
        self.out = torch.nn.Linear(6, 4)
        self.back = torch.nn.Linear(4, 6, bias=False)
        self.back.weight = self.embed.weight
        table = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 10
        self.register_buffer("table", table)
        self.register_buffer("row", table[2])  # storage offset 12 into the same storage

    def forward(self, x):
        return self.out(self.embed(x) + self.back(x) + self.row)


class WithConstant(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x):
        # Traced: these tensors become the archive's constants (constants.pkl, constants/N).
        return self.fc(x) * torch.tensor([1.0, 2.0, 3.0]) + torch.tensor([0.125, 0.25, -4.0], dtype=torch.float64).float()


class QuantNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = tq.QuantStub()
        self.conv = torch.nn.Conv2d(1, 3, 3)
        self.fc = torch.nn.Linear(12, 4)
        self.dequant = tq.DeQuantStub()

    def forward(self, x):
        x = self.quant(x)
        x = self.conv(x).flatten(1)[:, :12]
        return self.dequant(self.fc(x))


def quantized(engine):
    torch.backends.quantized.engine = engine
    m = QuantNet().eval()
    m.qconfig = tq.get_default_qconfig(engine)
    tq.prepare(m, inplace=True)
    for _ in range(4):
        m(torch.randn(8, 1, 6, 6))
    tq.convert(m, inplace=True)
    return m


class QuantAttr(torch.nn.Module):
    """Quantized tensors held directly: per-tensor quint8 with a non-zero zero point, per-channel
    qint8 along axis 1, and a qint32 per-tensor tensor."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(3)
        x = torch.randn(3, 5, generator=g)
        self.qa = torch.quantize_per_tensor(x, 0.037, 131, torch.quint8)
        # Scales as observers make them (float32 values, held as float64 by torch) …
        f32_scales = torch.tensor([0.01, 0.02, 0.05, 0.1, 0.2], dtype=torch.float32).double()
        self.qc = torch.quantize_per_channel(x, f32_scales, torch.tensor([0, 1, -2, 3, 0]), 1, torch.qint8)
        # … and float64 scales that no float32 equals: listed as codes, not dequantized (said).
        self.qd = torch.quantize_per_channel(x, torch.tensor([0.01, 0.02, 0.05], dtype=torch.float64), torch.tensor([0, 0, 0]), 0, torch.qint8)
        self.qi = torch.quantize_per_tensor(x * 1000, 0.125, 0, torch.qint32)

    def forward(self, x):
        return x + self.qa.dequantize() + self.qc.dequantize() + self.qi.dequantize() + self.qd.dequantize()


def walk_tensors(m):
    """Every tensor torch gives back for a loaded module: state_dict (quantized modules flatten their
    packed params to (weight, bias) tuples there), then tensor attributes named by attribute path."""
    out = {}
    for k, v in m.state_dict().items():
        if isinstance(v, torch.Tensor):
            out[k] = v
        elif isinstance(v, tuple):
            for i, t in enumerate(v):
                if isinstance(t, torch.Tensor):
                    out[f"{k}.{i}"] = t
    return out


def constants_of(path):
    """The archive's constants.pkl read with Python's pickle and torch's own _rebuild_tensor_v2, its
    storages from `constants/<key>` (torch/csrc/jit/serialization/import.cpp reads them there)."""
    z = zipfile.ZipFile(path)
    root = z.namelist()[0].split("/")[0]

    class Constants(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
                return torch._utils._rebuild_tensor_v2
            if (module, name) == ("collections", "OrderedDict"):
                return collections.OrderedDict
            if module == "torch" and name.endswith("Storage"):
                return getattr(torch, name)
            raise pickle.UnpicklingError(f"{module}.{name}")

        def persistent_load(self, pid):
            _, cls, key, _, _ = pid
            raw = torch.UntypedStorage.from_buffer(z.read(f"{root}/constants/{key}"), dtype=torch.uint8)
            return torch.storage.TypedStorage(wrap_storage=raw, dtype=cls.dtype, _internal=True)

    return Constants(z.open(f"{root}/constants.pkl")).load()


def quantized_weights(b):
    """The loaded module's own __getstate__ (compiled into the archive) gives the weights back."""
    conv = b.conv._c._get_method("__getstate__")()
    w, bias = b.fc._packed_params._packed_params.__getstate__()[0]
    return {"conv.weight": conv[10], "conv.bias": conv[11], "fc._packed_params._packed_params.0": w, "fc._packed_params._packed_params.1": bias}


def save(name, module, extra=None):
    path = os.path.join(OUT, name)
    torch.jit.save(module, path)
    back = torch.jit.load(path)
    tensors = walk_tensors(back)
    for k, v in (extra(back) if extra else {}).items():
        tensors[k] = v
    for k, v in tensors.items():
        expect(name, k, v)
    return back


def write_manifest(out, manifest):
    """manifest.json with the torch version that made the references (also for make_gptq_fixtures.py)."""
    manifest["torch_version"] = torch.__version__
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {sum(len(v) for v in manifest['files'].values())} tensors in {len(manifest['files'])} files to {out}")


class LegacyNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 3, 3)
        self.bn = torch.nn.BatchNorm2d(3)
        self.head = torch.nn.Sequential(torch.nn.Linear(12, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))


# caffe2/proto/caffe2.proto TensorProto.DataType, as protobuf JSON names the enum values.
LEGACY_DTYPES = {torch.float32: "FLOAT", torch.float64: "DOUBLE", torch.float16: "FLOAT16", torch.int64: "INT64", torch.int32: "INT32", torch.int8: "INT8", torch.uint8: "UINT8"}


def make_legacy():
    """legacy_script.pt: the layout torch.jit.save wrote before torch 1.4 (the ModelDef of
    caffe2/proto/torch.proto as protobuf JSON in model.json, storages as tensors/<n>, code/, a
    version record and attributes.pkl), as torch's import_legacy.cpp reads it: parameters by
    module path (LEGACY_convertModule), each tensor `set_(storage, offset, dims, strides)`
    (LEGACY_loadTensor), int64 fields printed as strings the way protobuf's JSON printer does.
    No torch < 1.4 runs on this Python, so the archive is written here from that reader's rules and
    the expected values are the module's own tensors; a tied pair and a view at an offset share a
    storage record, and one table tensor no parameter names (a code constant, CONSTANTS.c<n>)."""
    import io
    import json as _json
    import pickle
    import zipfile
    torch.manual_seed(7)
    net = LegacyNet().eval()
    net.bn.running_mean.uniform_(-0.5, 0.5)
    net.bn.running_var.uniform_(0.5, 1.5)
    table_storage = torch.randn(4, 6)  # one storage: `table` and a view of its row 2
    const = torch.tensor([0.25, -1.5, 3.0], dtype=torch.float64)
    records, tensors, archive, folder = {}, [], "legacy_script.pt", "legacy_script"

    def tensor_id(t, key=None, offset=0, size=None):
        key = key or f"tensors/{len(records)}"
        if key not in records:
            records[key] = t.contiguous().numpy().tobytes()
        size = list(size if size is not None else t.shape)
        strides, acc = [], 1
        for d in reversed(size):
            strides.insert(0, acc)
            acc *= d
        tensors.append({"dims": [str(d) for d in size], "offset": str(offset), "strides": [str(x) for x in strides],
                        "requiresGrad": False, "dataType": LEGACY_DTYPES[t.dtype], "data": {"key": key}, "device": "cpu"})
        return len(tensors) - 1

    def module_def(name, m, prefix):
        d = {"name": name, "parameters": [], "submodules": [], "optimize": True}
        for pname, p in list(m.named_parameters(recurse=False)) + list(m.named_buffers(recurse=False)):
            is_buffer = pname not in dict(m.named_parameters(recurse=False))
            entry = {"name": pname, "tensorId": str(tensor_id(p.detach()))}
            if is_buffer:
                entry["isBuffer"] = True
            d["parameters"].append(entry)
            expect(archive, prefix + pname, p.detach())
        for sname, sub in m.named_children():
            d["submodules"].append(module_def(sname, sub, prefix + sname + "."))
        return d

    main = module_def("__main__", net, "")
    # A tied weight: head.2.weight's tensor also as the main module's `tied`; a view `row` at offset 12.
    head = next(d for d in main["submodules"] if d["name"] == "head")
    last = next(d for d in head["submodules"] if d["name"] == "2")
    tied_id = int(next(p for p in last["parameters"] if p["name"] == "weight")["tensorId"])
    main["parameters"].append({"name": "tied", "tensorId": str(tied_id)})
    expect(archive, "tied", net.head[2].weight.detach())
    key = f"tensors/{len(records)}"
    main["parameters"].append({"name": "table", "tensorId": str(tensor_id(table_storage, key))})
    expect(archive, "table", table_storage)
    main["parameters"].append({"name": "row", "tensorId": str(tensor_id(table_storage, key, offset=12, size=[6]))})
    expect(archive, "row", table_storage[2])
    c = tensor_id(const)
    expect(archive, f"CONSTANTS.c{c}", const)
    main["torchscriptArena"] = {"key": "code/legacy_script.py"}
    model = {"protoVersion": "3", "mainModule": main, "producerName": "pytorch", "producerVersion": "1.0", "tensors": tensors}
    path = os.path.join(OUT, "legacy_script.pt")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{folder}/version", "1\n")
        z.writestr(f"{folder}/model.json", _json.dumps(model))
        z.writestr(f"{folder}/code/legacy_script.py", "op_version_set = 1\ndef forward(self, x):\n  return x\n")
        buf = io.BytesIO()
        pickle.dump((), buf, protocol=2)
        z.writestr(f"{folder}/attributes.pkl", buf.getvalue())
        for k, v in records.items():
            z.writestr(f"{folder}/{k}", v)


def main_legacy():
    with open(os.path.join(OUT, "manifest.json")) as f:
        old = json.load(f)
    for k in ("files", "listed", "skipped"):
        manifest[k].update(old.get(k, {}))
    make_legacy()
    version = old.get("torch_version")
    write_manifest(OUT, manifest)
    manifest["torch_version"] = version
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


def main():
    torch.manual_seed(0)
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(EXP)

    cnn = torch.jit.script(SmallCnn().eval())
    save("cnn_script.pt", cnn, lambda b: {
        "offset": b.offset, "small": b.small, "tensors.a": b.tensors["a"], "tensors.b": b.tensors["b"],
        "stack.0": b.stack[0], "stack.1": b.stack[1], "steps": b.steps})
    manifest["skipped"]["cnn_script.pt"] = "non-tensor attributes skipped"

    tied = torch.jit.script(Tied())
    back = save("tied.pt", tied)
    assert back.back.weight.data_ptr() == back.embed.weight.data_ptr()

    traced = torch.jit.trace(WithConstant(), torch.zeros(2, 4))
    path = os.path.join(OUT, "traced.pt")
    back = save("traced.pt", traced, lambda b: {f"CONSTANTS.c{i}": c for i, c in enumerate(constants_of(path))})
    # The same values as the constants torch inlined into the loaded graph.
    inlined = [n.output().toIValue() for n in back.graph.nodes() if n.kind() == "prim::Constant" and n.output().type().kind() == "TensorType"]
    consts = constants_of(path)
    assert len(consts) == 2 and all(any(torch.equal(c, i) for i in inlined) for c in consts), (consts, inlined)

    for engine, name in [("x86", "quantized_x86.pt"), ("qnnpack", "quantized_qnnpack.pt")]:
        if engine in torch.backends.quantized.supported_engines:
            # A scripted quantized module keeps its weights out of state_dict: its conv's __getstate__
            # tuple holds them, and the Linear's LinearPackedParamsBase pickles (weight, bias).
            save(name, torch.jit.script(quantized(engine)), quantized_weights)
    torch.backends.quantized.engine = "x86" if "x86" in torch.backends.quantized.supported_engines else torch.backends.quantized.engine
    save("quantized_attrs.pt", torch.jit.script(QuantAttr()), lambda b: {"qa": b.qa, "qc": b.qc, "qi": b.qi, "qd": b.qd})
    # qd's scales are not float32 values: the reader lists its int8 codes without parameters.
    del manifest["files"]["quantized_attrs.pt"]["qd"]
    os.remove(os.path.join(EXP, "quantized_attrs.pt.qd.f32"))
    manifest["listed"].setdefault("quantized_attrs.pt", {})["qd"] = "I8"
    manifest["skipped"]["quantized_attrs.pt"] = "not dequantized qd"

    make_legacy()
    write_manifest(OUT, manifest)


if __name__ == "__main__":
    main_legacy() if "--legacy" in sys.argv[1:] else main()
