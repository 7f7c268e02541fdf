#!/usr/bin/python3
"""Writes classification.npz: PyTorch's values and gradients for the classification losses.

Run from anywhere with Debian's python3 (torch 1.13, torchvision 0.14, numpy):

    /usr/bin/python3 loss/testdata/gen_classification.py

For each case it stores, under "<case>/...":
  output, target           the loss's inputs (output float32 unless the case says float64)
  mean, grad_mean          the mean-reduced loss and d(loss)/d(output), from float64 autograd
  sum, grad_sum            the same with reduction sum
  none                     the unreduced losses, with the shape PyTorch's reduction='none' gives
  mean32, grad_mean32      the mean loss and gradient from float32 autograd, as a user would get
  mean_alt, grad_mean_alt  (medical-bce only) the second formula: fp * BCEWithLogitsLoss(pos_weight=fn/fp)
and under "cases" a JSON list (as uint8 bytes) of {"name", "loss", "opts", "class_weights",
"spec", "extreme"}: the loss spec string and what loss.Build takes.

The references are torch expressions evaluated by autograd (never hard-coded numbers):
nn.functional's cross_entropy, nll_loss, binary_cross_entropy, binary_cross_entropy_with_logits,
multi_margin_loss, torchvision.ops.sigmoid_focal_loss, and for the losses PyTorch has no
module for, the formula written out in torch.
"""
import io
import json
import os
import zipfile

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import sigmoid_focal_loss

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20240605)


