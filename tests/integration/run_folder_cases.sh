#!/usr/bin/env bash
# run_folder_cases.sh TRAIN "MPIRUN..." CHECK WORK — what a run gives back and keeps:
# the run folder and its refusal to overwrite an earlier run (under mpirun), retention
# by write order, config.yaml and --print-config read back, TensorBoard events read by
# a reader the project did not write, metrics with wall time, the plot, --dry-run's
# model summary (the MNIST MLP has 669,706 parameters), log levels, errors printed
# once, the live progress line on a terminal, and bad input as one line.
set -uo pipefail
T=$1
read -r -a MPI <<<"$2"
CHECK=$3
W=$4
here=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
n=0
ok() { n=$((n + 1)); echo "case $n ok: $*"; }
die() { echo "FAIL: $*"; exit 1; }
rm -rf "$W" && mkdir -p "$W"
C=(--config configs/mnist_mlp.yaml --set optimizer.schedule.warmup=5 --set train.log_every=50 --set train.eval_every=100)

# 1. The reproduction of lost checkpoints, under mpirun: 300 steps with a checkpoint
#    every 100, then 100 steps into the same folder. The second run is refused
#    (once, naming the folder) and `latest` is untouched; with --overwrite it starts
#    afresh, `latest` names its complete checkpoint, and --resume continues it.
"${MPI[@]}" -np 2 "$T" "${C[@]}" --set train.run_dir="$W/r" --set train.steps=300 --set train.checkpoint.every=100 \
  --set train.checkpoint.keep=2 >"$W/r1.log" 2>&1 || die "first run: $(tail -3 "$W/r1.log")"
head -1 "$W/r1.log" | grep -q "model mlp: 669,706 parameters" || die "the first line lacks the parameter count: $(head -1 "$W/r1.log")"
"${MPI[@]}" -np 2 "$T" "${C[@]}" --set train.run_dir="$W/r" --set train.steps=100 >"$W/r2.log" 2>&1 \
  && die "a fresh run into a folder holding a run was accepted"
[ "$(grep -c "$W/r: holds an earlier run" "$W/r2.log")" = 1 ] || die "refusal not printed exactly once: $(cat "$W/r2.log")"
[ "$(cat "$W/r/checkpoints/latest")" = step-00000300 ] || die "latest changed by the refused run"
"${MPI[@]}" -np 2 "$T" "${C[@]}" --set train.run_dir="$W/r" --set train.steps=100 --set train.checkpoint.every=50 \
  --overwrite >"$W/r3.log" 2>&1 || die "--overwrite run: $(tail -3 "$W/r3.log")"
[ "$(cat "$W/r/checkpoints/latest")" = step-00000100 ] || die "latest after --overwrite: $(cat "$W/r/checkpoints/latest")"
for f in model.safetensors optimizer.safetensors state.json; do
  [ -f "$W/r/checkpoints/step-00000100/$f" ] || die "latest checkpoint lacks $f"
done
[ -d "$W/r/checkpoints/step-00000300" ] && die "--overwrite kept the earlier run's checkpoint"
"${MPI[@]}" -np 2 "$T" "${C[@]}" --set train.run_dir="$W/r" --set train.steps=150 --resume >"$W/r4.log" 2>&1 \
  || die "resume: $(tail -3 "$W/r4.log")"
grep -q "resumed from .* at step 100$" "$W/r4.log" || die "did not resume at step 100"
ok "a used run folder is refused once, --overwrite replaces it, latest is complete, --resume continues"

