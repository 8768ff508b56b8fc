#!/usr/bin/env bash
# two_hosts_bench.sh — allreduce-sync on the MNIST MLP across the two hosts of
# scripts/two_hosts.sh against one host: global samples/s of np 2 on one host,
# np 4 on one host, and np 4 over two hosts (2 ranks each, TCP between them),
# 1 thread per rank, per-rank batch unchanged. samples/s is the median of the
# 50-step intervals after step 100 (warm-up excluded); REPS runs each,
# interleaved (this host is shared). Prints a markdown table. Needs root.
#
#   bench/two_hosts_bench.sh [BUILD_DIR] [STEPS] [REPS]      (defaults: build 600 2)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}; STEPS=${2:-600}; REPS=${3:-2}
TRAIN=$BUILD/bin/train
[ -x "$TRAIN" ] || { echo "no $TRAIN: build first (scripts/build.sh $BUILD)"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
OUT=$(mktemp -d /tmp/two_hosts_bench.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
COMMON="--config configs/mnist_mlp.yaml --set train.steps=$STEPS --set train.log_every=50 --set train.eval_every=0"
COMMON="$COMMON --set train.checkpoint.enabled=false --set train.threads=1 --overwrite -q"
rate() {
  python3 - "$1" <<'PY'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
v = sorted(x["samples_per_sec"] for x in r if "samples_per_sec" in x and x["step"] > 100)
print("%.0f" % v[len(v) // 2] if v else "nan")
PY
}
declare -a A B C
for _ in $(seq "$REPS"); do
  mpirun -np 2 --bind-to none $TRAIN $COMMON --set train.run_dir="$OUT/np2" >/dev/null
  A+=("$(rate "$OUT/np2/metrics.jsonl")")
  mpirun -np 4 --oversubscribe --bind-to none $TRAIN $COMMON --set train.run_dir="$OUT/np4" >/dev/null
  B+=("$(rate "$OUT/np4/metrics.jsonl")")
  bash scripts/two_hosts.sh -- sh -c "\$FT_MPIRUN -np 4 $TRAIN $COMMON --set train.run_dir=$OUT/np4x2 >/dev/null"
  C+=("$(rate "$OUT/np4x2/metrics.jsonl")")
done
echo "| job | samples/s (each run) |"
echo "| --- | --- |"
echo "| np 2, one host | ${A[*]} |"
echo "| np 4, one host | ${B[*]} |"
echo "| np 4, two hosts (2 + 2, TCP) | ${C[*]} |"
