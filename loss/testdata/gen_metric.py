"""PyTorch references for onnxtune's in-batch metric-learning losses: triplet and contrastive
on [N, D] embeddings with class-index targets, as pytorch-metric-learning (PML) 2.x defines
them. PML is not installable here, so its formulas are written out below, in float64 with
torch autograd:

  distances  LpDistance(normalize_embeddings=True, p=2): the rows L2-normalised
             (F.normalize, eps 1e-12), then torch.cdist without the matmul shortcut (its
             gradient at a zero distance is 0); CosineSimilarity: normalised rows' dot
             products, a similarity (larger is closer: PML's is_inverted).
  triplet    TripletMarginLoss(margin): relu(d_ap - d_an + margin) (cosine: s_an - s_ap +
             margin) over the mined triplets, reduced by AvgNonZeroReducer (the mean of the
             positive losses, 0 with a zero gradient when there is none).
             mining=all: every (a, p, n) with label a = label p, a != p, label n != label a.
             mining=batch-hard: BatchHardMiner, per anchor with a positive and a negative the
             farthest positive and the nearest negative (cosine: least and most similar).
             mining=semi-hard: TripletMarginMiner(margin, "semihard"), the triplets with
             0 < d_an - d_ap <= margin (cosine: 0 < s_ap - s_an <= margin).
  contrastive ContrastiveLoss(pos_margin, neg_margin): over all ordered pairs, relu(d -
             pos_margin) for same-class pairs and relu(neg_margin - d) for others (cosine:
             relu(pos_margin - s), relu(s - neg_margin)), each set reduced by AvgNonZeroReducer
             and the two added.

Each case stores its output (float32 [N, D]), target (int64 [N]), the loss and its gradient
with respect to the output; "cases" lists them with the loss expression onnxtune reads.
Batches include a class of one example, and batches with no valid triplet or pair.
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
import gen  # noqa: E402  (the deterministic save_npz)

OUT = os.path.join(HERE, "metric.npz")


def matrix(x, distance):
    u = F.normalize(x, p=2, dim=1, eps=1e-12)
    if distance == "cosine":
        return u @ u.T
    return torch.cdist(u.unsqueeze(0), u.unsqueeze(0), p=2, compute_mode="donot_use_mm_for_euclid_dist")[0]


def avg_nonzero(losses):
    pos = losses > 0
    if pos.sum() == 0:
        return torch.sum(losses * 0)
    return losses[pos].sum() / pos.sum()


def triplets(labels):
    n = len(labels)
    return [(a, p, q) for a in range(n) for p in range(n) for q in range(n)
            if a != p and labels[a] == labels[p] and labels[q] != labels[a]]


def triplet(x, labels, margin, mining, distance):
    mat = matrix(x, distance)
    inverted = distance == "cosine"
    m = mat.detach()
    if mining == "batch-hard":
        chosen = []
        for a in range(len(labels)):
            pos = [p for p in range(len(labels)) if p != a and labels[p] == labels[a]]
            neg = [q for q in range(len(labels)) if labels[q] != labels[a]]
            if not pos or not neg:
                continue
            p = (min if inverted else max)(pos, key=lambda j: m[a, j].item())
            q = (max if inverted else min)(neg, key=lambda j: m[a, j].item())
            chosen.append((a, p, q))
    else:
        chosen = triplets(labels)
        if mining == "semi-hard":
            def gap(t):
                a, p, q = t
                return (m[a, p] - m[a, q]).item() if inverted else (m[a, q] - m[a, p]).item()
            chosen = [t for t in chosen if 0 < gap(t) <= margin]
    if not chosen:
        return torch.sum(x * 0)
    a, p, q = (torch.tensor(c) for c in zip(*chosen))
    ap, an = mat[a, p], mat[a, q]
    v = (an - ap if inverted else ap - an) + margin
    return avg_nonzero(F.relu(v))


def contrastive(x, labels, pos_margin, neg_margin, distance):
    mat = matrix(x, distance)
    n = len(labels)
    pos = [(i, j) for i in range(n) for j in range(n) if i != j and labels[i] == labels[j]]
    neg = [(i, j) for i in range(n) for j in range(n) if labels[i] != labels[j]]
    total = torch.sum(x * 0)
    inverted = distance == "cosine"
    for pairs, margin, is_pos in ((pos, pos_margin, True), (neg, neg_margin, False)):
        if not pairs:
            continue
        i, j = (torch.tensor(c) for c in zip(*pairs))
        d = mat[i, j]
        if is_pos:
            v = margin - d if inverted else d - margin
        else:
            v = d - margin if inverted else margin - d
        total = total + avg_nonzero(F.relu(v))
    return total


def main():
    r = np.random.default_rng(15)
    batches = {
        # 9 examples, 3 classes and a class of one (label 3)
        "mixed": (r.normal(0, 1, (9, 5)), np.array([0, 1, 2, 0, 1, 2, 0, 1, 3])),
        # one class only: no negatives, so no triplet and no negative pair
        "one_class": (r.normal(0, 1, (4, 3)), np.array([2, 2, 2, 2])),
        # every example its own class: no positives
        "singletons": (r.normal(0, 1, (4, 3)), np.array([0, 1, 2, 3])),
        # two equal rows: a zero distance
        "duplicate": (np.concatenate([np.ones((2, 4)), r.normal(0, 1, (4, 4))]), np.array([0, 0, 1, 1, 0, 1])),
    }
    arrays, listing = {}, []

    def add(key, spec, x, labels, fn):
        xt = torch.tensor(x.astype(np.float32).astype(np.float64), requires_grad=True)
        v = fn(xt)
        v.backward()
        arrays[key + "/output"] = x.astype(np.float32)
        arrays[key + "/target"] = labels.astype(np.int64)
        arrays[key + "/loss"] = np.array(v.item())
        arrays[key + "/grad"] = xt.grad.numpy().copy()
        listing.append({"case": key, "spec": spec})

    for bname, (x, labels) in batches.items():
        lab = labels.tolist()
        for distance in ("euclidean", "cosine"):
            for mining in ("all", "batch-hard", "semi-hard"):
                for margin in (0.2, 1.0):
                    add("%s/triplet_%s_%s_%g" % (bname, mining, distance, margin),
                        "triplet(margin=%g,mining=%s,distance=%s)" % (margin, mining, distance), x, labels,
                        lambda xt: triplet(xt, lab, margin, mining, distance))
            for pm, nm in ((0.0, 1.0), (0.3, 0.8)):
                add("%s/contrastive_%s_%g_%g" % (bname, distance, pm, nm),
                    "contrastive(pos_margin=%g,neg_margin=%g,distance=%s)" % (pm, nm, distance), x, labels,
                    lambda xt: contrastive(xt, lab, pm, nm, distance))
    arrays["cases"] = np.frombuffer(json.dumps(listing, indent=0).encode(), np.uint8)
    gen.save_npz(OUT, arrays)


if __name__ == "__main__":
    main()
