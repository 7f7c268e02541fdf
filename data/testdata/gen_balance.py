"""Writes balance.json, the scikit-learn references data/balance_test.go checks
BalancedClassWeights against.

Run from this directory with /usr/bin/python3 (scikit-learn 1.2.1 and numpy 1.24.2 made the
committed file):

    /usr/bin/python3 gen_balance.py

Each case is a label vector y and a class count C, with the weights
compute_class_weight("balanced", classes=np.arange(C), y=y) returns, or, where scikit-learn
refuses the labels, its error message (the Go function must fail too).
"""

import json

import numpy as np
from sklearn.utils.class_weight import compute_class_weight


def cases():
    rng = np.random.default_rng(20240611)
    # 900 of class 0 and 100 of class 1, shuffled.
    yield "900:100", 2, rng.permutation(np.repeat([0, 1], [900, 100]))
    # Three classes 1:3:6.
    yield "1:3:6", 3, rng.permutation(np.repeat([0, 1, 2], [10, 30, 60]))
    # Counts 1, 2, 4 of 7: weights 7/3, 7/6, 7/12, none exact in binary.
    yield "1:2:4", 3, np.array([2, 1, 2, 0, 2, 1, 2])
    # Already balanced: every weight 1.
    yield "balanced", 4, np.tile(np.arange(4), 5)
    # One class.
    yield "one class", 1, np.zeros(5, dtype=np.int64)
    # Ten classes drawn at random, every class present.
    y = np.concatenate([np.arange(10), rng.integers(0, 10, size=87)])
    yield "10 random", 10, rng.permutation(y)
    # Refused: class 3 has no example.
    yield "missing class", 4, np.array([0, 1, 2, 2, 1, 0])
    # Refused: label 3 is not a class index.
    yield "label out of range", 3, np.array([0, 1, 2, 3])
    # Refused: the ignore index -100 is not a class index.
    yield "ignore index", 2, np.array([0, 1, -100, 1])


def main():
    out = []
    for name, classes, y in cases():
        case = {"name": name, "classes": classes, "labels": [int(v) for v in y]}
        try:
            w = compute_class_weight("balanced", classes=np.arange(classes), y=y)
            case["weights"] = [float(v) for v in w]
        except ValueError as e:
            case["error"] = str(e)
        out.append(case)
    # One case a line, so that a change to one case is a one-line diff.
    with open("balance.json", "w") as f:
        f.write("[\n" + ",\n".join(json.dumps(c) for c in out) + "\n]\n")


if __name__ == "__main__":
    main()
