#!/usr/bin/env python3
"""Writes the quantization fixtures of provider/src/test/resources/quant/ (run by make-reference.sh).

    make_reference.py WORK OUT LLAMA_CPP_SRC

WORK holds F32.gguf and its llama-quantize outputs (<PRESET>.gguf). For each tensor slice below and for
random blocks of each format, the quantized bytes and gguf-py's reference dequantization
(gguf.quants.dequantize, ggml's dequantize_row_* in numpy) are written as <id>.q (raw block bytes, rows back
to back) and <id>.f32 (little-endian float32, row-major); manifest.json names format, shape and source of
each, the llama.cpp tree they came from, and the F32 model's checksum. Some quantized models are copied
whole, for the load tests.
"""
import hashlib
import json
import os
import re
import shutil
import sys

import numpy as np
import gguf
from gguf.quants import dequantize

ROWS = 16          # rows per tensor slice
RANDOM_ROWS = 8    # rows of random blocks per format
RANDOM_COLS = 512

# (id, preset file, tensor, expected format): one or two real tensors per new format, including the
# 128-wide ffn_down that llama-quantize stores in a 32-block fallback format.
SLICES = [
    ("q5_0-attn_q", "Q5_0", "blk.0.attn_q.weight", "Q5_0"),
    ("q5_0-fallback-ffn_down", "Q3_K_M", "blk.0.ffn_down.weight", "Q5_0"),
    ("q5_1-ffn_up", "Q5_1", "blk.0.ffn_up.weight", "Q5_1"),
    ("q2_k-attn_q", "Q2_K", "blk.0.attn_q.weight", "Q2_K"),
    ("q2_k-token_embd", "Q2_K", "token_embd.weight", "Q2_K"),
    ("q3_k-attn_q", "Q3_K_M", "blk.0.attn_q.weight", "Q3_K"),
    ("q3_k-attn_output", "Q2_K", "blk.0.attn_output.weight", "Q3_K"),
    ("iq4_nl-attn_q", "IQ4_NL", "blk.0.attn_q.weight", "IQ4_NL"),
    ("iq4_nl-fallback-ffn_down", "IQ4_XS", "blk.0.ffn_down.weight", "IQ4_NL"),
    ("iq4_xs-attn_q", "IQ4_XS", "blk.0.attn_q.weight", "IQ4_XS"),
]

# Whole quantized models kept for the load tests: the mixtures users download, and Q5_1's own preset.
MODELS = ["Q2_K", "Q3_K_M", "IQ4_XS", "Q5_1"]

# Byte offsets of each format's fp16 scale fields within a block (random bytes there could be Inf/NaN).
HALVES = {"Q5_0": [0], "Q5_1": [0, 2], "Q2_K": [80, 82], "Q3_K": [108], "IQ4_NL": [0], "IQ4_XS": [0]}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def weights_sha256(path):
    """SHA-256 over every tensor, in name order: the name, a newline, the stored bytes. Unlike the file's own
    checksum it does not change when the writer adds or reorders metadata; QuantFixtureModelsTest recomputes it."""
    h = hashlib.sha256()
    r = gguf.GGUFReader(path)
    for t in sorted(r.tensors, key=lambda t: t.name):
        h.update(t.name.encode() + b"\n")
        h.update(np.asarray(t.data).tobytes())
    return h.hexdigest()


def tensor(reader, name):
    for t in reader.tensors:
        if t.name == name:
            return t
    raise SystemExit(f"no tensor {name}")


def write_entry(out, entries, ident, fmt, raw_rows, cols, source):
    """raw_rows: uint8 array [rows, row_bytes]."""
    qtype = gguf.GGMLQuantizationType[fmt]
    ref = dequantize(raw_rows, qtype).astype("<f4")
    assert ref.shape == (raw_rows.shape[0], cols), (ident, ref.shape)
    os.makedirs(os.path.join(out, "tensors"), exist_ok=True)
    q_name = f"tensors/{ident}.q"
    f_name = f"tensors/{ident}.f32"
    raw_rows.astype(np.uint8).tofile(os.path.join(out, q_name))
    ref.tofile(os.path.join(out, f_name))
    entries.append({
        "id": ident, "format": fmt, "rows": int(raw_rows.shape[0]), "cols": int(cols),
        "rowBytes": int(raw_rows.shape[1]), "quantized": q_name, "reference": f_name, "source": source,
        "firstValues": [float(v) for v in ref.reshape(-1)[:8]],
    })


