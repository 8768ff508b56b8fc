#!/usr/bin/env bash
# bert_bench.sh — BERT training throughput of the train program on this CPU:
# bert_tiny and BERT-base (configs/bert_tiny.yaml, configs/bert.yaml) on 1 and 2
# threads (train.threads), one rank: step time, samples/s, tokens/s, peak RSS,
# and the share of kernel time per op type from the executor's profile
# (train.profile). Timing is over the steps after the first log window, so plan
# compilation and the first step are excluded.
#
#   bench/bert_bench.sh                       # both models, 1 and 2 threads
#   MODELS=tiny THREADS=2 bench/bert_bench.sh
# Env: TRAIN (build/bin/train), MODELS ("tiny base"), THREADS ("1 2"),
#      TINY_BATCH (32), TINY_STEPS (30), BASE_BATCH (8), BASE_STEPS (4), TOP (8 op types shown).
set -euo pipefail
cd "$(dirname "$0")/.."
TRAIN=${TRAIN:-build/bin/train}
MODELS=${MODELS:-"tiny base"}
THREADS=${THREADS:-"1 2"}
TOP=${TOP:-8}
PY=$(command -v /usr/bin/python3 || command -v python3)
[ -x "$TRAIN" ] || { echo "bert_bench: $TRAIN not found (build the train target)" >&2; exit 1; }
[ -f data/text/corpus.txt ] || { echo "bert_bench: data/text/corpus.txt missing (scripts/fetch_text.sh)" >&2; exit 1; }
tmp=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT

echo "# bert_bench $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
rows=()
for m in $MODELS; do
  case $m in
    tiny) cfg=configs/bert_tiny.yaml; batch=${TINY_BATCH:-32}; steps=${TINY_STEPS:-30} ;;
    base) cfg=configs/bert.yaml; batch=${BASE_BATCH:-8}; steps=${BASE_STEPS:-4} ;;
    *) echo "bert_bench: unknown model '$m' (tiny, base)" >&2; exit 1 ;;
  esac
  for t in $THREADS; do
    out=$tmp/$m-$t.txt; metrics=$tmp/$m-$t.jsonl
    "$TRAIN" --config "$cfg" --set train.threads="$t" --set data.batch_size="$batch" --set train.steps="$steps" \
      --set train.log_every=$((steps / 2)) --set train.eval_every=0 --set data.eval_examples=16 \
      --set optimizer.schedule.warmup=1 --set train.checkpoint.enabled=false --set train.run_dir="$tmp/$m-$t" --overwrite --set train.metrics_file="$metrics" \
      --set train.profile=true --set data.prefetch=true >"$out" 2>&1 || { cat "$out" >&2; exit 1; }
    "$PY" - "$m" "$t" "$batch" "$cfg" "$metrics" "$out" "$TOP" <<'PYEOF'
import json, re, sys
m, t, batch, cfg, metrics, out, top = sys.argv[1:8]
recs = [json.loads(l) for l in open(metrics) if l.strip()]
train = [r for r in recs if "eval" not in r]
last = train[-1]
seq = int(re.search(r"seq_len:\s*(\d+)", open(cfg).read()).group(1))
sps = last["samples_per_sec"]
print("| %-9s | %7s | %5s | %5d | %9.1f | %9.2f | %9.0f | %12.0f |" % (
    "bert_tiny" if m == "tiny" else "BERT-base", t, batch, seq, 1000.0 * int(batch) / sps, sps, sps * seq,
    last["peak_rss_mb"]))
ops = []
for line in open(out):
    f = line.split()
    if len(f) == 4 and f[2].endswith("%"):
        ops.append((f[0], float(f[2][:-1])))
shares = ", ".join("%s %.1f%%" % (o, s) for o, s in ops[:int(top)])
open(out + ".ops", "w").write("%s, %s thread(s): %s\n" % ("bert_tiny" if m == "tiny" else "BERT-base", t, shares))
PYEOF
  done
done | {
  echo "| model     | threads | batch |   seq |  step ms | samples/s |  tokens/s | peak RSS MB |"
  echo "| --------- | ------- | ----- | ----- | -------- | --------- | --------- | ----------- |"
  cat
}
echo
echo "share of kernel time per op type (all steps, summed over threads):"
cat "$tmp"/*.ops
