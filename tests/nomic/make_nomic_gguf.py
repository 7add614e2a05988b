#!/usr/bin/env python3
"""Writes a tiny random-weight nomic-bert GGUF the way llama.cpp's convert_hf_to_gguf.py writes
nomic-embed-text-v1.5 (architecture 'nomic-bert'): fused attn_qkv without bias, attn_output without bias,
SwiGLU FFN (ffn_up = fc11, ffn_gate = fc12, ffn_down = fc2, no biases), post-LayerNorm blocks with biases,
rotary positions (no position table), token types, a WordPiece ('bert') vocabulary in phantom-space form.

The vocabulary is the one of provider/src/test/resources/transformers/hf-bert/tokenizer.json (273 lower-cased
WordPiece pieces, in the order of their ids there).
Random weights: nothing trained or downloaded. Run with llama.cpp's gguf-py on PYTHONPATH:

  PYTHONPATH=/path/to/llama.cpp/gguf-py python3 make_nomic_gguf.py TOKENIZER_JSON OUT.gguf --dtype f32|f16 [--seed N]
"""
import argparse
import json

import numpy as np
import gguf

ARCH = "nomic-bert"
DIM, HEADS, LAYERS, FFN, CONTEXT, TYPES = 64, 4, 2, 96, 128, 2
ROPE_BASE = 1000.0
EPS = 1e-12


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tokenizer_json")
    ap.add_argument("out")
    ap.add_argument("--dtype", choices=["f32", "f16"], default="f32")
    ap.add_argument("--seed", type=int, default=20)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    matrix_type = np.float16 if a.dtype == "f16" else np.float32

    with open(a.tokenizer_json, encoding="utf-8") as f:
        vocab = json.load(f)["model"]["vocab"]
    pieces = sorted(vocab, key=vocab.get)
    if [vocab[p] for p in pieces] != list(range(len(pieces))):
        raise SystemExit("the vocabulary's ids are not 0..n-1")
    specials = {p: i for i, p in enumerate(pieces) if p.startswith("[") and p.endswith("]")}
    tokens, types = [], []
    for p in pieces:
        if p in specials:
            tokens.append(p)
            types.append(gguf.TokenType.CONTROL)
        else:
            tokens.append(p[2:] if p.startswith("##") else "\u2581" + p)
            types.append(gguf.TokenType.NORMAL)

    w = gguf.GGUFWriter(a.out, ARCH)
    w.add_name("tiny-nomic-bert-" + a.dtype)
    w.add_context_length(CONTEXT)
    w.add_embedding_length(DIM)
    w.add_feed_forward_length(FFN)
    w.add_block_count(LAYERS)
    w.add_head_count(HEADS)
    w.add_layer_norm_eps(EPS)
    w.add_causal_attention(False)
    w.add_rope_freq_base(ROPE_BASE)
    w.add_pooling_type(gguf.PoolingType.MEAN)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if a.dtype == "f16" else gguf.LlamaFileType.ALL_F32)
    w.add_token_type_count(TYPES)
    w.add_tokenizer_model("bert")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_unk_token_id(specials["[UNK]"])
    w.add_sep_token_id(specials["[SEP]"])
    w.add_pad_token_id(specials["[PAD]"])
    w.add_mask_token_id(specials["[MASK]"])
    # llama.cpp frames a WordPiece input with its BOS id: the converter's SpecialVocab gives BERT vocabularies none,
    # and llama.cpp's default (101) is outside this small vocabulary, so [CLS] is named here
    w.add_bos_token_id(specials["[CLS]"])
    w.add_add_bos_token(True)
    w.add_add_sep_token(True)

    def normal(*shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def mat(name, rows, cols, std):
        w.add_tensor(name, normal(rows, cols, std=std).astype(matrix_type))

    def vec(name, n, mean, std):
        w.add_tensor(name, (mean + normal(n, std=std)).astype(np.float32))

    mat("token_embd.weight", len(tokens), DIM, 0.5)
    w.add_tensor("token_types.weight", normal(TYPES, DIM, std=0.5))
    vec("token_embd_norm.weight", DIM, 1.0, 0.1)
    vec("token_embd_norm.bias", DIM, 0.0, 0.1)
    for i in range(LAYERS):
        p = f"blk.{i}."
        mat(p + "attn_qkv.weight", 3 * DIM, DIM, 0.2)
        mat(p + "attn_output.weight", DIM, DIM, 0.15)
        vec(p + "attn_output_norm.weight", DIM, 1.0, 0.1)
        vec(p + "attn_output_norm.bias", DIM, 0.0, 0.1)
        mat(p + "ffn_up.weight", FFN, DIM, 0.2)
        mat(p + "ffn_gate.weight", FFN, DIM, 0.2)
        mat(p + "ffn_down.weight", DIM, FFN, 0.15)
        vec(p + "layer_output_norm.weight", DIM, 1.0, 0.1)
        vec(p + "layer_output_norm.bias", DIM, 0.0, 0.1)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
