#!/usr/bin/env bash
# tsan.sh [BUILD_DIR] — ThreadSanitizer build (CPU only) in build-tsan/ and the tests of the
# threaded parts under it: the executor (core_test, executor_stress_test), the communication
# engine and buckets (comm_test) and the multi-rank communicator (comm_mpi_test on 2 ranks).
# Builds only those targets. OpenBLAS runs single-threaded (its threads are not instrumented);
# scripts/tsan.supp lists what is suppressed inside Open MPI and why.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-tsan}
jobs=${FT_JOBS:-2}
t0=$SECONDS
tests=(core_test executor_stress_test comm_test)
targets=(comm_mpi_test)
for t in "${tests[@]}"; do [ -f "tests/unit/$t.cpp" ] && targets+=("$t"); done
mkdir -p "$dir"
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DFT_WITH_CUDA=OFF -DFT_SANITIZE=thread -DFT_BUILD_BENCH=OFF >"$dir/configure.log" 2>&1 \
  || { cat "$dir/configure.log"; exit 1; }
cmake --build "$dir" -j"$jobs" --target "${targets[@]}"
echo "tsan: built in $((SECONDS - t0)) s"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/scripts/tsan.supp"
sel=$(printf '%s|' "${tests[@]}" comm_mpi_test_np2)
ctest --test-dir "$dir" --output-on-failure -j1 -R "^(${sel%|})\$"
echo "tsan: ok in $((SECONDS - t0)) s"
