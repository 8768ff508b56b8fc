#!/usr/bin/python3
"""sklearn_compare.py TRAIN DATA_DIR RUNS [--np N ...] [--mpirun "CMD"] [--table FILE] [--only NAME,...]

Trains flowtrain's premade models, k-means and naive Bayes on the tables of
scripts/export_sklearn_data.py (same rows, same split), fits scikit-learn on the
same standardised rows, and checks:
  linear_classifier  test accuracy within 1 point of LogisticRegression, objective within 1%
  linear_regressor   test R² within 1e-3 of LinearRegression / Ridge
  kmeans             inertia within 1% of KMeans from the same initial centroids;
                     identical assignments on the well-separated blobs
  naive_bayes        per-class means and variances as GaussianNB's (1e-4), same test predictions
  dnn_classifier     test accuracy at least MLPClassifier's with the same layers
Predictions come from `train --predict` on the test table. Prints a markdown
table (wall times of both sides included) and exits 1 if a check fails.
"""
import argparse
import json
import os
import shlex
import struct
import subprocess
import sys
import time

import numpy as np
from sklearn.cluster import KMeans
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.metrics import r2_score
from sklearn.naive_bayes import GaussianNB
from sklearn.neural_network import MLPClassifier


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        blob = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        dt = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64}[v["dtype"]]
        out[k] = np.frombuffer(blob[a:b], dtype=dt).reshape(v["shape"])
    return out


def read_csv(path):
    with open(path) as f:
        names = f.readline().strip().split(",")
    a = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return names, a[:, :-1], a[:, -1]


class Case:
    def __init__(self, name, config, sets, table, kind, ref, check):
        self.name, self.config, self.sets, self.table, self.kind, self.ref, self.check = (
            name, config, sets, table, kind, ref, check)


def run_flowtrain(args, case, np_):
    run_dir = os.path.join(args.runs, f"{case.name}_np{np_}")
    cmd = ([] if np_ == 1 else shlex.split(args.mpirun) + ["-np", str(np_)]) + [
        args.train, "--config", case.config, "--overwrite", "-q",
        "--set", f"data.train_file={args.data}/{case.table}_train.csv",
        "--set", f"data.eval_file={args.data}/{case.table}_test.csv",
        "--set", f"train.run_dir={run_dir}"] + sum([["--set", s] for s in case.sets], [])
    if case.kind not in ("kmeans", "naive_bayes"):
        # full batches: the training rows split over the ranks
        with open(f"{args.data}/{case.table}_train.csv") as f:
            rows = sum(1 for _ in f) - 1
        cmd += ["--set", f"data.batch_size={rows // np_}"]
    t0 = time.time()
    subprocess.run(cmd, check=True)
    wall = time.time() - t0
    ckpt = os.path.join(run_dir, "checkpoints")
    latest = open(os.path.join(ckpt, "latest")).read().strip()
    folder = os.path.join(ckpt, latest)
    preds = os.path.join(run_dir, "test_predictions.csv")
    subprocess.run([args.train, "--predict", run_dir, "--data", f"{args.data}/{case.table}_test.csv",
                    "--out", preds, "-q"], check=True)
    p = json.load(open(os.path.join(folder, "preprocess.json")))
    with open(preds) as f:
        head = f.readline().strip().split(",")
        rows = [line.strip().split(",") for line in f]
    return {"wall": wall, "tensors": read_safetensors(os.path.join(folder, "model.safetensors")), "pre": p,
            "pred_header": head, "pred_rows": rows, "run_dir": run_dir}


def standardised(pre, x):
    x = np.where(np.isnan(x), np.array(pre["fill"]), x)
    return (x - np.array(pre["mean"])) / np.array(pre["scale"])


