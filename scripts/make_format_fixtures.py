#!/usr/bin/env python3
"""Writes tests/fixtures/formats/*: one small tensor family stored by the real libraries in every
format the playground reads, plus the exact values each library reads back, for tests/formats.rs.

    pip install numpy safetensors gguf onnx torch
    python3 scripts/make_format_fixtures.py

Expected values are raw little-endian float32 files (expected/<name>.f32) written from what the
library itself reads back (numpy.load, safetensors.numpy.load_file, gguf.GGUFReader +
gguf.quants.dequantize, torch.load, onnx.numpy_helper.to_array), so the Rust reader is checked
against the library, not against itself. manifest.json lists file → tensor → expected values.
"""
import json
import os
import shutil
import sys

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "formats")
OUT = os.path.normpath(OUT)
EXP = os.path.join(OUT, "expected")
manifest = {}  # file -> {tensor: {"expected": file, "dtype": str, "shape": [...]}}


def expect(fixture, tensor, values, dtype, shape, key=None):
    """Records what the library reads back for `tensor` of `fixture` (as float32, C order)."""
    key = key or f"{fixture}.{tensor}".replace("/", "_")
    arr = np.ascontiguousarray(np.asarray(values, dtype=np.float32))
    arr.astype("<f4").tofile(os.path.join(EXP, key + ".f32"))
    manifest.setdefault(fixture, {})[tensor] = {"expected": key + ".f32", "dtype": dtype, "shape": list(shape)}


def base_tensor():
    # 4 rows of 256 (the k-quants need 256-element rows), values like a weight matrix, plus a few
    # exact specials at known places.
    rng = np.random.default_rng(20261127)
    w = (rng.standard_normal((4, 256)) * 0.05).astype(np.float32)
    w[0, :4] = [0.0, -0.0, 1.0, -2.5]
    return w


def bf16_bits(x):
    """Round-to-nearest-even float32 → bfloat16 bit patterns (as ggml_compute_fp32_to_bf16)."""
    import gguf
    return gguf.quants.quantize(x, gguf.GGMLQuantizationType.BF16).view(np.uint16)


