#!/usr/bin/python3
"""PyTorch references for onnxtune's training loop (train/loop_test.go).

Usage (Debian's /usr/bin/python3: torch 1.13, torchvision 0.14, onnx 1.12):

    /usr/bin/python3 train/testdata/gen_train.py small
        Writes, next to this script:
          bn_train.onnx     TinyBN (TinyCNN of testdata/models/gen.py without conv biases)
                            exported in TRAINING mode at opset 14: BatchNormalization with
                            training_mode=1
          bn_train13.onnx   the same at opset 13, where training mode is the extra outputs
          drop_train.onnx   TinyBN with Dropout(0.3) before the classifier, training mode,
                            opset 14 (no PyTorch reference: dropout masks are random)
          train28.npz       x float32 [10, 1, 28, 28], y int64 [10] (seeded)
          train.json        the cases: model, data, loss, optimizer, schedule, --bn
          train.ref.npz     PyTorch's final weights and running statistics, "<case>/<name>"

    /usr/bin/python3 train/testdata/gen_train.py resnet18 MODEL.onnx OUTDIR
        For torchvision resnet18 exported with BatchNorm kept at 64x64
        (testdata/models/gen.py large ... --preserve-bn --size 64): writes OUTDIR/train64.npz
        and OUTDIR/resnet18_train.ref.npz, the fc weights after fine-tuning with the backbone
        frozen (--train-only '^fc\\.'), for sgd, adam and adamw. Not committed (the model is
        generated at test time), so the test runs this into testdata/models/large/.

Each case trains with shuffle off, 10 examples in batches of 4 (the last batch has 2) for
`epochs` epochs, one optimizer step per batch, the schedulers stepped as onnxtune's Schedule
documents. The torch module is rebuilt from the ONNX file itself: every parameter and buffer
is loaded from the initializer of the same name, so PyTorch starts from exactly the weights
onnxtune reads. BatchNorm runs in eval mode for models exported in inference mode (onnxtune's
--bn auto keeps those nodes frozen), in train mode for the training-mode exports and for
--bn train. torch.set_num_threads(1) keeps the references bit-reproducible.
"""

import io
import json
import os
import sys
import zipfile

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "testdata", "models"))
import gen  # noqa: E402  (TinyCNN, perturb_, save_npz)

torch.set_num_threads(1)

N, BATCH = 10, 4


def save_npz(path, arrays):
    """Uncompressed .npz with fixed timestamps, so re-runs are byte-identical."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for key, arr in arrays.items():
            data = io.BytesIO()
            np.lib.format.write_array(data, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, data.getvalue())
    with open(path, "wb") as f:
        f.write(buf.getvalue())
    print("wrote %s (%d bytes)" % (os.path.relpath(path, ROOT), os.path.getsize(path)))


def make_data(shape, classes, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((N,) + shape, generator=g)
    y = torch.randint(0, classes, (N,), generator=g)
    return x, y


def load_into(module, onnx_path):
    """Copies every ONNX initializer into the parameter or buffer of the same name; every
    float parameter and buffer must have one."""
    m = onnx.load(onnx_path)
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in m.graph.initializer}
    with torch.no_grad():
        for name, t in list(module.named_parameters()) + list(module.named_buffers()):
            if not t.is_floating_point():
                continue
            if name not in inits:
                raise SystemExit("%s: no initializer %r" % (onnx_path, name))
            t.copy_(torch.from_numpy(inits[name].copy()))
    return module


def make_optimizer(params, c):
    o = c["optimizer"]
    kw = {k: v for k, v in o.items() if k != "name"}
    if "betas" in kw:
        kw["betas"] = tuple(kw["betas"])
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[o["name"]]
    return cls(params, lr=c["lr"], **kw)


def make_schedulers(opt, c, steps_per_epoch):
    """(per-step schedulers, per-epoch schedulers) as onnxtune's Schedule documents."""
    per_step, per_epoch = [], []
    s = c.get("schedule", "constant")
    if s == "step":
        per_epoch.append(torch.optim.lr_scheduler.StepLR(opt, c["step_size"], c.get("gamma", 0.1)))
    elif s == "cosine":
        per_step.append(torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps_per_epoch * c["epochs"]))
    w = c.get("warmup_steps", 0)
    if w > 0:
        per_step.append(torch.optim.lr_scheduler.LinearLR(opt, 1.0 / w, 1.0, w - 1))
    return per_step, per_epoch


