#!/usr/bin/env bash
# Side-by-side inference benchmark, engine vs ONNX Runtime, on this machine: torchvision models
# at batch 8, 224x224, same file, same input, both with GOMAXPROCS / intra-op threads = nproc.
# Prints the median times and each process's peak resident memory. Needs scripts/setup.sh and
# GNU time (/usr/bin/time, Debian package "time").
set -euo pipefail
cd "$(dirname "$0")/.."
models=${MODELS:-resnet18 mobilenet_v2 squeezenet1_1}
threads=$(nproc)
go build -o bin/onnxtune ./cmd/onnxtune
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 -c "import numpy as np; np.save('$tmp/x8.npy', np.random.default_rng(0).standard_normal((8,3,224,224)).astype(np.float32))"
for m in $models; do
	/usr/bin/python3 testdata/models/gen.py large testdata/models/large --models "$m" >/dev/null
	f=testdata/models/large/$m.onnx
	echo "== $m, batch 8, 224x224, $threads threads"
	go test ./graph -run '^$' -bench "BenchmarkModel/$m/" -benchtime 10x -count 1 | grep -E '^BenchmarkModel' || true
	node tools/ort/run.js "$f" "$tmp" "x=$tmp/x8.npy" --bench 10 --threads "$threads" | sed 's/^/ort: /'
	/usr/bin/time -f "engine peak RSS: %M KiB" bin/onnxtune run "$f" --input "$tmp/x8.npy" --out "$tmp/y.npy"
	/usr/bin/time -f "ort peak RSS: %M KiB" node tools/ort/run.js "$f" "$tmp" "x=$tmp/x8.npy" >/dev/null
done
/usr/bin/time -f "node + onnxruntime-node loaded, no model: %M KiB" node -e "require('./tools/ort/node_modules/onnxruntime-node')"
