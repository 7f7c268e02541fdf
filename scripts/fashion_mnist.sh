#!/usr/bin/env bash
# Fashion-MNIST from scratch (issue 6, real data): the small CNN of scripts/fashion_mnist.py,
# exported untrained, trained by onnxtune (adam lr 1e-3, batch 64, shuffled, N epochs) and
# evaluated on the 10k test images; then the same model and settings in PyTorch 1.13
# (2 threads). Prints a summary line for each. Usage: scripts/fashion_mnist.sh [EPOCHS] (default 3).
# Needs Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-3}
D=/usr/share/datasets/fashion-mnist
go build -o bin/onnxtune ./cmd/onnxtune
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 scripts/fashion_mnist.py export "$tmp/fm.onnx"
t0=$(date +%s.%N)
bin/onnxtune train "$tmp/fm.onnx" --data "$D/train" --loss cross-entropy --optimizer adam \
  --lr 1e-3 --batch-size 64 --epochs "$N" --seed 1 --out "$tmp/fm_tuned.onnx" --log "$tmp/log.jsonl"
t1=$(date +%s.%N)
bin/onnxtune eval "$tmp/fm_tuned.onnx" --data "$D/test" --json > "$tmp/eval.json"
/usr/bin/python3 - "$tmp/eval.json" "$tmp/log.jsonl" "$t0" "$t1" "$N" <<'PY'
import json, sys
ev = json.load(open(sys.argv[1]))
acc = ev.get("accuracy")
recs = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
secs = [r.get("seconds") for r in recs]
wall = float(sys.argv[4]) - float(sys.argv[3]); n = int(sys.argv[5])
train = sum(s for s in secs if s is not None) if all(s is not None for s in secs) else wall
print(f"onnxtune: test accuracy {acc * 100:.2f}% after {n} epochs, {train / 60:.2f} min training "
      f"({train / 60 / n:.2f} min/epoch; {wall / 60:.2f} min for the whole train command)")
PY
/usr/bin/python3 scripts/fashion_mnist.py train "$N"
