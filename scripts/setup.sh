#!/usr/bin/env bash
# Installs everything onnxtune's tests compare against, then builds the CLI into ./bin.
# Safe to run again: each step is skipped when its result is already there.
#   - PyTorch 1.13, torchvision, onnx and scikit-learn for /usr/bin/python3 (fixture export,
#     reference numbers, metrics)
#   - Chromium, which opens the HTML report headless
#   - the ONNX backend conformance suite, onnx.proto and protoc
#   - Fashion-MNIST (a real data set)
#   - ONNX Runtime for Node.js (the second runtime), into tools/ort/node_modules
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(python3-torch python3-torchvision python3-onnx python3-sklearn chromium libonnx-testdata libonnx-dev protobuf-compiler dataset-fashion-mnist)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -q
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
fi

if [ ! -d tools/ort/node_modules/onnxruntime-node ]; then
	# --ignore-scripts: the package bundles its CPU library; its install script would try a download.
	(cd tools/ort && npm ci --ignore-scripts --no-audit --no-fund)
fi

go build -o bin/onnxtune ./cmd/onnxtune
echo "setup: done; the CLI is bin/onnxtune"
