#!/usr/bin/env bash
# The binary screening example of the README: a folder of real 28x28 images where positives
# are rare (Fashion-MNIST bags, 1 in 10, against a mix of the other nine classes), a
# cost-sensitive fine-tune of the pretrained demo CNN with a one-logit head whose decision
# threshold is chosen on validation images for a target sensitivity and written into the
# model, what eval reports of it on test images neither training nor the threshold saw, and
# the same run with plain bce-logits for comparison.
# Run scripts/setup.sh once first. Writes only under $OUT (default ./screening-out).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-screening-out}
mkdir -p "$OUT"
if [ ! -x bin/onnxtune ]; then
	go build -o bin/onnxtune ./cmd/onnxtune
fi

echo "== a screening folder: $OUT/scans/{train,val,test}/{bag,normal}/*.png (1 bag in 10)"
/usr/bin/python3 - "$OUT/scans" <<'PY'
import gzip, os, sys
import numpy as np
from PIL import Image
out = sys.argv[1]
src = "/usr/share/datasets/fashion-mnist"
rng = np.random.default_rng(0)
used = {"train": set(), "t10k": set()}
for split, prefix, bags, others in [("train", "train", 100, 900), ("val", "t10k", 300, 2700), ("test", "t10k", 300, 2700)]:
    x = np.frombuffer(gzip.open(f"{src}/{prefix}-images-idx3-ubyte.gz").read(), np.uint8, offset=16).reshape(-1, 28, 28)
    y = np.frombuffer(gzip.open(f"{src}/{prefix}-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
    free = np.array([i not in used[prefix] for i in range(len(y))])
    for name, idx in [("bag", rng.choice(np.where((y == 8) & free)[0], bags, replace=False)),
                      ("normal", rng.choice(np.where((y != 8) & free)[0], others, replace=False))]:
        used[prefix].update(idx.tolist())
        os.makedirs(f"{out}/{split}/{name}", exist_ok=True)
        for i in idx:
            Image.fromarray(x[i]).save(f"{out}/{split}/{name}/{prefix}_{i:05d}.png")
PY

echo "== fine-tune: one logit, a missed bag costs 5 false alarms; the threshold for sensitivity 0.95 on val goes into the model"
bin/onnxtune train testdata/demo/fmnist_cnn.onnx \
	--data "$OUT/scans/train" --val "$OUT/scans/val" \
	--num-classes 1 --positive-class bag --loss 'medical-bce(fn_cost=5)' \
	--epochs 5 --batch-size 32 --lr 1e-3 --seed 1 \
	--target-sensitivity 0.95 --out "$OUT/bag_screen.onnx"

echo "== evaluate on the test images (the loss, positive class and decision recorded in the model)"
bin/onnxtune eval "$OUT/bag_screen.onnx" --data "$OUT/scans/test" --bootstrap 1000

echo "== the same model at the default threshold 0.5, without the decision it carries"
bin/onnxtune eval "$OUT/bag_screen.onnx" --data "$OUT/scans/test" --threshold 0.5

echo "== for comparison: plain bce-logits, at the default threshold 0.5"
bin/onnxtune train testdata/demo/fmnist_cnn.onnx \
	--data "$OUT/scans/train" --val "$OUT/scans/val" \
	--num-classes 1 --positive-class bag --loss bce-logits \
	--epochs 5 --batch-size 32 --lr 1e-3 --seed 1 --out "$OUT/bag_plain.onnx"
bin/onnxtune eval "$OUT/bag_plain.onnx" --data "$OUT/scans/test"
echo "screening: ok"
