#!/usr/bin/python3
"""PyTorch and scikit-learn references for binary classification from an image folder
(cmd/onnxtune/binary_test.go): class-index targets adapted to the loss, whole-set eval
losses, and the binary report (sensitivity, specificity, ROC AUC, ...).

Usage (Debian's /usr/bin/python3: torch 1.13, torchvision 0.14, onnx 1.12, sklearn):

    /usr/bin/python3 train/testdata/gen_binary.py

writes, into train/testdata/binary/:

  scans/{normal,tumor}/*.png    22 grayscale 16x16 training images, 16 normal (textured
                                noise) and 6 tumor (the same texture with a bright blob)
  scans_val/{normal,tumor}/*.png
                                10 more, 7 normal and 3 tumor
  bin1.onnx     TinyBin: Conv(1->4, 3x3, pad 1), ReLU, MaxPool(2), Flatten, Linear(256->1);
                input "x" [batch, 1, 16, 16], output "logits" [batch, 1]
  bin1p.onnx    bin1 with a Sigmoid at the end, output "probs" [batch, 1] (for bce)
  bin2.onnx     TinyBin with Linear(256->2), output "logits" [batch, 2]
  tri3.onnx     TinyBin with Linear(256->3), output "logits" [batch, 3]
  tri3_logsoftmax.onnx
                tri3 with LogSoftmax(dim=1) at the end, output "log_probs" (for nll)
  tri3.npz      x float32 [13, 1, 16, 16], y int64 [13] in {0, 1, 2} (seeded)
  tri3_ignore.npz
                the same x; y with three entries -100 (cross-entropy's default ignore_index)
  scans_float.npz
                the scans folder as torchvision reads it, x float32 [22, 1, 16, 16], and
                y float32 [22, 1]: 1 for tumor (float targets that need no adaptation)
  binary.json   the training cases: model, data, val, loss, optimizer, lr, momentum,
                positive_class, class_weights, and PyTorch's val_losses after each epoch
  binary.ref.npz
                PyTorch's weights after each training case, "<case>/<parameter name>"
  eval.json     "cases": model, data, loss, class_weights, positive_class, examples and
                PyTorch's whole-set loss "expected"; "reports": the binary reports of the
                untrained bin1 and bin2 on scans_val (sklearn's numbers)

Every model is exported at opset 13 with do_constant_folding=False and
training=TrainingMode.PRESERVE, so initializer names equal parameter names. The folder is read
as torchvision's ImageFolder reads it for a one-channel model: classes in sorted folder order
(normal 0, tumor 1), Grayscale(1), ToTensor() (pixel/255, no mean/std).

Training: shuffle off, batches of 4 over the 22 images (the last batch has 2), 2 epochs, one
optimizer step per batch, starting from exactly the ONNX file's weights (every parameter
loaded from the initializer of the same name). The class-index targets are adapted to the loss
as onnxtune's contract says: for bce, bce-logits, medical-bce and focal on a one-column output
they become float 0/1 of shape [N, 1] (label == the positive class, tumor unless the case names
another); on an [N, C] output one-hot [N, C] floats, except focal, which keeps class indices
(softmax focal). medical-bce(fn_cost=a, fp_cost=b) is b * BCEWithLogitsLoss(pos_weight=a/b);
--class-weights auto is sklearn's compute_class_weight('balanced').

Eval: each case's "expected" is PyTorch's loss of the whole data set in one batch (float32,
mean reduction). The binary reports score the untrained models on scans_val: a one-logit
model's probability is sigmoid(logit), a two-logit model's the softmax probability of the
positive class; a prediction is positive when probability >= 0.5; roc_auc is sklearn's
roc_auc_score of that probability.

torch.set_num_threads(1) and fixed seeds make every run write the same numbers.
"""

import io
import json
import os
import shutil
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image
from sklearn.metrics import confusion_matrix, f1_score, precision_score, recall_score, roc_auc_score
from sklearn.utils.class_weight import compute_class_weight

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "binary")
REL = "train/testdata/binary/"
sys.path.insert(0, HERE)
from gen_train import load_into, save_npz  # noqa: E402  (one owner for both helpers)

