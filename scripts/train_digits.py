#!/usr/bin/env python3
"""Trains the playground's embedded example: an MLP 64→256→128→10 with ReLU on scikit-learn's bundled
digits data set (8×8 handwritten digits shipped inside scikit-learn: no download), seeded.

    python3 -m pip install scikit-learn safetensors numpy
    python3 scripts/train_digits.py

Writes, under www/examples/:
- digits-mlp.safetensors: fc1/fc2/fc3 .weight ([out, in], as torch.nn.Linear stores them) and .bias, F32,
  with the training setup in __metadata__;
- digits-test-x.npy (float32 [N, 64], pixels / 16), digits-test-y.npy (uint8 labels): the held-out split;
- digits-calib-x.npy (float32 [256, 64]): a calibration split taken from the training data, for static
  quantization of the activations.
Prints the FP32 test accuracy (numpy float32 forward pass; the issue asks for at least 96%).
"""
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

SEED = 20261127
OUT = Path(__file__).resolve().parent.parent / "www" / "examples"


def forward(params, x):
    h = x
    for i in (1, 2, 3):
        h = h @ params[f"fc{i}.weight"].T + params[f"fc{i}.bias"]
        if i < 3:
            h = np.maximum(h, np.float32(0))
    return h


def flush_subnormals(params):
    """Sets weights below float32's smallest normal (|w| < 1.18e-38) to zero. L2 decay drives the weights of
    dead units there; x86 multiplies subnormals in microcode, which made the FP32 row of the page's table
    ~15x slower than it should be (wasm has no flush-to-zero mode). Their contribution is below 1e-37."""
    tiny = np.finfo(np.float32).tiny
    for v in params.values():
        v[np.abs(v) < tiny] = 0
    return params


def main():
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.uint8)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=SEED, stratify=y)
    rng = np.random.default_rng(SEED)
    calib = x_train[rng.choice(len(x_train), size=256, replace=False)]

    mlp = MLPClassifier(
        hidden_layer_sizes=(256, 128), activation="relu", solver="adam", alpha=1e-4,
        learning_rate_init=1e-3, max_iter=400, random_state=SEED, tol=1e-6, n_iter_no_change=30,
    )
    mlp.fit(x_train, y_train)
    params = {}
    for i, (w, b) in enumerate(zip(mlp.coefs_, mlp.intercepts_), start=1):
        params[f"fc{i}.weight"] = np.ascontiguousarray(w.T.astype(np.float32))
        params[f"fc{i}.bias"] = b.astype(np.float32)
    flush_subnormals(params)
    acc = float(np.mean(forward(params, x_test).argmax(axis=1) == y_test))

    OUT.mkdir(parents=True, exist_ok=True)
    meta = {
        "model": "MLP 64-256-128-10, ReLU",
        "data": "sklearn.datasets.load_digits, pixels / 16, test 30% stratified",
        "seed": str(SEED),
        "trained_with": "sklearn.neural_network.MLPClassifier(adam, alpha=1e-4)",
        "fp32_test_accuracy": f"{acc:.6f}",
    }
    save_file(params, str(OUT / "digits-mlp.safetensors"), metadata=meta)
    np.save(OUT / "digits-test-x.npy", x_test)
    np.save(OUT / "digits-test-y.npy", y_test)
    np.save(OUT / "digits-calib-x.npy", calib)
    print(f"fp32 test accuracy {acc:.4f} on {len(y_test)} digits; wrote {OUT}")


if __name__ == "__main__":
    main()
