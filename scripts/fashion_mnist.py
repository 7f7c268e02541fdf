#!/usr/bin/env python3
"""Fashion-MNIST from scratch: the CNN that scripts/fashion_mnist.sh trains with onnxtune and
with PyTorch.

  fashion_mnist.py export OUT.onnx        the seeded, untrained model (BatchNorm kept in
                                          training mode, parameter names kept)
  fashion_mnist.py train [EPOCHS [THREADS]]
                                          trains the same model in PyTorch with the same settings
                                          (adam lr 1e-3, batch 64, shuffled; 2 threads by
                                          default) and prints the time per epoch and the test
                                          accuracy, then both as one JSON line (keys seconds,
                                          the training loop's, and accuracy) for bench/run.sh
"""
import gzip
import json
import warnings
import sys
import time

import numpy as np
import torch
import torch.nn as nn

DATA = "/usr/share/datasets/fashion-mnist"


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = torch.flatten(self.features(x), 1)
        return self.fc2(torch.relu(self.fc1(x)))


def model():
    torch.manual_seed(0)
    return Net()


def idx(path):
    with gzip.open(path, "rb") as f:
        b = f.read()
    nd = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * nd).reshape(dims)


def load(split):
    x = idx(f"{DATA}/{split}-images-idx3-ubyte.gz").astype(np.float32) / 255.0
    y = idx(f"{DATA}/{split}-labels-idx1-ubyte.gz").astype(np.int64)
    return torch.from_numpy(x[:, None]), torch.from_numpy(y)


def export(out):
    warnings.filterwarnings("ignore")
    m = model().train()
    torch.onnx.export(m, torch.zeros(1, 1, 28, 28), out, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      opset_version=13, do_constant_folding=False,
                      training=torch.onnx.TrainingMode.PRESERVE)


def train(epochs, threads):
    torch.set_num_threads(threads)
    xtr, ytr = load("train")
    xte, yte = load("t10k")
    m = model()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(1)
    total = 0.0
    for ep in range(epochs):
        m.train()
        t = time.time()
        perm = torch.randperm(len(xtr), generator=g)
        s, n = 0.0, 0
        for i in range(0, len(xtr), 64):
            j = perm[i:i + 64]
            loss = nn.functional.cross_entropy(m(xtr[j]), ytr[j])
            opt.zero_grad()
            loss.backward()
            opt.step()
            s += loss.item() * len(j)
            n += len(j)
        dt = time.time() - t
        total += dt
        print(f"pytorch epoch {ep + 1}: train loss {s / n:.4f}, {dt:.1f} s", flush=True)
    m.eval()
    with torch.no_grad():
        correct = sum((m(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum().item()
                      for i in range(0, len(xte), 1000))
    acc = correct / len(xte)
    print(f"pytorch: test accuracy {acc * 100:.2f}% after {epochs} epochs, "
          f"{total / 60:.2f} min training ({total / 60 / epochs:.2f} min/epoch)")
    print(json.dumps({"seconds": total, "accuracy": acc}))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "export":
        export(sys.argv[2])
    elif len(sys.argv) >= 2 and sys.argv[1] == "train":
        train(int(sys.argv[2]) if len(sys.argv) > 2 else 3, int(sys.argv[3]) if len(sys.argv) > 3 else 2)
    else:
        sys.exit(__doc__)