def loss_fn(c):
    kw = {}
    if c.get("class_weights"):
        kw["weight"] = torch.tensor(c["class_weights"], dtype=torch.float32)
    if c.get("label_smoothing"):
        kw["label_smoothing"] = c["label_smoothing"]
    return lambda z, y: F.cross_entropy(z, y, **kw)


def train(module, c, x, y, params=None):
    """Trains module in place as onnxtune's loop does with --shuffle=false."""
    train_mode = c["torch_train_mode"]
    module.train(train_mode)
    if params is None:
        params = list(module.parameters())
    opt = make_optimizer(params, c)
    steps = (N + BATCH - 1) // BATCH
    per_step, per_epoch = make_schedulers(opt, c, steps)
    lf = loss_fn(c)
    for _ in range(c["epochs"]):
        for i in range(0, N, BATCH):
            opt.zero_grad()
            loss = lf(module(x[i:i + BATCH]), y[i:i + BATCH])
            loss.backward()
            opt.step()
            for s in per_step:
                s.step()
        for s in per_epoch:
            s.step()
    return module


def spec(c):
    """The onnxtune --loss spelling of a case."""
    if c.get("label_smoothing"):
        return "cross-entropy(label_smoothing=%r)" % c["label_smoothing"]
    return "cross-entropy"


SGD = {"name": "sgd", "momentum": 0.9, "weight_decay": 5e-4}
ADAM = {"name": "adam", "weight_decay": 1e-4}
ADAMW = {"name": "adamw", "weight_decay": 5e-2, "betas": [0.85, 0.99]}

# Cases of the small fixture. model is relative to the repository root; bn is onnxtune's --bn;
# torch_train_mode is what PyTorch does for it.
SMALL_CASES = [
    # (a) a plain CNN exported in inference mode: BatchNorm frozen under --bn auto.
    dict(name="tiny_sgd", model="testdata/models/tiny_cnn_bn.onnx", bn="auto", torch_train_mode=False,
         optimizer=SGD, lr=0.05, epochs=3, schedule="step", step_size=1, gamma=0.5),
    dict(name="tiny_adam", model="testdata/models/tiny_cnn_bn.onnx", bn="auto", torch_train_mode=False,
         optimizer=ADAM, lr=2e-3, epochs=2, warmup_steps=2),
    dict(name="tiny_adamw", model="testdata/models/tiny_cnn_bn.onnx", bn="auto", torch_train_mode=False,
         optimizer=ADAMW, lr=2e-3, epochs=2, schedule="cosine", label_smoothing=0.1,
         class_weights=[1.0, 2.0, 0.5, 1.0, 1.5, 1.0, 0.75, 1.0, 1.25, 1.0]),
    # The same model with --bn train: PyTorch's train mode.
    dict(name="tiny_bntrain_sgd", model="testdata/models/tiny_cnn_bn.onnx", bn="train",
         torch_train_mode=True, optimizer=dict(SGD, nesterov=True), lr=0.02, epochs=2),
    # (c) a model exported in training mode: batch statistics under --bn auto.
    dict(name="bn_sgd", model="train/testdata/bn_train.onnx", bn="auto", torch_train_mode=True,
         optimizer=SGD, lr=0.05, epochs=2),
    dict(name="bn_adam", model="train/testdata/bn_train.onnx", bn="auto", torch_train_mode=True,
         optimizer=ADAM, lr=2e-3, epochs=2),
    dict(name="bn_adamw", model="train/testdata/bn_train.onnx", bn="auto", torch_train_mode=True,
         optimizer=ADAMW, lr=2e-3, epochs=2),
    dict(name="bn13_adam", model="train/testdata/bn_train13.onnx", bn="auto", torch_train_mode=True,
         optimizer=ADAM, lr=2e-3, epochs=2),
    # --bn frozen on the training-mode export: running statistics, PyTorch's eval mode.
    dict(name="bn_frozen_sgd", model="train/testdata/bn_train.onnx", bn="frozen",
         torch_train_mode=False, optimizer=SGD, lr=0.05, epochs=2),
]


