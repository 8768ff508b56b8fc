#!/usr/bin/env bash
# scale_validate.sh — scale_plan's predictions against runs on this machine, all in one run.
#
# 1. Calibration: comm_bench at np 2 on one host (shared memory) and over the two hosts of
#    scripts/two_hosts.sh (one rank each, TCP over a veth pair) for the links' α-β; at np 4
#    on both for the copy rates and the scheduling delay per collective of ranks sharing the
#    cores (scale_plan --shared-bench and --fit-shared, train/scale_model.h fit_shared_cores);
#    a one-rank, one-thread training run for compute.step_ms and σ, and four such runs at
#    once (no communication) for compute_share, the cores' speed when time-sliced. It writes the two
#    cluster files (one host, two hosts) into OUT.
# 2. ROUNDS rounds of the four MNIST MLP jobs, one after another: np 1, np 2 and np 4 on one
#    host, np 4 over the two hosts (2 + 2). samples/s (global) is the median of a run's
#    100-step intervals after the first; a job's figure is the median of its rounds.
# 3. The predictions from those files, and a table: predicted, measured, error.
#
# Needs root (network namespaces). Run it on an otherwise idle machine: another process on
# the cores changes the runs more than the model's error.
#   bench/scale_validate.sh [BUILD_DIR] [ROUNDS] [OUT_DIR]    (defaults: build 3, a new temp dir)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}; ROUNDS=${2:-3}; OUT=${3:-$(mktemp -d /tmp/scale_validate.XXXXXX)}
for p in train comm_bench scale_plan; do
  [ -x "$B/bin/$p" ] || { echo "scale_validate: no $B/bin/$p (scripts/build.sh $B)"; exit 1; }
done
[ -f data/mnist/train-images-idx3-ubyte ] || { echo "scale_validate: no MNIST (scripts/fetch_mnist.sh data/mnist)"; exit 1; }
mkdir -p "$OUT"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
TRAIN=$B/bin/train CB=$B/bin/comm_bench SP=$B/bin/scale_plan
C="--config configs/mnist_mlp.yaml --set train.steps=300 --set train.threads=1 --set train.eval_every=0"
C="$C --set train.log_every=100 --set train.checkpoint.enabled=false --overwrite -q"
CBA="-b 8K -e 4M -n 50"
# The shared-cores benches from 8 bytes: the step's collectives include the 4-byte
# step-boundary agreement and buckets of a few KiB (biases), whose delay differs.
CB4="-b 8 -e 4M -n 50"
echo "scale_validate: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%F %H:%M UTC'), into $OUT"

# 1. calibration
mpirun -np 2 --bind-to none $CB $CBA > "$OUT/np2_host.txt"
bash scripts/two_hosts.sh -- sh -c "\$FT_MPIRUN -np 2 --map-by node $CB $CBA > $OUT/np2_veth.txt" >/dev/null
mpirun -np 4 --oversubscribe --bind-to none $CB $CB4 > "$OUT/np4_host.txt"
bash scripts/two_hosts.sh -- sh -c "\$FT_MPIRUN -np 4 $CB $CB4 > $OUT/np4_veth.txt" >/dev/null
$TRAIN $C --set train.run_dir="$OUT/cal1" >/dev/null
for i in 1 2 3 4; do $TRAIN $C --set train.run_dir="$OUT/cal4_$i" >/dev/null & done; wait   # 4 at once: compute_share
$SP --config configs/mnist_mlp.yaml --calibrate-out "$OUT/fit_host.yaml" --comm-bench "$OUT/np2_host.txt" \
    --shared-bench "$OUT/np4_host.txt" --metrics "$OUT/cal1/metrics.jsonl" --ranks 1 \
    --shared-metrics "$(echo "$OUT"/cal4_{1,2,3,4}/metrics.jsonl | tr ' ' ,)" >/dev/null
$SP --config configs/mnist_mlp.yaml --calibrate-out "$OUT/fit_veth.yaml" --comm-bench "$OUT/np2_veth.txt" \
    --metrics "$OUT/cal1/metrics.jsonl" --ranks 1 >/dev/null
python3 - "$OUT" "$SP" <<'PY'
import re, subprocess, sys
out, sp = sys.argv[1], sys.argv[2]
def num(text, key, default=None):
    m = re.search(key + r":\s*([\d.]+)", text)
    if m: return float(m.group(1))
    if default is None: raise SystemExit(f"scale_validate: no {key} in the calibration")
    return default
def keys(path):  # the file without its comments
    return "".join(l for l in open(path) if not l.lstrip().startswith("#"))
