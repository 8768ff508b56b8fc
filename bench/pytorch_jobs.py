#!/usr/bin/python3
"""pytorch_jobs.py JOB STEPS — one training job in PyTorch (Debian python3-torch), the
same shapes as flowtrain's, for bench/vs_pytorch.sh and bench/scaling_bench.sh. Prints
one JSON line: samples_per_sec over the steps after the first third (warm-up), peak RSS
in MB, and minor page faults per step over the same steps.

  mlp    MNIST 784-512-512-10, batch 128, SGD momentum 0.9 (configs/mnist_mlp.yaml)
  cnn    the mnist_cnn LeNet: conv 32x3 relu, pool 2, conv 64x3 relu, pool 2, fc 128 relu,
         dropout 0.25, fc 10; batch 64, SGD momentum (configs/mnist_cnn.yaml)
  bert   BERT-tiny like for like: 2 layers, hidden 128, 2 heads, FFN 512, vocab 30522,
         seq 128, batch 32, MLM loss at 20 masked positions per sequence, AdamW, dropout 0.1
  ddp_mlp:N  the mlp job on N processes under DistributedDataParallel (gloo on 127.0.0.1),
         batch 128 per process, 1 thread each; samples_per_sec is the global rate, the
         RSS and faults rank 0's

Threads: torch.set_num_threads(TORCH_THREADS, default 1); OpenBLAS's threads come
from OPENBLAS_NUM_THREADS, which the caller sets.
"""
import json
import os
import resource
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def minor_faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def mnist(path="data/mnist"):
    raw = open(os.path.join(path, "train-images-idx3-ubyte"), "rb").read()[16:]
    x = torch.from_numpy(np.frombuffer(raw, dtype=np.uint8).astype(np.float32).reshape(-1, 784) / 255.0)
    y = torch.from_numpy(np.frombuffer(open(os.path.join(path, "train-labels-idx1-ubyte"), "rb").read()[8:],
                                       dtype=np.uint8).astype(np.int64))
    return x, y


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 32, 3), nn.Conv2d(32, 64, 3)
        self.f1, self.f2 = nn.Linear(1600, 128), nn.Linear(128, 10)
        self.drop = nn.Dropout(0.25)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x.view(-1, 1, 28, 28))), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        return self.f2(self.drop(F.relu(self.f1(x.flatten(1)))))


class BertTiny(nn.Module):
    def __init__(self, vocab=30522, hidden=128, layers=2, heads=2, ffn=512, seq=128):
        super().__init__()
        self.tok, self.pos, self.typ = nn.Embedding(vocab, hidden), nn.Embedding(seq, hidden), nn.Embedding(2, hidden)
        self.ln = nn.LayerNorm(hidden)
        self.drop = nn.Dropout(0.1)
        layer = nn.TransformerEncoderLayer(hidden, heads, ffn, dropout=0.1, activation="gelu", batch_first=True)
        self.enc = nn.TransformerEncoder(layer, layers)
        self.head, self.head_ln = nn.Linear(hidden, hidden), nn.LayerNorm(hidden)
        self.bias = nn.Parameter(torch.zeros(vocab))

    def forward(self, ids, types, mask, positions):
        pos = torch.arange(ids.shape[1]).unsqueeze(0)
        h = self.drop(self.ln(self.tok(ids) + self.pos(pos) + self.typ(types)))
        h = self.enc(h, src_key_padding_mask=~mask)
        picked = torch.gather(h, 1, positions.unsqueeze(-1).expand(-1, -1, h.shape[-1]))
        t = self.head_ln(F.gelu(self.head(picked)))
        return t @ self.tok.weight.t() + self.bias  # tied decoder


def ddp_worker(rank, world, port, steps, out):
    import torch.distributed as dist
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method="tcp://127.0.0.1:%d" % port, rank=rank, world_size=world)
    torch.manual_seed(0)
    x, y = mnist()
    batch = 128
    model = nn.parallel.DistributedDataParallel(
        nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    perm = torch.randperm(x.shape[0])
    shard = x.shape[0] // world

    def step(i):
        start = rank * shard + (i * batch) % (shard - batch)
        idx = perm[start:start + batch]
        opt.zero_grad()
        F.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()

    warm = max(1, steps // 3)
    for i in range(warm):
        step(i)
    dist.barrier()
    f0, t0 = minor_faults(), time.perf_counter()
    for i in range(warm, steps):
        step(i)
    dist.barrier()
    dt, df = time.perf_counter() - t0, minor_faults() - f0
    n = steps - warm
    if rank == 0:
        with open(out, "w") as f:
            f.write(json.dumps({"samples_per_sec": world * n * batch / dt,
                                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                                "minor_faults_per_step": df / n}) + "\n")
    dist.destroy_process_group()


def ddp(world, steps):
    import socket
    import tempfile
    import torch.multiprocessing as mp
    with socket.socket() as s:  # a free port on the loopback
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "rank0.json")
        mp.spawn(ddp_worker, args=(world, port, steps, out), nprocs=world, join=True)
        print(open(out).read().strip())


def main():
    job, steps = sys.argv[1], int(sys.argv[2])
    if job.startswith("ddp_mlp:"):
        return ddp(int(job.split(":")[1]), steps)
    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "1")))
    torch.manual_seed(0)
    if job in ("mlp", "cnn"):
        x, y = mnist()
        batch = 128 if job == "mlp" else 64
        model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)) \
            if job == "mlp" else Cnn()
        opt = torch.optim.SGD(model.parameters(), lr=0.05 if job == "mlp" else 0.03, momentum=0.9)
        perm = torch.randperm(x.shape[0])

        def step(i):
            idx = perm[(i * batch) % (x.shape[0] - batch):][:batch]
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    elif job == "bert":
        batch, seq, preds, vocab = 32, 128, 20, 30522
        model = BertTiny(vocab=vocab, seq=seq)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
        g = torch.Generator().manual_seed(0)
        ids = torch.randint(5, vocab, (batch, seq), generator=g)
        types = torch.zeros(batch, seq, dtype=torch.long)
        mask = torch.ones(batch, seq, dtype=torch.bool)
        positions = torch.stack([torch.randperm(seq, generator=g)[:preds] for _ in range(batch)])
        labels = torch.randint(5, vocab, (batch, preds), generator=g)

        def step(i):
            opt.zero_grad()
            logits = model(ids, types, mask, positions)
            F.cross_entropy(logits.reshape(-1, vocab), labels.reshape(-1)).backward()
            opt.step()
    else:
        sys.exit(f"pytorch_jobs: unknown job {job} (mlp, cnn, bert, ddp_mlp:N)")
    model.train()
    warm = max(1, steps // 3)
    for i in range(warm):
        step(i)
    f0, t0 = minor_faults(), time.perf_counter()
    for i in range(warm, steps):
        step(i)
    dt, df = time.perf_counter() - t0, minor_faults() - f0
    n = steps - warm
    print(json.dumps({"samples_per_sec": n * batch / dt, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "minor_faults_per_step": df / n}))


if __name__ == "__main__":
    main()
