#!/usr/bin/env python3
"""check.py — assertions on training runs (standard library only).

  check.py accuracy METRICS.jsonl MIN          final eval record's accuracy >= MIN
  check.py loss-below METRICS.jsonl MAX        last train record's loss < MAX
  check.py field-below METRICS.jsonl FIELD MAX  last train record's FIELD < MAX
  check.py field-above METRICS.jsonl FIELD MIN  last train record's FIELD > MIN
  check.py field-equal A.jsonl B.jsonl FIELD   last train records of A and B have equal FIELD
  check.py finite CKPT                         every model tensor of the checkpoint is finite
  check.py trace TRACE.json OP...              a Chrome trace with complete events of each OP
  check.py same CKPT_A CKPT_B [--rtol R]       model.safetensors tensors equal (bit-exact
                                               without --rtol, else ||a-b|| <= R*||a|| per tensor)
  check.py same-kernels CKPT_A CKPT_B          state.json kernel_choices equal (both empty
                                               in a build with one kernel per op)
"""
import json
import math
import os
import struct
import sys
from array import array


def fail(msg):
    print("check.py: FAIL: " + msg)
    sys.exit(1)


def kernels_of(ckpt):
    with open(os.path.join(ckpt, "state.json")) as f:
        return json.load(f).get("kernel_choices", {})


def records(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def load_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        code = {"F32": "f", "F64": "d", "I32": "i", "I64": "q"}[e["dtype"]]
        b, end = e["data_offsets"]
        a = array(code)
        a.frombytes(raw[base + b:base + end])
        out[name] = (e["shape"], a)
    return out


def model_file(p):
    import os
    if os.path.isdir(p):
        if os.path.exists(os.path.join(p, "latest")):
            p = os.path.join(p, open(os.path.join(p, "latest")).read().strip())
        p = os.path.join(p, "model.safetensors")
    return p


def main(argv):
    if len(argv) < 2:
        fail(__doc__)
    cmd = argv[1]
    if cmd == "accuracy":
        evals = [r for r in records(argv[2]) if "eval" in r]
        if not evals:
            fail("no eval record in " + argv[2])
        acc = evals[-1]["accuracy"]
        print("final accuracy %.4f (min %s) at step %d" % (acc, argv[3], evals[-1]["step"]))
        if not acc >= float(argv[3]):
            fail("accuracy %.4f below %s" % (acc, argv[3]))
    elif cmd == "loss-below":
        train = [r for r in records(argv[2]) if "eval" not in r and "loss" in r]
        if not train:
            fail("no training record in " + argv[2])
        loss = train[-1]["loss"]
        print("last loss %.4f (max %s)" % (loss, argv[3]))
        if not loss < float(argv[3]):
            fail("loss %.4f not below %s" % (loss, argv[3]))
    elif cmd == "field-below":
        train = [r for r in records(argv[2]) if "eval" not in r and argv[3] in r]
        if not train:
            fail("no training record with %s in %s" % (argv[3], argv[2]))
        v = train[-1][argv[3]]
        print("last %s %s (max %s)" % (argv[3], v, argv[4]))
        if not v < float(argv[4]):
            fail("%s = %s not below %s" % (argv[3], v, argv[4]))
    elif cmd == "field-above":
        train = [r for r in records(argv[2]) if "eval" not in r and argv[3] in r]
        if not train:
            fail("no training record with %s in %s" % (argv[3], argv[2]))
        v = train[-1][argv[3]]
        print("last %s %s (min %s)" % (argv[3], v, argv[4]))
        if not v > float(argv[4]):
            fail("%s = %s not above %s" % (argv[3], v, argv[4]))
    elif cmd == "field-equal":
        vals = []
        for path in argv[2:4]:
            train = [r for r in records(path) if "eval" not in r and argv[4] in r]
            if not train:
                fail("no training record with %s in %s" % (argv[4], path))
            vals.append((train[-1]["step"], train[-1][argv[4]]))
        print("%s: %s vs %s (step, value)" % (argv[4], vals[0], vals[1]))
        if vals[0] != vals[1]:
            fail("%s differs: %s vs %s" % (argv[4], vals[0], vals[1]))
    elif cmd == "finite":
        a = load_safetensors(model_file(argv[2]))
        for name in sorted(a):
            for i, x in enumerate(a[name][1]):
                if not math.isfinite(x):
                    fail("%s[%d] = %r" % (name, i, x))
        print("%d tensors, all finite" % len(a))
    elif cmd == "trace":
        with open(argv[2]) as f:
            events = json.load(f)["traceEvents"]
        for op in argv[3:]:
            ev = [e for e in events if e.get("cat") == op and e.get("ph") == "X" and e.get("dur", -1) >= 0]
            if not ev:
                fail("no '%s' events in %s" % (op, argv[2]))
        print("%d events, including %s" % (len(events), ", ".join(argv[3:])))
    elif cmd == "same-kernels":
        ka, kb = [kernels_of(p) for p in argv[2:4]]
        if ka != kb:
            diff = sorted(k for k in set(ka) | set(kb) if ka.get(k) != kb.get(k))
            fail("kernel choices differ: %s" % "; ".join("%s: %s vs %s" % (k, ka.get(k), kb.get(k)) for k in diff))
        # A build without oneDNN has one kernel per op: no choices, both empty.
        print("%d kernel choices equal" % len(ka))
    elif cmd == "same":
        a, b = load_safetensors(model_file(argv[2])), load_safetensors(model_file(argv[3]))
        rtol = float(argv[5]) if len(argv) > 5 and argv[4] == "--rtol" else None
        if sorted(a) != sorted(b):
            fail("tensor names differ: %s vs %s" % (sorted(a), sorted(b)))
        worst = 0.0
        for name in sorted(a):
            (sa, va), (sb, vb) = a[name], b[name]
            if sa != sb:
                fail("%s: shape %s vs %s" % (name, sa, sb))
            if rtol is None:
                for i, (x, y) in enumerate(zip(va, vb)):
                    if x != y and not (math.isnan(x) and math.isnan(y)):
                        fail("%s[%d]: %r vs %r (bit-exact expected)" % (name, i, x, y))
            else:
                # relative difference of the tensor: ||a - b|| / ||a||
                diff = math.sqrt(sum((x - y) ** 2 for x, y in zip(va, vb)))
                norm = math.sqrt(sum(x * x for x in va)) or 1e-30
                worst = max(worst, diff / norm)
                if diff / norm > rtol:
                    fail("%s: relative difference %.3g > %g" % (name, diff / norm, rtol))
        print("%d tensors equal (%s; worst relative difference %.3g)" %
              (len(a), "bit-exact" if rtol is None else "rtol %g" % rtol, worst))
    else:
        fail("unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