torch.set_num_threads(1)

SIZE, BATCH, EPOCHS = 16, 4, 2
CLASSES = ["normal", "tumor"]


# ---------------------------------------------------------------------------------------------
# The image folders


def scan(rng, tumor):
    """One 16x16 uint8 scan: smooth texture plus grain, and for a tumor a bright blob. Values
    stay inside [20, 235], so no clipping makes flat (tied) regions."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    img = 90.0 + 12.0 * rng.standard_normal((SIZE, SIZE))
    for _ in range(3):  # a few low-frequency waves give tissue-like texture
        fy, fx = rng.uniform(0.2, 0.9, 2)
        img += rng.uniform(8, 18) * np.sin(fy * yy + fx * xx + rng.uniform(0, 2 * np.pi))
    if tumor:
        cy, cx = rng.uniform(4, 11, 2)
        r = rng.uniform(1.8, 3.0)
        img += rng.uniform(70, 100) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
    return np.clip(np.rint(img), 20, 235).astype(np.uint8)


def write_folder(name, counts, seed):
    root = os.path.join(OUT, name)
    shutil.rmtree(root, ignore_errors=True)
    rng = np.random.default_rng(seed)
    for cls, n in zip(CLASSES, counts):
        os.makedirs(os.path.join(root, cls))
        for i in range(n):
            Image.fromarray(scan(rng, cls == "tumor"), "L").save(os.path.join(root, cls, "%s_%02d.png" % (cls, i)))
    print("wrote %s%s (%d + %d images)" % (REL, name, *counts))
    return root


def read_folder(root):
    """(x float32 [N, 1, 16, 16], y int64 [N]) as torchvision's ImageFolder gives them."""
    tf = torchvision.transforms.Compose([torchvision.transforms.Grayscale(1), torchvision.transforms.ToTensor()])
    ds = torchvision.datasets.ImageFolder(root, tf)
    assert ds.classes == CLASSES, ds.classes
    x = torch.stack([x for x, _ in ds])
    y = torch.tensor([y for _, y in ds], dtype=torch.int64)
    # The contract: one-channel images at the model's size are pixel/255.
    raw = np.stack([np.asarray(Image.open(p)) for p, _ in ds.samples])[:, None].astype(np.float32) / 255
    assert np.array_equal(x.numpy(), raw)
    return x, y


# ---------------------------------------------------------------------------------------------
# The models


