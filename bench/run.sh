#!/usr/bin/env bash
# Side-by-side speed of onnxtune, ONNX Runtime and PyTorch on this machine, in one run, on the
# same exported files (testdata/models/gen.py) and the same batch shapes, each with $THREADS
# threads (default: nproc): inference of resnet18, mobilenet_v2 and squeezenet1_1 at batch 8
# and 1 (224x224), and a full resnet18 training step at batch 8 (forward, cross-entropy,
# backward to every weight, Adam; BatchNorm frozen, as gen.py's export has it). Times are medians of $ITERS
# iterations after warm-up: onnxtune bench, node tools/ort/run.js --bench, bench/torch_bench.py.
# Each of those rows runs the three sides $ROUNDS times in turn (default 3) and takes each
# side's lowest median and highest peak memory: on this VM one process in three or four runs
# its whole life up to twice as slow as the next (onnxtune's mobilenet_v2 at batch 1: 6.4 ms
# in most processes, 10-15 ms in some), and a single round let that chance pick the ratio.
# Then whole training runs: classifier-only fine-tuning of resnet18 on an image folder, and
# the Fashion-MNIST CNN of scripts/fashion_mnist.py from scratch for $FM_EPOCHS epochs (default
# 2; needs dataset-fashion-mnist), with each side's test accuracy.
# Prints a markdown table of the times and the ratios (onnxtune / reference: lower is faster)
# with the load average at the start, then one of the peak resident memory of each side's
# whole process for the inference and training-step rows. Refuses to run when the 1-minute load average is above
# 0.5, since a loaded machine flatters the slower side; BENCH_FORCE=1 runs anyway and marks
# the table as not for the record. Needs scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-$(nproc)}
ITERS=${ITERS:-10}
ROUNDS=${ROUNDS:-3}
models=${MODELS:-resnet18 mobilenet_v2 squeezenet1_1}

go build -o bin/onnxtune ./cmd/onnxtune
for m in $models; do
	/usr/bin/python3 testdata/models/gen.py large testdata/models/large --models "$m" >/dev/null
done
/usr/bin/python3 testdata/models/gen.py large testdata/models/large --models resnet18 --preserve-bn >/dev/null

load=$(cut -d' ' -f1 /proc/loadavg)
note=""
if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
	if [ "${BENCH_FORCE:-}" != 1 ]; then
		echo "bench: load average $load is above 0.5: a loaded machine flatters the slower side; not measuring (BENCH_FORCE=1 to run anyway, not for the record)" >&2
		exit 1
	fi
	note=" (LOADED: not for the record)"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
median() { /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.1f" % d.get("median_ms", d.get("ms", {}).get("median", 0)))'; }
peak() { /usr/bin/python3 -c 'import json,sys; print("%.0f" % (json.load(sys.stdin)["peak_rss_bytes"] / 2**20))'; }
mem="$tmp/memory.md" # the peak memory rows, printed after the speed table
ratio() { /usr/bin/python3 -c "print('%.2fx' % ($1 / $2))"; }
# lower/higher BEST NEW: the better of a side's rounds so far (BEST empty before the first).
lower() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b + 0 < a + 0) ? b : a }'; }
higher() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b + 0 > a + 0) ? b : a }'; }

echo "onnxtune $(git rev-parse --short HEAD), $(date -u +%Y-%m-%d), $THREADS threads, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $load at the start$note"
echo
echo "| work | onnxtune | ONNX Runtime | PyTorch | onnxtune / ORT | onnxtune / PyTorch |"
echo "|---|---|---|---|---|---|"
for batch in 8 1; do
	/usr/bin/python3 -c "import numpy as np; np.save('$tmp/x.npy', np.random.default_rng(0).standard_normal(($batch,3,224,224)).astype(np.float32))"
	for m in $models; do
		f=testdata/models/large/$m.onnx
		ot="" ort="" pt="" otm="" ortm="" ptm=""
		for _ in $(seq "$ROUNDS"); do
			GOMAXPROCS=$THREADS bin/onnxtune bench "$f" --batch "$batch" --iters "$ITERS" --json >"$tmp/ot.json"
			node tools/ort/run.js "$f" "$tmp" "x=$tmp/x.npy" --bench "$ITERS" --threads "$THREADS" >"$tmp/ort.json"
			/usr/bin/python3 bench/torch_bench.py "$m" "$batch" "$ITERS" "$THREADS" infer >"$tmp/pt.json"
			ot=$(lower "$ot" "$(median <"$tmp/ot.json")") ort=$(lower "$ort" "$(median <"$tmp/ort.json")") pt=$(lower "$pt" "$(median <"$tmp/pt.json")")
			otm=$(higher "$otm" "$(peak <"$tmp/ot.json")") ortm=$(higher "$ortm" "$(peak <"$tmp/ort.json")") ptm=$(higher "$ptm" "$(peak <"$tmp/pt.json")")
		done
		echo "| $m inference, batch $batch | $ot ms | $ort ms | $pt ms | $(ratio "$ot" "$ort") | $(ratio "$ot" "$pt") |"
		echo "| $m inference, batch $batch | $otm MB | $ortm MB | $ptm MB | $(ratio "$otm" "$ortm") | $(ratio "$otm" "$ptm") |" >>"$mem"
	done
