#!/usr/bin/env bash
# train_cases.sh TRAIN CASE — the train program on two hosts (scripts/two_hosts.sh),
# np 4: ranks 0-1 on ft-a, ranks 2-3 on ft-b. Run folders and checkpoints go to
# the per-host scratch folder, so nothing but the binaries and data is shared.
#   allreduce      allreduce-sync under auto: shared memory within each host and
#                  MPI between them ("2 ranks per node x 2 nodes"), MNIST to the
#                  single-process bar (0.945)
#   deterministic  deterministic mode on two hosts is bit-identical to one process, and
#                  sends 2·S·(n−1)/n per rank and step (reduce-scatter + allgather)
#   resume         stopped at step 30 and resumed from ft-a's checkpoint alone
#                  (ft-b holds none): bit-identical to the uninterrupted run
#   ps             ps-async, both servers on ft-a and both workers on ft-b
#   mp             model parallel 2: each group within a host, data parallel across
#   bert           bert_tiny, allreduce-sync
#   stall          rank 3 (ft-b) stops; distributed.stall_timeout_s = 3 ends the job,
#                  the line naming the waiting rank, the missing one and their hosts
#   stall_ring     as stall under allreduce_algorithm = ring: the ranks on ft-a learn over
#                  the progress channel (UDP across the veth pair) that rank 3 on ft-b has
#                  not entered the bucket, and name it
#   kill           SIGKILL of rank 3 on ft-b: the job ends within 30 s, the last
#                  checkpoint is intact and resumes
#   mismatch       rank 3 started with distributed.deterministic=true: one line at start-up
#   elastic        scripts/flowtrain-run: rank 3 (ft-b) is killed mid-run in deterministic
#                  mode; the launcher relaunches from the last checkpoint with 2 ranks at the
#                  same global batch, and the final parameters equal an uninterrupted np 4
#                  run's, bit for bit; --min-np above --np is one line
set -uo pipefail
TRAIN=$1
CASE=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CHECK="python3 $here/../integration/check.py"
COMMON="--config configs/mnist_mlp.yaml --set train.threads=1 --set train.metrics_file= --set train.tensorboard=false"
export TRAIN CHECK COMMON
body() {
  cat <<'EOF'
set -uo pipefail
R=$FT_SCRATCH/run
fail() { echo "FAIL: $*"; exit 1; }
EOF
  case "$CASE" in
    allreduce) cat <<'EOF'
$FT_MPIRUN -np 4 $TRAIN $COMMON --set train.run_dir=$R --set train.metrics_file=$R/m.jsonl \
  --set data.batch_size=32 --set train.checkpoint.enabled=false 2>&1 | tee $FT_SCRATCH/out
grep "allreduce:" $FT_SCRATCH/out
grep -q "allreduce: 4 ranks on 2 hosts: shared memory, 2 ranks per node x 2 nodes" $FT_SCRATCH/out || fail "not hierarchical"
$CHECK accuracy $R/m.jsonl 0.945 || fail "accuracy"
EOF
    ;;
    deterministic) cat <<'EOF'
D="$COMMON --set distributed.deterministic=true --set train.steps=20 --set optimizer.schedule.warmup=5 --set train.eval_every=0"
$TRAIN $D --set data.batch_size=128 --set train.run_dir=$R/np1 -q || fail "np 1"
$FT_MPIRUN -np 4 $TRAIN $D --set data.batch_size=32 --set train.run_dir=$R/np4 -q || fail "np 4 on two hosts"
$CHECK same $R/np1/checkpoints $R/np4/checkpoints || fail "not bit-identical"
# reduce-scatter + allgather: 2·S·(n−1)/n = 3.83 MiB per rank and step (an allgather of whole partials: 7.66)
$CHECK field-below $R/np4/metrics.jsonl reduce_sent_mb 3.9 || fail "deterministic traffic"
echo "ok: np 4 on two hosts is bit-identical to np 1"
EOF
    ;;
    resume) cat <<'EOF'
S="$COMMON --set train.steps=60 --set optimizer.schedule.warmup=10 --set train.eval_every=0 --set data.batch_size=32 \
   --set train.checkpoint.every=30 --set train.checkpoint.keep=5"
$FT_MPIRUN -np 4 $TRAIN $S --set train.run_dir=$R/full -q || fail "full run"
mkdir -p $R/part/checkpoints && cp -r $R/full/checkpoints/step-00000030 $R/part/checkpoints/ \
  && echo step-00000030 > $R/part/checkpoints/latest
$FT_MPIRUN -np 4 $TRAIN $S --set train.run_dir=$R/part --resume 2>&1 | tee $FT_SCRATCH/out || fail "resume"
grep -q "resumed from .* at step 30" $FT_SCRATCH/out || fail "not resumed at step 30"
[ -z "$($FT_ON_HOST ft-b sh -c "ls $FT_SCRATCH | grep -v '^tmp$'")" ] || fail "ft-b's scratch holds files"
$CHECK same $R/full/checkpoints/step-00000060 $R/part/checkpoints/step-00000060 || fail "resumed run differs"
echo "ok: resumed on two hosts from ft-a's checkpoint alone, bit-identical"
EOF
    ;;
    ps) cat <<'EOF'
