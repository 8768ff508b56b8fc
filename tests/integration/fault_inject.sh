#!/usr/bin/env bash
# fault_inject.sh TRAIN CASE — SIGKILL one rank of a short MNIST MLP run at a random step,
# then resume from its last checkpoint.
#   ar_worker: allreduce-sync, np 2, deterministic mode; a random rank is killed
#   ps_server: ps-sync, np 3 (server rank 0, workers 1 and 2); the server is killed
#   ps_worker: ps-async, np 3; a random worker is killed
#   mp_stage:  model parallel 2 x data parallel 2, np 4; a random stage is killed
# Asserts: the job ends non-zero within 30 s of the kill, with a line naming the killed
# rank and no process left; `--resume` from the checkpoint folder starts at the step
# of the last checkpoint and finishes. In deterministic mode (ar_worker) the resumed
# run's losses after the resume step, and its final checkpoint, are bit-identical to an
# uninterrupted run's; for the other cases the comparison is printed, not asserted.
# The seed is printed; FT_FAULT_SEED=<seed> repeats the same victim and kill step.
set -uo pipefail
TRAIN=$1
CASE=$2
MPIRUN=(mpirun --oversubscribe --bind-to none)
LIMIT=(timeout -k 10 120)  # a hang guard for the runs that are not killed
CHECK=tests/integration/check.py
RUNS=${FT_FAULT_RUNS:-${TMPDIR:-/tmp}/ft-fault-inject.$$}/$CASE
rm -rf "$RUNS"
mkdir -p "$RUNS"
seed=${FT_FAULT_SEED:-$(( $(date +%s%N) % 32768 ))}
RANDOM=$seed
STEPS=60
EVERY=5
kill_step=$(( 12 + RANDOM % 34 ))  # 12..45: past the first checkpoints, before the end
fail() { echo "FAIL [$CASE seed $seed]: $*"; exit 1; }

# Tiny model, every step logged, checkpoints every 5 steps (every step for mp_stage), the chief slowed by 50 ms a
# step so the kill lands near the chosen step.
COMMON=(--config configs/mnist_mlp.yaml --set model.hidden=[32] --set data.batch_size=32
        --set train.steps=$STEPS --set train.log_every=1 --set train.eval_every=0 --set data.eval_examples=100
        --set train.threads=1 --set optimizer.schedule.warmup=5 --set train.checkpoint.keep=100)
case "$CASE" in
  ar_worker) np=2; victim=$(( RANDOM % 2 )); chief=0
             MODE=(--set distributed.mode=allreduce-sync --set distributed.deterministic=true) ;;
  ps_server) np=3; victim=0; chief=1
             MODE=(--set distributed.mode=ps-sync --set distributed.ps.servers=1) ;;
  ps_worker) np=3; victim=$(( 1 + RANDOM % 2 )); chief=1
             MODE=(--set distributed.mode=ps-async --set distributed.ps.servers=1) ;;
  mp_stage)  np=4; victim=$(( RANDOM % 4 )); chief=0
             MODE=(--set distributed.mode=allreduce-sync --set distributed.model_parallel=2) ;;
  *) echo "unknown case $CASE"; exit 2 ;;
esac
# Model parallel: a checkpoint every step, so the kill often lands while slices are written.
[ "$CASE" = mp_stage ] && EVERY=1
ARGS=("${COMMON[@]}" --set train.checkpoint.every=$EVERY "${MODE[@]}" --set debug.slow_rank=$chief --set debug.slow_ms=50)
echo "fault_inject $CASE: seed $seed (FT_FAULT_SEED=$seed repeats it): SIGKILL rank $victim of $np at step $kill_step"

# 1. Uninterrupted reference run.
"${LIMIT[@]}" "${MPIRUN[@]}" -np $np "$TRAIN" "${ARGS[@]}" --set train.checkpoint.dir="$RUNS/full/ck" \
  --set train.metrics_file="$RUNS/full/m.jsonl" >"$RUNS/full.log" 2>&1 \
  || { tail -20 "$RUNS/full.log"; fail "the uninterrupted run failed or hung (killed after 120 s)"; }

# 2. The same run, with the victim killed once the chief has logged kill_step.
"${MPIRUN[@]}" -np $np "$TRAIN" "${ARGS[@]}" --set train.checkpoint.dir="$RUNS/ck" \
  --set train.metrics_file="$RUNS/killed.jsonl" >"$RUNS/killed.log" 2>&1 &
launcher=$!
pat=$(printf ' step %6d/' "$kill_step")
for _ in $(seq 1 1200); do grep -q "$pat" "$RUNS/killed.log" && break; kill -0 $launcher 2>/dev/null || break; sleep 0.05; done
grep -q "$pat" "$RUNS/killed.log" || { kill -9 $launcher 2>/dev/null; tail -20 "$RUNS/killed.log"; fail "step $kill_step never logged"; }
pid=""
# The launcher's children, looked up again for a moment when a loaded machine has not
# listed them all yet.
for _ in $(seq 1 40); do
  for p in $(pgrep -P $launcher); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$victim" && pid=$p
  done
  [ -n "$pid" ] && break
  sleep 0.05
