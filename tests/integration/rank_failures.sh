#!/usr/bin/env bash
# rank_failures.sh TRAIN CASE — allreduce-sync under mpirun when a rank is slow or dies.
#   stall: rank 1 sleeps 1.5 s before a step; rank 0's stall line names the bucket, its
#          tensors and rank 1 (with its host) as not arrived after distributed.stall_warning_s = 0.5, and
#          rank 1 (not waiting) prints none.
#   dead:  rank 1 is killed mid-training; the job ends non-zero within seconds, no rank left.
#   stall_ring: as stall, under distributed.allreduce_algorithm = ring: rank 0 learns over the
#          progress channel (comm/progress.h) that rank 1 has not entered the bucket and names it.
#   stop_mpi: under allreduce_algorithm = mpi, rank 1 is stopped (SIGSTOP) mid-training;
#          distributed.stall_timeout_s = 2 ends the job with rank 0's line naming rank 1 and
#          its host (a stopped rank cannot answer the channel: it counts as not arrived).
#   stop_det: as stop_mpi, in distributed.deterministic mode (its reduce-scatter and
#          allgather, not buckets, are what rank 0 waits in).
#   stop_mp: distributed.model_parallel = 2, rank 1 stopped: rank 0 waits in an mp collective
#          or at the step boundary (where rank 1 stopped decides which), warns naming it and
#          rank 1, and distributed.stall_timeout_s = 2 ends the job naming rank 1 and its host.
#   stop_ps: ps-async with one server, worker rank 2 stopped mid-training; the server ends
#          the job at distributed.stall_timeout_s = 2 naming worker rank 2 and its host.
set -uo pipefail
TRAIN=$1
CASE=$2
MPIRUN=(mpirun --oversubscribe --bind-to none)
RUNS=${TMPDIR:-/tmp}/ft-rank-failures.$$
mkdir -p "$RUNS"
COMMON=(--config configs/mnist_mlp.yaml --set train.metrics_file= --set train.checkpoint.dir= --set train.threads=1
        --set optimizer.schedule.type=constant --set train.eval_every=0 --set data.eval_examples=100)