class TinyBin(torch.nn.Module):
    def __init__(self, outputs, tail=None):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4 * (SIZE // 2) ** 2, outputs)
        self.tail = tail

    def forward(self, x):
        z = self.fc(torch.flatten(F.max_pool2d(F.relu(self.conv(x)), 2), 1))
        if self.tail == "sigmoid":
            return torch.sigmoid(z)
        if self.tail == "logsoftmax":
            return F.log_softmax(z, dim=1)
        return z


def export(module, name, output):
    path = os.path.join(OUT, name)
    module.eval()
    f = io.BytesIO()
    torch.onnx.export(module, (torch.zeros(2, 1, SIZE, SIZE),), f, input_names=["x"], output_names=[output],
                      dynamic_axes={"x": {0: "batch"}, output: {0: "batch"}}, opset_version=13,
                      do_constant_folding=False, training=torch.onnx.TrainingMode.PRESERVE)
    m = onnx.load_from_string(f.getvalue())
    onnx.checker.check_model(m, full_check=True)
    names = sorted(i.name for i in m.graph.initializer)
    assert names == sorted(n for n, _ in module.named_parameters()), names
    with open(path, "wb") as fh:
        fh.write(m.SerializeToString())
    print("wrote %s%s (%d bytes)" % (REL, name, os.path.getsize(path)))
    return path


def centre_bias(module, x, positives):
    """Moves the last logit's bias (for two logits: the difference of the two) so that exactly
    `positives` examples of x score >= 0.5, with the threshold halfway between two neighbours:
    the untrained models then predict both classes and no score sits near the threshold."""
    with torch.no_grad():
        z = module(x).double()
        s = z[:, 1] - z[:, 0] if z.shape[1] == 2 else z[:, 0]
        v = np.sort(s.numpy())[::-1]
        cut = float((v[positives - 1] + v[positives]) / 2)
        module.fc.bias[-1] -= cut
        gap = float(v[positives - 1] - v[positives])
        assert gap > 1e-3, gap


# ---------------------------------------------------------------------------------------------
# Losses, as onnxtune's contract defines them on class-index data


def onehot_or_binary(z, y, positive):
    """Class indices adapted for a bce-style loss: [N, 1] float 0/1 for a one-column output,
    one-hot [N, C] floats otherwise."""
    if z.shape[1] == 1:
        return (y == positive).to(z.dtype).unsqueeze(1)
    return F.one_hot(y, z.shape[1]).to(z.dtype)


def softmax_focal(z, y, alpha, gamma):
    logp = F.log_softmax(z, dim=1).gather(1, y.unsqueeze(1)).squeeze(1)
    return (-alpha * (1 - logp.exp()) ** gamma * logp).mean()


def parse_spec(spec):
    name, _, rest = spec.partition("(")
    opts = {}
    for kv in filter(None, rest.rstrip(")").split(",")):
        k, v = kv.split("=")
        opts[k] = float(v)
    return name, opts


def loss_of(spec, z, y, positive=1, weights=None):
    """PyTorch's mean loss for an onnxtune --loss spec on output z and targets y (class indices
    int64 [N], or floats already shaped like z)."""
    name, o = parse_spec(spec)
    w = None if weights is None else torch.tensor(weights, dtype=z.dtype)
    if y.dtype == torch.int64 and name in ("bce", "bce-logits", "medical-bce"):
        y = onehot_or_binary(z, y, positive)
    if name == "cross-entropy":
        return F.cross_entropy(z, y, weight=w, ignore_index=int(o.get("ignore_index", -100)),
                               label_smoothing=o.get("label_smoothing", 0.0))
    if name == "nll":
        return F.nll_loss(z, y, weight=w, ignore_index=int(o.get("ignore_index", -100)))
    if name == "bce":
        return F.binary_cross_entropy(z, y)
    if name == "bce-logits":
        return F.binary_cross_entropy_with_logits(z, y, pos_weight=torch.tensor(o.get("pos_weight", 1.0), dtype=z.dtype))
    if name == "medical-bce":
        fn, fp = o.get("fn_cost", 5.0), o.get("fp_cost", 1.0)
        return fp * F.binary_cross_entropy_with_logits(z, y, pos_weight=torch.tensor(fn / fp, dtype=z.dtype))
    if name == "focal":
        alpha, gamma = o.get("alpha", 0.25), o.get("gamma", 2.0)
        if y.dtype == torch.int64 and z.shape[1] > 1:
            return softmax_focal(z, y, alpha, gamma)
        if y.dtype == torch.int64:
            y = onehot_or_binary(z, y, positive)
        return torchvision.ops.sigmoid_focal_loss(z, y, alpha=alpha, gamma=gamma, reduction="mean")
    if name == "mse":
        return F.mse_loss(z, y)
    raise SystemExit("no reference for loss %r" % spec)


def check_by_hand(z, y):
    """A few of loss_of's cases written out in float64 from the formulas, so the references
    do not rest on one reading of PyTorch's API."""
    z, t = z.double(), (y == 1).double().unsqueeze(1)
    ls = F.logsigmoid(z)
    lns = F.logsigmoid(-z)
    hand = {
        "bce-logits(pos_weight=3)": (-(3 * t * ls + (1 - t) * lns)).mean(),
        "medical-bce(fn_cost=4,fp_cost=2)": (-(4 * t * ls + 2 * (1 - t) * lns)).mean(),
        "focal": (-(0.25 * t * (1 - ls.exp()) ** 2 * ls + 0.75 * (1 - t) * ls.exp() ** 2 * lns)).mean(),
    }
    for spec, want in hand.items():
        got = loss_of(spec, z.float(), y).item()
        assert abs(got - want.item()) <= 1e-5 * abs(want.item()), (spec, got, want.item())


# ---------------------------------------------------------------------------------------------
# Training


def optimizer_of(c, params):
    if c["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=c["lr"], momentum=c.get("momentum", 0.0))
    return torch.optim.Adam(params, lr=c["lr"])


def train(c, x, y, xv, yv, dtype=torch.float32):
    """Trains case c from its ONNX file; returns the module and the loss on (xv, yv) after
    each epoch."""
    module = load_into(TinyBin(MODELS[c["model"]][0]), os.path.join(OUT, c["model"])).to(dtype)
    x, xv = x.to(dtype), xv.to(dtype)
    module.train()
    opt = optimizer_of(c, module.parameters())
    positive = CLASSES.index(c.get("positive_class", "tumor"))
    weights = c.get("class_weight_values")
    val_losses = []
    for _ in range(EPOCHS):
        for i in range(0, len(y), BATCH):
            opt.zero_grad()
            loss_of(c["loss"], module(x[i:i + BATCH]), y[i:i + BATCH], positive, weights).backward()
            opt.step()
        with torch.no_grad():
            val_losses.append(loss_of(c["loss"], module(xv), yv, positive, weights).item())
    return module, val_losses


SGD9 = dict(optimizer="sgd", lr=0.1, momentum=0.9)
TRAIN_CASES = [
    # (a) the screening loss: a missed tumor costs five false alarms.
    dict(name="bin1_medical_sgd", model="bin1.onnx", loss="medical-bce(fn_cost=5)", **SGD9),
    dict(name="bin1_bce_adam", model="bin1.onnx", loss="bce-logits", optimizer="adam", lr=0.01),
    dict(name="bin1_bcepw_sgd", model="bin1.onnx", loss="bce-logits(pos_weight=3)", optimizer="sgd", lr=0.05),
    # A two-logit head: medical-bce elementwise over one-hot [N, 2] targets.
    dict(name="bin2_medical_sgd", model="bin2.onnx", loss="medical-bce", **SGD9),
    dict(name="bin1_focal_sgd", model="bin1.onnx", loss="focal", optimizer="sgd", lr=0.5, momentum=0.9),
    # focal on [N, 2] keeps class indices: softmax focal.
    dict(name="bin2_focal_adam", model="bin2.onnx", loss="focal", optimizer="adam", lr=0.01),
    dict(name="bin2_ce_auto_sgd", model="bin2.onnx", loss="cross-entropy", class_weights="auto", **SGD9),
    # --positive-class normal: the target is label == 0.
    dict(name="bin1_normal_sgd", model="bin1.onnx", loss="bce-logits", positive_class="normal", **SGD9),
]

# name -> (outputs, tail, output name)
MODELS = {
    "bin1.onnx": (1, None, "logits"),
    "bin1p.onnx": (1, "sigmoid", "probs"),
    "bin2.onnx": (2, None, "logits"),
    "tri3.onnx": (3, None, "logits"),
    "tri3_logsoftmax.onnx": (3, "logsoftmax", "log_probs"),
}


# ---------------------------------------------------------------------------------------------
# Eval

W3 = [1.0, 2.0, 0.5]
EVAL_CASES = [
    dict(name="ce_weighted", model="tri3.onnx", data="tri3.npz", loss="cross-entropy", class_weights=W3),
    dict(name="ce_ignore", model="tri3.onnx", data="tri3_ignore.npz", loss="cross-entropy"),
    dict(name="ce_ignore_weighted", model="tri3.onnx", data="tri3_ignore.npz", loss="cross-entropy", class_weights=W3),
    dict(name="ce_ignore_index1", model="tri3.onnx", data="tri3.npz", loss="cross-entropy(ignore_index=1)"),
    dict(name="ce_smooth", model="tri3.onnx", data="tri3.npz", loss="cross-entropy(label_smoothing=0.1)"),
    dict(name="ce_smooth_weighted", model="tri3.onnx", data="tri3.npz", loss="cross-entropy(label_smoothing=0.1)",
         class_weights=W3),
    dict(name="ce_smooth_ignore_weighted", model="tri3.onnx", data="tri3_ignore.npz",
         loss="cross-entropy(label_smoothing=0.2)", class_weights=W3),
    dict(name="ce_bin2_folder", model="bin2.onnx", data="scans", loss="cross-entropy", class_weights=[1.0, 3.0]),
    dict(name="nll", model="tri3_logsoftmax.onnx", data="tri3.npz", loss="nll"),
    dict(name="nll_ignore_weighted", model="tri3_logsoftmax.onnx", data="tri3_ignore.npz", loss="nll",
         class_weights=W3),
    dict(name="bce_logits_pw", model="bin1.onnx", data="scans", loss="bce-logits(pos_weight=3)"),
    dict(name="bce_logits_val", model="bin1.onnx", data="scans_val", loss="bce-logits"),
    dict(name="bce_logits_normal", model="bin1.onnx", data="scans", loss="bce-logits", positive_class="normal"),
    dict(name="bce_logits_float", model="bin1.onnx", data="scans_float.npz", loss="bce-logits(pos_weight=3)"),
    dict(name="bce_logits_bin2", model="bin2.onnx", data="scans", loss="bce-logits"),
    dict(name="bce_probs", model="bin1p.onnx", data="scans", loss="bce"),
    dict(name="medical_bce", model="bin1.onnx", data="scans", loss="medical-bce"),
    dict(name="medical_bce_costs", model="bin1.onnx", data="scans", loss="medical-bce(fn_cost=4,fp_cost=2)"),
    dict(name="medical_bce_bin2", model="bin2.onnx", data="scans", loss="medical-bce"),
    dict(name="focal_sigmoid", model="bin1.onnx", data="scans", loss="focal"),
    dict(name="focal_sigmoid_opts", model="bin1.onnx", data="scans", loss="focal(gamma=1,alpha=0.5)"),
    dict(name="focal_softmax_bin2", model="bin2.onnx", data="scans", loss="focal"),
    dict(name="focal_softmax_tri3", model="tri3.onnx", data="tri3.npz", loss="focal"),
    dict(name="mse_float", model="bin1.onnx", data="scans_float.npz", loss="mse"),
]

# Binary reports of `eval --json` on scans_val; "loss" "" is eval's default (no --loss).
REPORTS = [
    dict(name="bin1", model="bin1.onnx", data="scans_val", loss_spec="bce-logits"),
    dict(name="bin2", model="bin2.onnx", data="scans_val", loss_spec="cross-entropy"),
    dict(name="bin1_normal", model="bin1.onnx", data="scans_val", loss_spec="bce-logits", positive_class="normal"),
]


def report(module, x, y, positive):
    with torch.no_grad():
        z = module(x)
    t = (y == positive).numpy().astype(int)
    zd = z.double()
    if z.shape[1] == 1:
        p = torch.sigmoid(zd[:, 0])
        loss = F.binary_cross_entropy_with_logits(z, torch.from_numpy(t).float().unsqueeze(1)).item()
    else:
        p = torch.softmax(zd, 1)[:, positive]
        loss = F.cross_entropy(z, y).item()
    p = p.numpy()
    assert np.abs(p - 0.5).min() > 1e-4, "a probability too close to the threshold"
    pred = (p >= 0.5).astype(int)
    tn, fp, fn, tp = confusion_matrix(t, pred, labels=[0, 1]).ravel()
    assert min(tp, fp, tn, fn) > 0, "a confusion cell is empty: some rate would divide by zero"
    return dict(loss=loss, threshold=0.5, roc_auc=float(roc_auc_score(t, p)),
                sensitivity=float(recall_score(t, pred)), specificity=float(recall_score(1 - t, 1 - pred)),
                ppv=float(precision_score(t, pred)), npv=float(precision_score(1 - t, 1 - pred)),
                f1=float(f1_score(t, pred)), true_positives=int(tp), false_positives=int(fp),
                true_negatives=int(tn), false_negatives=int(fn))


def main():
    os.makedirs(OUT, exist_ok=True)
    x, y = read_folder(write_folder("scans", (16, 6), seed=401))
    xv, yv = read_folder(write_folder("scans_val", (7, 3), seed=402))
    folders = {"scans": (x, y), "scans_val": (xv, yv)}

    # Models: seeded default init; the last bias centred so the untrained models predict both
    # classes on scans_val (and, for the three-class model, on tri3.npz).
    g = torch.Generator().manual_seed(403)
    xt = torch.rand((13, 1, SIZE, SIZE), generator=g)
    yt = torch.tensor([0, 1, 2, 2, 1, 0, 0, 2, 1, 1, 0, 2, 1])
    yti = yt.clone()
    yti[[2, 5, 9]] = -100
    nets = {}
    for outputs, seed in ((1, 404), (2, 405), (3, 406)):
        torch.manual_seed(seed)
        net = TinyBin(outputs)
        with torch.no_grad():  # larger weights spread the untrained scores
            net.fc.weight.mul_(4)
        if outputs < 3:
            centre_bias(net, xv, 4)
        nets[outputs] = net
    for name, (outputs, tail, output) in MODELS.items():
        net = TinyBin(outputs, tail)
        net.load_state_dict(nets[outputs].state_dict())
        export(net, name, output)
    save_npz(os.path.join(OUT, "tri3.npz"), {"x": xt.numpy(), "y": yt.numpy()})
    save_npz(os.path.join(OUT, "tri3_ignore.npz"), {"x": xt.numpy(), "y": yti.numpy()})
    save_npz(os.path.join(OUT, "scans_float.npz"), {"x": x.numpy(), "y": (y == 1).float().unsqueeze(1).numpy()})
    npz = {"tri3.npz": (xt, yt), "tri3_ignore.npz": (xt, yti),
           "scans_float.npz": (x, (y == 1).float().unsqueeze(1))}

    def load(name):  # the exported file, read back, is what onnxtune sees
        return load_into(TinyBin(*MODELS[name][:2]), os.path.join(OUT, name)).eval()

    with torch.no_grad():
        check_by_hand(load("bin1.onnx")(x), y)

    evals = []
    for c in EVAL_CASES:
        xs, ys = folders.get(c["data"]) or npz[c["data"]]
        with torch.no_grad():
            z = load(c["model"])(xs)
            pos = CLASSES.index(c.get("positive_class", "tumor"))
            v = loss_of(c["loss"], z, ys, pos, c.get("class_weights")).item()
        assert np.isfinite(v) and v > 0, (c, v)
        evals.append(dict(c, model=REL + c["model"], data=REL + c["data"], examples=len(ys), expected=v))

    reports = []
    for r in REPORTS:
        pc = r.get("positive_class", "tumor")
        rep = report(load(r["model"]), xv, yv, CLASSES.index(pc))
        reports.append(dict(r, model=REL + r["model"], data=REL + r["data"], kind="binary", positive_class=pc, **rep))

    refs, trains = {}, []
    counts = np.bincount(y.numpy(), minlength=2)
    for c in TRAIN_CASES:
        c = dict(c)
        if c.get("class_weights") == "auto":
            c["class_weight_values"] = compute_class_weight("balanced", classes=np.arange(2), y=y.numpy()).tolist()
        module, val_losses = train(c, x, y, xv, yv)
        # The same run in float64 lands within 1e-6 of the float32 one: the case is far from
        # any ReLU or max-pool tie, so a 1e-4 bound on onnxtune's weights is a fair test.
        wide, _ = train(c, x, y, xv, yv, torch.float64)
        for (name, p), q in zip(module.named_parameters(), wide.parameters()):
            rel = ((p.double() - q).norm() / q.norm()).item()
            assert rel < 1e-6, (c["name"], name, rel)
        for name, p in module.named_parameters():
            assert torch.isfinite(p).all(), (c["name"], name)
            refs[c["name"] + "/" + name] = p.detach().numpy().copy()
        trains.append(dict(c, model=REL + c["model"], data=REL + "scans", val=REL + "scans_val",
                           batch_size=BATCH, epochs=EPOCHS, val_losses=val_losses))
    save_npz(os.path.join(OUT, "binary.ref.npz"), refs)
    write_json("binary.json", {"classes": CLASSES, "train_counts": counts.tolist(), "cases": trains})
    write_json("eval.json", {"cases": evals, "reports": reports})


def write_json(name, obj):
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")
    print("wrote %s%s" % (REL, name))


if __name__ == "__main__":
    if sys.argv[1:]:
        raise SystemExit(__doc__)
    main()
