#!/usr/bin/env bash
# quickstart.sh — from a fresh Debian/Ubuntu machine: install what is missing, build,
# fetch real MNIST digits, train the MLP in one process into runs/quickstart, and
# draw its curves.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh build
bash scripts/fetch_mnist.sh data/mnist
/usr/bin/python3 scripts/export_sklearn_data.py data/tables   # the tables of configs/tabular/
# --overwrite: the quickstart may be run again; its run folder is replaced.
build/bin/train --config configs/mnist_mlp.yaml --set train.run_dir=runs/quickstart --overwrite
/usr/bin/python3 scripts/plot_metrics.py runs/quickstart -o runs/quickstart/curves.png
echo "quickstart: run folder runs/quickstart (config.yaml, metrics.jsonl, TensorBoard events, checkpoints/);"
echo "quickstart: curves in runs/quickstart/curves.png (loss, eval accuracy, samples/s by step and wall time)"
