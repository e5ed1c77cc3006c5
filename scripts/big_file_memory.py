#!/usr/bin/env python3
"""Shows that quantizing one tensor does not depend on the file's size: writes sparse multi-GB
files (a 6 GiB F32 tensor that is never read, then a 16 MiB one that is), then runs the CLI's
`quantize --tensor small` on each and reports its peak resident memory.

    cargo build --release && python3 scripts/big_file_memory.py [path/to/quant-playground]
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

BIG = 6 << 30  # bytes of the tensor that is never read
SMALL_SHAPE = (1024, 4096)  # 16 MiB of f32


def sparse_safetensors(path, small):
    header = {"big": {"dtype": "F32", "shape": [BIG // 4], "data_offsets": [0, BIG]},
              "small": {"dtype": "F32", "shape": list(SMALL_SHAPE), "data_offsets": [BIG, BIG + small.nbytes]}}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        f.seek(8 + len(text) + BIG)
        f.write(small.tobytes())


def sparse_gguf(path, small):
    import gguf
    w = gguf.GGUFWriter(path, arch="llama")
    # Tensor infos only, then the data written by hand: big stays a hole in the file.
    w.add_tensor_info("big", [BIG // 4], np.dtype(np.float32), BIG)
    w.add_tensor_info("small", list(SMALL_SHAPE), np.dtype(np.float32), small.nbytes)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    f = w.fout[0]
    f.write(b"\0" * (-f.tell() % 32))  # the data section starts at the next multiple of 32
    start = f.tell()
    f.seek(start + BIG)
    f.write(small.tobytes())
    f.close()


def main():
    exe = sys.argv[1] if len(sys.argv) > 1 else "target/release/quant-playground"
    small = np.random.default_rng(1).standard_normal(SMALL_SHAPE).astype(np.float32)
    with tempfile.TemporaryDirectory() as d:
        for name, make in [("big.safetensors", sparse_safetensors), ("big.gguf", sparse_gguf)]:
            path = os.path.join(d, name)
            make(path, small)
            out = subprocess.run(["/usr/bin/time", "-f", "%M", exe, "quantize", path, "--tensor", "small", "--granularity", "channel"],
                                 capture_output=True, text=True)
            assert out.returncode == 0, out.stderr
            peak_kib = int(out.stderr.strip().splitlines()[-1])
            size = os.path.getsize(path)
            print(f"{name}: file {size / 2**30:.2f} GiB, tensor 'small' {small.nbytes / 2**20:.0f} MiB f32, "
                  f"CLI peak RSS {peak_kib / 1024:.1f} MiB ({peak_kib * 1024 / small.nbytes:.2f}× the tensor's f32 size)")
            print(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
