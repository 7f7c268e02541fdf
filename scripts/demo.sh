#!/usr/bin/env bash
# The demo: fine-tune a small CNN that onnxtune pretrained on part of Fashion-MNIST
# (testdata/demo/fmnist_cnn.onnx) to a new 3-way task (bags / footwear / tops) from a folder of
# real images, with a fresh classifier head; evaluate it on held-out images; then check the
# exported ONNX file in ONNX Runtime against onnxtune's own output.
# Run scripts/setup.sh once first. Writes only under $OUT (default ./demo-out).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-demo-out}
mkdir -p "$OUT"
if [ ! -x bin/onnxtune ]; then
	go build -o bin/onnxtune ./cmd/onnxtune
fi

echo "== the pretrained model"
bin/onnxtune inspect testdata/demo/fmnist_cnn.onnx

echo "== fine-tune to 3 classes with a new head"
# 1-channel image folders get no mean/std by default: pixels in [0,1], as the IDX data it was
# pretrained on.
bin/onnxtune train testdata/demo/fmnist_cnn.onnx \
	--data testdata/demo/images --val testdata/demo/images_val \
	--num-classes 3 --epochs 8 --patience 2 --batch-size 16 --lr 1e-3 --seed 1 \
	--out "$OUT/fmnist_3way.onnx"

echo "== evaluate on the held-out images"
bin/onnxtune eval "$OUT/fmnist_3way.onnx" --data testdata/demo/images_val

echo "== check the export in ONNX Runtime"
/usr/bin/python3 - "$OUT/val4.npy" <<'PY'
import sys, glob, numpy as np
from PIL import Image
files = [sorted(glob.glob(f"testdata/demo/images_val/{c}/*.png"))[0] for c in ("bags", "footwear", "tops")]
files.append(sorted(glob.glob("testdata/demo/images_val/tops/*.png"))[-1])
x = np.stack([np.asarray(Image.open(f).convert("L"), np.float32)[None] / 255 for f in files])
np.save(sys.argv[1], x)
PY
bin/onnxtune run "$OUT/fmnist_3way.onnx" --input "$OUT/val4.npy" --out "$OUT/logits_onnxtune.npy"
mkdir -p "$OUT/ort"
node tools/ort/run.js "$OUT/fmnist_3way.onnx" "$OUT/ort" "$OUT/val4.npy"
/usr/bin/python3 - "$OUT/logits_onnxtune.npy" "$OUT/ort/logits.npy" <<'PY'
import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
err = float(np.max(np.abs(a - b) / np.maximum(1, np.abs(b))))
print(f"onnxtune vs ONNX Runtime: logits {a.shape}, max relative difference {err:.2e}")
print("predicted classes (bags, footwear, tops, tops):", [("bags", "footwear", "tops")[i] for i in a.argmax(1)])
if not err <= 1e-4:
	sys.exit("demo: onnxtune and ONNX Runtime disagree")
PY
echo "demo: ok"
