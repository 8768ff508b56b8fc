#!/usr/bin/env python3
# fit_copy_rate.py — a core's copy rate for scale_plan's shared_cores (train/scale_model.h) from an
# np 4 comm_bench on 2 shared cores. Usage:
#   fit_copy_rate.py host|hier COMM_BENCH.txt INTRA_ALPHA_US INTRA_BETA_GBS INTER_ALPHA_US INTER_BETA_GBS INTRA_COPY_GBS
# (host: the inter and intra-copy arguments are unused). Prints copy_gbs, then each size.
# A core's copy rate on oversubscribed shared cores (o = 2: 4 ranks, 2 cores) from an np 4 comm_bench:
#   one host:  t(S) = ring_4(S) + (o-1)·(2·3/4·S)/intra_copy                  -> intra_copy
#   two hosts: t(S) = hier(S) + (o-1)·(S/intra_copy + (S/2)/inter_copy)       -> inter_copy
# least squares on relative error (weights 1/t^2), sizes from 1 MiB.
import sys, re
mode, path = sys.argv[1], sys.argv[2]
ia, ib, ea, eb, ic = map(float, sys.argv[3:8])
ia*=1e-6; ea*=1e-6; ib*=1e9; eb*=1e9; ic*=1e9
rows=[]
for l in open(path):
    m = re.match(r"\s*(\S+)\s+(\d+)\s+float\s+\|\s+([\d.]+)", l)
    if m and not l.startswith('#'): rows.append((int(m.group(2))*4, float(m.group(3))*1e-6))
def base(S):
    if mode == "host": return 2*3/4*S/ib + 6*ia, 0.0, 1.5*S
    return 2*(0.5*S/ib+ia) + (0.5*S/eb + 2*ea), S/ic, S/2
num=den=0
rows=[(S,t) for S,t in rows if S >= 1048576]  # the bandwidth regime: sizes from 1 MiB
for S,t in rows:
    b, known, a = base(S)
    num += a*(t-b-known)/t**2; den += a*a/t**2
y = num/den
print("copy_gbs %.4f" % (1/y/1e9))
for S,t in rows:
    b, known, a = base(S)
    print(S, "%.3f ms measured, %.3f alpha-beta, %.3f with copies" % (t*1e3, b*1e3, (b+known+y*a)*1e3))
