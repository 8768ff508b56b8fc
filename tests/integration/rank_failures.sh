#!/usr/bin/env bash
# rank_failures.sh TRAIN CASE — allreduce-sync under mpirun when a rank is slow or dies.
#   stall: rank 1 sleeps 1.5 s before a step; rank 0's stall line names the bucket, its
#          tensors and rank 1 (with its host) as not arrived after distributed.stall_warning_s = 0.5, and
#          rank 1 (not waiting) prints none.
#   dead:  rank 1 is killed mid-training; the job ends non-zero within seconds, no rank left.
set -uo pipefail
TRAIN=$1
CASE=$2
MPIRUN=(mpirun --oversubscribe --bind-to none)
RUNS=${TMPDIR:-/tmp}/ft-rank-failures.$$
mkdir -p "$RUNS"
COMMON=(--config configs/mnist_mlp.yaml --set train.metrics_file= --set train.checkpoint.dir= --set train.threads=1
        --set optimizer.schedule.type=constant --set train.eval_every=0 --set data.eval_examples=100)
case "$CASE" in
  stall)
    "${MPIRUN[@]}" -np 2 "$TRAIN" "${COMMON[@]}" --set train.steps=3 --set debug.slow_rank=1 --set debug.slow_ms=1500 \
      --set distributed.stall_warning_s=0.5 >"$RUNS/out" 2>&1
    rc=$?
    cat "$RUNS/out"
    [ $rc -eq 0 ] || { echo "FAIL: exit $rc"; exit 1; }
    grep -q "stall: rank 0 has waited .* on allreduce bucket 0 of step .* \[fc3/.*\]; not arrived: rank 1 ($(hostname))$" "$RUNS/out" \
      || { echo "FAIL: no stall line from rank 0 naming the bucket and the missing rank"; exit 1; }
    if grep -q "stall: rank 1" "$RUNS/out"; then echo "FAIL: the slow rank reported a stall"; exit 1; fi
    echo "ok: stall reported by the waiting rank only" ;;
  dead)
    "${MPIRUN[@]}" -np 2 "$TRAIN" "${COMMON[@]}" --set train.steps=1000000 --set train.log_every=20 \
      >"$RUNS/out" 2>&1 &
    launcher=$!
    for _ in $(seq 1 600); do grep -qE " step +[0-9]+/" "$RUNS/out" && break; sleep 0.1; done
    victim=""
    for p in $(pgrep -P "$launcher"); do
      tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1' && victim=$p
    done
    [ -n "$victim" ] || { echo "FAIL: rank 1 not found"; kill "$launcher"; exit 1; }
    kill -9 "$victim"
    t0=$SECONDS
    for _ in $(seq 1 300); do kill -0 "$launcher" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$launcher" 2>/dev/null; then echo "FAIL: job still running 30 s after rank 1 died"; kill -9 "$launcher"; exit 1; fi
    wait "$launcher"
    rc=$?
    tail -5 "$RUNS/out"
    [ $rc -ne 0 ] || { echo "FAIL: job exited 0 after a rank died"; exit 1; }
    left=$(pgrep -f "$TRAIN .*train.steps=1000000" | wc -l)
    [ "$left" -eq 0 ] || { echo "FAIL: $left train processes left"; exit 1; }
    echo "ok: job ended with exit $rc $((SECONDS - t0)) s after rank 1 died, no process left" ;;
esac
