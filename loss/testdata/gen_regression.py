#!/usr/bin/python3
"""PyTorch references for onnxtune's regression, embedding and distillation losses, the l2
penalty, and loss expressions over the two-headed fixture.

Usage (Debian's /usr/bin/python3, which has torch 1.13 and onnx 1.12):

    /usr/bin/python3 loss/testdata/gen_regression.py

writes loss/testdata/regression.npz (deterministic: re-running gives the same bytes).

Loss cases (the layout of gen_classification.py's classification.npz). Under "cases", a JSON
list (as UTF-8 bytes) of {"name", "loss", "opts", "class_weights", "spec", "extreme"}: the case
C, the loss name and options loss.Build takes, and the spec string. For each case:
    C/output, C/target     the loss's inputs (output float32, as a model would emit it)
    C/mean, C/grad_mean    the loss with reduction mean (kl-div: batchmean) and d(loss)/d(output)
    C/sum, C/grad_sum      the same with reduction sum
    C/none                 the unreduced loss, shaped as PyTorch's reduction='none' gives it
    C/mean32, C/grad_mean32  mean and gradient from float32 autograd
All but the *32 references are computed in float64 from the float32 inputs. Cases flagged
"extreme" use outputs of magnitude 1e4.

The l2 case "l2" stores weights under l2/w/NAME, 0.5*sum(w^2) under l2/loss and its gradient
under l2/grad/NAME (the l1 case likewise under l1/, sum |w| with zeros among the weights); the script also checks that SGD(weight_decay=wd) on a loss steps exactly
as plain SGD on loss + wd*l2.

Expression cases over testdata/models/two_heads.onnx (outputs "logits" [2, 5] and "box"
[2, 4]), listed under "two_heads" (JSON, as bytes) with their spec, class weights and targets: the model is
rebuilt in PyTorch with the weights read from the ONNX initializers, and
two_heads/C/loss and two_heads/C/grad/PARAM hold the loss and every parameter's gradient.
"""

import json
import os
import sys

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "testdata", "models"))
import gen  # noqa: E402  (testdata/models/gen.py: TwoHeads and the deterministic save_npz)

torch.set_num_threads(1)
OUT = os.path.join(HERE, "regression.npz")


def rng(seed):
    return np.random.default_rng(seed)


