"""Activation engine for `quant-playground ptq`: onnxruntime (python, CPU, graph optimizations off as
ORT's calibrater runs) behind the frame protocol of scripts/ort_runner.mjs (src/graph/engine.rs):
u32 LE header length, JSON header, tensor bytes (LE, C order). Loads the model once, answers run
requests until stdin closes.

Usage: python3 scripts/ptq_engine.py MODEL.onnx
"""
import json
import struct
import sys

import numpy as np
import onnxruntime as ort


def frame(out, header, arrays=()):
    data = json.dumps(header).encode()
    out.write(struct.pack("<I", len(data)) + data)
    for a in arrays:
        out.write(a.tobytes())
    out.flush()


def read_exact(stream, n):
    data = stream.read(n)
    if len(data) != n:
        raise EOFError
    return data


def main():
    out, inp = sys.stdout.buffer, sys.stdin.buffer
    try:
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        sess = ort.InferenceSession(sys.argv[-1], sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - the message goes to the CLI
        frame(out, {"error": f"{sys.argv[-1]}: onnxruntime cannot load this model: {e}"})
        sys.exit(1)
    all_outputs = [o.name for o in sess.get_outputs()]
    frame(out, {"inputs": [i.name for i in sess.get_inputs()], "outputs": all_outputs, "ort": ort.__version__})
    while True:
        head = inp.read(4)
        if len(head) < 4:
            return
        header = json.loads(read_exact(inp, struct.unpack("<I", head)[0]))
        feed = {}
        for t in header["inputs"]:
            dtype = np.dtype(t["dtype"]).newbyteorder("<")
            count = int(np.prod(t["shape"], dtype=np.int64))
            feed[t["name"]] = np.frombuffer(read_exact(inp, count * dtype.itemsize), dtype=dtype).reshape(t["shape"])
        names = header.get("outputs") or all_outputs
        try:
            values = [np.ascontiguousarray(v) for v in sess.run(names, feed)]
        except Exception as e:  # noqa: BLE001
            frame(out, {"error": str(e)})
            continue
        desc = [{"name": n, "dtype": str(v.dtype), "shape": list(v.shape)} for n, v in zip(names, values)]
        frame(out, {"outputs": desc}, [v.astype(v.dtype.newbyteorder("<")) for v in values])


if __name__ == "__main__":
    main()
