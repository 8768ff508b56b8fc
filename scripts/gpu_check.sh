#!/usr/bin/env bash
# gpu_check.sh — the one prepared check of the CUDA path, for a machine with an NVIDIA GPU.
#
#   bash scripts/gpu_check.sh pack        on the build machine: gathers the CUDA build's
#                                         binaries, the shared libraries they need besides the
#                                         C library and CUDA's own, and the data into one
#                                         archive, gpu-pack.tar.xz (at most 64 MiB), for a
#                                         GPU machine with no package registry;
#   bash scripts/gpu_check.sh [run]       on the GPU machine, from the repository root: unpacks
#                                         gpu-pack.tar.xz when present (else builds build-gpu
#                                         with CMake for the local GPU), then
#     1. runs every CUDA test: the op harness against the CPU kernels for every op and dtype,
#        placement, NCCL with one GPU, the fused device updates (tests labelled cuda);
#     2. trains mnist_mlp (200 steps) and bert_tiny (40 steps) on cuda in fp32 and bf16 and
#        compares each logged loss with the same run on cpu (relative tolerance 2e-2 for
#        fp32, whose GEMMs use TF32, and 5e-2 for bf16);
#     3. prints one table last: GEMM TFLOP/s against cuBLAS at 4096 and 8192, BERT-base
#        samples/s in fp32 and bf16 at batch 64, host<->device bytes per step, peak device
#        memory.
# Exit status: 0 when every check passed, 1 otherwise (the table says which). CUDA's
# libraries (cudart, cuBLAS, NCCL) come from the GPU machine: /usr/local/cuda, or the
# Python packages' nvidia/*/lib folders.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PACK=gpu-pack
MODE=${1:-run}

if [ "$MODE" = pack ]; then
  B=${FT_BUILD_DIR:-build}
  [ -x "$B/bin/train" ] && [ -x "$B/tests/cuda_ops_test" ] || {
    echo "gpu_check pack: $B has no CUDA build (run scripts/build.sh on a machine with the CUDA toolkit)"; exit 1; }
  rm -rf "$PACK" && mkdir -p "$PACK/bin" "$PACK/tests" "$PACK/lib" "$PACK/data"
  bins=("$B/bin/train" "$B/bin/cuda_gemm_bench" "$B/bin/cuda_bert_bench")
  tests=()
  for t in cuda_device_test cuda_ops_test amp_nccl_test placement_test precision_test; do
    [ -x "$B/tests/$t" ] && tests+=("$B/tests/$t")
  done
  [ -f "$B/lib/libflowtrain_cuda.so" ] || { echo "gpu_check pack: $B/lib/libflowtrain_cuda.so missing (the CUDA backend module)"; exit 1; }
  cp "${bins[@]}" "$PACK/bin/" && cp "${tests[@]}" "$PACK/tests/"
  cp "$B/lib/libflowtrain_cuda.so" "$PACK/lib/"  # train loads it from bin/../lib when a device asks for cuda
  strip --strip-unneeded "$PACK"/bin/* "$PACK"/tests/* "$PACK/lib/libflowtrain_cuda.so" 2>/dev/null
  # Shared libraries besides the C library and CUDA's (the GPU machine has those, matching its driver).
  ldd "${bins[@]}" "${tests[@]}" "$B/lib/libflowtrain_cuda.so" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u |
    grep -vE '/(libc|libm|libpthread|librt|libdl|ld-linux[^/]*)\.so|/usr/local/cuda|libcuda\.so|libcudart|libcublas|libnccl' |
    while read -r l; do cp -L "$l" "$PACK/lib/"; done
  for d in mnist text; do
    [ -d "data/$d" ] || { echo "gpu_check pack: data/$d missing (scripts/fetch_mnist.sh, scripts/fetch_text.sh)"; exit 1; }
    cp -r "data/$d" "$PACK/data/"
  done
  tar -cJf gpu-pack.tar.xz "$PACK"
  rm -rf "$PACK"
  size=$(stat -c %s gpu-pack.tar.xz)
  echo "gpu_check pack: gpu-pack.tar.xz, $((size / 1024 / 1024)) MiB ($(tar -tJf gpu-pack.tar.xz | grep -c /lib/) libraries)"
  [ "$size" -le $((64 * 1024 * 1024)) ] || { echo "gpu_check pack: over 64 MiB"; exit 1; }
  exit 0
fi

[ "$MODE" = run ] || { echo "usage: gpu_check.sh [pack|run]"; exit 2; }
t0=$SECONDS
OUTDIR=${OUT:-/tmp}/gpu_check
mkdir -p "$OUTDIR"
declare -a ROWS
row() { ROWS+=("$(printf '%-44s %s' "$1" "$2")"); }
FAILED=0
fail() { FAILED=1; row "$1" "FAIL: $2"; }

if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/gpu: /'
else
  echo "gpu_check: no GPU answers nvidia-smi here: the CUDA checks below will fail or skip"
fi
# CUDA's libraries on this machine
CUDA_LIBS=
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets/x86_64-linux/lib; do
  [ -d "$d" ] && CUDA_LIBS="$CUDA_LIBS:$d"
done
for py in python3 /opt/torch/.venv/bin/python3; do
  sp=$("$py" -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null) || continue
  for s in $sp; do for d in "$s"/nvidia/*/lib "$s"/nvidia/cu13/lib; do [ -d "$d" ] && CUDA_LIBS="$CUDA_LIBS:$d"; done; done
