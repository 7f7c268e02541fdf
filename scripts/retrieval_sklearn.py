"""eval --retrieval's metrics computed independently, with scikit-learn's NearestNeighbors.

    /usr/bin/python3 scripts/retrieval_sklearn.py QUERY.npy QUERY_LABELS.npy [GALLERY.npy GALLERY_LABELS.npy]

Prints one JSON object: precision_at_1, recall_at_5, map_at_r, knn_accuracy (k = 5) and
queries, as pytorch-metric-learning's AccuracyCalculator defines them, with Euclidean
brute-force neighbours: leave-one-out when no gallery is given (kneighbors() without X leaves
each point out), else each query against the gallery. A query whose class has no other
example in the reference set is skipped. cmd/onnxtune's retrieval tests and
scripts/embedding.sh check onnxtune eval --retrieval against it.
"""
import json
import sys

import numpy as np
from sklearn.neighbors import NearestNeighbors

q, ql = np.load(sys.argv[1]).astype(np.float64), np.load(sys.argv[2])
q = q.reshape(len(q), -1)
loo = len(sys.argv) == 3
r, rl = (q, ql) if loo else (np.load(sys.argv[3]).astype(np.float64), np.load(sys.argv[4]))
r = r.reshape(len(r), -1)
k = len(r) - 1 if loo else len(r)
nn = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(r)
idx = nn.kneighbors(return_distance=False) if loo else nn.kneighbors(q, return_distance=False)
p1 = r5 = mapr = knn = 0.0
n = 0
for i, row in enumerate(idx):
    rel = int(np.sum(rl == ql[i])) - (1 if loo else 0)
    if rel <= 0:
        continue
    n += 1
    hits = rl[row] == ql[i]
    p1 += hits[0]
    r5 += hits[:5].any()
    prec = np.cumsum(hits[:rel]) / np.arange(1, rel + 1)
    mapr += np.sum(prec * hits[:rel]) / rel
    vals, counts = np.unique(rl[row[:5]], return_counts=True)
    knn += vals[np.argmax(counts)] == ql[i]
print(json.dumps({"precision_at_1": p1 / n, "recall_at_5": r5 / n, "map_at_r": mapr / n, "knn_accuracy": knn / n, "queries": n}))
