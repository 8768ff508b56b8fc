#!/usr/bin/env bash
# tb_events_cases.sh DEMO RUNS — the events file tb_write_demo writes, read by tb_read.py
# (protobuf and TensorFlow's message definitions, not the writer's code): tags, steps and
# values equal the metrics file's; a wrong value, a flipped byte or a truncated file fails
# with one line. Exits 77 (skipped) without protoc or python3's google.protobuf.
set -uo pipefail
DEMO=$1
R=$2
here=$(cd "$(dirname "$0")" && pwd)
FAILS=$here/expect_fail.sh
PY=/usr/bin/python3
READ=("$PY" "$here/tb_read.py")
n=0
ok() { n=$((n + 1)); echo "case $n ok: $*"; }
die() { echo "FAIL: $*"; exit 1; }

command -v protoc >/dev/null || { echo "SKIP: protoc is not installed"; exit 77; }
"$PY" -c 'import google.protobuf' 2>/dev/null || { echo "SKIP: $PY has no google.protobuf"; exit 77; }

rm -rf "$R" && mkdir -p "$R/bad"
ev=$("$DEMO" "$R/run") || die "tb_write_demo"
[ -f "$ev" ] && [[ $(basename "$ev") == events.out.tfevents.* ]] || die "no events file: $ev"

# 1. The reader agrees with the metrics file.
out=$("${READ[@]}" "$R/run" --expect-tags loss,lr,eval/loss,eval/accuracy --min-steps 3 \
        --metrics "$R/run/metrics.jsonl" --tag-map loss=loss) || die "reader: $out"
echo "$out"
grep -qx 'tb_read: loss: 20 points, steps 10..200' <<<"$out" || die "loss summary"
grep -qx 'tb_read: eval/accuracy: 4 points, steps 50..200' <<<"$out" || die "eval/accuracy summary"
ok "tags, steps and values equal the metrics file's"

# 2. --dump: one line per scalar (then the summary lines).
dump=$("${READ[@]}" "$ev" --dump) || die "dump"
[ "$(grep -vc '^tb_read: ' <<<"$dump")" -eq 48 ] || die "dump has $(grep -vc '^tb_read: ' <<<"$dump") scalar lines"
grep -qP '^lr\t30\t0.00100000005$' <<<"$dump" || die "dump lacks lr at step 30"
ok "--dump"

# 3. Mismatches: a value off by 1e-5, a tag read against another field, too few steps, a missing tag.
"$FAILS" --one-line "loss: step 100: .* in the metrics" "${READ[@]}" "$R/run" --metrics "$R/run/metrics_off.jsonl" || die "value"
"$FAILS" --one-line "lr: step 10:" "${READ[@]}" "$R/run" --expect-tags lr --tag-map lr=loss --metrics "$R/run/metrics.jsonl" || die "tag-map"
"$FAILS" --one-line "eval/loss: 4 points, fewer than --min-steps 5" "${READ[@]}" "$R/run" --expect-tags eval/loss --min-steps 5 || die "min-steps"
"$FAILS" --one-line "tag 'acc' not found" "${READ[@]}" "$R/run" --expect-tags loss,acc || die "missing tag"
ok "mismatches are one-line errors"

# 4. One flipped byte in a length, a length CRC, an event, a data CRC; a truncated file.
size=$(stat -c %s "$ev")
for at in 0 9 $((size / 2)) $((size - 1)); do
  cp "$ev" "$R/bad/events.out.tfevents.bad"
  "$PY" -c 'import sys; p, i = sys.argv[1], int(sys.argv[2]); b = bytearray(open(p, "rb").read()); b[i] ^= 0x20; open(p, "wb").write(b)' \
    "$R/bad/events.out.tfevents.bad" "$at"
  "$FAILS" --one-line "corrupt frame at byte" "${READ[@]}" "$R/bad" || die "flipped byte $at"
done
head -c $((size - 3)) "$ev" >"$R/bad/events.out.tfevents.bad"
"$FAILS" --one-line "truncated record" "${READ[@]}" "$R/bad" || die "truncated"
ok "a flipped byte or a truncated file is a corrupt frame"
echo "all $n cases ok"