done

if [ -f gpu-pack.tar.xz ]; then
  rm -rf "$PACK" && tar -xJf gpu-pack.tar.xz
  BIN=$ROOT/$PACK/bin TESTS=$ROOT/$PACK/tests
  export LD_LIBRARY_PATH=$ROOT/$PACK/lib$CUDA_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  for d in mnist text; do [ -d "data/$d" ] || { mkdir -p data && cp -r "$PACK/data/$d" data/; }; done
  missing=$(ldd "$BIN/train" "$ROOT/$PACK/lib/libflowtrain_cuda.so" | grep "not found")
  [ -z "$missing" ] || { echo "gpu_check: the packed train misses libraries: $missing"; exit 1; }
  row "binaries" "packed (gpu-pack.tar.xz)"
else
  arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d .)
  echo "gpu_check: building build-gpu for sm_${arch:-90}"
  cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="${arch:-90}" >"$OUTDIR/configure.log" 2>&1 &&
    cmake --build build-gpu -j"$(nproc)" >"$OUTDIR/build.log" 2>&1 ||
    { tail -20 "$OUTDIR/configure.log" "$OUTDIR/build.log" 2>/dev/null; echo "gpu_check: the build failed"; exit 1; }
  BIN=$ROOT/build-gpu/bin TESTS=$ROOT/build-gpu/tests
  export LD_LIBRARY_PATH=${CUDA_LIBS#:}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  row "binaries" "built in $((SECONDS - t0)) s"
fi

# 1. every CUDA test (gtest; a skip where a GPU is present is a failure of this check)
for t in "$TESTS"/*_test; do
  name=$(basename "$t")
  timeout 300 "$t" --gtest_brief=1 >"$OUTDIR/$name.log" 2>&1
  rc=$?
  passed=$(grep -oE '\[  PASSED  \] [0-9]+' "$OUTDIR/$name.log" | grep -oE '[0-9]+$')
  skipped=$(grep -oE '\[  SKIPPED \] [0-9]+' "$OUTDIR/$name.log" | grep -oE '[0-9]+$')
  if [ $rc -ne 0 ]; then fail "$name" "rc $rc: $(grep -m1 -E 'Failure|FAILED|error' "$OUTDIR/$name.log")"
  elif [ "$name" != placement_test ] && [ "${skipped:-0}" -gt 0 ]; then fail "$name" "${skipped} skipped with a GPU present"
  else row "$name" "${passed:-0} passed, ${skipped:-0} skipped"; fi
done

# 2. training on cuda against cpu
train_cmp() {  # NAME CONFIG STEPS PRECISION TOL EXTRA...
  local name=$1 cfg=$2 steps=$3 prec=$4 tol=$5; shift 5
  local args=(--config "$cfg" --set train.steps="$steps" --set optimizer.schedule.warmup=5 --set train.log_every=10
              --set train.eval_every=0 --set train.checkpoint.dir= --set precision="$prec" "$@")
  for d in cpu cuda; do
    "$BIN/train" "${args[@]}" --set device=$d --set train.run_dir="$OUTDIR/$name-$d" >"$OUTDIR/$name-$d.log" 2>&1 ||
      { fail "$name" "$d run: $(tail -1 "$OUTDIR/$name-$d.log")"; return; }
  done
  local cmp
  cmp=$(python3 - "$OUTDIR/$name-cpu/metrics.jsonl" "$OUTDIR/$name-cuda/metrics.jsonl" "$tol" <<'PY'
import json, sys
def rows(p): return [json.loads(l) for l in open(p) if '"eval"' not in l]
a, b, tol = rows(sys.argv[1]), rows(sys.argv[2]), float(sys.argv[3])
worst = max(abs(x["loss"] - y["loss"]) / max(abs(x["loss"]), 1e-6) for x, y in zip(a, b))
h2d = max(y.get("h2d_bytes_per_step", -1) for y in b); d2h = max(y.get("d2h_bytes_per_step", -1) for y in b)
print(f"{'ok' if len(a) == len(b) and worst <= tol else 'FAIL'} {worst:.2e} {h2d:.0f} {d2h:.0f} {a[-1]['loss']:.4f} {b[-1]['loss']:.4f}")
PY
)
  set -- $cmp
  local line="loss vs cpu: max rel diff $2 (tol $tol), last $5 cpu / $6 cuda; h2d $3 B/step, d2h $4 B/step"
  if [ "$1" = ok ]; then row "$name" "$line"; else fail "$name" "$line"; fi
}
train_cmp mnist_mlp_fp32 configs/mnist_mlp.yaml 200 fp32 2e-2 --set train.threads=4
train_cmp mnist_mlp_bf16 configs/mnist_mlp.yaml 200 bf16 5e-2 --set train.threads=4
train_cmp bert_tiny_fp32 configs/bert_tiny.yaml 40 fp32 2e-2 --set train.threads=4
train_cmp bert_tiny_bf16 configs/bert_tiny.yaml 40 bf16 5e-2 --set train.threads=4

# 3. throughput
timeout 180 "$BIN/cuda_gemm_bench" --sizes 4096,8192 >"$OUTDIR/gemm.log" 2>&1 || fail "cuda_gemm_bench" "rc $?"
timeout 240 "$BIN/cuda_bert_bench" --model base --batch 64 --seq 128 --steps 20 --precision fp32,bf16 \
  >"$OUTDIR/bert.log" 2>&1 || fail "cuda_bert_bench" "rc $?"

echo
echo "== gpu_check: $(date -u +%F) in $((SECONDS - t0)) s =="
printf '%s\n' "${ROWS[@]}"
echo "-- GEMM (cuda_gemm_bench --sizes 4096,8192)"
grep -vE '^\s*$' "$OUTDIR/gemm.log" | tail -12
echo "-- BERT-base training step (cuda_bert_bench --model base --batch 64 --seq 128 --precision fp32,bf16)"
grep -vE '^\s*$' "$OUTDIR/bert.log" | tail -6
[ $FAILED = 0 ] && echo "gpu_check: all checks passed" || echo "gpu_check: some checks FAILED (logs in $OUTDIR)"
exit $FAILED
