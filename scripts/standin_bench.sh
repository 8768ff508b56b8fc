#!/usr/bin/env bash
# standin_bench.sh [TRAIN] [REPS] — training throughput on device: standin against device: cpu,
# measured in the same run, alternating: mnist_mlp (600 steps) and bert_tiny (80 steps), 2 threads.
# Prints, per model, the median over REPS (3) of each run's median logged samples/s (the first
# log interval left out), the ratio, and the host<->device bytes per step of the stand-in runs.
set -euo pipefail
cd "$(dirname "$0")/.."
T=${1:-build/bin/train}
REPS=${2:-3}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
run() {  # MODEL DEVICE REP ARGS...
  local m=$1 d=$2 r=$3; shift 3
  "$T" "$@" --set train.eval_every=0 --set train.threads=2 --set device="$d" --set train.run_dir="$W/$m-$d-$r" \
    >"$W/$m-$d-$r.log" 2>&1 || { tail -3 "$W/$m-$d-$r.log"; exit 1; }
}
for r in $(seq 1 "$REPS"); do
  for d in cpu standin; do
    run mlp $d "$r" --config configs/mnist_mlp.yaml --set train.steps=600 --set train.log_every=100
    run bert_tiny $d "$r" --config configs/bert_tiny.yaml --set train.steps=80 --set optimizer.schedule.warmup=5 \
      --set train.log_every=20
  done
done
/usr/bin/python3 - "$W" "$REPS" <<'PY'
import glob, json, statistics, sys
w, reps = sys.argv[1], int(sys.argv[2])
def recs(p): return [json.loads(l) for l in open(p + "/metrics.jsonl") if '"eval"' not in l][1:]
print(f"{'model':<10} {'cpu samples/s':>14} {'standin':>10} {'ratio':>7} {'h2d B/step':>11} {'d2h B/step':>11}")
for m in ("mlp", "bert_tiny"):
    sps = {d: statistics.median(statistics.median(x["samples_per_sec"] for x in recs(f"{w}/{m}-{d}-{r}"))
                                for r in range(1, reps + 1)) for d in ("cpu", "standin")}
    last = recs(f"{w}/{m}-standin-1")[-1]
    print(f"{m:<10} {sps['cpu']:>14.1f} {sps['standin']:>10.1f} {sps['standin'] / sps['cpu']:>7.3f} "
          f"{last['h2d_bytes_per_step']:>11.0f} {last['d2h_bytes_per_step']:>11.0f}")
PY
