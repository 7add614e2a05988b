#!/usr/bin/env python3
"""Runs llama.cpp's llama-tokenize and llama-embedding on the nomic-bert fixtures and writes what they print as
one JSON file: the texts, llama.cpp's token ids of each, and per GGUF its mean-pooled, L2-normalised embeddings.
Each text goes to llama-embedding in a call of its own (one sequence, positions from 0); see embedding() for why
some calls are repeated."""
import argparse
import json
import os
import re
import subprocess

# the last one is long (53 tokens) so that rotary positions far from 0 matter; "search_query: " and
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


def embedding(bin_dir, model, text, tries=20):
    """llama-embedding's vector of one text. The tool prints its JSON through llama.cpp's asynchronous log, which at
    the commit used sometimes ends the process before printing anything (exit status 0, empty or cut output): a
    run whose output is not one complete embedding of unit length is repeated."""
    cmd = [os.path.join(bin_dir, "llama-embedding"), "-m", model, "-p", text, "--pooling", "mean",
           "--embd-normalize", "2", "--embd-output-format", "json", "-t", "2"]
    for _ in range(tries):
        stdout = run(cmd)
        try:
            data = json.loads(stdout[stdout.index("{"):])["data"]
        except ValueError:
            continue
        if len(data) == 1 and abs(sum(x * x for x in data[0]["embedding"]) - 1) < 1e-4:
            return data[0]["embedding"]
    raise SystemExit(f"{model}: no complete output of llama-embedding in {tries} runs for {text!r}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("models", nargs="+")
    a = ap.parse_args()
    commit = subprocess.run(["git", "-C", a.src, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    if not commit:
        # a source tree without git metadata: name it by its ggml version and the tool's own version line
        with open(os.path.join(a.src, "ggml", "CMakeLists.txt"), encoding="utf-8") as f:
            parts = dict(re.findall(r"set\(GGML_VERSION_(MAJOR|MINOR|PATCH) (\d+)\)", f.read()))
        tool = subprocess.run([os.path.join(a.bin, "llama-embedding"), "--version"], capture_output=True, text=True)
        version = next((l for l in (tool.stdout + tool.stderr).splitlines() if l.startswith("version")), "")
        commit = f"no git metadata; ggml {parts.get('MAJOR')}.{parts.get('MINOR')}.{parts.get('PATCH')}; {version}"
    ref = {"texts": TEXTS, "ids": None, "embeddings": {},
           "llama.cpp": {"commit": commit or "unknown",
                         "embedding": "llama-embedding -m MODEL -p TEXT --pooling mean --embd-normalize 2"
                                      " --embd-output-format json -t 2",
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
        vectors = [embedding(a.bin, model, t) for t in TEXTS]
        ref["embeddings"][os.path.basename(model)] = vectors
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(ref, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
