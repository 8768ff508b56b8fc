#!/usr/bin/env bash
# hardening_cases.sh TRAIN RUNS — bad checkpoints, configs and runs that once crashed,
# hung or ended in silent success: each must exit non-zero with one line naming the
# problem (or, where stated, succeed and keep the data intact).
# Runs from the repo root with data/mnist present (scripts/fetch_mnist.sh).
set -uo pipefail
T=$1
R=$2
here=$(cd "$(dirname "$0")" && pwd)
FAILS=$here/expect_fail.sh
rm -rf "$R" && mkdir -p "$R"
MLP=(--config configs/mnist_mlp.yaml --set model.hidden=[16] --set train.eval_every=0 --set train.log_every=5
     --set optimizer.schedule.type=constant --set train.metrics_file=)
n=0
ok() { n=$((n + 1)); echo "case $n ok: $*"; }
die() { echo "FAIL: $*"; exit 1; }

# A step-10 checkpoint to resume from.
"$T" "${MLP[@]}" --set train.steps=10 --set train.checkpoint.dir="$R/ck" >/dev/null \
  || die "making the checkpoint"
[ "$(cat "$R/ck/latest")" = "step-00000010" ] || die "latest is not step 10"

# 1. Resume with train.steps below the checkpoint's step: an error naming both steps;
#    the step-10 checkpoint stays, nothing is written as step 5.
"$FAILS" --one-line "the checkpoint is at step 10, past train.steps = 5" \
  "$T" "${MLP[@]}" --set train.steps=5 --set train.checkpoint.dir="$R/ck" --resume || die "steps below checkpoint"
[ "$(cat "$R/ck/latest")" = "step-00000010" ] && [ ! -e "$R/ck/step-00000005" ] || die "checkpoint moved"
ok "resume past train.steps"

# 2. Resume at exactly train.steps: nothing to train, exit 0, the checkpoint untouched.
before=$(stat -c %Y "$R/ck/step-00000010/state.json")
"$T" "${MLP[@]}" --set train.steps=10 --set train.checkpoint.dir="$R/ck" --resume >"$R/out2" 2>&1 || die "resume at end"
grep -q "done: 0 steps" "$R/out2" || die "resume at end did not report 0 steps: $(cat "$R/out2")"
[ "$(stat -c %Y "$R/ck/step-00000010/state.json")" = "$before" ] || die "checkpoint rewritten"
ok "resume at train.steps"

# 3. state.json out of range: negative step, 1e15, a data position near 2^63.
for bad in '"step": -5' '"step": 1e15' '"step": 1000000000000000' '"data_index": 9223372036854775000'; do
  rm -rf "$R/bad" && cp -r "$R/ck" "$R/bad"
  f=$R/bad/step-00000010/state.json
  field=${bad%%:*}
  field="'${field//\"/}'"
  python3 - "$f" "$bad" <<'EOF'
import json, sys
f, kv = sys.argv[1], sys.argv[2]
j = json.load(open(f))
k, v = kv.split(":", 1)
j[k.strip().strip('"')] = json.loads(v)
open(f, "w").write(json.dumps(j))
EOF
  "$FAILS" --one-line "state.json: field $field" \
    "$T" "${MLP[@]}" --set train.steps=20 --set train.checkpoint.dir="$R/bad" --resume || die "state.json $bad"
done
ok "state.json ranges"

# 4. An empty optimizer file (a valid safetensors file with no tensors) is an error naming
#    it; --reset-optimizer resumes deliberately with fresh optimizer state.
rm -rf "$R/opt" && cp -r "$R/ck" "$R/opt"
python3 - "$R/opt/step-00000010/optimizer.safetensors" <<'EOF'
import json, struct, sys
h = json.dumps({"__metadata__": {"step": "10"}}).encode()
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h)
EOF
"$FAILS" --one-line "optimizer.safetensors: optimizer state lacks" \
  "$T" "${MLP[@]}" --set train.steps=15 --set train.checkpoint.dir="$R/opt" --resume \
  || die "empty optimizer file"
"$T" "${MLP[@]}" --set train.steps=15 --set train.checkpoint.dir="$R/opt" --resume \
  --reset-optimizer >"$R/out4" 2>&1 || die "--reset-optimizer: $(cat "$R/out4")"
grep -q "optimizer state not restored" "$R/out4" || die "--reset-optimizer said nothing"
"$FAILS" --one-line "needs --resume" "$T" "${MLP[@]}" --reset-optimizer || die "--reset-optimizer alone"
ok "empty optimizer state"

# 5. Write errors surface: metrics and trace files on a full device.
"$FAILS" --one-line "/dev/full: cannot write metrics" \
  "$T" "${MLP[@]}" --overwrite --set train.steps=5 --set train.checkpoint.dir= --set train.metrics_file=/dev/full || die "metrics"
