#!/usr/bin/env python3
"""Summarises async-profiler's collapsed stacks (one "frame;frame;... count" line per stack, `threads` option: the
thread name first) for the host side of a GPU step: per thread, the frames with the most samples on top of the stack
(self) and anywhere in it (total).

    python3 prof_top.py prof.collapsed [--thread DestroyJavaVM] [--filter TieredForwardPass] [--top 25]

--filter keeps only stacks through a frame containing that text (e.g. the decode loop), so a benchmark's loading and
prefill can be told apart from its decode. The launcher's main thread is named "DestroyJavaVM" in these files.
"""
import argparse
import collections
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--thread", default=None, help="only threads whose name contains this")
    ap.add_argument("--filter", default=None, help="only stacks with a frame containing this")
    ap.add_argument("--top", type=int, default=25)
    a = ap.parse_args()
    self_n = collections.Counter()
    total_n = collections.Counter()
    samples = 0
    with open(a.file, encoding="utf-8", errors="replace") as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack or not count.isdigit():
                continue
            frames = stack.split(";")
            if a.thread and a.thread not in frames[0]:
                continue
            if a.filter and not any(a.filter in fr for fr in frames):
                continue
            n = int(count)
            samples += n
            self_n[frames[-1]] += n
            for fr in set(frames[1:]):
                total_n[fr] += n
    if samples == 0:
        sys.exit("no samples matched")
    print(f"{samples} samples")
    for title, counter in (("self", self_n), ("total", total_n)):
        print(f"\n-- {title} --")
        for fr, n in counter.most_common(a.top):
            print(f"{100.0 * n / samples:6.1f}%  {n:8d}  {fr[:160]}")


if __name__ == "__main__":
    main()
