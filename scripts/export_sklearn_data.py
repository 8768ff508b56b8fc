#!/usr/bin/python3
"""export_sklearn_data.py DIR — the tables scikit-learn ships (Debian python3-sklearn)
as CSV files for flowtrain's csv dataset: iris, breast_cancer, digits, diabetes, and
blobs (three well-separated Gaussian clusters, for k-means).

For each NAME it writes DIR/NAME_train.csv and DIR/NAME_test.csv: a header of
feature names and `target`, then one row per example, split 75/25 by
train_test_split(random_state=0), stratified for the classification sets. The
split is fixed, so flowtrain and scikit-learn see the same rows. Also
DIR/digits_train.libsvm / digits_test.libsvm (the same rows, sparse).
"""
import os
import re
import sys

import numpy as np
from sklearn import datasets
from sklearn.model_selection import train_test_split


def clean(name):
    return re.sub(r"[^0-9A-Za-z_]+", "_", str(name)).strip("_")


def write_csv(path, names, x, y):
    with open(path, "w") as f:
        f.write(",".join(names + ["target"]) + "\n")
        for row, t in zip(x, y):
            f.write(",".join(repr(float(v)) for v in row) + "," + (str(int(t)) if float(t).is_integer() else repr(float(t))) + "\n")


def write_libsvm(path, x, y):
    with open(path, "w") as f:
        for row, t in zip(x, y):
            cells = [f"{j + 1}:{float(v)!r}" for j, v in enumerate(row) if v != 0]
            f.write(" ".join([str(int(t))] + cells) + "\n")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: export_sklearn_data.py DIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    sets = {
        "iris": (datasets.load_iris(), True),
        "breast_cancer": (datasets.load_breast_cancer(), True),
        "digits": (datasets.load_digits(), True),
        "diabetes": (datasets.load_diabetes(scaled=False), False),
    }
    for name, (d, classify) in sets.items():
        names = [clean(n) for n in d.feature_names]
        xtr, xte, ytr, yte = train_test_split(d.data, d.target, test_size=0.25, random_state=0,
                                              stratify=d.target if classify else None)
        write_csv(os.path.join(out, f"{name}_train.csv"), names, xtr, ytr)
        write_csv(os.path.join(out, f"{name}_test.csv"), names, xte, yte)
        if name == "digits":
            write_libsvm(os.path.join(out, "digits_train.libsvm"), xtr, ytr)
            write_libsvm(os.path.join(out, "digits_test.libsvm"), xte, yte)
    x, y = datasets.make_blobs(n_samples=600, centers=[[0, 0, 0], [8, 8, 0], [0, 8, 8]], cluster_std=1.0,
                               random_state=0)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.25, random_state=0)
    write_csv(os.path.join(out, "blobs_train.csv"), ["x0", "x1", "x2"], xtr, ytr)
    write_csv(os.path.join(out, "blobs_test.csv"), ["x0", "x1", "x2"], xte, yte)
    print(f"export_sklearn_data: iris, breast_cancer, digits, diabetes, blobs -> {out}")


if __name__ == "__main__":
    main()
