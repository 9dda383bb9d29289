#!/usr/bin/env bash
# Runs tools/peers.py in a virtual environment of its own (.venv-peers), which it makes on first
# use with the peers from PyPI: ONNX Runtime, OpenVINO, LiteRT (ai-edge-litert), numpy, pillow.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv-peers"
if ! "$venv/bin/python" -c 'import numpy, PIL, onnxruntime, openvino, ai_edge_litert' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q numpy pillow onnxruntime openvino ai-edge-litert
fi
[[ -x $root/target/release/mobilenet ]] || (cd "$root" && cargo build --release -p mobilenet-cli)
exec "$venv/bin/python" "$root/tools/peers.py" "$@"