def f32(a):
    return np.asarray(a, dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# the losses in PyTorch, each f(output, target, reduction) on float64 tensors


def pointwise(fn, **kw):
    return lambda y, t, red: fn(y, t.to(y.dtype), reduction=red, **kw)


def kl_div(y, t, red):
    red = "batchmean" if red == "mean" else red
    return F.kl_div(F.log_softmax(y, dim=1), t, reduction=red)


def split(y, k):
    """[N, k, D] -> k tensors [N, D]; [kN, D] -> the k consecutive blocks of N rows."""
    if y.dim() == 3:
        return [y[:, j] for j in range(k)]
    n = y.shape[0] // k
    return [y[j * n:(j + 1) * n] for j in range(k)]


def triplet(margin):
    def f(y, t, red):
        a, p, n = split(y, 3)
        return nn.TripletMarginLoss(margin=margin, p=2, eps=1e-6, reduction=red)(a, p, n)
    return f


def contrastive(margin):
    def f(y, t, red):
        x1, x2 = split(y, 2)
        s = t.reshape(-1).to(y.dtype)
        d = (x1 - x2).norm(dim=1)
        per = s * d ** 2 + (1 - s) * (margin - d).clamp(min=0) ** 2
        return reduce(per, red)
    return f


def wasserstein(y, t, red):
    return reduce(y * t.reshape(y.shape).to(y.dtype), red)


def reduce(per, red):
    return {"mean": per.mean(), "sum": per.sum(), "none": per}[red]


LOSSES = {
    "mse": lambda o: pointwise(F.mse_loss),
    "mae": lambda o: pointwise(F.l1_loss),
    "huber": lambda o: pointwise(F.huber_loss, delta=o.get("delta", 1.0)),
    "smooth-l1": lambda o: pointwise(F.smooth_l1_loss, beta=o.get("beta", 1.0)),
    "kl-div": lambda o: kl_div,
    "triplet": lambda o: triplet(o.get("margin", 1.0)),
    "contrastive": lambda o: contrastive(o.get("margin", 1.0)),
    "wasserstein": lambda o: wasserstein,
}


# ---------------------------------------------------------------------------------------------
# the cases


def cases():
    """(case key, loss name, options, output float32, target, extreme)."""
    out = []

    def add(key, name, opts, y, t, extreme=False):
        out.append((key, name, opts, f32(y), t, extreme))

    r = rng(1)
    y = r.normal(0, 2, (4, 3))
    t = r.normal(0, 2, (4, 3))
    y[0, 0] = t[0, 0] = 0.5  # d = 0: the gradients' value at a tie (sign(0) and friends)
    y[1, 1] = t[1, 1] = -1.25
    y[2, 2], t[2, 2] = 1.0, 0.0  # d = delta = beta = 1 exactly, on the branch boundary
    y4 = r.normal(0, 1, (2, 3, 4, 5))
    t4 = r.normal(0, 1, (2, 3, 4, 5))
    ybig = r.choice([-1e4, 1e4], (3, 4)) + r.normal(0, 1, (3, 4))
    tbig = r.normal(0, 1, (3, 4))
    for name, variants in [("mse", [{}]), ("mae", [{}]),
                           ("huber", [{}, {"delta": 0.5}, {"delta": 2.5}]),
                           ("smooth-l1", [{}, {"beta": 0.5}, {"beta": 0.0}, {"beta": 3.0}])]:
        for o in variants:
            tag = name + "".join("_%s%g" % kv for kv in o.items())
            add(tag, name, o, y, f32(t))
            add(tag + "_4d", name, o, y4, f32(t4))
            add(tag + "_big", name, o, ybig, f32(tbig), extreme=True)
    add("mse_int_target", "mse", {}, y, r.integers(-3, 4, (4, 3)).astype(np.int64))
    add("mse_f64_target", "mse", {}, y, t.astype(np.float64))

    # kl-div: logits against a teacher's probabilities, some exactly 0.
    z = r.normal(0, 2, (4, 5))
    p = torch.softmax(torch.tensor(r.normal(0, 2, (4, 5))), 1).numpy()
    p[0, 1] = 0
    p[0] /= p[0].sum()
    add("kl-div", "kl-div", {}, z, f32(p))
    z3 = r.normal(0, 2, (2, 3, 4))
    p3 = torch.softmax(torch.tensor(r.normal(0, 1, (2, 3, 4))), 1).numpy()
    add("kl-div_spatial", "kl-div", {}, z3, f32(p3))
    zbig = r.choice([-1e4, 1e4, 0.0], (3, 4)) + r.normal(0, 1, (3, 4))
    pbig = torch.softmax(torch.tensor(r.normal(0, 1, (3, 4))), 1).numpy()
    add("kl-div_big", "kl-div", {}, zbig, f32(pbig), extreme=True)
    onehot = np.eye(4)[[0, 3, 1]]  # hard teacher: only one class per row has mass
    add("kl-div_onehot", "kl-div", {}, zbig, f32(onehot), extreme=True)

    # triplet: [N, 3, D] and [3N, D]; margins that leave some triplets inactive and one that
    # makes all active.
    e3 = r.normal(0, 1, (5, 3, 6))
    e3[4, 1] = e3[4, 0]  # positive equal to the anchor: distance eps*sqrt(D)
    zeros = np.zeros(5, np.float32)
    for o in [{}, {"margin": 0.5}, {"margin": 5.0}, {"margin": 0.0}]:
        tag = "triplet" + "".join("_%s%g" % kv for kv in o.items())
        add(tag, "triplet", o, e3, zeros)
        add(tag + "_stacked", "triplet", o, e3.transpose(1, 0, 2).reshape(15, 6), zeros)
    ebig = r.normal(0, 1, (4, 3, 5)) * 1e4
    add("triplet_big", "triplet", {"margin": 1e5}, ebig, np.zeros(4, np.float32), extreme=True)

    # contrastive: pairs, float and int similarity targets.
    e2 = r.normal(0, 0.6, (6, 2, 4))
    e2[5, 1] = e2[5, 0]  # a pair at distance 0
    s = np.array([1, 0, 1, 0, 0, 0], np.float32)
    for o in [{}, {"margin": 2.0}, {"margin": 0.3}]:
        tag = "contrastive" + "".join("_%s%g" % kv for kv in o.items())
        add(tag, "contrastive", o, e2, s)
        add(tag + "_stacked", "contrastive", o, e2.transpose(1, 0, 2).reshape(12, 4), s)
    add("contrastive_int", "contrastive", {}, e2, s.astype(np.int64))
    add("contrastive_col", "contrastive", {}, e2, s.reshape(6, 1))
    e2big = r.normal(0, 1, (4, 2, 3)) * 1e4
    add("contrastive_big", "contrastive", {"margin": 3e4}, e2big, np.array([1, 0, 1, 0], np.float32), extreme=True)

    # wasserstein: critic scores [N] and [N, 1].
    c = r.normal(0, 1, (6,))
    lab = np.array([1, -1, 1, -1, -1, 1], np.float32)
    add("wasserstein", "wasserstein", {}, c, lab)
    add("wasserstein_col", "wasserstein", {}, c.reshape(6, 1), lab)
    add("wasserstein_col2", "wasserstein", {}, c.reshape(6, 1), lab.reshape(6, 1))
    add("wasserstein_int", "wasserstein", {}, c, lab.astype(np.int64))
    add("wasserstein_big", "wasserstein", {}, c * 1e4, lab, extreme=True)
    return out


def spec_string(name, opts):
    if not opts:
        return name
    return name + "(" + ",".join("%s=%s" % (k, repr(float(v))) for k, v in opts.items()) + ")"


def reference(name, opts, y, t):
    """mean, grad_mean, sum, grad_sum and none from float64 autograd; mean32 and grad_mean32
    from float32 autograd, as a user of the float32 model would get them."""
    fn = LOSSES[name](opts)
    d = {}
    for dtype, sfx in [(torch.float64, ""), (torch.float32, "32")]:
        tt = torch.tensor(t)
        if tt.is_floating_point():
            tt = tt.to(dtype)
        for red in ["mean", "sum"] if sfx == "" else ["mean"]:
            yy = torch.tensor(y, dtype=dtype, requires_grad=True)
            v = fn(yy, tt, red)
            v.backward()
            d[red + sfx] = np.array(v.item())
            d["grad_" + red + sfx] = yy.grad.numpy().copy()
        if sfx == "":
            with torch.no_grad():
                d["none"] = fn(torch.tensor(y, dtype=dtype), tt, "none").numpy().copy()
    return d


# ---------------------------------------------------------------------------------------------
# l2 and SGD's weight decay


def l2_case(arrays):
    r = rng(7)
    ws = {"conv.weight": f32(r.normal(0, 1, (4, 2, 3, 3))), "fc.bias": f32(r.normal(0, 1, (5,)))}
    params = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in ws.items()}
    pen = 0.5 * sum(p.pow(2).sum() for p in params.values())
    pen.backward()
    arrays["l2/loss"] = np.array(pen.item())
    for k, v in ws.items():
        arrays["l2/w/" + k] = v
        arrays["l2/grad/" + k] = params[k].grad.numpy().copy()

    # The contract of l2: SGD(weight_decay=wd) on a loss == SGD on loss + wd*l2.
    wd, lr = 1e-2, 0.1
    x = torch.tensor(r.normal(0, 1, (3, 5)))
    a = torch.nn.Linear(5, 2).double()
    b = torch.nn.Linear(5, 2).double()
    b.load_state_dict(a.state_dict())
    oa = torch.optim.SGD(a.parameters(), lr=lr, weight_decay=wd)
    ob = torch.optim.SGD(b.parameters(), lr=lr)
    a(x).pow(2).mean().backward()
    (b(x).pow(2).mean() + wd * 0.5 * sum(p.pow(2).sum() for p in b.parameters())).backward()
    oa.step()
    ob.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.allclose(pa, pb, rtol=0, atol=1e-15), "SGD weight_decay != loss + wd*l2"


