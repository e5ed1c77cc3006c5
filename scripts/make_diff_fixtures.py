#!/usr/bin/env python3
"""Writes tests/fixtures/diff/: a quantized copy of the digits MLP made by another tool than ours,
under other names, for tests/diff.rs (`quant-playground diff` must pair it by fingerprint).

    pip install numpy safetensors gguf scipy
    python3 scripts/make_diff_fixtures.py

digits_ggufpy.gguf is written by gguf-py's GGUFWriter with llama.cpp-style names, its weights
quantized by gguf-py's own quantizer (gguf.quants.quantize: Q8_0, Q4_0), one weight stored
transposed as F16 (as converters store [in, out] matrices), the biases as F32 / F16:

    fc1.weight [256, 64]  -> blk.0.ffn_up.weight   Q8_0
    fc1.bias   [256]      -> blk.0.ffn_up.bias     F32
    fc2.weight [128, 256] -> blk.1.ffn_up.weight   Q4_0
    fc2.bias   [128]      -> blk.1.ffn_up.bias     F16
    fc3.weight [10, 128]  -> output.weight         F16, transposed to [128, 10]
    fc3.bias   [10]       -> output.bias           F32

llama_hf.safetensors is a one-block llama (hidden 32, 4 heads, 2 KV heads, q/k biases as Qwen-style
checkpoints have them) in Hugging Face names; llama_ggufpy.gguf is what llama.cpp's convert_hf_to_gguf.py
writes of it: gguf-py's GGUFWriter, architecture llama with its head counts, llama.cpp names, attn_q /
attn_k rows (weights and biases) through LlamaModel.permute(w, n_head, n_head) / (w, n_head, n_head_kv)
(copied below from convert_hf_to_gguf.py), weights Q8_0 by gguf-py's quantizer, norms F32. Its
expected figures are numpy's of gguf-py's dequantized values un-permuted back against the HF rows;
`naive_sqnr_db` is what comparing row for row without the un-permutation gives.

expected.json holds, per float tensor, numpy's figures of the copy as gguf-py reads it back
(GGUFReader + gguf.quants.dequantize) against the float values in the copy's layout: SQNR,
cosine, max |err|, mse, stored bytes, and scipy's Spearman correlation of the 256 fingerprint
samples (C-order positions floor(frac(i·0.618…)·n), app/theirs.rs sample_positions).
"""
import json
import os

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader, GGUFWriter
from gguf.quants import dequantize, quantize
from safetensors.numpy import load_file
from scipy.stats import spearmanr

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "diff")
FLOAT = os.path.join(ROOT, "www", "examples", "digits-mlp.safetensors")

# float name -> (their name, their type, stored transposed)
PLAN = {
    "fc1.weight": ("blk.0.ffn_up.weight", T.Q8_0, False),
    "fc1.bias": ("blk.0.ffn_up.bias", T.F32, False),
    "fc2.weight": ("blk.1.ffn_up.weight", T.Q4_0, False),
    "fc2.bias": ("blk.1.ffn_up.bias", T.F16, False),
    "fc3.weight": ("output.weight", T.F16, True),
    "fc3.bias": ("output.bias", T.F32, False),
}


def figures(x, y):
    x64, y64 = x.astype(np.float64).ravel(), y.astype(np.float64).ravel()
    e = x64 - y64
    return {
        "sqnr_db": float(10 * np.log10(np.sum(x64 * x64) / np.sum(e * e))) if np.any(e) else "inf",
        "cosine": float(np.dot(x64, y64) / (np.sqrt(np.dot(x64, x64)) * np.sqrt(np.dot(y64, y64)))),
        "max_abs_err": float(np.max(np.abs(x.ravel() - y.ravel()))),
        "mse": float(np.mean(e * e)),
    }


def sample(v):
    # app/theirs.rs sample_positions: every element up to 256, else a Weyl sequence in f64.
    n = v.size
    if n <= 256:
        return v.ravel()
    return v.ravel()[[min(int(np.floor((i * 0.6180339887498949) % 1.0 * n)), n - 1) for i in range(256)]]


def llama_permute(weights, n_head, n_head_kv):
    # llama.cpp convert_hf_to_gguf.py LlamaModel.permute, on numpy arrays.
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2)
            .reshape(weights.shape))


