#!/usr/bin/env python3
"""check_trace.py — validates a Chrome/Perfetto trace file written by the trainer.

Usage: check_trace.py TRACE.json [--ranks N] [--expect-steps K]
                      [--expect-cats allreduce_bucket,send,...]

The file is {"traceEvents": [...], "displayTimeUnit": "ms", "otherData": {...}}
with three kinds of event:
  ph "X"  complete: name, cat (strings), pid, tid (ints), ts, dur (µs, >= 0),
          optional args (object)
  ph "i"  instant: name, pid, ts, s in {"g", "p", "t"} (tid required for "t"),
          optional cat, tid, args; a step marker has cat "step" and name "step N"
  ph "M"  metadata: process_name / thread_name (args.name, a string) or
          process_sort_index / thread_sort_index (args.sort_index, an int);
          pid, and tid for the thread_* ones

Checks, in order: the file is valid JSON; every event is well-formed; every pid
of an X or i event has a process_name and every (pid, tid) of an X event a
thread_name; with --ranks N, at least N distinct pids are named; with
--expect-steps K, at least K distinct "step N" markers; with --expect-cats,
every listed cat occurs on some X event; the first events of all pids lie
within 60 s of each other (clocks aligned across ranks).

On success prints a summary (events by phase, pids with their names and lanes,
time span, file size) and exits 0; otherwise prints one line naming the first
problem (with the event's index where there is one) and exits 1.
"""
import argparse
import json
import math
import os
import re
import sys

PROG = "check_trace"
CLOCK_WINDOW_US = 60e6
STEP_NAME = re.compile(r"step (\d+)\Z")
META_NAMES = {
    "process_name": ("name", str, False),
    "thread_name": ("name", str, True),
    "process_sort_index": ("sort_index", int, False),
    "thread_sort_index": ("sort_index", int, True),
}


class Problem(Exception):
    pass


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def describe(v):
    return json.dumps(v)[:40] if not isinstance(v, float) or math.isfinite(v) else str(v)


def check_event(i, e):
    """Raises Problem when event i is malformed."""
    where = f"event #{i}"
    if not isinstance(e, dict):
        raise Problem(f"{where}: not an object")
    ph = e.get("ph")
    if ph not in ("X", "i", "M"):
        raise Problem(f"{where}: ph is {describe(ph)}, expected \"X\", \"i\" or \"M\"")
    where = f"event #{i} (ph {ph}, name {describe(e.get('name'))})"

    def need(key, test, what, required=True):
        if key not in e:
            if required:
                raise Problem(f"{where}: no {key}")
            return
        if not test(e[key]):
            raise Problem(f"{where}: {key} is {describe(e[key])}, expected {what}")

    need("name", lambda v: isinstance(v, str) and v != "", "a non-empty string")
    need("pid", is_int, "an integer")
    if "args" in e and not isinstance(e["args"], dict):
        raise Problem(f"{where}: args is {describe(e['args'])}, expected an object")
    if ph == "X":
        need("cat", lambda v: isinstance(v, str), "a string")
        need("tid", is_int, "an integer")
        need("ts", lambda v: is_num(v) and v >= 0, "a number >= 0")
        need("dur", lambda v: is_num(v) and v >= 0, "a number >= 0")
    elif ph == "i":
        need("s", lambda v: v in ("g", "p", "t"), "\"g\", \"p\" or \"t\"")
        need("tid", is_int, "an integer", required=e["s"] == "t")
        need("cat", lambda v: isinstance(v, str), "a string", required=False)
        need("ts", lambda v: is_num(v) and v >= 0, "a number >= 0")
        if e.get("cat") == "step" and not STEP_NAME.match(e["name"]):
            raise Problem(f"{where}: a step marker's name must be \"step N\"")
    else:
        if e["name"] not in META_NAMES:
            raise Problem(f"{where}: unknown metadata name, expected one of {', '.join(META_NAMES)}")
        field, typ, thread = META_NAMES[e["name"]]
        need("tid", is_int, "an integer", required=thread)
        args = e.get("args")
        if not isinstance(args, dict) or field not in args:
            raise Problem(f"{where}: no args.{field}")
        ok = isinstance(args[field], str) and args[field] != "" if typ is str else is_int(args[field])
        if not ok:
            raise Problem(f"{where}: args.{field} is {describe(args[field])}, expected "
                          f"{'a non-empty string' if typ is str else 'an integer'}")


def fmt_us(us):
    if us >= 1e6:
        return f"{us / 1e6:.3f} s"
    if us >= 1e3:
        return f"{us / 1e3:.3f} ms"
    return f"{us:.1f} µs"