# 2. config.yaml runs the same run again (bit-identical checkpoint), and
#    --print-config prints YAML that reads back to itself.
"$T" "${C[@]}" --set train.run_dir="$W/a" --set train.steps=200 >"$W/a.log" 2>&1 || die "run a: $(tail -3 "$W/a.log")"
"$T" --config "$W/a/config.yaml" --set train.run_dir="$W/a2" >"$W/a2.log" 2>&1 || die "config.yaml run: $(tail -3 "$W/a2.log")"
python3 "$CHECK" same "$W/a/checkpoints/step-00000200" "$W/a2/checkpoints/step-00000200" || die "config.yaml did not reproduce the run"
"$T" --config "$W/a/config.yaml" --print-config >"$W/p1.yaml" || die "print-config"
"$T" --config "$W/p1.yaml" --print-config >"$W/p2.yaml" || die "print-config of print-config"
cmp -s "$W/p1.yaml" "$W/p2.yaml" || die "--print-config does not read back to itself: $(diff "$W/p1.yaml" "$W/p2.yaml" | head)"
grep -q '^  vocab: ""$' "$W/p1.yaml" || die "an empty string does not print as \"\""
grep -q '0000000000' "$W/p1.yaml" && die "a float printed with spurious digits: $(grep 0000000000 "$W/p1.yaml")"
grep -q '^  lr: 0.05$' "$W/p1.yaml" || die "optimizer.lr not printed as 0.05"
ok "config.yaml reproduces the run bit for bit; --print-config reads back to itself"

# 3. The run folder's files; every metrics record has a wall time.
for f in config.yaml metrics.jsonl checkpoints/latest; do [ -e "$W/a/$f" ] || die "run folder lacks $f"; done
ls "$W/a"/events.out.tfevents.* >/dev/null 2>&1 || die "no TensorBoard events in the run folder"
"$PY" - "$W/a/metrics.jsonl" <<'PYEOF' || die "metrics records"
import json, sys, time
recs = [json.loads(l) for l in open(sys.argv[1])]
assert recs, "no records"
for r in recs:
    assert "wall_time" in r and abs(r["wall_time"] - time.time()) < 3600, r
    assert "step" in r and ("eval" in r or "epoch" in r), r
print(f"{len(recs)} records, all with wall_time")
PYEOF
ok "run folder files; wall time on every metrics record"

# 4. TensorBoard scalars, read with protobuf and TensorFlow's message definitions.
if command -v protoc >/dev/null && "$PY" -c 'import google.protobuf' 2>/dev/null; then
  "$PY" "$here/tb_read.py" "$W/a" --expect-tags loss,learning_rate,samples_per_sec,eval/loss,eval/accuracy \
    --min-steps 2 --metrics "$W/a/metrics.jsonl" --tag-map learning_rate=lr || die "TensorBoard events"
  ok "TensorBoard events: tags, steps and values equal metrics.jsonl"
else
  echo "case skipped: protoc or python3-protobuf missing (scripts/setup.sh installs them)"
fi

# 5. The plot of two runs.
"$PY" "$(dirname "$here")/../scripts/plot_metrics.py" "$W/a" "$W/r" -o "$W/curves.png" || die "plot_metrics"
head -c 8 "$W/curves.png" | od -An -tx1 | grep -q "89 50 4e 47" || die "curves.png is not a PNG"
ok "plot_metrics.py draws two runs"

# 6. --dry-run: the model summary, per-rank memory, the communication; nothing trained or written.
"${MPI[@]}" -np 2 "$T" "${C[@]}" --set train.run_dir="$W/dry" --dry-run >"$W/dry.log" 2>&1 || die "dry run: $(tail -3 "$W/dry.log")"
grep -q "total (trainable, all slices) .* 669,706" "$W/dry.log" || die "dry run total: $(grep total "$W/dry.log")"
grep -q "fc1/w .*\[784, 512\] .*401,408" "$W/dry.log" || die "dry run lacks fc1/w [784, 512] 401,408"
grep -qE "^\S+ \S+ info  \[r0\]  +1 .* MiB" "$W/dry.log" || die "dry run lacks rank 1's memory row"
grep -q "allreduce bucket 0: " "$W/dry.log" || die "dry run lacks the buckets"
grep -qE " step +[0-9]+/" "$W/dry.log" && die "the dry run trained"
[ -e "$W/dry" ] && die "the dry run created its run folder"
"${MPI[@]}" -np 3 "$T" --config configs/mnist_mlp_ps_async.yaml --set distributed.ps.servers=2 --dry-run >"$W/dryps.log" 2>&1 \
  || die "ps dry run: $(tail -3 "$W/dryps.log")"
