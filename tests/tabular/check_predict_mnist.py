#!/usr/bin/python3
"""check_predict_mnist.py PREDS.csv LABELS_IDX METRICS.jsonl — the accuracy of
`train --predict` on the MNIST test images equals the run's own final eval accuracy."""
import json
import sys

import numpy as np

preds = [int(line.split(",")[0]) for line in open(sys.argv[1]).readlines()[1:]]
labels = np.frombuffer(open(sys.argv[2], "rb").read()[8:], dtype=np.uint8)
evals = [r for r in map(json.loads, open(sys.argv[3])) if "eval" in r]
acc = float(np.mean(np.array(preds) == labels))
print(f"predict accuracy {acc:.4f}, eval accuracy {evals[-1]['accuracy']:.4f} over {len(preds)} images")
if len(preds) != len(labels) or abs(acc - evals[-1]["accuracy"]) > 1e-9:
    sys.exit("check_predict_mnist: --predict disagrees with the run's evaluation")