P="--config configs/mnist_mlp_ps_async.yaml --set train.threads=1 --set distributed.ps.servers=2 --set train.eval_every=0"
$FT_MPIRUN -np 4 $TRAIN $P --set train.run_dir=$R --set train.steps=200 2>&1 | tee $FT_SCRATCH/out || fail "ps-async"
# The chief is the first worker (rank 2, ft-b): its host holds the metrics and the checkpoint.
$FT_ON_HOST ft-b $CHECK loss-below $R/metrics.jsonl 0.5 || fail "loss"
[ ! -e $R/checkpoints ] || fail "ft-a holds checkpoints"
$FT_MPIRUN -np 4 $TRAIN $P --set train.run_dir=$R --set train.steps=400 --set train.eval_every=400 --resume 2>&1 \
  | tee $FT_SCRATCH/out || fail "ps-async resume"
grep -q "resumed from .* at step 200" $FT_SCRATCH/out || fail "not resumed at step 200"
$FT_ON_HOST ft-b $CHECK accuracy $R/metrics.jsonl 0.93 || fail "accuracy"
EOF
    ;;
    mp) cat <<'EOF'
$FT_MPIRUN -np 4 $TRAIN $COMMON --set distributed.model_parallel=2 --set train.run_dir=$R --set train.metrics_file=$R/m.jsonl \
  --set train.steps=800 --set data.batch_size=64 --set train.eval_every=800 2>&1 | tee $FT_SCRATCH/out || fail "mp"
grep -q "model-parallel groups: ranks 0-1 on ft-a, ranks 2-3 on ft-b" $FT_SCRATCH/out || fail "groups not within hosts"
$CHECK accuracy $R/m.jsonl 0.945 || fail "accuracy"
EOF
    ;;
    bert) cat <<'EOF'
$FT_MPIRUN -np 4 $TRAIN --config configs/bert_tiny.yaml --set train.threads=1 --set train.run_dir=$R --set train.steps=80 \
  --set train.eval_every=80 --set train.checkpoint.enabled=false 2>&1 | tee $FT_SCRATCH/out || fail "bert_tiny"
grep -q "allreduce: 4 ranks on 2 hosts: shared memory, 2 ranks per node x 2 nodes" $FT_SCRATCH/out || fail "not hierarchical"
python3 tests/bert/check_mlm_metrics.py $R/metrics.jsonl 4096 1.0 || fail "did not learn"
EOF
    ;;
    stall) cat <<'EOF'
t0=$(date +%s)
$FT_MPIRUN -np 4 $TRAIN $COMMON --set train.run_dir=$R --set train.steps=50 --set optimizer.schedule.warmup=2 --set train.eval_every=0 --set train.checkpoint.enabled=false \
  --set debug.slow_rank=3 --set debug.slow_ms=120000 --set distributed.stall_warning_s=1 --set distributed.stall_timeout_s=3 \
  >$FT_SCRATCH/out 2>&1
rc=$?
t=$(( $(date +%s) - t0 ))
cat $FT_SCRATCH/out
[ $rc -ne 0 ] || fail "exit 0"
[ $t -lt 60 ] || fail "took $t s"
grep -q "stall timeout: rank 2 (ft-b) has waited .* past distributed.stall_timeout_s = 3; not arrived: rank 3 (ft-b); ending the job" \
  $FT_SCRATCH/out || fail "no timeout line naming rank 3 on ft-b"
echo "ok: ended after $t s naming rank 3 on ft-b"
EOF
    ;;
    stall_ring) cat <<'EOF'
$FT_MPIRUN -np 4 $TRAIN $COMMON --set train.run_dir=$R --set train.steps=50 --set optimizer.schedule.warmup=2 --set train.eval_every=0 --set train.checkpoint.enabled=false \
  --set distributed.allreduce_algorithm=ring \
  --set debug.slow_rank=3 --set debug.slow_ms=120000 --set distributed.stall_warning_s=1 --set distributed.stall_timeout_s=3 \
  >$FT_SCRATCH/out 2>&1
rc=$?
cat $FT_SCRATCH/out
[ $rc -ne 0 ] || fail "exit 0"
grep -q "allreduce: 4 ranks on 2 hosts: ring, mpi" $FT_SCRATCH/out || fail "not the ring"
grep -qE "stall: rank [01] has waited .*; not arrived: rank 3 \(ft-b\)$" $FT_SCRATCH/out || fail "no line from ft-a naming rank 3 on ft-b"
grep -qE "stall timeout: rank [012] \((ft-a|ft-b)\) has waited .* past distributed.stall_timeout_s = 3; not arrived: rank 3 \(ft-b\); ending the job" \
  $FT_SCRATCH/out || fail "no timeout line naming rank 3 on ft-b"
echo "ok: ring stall across hosts names rank 3 on ft-b"
EOF
    ;;
    kill) cat <<'EOF'
