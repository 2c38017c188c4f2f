#!/usr/bin/env python3
"""Sums up `ncu --csv --metrics gpu__time_duration.sum` output (stdin) for kernels/cuda/check.sh:
one line per (kernel, grid, block) with its count and median duration, the longest total first,
so the next tuning step starts from where a decoded token's time goes."""
import csv
import statistics
import sys


def main():
    hdr = None
    times = {}
    for row in csv.reader(sys.stdin):
        if "Kernel Name" in row:
            hdr = row
            continue
        if not hdr or len(row) != len(hdr):
            continue
        d = dict(zip(hdr, row))
        if d.get("Metric Name") != "gpu__time_duration.sum":
            continue
        v = float(d["Metric Value"].replace(",", ""))
        unit = d.get("Metric Unit", "")
        us = v / 1000 if unit in ("ns", "nsecond") else v * 1000 if unit in ("ms", "msecond") else v
        key = (d["Kernel Name"].split("(")[0], d.get("Grid Size", ""), d.get("Block Size", ""))
        times.setdefault(key, []).append(us)
    if not times:
        print("no kernel timings")
        return
    print("| kernel | grid | block | count | median us | total us |")
    print("|---|---|---|---:|---:|---:|")
    for (name, grid, block), v in sorted(times.items(), key=lambda kv: -sum(kv[1])):
        print(f"| {name} | {grid} | {block} | {len(v)} | {statistics.median(v):.2f} "
              f"| {sum(v):.1f} |")


if __name__ == "__main__":
    main()
