#!/usr/bin/env python3
"""Writes tests/fixtures/formats/tfjs/: TF.js models made by the TF.js converter's own code, and the
values tfjs-core's io.decodeWeights reads from them (the reference tests and check_convert.py use).

    pip install --no-deps tensorflowjs==4.22.0      # the converter's Python package, without TensorFlow
    python3 scripts/make_tfjs_fixtures.py            # needs node and npm's @tensorflow/tfjs-core

The weights and shards are written by tensorflowjs.write_weights.write_weights (the converter's
writer: groups, shards cut at shard_size_bytes, quantization by tensorflowjs.quantization's
quantize_weights — uint8/uint16 affine with the nudged min, float16). Only the tensorflow import it
makes for tf.io.gfile.GFile is replaced by Python's open: nothing else of TensorFlow is used, so the
package is imported without its TensorFlow dependency (and without its __init__, which imports the
converters). Small shard sizes make weights cross shard boundaries.

- layers/model.json: a layers model.json (format, generatedBy, convertedBy, modelTopology,
  weightsManifest) around one group of float32 (plain, uint8, uint16, float16), int32 and bool
  weights, shards of 900 bytes (dense/kernel crosses one).
- graph/weights_manifest.json: write_weights's own bare manifest, two groups (shards of 200 and
  512 bytes), a quantized int32 weight and a constant weight (scale 1, all codes 0).

Then scripts/tfjs_decode_reference.mjs reads each model as tfjs's loader does (every group's shards
concatenated, io.decodeWeights) and writes expected/<model>.<weight>.f32 plus manifest.json.
"""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import types

import numpy as np

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "formats", "tfjs")


def load_converter():
    """tensorflowjs.write_weights with tf.io.gfile.GFile as open (the one TensorFlow call it makes)."""
    spec = importlib.util.find_spec("tensorflowjs")
    if spec is None:
        sys.exit("pip install --no-deps tensorflowjs==4.22.0")
    package = types.ModuleType("tensorflowjs")
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules["tensorflowjs"] = package
    tf = types.ModuleType("tensorflow")
    tf.io = types.SimpleNamespace(gfile=types.SimpleNamespace(GFile=open))
    sys.modules["tensorflow"] = tf
    from tensorflowjs import write_weights  # noqa: E402  (after the stubs)
    return write_weights


def fresh(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)