def randn(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def classes(c, *shape):
    return rng.integers(0, c, size=shape).astype(np.int64)


def probs(*shape):
    """Random class probabilities along axis 1."""
    x = np.exp(rng.standard_normal(shape) * 1.5)
    return (x / x.sum(axis=1, keepdims=True)).astype(np.float32)


def labels(*shape):
    return rng.integers(0, 2, size=shape).astype(np.float32)


def extreme(*shape):
    """Logits of magnitude 1e4 and a few moderate ones."""
    z = rng.choice(np.array([-1e4, 1e4, -3.0, 0.5, 2.0], dtype=np.float32), size=shape)
    return z.astype(np.float32)


# Rows that put the target at +-1e4 and at -1e4 against +1e4 (loss 2e4), with their targets.
EXTREME_Z = np.array([[1e4, -1e4, 0], [1e4, -1e4, 0], [-1e4, 1e4, 1e4], [1e4, 1e4, 1e4],
                      [-1e4, -1e4, -1e4], [0.5, -3, 1e4]], dtype=np.float32)
EXTREME_T = np.array([1, 0, 0, 2, 1, 1], dtype=np.int64)


def extreme_rows():
    return EXTREME_Z.copy(), EXTREME_T.copy()


def extreme_binary(n):
    """Logits +-1e4 with both labels each, then random extreme logits and labels."""
    z = np.concatenate([np.array([1e4, 1e4, -1e4, -1e4], dtype=np.float32), extreme(n - 4)])
    y = np.concatenate([np.array([1, 0, 1, 0], dtype=np.float32), labels(n - 4)])
    return z, y


def num(v):
    return float(v)


# ---- references: f(z, t, reduction, **opts) with z a float tensor that requires grad ----

def ref_cross_entropy(z, t, r, w=None, label_smoothing=0.0, ignore_index=-100):
    return F.cross_entropy(z, t, weight=w, ignore_index=int(ignore_index),
                           label_smoothing=label_smoothing, reduction=r)


def ref_nll(z, t, r, w=None, ignore_index=-100):
    return F.nll_loss(z, t, weight=w, ignore_index=int(ignore_index), reduction=r)


def ref_bce(x, t, r, w=None):
    return F.binary_cross_entropy(x, t, reduction=r)


def ref_bce_logits(z, t, r, w=None, pos_weight=1.0):
    return F.binary_cross_entropy_with_logits(
        z, t, pos_weight=torch.tensor(pos_weight, dtype=z.dtype), reduction=r)


def reduce(l, r):
    return {"mean": l.mean, "sum": l.sum, "none": lambda: l}[r]()


def ref_medical(z, t, r, w=None, fn_cost=5.0, fp_cost=1.0):
    # mean(-(fn*y*log(sigmoid(z)) + fp*(1-y)*log(1-sigmoid(z)))), with log(sigmoid(z)) as
    # logsigmoid(z) and log(1-sigmoid(z)) as logsigmoid(-z): the same function, finite at 1e4.
    l = -(fn_cost * t * F.logsigmoid(z) + fp_cost * (1 - t) * F.logsigmoid(-z))
    return reduce(l, r)


def ref_medical_alt(z, t, r, w=None, fn_cost=5.0, fp_cost=1.0):
    return fp_cost * ref_bce_logits(z, t, r, pos_weight=fn_cost / fp_cost)


def ref_focal(z, t, r, w=None, gamma=2.0, alpha=0.25):
    if z.shape == t.shape:
        return sigmoid_focal_loss(z, t, alpha=alpha, gamma=gamma, reduction=r)
    # Softmax focal loss on class indices: -a * (1-p_t)^gamma * log(p_t), a = alpha or 1.
    logp = F.log_softmax(z, 1).gather(1, t.unsqueeze(1)).squeeze(1)
    a = alpha if alpha >= 0 else 1.0
    l = -a * (1 - logp.exp()) ** gamma * logp
    return reduce(l, r)


def ref_hinge(z, t, r, w=None, margin=1.0):
    binary = tuple(z.shape) == tuple(t.shape) or (
        z.dim() == 2 and z.shape[1] == 1 and t.dim() == 1 and t.shape[0] == z.shape[0])
    if not binary:
        return F.multi_margin_loss(z, t, margin=margin, reduction=r)
    y = t.to(z.dtype).reshape(z.shape)
    y = torch.where(y == 0, -torch.ones_like(y), y)
    return reduce(torch.relu(margin - y * z), r)


REFS = {
    "cross-entropy": ref_cross_entropy,
    "nll": ref_nll,
    "bce": ref_bce,
    "bce-logits": ref_bce_logits,
    "medical-bce": ref_medical,
    "focal": ref_focal,
    "hinge": ref_hinge,
}

# ---- the cases ----

CASES = []


def case(name, loss, output, target, opts=None, class_weights=None, extreme=False, dtype="float32"):
    CASES.append(dict(name=name, loss=loss, output=output, target=target, opts=opts or {},
                      class_weights=class_weights, extreme=extreme, dtype=dtype))


def with_ignored(t, value, every=3):
    t = t.copy()
    t.flat[::every] = value
    return t


# cross-entropy: class indices
case("ce/basic", "cross-entropy", randn(6, 4, scale=2), classes(4, 6))
case("ce/smooth", "cross-entropy", randn(6, 4, scale=2), classes(4, 6), {"label_smoothing": 0.1})
case("ce/smooth_one", "cross-entropy", randn(5, 3), classes(3, 5), {"label_smoothing": 1})
case("ce/weights", "cross-entropy", randn(7, 4, scale=2), classes(4, 7),
     class_weights=[0.2, 1.0, 2.5, 0.7])
case("ce/weights_smooth", "cross-entropy", randn(7, 4, scale=2), classes(4, 7),
     {"label_smoothing": 0.2}, class_weights=[0.2, 1.0, 2.5, 0.7])
case("ce/ignore_default", "cross-entropy", randn(6, 3), with_ignored(classes(3, 6), -100))
case("ce/ignore_default_smooth", "cross-entropy", randn(6, 3), with_ignored(classes(3, 6), -100),
     {"label_smoothing": 0.15})
case("ce/ignore_custom", "cross-entropy", randn(8, 3, scale=2), classes(3, 8),
     {"ignore_index": 2, "label_smoothing": 0.1}, class_weights=[1.5, 0.5, 3.0])
case("ce/all_ignored", "cross-entropy", randn(4, 3), np.full(4, -100, dtype=np.int64))
case("ce/all_ignored_smooth_weights", "cross-entropy", randn(4, 3), np.full(4, 1, dtype=np.int64),
     {"ignore_index": 1, "label_smoothing": 0.1}, class_weights=[1.0, 2.0, 3.0])
case("ce/spatial", "cross-entropy", randn(2, 3, 4, 5, scale=2), with_ignored(classes(3, 2, 4, 5), -100, 7),
     {"label_smoothing": 0.05}, class_weights=[0.5, 1.0, 2.0])
case("ce/unbatched", "cross-entropy", randn(5), np.array(3, dtype=np.int64), {"label_smoothing": 0.1})
case("ce/float64", "cross-entropy", randn(5, 4), classes(4, 5), dtype="float64")
case("ce/extreme", "cross-entropy", *extreme_rows(), extreme=True)
case("ce/extreme_smooth_weights", "cross-entropy", *extreme_rows(),
     {"label_smoothing": 0.1}, class_weights=[0.3, 1.0, 2.0], extreme=True)
# cross-entropy: probabilities
case("ce/prob", "cross-entropy", randn(5, 4, scale=2), probs(5, 4))
case("ce/prob_smooth_weights", "cross-entropy", randn(2, 3, 2, 2), probs(2, 3, 2, 2),
     {"label_smoothing": 0.3}, class_weights=[2.0, 0.5, 1.0])
case("ce/prob_onehot", "cross-entropy", randn(4, 3), np.eye(3, dtype=np.float32)[classes(3, 4)],
     {"ignore_index": -1})
case("ce/prob_extreme", "cross-entropy", extreme(5, 3), probs(5, 3), {"label_smoothing": 0.1}, extreme=True)

# nll on log-probabilities
def logsoftmax(z, axis=1):
    z = z.astype(np.float64)
    m = z.max(axis=axis, keepdims=True)
    return (z - m - np.log(np.exp(z - m).sum(axis=axis, keepdims=True))).astype(np.float32)


case("nll/basic", "nll", logsoftmax(randn(6, 4, scale=2)), classes(4, 6))
case("nll/weights_ignore", "nll", logsoftmax(randn(8, 4)), classes(4, 8), {"ignore_index": 1},
     class_weights=[0.5, 2.0, 1.0, 3.0])
case("nll/spatial", "nll", logsoftmax(randn(2, 3, 4)), with_ignored(classes(3, 2, 4), -100))
case("nll/unbatched", "nll", logsoftmax(randn(4), axis=0), np.array(1, dtype=np.int64))
case("nll/extreme", "nll", logsoftmax(EXTREME_Z), EXTREME_T, class_weights=[1.0, 0.5, 2.0],
     extreme=True)
case("nll/all_ignored", "nll", logsoftmax(randn(3, 4)), np.full(3, -100, dtype=np.int64))

# bce on probabilities
def sig(z):
    return (1 / (1 + np.exp(-z.astype(np.float64)))).astype(np.float32)


case("bce/basic", "bce", sig(randn(4, 3, scale=2)), labels(4, 3))
case("bce/soft", "bce", sig(randn(10)), rng.random(10).astype(np.float32))
case("bce/edges", "bce", np.array([0, 1, 0, 1, 1e-30, 1 - 2**-24, 0.5, 1e-7], dtype=np.float32),
     np.array([0, 1, 1, 0, 1, 0, 1, 0], dtype=np.float32), extreme=True)

# bce-logits
case("bce-logits/basic", "bce-logits", randn(4, 3, scale=2), labels(4, 3))
case("bce-logits/pos_weight", "bce-logits", randn(4, 3, scale=2), labels(4, 3), {"pos_weight": 3})
case("bce-logits/soft", "bce-logits", randn(2, 2, 3, 3), rng.random((2, 2, 3, 3)).astype(np.float32),
     {"pos_weight": 0.5})
case("bce-logits/extreme", "bce-logits", *extreme_binary(12), {"pos_weight": 2}, extreme=True)

# medical-bce
case("medical-bce/default", "medical-bce", randn(8, scale=2), labels(8))
case("medical-bce/costs", "medical-bce", randn(4, 3), rng.random((4, 3)).astype(np.float32),
     {"fn_cost": 2, "fp_cost": 3})
case("medical-bce/no_fn_cost", "medical-bce", randn(6, 1), labels(6, 1), {"fn_cost": 0, "fp_cost": 2})
case("medical-bce/extreme", "medical-bce", *extreme_binary(12), {"fn_cost": 5, "fp_cost": 0.5},
     extreme=True)

# focal: sigmoid (float targets)
case("focal/sigmoid", "focal", randn(6, 3, scale=2), labels(6, 3))
case("focal/sigmoid_gamma0_alpha", "focal", randn(6, 3, scale=2), labels(6, 3), {"gamma": 0, "alpha": 0.6})
case("focal/sigmoid_noalpha_soft", "focal", randn(10, scale=2), rng.random(10).astype(np.float32),
     {"gamma": 1.5, "alpha": -1})
case("focal/sigmoid_extreme", "focal", *extreme_binary(12), extreme=True)
case("focal/sigmoid_extreme_gamma1", "focal", *extreme_binary(12), {"gamma": 1, "alpha": 0.75},
     extreme=True)
# focal: softmax (class indices)
case("focal/softmax", "focal", randn(6, 4, scale=2), classes(4, 6))
case("focal/softmax_gamma_noalpha", "focal", randn(6, 4), classes(4, 6), {"gamma": 0.5, "alpha": -1})
case("focal/softmax_gamma0", "focal", randn(6, 4), classes(4, 6), {"gamma": 0, "alpha": 0.5})
case("focal/softmax_spatial", "focal", randn(2, 3, 2, 2, scale=2), classes(3, 2, 2, 2), {"gamma": 3})
case("focal/softmax_extreme", "focal", *extreme_rows(), extreme=True)

# hinge: multi-class
case("hinge/multi", "hinge", randn(6, 4), classes(4, 6))
case("hinge/multi_margin", "hinge", randn(6, 4), classes(4, 6), {"margin": 0.5})
case("hinge/multi_unbatched", "hinge", randn(5), np.array(2, dtype=np.int64), {"margin": 2})
case("hinge/multi_extreme", "hinge", *extreme_rows(), extreme=True)
# hinge: binary
case("hinge/binary01", "hinge", randn(8), rng.integers(0, 2, 8).astype(np.int64))
case("hinge/binary_pm1_column", "hinge", randn(8, 1), rng.choice([-1.0, 1.0], 8).astype(np.float32),
     {"margin": 2})
case("hinge/binary_multilabel", "hinge", randn(4, 3), labels(4, 3), {"margin": 0.5})
case("hinge/binary_extreme", "hinge", *extreme_binary(10), extreme=True)


def spec_string(c):
    opts = ",".join(f"{k}={v:g}" for k, v in c["opts"].items())
    return c["loss"] + (f"({opts})" if opts else "")


def evaluate(fn, c, r, dtype):
    z = torch.tensor(c["output"].astype(np.float64)).to(dtype).requires_grad_(True)
    t = torch.tensor(c["target"])
    if t.dtype.is_floating_point:
        t = t.to(dtype)
    w = None
    if c["class_weights"] is not None:
        w = torch.tensor(c["class_weights"], dtype=dtype)
    opts = {k: num(v) for k, v in c["opts"].items()}
    l = fn(z, t, r, w=w, **opts)
    if r == "none":
        return l.detach().numpy(), None
    l.backward()
    return l.detach().numpy(), z.grad.numpy()


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    fin = np.isfinite(b)
    if not np.array_equal(fin, np.isfinite(a)):
        return np.inf
    n = np.linalg.norm(b[fin])
    d = np.linalg.norm(a[fin] - b[fin])
    return d / n if n > 0 else d


def main():
    arrays, meta = {}, []
    for c in CASES:
        name, fn = c["name"], REFS[c["loss"]]
        out = c["output"].astype(np.float64 if c["dtype"] == "float64" else np.float32)
        arrays[name + "/output"] = out
        arrays[name + "/target"] = c["target"]
        for r in ("mean", "sum"):
            v, g = evaluate(fn, c, r, torch.float64)
            arrays[f"{name}/{r}"] = np.array(v, dtype=np.float64)
            arrays[f"{name}/grad_{r}"] = g
        arrays[name + "/none"], _ = evaluate(fn, c, "none", torch.float64)
        v32, g32 = evaluate(fn, c, "mean", torch.float32)
        arrays[name + "/mean32"] = np.array(v32, dtype=np.float64)
        arrays[name + "/grad_mean32"] = g32.astype(np.float64)
        if c["loss"] == "medical-bce" and c["opts"].get("fp_cost", 1) != 0:
            va, ga = evaluate(ref_medical_alt, c, "mean", torch.float64)
            arrays[name + "/mean_alt"] = np.array(va, dtype=np.float64)
            arrays[name + "/grad_mean_alt"] = ga
            assert rel(va, arrays[name + "/mean"]) < 1e-12 and rel(ga, arrays[name + "/grad_mean"]) < 1e-12, name
        d = max(rel(v32, arrays[name + "/mean"]), rel(g32, arrays[name + "/grad_mean"]))
        if d > 1e-6:
            print(f"note: {name}: float32 PyTorch differs from float64 by {d:.2g} (relative)")
        meta.append(dict(name=name, loss=c["loss"], opts={k: f"{v:g}" for k, v in c["opts"].items()},
                         class_weights=c["class_weights"], spec=spec_string(c), extreme=c["extreme"]))
    arrays["cases"] = np.frombuffer(json.dumps(meta, indent=0).encode(), dtype=np.uint8)
    path = os.path.join(HERE, "classification.npz")
    # np.savez with a fixed entry time, so that regenerating identical arrays gives identical bytes.
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for k, v in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(v), allow_pickle=False)
            info = zipfile.ZipInfo(k + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())
    print(f"wrote {len(CASES)} cases to {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
