#!/usr/bin/env python3
"""check_mlm_metrics.py — asserts that a BERT masked-LM run learned, from its metrics JSONL.

Usage: check_mlm_metrics.py METRICS.jsonl VOCAB_SIZE [MARGIN]
Passes when the first logged train loss is near ln(V) (within 1.5), the last one is below
ln(V) - MARGIN (default 1.0), and the run wrote an evaluation record with an accuracy.
"""
import json
import math
import sys


def main():
    path, vocab = sys.argv[1], int(sys.argv[2])
    margin = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
    train, evals = [], []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            r = json.loads(line)
            (evals if "eval" in r else train).append(r)
    if not train:
        sys.exit("%s: no train records" % path)
    ln_v = math.log(vocab)
    first, last = train[0]["loss"], train[-1]["loss"]
    print("ln(V) = %.3f, first train loss %.3f (step %d), last %.3f (step %d)"
          % (ln_v, first, train[0]["step"], last, train[-1]["step"]))
    ok = True
    if abs(first - ln_v) > 1.5:
        print("FAIL: first loss %.3f is not near ln(V) = %.3f" % (first, ln_v))
        ok = False
    if not last < ln_v - margin:
        print("FAIL: last loss %.3f is not below ln(V) - %.2f = %.3f" % (last, margin, ln_v - margin))
        ok = False
    if not evals or "accuracy" not in evals[-1]:
        print("FAIL: no evaluation record with an accuracy")
        ok = False
    else:
        e = evals[-1]
        print("eval at step %d: loss %.3f, MLM accuracy %.4f over %d predictions"
              % (e["step"], e["loss"], e["accuracy"], e["examples"]))
        if not (e["loss"] < ln_v - margin and e["accuracy"] > 0.0 and e["examples"] > 0):
            print("FAIL: evaluation did not improve on chance")
            ok = False
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
