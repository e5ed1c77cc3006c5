"""Accuracy table of the embedded PTQ models as onnxruntime's own quantizer makes them (the reference the
page's and the CLI's table are read against): FP32, quantize_dynamic, quantize_static (QDQ, u8 activations,
s8 weights) for each calibration method, per tensor and per channel. A variant onnxruntime itself fails to
make is listed with its error.

Usage: python3 scripts/ptq_ort_table.py [MODEL_DIR] [--only cls|minilm] > table.json
"""
import contextlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_dynamic, quantize_static)

ROOT = Path(__file__).resolve().parent.parent
METHODS = {
    "minmax": CalibrationMethod.MinMax,
    "percentile": CalibrationMethod.Percentile,
    "entropy": CalibrationMethod.Entropy,
    "distribution": CalibrationMethod.Distribution,
}
MODELS = {
    "cls": ("textline-direction-cls.onnx", "textline-calib.npz", "textline-eval.npz",
            "save_infer_model/scale_0.tmp_1"),
    "minilm": ("paraphrase-minilm-l3.onnx", "sentences-calib.npz", "sentences-eval.npz", "461"),
}


class Rows(CalibrationDataReader):
    """One calibration row at a time, every input of the model from the .npz."""

    def __init__(self, arrays, names):
        self.arrays, self.names, self.row = arrays, names, 0

    def get_next(self):
        count = len(self.arrays[self.names[0]])
        if self.row >= count:
            return None
        self.row += 1
        return {n: self.arrays[n][self.row - 1 : self.row] for n in self.names}


def run(path, feeds, output):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run([output], feeds)[0]


def compare(ref, got, labels):
    ref64, got64 = ref.astype(np.float64), got.astype(np.float64)
    err = ref64 - got64
    row = {
        "sqnr_db": float(10 * np.log10((ref64**2).sum() / max((err**2).sum(), 1e-300))),
        "cosine": float((ref64 * got64).sum() / (np.linalg.norm(ref64) * np.linalg.norm(got64))),
        "max_abs_error": float(np.abs(err).max()),
        "top1_agreement": float((ref.argmax(-1) == got.argmax(-1)).mean()),
    }
    if labels is not None:
        row["accuracy"] = float((got.argmax(-1) == labels).mean())
    return row


def table(model_dir, key):
    model_file, calib_file, eval_file, output = MODELS[key]
    model = model_dir / model_file
    names = [i.name for i in onnx.load(str(model), load_external_data=False).graph.input]
    calib = dict(np.load(model_dir / calib_file))
    evaluation = dict(np.load(model_dir / eval_file))
    labels = evaluation.pop("label", None)
    feeds = {n: evaluation[n] for n in names}
    ref = run(model, feeds, output)
    rows = {"fp32": {**compare(ref, ref, labels), "bytes": model.stat().st_size}}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "q.onnx"
        for per_channel in (False, True):
            grain = "channel" if per_channel else "tensor"
            variants = [(f"dynamic/{grain}", lambda: quantize_dynamic(str(model), str(out), per_channel=per_channel,
                                                                      weight_type=QuantType.QInt8))]
            for name, method in METHODS.items():
                variants.append((f"static/{name}/{grain}", lambda method=method: quantize_static(
                    str(model), str(out), Rows(calib, names), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                    calibrate_method=method, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)))
            for label, make in variants:
                try:
                    # onnxruntime's calibrators print their progress on stdout; the table owns stdout.
                    with contextlib.redirect_stdout(sys.stderr):
                        make()
                    rows[label] = {**compare(ref, run(out, feeds, output), labels), "bytes": out.stat().st_size}
                except Exception as error:  # noqa: BLE001 - onnxruntime's own failure is a result of the table
                    rows[label] = {"error": f"{type(error).__name__}: {error}"}
                print(f"{key} {label} done", file=sys.stderr, flush=True)
    return rows


def main():
    args = sys.argv[1:]
    only = None
    if "--only" in args:
        at = args.index("--only")
        only = args[at + 1]
        del args[at : at + 2]
    model_dir = Path(args[0]) if args else ROOT / "www" / "examples" / "ptq"
    keys = [only] if only else list(MODELS)
    json.dump({k: table(model_dir, k) for k in keys}, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
