#!/usr/bin/env bash
# ps_cases.sh — the parameter-server test cases: trains under mpirun and checks
# the results with ps_check. Usage: ps_cases.sh CASE "MPIRUN ARGS" TRAIN PS_CHECK RUNDIR
# (run from the repo root; CTest passes these, see tests/ps/CMakeLists.txt).
set -euo pipefail
case_name=$1; read -r -a MPIRUN <<<"$2"; TRAIN=$3; CHECK=$4; RUNS=$5
rm -rf "$RUNS"; mkdir -p "$RUNS"
CFG=configs/mnist_mlp.yaml
# Short runs: the point is equality, not accuracy. Eval on 2000 test examples.
SHORT=(--set train.steps=40 --set train.log_every=10 --set train.eval_every=0 --set data.eval_examples=2000
       --set optimizer.schedule.warmup=5 --set train.threads=1)

train() {  # train NP NAME ARGS... : one run, its log in $RUNS/NAME.log, its files under $RUNS/NAME/
  local np=$1 name=$2; shift 2
  echo "== $name: mpirun -np $np train $*"
  "${MPIRUN[@]}" -np "$np" "$TRAIN" --config "$CFG" --set train.metrics_file="$RUNS/$name/metrics.jsonl" \
    --set train.checkpoint.dir="$RUNS/$name/ckpt" "$@" >"$RUNS/$name.log" 2>&1 || {
    echo "run $name failed:"; tail -n 20 "$RUNS/$name.log"; return 1; }
  grep -E "eval step|server rank|ps-(a)?sync:" "$RUNS/$name.log" || true
}

expect_failure() {  # expect_failure NP NAME PATTERN ARGS... : the run fails and its output matches PATTERN
  local np=$1 name=$2 pattern=$3; shift 3
  echo "== $name (must fail with /$pattern/): mpirun -np $np train $*"
  local t0=$SECONDS
  if "${MPIRUN[@]}" -np "$np" "$TRAIN" --config "$CFG" --set train.metrics_file= --set train.checkpoint.dir= "$@" \
       >"$RUNS/$name.log" 2>&1; then
    echo "run $name succeeded but should have failed"; return 1
  fi
  grep -E "$pattern" "$RUNS/$name.log" || { echo "no line matches /$pattern/:"; tail -n 20 "$RUNS/$name.log"; return 1; }
  echo "failed as expected after $((SECONDS - t0)) s"
}

