#!/usr/bin/env bash
# The demo, with nothing but Go: the screening workflow on the embedded default
# (testdata/demo/). A small CNN that onnxtune pretrained on part of Fashion-MNIST
# (fmnist_cnn.onnx) is fine-tuned to screen for bags among bags, footwear and tops, from a
# folder of real 28x28 images: a one-logit head, a loss where a missed bag costs five false
# alarms, and the threshold for a sensitivity of 0.95, fitted on 30% of the training folder
# held out, written into the model as its decision. The model is then evaluated on images
# neither training nor the threshold saw, with a report.
# Writes only under $OUT (default ./demo-out). The tests check the exported model against ONNX
# Runtime (cmd/onnxtune's TestDemo).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-demo-out}
mkdir -p "$OUT"
go build -o bin/onnxtune ./cmd/onnxtune

echo "== the pretrained model"
bin/onnxtune inspect testdata/demo/fmnist_cnn.onnx

echo "== fine-tune: bags against the rest, one logit, a missed bag costs 5 false alarms;"
echo "   the threshold for sensitivity 0.95 on the held-out 30% goes into the model"
# 1-channel image folders get no mean/std by default: pixels in [0,1], as the IDX data it was
# pretrained on.
bin/onnxtune train testdata/demo/fmnist_cnn.onnx \
	--data testdata/demo/images --val-split 0.3 \
	--num-classes 1 --positive-class bags --loss 'medical-bce(fn_cost=5)' \
	--epochs 8 --batch-size 16 --lr 1e-3 --seed 1 \
	--target-sensitivity 0.95 --out "$OUT/bag_screen.onnx"

echo "== evaluate on the held-out images, with the decision the model carries"
bin/onnxtune eval "$OUT/bag_screen.onnx" --data testdata/demo/images_val --report "$OUT/report"

echo "demo: ok; the report is $OUT/report/index.html"
