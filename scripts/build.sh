#!/usr/bin/env bash
# build.sh [BUILD_DIR] — configures and builds flowtrain (Release, all cores up to 2 jobs by default).
# The CUDA backend builds when the toolkit is found (sm_80 and sm_90).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
jobs=${FT_JOBS:-2}
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="80;90" ${FT_CMAKE_ARGS:-} >"$dir.configure.log" 2>&1 \
  || { cat "$dir.configure.log"; exit 1; }
grep -E "^-- (flowtrain|  )" "$dir.configure.log" || true
cmake --build "$dir" -j"$jobs"