K="$COMMON --set optimizer.schedule.warmup=2 --set train.eval_every=0 --set train.checkpoint.every=20 --set train.checkpoint.keep=2 --set data.batch_size=32"
$FT_MPIRUN -np 4 $TRAIN $K --set train.run_dir=$R --set train.steps=100000 --set train.log_every=10 >$FT_SCRATCH/out 2>&1 &
job=$!
for _ in $(seq 1 600); do [ -e $R/checkpoints/latest ] && break; sleep 0.1; done
[ -e $R/checkpoints/latest ] || { cat $FT_SCRATCH/out; fail "no checkpoint"; }
victim=""
for p in $(pgrep -f "$TRAIN .*steps=100000"); do
  tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=3' && victim=$p
done
[ -n "$victim" ] || fail "rank 3 not found"
[ "$(nsenter -t $victim -u hostname)" = ft-b ] || fail "rank 3 is not on ft-b"
kill -9 $victim
t0=$(date +%s)
while kill -0 $job 2>/dev/null && [ $(( $(date +%s) - t0 )) -lt 30 ]; do sleep 0.2; done
kill -0 $job 2>/dev/null && fail "job still running 30 s after rank 3 died"
wait $job
rc=$?
t=$(( $(date +%s) - t0 ))
tail -5 $FT_SCRATCH/out
[ $rc -ne 0 ] || fail "exit 0"
grep -q "rank 3" $FT_SCRATCH/out || fail "rank 3 not named"
last=$(cat $R/checkpoints/latest)
$CHECK finite $R/checkpoints/$last || fail "last checkpoint $last"
step=${last#step-}; step=$((10#$step))
$FT_MPIRUN -np 4 $TRAIN $K --set train.run_dir=$R --set train.steps=$((step + 10)) --resume 2>&1 | tee $FT_SCRATCH/out2 \
  || fail "resume"
grep -q "resumed from .* at step $step" $FT_SCRATCH/out2 || fail "not resumed at $step"
echo "ok: ended $t s after rank 3 died (exit $rc), $last intact, resumed"
EOF
    ;;
    mismatch) cat <<'EOF'
$FT_MPIRUN -np 3 $TRAIN $COMMON --set train.run_dir=$R --set train.steps=5 --set optimizer.schedule.warmup=2 --set train.checkpoint.enabled=false : \
  -np 1 $TRAIN $COMMON --set train.run_dir=$R --set train.steps=5 --set optimizer.schedule.warmup=2 --set train.checkpoint.enabled=false --set distributed.deterministic=true \
  >$FT_SCRATCH/out 2>&1
rc=$?
cat $FT_SCRATCH/out
[ $rc -ne 0 ] || fail "exit 0"
grep -q "layout differs across ranks: distributed.deterministic is false on rank 0 and true on rank 3" $FT_SCRATCH/out \
  || fail "no layout line"
EOF
    ;;
    elastic) cat <<'EOF'
err=$(scripts/flowtrain-run --np 2 --min-np 4 -- $TRAIN 2>&1)
[ $? -eq 2 ] && [ "$err" = "flowtrain-run: --min-np 4 is above --np 2" ] || fail "bad --min-np: '$err'"
D="$COMMON --set distributed.deterministic=true --set train.steps=40 --set optimizer.schedule.warmup=5 --set train.eval_every=0 \
   --set train.checkpoint.every=10 --set train.checkpoint.keep=5 -q"
$FT_MPIRUN -np 4 $TRAIN $D --set data.batch_size=32 --set train.run_dir=$R/full || fail "uninterrupted run"
scripts/flowtrain-run --np 4 --min-np 2 --global-batch 128 --max-restarts 2 --mpirun "$FT_MPIRUN" -- \
  $TRAIN $D --set train.run_dir=$R/el --set debug.slow_rank=0 --set debug.slow_ms=150 >$FT_SCRATCH/out 2>&1 &
job=$!
for _ in $(seq 1 600); do [ -e $R/el/checkpoints/latest ] && break; sleep 0.1; done
victim=""
for p in $(pgrep -f "$TRAIN .*run_dir=$R/el"); do
  tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=3' && victim=$p
done
[ -n "$victim" ] || { cat $FT_SCRATCH/out; fail "rank 3 not found"; }
kill -9 $victim
wait $job
rc=$?
grep "flowtrain-run:" $FT_SCRATCH/out
[ $rc -eq 0 ] || { tail -20 $FT_SCRATCH/out; fail "the launcher exited $rc"; }
grep -q "restart 1/2: rank 3 on ft-b died (signal 9); relaunching from the last checkpoint with 2 rank(s)" $FT_SCRATCH/out \
  || fail "no restart line naming rank 3 on ft-b"
$CHECK same $R/full/checkpoints/step-00000040 $R/el/checkpoints/step-00000040 || fail "not bit-identical"
echo "ok: relaunched with 2 ranks after rank 3 died; final parameters bit-identical to the uninterrupted run"
EOF
    ;;
    *) echo "unknown case $CASE"; exit 2 ;;
  esac
}
timeout 500 bash "$here/../../scripts/two_hosts.sh" -- bash -c "$(body)"