def bf16_to_f32(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def make_npy(w):
    np.save(os.path.join(OUT, "w.npy"), w)
    expect("w.npy", "w", np.load(os.path.join(OUT, "w.npy")), "F32", w.shape)
    # Big-endian float64, Fortran order, float16, format versions 2.0 and 3.0.
    w64 = w.astype(">f8")
    np.save(os.path.join(OUT, "w_f8_be.npy"), w64)
    expect("w_f8_be.npy", "w_f8_be", np.load(os.path.join(OUT, "w_f8_be.npy")).astype(np.float32), "F64", w.shape)
    wf = np.asfortranarray(w)
    np.save(os.path.join(OUT, "w_fortran.npy"), wf)
    back = np.load(os.path.join(OUT, "w_fortran.npy"))
    assert back.flags.f_contiguous
    expect("w_fortran.npy", "w_fortran", back, "F32", w.shape)
    w16 = w.astype(np.float16)
    np.save(os.path.join(OUT, "w_f2.npy"), w16)
    expect("w_f2.npy", "w_f2", np.load(os.path.join(OUT, "w_f2.npy")).astype(np.float32), "F16", w.shape)
    for version in [(2, 0), (3, 0)]:
        name = f"w_v{version[0]}.npy"
        with open(os.path.join(OUT, name), "wb") as f:
            np.lib.format.write_array(f, w, version=version)
        expect(name, name[:-4], np.load(os.path.join(OUT, name)), "F32", w.shape)


def make_npz(w):
    b = np.arange(16, dtype=np.float32) / 8
    np.savez(os.path.join(OUT, "stored.npz"), w=w, b=b, i=np.arange(5, dtype=np.int32))
    np.savez_compressed(os.path.join(OUT, "deflated.npz"), w=w, b=b, w_f2=w.astype(np.float16))
    for name in ["stored.npz", "deflated.npz"]:
        with np.load(os.path.join(OUT, name)) as z:
            for k in z.files:
                if z[k].dtype.kind == "f":
                    expect(name, k, z[k].astype(np.float32), {4: "F32", 2: "F16"}[z[k].dtype.itemsize], z[k].shape)


def make_safetensors(w):
    from safetensors.numpy import load_file, save_file
    save_file({"w": w, "w_f16": w.astype(np.float16), "w_f64": w.astype(np.float64), "i": np.arange(3, dtype=np.int64)},
              os.path.join(OUT, "w.safetensors"), metadata={"format": "np"})
    got = load_file(os.path.join(OUT, "w.safetensors"))
    expect("w.safetensors", "w", got["w"], "F32", w.shape)
    expect("w.safetensors", "w_f16", got["w_f16"].astype(np.float32), "F16", w.shape)
    expect("w.safetensors", "w_f64", got["w_f64"].astype(np.float32), "F64", w.shape)
    # Two shards and the index JSON transformers writes (model.safetensors.index.json).
    shard_dir = os.path.join(OUT, "sharded")
    os.makedirs(shard_dir, exist_ok=True)
    save_file({"a.weight": w[:2].copy()}, os.path.join(shard_dir, "model-00001-of-00002.safetensors"), metadata={"format": "np"})
    save_file({"b.weight": w[2:].copy(), "b.bias": w[0, :8].copy()}, os.path.join(shard_dir, "model-00002-of-00002.safetensors"), metadata={"format": "np"})
    index = {"metadata": {"total_size": int(w.nbytes + 32)},
             "weight_map": {"a.weight": "model-00001-of-00002.safetensors", "b.weight": "model-00002-of-00002.safetensors",
                            "b.bias": "model-00002-of-00002.safetensors"}}
    with open(os.path.join(shard_dir, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2)
    for shard in ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]:
        for k, v in load_file(os.path.join(shard_dir, shard)).items():
            expect("sharded/model.safetensors.index.json", k, v, "F32", v.shape, key=f"sharded.{k}")


GGUF_QUANTS = ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q6_K"]


def quant_blocks(w, qtype):
    """Blocks of `qtype` for w: gguf.quants.quantize where gguf-py has it; for the k-quants (no
    Python quantizer) random bytes with a sane f16 super-scale, which are valid blocks all the same."""
    import gguf
    try:
        return gguf.quants.quantize(w, qtype)
    except NotImplementedError:
        block, size = gguf.GGML_QUANT_SIZES[qtype]
        rng = np.random.default_rng(int(qtype))
        rows = w.shape[0]
        blocks = rng.integers(0, 256, size=(rows, w.shape[1] // block, size), dtype=np.uint8)
        d = np.float16(0.0031).view(np.uint16)
        dmin = np.float16(0.0017).view(np.uint16)
        if qtype == gguf.GGMLQuantizationType.Q4_K:
            blocks[..., 0:2] = np.frombuffer(np.uint16(d).tobytes(), np.uint8)
            blocks[..., 2:4] = np.frombuffer(np.uint16(dmin).tobytes(), np.uint8)
        elif qtype == gguf.GGMLQuantizationType.Q6_K:
            blocks[..., 208:210] = np.frombuffer(np.uint16(d).tobytes(), np.uint8)
        return blocks.reshape(rows, -1)


def make_gguf(w):
    import gguf
    from gguf import GGMLQuantizationType as Q
    path = os.path.join(OUT, "w.gguf")
    wr = gguf.GGUFWriter(path, arch="llama")
    wr.add_name("quant-playground fixture")
    wr.add_uint8("test.u8", 200)
    wr.add_int8("test.i8", -100)
    wr.add_uint16("test.u16", 60000)
    wr.add_int16("test.i16", -30000)
    wr.add_uint32("test.u32", 4000000000)
    wr.add_int32("test.i32", -2000000000)
    wr.add_float32("test.f32", 0.125)
    wr.add_uint64("test.u64", 2**63 + 5)
    wr.add_int64("test.i64", -(2**62))
    wr.add_float64("test.f64", -1.5)
    wr.add_bool("test.bool", True)
    wr.add_array("test.ints", [1, 2, 3])
    wr.add_array("test.tokens", [f"tok{i}" for i in range(100)])
    wr.add_array("test.floats", [float(i) / 4 for i in range(40)])
    wr.add_tensor("w", w)
    wr.add_tensor("w_f16", w.astype(np.float16))
    wr.add_tensor("w_bf16", gguf.quants.quantize(w, Q.BF16), raw_dtype=Q.BF16)
    for name in GGUF_QUANTS:
        qt = Q[name]
        wr.add_tensor(f"w_{name}", quant_blocks(w, qt), raw_dtype=qt)
    # A type the playground lists but does not dequantize.
    wr.add_tensor("w_Q2_K", quant_blocks(w, Q.Q2_K), raw_dtype=Q.Q2_K)
    wr.add_tensor("i32", np.arange(8, dtype=np.int32))
    wr.write_header_to_file()
    wr.write_kv_data_to_file()
    wr.write_tensors_to_file()
    wr.close()
    r = gguf.GGUFReader(path)
    for t in r.tensors:
        if t.tensor_type in (Q.Q2_K, Q.I32):
            continue
        vals = gguf.quants.dequantize(t.data, t.tensor_type)
        shape = [int(x) for x in reversed(t.shape)]
        expect("w.gguf", t.name, np.asarray(vals, np.float32).reshape(shape), t.tensor_type.name, shape)
    # GGUF v2 has the v3 layout (v3 only added big-endian files): the same bytes, version field 2.
    # Alignment 64 through general.alignment.
    data = bytearray(open(path, "rb").read())
    data[4:8] = (2).to_bytes(4, "little")
    open(os.path.join(OUT, "w_v2.gguf"), "wb").write(data)
    for t, v in manifest["w.gguf"].items():
        manifest.setdefault("w_v2.gguf", {})[t] = v
    path64 = os.path.join(OUT, "w_align64.gguf")
    wr = gguf.GGUFWriter(path64, arch="llama")
    wr.add_custom_alignment(64)
    wr.add_tensor("b", w[0, :3].copy())
    wr.add_tensor("w_Q8_0", quant_blocks(w, Q.Q8_0), raw_dtype=Q.Q8_0)
    wr.write_header_to_file()
    wr.write_kv_data_to_file()
    wr.write_tensors_to_file()
    wr.close()
    r = gguf.GGUFReader(path64)
    assert r.alignment == 64
    for t in r.tensors:
        shape = [int(x) for x in reversed(t.shape)]
        expect("w_align64.gguf", t.name, np.asarray(gguf.quants.dequantize(t.data, t.tensor_type), np.float32).reshape(shape), t.tensor_type.name, shape)


def make_onnx(w):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    import onnx.external_data_helper as ext

    def model(inits):
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 256])
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
        node = helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)
        g = helper.make_graph([node], "fixture", [x], [y], initializer=inits)
        return helper.make_model(g, producer_name="quant-playground fixtures")

    b = np.arange(4, dtype=np.float32) / 4
    inits = [
        numpy_helper.from_array(w, "w"),  # raw_data
        helper.make_tensor("b", TensorProto.FLOAT, [4], b.tolist(), raw=False),  # float_data
        helper.make_tensor("w_float_data", TensorProto.FLOAT, list(w.shape), w.flatten().tolist(), raw=False),
        helper.make_tensor("w_f16", TensorProto.FLOAT16, list(w.shape), w.astype(np.float16), raw=False),  # int32_data
        helper.make_tensor("w_bf16", TensorProto.BFLOAT16, list(w.shape), w.flatten().tolist(), raw=False),  # int32_data
        helper.make_tensor("w_f64", TensorProto.DOUBLE, list(w.shape), w.astype(np.float64).flatten().tolist(), raw=False),  # double_data
        numpy_helper.from_array(np.arange(6, dtype=np.int64), "shape_i64"),
    ]
    m = model(inits)
    onnx.save(m, os.path.join(OUT, "w.onnx"))
    back = onnx.load(os.path.join(OUT, "w.onnx"))
    for t in back.graph.initializer:
        a = numpy_helper.to_array(t)
        if a.dtype.kind == "f" or t.data_type == TensorProto.BFLOAT16:
            kind = {1: "F32", 10: "F16", 16: "BF16", 11: "F64"}[t.data_type]
            expect("w.onnx", t.name, np.asarray(a, np.float32), kind, a.shape)
    # External data: the model plus w_ext.onnx.data next to it.
    m2 = model([numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    ext.convert_model_to_external_data(m2, all_tensors_to_one_file=True, location="w_ext.onnx.data", size_threshold=0)
    onnx.save(m2, os.path.join(OUT, "w_ext.onnx"))
    back = onnx.load(os.path.join(OUT, "w_ext.onnx"), load_external_data=True)
    for t in back.graph.initializer:
        a = numpy_helper.to_array(t)
        expect("w_ext.onnx", t.name, a, "F32", a.shape)


def make_torch(w):
    import torch
    t = torch.from_numpy(w.copy())
    sd = {
        "w": t,
        "w_f16": t.to(torch.float16),
        "w_bf16": t.to(torch.bfloat16),
        "w_f64": t.to(torch.float64),
        # A transposed (column-major) view, and a view at an offset into a shared storage.
        "w_t": t.t(),
        "row2": t[2],
        "nested": {"b": torch.arange(4, dtype=torch.float32) / 4},
        "steps": torch.tensor([1, 2, 3], dtype=torch.int64),
    }
    path = os.path.join(OUT, "w.pt")
    torch.save(sd, path)
    back = torch.load(path, weights_only=True)
    flat = {}
    for k, v in back.items():
        if isinstance(v, dict):
            for k2, v2 in v.items():
                flat[f"{k}.{k2}"] = v2
        else:
            flat[k] = v
    names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64"}
    for k, v in flat.items():
        if v.dtype in names:
            expect("w.pt", k, v.float().contiguous().numpy(), names[v.dtype], list(v.shape))
    # Legacy (non-zip) format: must be refused with a message on how to re-save.
    torch.save({"w": t}, os.path.join(OUT, "legacy.pt"), _use_new_zipfile_serialization=False)
    manifest["torch_version"] = torch.__version__


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(EXP)
    w = base_tensor()
    make_npy(w)
    make_npz(w)
    make_safetensors(w)
    make_gguf(w)
    make_onnx(w)
    try:
        import torch  # noqa: F401
    except Exception as e:  # torch is large; the .pt fixtures need it once
        sys.exit(f"torch is needed for the .pt fixtures ({e}); pip install torch")
    make_torch(w)
    # The same float32 tensor in every format: must quantize to the same integers.
    manifest["same_tensor"] = [["w.npy", "w"], ["w_v2.npy", "w_v2"], ["w_v3.npy", "w_v3"], ["stored.npz", "w"], ["deflated.npz", "w"],
                               ["w.safetensors", "w"], ["w.gguf", "w"], ["w_v2.gguf", "w"], ["w.onnx", "w"], ["w.onnx", "w_float_data"],
                               ["w_ext.onnx", "w"], ["w.pt", "w"], ["w_fortran.npy", "w_fortran"]]
    manifest["same_tensor"] = [p for p in manifest["same_tensor"] if p[0] in manifest and p[1] in manifest[p[0]]]
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    total = sum(os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk(OUT) for n in ns)
    print(f"wrote {OUT}: {total} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
