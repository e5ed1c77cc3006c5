#!/usr/bin/env bash
# `npm test`: installs what is missing, then runs every test: native (cargo test), wasm in headless
# Chromium (wasm-pack test), and the page end to end (Playwright driving /usr/bin/chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

bash scripts/setup.sh

echo "== native: cargo test"
cargo test --all-targets

echo "== export round trips with the real libraries"
cargo build --bin quant-playground
python3 scripts/check_export.py --bin target/debug/quant-playground
# GGUF: every type from safetensors and GGUF sources, read back by the gguf package (its own
# quantizers must give the same bytes for F16/Q8_0/Q4_0/Q4_1/Q5_0).
gguf_out="$(mktemp -d)"
for src in tests/fixtures/formats/w.safetensors tests/fixtures/small.safetensors www/examples/digits-mlp.safetensors \
           tests/fixtures/formats/w.gguf tests/fixtures/formats/w_align64.gguf; do
  pairs=()
  for t in F16 Q8_0 Q4_0 Q4_1 Q4_K Q6_K Q2_K Q3_K Q5_K IQ4_NL; do
    out="$gguf_out/$(basename "$src").$t.gguf"
    target/debug/quant-playground export "$src" --to "gguf:$t" -o "$out" >/dev/null
    pairs+=("$t" "$out")
  done
  python3 scripts/check_export_gguf.py "$src" "${pairs[@]}"
done
rm -rf "$gguf_out"
# convert: every tensor of every fixture, F32 bit-equal to the library that wrote or reads it.
python3 scripts/check_convert.py --bin target/debug/quant-playground
# diff: theirs and ours per tensor, and the summary, equal numpy's on convert's F32 arrays (~3 s).
python3 scripts/check_diff.py --bin target/debug/quant-playground

echo "== calibration against the real onnxruntime and modelopt (scripts/calib_differential.py)"
cargo build --example calib_differential
modelopt_dir="${TMPDIR:-/tmp}/qp-modelopt"
modelopt_wheel="$modelopt_dir/nvidia_modelopt-0.47.0-py3-none-any.whl"
# The wheel is only read (its calib/histogram.py), never installed: it needs torch.
[ -f "$modelopt_wheel" ] || python3 -m pip download -q --no-deps nvidia-modelopt==0.47.0 -d "$modelopt_dir"
python3 scripts/calib_differential.py --example target/debug/examples/calib_differential --modelopt-wheel "$modelopt_wheel"

echo "== whole-model PTQ against onnxruntime's quantize_static and MatMulNBitsQuantizer"
# Every method, per tensor / per channel, u8 / s8 on the small CNN and the text-direction MobileNetV3;
# minmax and INT4 on MiniLM (69 MB: each configuration takes ORT and us about half a minute).
python3 scripts/check_ptq.py --bin target/debug/quant-playground --light minilm-l3

echo "== wasm in headless Chromium: wasm-pack test"
# The runner waits WASM_BINDGEN_TEST_TIMEOUT seconds (default 20) for a whole test binary; the streamed
# tests of tests/wasm.rs take longer than that together in a debug build.
export WASM_BINDGEN_TEST_TIMEOUT=600
wasm-pack test --headless --chrome -- --test wasm --test wasm_kernels --test wasm_model --test wasm_formats --test wasm_graph
echo "== the relaxed-SIMD build's kernels in headless Chromium (Node's relaxed dot is unreliable)"
RUSTFLAGS="-C target-feature=+simd128,+relaxed-simd" CARGO_TARGET_DIR=target/relaxed \
  wasm-pack test --headless --chrome -- --test wasm_kernels

echo "== page end to end: build, then Playwright against the built page"
bash scripts/build-wasm.sh
npx vite build --logLevel warn
node --test tests/e2e/
