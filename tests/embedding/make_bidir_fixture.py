#!/usr/bin/env python3
"""A tiny gte-Qwen2-style embedding model with bidirectional attention, and its vectors in float64 numpy.

    python3 tests/embedding/make_bidir_fixture.py provider/src/test/resources/transformers/hf-qwen2-bidir

Writes, with numpy only (no torch, no transformers: this machine has neither):
  config.json            Qwen2Model (no LM head, names without "model."), "is_causal": false as gte-Qwen2's configs
                         mark bidirectional attention; 2 layers, hidden 64, 4 heads / 2 KV, FFN 128, vocabulary 384
  model.safetensors      float32 random weights (seed 20), q/k/v biases as Qwen2 has
  tokenizer.json, tokenizer_config.json
                         copied from hf-qwen3-embed (transformers' byte-level BPE, <|endoftext|> = 4)
  modules.json, 1_Pooling/config.json, config_sentence_transformers.json
                         as gte-Qwen2 ships them: Transformer, Pooling (last token), Normalize; the query prompt
  ref-numpy.json, ref-numpy-bidir.f32, ref-numpy-causal.f32
                         the texts and ids of hf-qwen3-embed/ref-embed.json (made by transformers' tokenizer from the
                         same tokenizer.json), and per text the last token's final hidden state after the norm,
                         L2-normalised [texts x 64]: with every token attending to every token, and causally (to show
                         the two differ)

tests/gpu/make_bidir_fixture.py then computes transformers' vectors for this very directory on the GPU machine.
This forward pass is written from the Qwen2 architecture (RMSNorm, RoPE on halves, grouped-query attention with
biases, SwiGLU), independently of the Java engine.
"""
import json
import os
import shutil
import struct
import sys

import numpy as np

HIDDEN, LAYERS, HEADS, KV_HEADS, FFN, VOCAB = 64, 2, 4, 2, 128, 384
HEAD_DIM = HIDDEN // HEADS
THETA, EPS = 10000.0, 1e-6


def weights(seed=20):
    rng = np.random.default_rng(seed)
    w = {}

    def mat(name, rows, cols, std=0.1):
        w[name] = (rng.standard_normal((rows, cols)) * std).astype(np.float32)

    def vec(name, n, mean, std):
        w[name] = (mean + rng.standard_normal(n) * std).astype(np.float32)

    mat("embed_tokens.weight", VOCAB, HIDDEN, 0.5)
    for l in range(LAYERS):
        p = f"layers.{l}."
        vec(p + "input_layernorm.weight", HIDDEN, 1.0, 0.1)
        mat(p + "self_attn.q_proj.weight", HEADS * HEAD_DIM, HIDDEN, 0.2)
        vec(p + "self_attn.q_proj.bias", HEADS * HEAD_DIM, 0.0, 0.1)
        mat(p + "self_attn.k_proj.weight", KV_HEADS * HEAD_DIM, HIDDEN, 0.2)
        vec(p + "self_attn.k_proj.bias", KV_HEADS * HEAD_DIM, 0.0, 0.1)
        mat(p + "self_attn.v_proj.weight", KV_HEADS * HEAD_DIM, HIDDEN, 0.2)
        vec(p + "self_attn.v_proj.bias", KV_HEADS * HEAD_DIM, 0.0, 0.1)
        mat(p + "self_attn.o_proj.weight", HIDDEN, HEADS * HEAD_DIM, 0.2)
        vec(p + "post_attention_layernorm.weight", HIDDEN, 1.0, 0.1)
        mat(p + "mlp.gate_proj.weight", FFN, HIDDEN, 0.2)
        mat(p + "mlp.up_proj.weight", FFN, HIDDEN, 0.2)
        mat(p + "mlp.down_proj.weight", HIDDEN, FFN, 0.2)
    vec("norm.weight", HIDDEN, 1.0, 0.1)
    return w


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def rms(x, w):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + EPS) * w


def rope(x, pos):
    # x [T, heads, hd]; Qwen2 rotates the first half against the second (rotate_half)
    half = HEAD_DIM // 2
    inv = 1.0 / THETA ** (np.arange(half, dtype=np.float64) * 2 / HEAD_DIM)
    ang = pos[:, None] * inv[None, :]
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    a, b = x[..., :half], x[..., half:]
    return np.concatenate([a * cos - b * sin, a * sin + b * cos], axis=-1)


