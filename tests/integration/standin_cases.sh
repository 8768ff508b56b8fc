#!/usr/bin/env bash
# standin_cases.sh TRAIN "MPIRUN..." WORK — the device path end to end on the stand-in
# device (core/standin.h: host memory behind the Device interface, the CPU kernels):
#   1. mnist_mlp, one rank: the losses, the model and the optimizer state are
#      bit-identical to device: cpu; per step the host sends the batch and nothing
#      else (128 x 784 f32 pixels + 128 i32 labels = 401,920 bytes) and receives at
#      most 1 KiB (the loss): the variables and optimizer state stay on the device;
#      the batch is staged on the device a step ahead (core/input_stager.h);
#   2. bert_tiny, one rank: the same losses as cpu; per step no more than the batch
#      goes in (64 KiB, against 3.8 MB of parameters) and at most 1 KiB comes out;
#   3. fp16 with dynamic loss scaling: the loss scale is the only extra (4 bytes in);
#   4. a checkpoint written on the stand-in resumes on cpu and the run ends
#      bit-identical to one that never left the cpu, and the other way round;
#   5. mpirun np 2: the same losses as cpu (the gradients go through the host's
#      allreduce, so here they do cross: that is MPI's staging, reported as such);
#      deterministic mode too (the variables stay; the micro-batches' gradients are
#      summed on the host);
#   6. model parallel 2 at np 2 and 4: resident, every slice bit-identical to cpu (the
#      model-parallel collectives stage through the host);
#   7. ps-sync with workers on the stand-in: the same losses as cpu (servers hold the state).
set -uo pipefail
T=$1
read -r -a MPI <<<"$2"
W=$3
n=0
ok() { n=$((n + 1)); echo "case $n ok: $*"; }
die() { echo "FAIL: $*"; exit 1; }
rm -rf "$W" && mkdir -p "$W"
py() { /usr/bin/python3 - "$@"; }
# losses RUN: the logged training losses of a run folder's metrics, one per line.
losses() { py "$1/metrics.jsonl" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if "eval" not in r: print(repr(r["loss"]))
PY
}
# bytes RUN KEY: the largest per-step value of KEY over the run's log records.
bytes() { py "$1/metrics.jsonl" "$2" <<'PY'
import json, sys
v = [json.loads(l).get(sys.argv[2]) for l in open(sys.argv[1])]
v = [x for x in v if x is not None]
print(int(max(v)) if v else -1)
PY
}
same_run() {  # A B: identical losses, model and optimizer state
  [ "$(losses "$1")" = "$(losses "$2")" ] || die "losses differ: $1 vs $2"
  local a b
  a=$(ls -d "$1"/checkpoints/step-* | tail -1); b=$(ls -d "$2"/checkpoints/step-* | tail -1)
  cmp -s "$a/model.safetensors" "$b/model.safetensors" || die "model differs: $a vs $b"
  cmp -s "$a/optimizer.safetensors" "$b/optimizer.safetensors" || die "optimizer state differs: $a vs $b"
}
M=(--config configs/mnist_mlp.yaml --set train.steps=80 --set optimizer.schedule.warmup=5 --set train.log_every=20
   --set train.eval_every=40 --set train.threads=1 --set train.checkpoint.every=40)

# 1.
for d in cpu standin; do
  "$T" "${M[@]}" --set device=$d --set train.run_dir="$W/m_$d" >"$W/m_$d.log" 2>&1 || die "mnist on $d: $(tail -3 "$W/m_$d.log")"
done
grep -q "device standin: variables and optimizer state resident there" "$W/m_standin.log" || die "no resident-state line"
grep -q "device standin: each batch staged there one step ahead" "$W/m_standin.log" || die "no staged-inputs line"
same_run "$W/m_cpu" "$W/m_standin"
[ "$(bytes "$W/m_standin" h2d_bytes_per_step)" = 401920 ] || die "h2d per step $(bytes "$W/m_standin" h2d_bytes_per_step), not the batch's 401920"
[ "$(bytes "$W/m_standin" d2h_bytes_per_step)" -le 1024 ] || die "d2h per step $(bytes "$W/m_standin" d2h_bytes_per_step) > 1 KiB"
ok "mnist_mlp on the stand-in: bit-identical to cpu; per step the batch in (401920 bytes), $(bytes "$W/m_standin" d2h_bytes_per_step) bytes out"

# 2.
Bt=(--config configs/bert_tiny.yaml --set train.steps=12 --set optimizer.schedule.warmup=2 --set train.log_every=4
    --set train.eval_every=0 --set train.threads=2 --set data.eval_examples=32)
for d in cpu standin; do
  "$T" "${Bt[@]}" --set device=$d --set train.run_dir="$W/b_$d" >"$W/b_$d.log" 2>&1 || die "bert_tiny on $d: $(tail -3 "$W/b_$d.log")"
done
[ "$(losses "$W/b_cpu")" = "$(losses "$W/b_standin")" ] || die "bert_tiny losses differ"
h=$(bytes "$W/b_standin" h2d_bytes_per_step); o=$(bytes "$W/b_standin" d2h_bytes_per_step)
[ "$h" -gt 0 ] && [ "$h" -le 65536 ] || die "bert_tiny h2d per step $h (the batch is under 64 KiB)"
[ "$o" -le 1024 ] || die "bert_tiny d2h per step $o > 1 KiB"
ok "bert_tiny on the stand-in: the losses of cpu; per step $h bytes in, $o out"