class TinyBN(torch.nn.Module):
    """TinyCNN without the convolution biases, as real networks put convolutions before
    BatchNorm: under batch statistics such a bias gets a gradient that is zero up to rounding,
    which Adam's normalised step turns into noise-sized moves no two runtimes share."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        x = F.relu(self.bn2(self.conv2(x)))
        return self.fc(torch.flatten(self.gap(x), 1))


class TinyDrop(TinyBN):
    """TinyBN with Dropout(0.3) before the classifier: exported in training mode, the Dropout
    node gets training_mode=True, which the exported inference model must drop."""

    def __init__(self):
        super().__init__()
        self.drop = torch.nn.Dropout(0.3)

    def forward(self, x):
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        x = F.relu(self.bn2(self.conv2(x)))
        return self.fc(self.drop(torch.flatten(self.gap(x), 1)))


def export_training(module, path, opset):
    f = io.BytesIO()
    module.train()
    torch.onnx.export(module, (torch.zeros(2, 1, 28, 28),), f, input_names=["x"],
                      output_names=["logits"], dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
                      opset_version=opset, training=torch.onnx.TrainingMode.TRAINING,
                      do_constant_folding=False)
    m = onnx.load_from_string(f.getvalue())
    onnx.checker.check_model(m, full_check=True)
    bns = [n for n in m.graph.node if n.op_type == "BatchNormalization"]
    assert bns and all(len([o for o in n.output if o]) > 1 for n in bns), "not a training-mode export"
    with open(path, "wb") as fh:
        fh.write(m.SerializeToString())
    print("wrote %s (%d bytes)" % (os.path.relpath(path, ROOT), os.path.getsize(path)))


def case_json(c, data):
    out = {k: v for k, v in c.items() if k != "torch_train_mode"}
    out["data"] = data
    out["loss"] = spec(c)
    out["batch_size"] = BATCH
    return out


def small():
    torch.manual_seed(21)
    net = gen.perturb_(TinyBN(), seed=121)
    export_training(net, os.path.join(HERE, "bn_train.onnx"), 14)
    export_training(net, os.path.join(HERE, "bn_train13.onnx"), 13)
    torch.manual_seed(22)
    export_training(gen.perturb_(TinyDrop(), seed=122), os.path.join(HERE, "drop_train.onnx"), 14)
    x, y = make_data((1, 28, 28), 10, seed=31)
    save_npz(os.path.join(HERE, "train28.npz"), {"x": x.numpy(), "y": y.numpy()})
    refs, cases = {}, []
    for c in SMALL_CASES:
        cls = TinyBN if c["model"].startswith("train/") else gen.TinyCNN
        module = load_into(cls(), os.path.join(ROOT, c["model"]))
        train(module, c, x, y)
        for name, t in list(module.named_parameters()) + list(module.named_buffers()):
            if t.is_floating_point():
                refs[c["name"] + "/" + name] = t.detach().numpy().copy()
        cases.append(case_json(c, "train/testdata/train28.npz"))
    save_npz(os.path.join(HERE, "train.ref.npz"), refs)
    with open(os.path.join(HERE, "train.json"), "w") as f:
        json.dump({"cases": cases}, f, indent=1)
        f.write("\n")
    print("wrote train/testdata/train.json")


RESNET_CASES = [
    dict(name="resnet18_sgd", optimizer=SGD, lr=0.05, epochs=2),
    dict(name="resnet18_adam", optimizer=ADAM, lr=1e-3, epochs=2),
    dict(name="resnet18_adamw", optimizer=ADAMW, lr=1e-3, epochs=2),
]


def resnet18(model_path, outdir):
    import torchvision

    x, y = make_data((3, 64, 64), 1000, seed=32)
    save_npz(os.path.join(outdir, "train64.npz"), {"x": x.numpy(), "y": y.numpy()})
    refs, cases = {}, []
    for c in RESNET_CASES:
        c = dict(c, bn="auto", torch_train_mode=False, train_only=r"^fc\.")
        module = load_into(torchvision.models.resnet18(weights=None), model_path)
        for n, p in module.named_parameters():
            p.requires_grad_(n.startswith("fc."))
        train(module, c, x, y, params=list(module.fc.parameters()))
        for name, t in module.fc.named_parameters():
            refs[c["name"] + "/fc." + name] = t.detach().numpy().copy()
        cases.append(case_json(c, "train64.npz"))
    save_npz(os.path.join(outdir, "resnet18_train.ref.npz"), refs)
    with open(os.path.join(outdir, "resnet18_train.json"), "w") as f:
        json.dump({"cases": cases}, f, indent=1)


if __name__ == "__main__":
    if sys.argv[1:2] == ["small"]:
        small()
    elif sys.argv[1:2] == ["resnet18"] and len(sys.argv) == 4:
        resnet18(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(__doc__)
