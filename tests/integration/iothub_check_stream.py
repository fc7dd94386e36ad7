#!/usr/bin/env python3
"""Check a mosquitto_sub -v capture of msg-NNNNNN payloads: every message of
0..N-1 arrived, first occurrences in order; prints the duplicate count.
usage: iothub_check_stream.py FILE N MAX_DUPLICATES"""
import sys

path, n, max_dups = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seen = set()
order = []
total = 0
for line in open(path, errors="replace"):
    parts = line.split()
    if len(parts) < 2 or not parts[-1].startswith("msg-"):
        continue
    total += 1
    v = int(parts[-1][4:10])
    if v not in seen:
        seen.add(v)
        order.append(v)
dups = total - len(seen)
missing = [i for i in range(n) if i not in seen]
print(f"received={total} unique={len(seen)} duplicates={dups} missing={len(missing)}")
if missing:
    print("first missing:", missing[:10])
    sys.exit(1)
if order != sorted(order):
    bad = next(i for i in range(1, len(order)) if order[i] < order[i - 1])
    print("out of order at", bad, order[max(0, bad - 3):bad + 3])
    sys.exit(1)
if len(seen) != n:
    print("unexpected extra messages")
    sys.exit(1)
if dups > max_dups:
    print(f"too many duplicates: {dups} > {max_dups}")
    sys.exit(1)