case "$case_name" in
  sync_equals_allreduce_np3)
    train 2 ar "${SHORT[@]}" --set distributed.mode=allreduce-sync
    train 3 ps "${SHORT[@]}" --set distributed.mode=ps-sync --set distributed.ps.servers=1
    "$CHECK" compare "$RUNS/ar/ckpt" "$RUNS/ps/ckpt" 1e-5 ;;
  sync_equals_allreduce_np4)
    ADAM=(--set optimizer.type=adam --set optimizer.lr=0.001 --set optimizer.weight_decay=0)
    train 2 ar "${SHORT[@]}" "${ADAM[@]}" --set distributed.mode=allreduce-sync
    train 4 ps "${SHORT[@]}" "${ADAM[@]}" --set distributed.mode=ps-sync --set distributed.ps.servers=2 \
      --set distributed.ps.chunk_mb=0.3
    grep -q "2 servers" "$RUNS/ps.log"
    "$CHECK" compare "$RUNS/ar/ckpt" "$RUNS/ps/ckpt" 1e-5 ;;
  chunks_reassemble_exactly_np4)
    # fc1/w (784x512 f32, 1.6 MB) becomes 17 chunks of <= 0.1 MB spread over both servers.
    train 3 whole "${SHORT[@]}" --set distributed.mode=ps-sync --set distributed.ps.servers=1 --set distributed.ps.chunk_mb=64
    train 4 chunked "${SHORT[@]}" --set distributed.mode=ps-sync --set distributed.ps.servers=2 \
      --set distributed.ps.chunk_mb=0.1
    "$CHECK" compare "$RUNS/whole/ckpt" "$RUNS/chunked/ckpt" 0 ;;
  async_mnist_np3)
    CFG=configs/mnist_mlp_ps_async.yaml
    train 3 async --set train.eval_every=400 --set train.log_every=50 \
      --set train.checkpoint.every=0 --set distributed.ps.staleness=4
    "$CHECK" metrics "$RUNS/async/metrics.jsonl" --min-accuracy 0.94 --staleness-bound 4 ;;
  async_staleness_np4)
    train 4 slow "${SHORT[@]}" --set distributed.mode=ps-async --set distributed.ps.servers=2 \
      --set distributed.ps.staleness=2 --set debug.slow_rank=3 --set debug.slow_ms=40 --set train.log_every=5
    "$CHECK" metrics "$RUNS/slow/metrics.jsonl" --staleness-bound 2 --expect-stale
    # k = 0: lock step, every update has staleness 0 although one worker is slow.
    train 3 lockstep "${SHORT[@]}" --set distributed.mode=ps-async --set distributed.ps.staleness=0 \
      --set debug.slow_rank=2 --set debug.slow_ms=40 --set train.log_every=5
    "$CHECK" metrics "$RUNS/lockstep/metrics.jsonl" --staleness-bound 0 ;;
  async_early_finish_np3)
    # Rank 2 is 60 ms slower per step; with a loose bound rank 1 (the chief) finishes,
    # evaluates and checkpoints while rank 2 is still training; the servers wait for it.
    train 3 early "${SHORT[@]}" --set distributed.mode=ps-async --set distributed.ps.staleness=1000 \
      --set debug.slow_rank=2 --set debug.slow_ms=60
    grep -q "server rank 0: 80 updates" "$RUNS/early.log"
    "$CHECK" metrics "$RUNS/early/metrics.jsonl" --staleness-bound 1000 ;;
  checkpoint_roundtrip)
    EVERY=(--set train.checkpoint.every=20 --set train.checkpoint.keep=5)
    # ps-sync (1 server) to step 40; allreduce-sync resumes its step-20 checkpoint; both end equal.
    train 3 ps "${SHORT[@]}" "${EVERY[@]}" --set distributed.mode=ps-sync
    train 2 ar_from_ps "${SHORT[@]}" --set distributed.mode=allreduce-sync --resume "$RUNS/ps/ckpt/step-00000020"
    "$CHECK" compare "$RUNS/ps/ckpt/step-00000040" "$RUNS/ar_from_ps/ckpt/step-00000040" 1e-5
    # allreduce-sync to step 40; ps-sync on 2 servers with chunks resumes its step-20 checkpoint.
    train 2 ar "${SHORT[@]}" "${EVERY[@]}" --set distributed.mode=allreduce-sync
    train 4 ps_from_ar "${SHORT[@]}" --set distributed.mode=ps-sync --set distributed.ps.servers=2 \
      --set distributed.ps.chunk_mb=0.2 --resume "$RUNS/ar/ckpt/step-00000020"
    "$CHECK" compare "$RUNS/ar/ckpt/step-00000040" "$RUNS/ps_from_ar/ckpt/step-00000040" 1e-5 ;;
  silent_worker_np3)
    expect_failure 3 silent "worker rank 2 \\($(hostname)\\) sent nothing" "${SHORT[@]}" --set distributed.mode=ps-async \
      --set distributed.stall_warning_s=1 --set debug.slow_rank=2 --set debug.slow_ms=30000 ;;
  dead_worker_np3)
    # Kill worker rank 2 mid-training: the job must end within seconds, naming rank 2.
    "${MPIRUN[@]}" -np 3 "$TRAIN" --config configs/mnist_mlp_ps_async.yaml --set train.steps=1000000 \
      --set train.log_every=20 --set train.metrics_file= --set train.checkpoint.dir= --set train.threads=1 \
      >"$RUNS/dead.log" 2>&1 &
    launcher=$!
    for _ in $(seq 1 600); do grep -qE " step +[0-9]+/" "$RUNS/dead.log" && break; sleep 0.1; done
    victim=""
    for p in $(pgrep -P "$launcher"); do
      tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=2' && victim=$p
    done
    [ -n "$victim" ] || { echo "rank 2 not found among the launcher's children"; kill "$launcher"; exit 1; }
    kill -9 "$victim"
    t0=$SECONDS
    for _ in $(seq 1 300); do kill -0 "$launcher" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$launcher" 2>/dev/null; then echo "job still running 30 s after rank 2 died"; kill "$launcher"; exit 1; fi
    wait "$launcher" && { echo "job exited 0 after a worker died"; exit 1; }
    grep -E "rank 2" "$RUNS/dead.log"
    echo "job ended $((SECONDS - t0)) s after rank 2 died" ;;
  config_errors)
    expect_failure 2 no_workers "key 'distributed.ps.servers' = 2 leaves no worker" "${SHORT[@]}" \
      --set distributed.mode=ps-sync --set distributed.ps.servers=2
    expect_failure 3 too_many_servers "key 'distributed.ps.servers' = 5 leaves no worker" "${SHORT[@]}" \
      --set distributed.mode=ps-async --set distributed.ps.servers=5
    expect_failure 4 model_parallel "key 'distributed.model_parallel' = 2 cannot be combined" "${SHORT[@]}" \
      --set distributed.mode=ps-async --set distributed.model_parallel=2
    expect_failure 3 negative_staleness "distributed.ps.staleness" "${SHORT[@]}" \
      --set distributed.mode=ps-async --set distributed.ps.staleness=-1 ;;
  *) echo "unknown case $case_name"; exit 2 ;;
esac
echo "ok: $case_name"
