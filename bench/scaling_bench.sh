#!/usr/bin/env bash
# scaling_bench.sh — weak scaling of allreduce-sync on the MNIST MLP: samples/s of one
# rank (1 thread) against N ranks (1 thread each, per-rank batch unchanged), plus two
# independent one-rank jobs side by side (what the cores allow without communication).
# samples/s is the median of the 50-step intervals after step 100 (warm-up excluded)
# from the metrics records; REPS runs each, interleaved (this host is noisy). Prints a markdown table.
# Where /usr/bin/python3 has PyTorch (Debian python3-torch), each repetition also runs the
# same MLP in PyTorch on one process and on 2 under DistributedDataParallel (gloo, 127.0.0.1),
# 1 thread each (bench/pytorch_jobs.py mlp / ddp_mlp:2), for the same table's DDP rows.
#
#   bench/scaling_bench.sh [BUILD_DIR] [STEPS] [REPS] [extra --set args...]
#                                               (defaults: build 600 2)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}; STEPS=${2:-600}; REPS=${3:-2}; shift $(( $# < 3 ? $# : 3 ))
TRAIN=$BUILD/bin/train
[ -x "$TRAIN" ] || { echo "no $TRAIN: build first (scripts/build.sh $BUILD)"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
OUT=$(mktemp -d /tmp/scaling_bench.XXXXXX)
COMMON=(--config configs/mnist_mlp.yaml --set train.steps="$STEPS" --set train.log_every=50
        --set train.eval_every=0 --set train.checkpoint.enabled=false --set train.threads=1 "$@")

# rate FILE: global samples/s between the step-100 record and the last one
rate() {
  python3 - "$1" <<'PY'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
r = [x for x in r if "samples_per_sec" in x and x["step"] > 100]
v = sorted(x["samples_per_sec"] for x in r)
print("%.0f" % v[len(v) // 2] if v else "nan")  # median of the 50-step intervals
PY
}
peak() { python3 -c "import json,sys; print('%.0f' % max(json.loads(l).get('peak_rss_mb',0) for l in open(sys.argv[1]) if l.strip()))" "$1"; }

PY=/usr/bin/python3
TORCH=0
"$PY" -c "import torch" 2>/dev/null && TORCH=1 || echo "scaling_bench: no PyTorch (apt-get install python3-torch): the DDP rows are left out" >&2
# torch_rate JOB: samples/s of a PyTorch job (1 thread per process)
torch_rate() {
  OPENBLAS_NUM_THREADS=1 TORCH_THREADS=1 "$PY" bench/pytorch_jobs.py "$1" "$STEPS" 2>>"$OUT/torch.log" |
    "$PY" -c "import json,sys; print('%.0f' % json.loads(sys.stdin.read())['samples_per_sec'])"
}

declare -a R1 R2 RI T1 T2
for rep in $(seq "$REPS"); do
  "$TRAIN" "${COMMON[@]}" --set train.run_dir="$OUT/np1" --overwrite --set train.metrics_file="$OUT/np1.jsonl" >"$OUT/np1.log" 2>&1
  R1+=("$(rate "$OUT/np1.jsonl")")
  mpirun -np 2 --bind-to none "$TRAIN" "${COMMON[@]}" --set distributed.mode=allreduce-sync \
    --set train.run_dir="$OUT/np2" --overwrite --set train.metrics_file="$OUT/np2.jsonl" >"$OUT/np2.log" 2>&1
  R2+=("$(rate "$OUT/np2.jsonl")")
  "$TRAIN" "${COMMON[@]}" --set train.run_dir="$OUT/ia" --overwrite --set train.metrics_file="$OUT/ia.jsonl" >"$OUT/ia.log" 2>&1 &
  "$TRAIN" "${COMMON[@]}" --set train.run_dir="$OUT/ib" --overwrite --set train.metrics_file="$OUT/ib.jsonl" >"$OUT/ib.log" 2>&1
  wait
  RI+=("$(( $(rate "$OUT/ia.jsonl") + $(rate "$OUT/ib.jsonl") ))")
  if [ "$TORCH" = 1 ]; then
    T1+=("$(torch_rate mlp)")
    T2+=("$(torch_rate ddp_mlp:2)")
  fi
done
python3 - "${R1[*]}" "${R2[*]}" "${RI[*]}" "$(peak "$OUT/np1.jsonl")" "$(peak "$OUT/np2.jsonl")" "${T1[*]:-}" "${T2[*]:-}" <<'PY'
import sys
r1, r2, ri = ([float(x) for x in a.split()] for a in sys.argv[1:4])
t1, t2 = ([float(x) for x in a.split()] for a in sys.argv[6:8])
b1 = sorted(r1)[len(r1) // 2]  # median np 1 run
f = lambda v: " / ".join("%.0f" % x for x in v)
print("| job | samples/s (global), per run | efficiency vs 2 x median np 1 | peak RSS per rank |")
print("| --- | --- | --- | --- |")
print("| np 1, 1 thread | %s | — | %s MB |" % (f(r1), sys.argv[4]))
print("| np 2 allreduce-sync, 1 thread each | %s | %s | %s MB |" % (f(r2), " / ".join("%.0f%%" % (100 * x / (2 * b1)) for x in r2), sys.argv[5]))
print("| 2 independent np 1 jobs side by side | %s | %s | — |" % (f(ri), " / ".join("%.0f%%" % (100 * x / (2 * b1)) for x in ri)))
if t1 and t2:
    c1 = sorted(t1)[len(t1) // 2]
    print("| PyTorch, 1 process, 1 thread | %s | — | — |" % f(t1))
    print("| PyTorch DDP (gloo), 2 processes, 1 thread each | %s | %s (vs 2 x median PyTorch 1 process) | — |" %
          (f(t2), " / ".join("%.0f%%" % (100 * x / (2 * c1)) for x in t2)))
print()
print("np 2 / the independent pair of the same repetition (what the cores allowed then): %s" %
      " / ".join("%.0f%%" % (100 * a / b) for a, b in zip(r2, ri)))
PY
echo "(logs in $OUT)"
