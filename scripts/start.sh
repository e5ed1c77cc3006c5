#!/usr/bin/env bash
# `npm start`: installs what is missing, builds the wasm, and serves the playground on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
NEED_BROWSER=0 bash scripts/setup.sh
bash scripts/build-wasm.sh
PORT="${PORT:-8080}"
echo "quant-playground: open http://127.0.0.1:$PORT/"
exec npx vite --host 127.0.0.1 --port "$PORT" --strictPort
