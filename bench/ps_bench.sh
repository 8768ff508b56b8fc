#!/usr/bin/env bash
# ps_bench.sh — parameter servers vs allreduce on the MNIST MLP: steps/s of the chief
# worker for allreduce-sync, ps-sync and ps-async (staleness 4 and unbounded) with 2
# workers, then again with the other worker slowed by debug.slow_ms per step; and the
# bytes each server receives and sends per training step. Prints a markdown table.
#
#   bench/ps_bench.sh [BUILD_DIR] [STEPS] [SLOW_MS]     (defaults: build 300 20)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}; STEPS=${2:-300}; SLOW=${3:-20}
TRAIN=$BUILD/bin/train
[ -x "$TRAIN" ] || { echo "no $TRAIN: build first (scripts/build.sh $BUILD)"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN=(mpirun --oversubscribe --bind-to none)
OUT=$(mktemp -d /tmp/ps_bench.XXXXXX)
COMMON=(--config configs/mnist_mlp.yaml --set train.steps="$STEPS" --set train.log_every="$STEPS"
        --set train.eval_every=0 --set data.eval_examples=500 --set train.checkpoint.enabled=false --set train.threads=1
        --set optimizer.schedule.warmup=10)

# run NAME NP SLOW_RANK ARGS... -> one table row
run() {
  local name=$1 np=$2 slow_rank=$3; shift 3
  local slow=(); [ "$slow_rank" -ge 0 ] && slow=(--set debug.slow_rank="$slow_rank" --set debug.slow_ms="$SLOW")
  "${MPIRUN[@]}" -np "$np" "$TRAIN" "${COMMON[@]}" --set train.run_dir="$OUT/$name" --overwrite --set train.metrics_file="$OUT/$name.jsonl" "${slow[@]}" "$@" \
    >"$OUT/$name.log" 2>&1 || { echo "| $name | failed: see $OUT/$name.log |"; return; }
  python3 - "$OUT/$name.jsonl" "$OUT/$name.log" "$name" "$STEPS" "$np" "$([ "$slow_rank" -ge 0 ] && echo "$SLOW ms" || echo -)" <<'PY'
import json, re, sys
metrics, log, name, steps, np, slow = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]
recs = [json.loads(l) for l in open(metrics) if l.strip()]
m = re.search(r"done: (\d+) steps in ([0-9.]+)s", open(log).read())
sps = int(m.group(1)) / float(m.group(2)) if m else float("nan")
train = [r for r in recs if "eval" not in r and "ps_server_bytes_in" in r]
if train:
    last = train[-1]
    bi = " / ".join("%.2f" % (b / steps / 1e6) for b in last["ps_server_bytes_in"])
    bo = " / ".join("%.2f" % (b / steps / 1e6) for b in last["ps_server_bytes_out"])
    st = last["ps_staleness"]["max"]
else:
    bi = bo = st = "-"
print("| %s | %s | %s | %.1f | %s | %s | %s |" % (name, np, slow, sps, bi, bo, st))
PY
}

echo "machine: $(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "command: bench/ps_bench.sh $BUILD $STEPS $SLOW   (MNIST MLP 784-512-512-10, batch 128 per worker, 1 thread per rank)"
echo
echo "| run | ranks | other worker slowed | chief steps/s | server MB in per step | server MB out per step | max staleness |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for slowed in no yes; do
  # The slowed rank is the second worker; the chief (first worker) is the one timed.
  if [ $slowed = yes ]; then ar_slow=1; ps1_slow=2; ps2_slow=3; else ar_slow=-1; ps1_slow=-1; ps2_slow=-1; fi
  run allreduce-sync 2 $ar_slow --set distributed.mode=allreduce-sync
  run "ps-sync, 1 server" 3 $ps1_slow --set distributed.mode=ps-sync --set distributed.ps.servers=1
  run "ps-async k=4, 1 server" 3 $ps1_slow --set distributed.mode=ps-async --set distributed.ps.servers=1 \
    --set distributed.ps.staleness=4
  run "ps-async unbounded, 1 server" 3 $ps1_slow --set distributed.mode=ps-async --set distributed.ps.servers=1 \
    --set distributed.ps.staleness=1000000
  run "ps-sync, 2 servers" 4 $ps2_slow --set distributed.mode=ps-sync --set distributed.ps.servers=2
  run "ps-async k=4, 2 servers" 4 $ps2_slow --set distributed.mode=ps-async --set distributed.ps.servers=2 \
    --set distributed.ps.staleness=4
done
rm -rf "$OUT"