def logistic_objective(w, b, x, y, l2, l1):
    z = x @ w + b
    if z.shape[1] == 1:
        z = np.hstack([np.zeros_like(z), z])
    z = z - z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1))
    ce = np.mean(lse - z[np.arange(len(y)), y.astype(int)])
    return ce + 0.5 * l2 * np.sum(w * w) + l1 * np.sum(np.abs(w))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("train")
    ap.add_argument("data")
    ap.add_argument("runs")
    ap.add_argument("--np", type=int, action="append")
    ap.add_argument("--mpirun", default="mpirun")
    ap.add_argument("--table")
    ap.add_argument("--only")
    args = ap.parse_args()
    nps = args.np or [1]
    os.makedirs(args.runs, exist_ok=True)
    cfg = "configs/tabular"
    failures, table = [], []

    def data(name):
        _, xtr, ytr = read_csv(f"{args.data}/{name}_train.csv")
        _, xte, yte = read_csv(f"{args.data}/{name}_test.csv")
        return xtr, ytr, xte, yte

    def case_logistic(name, table_name, l2_c=None, l1_c=None):
        def ref(ft):
            xtr, ytr, xte, yte = data(table_name)
            pre = ft["pre"]
            xs, xts = standardised(pre, xtr), standardised(pre, xte)
            n = len(ytr)
            if l1_c:
                m = LogisticRegression(penalty="l1", C=l1_c, solver="saga", max_iter=20000, tol=1e-8)
                l2, l1 = 0.0, 1.0 / (l1_c * n)
            else:
                m = LogisticRegression(C=l2_c, max_iter=20000, tol=1e-10)
                l2, l1 = 1.0 / (l2_c * n), 0.0
            t0 = time.time()
            m.fit(xs, ytr)
            wall = time.time() - t0
            classes = list(m.classes_)
            W = m.coef_.T if len(classes) > 2 else m.coef_.T
            b = m.intercept_
            sk_obj = logistic_objective(W, b, xs, np.searchsorted(classes, ytr), l2, l1)
            w, bb = ft["tensors"]["linear/w"], ft["tensors"]["linear/b"]
            ft_obj = logistic_objective(w.astype(np.float64), bb.astype(np.float64), xs,
                                        np.searchsorted([float(c) for c in pre["classes"]], ytr), l2, l1)
            ft_pred = np.array([float(r[0]) for r in ft["pred_rows"]])
            ft_acc = np.mean(ft_pred == yte)
            sk_acc = m.score(xts, yte)
            ok = abs(ft_acc - sk_acc) <= 0.01 + 1e-12 and abs(ft_obj - sk_obj) <= 0.01 * abs(sk_obj)
            return ok, (f"accuracy {ft_acc:.4f} vs {sk_acc:.4f}; objective {ft_obj:.5f} vs {sk_obj:.5f} "
                        f"({100 * (ft_obj - sk_obj) / sk_obj:+.2f}%)"), wall
        return ref

    def case_regression(name, alpha):
        def ref(ft):
            xtr, ytr, xte, yte = data("diabetes")
            pre = ft["pre"]
            xs, xts = standardised(pre, xtr), standardised(pre, xte)
            m = Ridge(alpha=alpha) if alpha > 0 else LinearRegression()
            t0 = time.time()
            m.fit(xs, ytr)
            wall = time.time() - t0
            sk_r2 = r2_score(yte, m.predict(xts))
            ft_r2 = r2_score(yte, np.array([float(r[0]) for r in ft["pred_rows"]]))
            return abs(ft_r2 - sk_r2) <= 1e-3, f"test R² {ft_r2:.5f} vs {sk_r2:.5f} (Δ {ft_r2 - sk_r2:+.1e})", wall
        return ref

    def case_kmeans(table_name, identical):
        def ref(ft):
            xtr, _, xte, _ = data(table_name)
            init = np.loadtxt(os.path.join(ft["run_dir"], "init_centroids.csv"), delimiter=",", ndmin=2)
            m = KMeans(n_clusters=len(init), init=init, n_init=1, tol=1e-4, max_iter=300, algorithm="lloyd")
            t0 = time.time()
            m.fit(xtr)
            wall = time.time() - t0
            c = ft["tensors"]["kmeans/centroids"].astype(np.float64)
            d = ((xtr[:, None, :] - c[None, :, :]) ** 2).sum(-1)
            ft_inertia = d.min(axis=1).sum()
            ft_assign = np.array([int(r[0]) for r in ft["pred_rows"]])
            same = np.array_equal(ft_assign, m.predict(xte))
            ok = abs(ft_inertia - m.inertia_) <= 0.01 * m.inertia_ and (same or not identical)
            return ok, (f"inertia {ft_inertia:.3f} vs {m.inertia_:.3f} "
                        f"({100 * (ft_inertia - m.inertia_) / m.inertia_:+.3f}%); test assignments "
                        f"{'identical' if same else 'differ'}"), wall
        return ref

    def case_nb(table_name):
        def ref(ft):
            xtr, ytr, xte, yte = data(table_name)
            m = GaussianNB()
            t0 = time.time()
            m.fit(xtr, ytr)
            wall = time.time() - t0
            th, va = ft["tensors"]["naive_bayes/theta"], ft["tensors"]["naive_bayes/var"]
            dt = np.max(np.abs(th - m.theta_) / (np.abs(m.theta_) + 1e-3))
            dv = np.max(np.abs(va - m.var_) / (m.var_))
            ft_pred = np.array([float(r[0]) for r in ft["pred_rows"]])
            agree = np.mean(ft_pred == m.predict(xte))
            ok = dt < 1e-4 and dv < 1e-4 and agree == 1.0
            return ok, (f"means/variances within {max(dt, dv):.1e} (rel.); test accuracy {np.mean(ft_pred == yte):.4f} "
                        f"vs {m.score(xte, yte):.4f}; predictions agree on {100 * agree:.1f}%"), wall
        return ref

    def case_mlp(table_name, layers):
        def ref(ft):
            xtr, ytr, xte, yte = data(table_name)
            pre = ft["pre"]
            xs, xts = standardised(pre, xtr), standardised(pre, xte)
            m = MLPClassifier(hidden_layer_sizes=layers, max_iter=2000, random_state=0)
            t0 = time.time()
            m.fit(xs, ytr)
            wall = time.time() - t0
            sk_acc = m.score(xts, yte)
            ft_acc = np.mean(np.array([float(r[0]) for r in ft["pred_rows"]]) == yte)
            return ft_acc >= sk_acc, f"test accuracy {ft_acc:.4f} vs {sk_acc:.4f}", wall
        return ref

    cases = [
        Case("logreg_binary_l2", f"{cfg}/breast_cancer_linear.yaml", [], "breast_cancer", "linear_classifier",
             case_logistic("logreg_binary_l2", "breast_cancer", l2_c=1.0), None),
        Case("logreg_binary_l1", f"{cfg}/breast_cancer_linear.yaml", ["model.l2=0", "model.l1=0.002347", "train.steps=3000", "optimizer.schedule.min_lr=0.00001"],
             "breast_cancer", "linear_classifier", case_logistic("logreg_binary_l1", "breast_cancer", l1_c=1.0), None),
        Case("logreg_multinomial", f"{cfg}/digits_linear.yaml", [], "digits", "linear_classifier",
             case_logistic("logreg_multinomial", "digits", l2_c=1.0), None),
        Case("linear_regression", f"{cfg}/diabetes_linear.yaml", [], "diabetes", "linear_regressor",
             case_regression("linear_regression", 0.0), None),
        Case("ridge", f"{cfg}/diabetes_linear.yaml", ["model.l2=0.06042"], "diabetes", "linear_regressor",
             case_regression("ridge", 10.0), None),
        Case("kmeans_blobs", f"{cfg}/blobs_kmeans.yaml", [], "blobs", "kmeans", case_kmeans("blobs", True), None),
        Case("kmeans_iris", f"{cfg}/iris_kmeans.yaml", [], "iris", "kmeans", case_kmeans("iris", False), None),
        Case("naive_bayes_iris", f"{cfg}/iris_naive_bayes.yaml", [], "iris", "naive_bayes", case_nb("iris"), None),
        Case("naive_bayes_digits", f"{cfg}/iris_naive_bayes.yaml", [], "digits", "naive_bayes", case_nb("digits"), None),
        Case("dnn_breast_cancer", f"{cfg}/breast_cancer_dnn.yaml", [], "breast_cancer", "dnn_classifier",
             case_mlp("breast_cancer", (64, 32)), None),
    ]
    only = set(args.only.split(",")) if args.only else None
    for case in cases:
        if only and case.name not in only:
            continue
        for np_ in nps:
            ft = run_flowtrain(args, case, np_)
            ok, text, sk_wall = case.ref(ft)
            table.append(f"| {case.name} | {case.kind} | {np_} | {text} | {ft['wall']:.2f} s | {sk_wall:.2f} s | "
                         f"{'pass' if ok else 'FAIL'} |")
            print(f"sklearn_compare: {case.name} np {np_}: {'pass' if ok else 'FAIL'}: {text}", flush=True)
            if not ok:
                failures.append(f"{case.name} np {np_}")
    out = ["| case | model | ranks | flowtrain vs scikit-learn | flowtrain wall | sklearn fit | |",
           "| --- | --- | --- | --- | --- | --- | --- |"] + table
    print("\n".join(out))
    if args.table:
        with open(args.table, "w") as f:
            f.write("\n".join(out) + "\n")
    if failures:
        sys.exit("sklearn_compare: failed: " + ", ".join(failures))


if __name__ == "__main__":
    main()
