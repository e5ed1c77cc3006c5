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

echo "== wasm in headless Chromium: wasm-pack test"
wasm-pack test --headless --chrome -- --test wasm --test wasm_kernels --test wasm_model --test wasm_formats
echo "== the relaxed-SIMD build's kernels in headless Chromium (Node's relaxed dot is unreliable)"
RUSTFLAGS="-C target-feature=+simd128,+relaxed-simd" CARGO_TARGET_DIR=target/relaxed \
  wasm-pack test --headless --chrome -- --test wasm_kernels

echo "== page end to end: build, then Playwright against the built page"
bash scripts/build-wasm.sh
npx vite build --logLevel warn
node --test tests/e2e/