done
[ -n "$pid" ] || { echo "children: $(pgrep -P $launcher -a)"; kill -9 $launcher; fail "rank $victim not found among the launcher's children"; }
kill -9 "$pid"
t0=$(date +%s.%N)
at_kill=$(grep -oE ' step +[0-9]+/' "$RUNS/killed.log" | tail -1 | grep -oE '[0-9]+')
echo "killed rank $victim (pid $pid) with the chief's last logged step at $at_kill"
for _ in $(seq 1 300); do kill -0 $launcher 2>/dev/null || break; sleep 0.1; done
if kill -0 $launcher 2>/dev/null; then
  tail -20 "$RUNS/killed.log"
  for p in $(pgrep -P $launcher); do kill -9 "$p"; done
  kill -9 $launcher
  fail "job still running 30 s after rank $victim was killed"
fi
wait $launcher
rc=$?
ended=$(python3 -c "import time; print(f'{time.time() - $t0:.1f}')")
[ $rc -ne 0 ] || fail "job exited 0 after rank $victim was killed"
left=$(pgrep -f -- "checkpoint.dir=$RUNS/ck" | wc -l)
[ "$left" -eq 0 ] || fail "$left train processes left after the job ended"
w='(exit|signal|kill|died|dead|lost|fail|terminat|abort)'
named=$(grep -iE "rank $victim([^0-9]|$).*$w|$w.*rank $victim([^0-9]|$)" "$RUNS/killed.log" | head -3)
[ -n "$named" ] || { tail -20 "$RUNS/killed.log"; fail "no line names rank $victim"; }
echo "job ended ${ended} s after the kill (exit $rc), naming the rank:"
echo "$named" | sed 's/^/  | /'

# 3. Resume from the last complete checkpoint; it must finish.
# The step of the last committed checkpoint: <dir>/latest; with model-parallel slices
# (<dir>/mp<i>/latest) and no <dir>/latest, the last step every slice has committed.
step_of() { sed -n 's/^step-0*\([0-9][0-9]*\)$/\1/p' "$1"; }
if [ -f "$RUNS/ck/latest" ]; then
  at=$(step_of "$RUNS/ck/latest")
elif [ "$CASE" = mp_stage ] && ls "$RUNS"/ck/mp*/latest >/dev/null 2>&1; then
  echo "checkpoint slices: $(for f in "$RUNS"/ck/mp*/latest; do printf '%s=%s ' "$(basename "$(dirname "$f")")" "$(cat "$f")"; done)"
  at=$(for f in "$RUNS"/ck/mp*/latest; do step_of "$f"; done | sort -n | head -1)
else
  fail "no checkpoint was committed before the kill"
fi
"${LIMIT[@]}" "${MPIRUN[@]}" -np $np "$TRAIN" "${ARGS[@]}" --set train.checkpoint.dir="$RUNS/ck" \
  --set train.metrics_file="$RUNS/resumed.jsonl" --resume >"$RUNS/resumed.log" 2>&1 \
  || { rc=$?; tail -20 "$RUNS/resumed.log"; fail "--resume failed (exit $rc$([ $rc -eq 124 ] && echo ': hung, killed after 120 s'))"; }
grep -q "resumed from .* at step $at\$" "$RUNS/resumed.log" \
  || { grep resumed "$RUNS/resumed.log"; fail "the run did not resume at step $at (the last checkpoint)"; }
echo "resumed at step $at and finished"

# 4. The resumed run against the uninterrupted one.
cmp=$(python3 - "$RUNS/full/m.jsonl" "$RUNS/resumed.jsonl" "$at" <<'EOF'
import json, sys
def losses(p):
    return {r["step"]: r["loss"] for r in map(json.loads, open(p)) if "loss" in r and "eval" not in r}
full, res, at = losses(sys.argv[1]), losses(sys.argv[2]), int(sys.argv[3])
steps = sorted(s for s in full if s > at)
missing = [s for s in steps if s not in res]
if missing: print(f"missing steps {missing[:5]}"); sys.exit(1)
diff = [(s, full[s], res[s]) for s in steps if full[s] != res[s]]
if diff:
    rel = max(abs(a - b) / max(abs(a), 1e-30) for _, a, b in diff)
    print(f"{len(diff)} of {len(steps)} losses after step {at} differ (max relative {rel:.3g}), first: step {diff[0][0]} {diff[0][1]!r} vs {diff[0][2]!r}")
    sys.exit(1)
print(f"losses of steps {steps[0]}..{steps[-1]} bit-identical to the uninterrupted run")
EOF
)
same=$?
echo "$cmp"
if [ "$CASE" = ar_worker ]; then
  [ $same -eq 0 ] || fail "deterministic mode: the resumed run is not bit-identical"
  python3 $CHECK same "$RUNS/full/ck/step-$(printf %08d $STEPS)" "$RUNS/ck/step-$(printf %08d $STEPS)" \
    || fail "deterministic mode: final checkpoints differ"
fi
rm -rf "$RUNS"; rmdir "$(dirname "$RUNS")" 2>/dev/null
echo "ok: $CASE"
