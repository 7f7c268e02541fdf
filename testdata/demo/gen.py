#!/usr/bin/python3
"""Generates the demo fixtures in testdata/demo/ (see README.md there).

    /usr/bin/python3 testdata/demo/gen.py                 # fmnist_cnn_init.onnx, images/, images_val/
    /usr/bin/python3 testdata/demo/gen.py --subset F.npz  # also the 10,000-example pretraining subset

Everything is deterministic: the model is seeded and the images are picked in file order.
"""
import argparse
import gzip
import os
import shutil

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
FMNIST = "/usr/share/datasets/fashion-mnist"

# New task: Fashion-MNIST test labels -> 3 coarse classes.
# 0 T-shirt, 1 trouser, 2 pullover, 3 dress, 4 coat, 5 sandal, 6 shirt, 7 sneaker, 8 bag, 9 ankle boot
GROUPS = {"tops": (0, 2, 4, 6), "footwear": (5, 7, 9), "bags": (8,)}
N_TRAIN, N_VAL = 40, 15


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


class CNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 16, 3, padding=1)
        self.bn1 = torch.nn.BatchNorm2d(16)
        self.conv2 = torch.nn.Conv2d(16, 32, 3, padding=1)
        self.bn2 = torch.nn.BatchNorm2d(32)
        self.fc = torch.nn.Linear(32 * 7 * 7, 10)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 2)
        x = torch.nn.functional.max_pool2d(torch.relu(self.bn2(self.conv2(x))), 2)
        x = torch.flatten(x, 1)
        return self.fc(x)


def export_model(path):
    torch.manual_seed(0)
    m = CNN().train()
    torch.onnx.export(
        m, torch.zeros(2, 1, 28, 28), path,
        input_names=["x"], output_names=["logits"],
        dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=13, do_constant_folding=False,
        training=torch.onnx.TrainingMode.PRESERVE)


def write_images():
    x = read_idx(f"{FMNIST}/t10k-images-idx3-ubyte.gz")
    y = read_idx(f"{FMNIST}/t10k-labels-idx1-ubyte.gz")
    for d in ("images", "images_val"):
        shutil.rmtree(os.path.join(HERE, d), ignore_errors=True)
    for name, labels in GROUPS.items():
        idx = [i for i in range(len(y)) if y[i] in labels]
        # Spread each class over its source labels: take examples round-robin across them.
        per = {l: [i for i in idx if y[i] == l] for l in labels}
        order = [i for k in range(max(map(len, per.values())))
                 for l in labels if k < len(per[l]) for i in [per[l][k]]]
        for d, sel in (("images", order[:N_TRAIN]), ("images_val", order[N_TRAIN:N_TRAIN + N_VAL])):
            out = os.path.join(HERE, d, name)
            os.makedirs(out, exist_ok=True)
            for i in sel:
                Image.fromarray(x[i], mode="L").save(os.path.join(out, f"t10k_{i:05d}.png"), optimize=True)


def write_subset(path, n=10000):
    x = read_idx(f"{FMNIST}/train-images-idx3-ubyte.gz")[:n]
    y = read_idx(f"{FMNIST}/train-labels-idx1-ubyte.gz")[:n]
    np.savez(path, x=(x.astype(np.float32) / 255)[:, None], y=y.astype(np.int64))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--subset", help="also write the first 10,000 training examples to this .npz")
    args = ap.parse_args()
    export_model(os.path.join(HERE, "fmnist_cnn_init.onnx"))
    write_images()
    if args.subset:
        write_subset(args.subset)
