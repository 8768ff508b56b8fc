#!/usr/bin/env python3
"""plot_scale.py — draws scale_plan's predictions (scale_plan --json FILE) into one PNG.

Usage: plot_scale.py PLAN.json [PLAN.json...] [-o scale.png] [--title T]

Each PLAN.json is what `scale_plan --json` wrote: config, cluster, mode and rows
of ranks, step_ms, compute_ms, exposed_ms, efficiency, samples_per_sec,
memory_mib. A plan is labelled "config or model file: cluster (mode)". The figure has three panels
against the rank count (log 2): efficiency, samples/s (log), and the step split
into compute and exposed communication.

Exit status: 0 when the PNG is written; 1 for a missing or unreadable file or a
plan without rows. The last line printed is "plot_scale: wrote FILE (N plans)".
"""
import argparse
import json
import sys

PROG = "plot_scale"


def fail(msg):
    print(f"{PROG}: {msg}", file=sys.stderr)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser(prog=PROG, description="draw scale_plan --json output")
    ap.add_argument("plans", nargs="+")
    ap.add_argument("-o", "--output", default="scale.png")
    ap.add_argument("--title", default="")
    a = ap.parse_args()
    plans = []
    for path in a.plans:
        try:
            with open(path) as f:
                p = json.load(f)
        except OSError as e:
            fail(f"{path}: {e.strerror}")
        except json.JSONDecodeError as e:
            fail(f"{path}:{e.lineno}: not valid JSON ({e.msg})")
        if not p.get("rows"):
            fail(f"{path}: no rows (did scale_plan print any rank count?)")
        plans.append(p)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(15, 4.5))
    for p in plans:
        src = p.get("config", "").rsplit("/", 1)[-1].removesuffix(".yaml")
        label = f"{src + ': ' if src else ''}{p['cluster']} ({p['mode']})"
        r = [row["ranks"] for row in p["rows"]]
        ax[0].plot(r, [100 * row["efficiency"] for row in p["rows"]], marker="o", label=label)
        ax[1].plot(r, [row["samples_per_sec"] for row in p["rows"]], marker="o", label=label)
        line, = ax[2].plot(r, [row["step_ms"] for row in p["rows"]], marker="o", label=f"{label}: step")
        ax[2].plot(r, [row["compute_ms"] for row in p["rows"]], linestyle="--", color=line.get_color(),
                   label=f"{label}: compute")
    ax[0].set_ylabel("scaling efficiency, %")
    ax[0].set_ylim(0, 105)
    ax[1].set_ylabel("samples/s (global)")
    ax[1].set_yscale("log")
    ax[2].set_ylabel("ms per step")
    ax[2].set_yscale("log")
    for x in ax:
        x.set_xscale("log", base=2)
        x.set_xlabel("ranks")
        x.grid(True, alpha=0.3)
    ax[0].legend(fontsize=8)
    ax[2].legend(fontsize=6, loc="upper left")
    fig.suptitle(a.title or f"scale_plan: {plans[0]['config']}")
    fig.tight_layout()
    fig.savefig(a.output, dpi=110)
    print(f"{PROG}: wrote {a.output} ({len(plans)} plans)")


if __name__ == "__main__":
    main()
