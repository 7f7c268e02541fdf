#!/usr/bin/env bash
# One gradient step (forward, cross-entropy loss, backward to every parameter) of torchvision
# resnet18 at batch 8, 224x224, BatchNorm in inference mode, in onnxtune and in PyTorch on the
# same machine: wall time and peak resident memory of each process, plus each runtime's
# resident memory before any model is loaded. Needs scripts/setup.sh and GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/onnxtune ./cmd/onnxtune
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 testdata/models/gen.py large testdata/models/large --models resnet18 --preserve-bn >/dev/null
f=testdata/models/large/resnet18_bn.onnx
/usr/bin/python3 -c "
import numpy as np
r = np.random.default_rng(0)
np.save('$tmp/x.npy', r.standard_normal((8,3,224,224)).astype(np.float32))
np.save('$tmp/y.npy', r.integers(0, 1000, 8).astype(np.int64))"
/usr/bin/time -f "onnxtune grad: %e s, peak RSS %M KiB" bin/onnxtune grad "$f" --input "$tmp/x.npy" --target "$tmp/y.npy" --loss cross-entropy --out "$tmp/g.npz"
cat > "$tmp/step.py" <<'PY'
import sys, time, numpy as np, torch, torchvision
torch.set_num_threads(int(sys.argv[3]))
m = torchvision.models.resnet18(weights=None).eval()
x = torch.from_numpy(np.load(sys.argv[1])); y = torch.from_numpy(np.load(sys.argv[2]))
t = time.time()
loss = torch.nn.functional.cross_entropy(m(x), y)
loss.backward()
print("pytorch step: %.3f s (without start-up)" % (time.time() - t))
PY
/usr/bin/time -f "pytorch step process: %e s, peak RSS %M KiB" /usr/bin/python3 "$tmp/step.py" "$tmp/x.npy" "$tmp/y.npy" "$(nproc)"
/usr/bin/time -f "pytorch + torchvision imported, no model: peak RSS %M KiB" /usr/bin/python3 -c "import torch, torchvision"
/usr/bin/time -f "onnxtune, no model (help): peak RSS %M KiB" bin/onnxtune help >/dev/null