# pid of rank $2 among the children of mpirun $1 ("" if not found)
rank_pid() {
  local p
  for _ in $(seq 1 40); do
    for p in $(pgrep -P "$1"); do
      tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" && { echo "$p"; return; }
    done
    sleep 0.05
  done
}
# Starts the job in the background, stops rank $1 once a step is logged, waits for the end.
stop_rank_run() {
  local victim=$1; shift
  "${MPIRUN[@]}" "$@" >"$RUNS/out" 2>&1 &
  launcher=$!
  for _ in $(seq 1 600); do grep -qE " step +[0-9]+/" "$RUNS/out" && break; sleep 0.1; done
  pid=$(rank_pid "$launcher" "$victim")
  [ -n "$pid" ] || { echo "FAIL: rank $victim not found"; kill "$launcher"; exit 1; }
  kill -STOP "$pid"
  for _ in $(seq 1 600); do kill -0 "$launcher" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$launcher" 2>/dev/null; then
    kill -9 "$pid" "$launcher"; cat "$RUNS/out"; echo "FAIL: job still running a minute after rank $victim stopped"; exit 1
  fi
  kill -9 "$pid" 2>/dev/null  # a stopped process takes SIGKILL
  wait "$launcher"
  rc=$?
  cat "$RUNS/out"
  [ $rc -ne 0 ] || { echo "FAIL: job exited 0 with a rank stopped"; exit 1; }
}
H=$(hostname)
# stop_named_case SETTING MODE_LINE WARNING_HEAD OK_TEXT: rank 1 of 2 stopped under SETTING; the
# log shows MODE_LINE, a warning WARNING_HEAD naming rank 1, and the timeout line naming it too.
stop_named_case() {
  stop_rank_run 1 -np 2 "$TRAIN" "${COMMON[@]}" --set train.steps=1000000 --set train.log_every=20 \
    --set "$1" --set distributed.stall_warning_s=1 --set distributed.stall_timeout_s=2
  grep -q "$2" "$RUNS/out" || { echo "FAIL: no line '$2'"; exit 1; }
  grep -q "$3; not arrived: rank 1 ($H)$" "$RUNS/out" || { echo "FAIL: no stall warning naming rank 1"; exit 1; }
  grep -q "stall timeout: rank 0 ($H) has waited .* past distributed.stall_timeout_s = 2; not arrived: rank 1 ($H); ending the job" \
    "$RUNS/out" || { echo "FAIL: no stall timeout line naming rank 1 and its host"; exit 1; }
  echo "ok: $4"
}
case "$CASE" in
  stall_ring)
    "${MPIRUN[@]}" -np 2 "$TRAIN" "${COMMON[@]}" --set train.steps=3 --set debug.slow_rank=1 --set debug.slow_ms=1500 \
      --set distributed.stall_warning_s=0.5 --set distributed.allreduce_algorithm=ring >"$RUNS/out" 2>&1
    rc=$?
    cat "$RUNS/out"
    [ $rc -eq 0 ] || { echo "FAIL: exit $rc"; exit 1; }
    grep -q "allreduce: 2 ranks on 1 host: ring" "$RUNS/out" || { echo "FAIL: not the ring"; exit 1; }
    grep -q "stall: rank 0 has waited .* on allreduce bucket 0 of step .* \[fc3/.*\]; not arrived: rank 1 ($H)$" "$RUNS/out" \
      || { echo "FAIL: no stall line from rank 0 naming the bucket and the missing rank"; exit 1; }
    if grep -q "stall: rank 1" "$RUNS/out"; then echo "FAIL: the slow rank reported a stall"; exit 1; fi
    echo "ok: ring stall names the missing rank" ;;
  stop_mpi)
    stop_named_case distributed.allreduce_algorithm=mpi "allreduce: 2 ranks on 1 host: mpi" "stall: rank 0 has waited .*" \
      "a stopped rank under MPI_Allreduce is named, and the timeout ends the job" ;;
  stop_det)
    stop_named_case distributed.deterministic=true "deterministic: reduce-scatter" \
      "stall: rank 0 has waited .* on deterministic .* of step .*" \
      "a stopped rank in deterministic mode is named, and the timeout ends the job" ;;
  stop_mp)
    stop_rank_run 1 -np 2 "$TRAIN" "${COMMON[@]}" --set train.steps=1000000 --set train.log_every=20 \
      --set distributed.model_parallel=2 --set distributed.stall_warning_s=1 --set distributed.stall_timeout_s=2
    grep -qE "stall: rank 0 has waited .* on (mp_all[a-z]* '.*' of step .* \[the model-parallel group's collective\]|the step boundary \[the ranks' agreement to go on\]); not arrived: rank 1 \($H\)$" \
      "$RUNS/out" || { echo "FAIL: no stall warning naming the model-parallel collective (or step boundary) and rank 1"; exit 1; }
    grep -q "stall timeout: rank 0 ($H) has waited .* past distributed.stall_timeout_s = 2; not arrived: rank 1 ($H); ending the job" \
      "$RUNS/out" || { echo "FAIL: no stall timeout line from rank 0 naming rank 1 and its host"; exit 1; }
    # (rank 1 may print too: mpirun's SIGCONT before SIGTERM wakes it with rank 0 gone)
    if grep -qE "\[r1\] stall( timeout)?: rank 0[ (]" "$RUNS/out"; then echo "FAIL: rank 1's line calls itself rank 0"; exit 1; fi
    echo "ok: a stopped rank of a model-parallel group: the watch names the collective, the timeout ends the job" ;;
  stop_ps)
    stop_rank_run 2 -np 3 "$TRAIN" "${COMMON[@]}" --set train.steps=1000000 --set train.log_every=20 \
      --set distributed.mode=ps-async --set distributed.ps.servers=1 --set distributed.stall_timeout_s=2
    grep -q "parameter server 0 (rank 0 on $H): worker rank 2 ($H) sent nothing for .* s, past distributed.stall_timeout_s = 2; ending the job" \
      "$RUNS/out" || { echo "FAIL: no line from the server naming worker rank 2 and its host"; exit 1; }
    echo "ok: ps-async ends at stall_timeout_s naming the stopped worker" ;;
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
