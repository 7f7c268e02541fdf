"""PyTorch references for fine-tuning an embedding model with the in-batch metric losses: the
tiny CNN of testdata/models/tiny_cnn_bn.onnx cut at its classifier's input (onnxtune's
--embedding auto: the flattened 16 pooled features), trained for two epochs in file order
(--shuffle=false, no sampler) on 12 examples of 3 classes in batches of 6, with SGD. The
losses are pytorch-metric-learning's, as loss/testdata/gen_metric.py writes them out.

Writes metric_train.npz: the data (x, y) and, per case, the trained weights under
CASE/NAME; metric_train.json lists the cases with the flags onnxtune is given.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "testdata", "models"))
sys.path.insert(0, os.path.join(ROOT, "loss", "testdata"))
import gen  # noqa: E402  (TinyCNN)
import gen_metric  # noqa: E402  (triplet, contrastive)
from gen_train import load_into, save_npz  # noqa: E402

torch.set_num_threads(1)

N, BATCH, EPOCHS, LR, MOMENTUM = 12, 6, 2, 0.05, 0.9

CASES = [
    ("triplet_batch_hard", "triplet(margin=0.2,mining=batch-hard)",
     lambda e, y: gen_metric.triplet(e, y, 0.2, "batch-hard", "euclidean")),
    ("triplet_all_cosine", "triplet(margin=0.2,mining=all,distance=cosine)",
     lambda e, y: gen_metric.triplet(e, y, 0.2, "all", "cosine")),
    ("contrastive", "contrastive(pos_margin=0,neg_margin=1)",
     lambda e, y: gen_metric.contrastive(e, y, 0.0, 1.0, "euclidean")),
]


class Embedding(torch.nn.Module):
    """TinyCNN without its classifier: the flattened pooled features."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        n = self.net
        x = n.pool(F.relu(n.bn1(n.conv1(x))))
        x = F.relu(n.bn2(n.conv2(x)))
        return torch.flatten(n.gap(x), 1)


def main():
    g = torch.Generator().manual_seed(41)
    x = torch.randn((N, 1, 28, 28), generator=g)
    y = torch.tensor([0, 1, 2, 0, 2, 1, 1, 0, 2, 2, 0, 1])
    arrays = {"x": x.numpy(), "y": y.numpy()}
    cases = []
    for name, spec, fn in CASES:
        net = load_into(gen.TinyCNN(), os.path.join(ROOT, "testdata", "models", "tiny_cnn_bn.onnx"))
        model = Embedding(net).eval()  # BatchNorm exported in inference mode stays frozen
        params = [p for n, p in model.named_parameters() if not n.startswith("net.fc.")]
        opt = torch.optim.SGD(params, lr=LR, momentum=MOMENTUM)
        for _ in range(EPOCHS):
            for i in range(0, N, BATCH):
                opt.zero_grad()
                loss = fn(model(x[i:i + BATCH]), y[i:i + BATCH].tolist())
                loss.backward()
                opt.step()
        for n, p in net.named_parameters():
            if not n.startswith("fc."):
                arrays[name + "/" + n] = p.detach().numpy().copy()
        cases.append({"name": name, "loss": spec})
    save_npz(os.path.join(HERE, "metric_train.npz"), arrays)
    with open(os.path.join(HERE, "metric_train.json"), "w") as f:
        json.dump({"batch_size": BATCH, "epochs": EPOCHS, "lr": LR, "momentum": MOMENTUM, "cases": cases}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