def main():
    work, out, src = sys.argv[1:4]
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(os.path.join(out, "models"))
    entries = []

    for ident, preset, name, fmt in SLICES:
        r = gguf.GGUFReader(os.path.join(work, preset + ".gguf"))
        t = tensor(r, name)
        if t.tensor_type.name != fmt:
            raise SystemExit(f"{preset} {name} is {t.tensor_type.name}, expected {fmt}")
        cols = int(t.shape[0])
        raw = np.asarray(t.data)[:ROWS]
        write_entry(out, entries, ident, fmt, raw, cols,
                    f"llama-quantize {preset} of the F32 model: {name}, rows 0-{ROWS - 1}")

    rng = np.random.default_rng(18)
    for fmt, halves in HALVES.items():
        qtype = gguf.GGMLQuantizationType[fmt]
        block, type_size = gguf.GGML_QUANT_SIZES[qtype]
        blocks = RANDOM_ROWS * RANDOM_COLS // block
        raw = rng.integers(0, 256, size=(blocks, type_size), dtype=np.uint8)
        for h in halves:
            mag = 10.0 ** rng.uniform(-3, -1, size=blocks)
            sign = np.where(rng.integers(0, 2, size=blocks) == 1, 1.0, -1.0)
            raw[:, h:h + 2] = (mag * sign).astype(np.float16).view(np.uint8).reshape(blocks, 2)
        raw = raw.reshape(RANDOM_ROWS, -1)
        write_entry(out, entries, fmt.lower() + "-random", fmt, raw, RANDOM_COLS,
                    f"random bytes (numpy seed 18), fp16 scales at byte offsets {halves} of each block set to "
                    f"random values of magnitude 1e-3..1e-1 and either sign")

    models = []
    for preset in MODELS:
        path = os.path.join(work, preset + ".gguf")
        shutil.copyfile(path, os.path.join(out, "models", preset + ".gguf"))
        r = gguf.GGUFReader(path)
        models.append({"file": f"models/{preset}.gguf", "preset": preset, "sha256": sha256(path),
                       "tensorTypes": {t.name: t.tensor_type.name for t in r.tensors}})

    def version(path, pattern):
        with open(os.path.join(src, path)) as f:
            m = re.search(pattern, f.read(), re.M)
        return m.group(1) if m else "unknown"

    ggml = ".".join(version("ggml/CMakeLists.txt", rf"set\(GGML_VERSION_{p} (\d+)\)")
                    for p in ("MAJOR", "MINOR", "PATCH"))
    manifest = {
        "about": "ggml reference dequantizations (gguf-py) of llama-quantize outputs and random blocks; "
                 "made by tests/quant/make-reference.sh",
        "llamaCpp": {
            "tree": "a llama.cpp source snapshot without git metadata (its commit is not recorded in it); "
                    "identified by versions and file checksums",
            "ggmlVersion": ggml,
            "ggufPyVersion": version("gguf-py/pyproject.toml", r'^version = "([^"]+)"'),
            "sha256": {p: sha256(os.path.join(src, p)) for p in
                       ("ggml/src/ggml-quants.c", "gguf-py/gguf/quants.py", "src/llama-quant.cpp")},
        },
        "f32Model": {"writer": "io.offload4j.testing.QuantFixtureModel",
                     "sha256": sha256(os.path.join(work, "F32.gguf")),
                     "weightsSha256": weights_sha256(os.path.join(work, "F32.gguf"))},
        "models": models,
        "tensors": entries,
    }
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk(out) for n in ns)
    print(f"wrote {len(entries)} tensors and {len(models)} models to {out} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
