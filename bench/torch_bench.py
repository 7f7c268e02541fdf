"""PyTorch side of bench/run.sh: times a torchvision model as onnxtune bench times it.

    /usr/bin/python3 bench/torch_bench.py MODEL BATCH ITERS THREADS infer|train

infer: model.eval() under no_grad. train: one step of cross-entropy on random labels, backward
to every weight and torch.optim.Adam(lr=1e-3), with BatchNorm on its running statistics
(model.eval(): gen.py exports BatchNorm in inference mode, which `onnxtune bench --train`
keeps), as `onnxtune bench --train` on testdata/models/large/resnet18_bn.onnx. Three untimed warm-up iterations,
then ITERS timed ones; prints one JSON line with median_ms, min_ms and peak_rss_bytes (the
whole process's peak resident set).
"""
import json
import resource
import statistics
import sys
import time

import torch
import torchvision

name, batch, iters, threads, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
torch.manual_seed(0)
torch.set_num_threads(threads)
model = getattr(torchvision.models, name)(weights=None)
x = torch.randn(batch, 3, 224, 224)
y = torch.randint(0, 1000, (batch,))
if mode == "infer":
    model.eval()

    def step():
        with torch.no_grad():
            model(x)
else:
    model.eval()  # BatchNorm frozen, as in the export; gradients still reach every weight
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

for _ in range(3):
    step()
times = []
for _ in range(iters):
    t = time.perf_counter()
    step()
    times.append((time.perf_counter() - t) * 1000)
# ru_maxrss is the peak resident set of this whole process, in kilobytes on Linux.
print(json.dumps({"median_ms": statistics.median(times), "min_ms": min(times),
                  "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
