#!/usr/bin/env bash
# `npm run bench [-- --json FILE] [--quick] [--only node|chromium]`: builds the two wasm builds the
# benchmark loads (SIMD128, and relaxed-SIMD in its own target dir), then runs bench/run.mjs.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
NEED_BROWSER=1 bash scripts/setup.sh
target="${CARGO_TARGET_DIR:-target}"
cargo build --lib --release --target wasm32-unknown-unknown
wasm-bindgen --target web --no-typescript --out-dir bench/pkg/simd128 "$target/wasm32-unknown-unknown/release/quant_playground.wasm"
# RUSTFLAGS replaces .cargo/config.toml's flags, so simd128 is repeated here.
RUSTFLAGS="-C target-feature=+simd128,+relaxed-simd" CARGO_TARGET_DIR="$target/relaxed" \
  cargo build --lib --release --target wasm32-unknown-unknown
wasm-bindgen --target web --no-typescript --out-dir bench/pkg/relaxed "$target/relaxed/wasm32-unknown-unknown/release/quant_playground.wasm"
# The native peer of the streamed comparison (bench/compare.mjs).
cargo build --release --example compare_bench
# The page itself for the pool bench (bench/pool.mjs): www/pkg and dist/ (same cargo builds as above).
case " $* " in *" --no-pool "*) ;; *) bash scripts/build-wasm.sh && npx vite build --logLevel warn ;; esac
node bench/run.mjs "$@"
# Whole-model inference time of the embedded PTQ models, FP32 vs the CLI's static INT8 (bench/ptq.mjs).
if [ -f www/examples/ptq/textline-direction-cls.onnx ]; then
  cargo build --release --bin quant-playground
  quick=""; for a in "$@"; do [ "$a" = --quick ] && quick=--quick; done
  node bench/ptq.mjs --cli "$target/release/quant-playground" $quick
fi
