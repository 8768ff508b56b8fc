#!/usr/bin/env bash
# expect_fail.sh [--one-line] PATTERN CMD... — passes when CMD exits non-zero within 120 s
# and its output contains PATTERN; with --one-line its stderr must be exactly one line.
set -uo pipefail
one=0
[ "${1:-}" = "--one-line" ] && { one=1; shift; }
pattern=$1
shift
out=$(mktemp) err=$(mktemp)
timeout 120 "$@" >"$out" 2>"$err"
rc=$?
cat "$out" "$err"
[ $rc -eq 0 ] && { echo "FAIL: command succeeded"; exit 1; }
[ $rc -eq 124 ] && { echo "FAIL: command hung (killed after 120 s)"; exit 1; }
grep -q -- "$pattern" "$out" "$err" || { echo "FAIL: output lacks '$pattern'"; exit 1; }
if [ $one -eq 1 ] && [ "$(wc -l <"$err")" -ne 1 ]; then echo "FAIL: stderr is not one line"; exit 1; fi
echo "ok: exit $rc with '$pattern'"