done
f=testdata/models/large/resnet18_bn.onnx
ot="" pt="" otm="" ptm=""
for _ in $(seq "$ROUNDS"); do
	GOMAXPROCS=$THREADS bin/onnxtune bench "$f" --batch 8 --train --iters "$ITERS" --json >"$tmp/ot.json"
	/usr/bin/python3 bench/torch_bench.py resnet18 8 "$ITERS" "$THREADS" train >"$tmp/pt.json"
	ot=$(lower "$ot" "$(median <"$tmp/ot.json")") pt=$(lower "$pt" "$(median <"$tmp/pt.json")")
	otm=$(higher "$otm" "$(peak <"$tmp/ot.json")") ptm=$(higher "$ptm" "$(peak <"$tmp/pt.json")")
done
echo "| resnet18 training step, batch 8 | $ot ms | - | $pt ms | - | $(ratio "$ot" "$pt") |"
echo "| resnet18 training step, batch 8 | $otm MB | - | $ptm MB | - | $(ratio "$otm" "$ptm") |" >>"$mem"

# Classifier-only fine-tuning: 3 epochs over 256 random 224x224 RGB images in 10 classes,
# batches of 32, only fc trained (a new 10-way head), whole onnxtune train command (load,
# training, export and its check) against PyTorch's training loop alone.
/usr/bin/python3 - "$tmp/folder" <<'PY'
import os, sys
import numpy as np
from PIL import Image
rng = np.random.default_rng(0)
for i in range(256):
    d = os.path.join(sys.argv[1], "c%d" % (i % 10))
    os.makedirs(d, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)).save(os.path.join(d, "%03d.png" % i))
PY
t0=$(date +%s.%N)
GOMAXPROCS=$THREADS bin/onnxtune train testdata/models/large/resnet18.onnx --data "$tmp/folder" --num-classes 10 \
	--train-only '^fc\.' --epochs 3 --batch-size 32 --loss cross-entropy --out "$tmp/ft.onnx" 2>/dev/null >/dev/null
ot=$(/usr/bin/python3 -c "import time; print('%.1f' % (($(date +%s.%N) - $t0) * 1000))")
pt=$(/usr/bin/python3 bench/torch_finetune.py "$tmp/folder" 3 32 "$THREADS" | /usr/bin/python3 -c 'import json,sys; print("%.1f" % (json.load(sys.stdin)["seconds"] * 1000))')
echo "| resnet18 classifier-only fine-tuning, 3 epochs over 256 images | $ot ms | - | $pt ms | - | $(ratio "$ot" "$pt") |"

# Fashion-MNIST from scratch: the training loops' time (onnxtune's per-epoch "seconds" in
# --log, PyTorch's timed loop) and the test accuracy on the 10,000 test images.
FM_EPOCHS=${FM_EPOCHS:-2}
fm=/usr/share/datasets/fashion-mnist
/usr/bin/python3 scripts/fashion_mnist.py export "$tmp/fm.onnx"
GOMAXPROCS=$THREADS bin/onnxtune train "$tmp/fm.onnx" --data "$fm/train" --loss cross-entropy --optimizer adam \
	--lr 1e-3 --batch-size 64 --epochs "$FM_EPOCHS" --seed 1 --out "$tmp/fm_tuned.onnx" --log "$tmp/fm.jsonl" >/dev/null 2>&1
ot=$(/usr/bin/python3 -c 'import json,sys; print("%.1f" % sum(json.loads(l)["seconds"] for l in open(sys.argv[1]) if l.strip()))' "$tmp/fm.jsonl")
ot_acc=$(GOMAXPROCS=$THREADS bin/onnxtune eval "$tmp/fm_tuned.onnx" --data "$fm/test" --json | /usr/bin/python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["accuracy"] * 100))')
read -r pt pt_acc < <(/usr/bin/python3 scripts/fashion_mnist.py train "$FM_EPOCHS" "$THREADS" | tail -1 |
	/usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.1f %.2f" % (d["seconds"], d["accuracy"] * 100))')
echo "| Fashion-MNIST CNN from scratch, $FM_EPOCHS epochs, training loop (test accuracy) | $ot s ($ot_acc%) | - | $pt s ($pt_acc%) | - | $(ratio "$ot" "$pt") |"

echo
echo "Peak resident memory of each whole process (onnxtune bench, node with onnxruntime-node, python with torch):"
echo
echo "| work | onnxtune | ONNX Runtime | PyTorch | onnxtune / ORT | onnxtune / PyTorch |"
echo "|---|---|---|---|---|---|"
cat "$mem"
