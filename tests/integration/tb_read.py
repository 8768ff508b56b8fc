#!/usr/bin/python3
"""tb_read.py — reads TensorBoard event files with the protobuf library and TensorFlow's
message definitions (tb_proto/, compiled with protoc at run time), independently of the
writer: every TFRecord frame's length and CRC-32C are checked.

  tb_read.py EVENTS [--expect-tags T1,T2] [--min-steps N] [--metrics M.jsonl]
             [--tag-map TAG=FIELD,...] [--dump]

EVENTS is an events file or a folder of events.out.tfevents.* files (read in name order).
Each file's first event has a file_version "brain.Event:*". The checked tags (those of
--expect-tags, else every tag found) each have at least N (default 1) points, strictly
increasing steps and finite values. With --metrics (JSON lines with "step"), each checked
tag's (step, value) pairs equal the metrics file's within float32 precision (rtol 1e-6):
tag "eval/NAME" is field NAME of the records with an "eval" field, any other tag the field
of its name in the other records; --tag-map renames the field. --dump prints
"tag<TAB>step<TAB>value" per scalar. Exits 1 with one line on a mismatch or corrupt
frame, 77 when protoc or google.protobuf is missing.
"""
import argparse
import glob
import importlib
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile

RTOL = 1e-6


def fail(msg):
    print("tb_read: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def skip(msg):
    print("tb_read: SKIP: " + msg, file=sys.stderr)
    sys.exit(77)


# CRC-32C (Castagnoli): reflected polynomial 0x82F63B78, table-driven.
CRC_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    CRC_TABLE.append(_c)


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked_crc(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


def frames(path):
    """The payloads of a TFRecord file: uint64 length, masked CRC of it, data, masked CRC of the data."""
    with open(path, "rb") as f:
        raw = f.read()
    name, at, out = os.path.basename(path), 0, []
    while at < len(raw):
        if at + 12 > len(raw):
            fail("%s: corrupt frame at byte %d: truncated header" % (name, at))
        header = raw[at:at + 8]
        (n,) = struct.unpack("<Q", header)
        (hcrc,) = struct.unpack("<I", raw[at + 8:at + 12])
        if hcrc != masked_crc(header):
            fail("%s: corrupt frame at byte %d: length CRC mismatch" % (name, at))
        if at + 16 + n > len(raw):
            fail("%s: corrupt frame at byte %d: truncated record of %d bytes" % (name, at, n))
        data = raw[at + 12:at + 12 + n]
        (dcrc,) = struct.unpack("<I", raw[at + 12 + n:at + 16 + n])
        if dcrc != masked_crc(data):
            fail("%s: corrupt frame at byte %d: data CRC mismatch" % (name, at))
        out.append((at, data))
        at += 16 + n
    return out


def load_protos(tmp):
    """Compiles tb_proto/*.proto into tmp and imports the Event message."""
    try:
        import google.protobuf  # noqa: F401
    except ImportError:
        skip("python module google.protobuf is not installed")
    protoc = shutil.which("protoc")
    if not protoc:
        skip("protoc is not installed")
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tb_proto")
    r = subprocess.run([protoc, "--proto_path=" + src, "--python_out=" + tmp,
                        os.path.join(src, "event.proto"), os.path.join(src, "summary.proto")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    if r.returncode != 0:
        fail("protoc: " + " ".join(r.stdout.split()))
    sys.path.insert(0, tmp)
    return importlib.import_module("event_pb2").Event


def read_events(paths, Event):
    """{tag: [(step, value)]} in file order, checking each file's file_version event."""
    from google.protobuf.message import DecodeError
    scalars, order = {}, []
    for path in paths:
        name = os.path.basename(path)
        fr = frames(path)
        if not fr:
            fail("%s: no events" % name)
        for i, (at, data) in enumerate(fr):
            ev = Event()
            try:
                ev.ParseFromString(data)
            except DecodeError as e:
                fail("%s: record at byte %d is not an Event: %s" % (name, at, e))
            if i == 0:
                if ev.WhichOneof("what") != "file_version" or not ev.file_version.startswith("brain.Event:"):
                    fail("%s: the first event has no file_version 'brain.Event:*'" % name)
                continue
            if ev.WhichOneof("what") != "summary":
                continue
            for v in ev.summary.value:
                if v.WhichOneof("value") != "simple_value":
                    fail("%s: tag %r at step %d is not a simple_value scalar" % (name, v.tag, ev.step))
                if v.tag not in scalars:
                    scalars[v.tag] = []
                    order.append(v.tag)
                scalars[v.tag].append((ev.step, v.simple_value))
    return scalars, order


def metric_points(records, tag, field):
    evaluation = tag.startswith("eval/")
    return [(r["step"], r[field]) for r in records
            if ("eval" in r) == evaluation and field in r and isinstance(r[field], (int, float))]


def close(a, b):
    return a == b or math.isclose(a, b, rel_tol=RTOL, abs_tol=1e-37)


def main():
    ap = argparse.ArgumentParser(description="Read and check TensorBoard scalar event files.")
    ap.add_argument("events", help="an events file or a folder of events.out.tfevents.* files")
    ap.add_argument("--expect-tags", default="", help="comma-separated tags that must be present")
    ap.add_argument("--min-steps", type=int, default=1, help="points each checked tag must have")
    ap.add_argument("--metrics", help="metrics JSON lines the scalars must equal")
    ap.add_argument("--tag-map", default="", help="TAG=FIELD,... metrics field of a tag")
    ap.add_argument("--dump", action="store_true", help="print tag, step, value per scalar")
    a = ap.parse_args()

    if os.path.isdir(a.events):
        paths = sorted(glob.glob(os.path.join(a.events, "events.out.tfevents.*")))
        if not paths:
            fail("%s: no events.out.tfevents.* file" % a.events)
    elif os.path.isfile(a.events):
        paths = [a.events]
    else:
        fail("%s: no such file or folder" % a.events)
    tag_map = {}
    for kv in filter(None, a.tag_map.split(",")):
        if "=" not in kv:
            fail("--tag-map: %r is not TAG=FIELD" % kv)
        tag, field = kv.split("=", 1)
        tag_map[tag] = field

    with tempfile.TemporaryDirectory(prefix="tb_read.") as tmp:
        Event = load_protos(tmp)
        scalars, order = read_events(paths, Event)

    if a.dump:
        for tag in order:
            for step, value in scalars[tag]:
                print("%s\t%d\t%.9g" % (tag, step, value))

    records = None
    if a.metrics:
        try:
            with open(a.metrics) as f:
                records = [json.loads(line) for line in f if line.strip()]
        except (OSError, ValueError) as e:
            fail("%s: %s" % (a.metrics, e))
        if any("step" not in r for r in records):
            fail("%s: a record has no 'step'" % a.metrics)

    tags = [t for t in a.expect_tags.split(",") if t] or order
    if not tags:
        fail("no scalar in %s" % a.events)
    for tag in tags:
        pts = scalars.get(tag)
        if not pts:
            fail("tag %r not found (tags: %s)" % (tag, ", ".join(order) or "none"))
        for (s0, _), (s1, _) in zip(pts, pts[1:]):
            if s1 <= s0:
                fail("%s: steps not increasing: %d after %d" % (tag, s1, s0))
        for s, v in pts:
            if not math.isfinite(v):
                fail("%s: step %d: value %r is not finite" % (tag, s, v))
        if len(pts) < a.min_steps:
            fail("%s: %d points, fewer than --min-steps %d" % (tag, len(pts), a.min_steps))
        if records is not None:
            field = tag_map.get(tag, tag[len("eval/"):] if tag.startswith("eval/") else tag)
            want = metric_points(records, tag, field)
            if not want:
                fail("%s: no %s'%s' in %s" % (tag, "eval " if tag.startswith("eval/") else "", field, a.metrics))
            for (s, v), (ms, mv) in zip(pts, want):
                if s != ms:
                    fail("%s: step %d in the events, %d in the metrics" % (tag, s, ms))
                if not close(v, mv):
                    fail("%s: step %d: %.9g in the events, %.9g in the metrics (rtol %g)" % (tag, s, v, mv, RTOL))
            if len(pts) != len(want):
                fail("%s: %d points in the events, %d in the metrics" % (tag, len(pts), len(want)))
        print("tb_read: %s: %d points, steps %d..%d" % (tag, len(pts), pts[0][0], pts[-1][0]))


if __name__ == "__main__":
    main()
