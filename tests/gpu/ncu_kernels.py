#!/usr/bin/env python3
"""Nsight Compute's per-kernel times summed by kernel name.

    python3 ncu_kernels.py FILE [UNITS]

FILE: the CSV of `ncu --csv --metrics gpu__time_duration.sum` (plain or .xz), e.g. over OffloadBenchmark's
--profile-steps range with --profile-from-start off. UNITS divides the totals (e.g. 48 for per block of a 48-block
step). Also reads an nsys `cuda_gpu_trace` CSV, and then adds the span, the busy fraction and the gaps between kernels.
ncu runs each kernel alone with cold caches: small kernels read longer than inside a replayed graph.
"""
import collections
import csv
import lzma
import sys


def main():
    path = sys.argv[1]
    units = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    with (lzma.open if path.endswith('.xz') else open)(path, 'rt') as f:
        lines = f.read().splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith(('"ID"', '"Start', 'Start')))
    rows = list(csv.DictReader(lines[start:]))
    agg = collections.defaultdict(lambda: [0, 0.0])  # name -> launches, ns
    if 'Metric Value' in rows[0]:
        scale = {'nsecond': 1, 'usecond': 1e3, 'msecond': 1e6}
        for r in rows:
            if r['Metric Name'] == 'gpu__time_duration.sum':
                a = agg[r['Kernel Name']]
                a[0] += 1
                a[1] += float(r['Metric Value'].replace(',', '')) * scale.get(r['Metric Unit'], 1)
    else:
        name = 'Name' if 'Name' in rows[0] else 'Kernel Name'
        ks = sorted((r for r in rows if r.get('GrdX')), key=lambda r: float(r['Start (ns)']))
        for r in ks:
            a = agg[r[name]]
            a[0] += 1
            a[1] += float(r['Duration (ns)'])
        if len(ks) > 1:
            end = lambda r: float(r['Start (ns)']) + float(r['Duration (ns)'])
            span = end(ks[-1]) - float(ks[0]['Start (ns)'])
            busy = sum(float(r['Duration (ns)']) for r in ks)
            gaps = sorted(float(b['Start (ns)']) - end(a) for a, b in zip(ks, ks[1:]))
            print(f"kernels {len(ks)}, span {span / 1e3:.1f} us, busy {busy / span:.2f}; gaps: median "
                  f"{gaps[len(gaps) // 2] / 1e3:.2f} us, sum {sum(gaps) / 1e3:.1f} us")
    total = sum(a[1] for a in agg.values())
    print(f"kernel time {total / 1e3:.1f} us in {sum(a[0] for a in agg.values())} launches; per unit ({units:g}): "
          f"{total / 1e3 / units:.1f} us")
    for k, (n, t) in sorted(agg.items(), key=lambda kv: -kv[1][1])[:40]:
        print(f"{t / 1e3 / units:9.1f} us/unit {n / units:7.2f} launches/unit {t / n / 1e3:8.2f} us each  {k[:90]}")


if __name__ == '__main__':
    main()
