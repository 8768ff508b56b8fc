#!/usr/bin/env bash
# fuzz.sh [SECONDS] — builds the libFuzzer targets (fuzz/) in build-fuzz with
# clang, ASan and UBSan (CPU only), replays every input in fuzz/regressions/<t>/,
# then fuzzes each target for SECONDS (default 30) from its seeds in
# fuzz/corpus/<t>/. Exits non-zero on a crash, sanitizer report, leak, uncaught
# exception, error that does not name its file, or an input that runs over 10 s;
# the input is kept in build-fuzz/artifacts/<t>/ (copy it to fuzz/regressions/<t>/
# once fixed). Installs clang and its fuzzer runtime with apt when missing.
#
# Environment: FT_JOBS (build jobs, default 2), FT_FUZZ_TARGETS (default all).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
dir=build-fuzz
jobs=${FT_JOBS:-2}
targets=(${FT_FUZZ_TARGETS:-config idx safetensors vocab corpus state table})

bash scripts/setup.sh
# clang with the libFuzzer runtime (Debian: libclang-rt-<ver>-dev, via libclang-rt-dev).
can_fuzz() {
  command -v clang++ >/dev/null 2>&1 &&
    echo 'extern "C" int LLVMFuzzerTestOneInput(const char*, unsigned long) { return 0; }' |
      clang++ -x c++ -fsanitize=fuzzer,address,undefined - -o /dev/null >/dev/null 2>&1
}
if ! can_fuzz; then
  pkgs=(clang)
  apt-cache show libclang-rt-dev >/dev/null 2>&1 && pkgs+=(libclang-rt-dev)
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  echo "fuzz: installing ${pkgs[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${pkgs[@]}"
  can_fuzz || { echo "fuzz: clang++ cannot link -fsanitize=fuzzer (install clang's compiler-rt)"; exit 1; }
fi

mkdir -p "$dir/logs"
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DFT_WITH_CUDA=OFF -DFT_BUILD_FUZZERS=ON -DFT_BUILD_TESTS=OFF -DFT_BUILD_BENCH=OFF >"$dir/logs/configure.log" 2>&1 \
  || { cat "$dir/logs/configure.log"; exit 1; }
cmake --build "$dir" -j"$jobs" --target "${targets[@]/%/_fuzzer}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
for t in "${targets[@]}"; do
  bin="$dir/fuzz/${t}_fuzzer"
  work="$dir/corpus/$t"
  art="$dir/artifacts/$t"
  log="$dir/logs/$t.log"
  mkdir -p "$work" "$art"
  opts=(-timeout=10 -rss_limit_mb=2048 -max_len=8192 -artifact_prefix="$art/")
  [ -f "fuzz/dict/$t.dict" ] && opts+=(-dict="fuzz/dict/$t.dict")
  # 1. Inputs that once failed, each run once.
  regs=()
  [ -d "fuzz/regressions/$t" ] && mapfile -t regs < <(find "fuzz/regressions/$t" -type f | sort)
  if [ ${#regs[@]} -gt 0 ] && ! "$bin" "${opts[@]}" "${regs[@]}" >"$log" 2>&1; then
    echo "fuzz: $t: a regression input fails again (log $log)"
    tail -n 40 "$log"
    failed+=("$t")
    continue
  fi
  # 2. Fuzzing; new inputs go to build-fuzz/corpus/<t>, the committed seeds stay as they are.
  if "$bin" "${opts[@]}" -max_total_time="$secs" -print_final_stats=1 "$work" "fuzz/corpus/$t" >>"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
    echo "fuzz: $t: ${#regs[@]} regression inputs pass, ${secs} s, ${runs:-?} inputs, no crash"
  else
    echo "fuzz: $t: FAILED (log $log, input in $art/)"
    grep -E "^(==[0-9]+==ERROR|SUMMARY|.*runtime error|ft::Error does not name|terminate called|.*Test unit written)" "$log" | head -n 20 || true
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]}"
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets pass"
