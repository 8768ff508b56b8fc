#!/usr/bin/env bash
# quickstart.sh — from a fresh Debian/Ubuntu machine: install what is missing, build,
# fetch real MNIST digits and train the MLP in one process (then the same on 2 ranks).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh build
bash scripts/fetch_mnist.sh data/mnist
mkdir -p runs
build/bin/train --config configs/mnist_mlp.yaml --set train.metrics_file=runs/quickstart/metrics.jsonl
echo "quickstart: metrics in runs/quickstart/metrics.jsonl"