# 3.
for d in cpu standin; do
  "$T" "${M[@]}" --set precision=fp16 --set device=$d --set train.run_dir="$W/h_$d" >"$W/h_$d.log" 2>&1 || die "fp16 on $d"
done
same_run "$W/h_cpu" "$W/h_standin"
[ "$(bytes "$W/h_standin" h2d_bytes_per_step)" = 401924 ] || die "fp16 h2d per step $(bytes "$W/h_standin" h2d_bytes_per_step), not batch + the loss scale"
ok "fp16 with loss scaling on the stand-in: bit-identical to cpu; the batch and the 4-byte loss scale in"

# 4. resume across devices, from the step-40 checkpoints of case 1
for pair in "standin cpu" "cpu standin"; do
  set -- $pair
  "$T" "${M[@]}" --set device=$2 --set train.run_dir="$W/r_$1_$2" --resume "$W/m_$1/checkpoints/step-00000040" \
    >"$W/r_$1_$2.log" 2>&1 || die "resume from $1 on $2: $(tail -3 "$W/r_$1_$2.log")"
  grep -q "resumed from .* at step 40" "$W/r_$1_$2.log" || die "no resume line"
  cmp -s "$W/m_cpu/checkpoints/step-00000080/model.safetensors" "$W/r_$1_$2/checkpoints/step-00000080/model.safetensors" \
    || die "resumed on $2 from $1 differs from the uninterrupted run"
done
ok "a stand-in checkpoint resumes on cpu and a cpu one on the stand-in, bit-identical at the end"

# 5.
for d in cpu standin; do
  "${MPI[@]}" -np 2 "$T" "${M[@]}" --set device=$d --set train.run_dir="$W/n_$d" >"$W/n_$d.log" 2>&1 || die "np 2 on $d"
done
same_run "$W/n_cpu" "$W/n_standin"
ok "np 2 on the stand-in: bit-identical to cpu (gradients through the host's allreduce: $(bytes "$W/n_standin" d2h_bytes_per_step) bytes out per step)"

# 5b. deterministic mode: variables resident, the micro-batches' gradients summed on the host
D=("${M[@]}" --set distributed.deterministic=true)
for d in cpu standin; do
  "${MPI[@]}" -np 2 "$T" "${D[@]}" --set device=$d --set train.run_dir="$W/d_$d" >"$W/d_$d.log" 2>&1 || die "deterministic on $d"
done
same_run "$W/d_cpu" "$W/d_standin"
[ "$(bytes "$W/d_standin" h2d_bytes_per_step)" -lt 3500000 ] || die "deterministic h2d per step $(bytes "$W/d_standin" h2d_bytes_per_step): the parameters cross"
ok "deterministic mode on the stand-in: bit-identical to cpu, the variables stay on the device"

# 6. model parallel 2 (np 2: one group; np 4: two replicas of it): variables resident, the
#    model-parallel collectives through the host, bit-identical to cpu slice by slice
P=("${M[@]}" --set distributed.model_parallel=2)
for np in 2 4; do
  for d in cpu standin; do
    "${MPI[@]}" -np $np "$T" "${P[@]}" --set device=$d --set train.run_dir="$W/p${np}_$d" >"$W/p${np}_$d.log" 2>&1 \
      || die "model parallel np $np on $d: $(tail -3 "$W/p${np}_$d.log")"
  done
  grep -q "device standin: variables and optimizer state resident there" "$W/p${np}_standin.log" || die "mp np $np: not resident"
  [ "$(losses "$W/p${np}_cpu")" = "$(losses "$W/p${np}_standin")" ] || die "mp np $np: losses differ"
  for s in mp0 mp1; do for f in model optimizer; do
    cmp -s "$W/p${np}_cpu/checkpoints/step-00000080/$s/$f.safetensors" "$W/p${np}_standin/checkpoints/step-00000080/$s/$f.safetensors" \
      || die "mp np $np: slice $s $f differs"
  done; done
done
ok "model parallel 2 at np 2 and 4 on the stand-in: every slice bit-identical to cpu"
# 7. ps-sync, one server and two workers: the servers keep the state on the host, the workers
#    copy gradients out and the pulled parameters in; the same losses as cpu
for d in cpu standin; do
  "${MPI[@]}" -np 3 "$T" "${M[@]}" --set distributed.mode=ps-sync --set distributed.ps.servers=1 --set device=$d \
    --set train.run_dir="$W/s_$d" >"$W/s_$d.log" 2>&1 || die "ps-sync on $d: $(tail -3 "$W/s_$d.log")"
done
[ "$(losses "$W/s_cpu")" = "$(losses "$W/s_standin")" ] || die "ps-sync losses differ"
ok "ps-sync with workers on the stand-in: the losses of cpu ($(bytes "$W/s_standin" h2d_bytes_per_step) bytes in per step: the parameters)"
echo "all $n stand-in cases passed"