grep -q "shards: 2 servers" "$W/dryps.log" || die "ps dry run lacks shards per server"
"${MPI[@]}" -np 2 "$T" "${C[@]}" --set distributed.model_parallel=2 --dry-run >"$W/drymp.log" 2>&1 || die "mp dry run"
grep -q "model parallel: .* x mp_allreduce" "$W/drymp.log" || die "mp dry run lacks the mp collectives"
grep -q "total (trainable, all slices) .* 669,706" "$W/drymp.log" || die "mp dry run total differs"
"$T" "${C[@]}" --set data.dir="$W/nodata" --dry-run >"$W/drybad.log" 2>&1 && die "dry run passed without data"
grep -q "$W/nodata" "$W/drybad.log" || die "missing data not named"
ok "--dry-run: 669,706 parameters, per-rank memory, buckets, shards, mp collectives, data checked"

# 7. Logs: timestamp and level; --quiet keeps warnings only; one error line under mpirun.
grep -qE "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:.]+ info  \[r0\] model mlp" "$W/r1.log" || die "log line format"
"$T" "${C[@]}" --set train.run_dir="$W/q" --set train.steps=60 --quiet >"$W/q.log" 2>&1 || die "--quiet run"
grep -q " info " "$W/q.log" && die "--quiet printed info lines: $(head -2 "$W/q.log")"
"$T" "${C[@]}" --set train.run_dir="$W/v" --set train.steps=60 --set train.log_level=loud >"$W/lv.log" 2>&1 \
  && die "a bad log level was accepted"
grep -q "train.log_level' must be one of debug,info,warn,error" "$W/lv.log" || grep -q "key 'train.log_level'" "$W/lv.log" \
  || die "bad log level not named: $(cat "$W/lv.log")"
"${MPI[@]}" -np 2 "$T" "${C[@]}" --set model.hiden=3 >"$W/once.log" 2>&1 && die "an unknown key was accepted"
[ "$(grep -c "unknown key 'model.hiden'" "$W/once.log")" = 1 ] || die "error not printed once: $(cat "$W/once.log")"
ok "log format, --quiet, bad log_level, an error of every rank printed once"

# 8. Bad command lines and folders: one line each.
"$T" "${C[@]}" --overwrite --resume >"$W/b1.log" 2>&1; rc=$?
[ $rc = 2 ] && grep -q "overwrite and --resume exclude each other" "$W/b1.log" || die "--overwrite --resume: rc $rc $(cat "$W/b1.log")"
"$T" "${C[@]}" --set train.run_dir=/proc/flowtrain-run >"$W/b2.log" 2>&1 && die "an unwritable run folder was accepted"
grep -q "/proc/flowtrain-run: cannot create the run folder" "$W/b2.log" || die "unwritable folder: $(cat "$W/b2.log")"
[ "$(wc -l <"$W/b2.log")" = 1 ] || die "more than one line: $(cat "$W/b2.log")"
ok "--overwrite with --resume, an unwritable run folder"

# 9. Progress: on a terminal one live line rewritten in place (\r); plain lines in a pipe.
if command -v script >/dev/null; then
  script -qec "$T ${C[*]} --set train.run_dir=$W/tty --set train.steps=150" /dev/null >"$W/tty.log" 2>&1 || die "tty run"
  grep -q $'\r[0-9-]* [0-9:.]* step    100/150' "$W/tty.log" || die "no live progress line on a terminal"
  grep -q $'\r' "$W/a.log" && die "a pipe got carriage returns"
  ok "live progress line on a terminal, plain lines in a pipe"
fi
echo "run_folder_cases: $n cases passed"
