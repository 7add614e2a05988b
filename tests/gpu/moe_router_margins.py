#!/usr/bin/env python3
"""Recomputes a Mixtral transformers fixture in float64 with numpy (no torch needed) and prints, for each block and
position, the router's sorted expert probabilities and the margin between the k-th and (k+1)-th expert, then each
position's relative error against transformers' float32 logits (ref-ids.f32).

    python3 tests/gpu/moe_router_margins.py [FIXTURE_DIR] [--flip BLOCK,POS]

--flip BLOCK,POS picks the (k+1)-th expert instead of the k-th at that block and position: what a device whose
rounding breaks a near-tie the other way computes. Used to explain MoeGpuTest's hf-mixtral position 1.
"""
import glob
import json
import struct
import sys

import numpy as np

import argparse

parser = argparse.ArgumentParser()
parser.add_argument('fixture', nargs='?', default='provider/src/test/resources/transformers/hf-mixtral')
parser.add_argument('--flip', help='BLOCK,POS: take the (k+1)-th expert instead of the k-th there')
options = parser.parse_args()
d = options.fixture
flip = tuple(int(v) for v in options.flip.split(',')) if options.flip else None

W = {}
for f in glob.glob(d + '/*.safetensors'):
    b = open(f, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n])
    for k, v in h.items():
        if k == '__metadata__':
            continue
        s, e = v['data_offsets']
        W[k] = np.frombuffer(b[8 + n + s:8 + n + e], dtype=np.float32).reshape(v['shape']).astype(np.float64)
cfg = json.load(open(d + '/config.json'))
ref = json.load(open(d + '/ref-ids.json'))
ids = ref['ids']
H, nh, nkv = cfg['hidden_size'], cfg['num_attention_heads'], cfg['num_key_value_heads']
hd = H // nh
L, k = cfg['num_hidden_layers'], cfg['num_experts_per_tok']
theta = cfg.get('rope_parameters', {}).get('rope_theta', cfg.get('rope_theta', 10000.0))
eps = cfg['rms_norm_eps']
vocab = cfg['vocab_size']


def rms(x, w):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def rope(x, pos):
    half = hd // 2
    inv = 1 / (theta ** (np.arange(half) * 2 / hd))
    a = pos[:, None] * inv[None]
    c, s = np.cos(a)[:, None], np.sin(a)[:, None]
    x1, x2 = x[..., :half], x[..., half:]
    return np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], -1)


T = len(ids)
x = W['model.embed_tokens.weight'][ids]
pos = np.arange(T, dtype=np.float64)
expected = np.fromfile(d + '/ref-ids.f32', dtype=np.float32).reshape(-1, vocab)
for l in range(L):
    p = f'model.layers.{l}.'
    h = rms(x, W[p + 'input_layernorm.weight'])
    q = rope((h @ W[p + 'self_attn.q_proj.weight'].T).reshape(T, nh, hd), pos)
    kk = rope((h @ W[p + 'self_attn.k_proj.weight'].T).reshape(T, nkv, hd), pos)
    v = (h @ W[p + 'self_attn.v_proj.weight'].T).reshape(T, nkv, hd)
    out = np.zeros((T, nh, hd))
    for hh in range(nh):
        g = hh // (nh // nkv)
        sc = q[:, hh] @ kk[:, g].T / np.sqrt(hd) + np.triu(np.full((T, T), -1e30), 1)
        sc = np.exp(sc - sc.max(-1, keepdims=True))
        out[:, hh] = (sc / sc.sum(-1, keepdims=True)) @ v[:, g]
    x = x + out.reshape(T, H) @ W[p + 'self_attn.o_proj.weight'].T
    h = rms(x, W[p + 'post_attention_layernorm.weight'])
    r = h @ W[p + 'block_sparse_moe.gate.weight'].T
    pr = np.exp(r - r.max(-1, keepdims=True))
    pr /= pr.sum(-1, keepdims=True)
    y = np.zeros_like(x)
    for t in range(T):
        order = np.argsort(-pr[t])
        top = order[:k].copy()
        print('block %d position %2d: probabilities %s, margin k/k+1 %.2e'
              % (l, t, np.array2string(pr[t][order], precision=5), pr[t][order[k - 1]] - pr[t][order[k]]))
        if flip == (l, t):
            top[k - 1] = order[k]
        weights = pr[t][top] / pr[t][top].sum()
        for e, wt in zip(top, weights):
            pe = p + f'block_sparse_moe.experts.{e}.'
            a = h[t] @ W[pe + 'w1.weight'].T
            y[t] += wt * (((a / (1 + np.exp(-a))) * (h[t] @ W[pe + 'w3.weight'].T)) @ W[pe + 'w2.weight'].T)
    x = x + y
logits = rms(x, W['model.norm.weight']) @ W['lm_head.weight'].T
for t in range(T):
    err = np.abs(logits[t] - expected[t]).max() / np.abs(expected[t]).max()
    print('position %2d: relative error vs transformers %.2e' % (t, err))
