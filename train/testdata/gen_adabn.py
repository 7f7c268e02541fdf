#!/usr/bin/python3
"""PyTorch references for BatchNorm recalibration (AdaBN): train/adabn_test.go and
cmd/onnxtune/recalibrate_test.go.

Usage (Debian's /usr/bin/python3: torch 1.13, onnx 1.12, Pillow 9.4):

    /usr/bin/python3 train/testdata/gen_adabn.py

Writes into train/testdata/adabn/:

    target/img00.png ... img09.png
                      ten unlabelled 8x8 RGB images (seeded), a flat folder as a user's
                      target domain would be
    target.npz        the same images as the model sees them, x only: float32 [10, 3, 8, 8],
                      ToTensor() then ImageNet's Normalize (onnxtune's default for 3 channels)
    adabn.onnx        AdaNet (below) with source-domain weights and statistics, exported in
                      eval mode with BatchNorm kept (do_constant_folding=False,
                      TrainingMode.PRESERVE), opset 14: inference BatchNormalization nodes
    adabn_train.onnx  the same weights exported in TRAINING mode at opset 14: training_mode=1
                      BatchNormalization, and Dropout whose training_mode input is true
    adabn_train11.onnx  the same at opset 11: training mode is BatchNormalization's extra
                      outputs, and Dropout (ratio attribute) trains in every training run
    adabn_fresh.onnx  AdaNet with the same convolution and linear weights but BatchNorm as
                      constructed (weight 1, bias 0, mean 0, var 1), exported as adabn.onnx:
                      the exporter merges equal-valued tensors, so each running statistic is
                      an Identity of another BatchNorm's weight or bias
    adabn.ref.npz     PyTorch's recalibrated statistics "<model>/<buffer>" (model "adabn" for
                      the three exports of those weights, "adabn_fresh"), its eval-mode
                      logits "<model>/logits" on "probe" [3, 3, 8, 8], and "batch_size"

The recalibration is PyTorch's AdaBN recipe: every BatchNorm gets reset_running_stats() and
momentum=None (a cumulative average), the model goes to eval() with only its BatchNorm modules
in train(), so Dropout stays off, and the images are fed in file order, batch size 4 (batches
of 4, 4 and 2: the last, partial batch counts as one batch), under torch.no_grad(). The script
checks that the result is the equal-weight mean over batches of the batch mean and of the
unbiased batch variance. torch.set_num_threads(1) keeps it bit-reproducible.
"""

import io
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "adabn")
sys.path.insert(0, os.path.join(ROOT, "testdata", "models"))
from gen import save_npz  # noqa: E402  (byte-identical re-runs)

torch.set_num_threads(1)