def fmt_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def check(path, args):
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise Problem(f"{path}: cannot read: {e.strerror}")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise Problem(f"{path}: not UTF-8 (byte {e.start})")
    except json.JSONDecodeError as e:
        raise Problem(f"{path}: not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})")
    if not isinstance(doc, dict):
        raise Problem(f"{path}: top level is not an object with traceEvents")
    events = doc.get("traceEvents")
    if not isinstance(events, list):
        raise Problem(f"{path}: traceEvents is {'missing' if events is None else 'not an array'}")
    if not events:
        raise Problem(f"{path}: traceEvents is empty")
    if "displayTimeUnit" in doc and doc["displayTimeUnit"] not in ("ms", "ns"):
        raise Problem(f"{path}: displayTimeUnit is {describe(doc['displayTimeUnit'])}, expected \"ms\" or \"ns\"")
    if "otherData" in doc and not isinstance(doc["otherData"], dict):
        raise Problem(f"{path}: otherData is not an object")

    for i, e in enumerate(events):
        check_event(i, e)

    pnames, tnames = {}, {}  # pid -> name, (pid, tid) -> name
    for i, e in enumerate(events):
        if e["ph"] != "M" or not e["name"].endswith("_name"):
            continue
        key, table = (e["pid"], pnames) if e["name"] == "process_name" else ((e["pid"], e["tid"]), tnames)
        name = e["args"]["name"]
        if key in table and table[key] != name:
            raise Problem(f"event #{i}: {e['name']} {describe(name)} for {key} contradicts {describe(table[key])}")
        table[key] = name

    first = {}  # pid -> (ts, index) of its earliest X/i event
    lanes = {}  # pid -> {tid: X event count}
    t_lo, t_hi = math.inf, -math.inf
    counts = {"X": 0, "i": 0, "M": 0}
    cats = set()
    steps = set()
    for i, e in enumerate(events):
        ph = e["ph"]
        counts[ph] += 1
        if ph == "M":
            continue
        pid = e["pid"]
        if pid not in pnames:
            raise Problem(f"event #{i} (ph {ph}, name {describe(e['name'])}): pid {pid} has no process_name")
        if ph == "X":
            if (pid, e["tid"]) not in tnames:
                raise Problem(f"event #{i} (ph X, name {describe(e['name'])}): "
                              f"pid {pid} tid {e['tid']} has no thread_name")
            lanes.setdefault(pid, {}).setdefault(e["tid"], 0)
            lanes[pid][e["tid"]] += 1
            cats.add(e["cat"])
            t_hi = max(t_hi, e["ts"] + e["dur"])
        else:
            t_hi = max(t_hi, e["ts"])
            if e.get("cat") == "step":
                steps.add(e["name"])
        t_lo = min(t_lo, e["ts"])
        if pid not in first or e["ts"] < first[pid][0]:
            first[pid] = (e["ts"], i)

    if args.ranks is not None and len(pnames) < args.ranks:
        raise Problem(f"--ranks {args.ranks}: process_name covers {len(pnames)} pid(s) "
                      f"({', '.join(map(str, sorted(pnames))) or 'none'})")
    if args.expect_steps is not None and len(steps) < args.expect_steps:
        raise Problem(f"--expect-steps {args.expect_steps}: {len(steps)} distinct step marker(s)")
    if args.expect_cats:
        for c in (c.strip() for c in args.expect_cats.split(",")):
            if c and c not in cats:
                raise Problem(f"--expect-cats: no X event has cat {describe(c)} "
                              f"(cats: {', '.join(sorted(cats)) or 'none'})")
    if len(first) > 1:
        lo = min(first, key=lambda p: first[p][0])
        hi = max(first, key=lambda p: first[p][0])
        gap = first[hi][0] - first[lo][0]
        if gap > CLOCK_WINDOW_US:
            raise Problem(f"event #{first[hi][1]}: pid {hi} starts {gap / 1e6:.1f} s after pid {lo} "
                          f"(limit {CLOCK_WINDOW_US / 1e6:.0f} s): clocks not aligned")

    out = [f"{path}: ok, {fmt_bytes(size)}, {len(events)} events "
           f"({counts['X']} complete, {counts['i']} instant, {counts['M']} metadata)"]
    span = fmt_us(t_hi - t_lo) if t_lo <= t_hi else "none"
    out.append(f"time span {span}" + (f", {len(steps)} step markers" if steps else "")
               + (f", cats: {', '.join(sorted(cats))}" if cats else ""))
    for pid in sorted(set(pnames) | set(lanes)):
        out.append(f"  pid {pid}: {pnames.get(pid, '?')!r}")
        tids = sorted(set(lanes.get(pid, {})) | {t for (p, t) in tnames if p == pid})
        for tid in tids:
            n = lanes.get(pid, {}).get(tid, 0)
            out.append(f"    tid {tid}: {tnames.get((pid, tid), '?')!r}, {n} events")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(prog=PROG, description="Validate a Chrome/Perfetto trace written by the trainer.")
    ap.add_argument("trace", metavar="TRACE.json")
    ap.add_argument("--ranks", type=int, metavar="N", help="at least N distinct pids have a process_name")
    ap.add_argument("--expect-steps", type=int, metavar="K", help="at least K distinct \"step N\" markers")
    ap.add_argument("--expect-cats", metavar="CAT,...", help="each cat occurs on some X event")
    args = ap.parse_args()
    try:
        print(check(args.trace, args))
    except Problem as p:
        print(f"{PROG}: {p}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