def l1_case(arrays):
    """l1 = sum |w|, with exact zeros among the weights: torch.abs's gradient there is 0."""
    r = rng(8)
    w = f32(r.normal(0, 1, (3, 4)))
    w[0, 1] = w[2, 3] = 0
    ws = {"fc.weight": w, "fc.bias": f32(np.array([0.5, 0, -2]))}
    params = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in ws.items()}
    pen = sum(p.abs().sum() for p in params.values())
    pen.backward()
    arrays["l1/loss"] = np.array(pen.item())
    for k, v in ws.items():
        arrays["l1/w/" + k] = v
        arrays["l1/grad/" + k] = params[k].grad.numpy().copy()


# ---------------------------------------------------------------------------------------------
# expressions over the two-headed fixture


def two_heads(arrays):
    models = os.path.join(ROOT, "testdata", "models")
    m = onnx.load(os.path.join(models, "two_heads.onnx"))
    inits = {i.name: torch.tensor(onnx.numpy_helper.to_array(i).copy()) for i in m.graph.initializer}
    th = gen.TwoHeads().eval()
    state = th.state_dict()
    assert set(state) <= set(inits), sorted(set(state) - set(inits))
    th.load_state_dict({k: inits[k] for k in state})
    x = torch.tensor(np.load(os.path.join(models, "two_heads.io.npz"))["x"])
    r = rng(11)
    targets = {
        "logits": r.integers(0, 5, (2,)).astype(np.int64),
        "box": f32(r.normal(0, 1, (2, 4))),
        "logits_float": f32(r.normal(0, 1, (2, 5))),
    }
    for k, v in targets.items():
        arrays["two_heads/target_" + k] = v
    t = {k: torch.tensor(v) for k, v in targets.items()}

    def l2():
        return 0.5 * sum(p.pow(2).sum() for p in th.parameters())

    cw = [0.5, 1.0, 2.0, 1.0, 3.0]
    cases = [
        ("ce_huber", "cross-entropy@logits + 0.5*huber(delta=1)@box", None,
         {"logits": "logits", "box": "box"},
         lambda lo, bo: F.cross_entropy(lo, t["logits"]) + 0.5 * F.huber_loss(bo, t["box"], delta=1.0)),
        ("ce_weighted_l2", "cross-entropy(label_smoothing=0.1)@logits + 0.5*smooth-l1(beta=0.5)@box + 1e-3*l2", cw,
         {"logits": "logits", "box": "box"},
         lambda lo, bo: F.cross_entropy(lo, t["logits"], weight=torch.tensor(cw), label_smoothing=0.1)
         + 0.5 * F.smooth_l1_loss(bo, t["box"], beta=0.5) + 1e-3 * l2()),
        ("same_output", "0.7*mse + 0.3*mae", None, {"logits": "logits_float"},
         lambda lo, bo: 0.7 * F.mse_loss(lo, t["logits_float"]) + 0.3 * F.l1_loss(lo, t["logits_float"])),
    ]
    listing = []
    for key, spec, weights, tmap, fn in cases:
        th.zero_grad()
        lo, bo = th(x)
        v = fn(lo, bo)
        v.backward()
        arrays["two_heads/%s/loss" % key] = np.array(v.item(), np.float32)
        for n, p in th.named_parameters():
            arrays["two_heads/%s/grad/%s" % (key, n)] = p.grad.numpy().copy()
        listing.append({"case": key, "spec": spec, "class_weights": weights, "targets": tmap})
    arrays["two_heads"] = np.frombuffer(json.dumps(listing, indent=0).encode(), np.uint8)


def main():
    arrays = {}
    listing = []
    for key, name, opts, y, t, extreme in cases():
        arrays[key + "/output"] = y
        arrays[key + "/target"] = t
        for k, v in reference(name, opts, y, t).items():
            arrays[key + "/" + k] = v
        listing.append({"name": key, "loss": name, "opts": {k: repr(float(v)) for k, v in opts.items()},
                        "class_weights": None, "spec": spec_string(name, opts), "extreme": extreme})
    arrays["cases"] = np.frombuffer(json.dumps(listing, indent=0).encode(), np.uint8)
    l2_case(arrays)
    l1_case(arrays)
    two_heads(arrays)
    gen.save_npz(OUT, arrays)


if __name__ == "__main__":
    main()
