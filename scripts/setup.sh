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
	echo "setup: apt-get install ${missing[*]} (about 260 packages with their dependencies, a few minutes)"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -q
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
fi

if [ ! -d tools/ort/node_modules/onnxruntime-node ]; then
	# --ignore-scripts: the package bundles its CPU library; its install script would try a
	# download. The registry can stall on the large tarball: each try gets five minutes.
	for try in 1 2 3; do
		echo "setup: ONNX Runtime for Node.js into tools/ort (npm, try $try of 3, at most 5 minutes)"
		if (cd tools/ort && timeout 300 npm ci --ignore-scripts --no-audit --no-fund --fetch-timeout=120000); then
			break
		fi
		[ "$try" -lt 3 ] || { echo "setup: npm could not install onnxruntime-node" >&2; exit 1; }
	done
fi

go build -o bin/onnxtune ./cmd/onnxtune
echo "setup: done; the CLI is bin/onnxtune"
