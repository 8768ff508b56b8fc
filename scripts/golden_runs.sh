#!/usr/bin/env bash
# golden_runs.sh OUT [BUILD] — fixed short runs whose every logged loss is written to
# OUT/<run>.txt (one "step loss" line per log step, printed with 17 digits).
# Two builds of the same machine give bit-identical files when a change keeps the
# numbers: `scripts/golden_runs.sh /tmp/before && ... && scripts/golden_runs.sh /tmp/after
# && diff -r /tmp/before /tmp/after`. Needs data/mnist and data/text.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$1
build=${2:-build}
T=$build/bin/train
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPI=(mpirun --oversubscribe --bind-to none)
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run() {  # run NAME NP ARGS...
  local name=$1 np=$2
  shift 2
  local cmd=("$T" "$@" --set train.run_dir="$work/$name" --overwrite --set train.metrics_file="$work/$name.jsonl" --set train.checkpoint.enabled=false)
  [ "$np" -gt 1 ] && cmd=("${MPI[@]}" -np "$np" "${cmd[@]}")
  "${cmd[@]}" >"$work/$name.log" 2>&1 || { cat "$work/$name.log"; echo "golden_runs: $name failed" >&2; exit 1; }
  python3 - "$work/$name.jsonl" >"$out/$name.txt" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    tag = "eval" if "eval" in r else "train"
    print(tag, r["step"], repr(r["loss"]), repr(r.get("accuracy", "")))
EOF
  echo "golden_runs: $name: $(wc -l <"$out/$name.txt") records"
}

MLP=(--config configs/mnist_mlp.yaml --set train.steps=200 --set train.log_every=10 --set train.eval_every=100
     --set optimizer.schedule.warmup=20)
run mlp_np1 1 "${MLP[@]}"
run mlp_np2 2 "${MLP[@]}" --set distributed.mode=allreduce-sync
run cnn_np1 1 --config configs/mnist_cnn.yaml --set train.steps=40 --set train.log_every=5 --set train.eval_every=0 \
  --set data.eval_examples=500 --set optimizer.schedule.warmup=5
BERT=(--config configs/bert_tiny.yaml --set train.steps=30 --set train.log_every=5 --set train.eval_every=0
      --set data.eval_examples=64 --set optimizer.schedule.warmup=5)
run bert_np2 2 "${BERT[@]}"
# ps-async with one worker (two servers) has one order of updates, so it is reproducible.
run bert_ps_async_np3 3 "${BERT[@]}" --set distributed.mode=ps-async --set distributed.ps.servers=2
DET=(--config configs/mnist_mlp.yaml --set train.steps=60 --set train.log_every=10 --set train.eval_every=0
     --set distributed.deterministic=true --set optimizer.schedule.warmup=10)
run det_np1 1 "${DET[@]}" --set data.batch_size=128
run det_np2 2 "${DET[@]}" --set data.batch_size=64
run det_np4 4 "${DET[@]}" --set data.batch_size=32
