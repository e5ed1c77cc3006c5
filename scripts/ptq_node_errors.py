"""Each activation's SQNR, float model vs QDQ model, by onnxruntime's own debugging tool
(onnxruntime/quantization/qdq_loss_debug.py: modify_model_output_intermediate_tensors,
collect_activations with graph optimizations off, create_activation_matching,
compute_activation_error's `xmodel_err` = 20·log10(‖float‖ / ‖float − post-QDQ‖) over all samples).
The reference for the page's "own output SQNR" column (www/worker/ptq-evaluate.js nodeOutputErrors,
src/graph/node_errors.rs): tests/e2e/ptq.test.mjs compares the two.

Usage: python3 scripts/ptq_node_errors.py FLOAT.onnx QDQ.onnx EVAL.npz [--json OUT.json]
EVAL.npz: one array per model input, first axis = samples, each fed as a batch of one (the CLI's
--calib-data convention; an array 'label' is ignored). Prints {float tensor name: xmodel_err dB}.
"""
import argparse
import json
import logging
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader
from onnxruntime.quantization.qdq_loss_debug import (
    collect_activations,
    compute_activation_error,
    create_activation_matching,
    modify_model_output_intermediate_tensors,
)


class Samples(CalibrationDataReader):
    def __init__(self, arrays, names):
        n = len(arrays[names[0]])
        self.batches = iter([{k: arrays[k][i : i + 1] for k in names} for i in range(n)])

    def get_next(self):
        return next(self.batches, None)


def main():
    logging.disable(logging.INFO)
    ap = argparse.ArgumentParser()
    ap.add_argument("float_model")
    ap.add_argument("qdq_model")
    ap.add_argument("eval_npz")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    arrays = dict(np.load(args.eval_npz))
    model = onnx.load(args.float_model, load_external_data=False)
    initializers = {i.name for i in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in initializers]
    tmp = Path(tempfile.mkdtemp(prefix="ptq-node-errors-"))
    acts = {}
    for tag, path in (("float", args.float_model), ("qdq", args.qdq_model)):
        augmented = tmp / f"{tag}.onnx"
        modify_model_output_intermediate_tensors(path, str(augmented))
        acts[tag] = collect_activations(str(augmented), Samples(arrays, names))
    matched = create_activation_matching(acts["qdq"], acts["float"])
    # A QDQ pair whose tensor the float model lacks has no "float" entry (compute_activation_error would raise).
    matched = {k: v for k, v in matched.items() if "float" in v}
    errors = compute_activation_error(matched)
    out = {name: e["xmodel_err"] for name, e in sorted(errors.items()) if "xmodel_err" in e and math.isfinite(e["xmodel_err"])}
    text = json.dumps(out, indent=1)
    if args.json:
        Path(args.json).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
