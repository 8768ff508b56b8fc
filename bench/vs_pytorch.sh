#!/usr/bin/env bash
# vs_pytorch.sh — flowtrain against PyTorch (Debian python3-torch, the same OpenBLAS) on
# the same jobs in one run, alternating the two, REPS times each: the MNIST MLP, the
# mnist_cnn LeNet and BERT-tiny like for like (bench/pytorch_jobs.py says what each is),
# at each thread count. PyTorch runs in its best setting here: torch.set_num_threads(1)
# with OPENBLAS_NUM_THREADS=T. Prints, per job and thread count, the median samples/s
# of each side and their ratio, peak RSS and minor page faults per step after warm-up.
# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset for both sides.
#
#   bench/vs_pytorch.sh                          # mlp cnn bert, 1 and 2 threads, 3 reps
#   JOBS=mlp THREADS=2 REPS=5 bench/vs_pytorch.sh
#   BASE=../old/build/bin/train JOBS=cnn bench/vs_pytorch.sh   # also an earlier build, in the same rounds
# Env: TRAIN (build/bin/train), JOBS ("mlp cnn bert"), THREADS ("1 2"), REPS (3),
#      MLP_STEPS (300), CNN_STEPS (60), BERT_STEPS (30), BASE (a second train binary: its
#      median and TRAIN's ratio to it are added).
set -euo pipefail
cd "$(dirname "$0")/.."
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
TRAIN=${TRAIN:-build/bin/train}
JOBS=${JOBS:-"mlp cnn bert"}
THREADS=${THREADS:-"1 2"}
REPS=${REPS:-3}
BASE=${BASE:-}
PY=/usr/bin/python3
[ -x "$TRAIN" ] || { echo "vs_pytorch: $TRAIN not found (build the train target)" >&2; exit 1; }
"$PY" -c "import torch" 2>/dev/null || { echo "vs_pytorch: PyTorch is not installed (apt-get install python3-torch)" >&2; exit 1; }
[ -f data/mnist/train-images-idx3-ubyte ] || { echo "vs_pytorch: data/mnist missing (scripts/fetch_mnist.sh)" >&2; exit 1; }
[[ " $JOBS " != *" bert "* ]] || [ -f data/text/corpus.txt ] || { echo "vs_pytorch: data/text/corpus.txt missing (scripts/fetch_text.sh)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "# vs_pytorch $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# PyTorch $("$PY" -c 'import torch; print(torch.__version__)'), $REPS alternating runs per cell, medians"

flowtrain() {  # flowtrain JOB THREADS OUT.json [TRAIN]
  local job=$1 t=$2 out=$3 train=${4:-$TRAIN} steps cfg extra=()
  case $job in
    mlp) cfg=configs/mnist_mlp.yaml; steps=${MLP_STEPS:-300} ;;
    cnn) cfg=configs/mnist_cnn.yaml; steps=${CNN_STEPS:-60}; extra=(--set optimizer.schedule.warmup=1) ;;
    bert) cfg=configs/bert_tiny.yaml; steps=${BERT_STEPS:-30}
          extra=(--set model.vocab_size=30522 --set data.seq_len=128 --set data.max_predictions=20 --set data.batch_size=32
                 --set optimizer.type=adamw --set optimizer.schedule.type=constant --set model.dropout=0.1) ;;
  esac
  "$train" --config "$cfg" --set train.threads="$t" --set train.steps="$steps" --set train.log_every=$((steps / 3)) \
    --set train.eval_every=0 --set train.checkpoint.enabled=false --set train.run_dir="$tmp/ft-$job-$t" --overwrite -q \
    "${extra[@]}" >"$tmp/ft.log" 2>&1 || { cat "$tmp/ft.log" >&2; exit 1; }
  # the last log window: the steps after the first two thirds
  grep -v '"eval"' "$tmp/ft-$job-$t/metrics.jsonl" | tail -1 >"$out"
}
pytorch() {  # pytorch JOB THREADS OUT.json
  local job=$1 t=$2 out=$3 steps
  case $job in mlp) steps=${MLP_STEPS:-300} ;; cnn) steps=${CNN_STEPS:-60} ;; bert) steps=${BERT_STEPS:-30} ;; esac
  OPENBLAS_NUM_THREADS=$t TORCH_THREADS=1 "$PY" bench/pytorch_jobs.py "$job" "$steps" >"$out"
}

for job in $JOBS; do
  for t in $THREADS; do
    for r in $(seq "$REPS"); do
      flowtrain "$job" "$t" "$tmp/$job-$t-ft-$r.json"
      [ -z "$BASE" ] || flowtrain "$job" "$t" "$tmp/$job-$t-base-$r.json" "$BASE"
      pytorch "$job" "$t" "$tmp/$job-$t-pt-$r.json"
    done
  done
done

"$PY" - "$tmp" "$JOBS" "$THREADS" "$REPS" "$BASE" <<'PYEOF'
import json, statistics, sys
tmp, jobs, threads, reps, base = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), int(sys.argv[4]), sys.argv[5]
print("| job | threads | flowtrain samples/s | PyTorch samples/s | ratio | flowtrain RSS MB | PyTorch RSS MB | faults/step ft / pt |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for job in jobs:
    for t in threads:
        ft = [json.load(open(f"{tmp}/{job}-{t}-ft-{r}.json")) for r in range(1, reps + 1)]
        pt = [json.load(open(f"{tmp}/{job}-{t}-pt-{r}.json")) for r in range(1, reps + 1)]
        med = lambda xs, k: statistics.median(x[k] for x in xs)
        f, p = med(ft, "samples_per_sec"), med(pt, "samples_per_sec")
        runs = lambda xs: " / ".join(f"{x['samples_per_sec']:.1f}" for x in xs)
        print(f"| {job} | {t} | {f:,.1f} ({runs(ft)}) | {p:,.1f} ({runs(pt)}) | {f / p:.2f}x | "
              f"{med(ft, 'peak_rss_mb'):.0f} | {med(pt, 'peak_rss_mb'):.0f} | "
              f"{med(ft, 'minor_faults_per_step'):.1f} / {med(pt, 'minor_faults_per_step'):.1f} |")
if base:
    print(f"\nBASE = {base}, in the same rounds:\n")
    print("| job | threads | flowtrain samples/s | BASE samples/s | ratio |")
    print("| --- | --- | --- | --- | --- |")
    for job in jobs:
        for t in threads:
            ft = [json.load(open(f"{tmp}/{job}-{t}-ft-{r}.json")) for r in range(1, reps + 1)]
            bs = [json.load(open(f"{tmp}/{job}-{t}-base-{r}.json")) for r in range(1, reps + 1)]
            f = statistics.median(x["samples_per_sec"] for x in ft)
            b = statistics.median(x["samples_per_sec"] for x in bs)
            runs = " / ".join(f"{x['samples_per_sec']:.1f}" for x in bs)
            print(f"| {job} | {t} | {f:,.1f} | {b:,.1f} ({runs}) | {f / b:.2f}x |")
PYEOF
