#!/usr/bin/env python3
"""transformers' vectors for the committed bidirectional fixture (gte-Qwen2-style), on the GPU machine.

    python3 tests/gpu/make_bidir_fixture.py provider/src/test/resources/transformers/hf-qwen2-bidir "$OUT"

Reads the directory tests/embedding/make_bidir_fixture.py wrote (a Qwen2Model with "is_causal": false, random
weights; nothing here changes it) and computes with transformers' Qwen2Model, float32, eager attention, one text at
a time (no padding question):
  - bidirectional: an explicit 4-D additive mask of zeros [1, 1, T, T], every token attending to every token, as
    gte-Qwen2 was trained; last token (the appended <|endoftext|>), L2-normalised;
  - causal, with an explicit 4-D mask (0 on and below the diagonal, -inf above), which must differ from the
    bidirectional one; and transformers' own run with no mask, which follows config.is_causal (false: it must equal
    the zero-mask run — transformers itself attends bidirectionally for this config).
Both are compared with the directory's float64 numpy vectors (ref-numpy-*.f32) on the texts they share.
Writes OUT/hf-qwen2-bidir-ref.tar holding ref-embed.json, ref-embed.f32 (bidirectional vectors [texts x 64]) and
make-bidir.log: extract it into the directory (tar -xf ... -C provider/src/test/resources/transformers/hf-qwen2-bidir)
and BidirectionalEmbeddingTest / EmbeddingGpuTest check the engine against it.
"""
import json
import os
import sys
import tarfile

import numpy as np
import torch
import transformers
from transformers import AutoModel, AutoTokenizer

GTE_QUERY = ("Instruct: Given a web search query, retrieve relevant passages that answer the query\n"
             "Query: what does offloading do?")  # gte-Qwen2's model card: Instruct: {task}\nQuery: {query}


def main():
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    log = []
    log.append(f"transformers {transformers.__version__}, torch {torch.__version__}, device {device}")
    numpy_ref = json.load(open(os.path.join(src, "ref-numpy.json")))
    dim = numpy_ref["shape"][1]
    texts = list(numpy_ref["texts"]) + [GTE_QUERY]
    tok = AutoTokenizer.from_pretrained(src)
    model = AutoModel.from_pretrained(src, dtype=torch.float32, attn_implementation="eager").to(device).eval()
    log.append(f"model {type(model).__name__}, config.is_causal={getattr(model.config, 'is_causal', None)}")
    assert type(model).__name__ == "Qwen2Model", type(model).__name__
    ids = [tok(t, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for t in texts]
    for i, want in enumerate(numpy_ref["ids"]):
        assert ids[i] == want, f"text {i}: transformers' ids {ids[i]} differ from the fixture's {want}"

    def last(one, mask):
        x = torch.tensor([one], device=device)
        with torch.no_grad():
            h = model(x, attention_mask=mask).last_hidden_state[0, -1] if mask is not None \
                else model(x).last_hidden_state[0, -1]
        return torch.nn.functional.normalize(h.double(), dim=-1).cpu().numpy()

    bidir, causal, plain = [], [], []
    for one in ids:
        t = len(one)
        zeros = torch.zeros((1, 1, t, t), dtype=torch.float32, device=device)
        upper = torch.triu(torch.full((t, t), float("-inf"), dtype=torch.float32, device=device), 1)[None, None]
        bidir.append(last(one, zeros))
        causal.append(last(one, upper))
        plain.append(last(one, None))
    bidir, causal, plain = np.array(bidir), np.array(causal), np.array(plain)
    cos = lambda a, b: np.sum(a * b, axis=1)  # noqa: E731 (unit vectors)
    # Without a mask transformers (5.x) follows the config's is_causal itself: false here, so the plain run must equal
    # the explicit zero mask's; with a causal config it would equal the explicit causal mask's.
    config_causal = getattr(model.config, "is_causal", True) is not False
    c_mask_plain = cos(causal if config_causal else bidir, plain)
    c_bidir_causal = cos(bidir, causal)
    log.append(("cosine causal" if config_causal else "cosine bidirectional (zero)") + " 4-D mask vs no mask: "
               + " ".join(f"{x:.6f}" for x in c_mask_plain))
    log.append("cosine bidirectional vs causal:    " + " ".join(f"{x:.6f}" for x in c_bidir_causal))
    n = len(numpy_ref["texts"])
    np_bidir = np.fromfile(os.path.join(src, "ref-numpy-bidir.f32"), dtype="<f4").reshape(n, dim)
    np_causal = np.fromfile(os.path.join(src, "ref-numpy-causal.f32"), dtype="<f4").reshape(n, dim)
    c_np_bidir = cos(bidir[:n], np_bidir.astype(np.float64))
    c_np_causal = cos(causal[:n], np_causal.astype(np.float64))
    log.append("cosine vs numpy, bidirectional:    " + " ".join(f"{x:.6f}" for x in c_np_bidir))
    log.append("cosine vs numpy, causal:           " + " ".join(f"{x:.6f}" for x in c_np_causal))
    print("\n".join(log), flush=True)
    problems = []
    if c_mask_plain.min() < 0.99999:
        problems.append("the explicit 4-D mask does not reproduce transformers' own unmasked run under this config:"
                        " is the mask applied?")
    if c_bidir_causal.min() > 0.99:
        problems.append("bidirectional and causal vectors hardly differ: the zero mask was not applied")
    if c_np_bidir.min() < 0.9999 or c_np_causal.min() < 0.9999:
        problems.append("transformers and the numpy reference disagree")
    log.extend("PROBLEM: " + p for p in problems)

    ref_dir = os.path.join(out, "hf-qwen2-bidir")
    os.makedirs(ref_dir, exist_ok=True)
    bidir.astype("<f4").tofile(os.path.join(ref_dir, "ref-embed.f32"))
    with open(os.path.join(ref_dir, "ref-embed.json"), "w") as f:
        json.dump({"texts": texts, "ids": ids, "shape": [len(texts), dim],
                   "pooling": "last token (the appended eos)", "normalised": True,
                   "attention": "bidirectional: explicit 4-D zero mask, eager, float32",
                   "transformers": transformers.__version__, "torch": torch.__version__}, f, indent=1)
    with open(os.path.join(ref_dir, "make-bidir.log"), "w") as f:
        f.write("\n".join(log) + "\n")
    with tarfile.open(os.path.join(out, "hf-qwen2-bidir-ref.tar"), "w") as tar:
        for name in ("ref-embed.json", "ref-embed.f32", "make-bidir.log"):
            tar.add(os.path.join(ref_dir, name), arcname=name)
    for name in ("ref-embed.json", "ref-embed.f32", "make-bidir.log"):
        os.remove(os.path.join(ref_dir, name))
    os.rmdir(ref_dir)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        sys.exit(1)
    print("ok: " + os.path.join(out, "hf-qwen2-bidir-ref.tar"))


if __name__ == "__main__":
    main()
