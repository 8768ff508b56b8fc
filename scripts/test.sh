#!/usr/bin/env bash
# test.sh — installs what is missing, builds, fetches the data the training tests use,
# and runs the whole test suite (unit tests, gradient checks, multi-rank tests under mpirun).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh build
bash scripts/fetch_mnist.sh data/mnist
[ -x scripts/fetch_text.sh ] && bash scripts/fetch_text.sh data/text
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ctest --test-dir build --output-on-failure -j1 "$@"