N, SIZE, BATCH = 10, 8, 4
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class AdaNet(nn.Module):
    """Two BatchNorm2d after bias-free convolutions, then a global average pool, Dropout, and
    a linear layer with a BatchNorm1d before the classifier: Dropout feeds a BatchNorm, so a
    pass that let it drop would get other statistics."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(4)
        self.fc1 = nn.Linear(4, 6)
        self.bn3 = nn.BatchNorm1d(6)
        self.drop = nn.Dropout(0.5)
        self.fc2 = nn.Linear(6, 3)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = self.drop(x.mean((2, 3)))
        x = F.relu(self.bn3(self.fc1(x)))
        return self.fc2(x)


def bns(model):
    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def source_domain(model, g):
    """Gives every BatchNorm non-default affine parameters and running statistics, as a model
    trained on another domain has."""
    with torch.no_grad():
        for _, m in bns(model):
            c = m.num_features
            m.weight.copy_(0.5 + torch.rand(c, generator=g))
            m.bias.copy_(0.1 * torch.randn(c, generator=g))
            m.running_mean.copy_(torch.randn(c, generator=g))
            m.running_var.copy_(0.5 + 1.5 * torch.rand(c, generator=g))
            m.num_batches_tracked.fill_(1000)


def recalibrate(model, x, batch):
    """AdaBN as a PyTorch user writes it: cumulative running statistics from scratch, BatchNorm
    alone in train mode."""
    model.eval()
    for _, m in bns(model):
        m.reset_running_stats()
        m.momentum = None
        m.train()
    with torch.no_grad():
        for i in range(0, len(x), batch):
            model(x[i:i + batch])
    model.eval()


def check_equal_weight_mean(model, x, batch):
    """The recalibrated statistics are the plain mean over batches of each batch's mean and
    unbiased variance (float64 here, float32 buffers there)."""
    inputs = {}
    hooks = [m.register_forward_hook(lambda m, i, o, name=name: inputs.setdefault(name, []).append(i[0].double()))
             for name, m in bns(model)]
    with torch.no_grad():
        for i in range(0, len(x), batch):
            model(x[i:i + batch])
    for h in hooks:
        h.remove()
    for name, m in bns(model):
        means, variances = [], []
        for a in inputs[name]:
            dims = [0] + list(range(2, a.dim()))
            means.append(a.mean(dims))
            variances.append(a.var(dims, unbiased=True))
        want_mean, want_var = torch.stack(means).mean(0), torch.stack(variances).mean(0)
        assert torch.allclose(m.running_mean.double(), want_mean, atol=1e-6), name
        assert torch.allclose(m.running_var.double(), want_var, atol=1e-6), name
        assert int(m.num_batches_tracked) == len(inputs[name]), name


def export(model, path, mode, opset):
    model.train(mode == torch.onnx.TrainingMode.TRAINING)
    buf = io.BytesIO()
    torch.onnx.export(model, torch.zeros(2, 3, SIZE, SIZE), buf, opset_version=opset, training=mode,
                      do_constant_folding=False, input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}})
    model.eval()
    m = onnx.load_from_string(buf.getvalue())
    write(path, m.SerializeToString())


def write(path, b):
    with open(path, "wb") as f:
        f.write(b)
    print("wrote %s (%d bytes)" % (os.path.relpath(path, ROOT), len(b)))


def main():
    os.makedirs(os.path.join(OUT, "target"), exist_ok=True)
    rng = np.random.RandomState(7)
    # A target domain brighter and redder than ImageNet's average, so the statistics move.
    pixels = np.clip(rng.normal([170, 120, 90], 50, size=(N, SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
    for i, p in enumerate(pixels):
        buf = io.BytesIO()
        Image.fromarray(p, "RGB").save(buf, format="PNG")
        write(os.path.join(OUT, "target", "img%02d.png" % i), buf.getvalue())
    # ToTensor() and Normalize(mean, std), in float32 as torchvision computes them.
    x = (pixels.astype(np.float32) / np.float32(255) - MEAN) / STD
    x = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    save_npz(os.path.join(OUT, "target.npz"), {"x": x.numpy()})

    g = torch.Generator().manual_seed(11)
    probe = torch.randn(3, 3, SIZE, SIZE, generator=g)
    torch.manual_seed(0)
    source = AdaNet()
    fresh = AdaNet()
    fresh.load_state_dict(source.state_dict())
    source_domain(source, g)

    ref = {"probe": probe.numpy(), "batch_size": np.array(BATCH, dtype=np.int64)}
    export(source, os.path.join(OUT, "adabn.onnx"), torch.onnx.TrainingMode.PRESERVE, 14)
    export(source, os.path.join(OUT, "adabn_train.onnx"), torch.onnx.TrainingMode.TRAINING, 14)
    export(source, os.path.join(OUT, "adabn_train11.onnx"), torch.onnx.TrainingMode.TRAINING, 11)
    export(fresh, os.path.join(OUT, "adabn_fresh.onnx"), torch.onnx.TrainingMode.PRESERVE, 14)
    for name, model in [("adabn", source), ("adabn_fresh", fresh)]:
        recalibrate(model, x, BATCH)
        for bn, m in bns(model):
            ref["%s/%s.running_mean" % (name, bn)] = m.running_mean.numpy().copy()
            ref["%s/%s.running_var" % (name, bn)] = m.running_var.numpy().copy()
        with torch.no_grad():
            ref["%s/logits" % name] = model(probe).numpy()
        # Momentum None goes on accumulating from num_batches_tracked: reset again first.
        for _, m in bns(model):
            m.reset_running_stats()
            m.train()
        check_equal_weight_mean(model, x, BATCH)
    save_npz(os.path.join(OUT, "adabn.ref.npz"), ref)


if __name__ == "__main__":
    main()
