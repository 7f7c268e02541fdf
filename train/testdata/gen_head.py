#!/usr/bin/python3
"""Models for onnxtune's head replacement tests (train/head_test.go).

Usage (Debian's /usr/bin/python3: torch 1.13, onnx 1.12):

    /usr/bin/python3 train/testdata/gen_head.py

writes, next to this script, small CNNs whose classifier torch.onnx.export writes in the
forms other than the Gemm of the fixtures under testdata/models:

  head_matmul.onnx     nn.Linear applied to a 3-D activation [N, 1, F]: the default export
                       (constant folding) writes MatMul with a folded [F, K] weight
                       ("onnx::MatMul_*") and Add(fc.bias), then Squeeze; shapes inferred
                       into value_info.
  head_transpose.onnx  the same without bias and followed by LogSoftmax, exported from train
                       mode with BatchNorm kept (TrainingMode.PRESERVE, no folding): Dropout
                       before MatMul(X, Transpose(fc.weight)).
  head_shared.onnx     a Gemm classifier whose bias is the Conv's bias (one tied parameter):
                       one initializer that both nodes read.
  head_conv.onnx       a SqueezeNet-style head (1x1 Conv, ReLU, global pooling, Flatten): no
                       Gemm or MatMul, so ReplaceHead must refuse it.
  head_reshape.onnx    a Gemm classifier followed by a Reshape to the constant shape [-1, 5],
                       which would not fit another class count.

Every model has input "x" [batch, 1, 8, 8] and output "logits" [batch, 5], and passes
onnx.checker. Weights are seeded; re-running gives byte-identical files.
"""

import io
import os

import onnx
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
CLASSES = 5


class Net(nn.Module):
    """conv -> ReLU -> mean over H, W -> a classifier chosen by kind."""

    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        self.conv = nn.Conv2d(1, 4 if kind != "shared" else CLASSES, 3)
        self.drop = nn.Dropout(0.25)
        if kind == "conv":
            self.head = nn.Conv2d(4, CLASSES, 1)
        else:
            width = CLASSES if kind == "shared" else 4
            self.fc = nn.Linear(width, CLASSES, bias=kind != "transpose")
        if kind == "shared":
            self.fc.bias = self.conv.bias  # tied: one initializer read by two nodes

    def forward(self, x):
        h = torch.relu(self.conv(x))
        if self.kind == "conv":
            return torch.flatten(torch.relu(self.head(h)).mean((2, 3), keepdim=True), 1)
        h = h.mean((2, 3))
        if self.kind in ("matmul", "transpose"):
            h = self.fc(self.drop(h.unsqueeze(1))).squeeze(1)
        else:
            h = self.fc(h)
        if self.kind == "transpose":
            h = torch.log_softmax(h, 1)
        if self.kind == "reshape":
            h = h.reshape(-1, CLASSES)
        return h


def export(kind, train_mode=False):
    torch.manual_seed(7)
    model = Net(kind)
    model.train(train_mode)
    kwargs = {}
    if train_mode:
        kwargs = {"training": torch.onnx.TrainingMode.PRESERVE, "do_constant_folding": False}
    f = io.BytesIO()
    torch.onnx.export(model, (torch.randn(2, 1, 8, 8),), f, input_names=["x"],
                      output_names=["logits"],
                      dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
                      opset_version=13, **kwargs)
    m = onnx.load_from_string(f.getvalue())
    if kind == "matmul":
        m = onnx.shape_inference.infer_shapes(m, check_type=True, strict_mode=True)
    onnx.checker.check_model(m, full_check=True)
    return m


def check(m, kind):
    ops = [n.op_type for n in m.graph.node]
    inits = [i.name for i in m.graph.initializer]
    if kind == "matmul":
        assert "MatMul" in ops and "Add" in ops and "Gemm" not in ops, ops
        assert any(i.startswith("onnx::MatMul") for i in inits), inits
        assert len(m.graph.value_info) > 0
    if kind == "transpose":
        assert "Dropout" in ops and "Transpose" in ops and ops[-1] == "LogSoftmax", ops
    if kind == "shared":
        gemm = [n for n in m.graph.node if n.op_type == "Gemm"][0]
        conv = [n for n in m.graph.node if n.op_type == "Conv"][0]
        assert gemm.input[2] == conv.input[2], (gemm.input, conv.input)
    if kind == "conv":
        assert "Gemm" not in ops and "MatMul" not in ops, ops
    if kind == "reshape":
        assert ops[-1] == "Reshape", ops


def main():
    for kind, train_mode in [("matmul", False), ("transpose", True), ("shared", True),
                             ("conv", False), ("reshape", False)]:
        m = export(kind, train_mode)
        check(m, kind)
        path = os.path.join(HERE, "head_%s.onnx" % kind)
        data = m.SerializeToString()
        with open(path, "wb") as f:
            f.write(data)
        print("wrote %s (%d bytes)" % (os.path.relpath(path), len(data)))


if __name__ == "__main__":
    main()