h, v = keys(f"{out}/fit_host.yaml"), keys(f"{out}/fit_veth.yaml")
ia, ib, step, sigma = num(h, "alpha_us"), num(h, "beta_gbs"), num(h, "step_ms"), num(h, "sigma_ms")
ic, isd, share = num(h, "intra_copy_gbs", 0), num(h, "intra_sched_us"), num(h, "compute_share")
ea, eb = num(v, "alpha_us"), num(v, "beta_gbs")
common = (f"overlap: false\ncompute: {{step_ms: {step:.4f}, sigma_ms: {sigma:.4f}}}\n"
          f"intra: {{alpha_us: {ia:.3f}, beta_gbs: {ib:.4f}}}\n")
copy = f"intra_copy_gbs: {ic:.4f}, " if ic > 0 else ""
open(f"{out}/one_host.yaml", "w").write(
    "name: this machine, one host (bench/scale_validate.sh)\nranks_per_node: 4\n"
    f"shared_cores: {{cores: 2, {copy}intra_sched_us: {isd:.1f}, compute_share: {share:.4f}}}\n" + common +
    f"inter: {{alpha_us: {ia:.3f}, beta_gbs: {ib:.4f}}}\n")
def two(extra):
    open(f"{out}/two_hosts.yaml", "w").write(
        "name: this machine, two hosts on veth (bench/scale_validate.sh)\nranks_per_node: 2\n"
        f"shared_cores: {{cores: 2, nodes: 2, {copy}intra_sched_us: {isd:.1f}, compute_share: {share:.4f}{extra}}}\n" + common +
        f"inter: {{alpha_us: {ea:.3f}, beta_gbs: {eb:.4f}}}\n")
two("")
r = subprocess.run([sp, "--cluster", f"{out}/two_hosts.yaml", "--fit-shared", f"{out}/np4_veth.txt"],
                   capture_output=True, text=True, check=True).stdout
ec, esd = num(r, "inter_copy_gbs"), num(r, "inter_sched_us")
two((f", inter_copy_gbs: {ec:.4f}" if ec > 0 else "") + f", inter_sched_us: {esd:.1f}")
print(f"calibration: shared memory α {ia:.1f} µs β {ib:.2f} GB/s; veth α {ea:.1f} µs β {eb:.2f} GB/s; "
      f"copy rates {ic:.3f} / {ec:.3f} GB/s; scheduling delay per collective {isd:.0f} / {esd:.0f} µs; "
      f"compute_share {share:.3f}; "
      f"step_ms {step:.3f}, σ {sigma:.2f} ms")
PY

# 2. the rounds
for r in $(seq "$ROUNDS"); do
  $TRAIN $C --set train.run_dir="$OUT/r$r/np1" >/dev/null
  mpirun -np 2 --bind-to none $TRAIN $C --set train.run_dir="$OUT/r$r/np2" >/dev/null
  mpirun -np 4 --oversubscribe --bind-to none $TRAIN $C --set train.run_dir="$OUT/r$r/np4" >/dev/null
  bash scripts/two_hosts.sh -- sh -c "\$FT_MPIRUN -np 4 $TRAIN $C --set train.run_dir=$OUT/r$r/np4x2 >/dev/null" >/dev/null
done

# 3. predictions and the table
$SP --config configs/mnist_mlp.yaml --cluster "$OUT/one_host.yaml" --ranks 1,2,4 --json "$OUT/pred_one.json" >/dev/null
$SP --config configs/mnist_mlp.yaml --cluster "$OUT/two_hosts.yaml" --ranks 4 --json "$OUT/pred_two.json" >/dev/null
python3 - "$OUT" "$ROUNDS" <<'PY'
import json, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def rate(path):
    v = sorted(r["samples_per_sec"] for r in map(json.loads, filter(str.strip, open(path)))
               if "samples_per_sec" in r and r["step"] > 100)
    return v[len(v) // 2]
pred = {r["ranks"]: r for r in json.load(open(f"{out}/pred_one.json"))["rows"]}
two = json.load(open(f"{out}/pred_two.json"))["rows"][0]
jobs = [("np 1", "np1", pred[1]), ("np 2, one host", "np2", pred[2]), ("np 4, one host", "np4", pred[4]),
        ("np 4, two hosts (2 + 2)", "np4x2", two)]
print("| job | predicted step ms (copies, scheduling) | predicted samples/s | measured samples/s, each round | median | error vs median |")
print("| --- | --- | --- | --- | --- | --- |")
for name, d, p in jobs:
    m = [rate(f"{out}/r{r}/{d}/metrics.jsonl") for r in range(1, rounds + 1)]
    med = sorted(m)[len(m) // 2]
    copies = f" ({p['copy_ms']:.2f}, {p['sched_ms']:.2f})" if p["copy_ms"] + p["sched_ms"] > 0 else ""
    print(f"| {name} | {p['step_ms']:.3f}{copies} | {p['samples_per_sec']:,.0f} | "
          f"{' / '.join(f'{x:,.0f}' for x in m)} | {med:,.0f} | {100 * (p['samples_per_sec'] - med) / med:+.1f}% |")
PY
echo "scale_validate: load $(cut -d' ' -f1-3 /proc/loadavg) at the end"
