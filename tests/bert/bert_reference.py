#!/usr/bin/env python3
"""bert_reference.py — an independent NumPy forward pass of flowtrain's BERT MLM (nn/bert.h).

Usage: bert_reference.py IN.txt OUT.txt --layers L --heads H
IN holds the weights (named as in nn/bert.h) and the inputs input_ids, segment_ids,
attention_mask, masked_positions, masked_labels, masked_weights. Each tensor is two lines:
"name ndim d0 d1 ..." then its values separated by spaces. OUT gets "logits" (B*P, V) and
"loss" () in the same format. Everything is computed in float64, without dropout.
"""
import argparse
import math

import numpy as np


def read_tensors(path):
    out = {}
    with open(path) as f:
        lines = f.read().splitlines()
    for i in range(0, len(lines) - 1, 2):
        head = lines[i].split()
        name, ndim = head[0], int(head[1])
        shape = tuple(int(d) for d in head[2:2 + ndim])
        vals = np.array([float(v) for v in lines[i + 1].split()], dtype=np.float64)
        out[name] = vals.reshape(shape)
    return out


def write_tensors(path, tensors):
    with open(path, "w") as f:
        for name, t in tensors.items():
            t = np.asarray(t, dtype=np.float64)
            f.write("%s %d %s\n" % (name, t.ndim, " ".join(str(d) for d in t.shape)))
            f.write(" ".join("%.17g" % v for v in t.reshape(-1)) + "\n")


def layer_norm(x, gamma, beta, eps=1e-12):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta


def gelu(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def attention(x, mask, w, p, heads):
    b, t, c = x.shape
    d = c // heads

    def split(name):
        y = x @ w[p + "self/" + name + "/w"] + w[p + "self/" + name + "/b"]
        return y.reshape(b, t, heads, d).transpose(0, 2, 1, 3)  # (B, H, T, D)

    q, k, v = split("query"), split("key"), split("value")
    s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d)  # (B, H, T, T)
    keep = mask[:, None, None, :] != 0
    s = np.where(keep, s, -np.inf)
    s = s - s.max(-1, keepdims=True)
    e = np.where(keep, np.exp(s), 0.0)
    probs = e / e.sum(-1, keepdims=True)
    ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(b, t, c)
    return ctx


def forward(w, layers, heads):
    ids = w["input_ids"].astype(np.int64)
    seg = w["segment_ids"].astype(np.int64)
    mask = w["attention_mask"]
    pos = w["masked_positions"].astype(np.int64)
    labels = w["masked_labels"].astype(np.int64).reshape(-1)
    weights = w["masked_weights"].reshape(-1)
    b, t = ids.shape
    e = "bert/embeddings/"
    x = w[e + "word_embeddings"][ids] + w[e + "token_type_embeddings"][seg] + w[e + "position_embeddings"][:t][None]
    x = layer_norm(x, w[e + "LayerNorm/gamma"], w[e + "LayerNorm/beta"])
    for i in range(layers):
        p = "bert/encoder/layer_%d/" % i
        ctx = attention(x, mask, w, p + "attention/", heads)
        a = ctx @ w[p + "attention/output/dense/w"] + w[p + "attention/output/dense/b"]
        x = layer_norm(a + x, w[p + "attention/output/LayerNorm/gamma"], w[p + "attention/output/LayerNorm/beta"])
        h = gelu(x @ w[p + "intermediate/dense/w"] + w[p + "intermediate/dense/b"])
        o = h @ w[p + "output/dense/w"] + w[p + "output/dense/b"]
        x = layer_norm(o + x, w[p + "output/LayerNorm/gamma"], w[p + "output/LayerNorm/beta"])
    # MLM head at the masked positions only.
    rows = x[np.arange(b)[:, None], pos].reshape(-1, x.shape[-1])  # (B*P, C)
    c = "cls/predictions/"
    h = gelu(rows @ w[c + "transform/dense/w"] + w[c + "transform/dense/b"])
    h = layer_norm(h, w[c + "transform/LayerNorm/gamma"], w[c + "transform/LayerNorm/beta"])
    logits = h @ w[e + "word_embeddings"].T + w[c + "output_bias"]  # (B*P, V)
    m = logits.max(-1, keepdims=True)
    logp = logits - m - np.log(np.exp(logits - m).sum(-1, keepdims=True))
    valid = labels >= 0
    ce = np.where(valid, -logp[np.arange(len(labels)), np.where(valid, labels, 0)], 0.0)
    loss = (ce * weights).sum() / (weights.sum() + 1e-5)
    return logits, loss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("inp")
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, required=True)
    ap.add_argument("--heads", type=int, required=True)
    a = ap.parse_args()
    logits, loss = forward(read_tensors(a.inp), a.layers, a.heads)
    write_tensors(a.out, {"logits": logits, "loss": np.array(loss)})


if __name__ == "__main__":
    main()
