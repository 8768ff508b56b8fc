#!/usr/bin/env python3
"""plot_metrics.py — draws the training curves of one or more runs into one PNG.

Usage: plot_metrics.py RUN_DIR [RUN_DIR...] [-o curves.png] [--title T]

Each RUN_DIR holds metrics.jsonl, one JSON object per line: training records
(step, loss, samples_per_sec, wall_time, ...) and evaluation records
("eval": "test", step, loss, optionally accuracy, wall_time). A run is labelled
with its folder's base name.

The figure is a 2x3 grid: training loss, eval accuracy (eval loss where no run
has an accuracy) and samples/s, first against the step, then against wall time
in minutes since the run's first record. A loss axis whose range spans more
than two decades is drawn log-scale. A run without wall_time is left out of the
wall-time panels, with a note on stderr.

Exit status: 0 when the PNG is written; 1 for a missing RUN_DIR or metrics
file, a line that is not valid JSON (named by file and line number), or no
records at all. The last line printed is
"plot_metrics: wrote FILE (N runs, M points)", M counting the records plotted.
"""
import argparse
import json
import math
import os
import sys

PROG = "plot_metrics"


def fail(msg):
    print(f"{PROG}: {msg}", file=sys.stderr)
    sys.exit(1)


def note(msg):
    print(f"{PROG}: note: {msg}", file=sys.stderr)


def num(v):
    """v as a finite float, or None (absent, null, NaN, not a number)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


class Run:
    def __init__(self, label, path):
        self.label = label
        self.path = path
        self.train = []  # training records, file order
        self.evals = []  # "eval": "test" records, file order
        self.t0 = None  # wall_time of the first record that has one

    def minutes(self, rec):
        t = num(rec.get("wall_time"))
        if t is None or self.t0 is None:
            return None
        return (t - self.t0) / 60.0


def load_run(run_dir):
    if not os.path.isdir(run_dir):
        fail(f"{run_dir}: no such run directory")
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.isfile(path):
        fail(f"{path}: no metrics file")
    run = Run(os.path.basename(os.path.normpath(run_dir)), path)
    try:
        f = open(path, encoding="utf-8")
    except OSError as e:
        fail(f"{path}: cannot read: {e.strerror}")
    with f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line.strip())
            except json.JSONDecodeError as e:
                fail(f"{path}:{lineno}: not valid JSON: {e.msg} (column {e.colno})")
            if not isinstance(rec, dict):
                fail(f"{path}:{lineno}: not a JSON object")
            if run.t0 is None and num(rec.get("wall_time")) is not None:
                run.t0 = num(rec["wall_time"])
            if "eval" in rec:
                if rec["eval"] == "test":
                    run.evals.append(rec)
            else:
                run.train.append(rec)
    if run.t0 is not None:
        # The window starts at the earliest record (first in file order, normally).
        run.t0 = min(num(r.get("wall_time")) for r in run.train + run.evals
                     if num(r.get("wall_time")) is not None)
    return run


def series(records, xfn, yfield, scale=1.0):
    xs, ys = [], []
    for r in records:
        x, y = xfn(r), num(r.get(yfield))
        if x is None or y is None:
            continue
        xs.append(x)
        ys.append(y * scale)
    return xs, ys


def decide_log(ax, all_ys):
    pos = [y for y in all_ys if y > 0]
    if pos and len(pos) == len(all_ys) and max(pos) / min(pos) > 100:
        ax.set_yscale("log")


def main():
    ap = argparse.ArgumentParser(prog=PROG, description="Plot the metrics.jsonl of runs into one PNG.")
    ap.add_argument("runs", nargs="+", metavar="RUN_DIR")
    ap.add_argument("-o", "--output", default="curves.png", metavar="PNG")
    ap.add_argument("--title", default=None)
    args = ap.parse_args()

    runs = [load_run(d) for d in args.runs]
    seen = {}
    for r in runs:  # two folders with the same base name: keep the labels apart
        seen[r.label] = seen.get(r.label, 0) + 1
        if seen[r.label] > 1:
            r.label = f"{r.label} ({seen[r.label]})"
    for r in runs:
        if not r.train and not r.evals:
            note(f"{r.path}: no records")
    if not any(r.train or r.evals for r in runs):
        fail("no records in any run")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    use_acc = any(num(e.get("accuracy")) is not None for r in runs for e in r.evals)
    if use_acc:
        for r in runs:
            if r.evals and not any(num(e.get("accuracy")) is not None for e in r.evals):
                note(f"{r.label}: eval records have no accuracy; left out of the eval panels")
    eval_field, eval_scale = ("accuracy", 100.0) if use_acc else ("loss", 1.0)
    eval_label = "eval accuracy (%)" if use_acc else "eval loss"

    for r in runs:
        if (r.train or r.evals) and r.t0 is None:
            note(f"{r.label}: no wall_time in {r.path}; left out of the wall-time panels")

    fig, axes = plt.subplots(2, 3, figsize=(18, 10), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    panels = [  # y of each column: records, field, scale, axis label, is a loss, line style
        ("train", "loss", 1.0, "training loss", True, "-"),
        ("evals", eval_field, eval_scale, eval_label, not use_acc, "o-"),
        ("train", "samples_per_sec", 1.0, "throughput (samples/s)", False, "-"),
    ]
    xaxes = [
        (lambda run: (lambda rec: num(rec.get("step"))), "step"),
        (lambda run: run.minutes, "wall time (min since the run's first record)"),
    ]
    points = 0
    for row, (xfn_of, xlabel) in enumerate(xaxes):
        for col, (kind, field, scale, ylabel, is_loss, style) in enumerate(panels):
            ax = axes[row][col]
            all_ys = []
            for i, r in enumerate(runs):
                if row == 1 and r.t0 is None:
                    continue
                xs, ys = series(getattr(r, kind), xfn_of(r), field, scale)
                if not xs:
                    continue
                if row == 0:
                    points += len(xs)
                ax.plot(xs, ys, style, color=colors[i % len(colors)], label=r.label,
                        linewidth=1.4, markersize=3.5)
                all_ys += ys
            if all_ys:
                if is_loss:
                    decide_log(ax, all_ys)
                ax.legend(fontsize="small")
            else:
                ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="gray")
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.set_title(f"{ylabel.split(' (')[0]} vs {'step' if row == 0 else 'wall time'}")
            ax.grid(True, which="major", alpha=0.4)
            if ax.get_yscale() == "log":
                ax.grid(True, which="minor", alpha=0.15)

    fig.suptitle(args.title if args.title else ", ".join(r.label for r in runs), fontsize=14)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    try:
        fig.savefig(args.output, dpi=100)
    except OSError as e:
        fail(f"{args.output}: cannot write: {e.strerror or e}")
    plt.close(fig)
    print(f"{PROG}: wrote {args.output} ({len(runs)} runs, {points} points)")


if __name__ == "__main__":
    main()