def main():
    write_weights = load_converter()
    rng = np.random.RandomState(19)
    fresh(OUT)

    # A layers model: conv + dense weights, quantized per pattern as `tensorflowjs_converter
    # --quantize_uint8 'conv*/kernel' --quantize_uint16 ... --quantize_float16 ...` maps them.
    special = np.array([0.0, -0.0, 1.0, -2.5, 65504.0, 65520.0, 1e-7, -6e-8, 3e-5, np.inf, -np.inf, np.nan], np.float32)
    # Signalling NaNs: numpy's float16 cast keeps their payload (0x7c01, 0x7d00, 0xfc09), and tfjs's
    # float16 tables widen them without setting the quiet bit.
    special = np.concatenate([special, np.array([0x7F800001, 0x7FA00000, 0xFF812345], np.uint32).view(np.float32)])
    layers = [[
        {"name": "conv1/kernel", "data": rng.normal(0, 0.2, (3, 3, 3, 8)).astype(np.float32)},
        {"name": "conv1/bias", "data": rng.normal(0, 0.05, (8,)).astype(np.float32)},
        {"name": "dense/kernel", "data": rng.normal(0, 0.1, (24, 16)).astype(np.float32)},
        {"name": "dense/bias", "data": np.concatenate([rng.normal(0, 1, 20).astype(np.float32), special])},
        {"name": "positive/scale", "data": rng.uniform(0.5, 2.0, (5, 7)).astype(np.float32)},
        {"name": "plain/kernel", "data": rng.normal(0, 1, (6, 10)).astype(np.float32)},
        {"name": "step", "data": np.array(7, np.int32)},
        {"name": "mask", "data": np.array([True, False, True])},
    ]]
    quant = {"uint8": ["conv1/kernel", "positive/*"], "uint16": ["conv1/bias"], "float16": ["dense/*"]}
    os.makedirs(os.path.join(OUT, "layers"))
    manifest = write_weights.write_weights(layers, os.path.join(OUT, "layers"), shard_size_bytes=900, write_manifest=False, quantization_dtype_map=quant)
    model = {
        "format": "layers-model",
        "generatedBy": "keras v2.15.0",
        "convertedBy": "TensorFlow.js Converter v4.22.0",
        "modelTopology": {"class_name": "Sequential", "config": {"name": "fixture", "layers": []}, "keras_version": "2.15.0", "backend": "tensorflow"},
        "weightsManifest": manifest,
    }
    with open(os.path.join(OUT, "layers", "model.json"), "w") as f:
        json.dump(model, f)

    # A bare manifest (write_weights writes weights_manifest.json itself) with two groups.
    graph = [
        [
            {"name": "embedding", "data": rng.normal(0, 0.5, (40, 12)).astype(np.float32)},
            {"name": "ids", "data": rng.randint(-3, 200, (30,)).astype(np.int32)},
            {"name": "const", "data": np.full((9,), 0.25, np.float32)},
        ],
        [
            {"name": "head/w", "data": rng.normal(0, 0.3, (16, 20)).astype(np.float32)},
            {"name": "head/b", "data": rng.normal(0, 0.1, (20,)).astype(np.float32)},
        ],
    ]
    os.makedirs(os.path.join(OUT, "graph"))
    shards = [200, 512]
    # write_weights takes one shard size; write each group with its own (the groups are independent).
    full = []
    for i, (group, size) in enumerate(zip(graph, shards)):
        groups = [[] for _ in range(i)] + [group]
        m = write_weights.write_weights(groups, os.path.join(OUT, "graph"), shard_size_bytes=size, write_manifest=False, quantization_dtype_map={"uint8": ["embedding", "const"], "uint16": ["head/w"]})
        full.append(m[i])
    with open(os.path.join(OUT, "graph", "weights_manifest.json"), "w") as f:
        json.dump(full, f)
    # The converter quantizes float32 weights only; TF.js also reads an int32 weight stored as uint8
    # (io_utils.ts decodeWeight, Math.round(q·scale + min)), as real models ship (face-api's
    # ssd_mobilenetv1). Quantize `ids` with the converter's quantize_weights and rewrite its bytes.
    from tensorflowjs import quantization
    ids = graph[0][1]["data"]
    codes, meta = quantization.quantize_weights(ids.astype(np.float32), np.uint8)
    rewrite_weight(os.path.join(OUT, "graph"), full, 0, "ids", codes.tobytes(), {"dtype": "uint8", "original_dtype": "int32", **meta})
    with open(os.path.join(OUT, "graph", "weights_manifest.json"), "w") as f:
        json.dump(full, f)

    subprocess.run(["node", os.path.join(ROOT, "scripts", "tfjs_decode_reference.mjs"), OUT, "layers/model.json", "graph/weights_manifest.json"], check=True)


def rewrite_weight(folder, manifest, g, name, data, quantization):
    """Replaces one weight's bytes in group g's shards (re-cut at the same shard size) and its entry."""
    group = manifest[g]
    blob = b"".join(open(os.path.join(folder, p), "rb").read() for p in group["paths"])
    size = os.path.getsize(os.path.join(folder, group["paths"][0]))
    sizes = {"float32": 4, "int32": 4, "bool": 1, "uint8": 1, "uint16": 2, "float16": 2}
    at = 0
    for w in group["weights"]:
        n = int(np.prod(w["shape"], dtype=np.int64))
        length = n * sizes[w.get("quantization", {}).get("dtype", w["dtype"])]
        if w["name"] == name:
            blob = blob[:at] + data + blob[at + length:]
            w["quantization"] = quantization
            break
        at += length
    for p in group["paths"]:
        os.remove(os.path.join(folder, p))
    count = -(-len(blob) // size)
    group["paths"] = [f"group{g + 1}-shard{i + 1}of{count}.bin" for i in range(count)]
    for i, p in enumerate(group["paths"]):
        with open(os.path.join(folder, p), "wb") as f:
            f.write(blob[i * size:(i + 1) * size])


if __name__ == "__main__":
    main()
