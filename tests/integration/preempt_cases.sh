#!/usr/bin/env bash
# preempt_cases.sh TRAIN "MPIRUN..." CHECK WORK — SIGTERM, SIGINT and SIGUSR1, as a
# cluster scheduler sends them before preemption: every rank stops at one step
# boundary, the chief writes a checkpoint and says where, the ranks exit 75, and
# --resume continues bit-identically to an uninterrupted run (deterministic mode,
# mpirun np 2). A second signal ends the run at once; a signal during a checkpoint
# write leaves the previous checkpoint as `latest`. In the ps modes the servers'
# optimizer state is in the checkpoint.
set -uo pipefail
T=$1
read -r -a MPI <<<"$2"
CHECK=$3
W=$4
n=0
ok() { n=$((n + 1)); echo "case $n ok: $*"; }
die() { echo "FAIL: $*"; exit 1; }
rm -rf "$W" && mkdir -p "$W"
# Waits until FILE has a line matching PATTERN (grep -E), or fails after 60 s.
wait_for() {
  for _ in $(seq 1 1200); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  die "no line /$2/ in $1: $(tail -5 "$1")"
}
D=(--config configs/mnist_mlp.yaml --set distributed.deterministic=true --set data.batch_size=64
   --set train.steps=400 --set optimizer.schedule.warmup=10 --set train.log_every=20 --set train.eval_every=0
   --set train.checkpoint.keep=5)

# 1. mpirun np 2, SIGTERM to mpirun (it forwards it to every rank), then --resume:
#    the same parameters as a run that was never stopped.
"${MPI[@]}" -np 2 "$T" "${D[@]}" --set train.run_dir="$W/full" >"$W/full.log" 2>&1 || die "uninterrupted run"
"${MPI[@]}" -np 2 "$T" "${D[@]}" --set train.run_dir="$W/part" >"$W/part.log" 2>&1 &
launcher=$!
wait_for "$W/part.log" " step +60/"
kill -TERM $launcher
wait $launcher
stopped=$(grep -oE "stopped by a signal at step [0-9]+" "$W/part.log" | grep -oE "[0-9]+$")
[ -n "$stopped" ] || die "no stop line: $(tail -5 "$W/part.log")"
[ "$(grep -c "signal received" "$W/part.log")" = 2 ] || die "not every rank saw the signal"
[ "$(cat "$W/part/checkpoints/latest")" = "$(printf 'step-%08d' "$stopped")" ] || die "latest is not the stop step $stopped"
grep -q "checkpoint step $stopped -> $W/part/checkpoints/" "$W/part.log" || die "the checkpoint line does not say where"
[ "$stopped" -lt 400 ] || die "stopped only at the end"
"${MPI[@]}" -np 2 "$T" "${D[@]}" --set train.run_dir="$W/part" --resume >"$W/resume.log" 2>&1 || die "resume: $(tail -3 "$W/resume.log")"
grep -q "resumed from .* at step $stopped$" "$W/resume.log" || die "did not resume at $stopped"
python3 "$CHECK" same "$W/full/checkpoints/step-00000400" "$W/part/checkpoints/step-00000400" \
  || die "resumed run differs from the uninterrupted one"
ok "SIGTERM to mpirun at step $stopped, resume: bit-identical to the uninterrupted run"

# 2. One process, SIGINT: exit 75 and a checkpoint.
"$T" "${D[@]}" --set train.run_dir="$W/one" --set train.steps=100000 >"$W/one.log" 2>&1 &
pid=$!
wait_for "$W/one.log" " step +40/"
kill -INT $pid
wait $pid; rc=$?
[ $rc = 75 ] || die "SIGINT: exit $rc, expected 75: $(tail -3 "$W/one.log")"
[ -f "$W/one/checkpoints/$(cat "$W/one/checkpoints/latest")/state.json" ] || die "no checkpoint after SIGINT"
ok "SIGINT to one process: exit 75 with a checkpoint"

# 3. A second signal during a (slowed) checkpoint write: the process ends at once
#    with 128+15, `latest` still names the previous checkpoint, resume works from it.
S=("${D[@]}" --set train.steps=100 --set train.checkpoint.every=40 --set debug.slow_checkpoint_ms=3000)
"$T" "${S[@]}" --set train.run_dir="$W/mid" >"$W/mid.log" 2>&1 &
pid=$!
wait_for "$W/mid.log" "checkpoint step 40 ->"
wait_for "$W/mid.log" " step +80/"
sleep 0.5
kill -TERM $pid; sleep 0.3; kill -TERM $pid
wait $pid; rc=$?
[ $rc = 143 ] || die "second signal: exit $rc, expected 143"
grep -q "second signal: stopping now" "$W/mid.log" || die "no line for the second signal"
[ "$(cat "$W/mid/checkpoints/latest")" = step-00000040 ] || die "latest moved during an interrupted write"
"$T" "${S[@]}" --set debug.slow_checkpoint_ms=0 --set train.run_dir="$W/mid" --resume >"$W/mid2.log" 2>&1 \
  || die "resume after an interrupted write: $(tail -3 "$W/mid2.log")"
grep -q "resumed from .* at step 40$" "$W/mid2.log" || die "did not resume from step 40"
ls -a "$W/mid/checkpoints" | grep -q "^.tmp-" && die "the interrupted write's folder was left behind"
ok "second signal mid-write: exit 143, latest kept, resume from it"

# 4. ps-async (np 3, one server) and ps-sync: SIGUSR1 to mpirun (forwarded without
#    a kill: mpirun exits 75 too); the checkpoint holds the servers' optimizer state.
for mode in ps-async ps-sync; do
  P=(--config configs/mnist_mlp_${mode/-/_}.yaml --set train.steps=100000 --set train.log_every=20 --set train.eval_every=0)
  "${MPI[@]}" -np 3 "$T" "${P[@]}" --set train.run_dir="$W/$mode" >"$W/$mode.log" 2>&1 &
  launcher=$!
  wait_for "$W/$mode.log" " step +40/"
  kill -USR1 $launcher
  wait $launcher; rc=$?
  [ $rc = 75 ] || die "$mode: mpirun exit $rc after SIGUSR1, expected 75: $(tail -5 "$W/$mode.log")"
  ck="$W/$mode/checkpoints/$(cat "$W/$mode/checkpoints/latest")"
  python3 - "$ck/state.json" <<'PYEOF' || die "$mode: the checkpoint lacks the servers' optimizer state"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["optimizer_step"] > 0 and s["step"] >= 40, s
PYEOF
  "${MPI[@]}" -np 3 "$T" "${P[@]}" --set train.steps=$(( $(python3 -c "import json;print(json.load(open('$ck/state.json'))['step'])") + 20 )) \
    --set train.run_dir="$W/$mode" --resume >"$W/$mode.resume.log" 2>&1 || die "$mode resume: $(tail -3 "$W/$mode.resume.log")"
  grep -q "resumed from" "$W/$mode.resume.log" || die "$mode did not resume"
  grep -q "optimizer state not restored" "$W/$mode.resume.log" && die "$mode: optimizer state missing"
  ok "$mode: SIGUSR1 to mpirun, exit 75, servers' state saved, resume"
done
echo "preempt_cases: $n cases passed"