"$FAILS" --one-line "/dev/full" \
  "$T" "${MLP[@]}" --overwrite --set train.steps=5 --set train.checkpoint.dir= --set train.trace_file=/dev/full || die "trace"
[ -c /dev/full ] || die "/dev/full was replaced"
ok "write errors"

# 6. A diverging run warns; with debug.check_numerics it stops.
DIVERGE=(--set optimizer.type=sgd --set optimizer.lr=100)  # finite, but far above the start
"$T" "${MLP[@]}" --overwrite --set train.steps=20 --set train.checkpoint.dir= "${DIVERGE[@]}" >"$R/out6" 2>&1
grep -q "warn  step .*: loss .* is far above its start" "$R/out6" || die "no divergence warning: $(tail -3 "$R/out6")"
"$FAILS" --one-line "training diverges" \
  "$T" "${MLP[@]}" --overwrite --set train.steps=20 --set train.checkpoint.dir= "${DIVERGE[@]}" --set debug.check_numerics=true \
  || die "check_numerics divergence"
ok "divergence"

# 7. A model the machine cannot hold is refused at once, with the figure.
"$FAILS" --one-line "of memory available" \
  "$T" "${MLP[@]}" --overwrite --set model.hidden=[100000000] --set train.checkpoint.dir= || die "huge model"
ok "impossible model"

# 8. Configs: a key given twice, NUL bytes.
printf 'train:\n  steps: 5\n  steps: 6\n' >"$R/dup.yaml"
"$FAILS" --one-line "$R/dup.yaml:3: key 'train.steps' is given twice (lines 2 and 3)" "$T" --config "$R/dup.yaml" \
  || die "duplicate key"
head -c 64 /dev/zero >"$R/nul.yaml"
"$FAILS" --one-line "$R/nul.yaml:1: a NUL byte at offset 0" "$T" --config "$R/nul.yaml" || die "NUL config"
ok "configs"

# 9. Checked at start, before any step: an unwritable checkpoint folder, a test label
#    that the training set lacks.
"$FAILS" --one-line "/dev/null/ck" "$T" "${MLP[@]}" --overwrite --set train.steps=5 --set train.checkpoint.dir=/dev/null/ck \
  >"$R/out9" || die "unwritable checkpoint folder"
grep -qE " step +[0-9]+/" "$R/out9" && die "trained before reporting the checkpoint folder"
mkdir -p "$R/mnist11" && cp data/mnist/* "$R/mnist11/"
python3 - "$R/mnist11" <<'EOF'
import sys
d = sys.argv[1]
# Relabel every training 9 as 8: the test set's 9s are then never seen in training.
p = d + "/train-labels-idx1-ubyte"
b = bytearray(open(p, "rb").read())
b[8:] = bytes(8 if x == 9 else x for x in b[8:])
open(p, "wb").write(b)
EOF
"$FAILS" --one-line "never occurs in the training labels" \
  "$T" "${MLP[@]}" --overwrite --set train.steps=5 --set train.checkpoint.dir= --set data.dir="$R/mnist11" || die "missing label"
mkdir -p "$R/mnist200" && cp data/mnist/* "$R/mnist200/"
python3 - "$R/mnist200/t10k-labels-idx1-ubyte" <<'EOF'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[8 + 5] = 200  # example 5
open(sys.argv[1], "wb").write(b)
EOF
"$FAILS" --one-line "t10k-labels-idx1-ubyte: label 200 of example 5 is not a digit class" \
  "$T" "${MLP[@]}" --overwrite --set train.steps=5 --set train.checkpoint.dir= --set data.dir="$R/mnist200" || die "label range"
ok "checks at start"

# 10. The non-finite error names the step as the log counts it (from 1): the step
#     after the last one logged (train.log_every=1).
"$T" "${MLP[@]}" --overwrite --set train.steps=10 --set train.log_every=1 --set train.checkpoint.dir= --set optimizer.lr=1e6 \
  --set optimizer.type=sgd >"$R/out10" 2>&1 && die "the NaN run succeeded"
last=$(grep -oE ' step +[0-9]+/' "$R/out10" | tail -1 | grep -oE '[0-9]+')
grep -q "step $((last + 1)): loss is" "$R/out10" || die "NaN step number: $(tail -2 "$R/out10")"
ok "non-finite step number"

# 11. Interrupted checkpoint writes are cleaned by the next run.
mkdir -p "$R/ck/.tmp-step-00000099" && head -c 100000 /dev/zero >"$R/ck/.tmp-step-00000099/model.safetensors"
"$T" "${MLP[@]}" --set train.steps=12 --set train.checkpoint.dir="$R/ck" --resume >/dev/null || die "resume to 12"
[ ! -e "$R/ck/.tmp-step-00000099" ] || die "temporary folder kept"
ok "temporary folders removed"
echo "all $n hardening cases passed"
