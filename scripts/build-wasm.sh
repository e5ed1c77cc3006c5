#!/usr/bin/env bash
# Builds the wasm module for the page: cargo (release, wasm32, +simd128 from .cargo/config.toml), then
# wasm-bindgen --target web into www/pkg; then the same with relaxed SIMD into www/pkg-relaxed (its own
# target dir, so the two builds never invalidate each other). The worker loads the relaxed build where
# the browser validates it (wasm-feature-detect) and the SIMD128 one elsewhere. `--dev` builds the debug
# profile (faster to compile).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
profile=release
[ "${1:-}" = "--dev" ] && profile=dev
dir=$([ "$profile" = dev ] && echo debug || echo release)
cargo build --lib --target wasm32-unknown-unknown --profile "$profile"
# The reset-state export lets the worker free a trapped instance (a panic) and start clean.
wasm-bindgen --target web --no-typescript --experimental-reset-state-function --out-dir www/pkg "target/wasm32-unknown-unknown/$dir/quant_playground.wasm"
echo "[build-wasm] www/pkg/quant_playground_bg.wasm ($(stat -c %s www/pkg/quant_playground_bg.wasm) bytes, $profile)"
RUSTFLAGS="-C target-feature=+simd128,+relaxed-simd" CARGO_TARGET_DIR=target/relaxed \
  cargo build --lib --target wasm32-unknown-unknown --profile "$profile"
wasm-bindgen --target web --no-typescript --experimental-reset-state-function --out-dir www/pkg-relaxed "target/relaxed/wasm32-unknown-unknown/$dir/quant_playground.wasm"
echo "[build-wasm] www/pkg-relaxed/quant_playground_bg.wasm ($(stat -c %s www/pkg-relaxed/quant_playground_bg.wasm) bytes, $profile, relaxed-simd)"
