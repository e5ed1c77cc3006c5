#!/usr/bin/env python3
"""Writes tests/fixtures/formats/bnb/*: real bitsandbytes checkpoints, made by the libraries themselves,
and each tensor's values as bitsandbytes dequantizes it, for tests/formats_bnb.rs and
scripts/check_convert.py (CI has no torch: the outputs are committed).

    PYTHONPATH=<bitsandbytes, transformers, accelerate> /work/venv-torch/bin/python scripts/make_bnb_fixtures.py

For each configuration below, a tiny Llama (random weights, seed 19) is saved in float, loaded again by
transformers with that BitsAndBytesConfig on the CPU (bitsandbytes' CPU backend quantizes it:
backends/default/ops.py quantize_4bit, int8_vectorwise_quant) and written by save_pretrained: the real
layout and names (`.absmax`, `.quant_map`, `.nested_absmax`, `.nested_quant_map`,
`.quant_state.bitsandbytes__nf4|fp4`, `.SCB`, `.weight_format`). The checkpoint is then loaded once more
by transformers (QuantState.from_dict over the saved tensors) and every quantized Linear's reference is
bitsandbytes' own dequantization of what was loaded: functional.dequantize_4bit(weight, quant_state)
(the nested absmax through dequantize_blockwise, the 4-bit codes through the CPU kernel
cdequantize_blockwise_cpu_{nf4,fp4}_{fp32,fp16,bf16}) and functional.int8_vectorwise_dequant(CB, SCB);
they must equal the dequantization of the model before saving. Float tensors are their values as
float32. Expected values are raw little-endian float32 (expected/<file>.<tensor>.f32).
"""
import json
import os
import shutil
import tempfile

import numpy as np
import torch

import accelerate
import bitsandbytes as bnb
import bitsandbytes.functional as F
import transformers
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, BitsAndBytesConfig, LlamaConfig, LlamaForCausalLM

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "formats", "bnb"))
EXP = os.path.join(OUT, "expected")

# (file, BitsAndBytesConfig, dtype the model is loaded in (the quant_state's dtype), intermediate size).
# transformers always quantizes in blocks of 64 (Params4bit's default). The NF4 one has Linears of 64 × 320 =
# 320 blocks: two nested blocks of 256, the second short.
CONFIGS = [
    ("nf4_double_fp16.safetensors",
     BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=torch.float16),
     torch.float16, 320),
    ("fp4_bf16.safetensors",
     BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="fp4", bnb_4bit_compute_dtype=torch.bfloat16),
     torch.bfloat16, 64),
    # QLoRA with FSDP keeps the packed codes in a float dtype (bnb_4bit_quant_storage); bitsandbytes
    # views them as uint8 (functional.dequantize_4bit → ops: `A.view(torch.uint8)`).
    ("nf4_double_fp32_storage_bf16.safetensors",
     BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_quant_storage=torch.bfloat16),
     torch.float32, 64),
    ("int8.safetensors", BitsAndBytesConfig(load_in_8bit=True), torch.float16, 64),
]

DTYPES = {torch.uint8: "U8", torch.int8: "I8", torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32"}
manifest = {"files": {}, "parameters": {}, "listed": {}}


def references(model):
    """Every quantized Linear's weight as bitsandbytes dequantizes it, by the module's state-dict name."""
    out = {}
    for name, m in model.named_modules():
        if isinstance(m, bnb.nn.Linear4bit):
            out[f"{name}.weight"] = F.dequantize_4bit(m.weight.data, m.weight.quant_state).float().numpy()
        elif isinstance(m, bnb.nn.Linear8bitLt):
            scb = m.weight.SCB if getattr(m.weight, "SCB", None) is not None else m.state.SCB
            out[f"{name}.weight"] = F.int8_vectorwise_dequant(m.weight.data, scb).float().numpy()
    return out


def expect(fixture, name, values, dtype, shape, quant):
    key = f"{fixture}.{name}.f32"
    np.ascontiguousarray(values, dtype="<f4").tofile(os.path.join(EXP, key))
    entry = {"expected": key, "dtype": dtype, "shape": list(shape)}
    if quant:
        entry["quant"] = quant
    manifest["files"].setdefault(fixture, {})[name] = entry


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(EXP)
    with tempfile.TemporaryDirectory() as tmp:
        for fixture, qconfig, dtype, intermediate in CONFIGS:
            torch.manual_seed(19)
            cfg = LlamaConfig(vocab_size=32, hidden_size=64, intermediate_size=intermediate, num_hidden_layers=1, num_attention_heads=4,
                              num_key_value_heads=2, max_position_embeddings=16, tie_word_embeddings=True)
            float_dir, quant_dir = os.path.join(tmp, fixture + ".float"), os.path.join(tmp, fixture + ".quant")
            LlamaForCausalLM(cfg).save_pretrained(float_dir)
            model = AutoModelForCausalLM.from_pretrained(float_dir, quantization_config=qconfig, dtype=dtype, device_map="cpu")
            before = references(model)
            model.save_pretrained(quant_dir)
            # The file as bitsandbytes reads it back.
            reloaded = AutoModelForCausalLM.from_pretrained(quant_dir, device_map="cpu")
            refs = references(reloaded)
            assert refs.keys() == before.keys() and all(np.array_equal(refs[k].view(np.uint32), before[k].view(np.uint32)) for k in refs), fixture
            shutil.copyfile(os.path.join(quant_dir, "model.safetensors"), os.path.join(OUT, fixture))
            saved = load_file(os.path.join(OUT, fixture))
            for name, t in saved.items():
                if name in refs:
                    state = [v for k, v in saved.items() if k.startswith(name + ".quant_state.")]
                    if state:
                        info = json.loads(bytes(state[0].numpy()).decode())
                        shape, quant = info["shape"], {"scheme": "bnb4", "bits": 4, "granularity": {"axis": 1, "block_size": info["blocksize"], "kind": "blocked"}}
                    else:
                        shape, quant = list(t.shape), {"scheme": "bnb_int8", "bits": 8, "granularity": {"axis": 0, "kind": "per_axis"}}
                    assert list(refs[name].shape) == shape, name
                    # The 4-bit codes whatever dtype holds them, as bitsandbytes views them (uint8).
                    expect(fixture, name, refs[name], "U8" if state else DTYPES[t.dtype], shape, quant)
                    manifest["files"][fixture][name]["stored_as"] = DTYPES[t.dtype]
                elif any(name.startswith(w + ".") or name == w.removesuffix("weight") + "SCB" or name == w + "_format" for w in refs):
                    manifest["parameters"].setdefault(fixture, []).append(name)
                else:
                    expect(fixture, name, t.float().numpy(), DTYPES[t.dtype], t.shape, None)
    manifest["versions"] = {"torch": torch.__version__, "bitsandbytes": bnb.__version__, "transformers": transformers.__version__, "accelerate": accelerate.__version__,
                            "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {sum(len(v) for v in manifest['files'].values())} tensors of {len(manifest['files'])} files to {OUT}")


if __name__ == "__main__":
    main()
