#!/usr/bin/env python3
"""Runs llama.cpp's llama-tokenize and llama-embedding on the nomic-bert fixtures and writes what they print as
one JSON file: the texts, llama.cpp's token ids of each, and per GGUF its mean-pooled, L2-normalised embeddings.
All texts go to llama-embedding in one call (one batch, one sequence per text, positions from 0 in each)."""
import argparse
import json
import os
import subprocess

# the last one is long (57 tokens) so that rotary positions far from 0 matter; "search_query: " and
# "search_document: " are nomic-embed-text's task prefixes, part of the text ("_" is not in this tiny vocabulary:
# it becomes [UNK] on both sides)
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "search_query: Once upon a time there was a little girl.",
    "search_document: Offloading streams weights over PCIe",
    "hello",
    "Über den Wolken 123",
    "the quick brown fox jumps over the lazy dog again and again, once upon a time there was a little girl named "
    "lily who loved to play outside in the park, and she played until it was time to return.",
]


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-4000:]}")
    return r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("models", nargs="+")
    a = ap.parse_args()
    commit = subprocess.run(["git", "-C", a.src, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    ref = {"texts": TEXTS, "ids": None, "embeddings": {},
           "llama.cpp": {"commit": commit or "unknown",
                         "embedding": "llama-embedding -m MODEL -p TEXTS(joined by newlines) --pooling mean"
                                      " --embd-normalize 2 --embd-output-format json -t 2 -c 512 -b 512 -ub 512",
                         "tokenize": "llama-tokenize -m MODEL --prompt TEXT --ids --log-disable"}}
    for model in a.models:
        ids = []
        for t in TEXTS:
            line = run([os.path.join(a.bin, "llama-tokenize"), "-m", model, "--prompt", t, "--ids", "--log-disable"])
            ids.append(json.loads(line.strip().splitlines()[-1]))
        if ref["ids"] is None:
            ref["ids"] = ids
        elif ref["ids"] != ids:
            raise SystemExit(f"{model}: token ids differ from the first model's")
        stdout = run([os.path.join(a.bin, "llama-embedding"), "-m", model, "-p", "\n".join(TEXTS), "--pooling", "mean",
                      "--embd-normalize", "2", "--embd-output-format", "json", "-t", "2", "-c", "512", "-b", "512",
                      "-ub", "512", "--log-disable"])
        data = json.loads(stdout[stdout.index("{"):])["data"]
        if len(data) != len(TEXTS):
            raise SystemExit(f"{model}: {len(data)} embeddings for {len(TEXTS)} texts")
        ref["embeddings"][os.path.basename(model)] = [d["embedding"] for d in sorted(data, key=lambda d: d["index"])]
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(ref, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