def forward(w, ids, bidirectional):
    w = {k: v.astype(np.float64) for k, v in w.items()}
    T = len(ids)
    x = w["embed_tokens.weight"][ids]
    pos = np.arange(T, dtype=np.float64)
    mask = np.zeros((T, T)) if bidirectional else np.triu(np.full((T, T), -np.inf), 1)
    for l in range(LAYERS):
        p = f"layers.{l}."
        h = rms(x, w[p + "input_layernorm.weight"])
        q = (h @ w[p + "self_attn.q_proj.weight"].T + w[p + "self_attn.q_proj.bias"]).reshape(T, HEADS, HEAD_DIM)
        k = (h @ w[p + "self_attn.k_proj.weight"].T + w[p + "self_attn.k_proj.bias"]).reshape(T, KV_HEADS, HEAD_DIM)
        v = (h @ w[p + "self_attn.v_proj.weight"].T + w[p + "self_attn.v_proj.bias"]).reshape(T, KV_HEADS, HEAD_DIM)
        q, k = rope(q, pos), rope(k, pos)
        out = np.zeros((T, HEADS, HEAD_DIM))
        for hd in range(HEADS):
            kv = hd // (HEADS // KV_HEADS)
            s = q[:, hd] @ k[:, kv].T / np.sqrt(HEAD_DIM) + mask
            s = np.exp(s - s.max(axis=-1, keepdims=True))
            out[:, hd] = (s / s.sum(axis=-1, keepdims=True)) @ v[:, kv]
        x = x + out.reshape(T, HIDDEN) @ w[p + "self_attn.o_proj.weight"].T
        h = rms(x, w[p + "post_attention_layernorm.weight"])
        g = h @ w[p + "mlp.gate_proj.weight"].T
        x = x + ((g / (1 + np.exp(-g))) * (h @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
    return rms(x, w["norm.weight"])


def main():
    out = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    src = os.path.join(here, "..", "..", "provider", "src", "test", "resources", "transformers", "hf-qwen3-embed")
    os.makedirs(os.path.join(out, "1_Pooling"), exist_ok=True)
    config = {
        "architectures": ["Qwen2Model"], "model_type": "qwen2", "is_causal": False,
        "hidden_size": HIDDEN, "intermediate_size": FFN, "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS, "vocab_size": VOCAB,
        "max_position_embeddings": 256, "rms_norm_eps": EPS, "hidden_act": "silu",
        "rope_parameters": {"rope_theta": THETA, "rope_type": "default"}, "rope_theta": THETA,
        "tie_word_embeddings": True, "use_sliding_window": False, "sliding_window": None, "max_window_layers": LAYERS,
        "bos_token_id": 0, "eos_token_id": 4, "pad_token_id": 1, "attention_dropout": 0.0, "dtype": "float32",
        "initializer_range": 0.1, "use_cache": True,
    }
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(src, name), os.path.join(out, name))
    with open(os.path.join(out, "modules.json"), "w") as f:
        json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                   {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                   {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}],
                  f, indent=2)
    with open(os.path.join(out, "1_Pooling", "config.json"), "w") as f:
        json.dump({"word_embedding_dimension": HIDDEN, "pooling_mode_cls_token": False,
                   "pooling_mode_mean_tokens": False, "pooling_mode_max_tokens": False,
                   "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
                   "pooling_mode_lasttoken": True}, f, indent=2)
    with open(os.path.join(out, "config_sentence_transformers.json"), "w") as f:
        json.dump({"prompts": {"query": "Instruct: Given a web search query, retrieve relevant passages that answer"
                                        " the query\nQuery: "}, "default_prompt_name": None}, f, indent=2)
    w = weights()
    write_safetensors(os.path.join(out, "model.safetensors"), w)

    ref = json.load(open(os.path.join(src, "ref-embed.json")))
    texts, ids = ref["texts"], ref["ids"]
    for kind, bidir in (("bidir", True), ("causal", False)):
        vecs = []
        for one in ids:
            h = forward(w, np.array(one), bidir)[-1]
            vecs.append(h / np.linalg.norm(h))
        np.array(vecs, dtype="<f4").tofile(os.path.join(out, f"ref-numpy-{kind}.f32"))
        if bidir:
            b = np.array(vecs)
        else:
            c = np.array(vecs)
    cos = np.sum(b * c, axis=1)
    with open(os.path.join(out, "ref-numpy.json"), "w") as f:
        json.dump({"texts": texts, "ids": ids, "shape": [len(texts), HIDDEN],
                   "pooling": "last token (the appended eos)", "normalised": True,
                   "computed": "float64 numpy, tests/embedding/make_bidir_fixture.py",
                   "cosine bidir vs causal": [round(float(x), 6) for x in cos]}, f, indent=1)
    print("cosine bidirectional vs causal per text:", np.round(cos, 4))
    # the last token sees everything either way; the earlier tokens' states differ, so the vectors must too
    assert cos[:-1].max() < 0.99 or cos.min() < 0.99, "bidirectional and causal vectors hardly differ"


if __name__ == "__main__":
    main()