def llama_unpermute(weights, n_head):
    return (weights.reshape(n_head, weights.shape[0] // n_head // 2, 2, *weights.shape[1:])
            .swapaxes(1, 2)
            .reshape(weights.shape))


def make_llama(expected):
    from safetensors.numpy import save_file
    rng = np.random.default_rng(20261204)
    hidden, n_head, n_kv, inter, vocab = 32, 4, 2, 64, 48
    head_dim = hidden // n_head
    hf = {
        "model.embed_tokens.weight": rng.standard_normal((vocab, hidden)),
        "model.layers.0.input_layernorm.weight": 1 + 0.1 * rng.standard_normal(hidden),
        "model.layers.0.self_attn.q_proj.weight": rng.standard_normal((n_head * head_dim, hidden)) * 0.2,
        "model.layers.0.self_attn.q_proj.bias": rng.standard_normal(n_head * head_dim) * 0.1,
        "model.layers.0.self_attn.k_proj.weight": rng.standard_normal((n_kv * head_dim, hidden)) * 0.2,
        "model.layers.0.self_attn.k_proj.bias": rng.standard_normal(n_kv * head_dim) * 0.1,
        "model.layers.0.self_attn.v_proj.weight": rng.standard_normal((n_kv * head_dim, hidden)) * 0.2,
        "model.layers.0.self_attn.o_proj.weight": rng.standard_normal((hidden, hidden)) * 0.2,
        "model.layers.0.post_attention_layernorm.weight": 1 + 0.1 * rng.standard_normal(hidden),
        "model.layers.0.mlp.gate_proj.weight": rng.standard_normal((inter, hidden)) * 0.2,
        "model.layers.0.mlp.up_proj.weight": rng.standard_normal((inter, hidden)) * 0.2,
        "model.layers.0.mlp.down_proj.weight": rng.standard_normal((hidden, inter)) * 0.2,
        "model.norm.weight": 1 + 0.1 * rng.standard_normal(hidden),
        "lm_head.weight": rng.standard_normal((vocab, hidden)) * 0.2,
    }
    hf = {k: v.astype(np.float32) for k, v in hf.items()}
    save_file(hf, os.path.join(OUT, "llama_hf.safetensors"))
    names = {"model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output",
             "input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
             "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}

    def gguf_name(name):
        stem, kind = name.rsplit(".", 1)
        if stem in names:
            return f"{names[stem]}.{kind}"
        part = stem.split(".", 3)[3]
        return f"blk.0.{names[part]}.{kind}"

    path = os.path.join(OUT, "llama_ggufpy.gguf")
    w = GGUFWriter(path, "llama")
    w.add_name("one-block llama as convert_hf_to_gguf.py writes it")
    w.add_block_count(1)
    w.add_embedding_length(hidden)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    plan = {}
    for name, x in hf.items():
        heads = None
        if name.endswith(("q_proj.weight", "q_proj.bias")):
            x, heads = llama_permute(x, n_head, n_head), n_head
        if name.endswith(("k_proj.weight", "k_proj.bias")):
            x, heads = llama_permute(x, n_head, n_kv), n_kv
        qtype = T.Q8_0 if x.ndim == 2 else T.F32
        if qtype == T.F32:
            w.add_tensor(gguf_name(name), quantize(x, qtype))
        else:
            w.add_tensor(gguf_name(name), quantize(x, qtype), raw_dtype=qtype)
        plan[name] = (gguf_name(name), qtype, heads)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    read = {t.name: t for t in GGUFReader(path).tensors}
    out = {}
    for name, (theirs, qtype, heads) in plan.items():
        t = read[theirs]
        x = hf[name]
        y = dequantize(np.asarray(t.data), t.tensor_type).reshape(x.shape).astype(np.float32)
        naive = figures(x, y)["sqnr_db"]
        if heads is not None:
            y = llama_unpermute(y, heads)
        out[name] = {"quantized_name": theirs, "dtype": qtype.name, "heads": heads, "bytes": int(t.n_bytes),
                     "naive_sqnr_db": naive, **figures(x, y)}
    expected["llama_ggufpy.gguf"] = out


def main():
    os.makedirs(OUT, exist_ok=True)
    weights = load_file(FLOAT)
    path = os.path.join(OUT, "digits_ggufpy.gguf")
    w = GGUFWriter(path, "digits-mlp")
    w.add_name("digits MLP, quantized by gguf-py")
    for name, (theirs, qtype, transposed) in PLAN.items():
        x = weights[name].astype(np.float32)
        if transposed:
            x = np.ascontiguousarray(x.T)
        if qtype in (T.F32, T.F16):
            w.add_tensor(theirs, quantize(x, qtype))
        else:
            w.add_tensor(theirs, quantize(x, qtype), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    read = {t.name: t for t in GGUFReader(path).tensors}
    expected = {}
    for name, (theirs, qtype, transposed) in PLAN.items():
        t = read[theirs]
        x = weights[name].astype(np.float32)
        if transposed:
            x = np.ascontiguousarray(x.T)
        y = dequantize(np.asarray(t.data), t.tensor_type).reshape(x.shape).astype(np.float32)
        rho = spearmanr(sample(x), sample(y)).statistic
        expected[name] = {
            "quantized_name": theirs,
            "dtype": qtype.name,
            "transposed": transposed,
            "bytes": int(t.n_bytes),
            "spearman": float(rho),
            **figures(x, y),
        }
    everything = {"digits_ggufpy.gguf": expected}
    make_llama(everything)
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(everything, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {path} and expected.json ({len(expected)} tensors)")


if __name__ == "__main__":
    main()
