#!/usr/bin/env bash
# The embedding example of the README: the demo CNN fine-tuned as an embedding model with
# batch-hard triplet loss on 5,000 Fashion-MNIST training images (a folder), then searched on
# 2,000 test images, each against the other 1,999 (leave-one-out), before and after; and the
# tuned model's metrics recomputed independently, with scikit-learn's NearestNeighbors on ONNX
# Runtime's embeddings of the exported file.
# Run scripts/setup.sh once first. Writes only under $OUT (default ./embedding-out).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-embedding-out}
mkdir -p "$OUT"
go build -o bin/onnxtune ./cmd/onnxtune

echo "== image folders: $OUT/fmnist/train (the first 5,000 training images), $OUT/fmnist/test (the first 2,000 test images)"
/usr/bin/python3 - "$OUT/fmnist" <<'PY'
import gzip, os, sys
import numpy as np
from PIL import Image
out = sys.argv[1]
src = "/usr/share/datasets/fashion-mnist"
names = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"]
for split, prefix, n in [("train", "train", 5000), ("test", "t10k", 2000)]:
    x = np.frombuffer(gzip.open(f"{src}/{prefix}-images-idx3-ubyte.gz").read(), np.uint8, offset=16).reshape(-1, 28, 28)
    y = np.frombuffer(gzip.open(f"{src}/{prefix}-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
    for i in range(n):
        d = f"{out}/{split}/{names[y[i]]}"
        os.makedirs(d, exist_ok=True)
        Image.fromarray(x[i]).save(f"{d}/{prefix}_{i:05d}.png")
PY

tune() { # tune NAME EMBEDDING: batch-hard triplets, 2 examples of each of the 10 classes a batch
	bin/onnxtune train testdata/demo/fmnist_cnn.onnx --data "$OUT/fmnist/train" \
		--embedding "$2" --normalize --loss 'triplet(margin=0.2,mining=batch-hard)' \
		--sampler m-per-class --m-per-class 2 --batch-size 20 --lr 1e-4 --epochs 10 --seed 1 \
		--out "$OUT/$1.onnx"
}

for at in logits auto; do
	echo "== before fine-tuning: the pretrained CNN's value '$at', normalised (auto: the classifier's input)"
	bin/onnxtune eval testdata/demo/fmnist_cnn.onnx --data "$OUT/fmnist/test" --retrieval --embedding "$at" --normalize
	echo "== fine-tune '$at' as an embedding, then search the test images with the exported model"
	tune "embed_$at" "$at"
	bin/onnxtune eval "$OUT/embed_$at.onnx" --data "$OUT/fmnist/test" --retrieval
done

echo "== eval's metrics against scikit-learn's on ONNX Runtime's embeddings of $OUT/embed_logits.onnx"
/usr/bin/python3 - "$OUT/fmnist/test" "$OUT" <<'PY'
import os, sys
import numpy as np
from PIL import Image
folder, out = sys.argv[1], sys.argv[2]
xs, ys = [], []
for label, name in enumerate(sorted(os.listdir(folder))):
    for f in sorted(os.listdir(f"{folder}/{name}")):
        xs.append(np.asarray(Image.open(f"{folder}/{name}/{f}"), np.float32)[None] / 255)
        ys.append(label)
np.save(f"{out}/test_x.npy", np.stack(xs))
np.save(f"{out}/test_y.npy", np.array(ys, np.int64))
PY
mkdir -p "$OUT/ort"
node tools/ort/run.js "$OUT/embed_logits.onnx" "$OUT/ort" "$OUT/test_x.npy" > /dev/null
bin/onnxtune eval "$OUT/embed_logits.onnx" --data "$OUT/fmnist/test" --retrieval --json > "$OUT/eval.json"
/usr/bin/python3 scripts/retrieval_sklearn.py "$OUT/ort/embedding.npy" "$OUT/test_y.npy" > "$OUT/sklearn.json"
/usr/bin/python3 - "$OUT/eval.json" "$OUT/sklearn.json" <<'PY'
import json, sys
got, want = (json.load(open(f)) for f in sys.argv[1:])
keys = ["precision_at_1", "recall_at_5", "map_at_r", "knn_accuracy", "queries"]
for k in keys:
    print(f"{k:15} onnxtune {got[k]:.9f}  scikit-learn {want[k]:.9f}")
worst = max(abs(got[k] - want[k]) for k in keys)
print(f"largest difference {worst:.2e}")
sys.exit(worst > 1e-6)
PY
echo "embedding: ok"
