#!/usr/bin/env python3
"""Turns a BERT exported to ONNX (as LangChain4j's all-MiniLM-L6-v2 ships it) back into a Hugging Face directory.

Usage: onnx_bert_to_hf.py MODEL.onnx TOKENIZER.json OUT_DIR [--pooling mean|cls] [--normalize]

Reads the ONNX protobuf with a minimal wire-format reader (no onnx package needed; numpy only), takes every float
initializer, names the MatMul weights after the node that uses them (an exporter calls them onnx::MatMul_N;
the node is /encoder/layer.0/attention/self/query/MatMul) and transposes them back to PyTorch's [out, in], then
writes model.safetensors, config.json (sizes read from the weights), tokenizer.json and the sentence-transformers
pooling files. Used by tests/bench/embedding-bench.sh to compare offload4j with LangChain4j's ONNX model on the same
weights.
"""
import json
import os
import struct
import sys

import numpy as np


def varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7


def fields(buf):
    """(field number, wire type, value) of a message; length-delimited values are memoryviews."""
    i, n = 0, len(buf)
    while i < n:
        key, i = varint(buf, i)
        f, w = key >> 3, key & 7
        if w == 0:
            v, i = varint(buf, i)
        elif w == 1:
            v, i = buf[i:i + 8], i + 8
        elif w == 2:
            ln, i = varint(buf, i)
            v, i = buf[i:i + ln], i + ln
        elif w == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % w)
        yield f, w, v


def tensor(buf):
    dims, dtype, name, raw, floats = [], 0, "", None, None
    for f, w, v in fields(buf):
        if f == 1:
            if w == 2:
                j = 0
                while j < len(v):
                    d, j = varint(v, j)
                    dims.append(d)
            else:
                dims.append(v)
        elif f == 2:
            dtype = v
        elif f == 8:
            name = bytes(v).decode()
        elif f == 9:
            raw = bytes(v)
        elif f == 4 and w == 2:
            floats = np.frombuffer(bytes(v), dtype="<f4")
    if dtype != 1:
        return name, None
    a = np.frombuffer(raw, dtype="<f4") if raw is not None else (floats if floats is not None else np.zeros(0, "<f4"))
    return name, a.reshape(dims) if dims else a


def main():
    onnx_path, tokenizer, out = sys.argv[1:4]
    pooling = sys.argv[sys.argv.index("--pooling") + 1] if "--pooling" in sys.argv else "mean"
    normalize = "--normalize" in sys.argv
    data = memoryview(open(onnx_path, "rb").read())
    graph = next(v for f, w, v in fields(data) if f == 7)
    inits, nodes = {}, []
    for f, w, v in fields(graph):
        if f == 5:
            name, a = tensor(v)
            if a is not None:
                inits[name] = a
        elif f == 1:
            ins, node_name, op = [], "", ""
            for nf, nw, nv in fields(v):
                if nf == 1:
                    ins.append(bytes(nv).decode())
                elif nf == 3:
                    node_name = bytes(nv).decode()
                elif nf == 4:
                    op = bytes(nv).decode()
            nodes.append((node_name, op, ins))
    weights = {}
    for name, a in inits.items():
        if name.startswith(("embeddings.", "encoder.", "pooler.")):
            weights[name] = a
    for node_name, op, ins in nodes:
        if op == "MatMul" and len(ins) == 2 and ins[1] in inits and not ins[1].startswith(("embeddings.", "encoder.")):
            path = node_name.strip("/").rsplit("/", 1)[0]  # encoder/layer.0/attention/self/query
            weights[path.replace("/", ".") + ".weight"] = np.ascontiguousarray(inits[ins[1]].T)
    need = ["embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
            "embeddings.token_type_embeddings.weight", "encoder.layer.0.attention.self.query.weight"]
    missing = [n for n in need if n not in weights]
    if missing:
        sys.exit("not found in the ONNX graph: %s (have %s)" % (missing, sorted(weights)[:20]))
    layers = 1 + max(int(n.split(".")[2]) for n in weights if n.startswith("encoder.layer."))
    vocab, hidden = weights["embeddings.word_embeddings.weight"].shape
    ffn = weights["encoder.layer.0.intermediate.dense.weight"].shape[0]
    os.makedirs(os.path.join(out, "1_Pooling"), exist_ok=True)
    header, offset, blobs = {}, 0, []
    for name in sorted(weights):
        a = np.ascontiguousarray(weights[name], dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        blobs.append(a.tobytes())
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(os.path.join(out, "model.safetensors"), "wb") as fo:
        fo.write(struct.pack("<Q", len(h)))
        fo.write(h)
        for b in blobs:
            fo.write(b)
    heads = hidden // 32 if hidden % 32 == 0 else 12  # MiniLM and BERT use 32- or 64-wide heads
    heads = int(os.environ.get("HEADS", heads))
    config = {"architectures": ["BertModel"], "model_type": "bert", "hidden_size": int(hidden),
              "num_hidden_layers": layers, "num_attention_heads": heads, "intermediate_size": int(ffn),
              "max_position_embeddings": int(weights["embeddings.position_embeddings.weight"].shape[0]),
              "type_vocab_size": int(weights["embeddings.token_type_embeddings.weight"].shape[0]),
              "vocab_size": int(vocab), "hidden_act": "gelu", "layer_norm_eps": 1e-12, "pad_token_id": 0,
              "position_embedding_type": "absolute"}
    json.dump(config, open(os.path.join(out, "config.json"), "w"), indent=1)
    tok = json.load(open(tokenizer))
    json.dump(tok, open(os.path.join(out, "tokenizer.json"), "w"))
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
    json.dump(modules, open(os.path.join(out, "modules.json"), "w"), indent=1)
    json.dump({"word_embedding_dimension": int(hidden), "pooling_mode_cls_token": pooling == "cls",
               "pooling_mode_mean_tokens": pooling == "mean"}, open(os.path.join(out, "1_Pooling", "config.json"), "w"))
    print("wrote %s: %d layers, hidden %d, %d heads, ffn %d, vocab %d, %d tensors" % (
        out, layers, hidden, heads, ffn, vocab, len(weights)))


if __name__ == "__main__":
    main()
