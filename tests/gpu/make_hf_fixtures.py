"""Tiny random-weight Hugging Face directories for every architecture offload4j learns in wave 2, written by
transformers itself, each with transformers' own float32 outputs as the reference offload4j is tested against.

    python3 make_hf_fixtures.py OUT_DIR [--only gemma2,bert,...]

For causal LMs (gemma2, gemma3, phi3, phi3-longrope, mistral, qwen3moe, qwen2moe, mixtral) every directory gets,
like provider/src/test/resources/transformers/hf-llama: ref-text.{json,f32} (a 28-token sentence, BOS added by the
tokenizer, longer than every sliding window used here), ref-ids.{json,f32} (fixed ids) and ref-unicode.json (ids
only), logits [positions x vocab] in float32 and 16 greedy tokens computed with the KV cache.
For encoders: hf-bert (BertModel + sentence-transformers pooling = mean, Normalize; ref-embed.json/.f32: the
tokenized texts and the pooled, normalised vectors [texts x hidden]), hf-xlmr-reranker
(XLMRobertaForSequenceClassification, num_labels 1; ref-scores.json: pairs, their ids and raw logits) and
hf-qwen3-embed (Qwen3Model; ref-embed.json/.f32: ids of each text and its last-token pooled, normalised vector).

Weights are transformers' initialisation with a larger spread (initializer_range 0.1, so soft-capping and
routing are exercised), norms drawn around their neutral value (1, or 0 for Gemma's 1 + w norms), biases around 0,
routers with std 1 so the top-k choice is not a near-tie. Tensor names, shapes and dtypes are listed in make.log.
"""
import argparse
import json
import os
import sys
import traceback

import torch
import transformers
from transformers import AutoModel, AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_hf_model  # noqa: E402  (its byte-level BPE tokenizer, as the existing fixtures use)

TEXT = "Once upon a time, there was a little girl named Lily."
UNICODE = "Über den Wolken: 1234567 日本語のテキスト!"
IDS = [5, 300, 17, 42, 311, 260, 99, 200, 7, 123, 45, 67, 89, 10, 11, 12, 150, 250, 350, 30]
V = 384
COMMON = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=4, num_attention_heads=4,
              num_key_value_heads=2, vocab_size=V, max_position_embeddings=256, initializer_range=0.1)


def byte_bpe():
    class A:
        tokenizer_vocab = V
        vocab = V
    return make_hf_model.make_tokenizer(A())


def gemma_tokenizer():
    """SentencePiece-style BPE with byte fallback, as Gemma's tokenizer.json: spaces become '▁', unknown bytes
    become <0xXX> tokens. ids: <pad> 0, <eos> 1, <bos> 2, <unk> 3, <start_of_turn> 4, <end_of_turn> 5, bytes 6..261."""
    from tokenizers import Tokenizer, decoders, models, normalizers, trainers
    from transformers import PreTrainedTokenizerFast
    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    probe = Tokenizer(models.BPE(unk_token="<unk>"))
    probe.normalizer = normalizers.Replace(" ", "▁")
    trainer = trainers.BpeTrainer(vocab_size=V - len(specials) - len(byte_tokens) + 60, special_tokens=[],
                                  show_progress=False)
    probe.train_from_iterator(make_hf_model.CORPUS * 4, trainer)
    learned = json.loads(probe.to_str())["model"]
    vocab = {t: i for i, t in enumerate(specials + byte_tokens)}
    for tok, _ in sorted(learned["vocab"].items(), key=lambda kv: kv[1]):
        if tok not in vocab and len(vocab) < V:
            vocab[tok] = len(vocab)
    merges = []
    for m in learned["merges"]:
        a, b = m if isinstance(m, list) else m.split(" ")
        if a in vocab and b in vocab and a + b in vocab:
            merges.append((a, b))
    bpe = models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True)
    tok = Tokenizer(bpe)
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    from tokenizers import processors
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", pair="<bos> $A <bos> $B",
                                                       special_tokens=[("<bos>", 2)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
                                   unk_token="<unk>", additional_special_tokens=["<start_of_turn>", "<end_of_turn>"])
    fast.chat_template = ("{{ bos_token }}{% for m in messages %}<start_of_turn>{{ 'model' if m['role'] == "
                          "'assistant' else m['role'] }}\n{{ m['content'] }}<end_of_turn>\n{% endfor %}"
                          "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}")
    return fast


def randomise(model, gemma=False):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith("weight") and p.dim() == 1:
                p.normal_(0.0 if gemma else 1.0, 0.1)
            elif name.endswith(".bias"):
                p.normal_(0.0, 0.05)
            elif p.dim() == 2 and p.shape[0] <= 16 and (name.endswith(".gate.weight") or "router" in name):
                p.normal_(0.0, 1.0)  # an MoE router (experts x hidden): decisive top-k choices


def rope(theta):
    if int(transformers.__version__.split(".")[0]) >= 5:
        return {"rope_parameters": {"rope_type": "default", "rope_theta": theta}}
    return {"rope_theta": theta}


def causal_configs():
    from transformers import (Gemma2Config, MistralConfig, MixtralConfig, Phi3Config, Qwen2MoeConfig,
                              Qwen3MoeConfig)
    from transformers import Gemma3TextConfig
    c = {}
    c["gemma2"] = lambda: Gemma2Config(**COMMON, head_dim=32, sliding_window=8, attn_logit_softcapping=5.0,
                                       final_logit_softcapping=3.0, query_pre_attn_scalar=24,
                                       hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True,
                                       bos_token_id=2, eos_token_id=1, pad_token_id=0)

    def gemma3():
        cfg = Gemma3TextConfig(**COMMON, head_dim=32, sliding_window=8, query_pre_attn_scalar=32,
                               tie_word_embeddings=True, bos_token_id=2, eos_token_id=1, pad_token_id=0,
                               layer_types=["sliding_attention", "full_attention", "sliding_attention",
                                            "full_attention"])
        # local layers rotate with base 10000, global ones with 1e6 (the defaults); say so in the log
        return cfg
    c["gemma3"] = gemma3
    c["phi3"] = lambda: Phi3Config(**COMMON, **rope(10000.0), bos_token_id=1, eos_token_id=2, pad_token_id=3)

    def phi3_longrope():
        half = 8  # head_dim 16 / 2
        g = torch.Generator().manual_seed(7)
        short = (1 + torch.rand(half, generator=g)).tolist()
        long = (1 + 3 * torch.rand(half, generator=g)).tolist()
        kw = dict(COMMON, max_position_embeddings=256, bos_token_id=1, eos_token_id=2, pad_token_id=3)
        params = {"rope_type": "longrope", "short_factor": short, "long_factor": long, "rope_theta": 10000.0,
                  "original_max_position_embeddings": 16}
        if int(transformers.__version__.split(".")[0]) >= 5:
            return Phi3Config(**kw, rope_parameters=params, original_max_position_embeddings=16)
        params = {k: v for k, v in params.items() if k not in ("rope_theta", "original_max_position_embeddings")}
        params["type"] = "longrope"
        return Phi3Config(**kw, rope_scaling=params, original_max_position_embeddings=16)
    c["phi3-longrope"] = phi3_longrope
    c["mistral"] = lambda: MistralConfig(**COMMON, head_dim=32, sliding_window=8, **rope(10000.0),
                                         bos_token_id=1, eos_token_id=2, pad_token_id=3)
    moe = dict(COMMON)
    moe.pop("intermediate_size")
    c["qwen3moe"] = lambda: Qwen3MoeConfig(**moe, intermediate_size=128, moe_intermediate_size=32, num_experts=8,
                                           num_experts_per_tok=2, norm_topk_prob=True, decoder_sparse_step=1,
                                           head_dim=16, bos_token_id=1, eos_token_id=2, pad_token_id=3)
    c["qwen2moe"] = lambda: Qwen2MoeConfig(**moe, intermediate_size=128, moe_intermediate_size=32, num_experts=8,
                                           num_experts_per_tok=2, norm_topk_prob=False,
                                           shared_expert_intermediate_size=64, decoder_sparse_step=1,
                                           bos_token_id=1, eos_token_id=2, pad_token_id=3)
    c["mixtral"] = lambda: MixtralConfig(**moe, intermediate_size=64, num_local_experts=4, num_experts_per_tok=2,
                                         **rope(10000.0), bos_token_id=1, eos_token_id=2, pad_token_id=3)
    return c


def describe(out, log):
    from safetensors import safe_open
    for f in sorted(os.listdir(out)):
        log.write(f"  {f} {os.path.getsize(os.path.join(out, f))} bytes\n")
        if f.endswith(".safetensors"):
            with safe_open(os.path.join(out, f), "pt") as st:
                for k in sorted(st.keys()):
                    t = st.get_slice(k)
                    log.write(f"    {k} {t.get_shape()} {t.get_dtype()}\n")


def logits_ref(model, ids, out_prefix, device, greedy=16):
    x = torch.tensor([ids], device=device)
    with torch.no_grad():
        o = model(x, use_cache=True)
        logits = o.logits[0].float().cpu()
        seq = []
        past = o.past_key_values
        nxt = o.logits[:, -1].argmax(-1, keepdim=True)
        for _ in range(greedy):
            seq.append(int(nxt.item()))
            s = model(nxt, past_key_values=past, use_cache=True)
            past = s.past_key_values
            nxt = s.logits[:, -1].argmax(-1, keepdim=True)
        # greedy through full recomputation too: a cache bug in the reference would show as a difference
        full = list(ids)
        for _ in range(greedy):
            lo = model(torch.tensor([full], device=device), use_cache=False).logits[0, -1]
            full.append(int(lo.argmax().item()))
    if full[len(ids):] != seq:
        print(f"  note: {out_prefix}: greedy with the cache {seq} differs from recomputation {full[len(ids):]}")
    top5 = [[[int(i), float(v)] for v, i in zip(*torch.topk(row, 5))] for row in logits]
    rep = {"ids": ids, "positions": len(ids), "vocab_size": int(logits.shape[1]), "compute_dtype": "torch.float32",
           "transformers": transformers.__version__, "torch": torch.__version__, "device": device,
           "architecture": type(model).__name__, "top5": top5, "greedy": seq, "greedy_recomputed": full[len(ids):]}
    logits.numpy().astype("<f4").tofile(out_prefix + ".f32")
    with open(out_prefix + ".json", "w") as f:
        json.dump(rep, f, indent=1)


def make_causal(name, make_config, root, device, log):
    out = os.path.join(root, "hf-" + name)
    gemma = name.startswith("gemma")
    tok = gemma_tokenizer() if gemma else byte_bpe()
    cfg = make_config()
    if not gemma:
        cfg.bos_token_id, cfg.eos_token_id, cfg.pad_token_id = tok.bos_token_id, tok.eos_token_id, tok.pad_token_id
    torch.manual_seed(sum(map(ord, name)))
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").float().eval()
    randomise(model, gemma)
    os.makedirs(out, exist_ok=True)
    model.save_pretrained(out, max_shard_size="200KB")
    tok.save_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32, attn_implementation="eager").to(device)
    model.eval()
    text_ids = tok(TEXT)["input_ids"]
    uni_ids = tok(UNICODE, add_special_tokens=False)["input_ids"]
    logits_ref(model, text_ids, os.path.join(out, "ref-text"), device)
    logits_ref(model, IDS, os.path.join(out, "ref-ids"), device)
    with open(os.path.join(out, "ref-unicode.json"), "w") as f:
        json.dump({"text": UNICODE, "ids": uni_ids, "decoded": tok.decode(uni_ids)}, f, indent=1)
    log.write(f"{name}: {type(model).__name__}, {sum(p.numel() for p in model.parameters())} parameters, "
              f"text {len(text_ids)} tokens\nconfig: {json.dumps(model.config.to_dict(), default=str)}\n")
    describe(out, log)


EMBED_TEXTS = ["The quick brown fox jumps over the lazy dog.", "Once upon a time there was a little girl.",
               "Offloading streams weights over PCIe", "hello", "Über den Wolken 123"]
PAIRS = [("what does offloading do?", "Offloading streams the weights of a model larger than the GPU."),
         ("what does offloading do?", "The quick brown fox jumps over the lazy dog."),
         ("who is Lily?", "Once upon a time, there was a little girl named Lily."),
         ("hello", "hello")]


def make_bert(root, device, log):
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertTokenizerFast
    out = os.path.join(root, "hf-bert")
    os.makedirs(out, exist_ok=True)
    wp = BertWordPieceTokenizer(lowercase=True)
    wp.train_from_iterator(make_hf_model.CORPUS * 4 + EMBED_TEXTS, vocab_size=300, show_progress=False)
    from tokenizers import processors
    wp._tokenizer.post_processor = processors.BertProcessing(("[SEP]", wp.token_to_id("[SEP]")),
                                                             ("[CLS]", wp.token_to_id("[CLS]")))
    tok = BertTokenizerFast(tokenizer_object=wp._tokenizer, unk_token="[UNK]", sep_token="[SEP]",
                            pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]", do_lower_case=True)
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=128, max_position_embeddings=64, initializer_range=0.1)
    torch.manual_seed(11)
    model = AutoModel.from_config(cfg, attn_implementation="eager").float().eval()
    randomise(model)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.normal_(1.0, 0.1)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    os.makedirs(os.path.join(out, "1_Pooling"), exist_ok=True)
    with open(os.path.join(out, "1_Pooling", "config.json"), "w") as f:
        json.dump({"word_embedding_dimension": 64, "pooling_mode_cls_token": False,
                   "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False}, f, indent=1)
    with open(os.path.join(out, "modules.json"), "w") as f:
        json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                   {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                   {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}],
                  f, indent=1)
    model = AutoModel.from_pretrained(out, dtype=torch.float32, attn_implementation="eager").to(device).eval()
    enc = tok(EMBED_TEXTS, padding=True, return_tensors="pt").to(device)
    with torch.no_grad():
        h = model(**enc).last_hidden_state
        m = enc["attention_mask"].unsqueeze(-1).float()
        mean = (h * m).sum(1) / m.sum(1)
        cls = h[:, 0]
        emb = torch.nn.functional.normalize(mean, dim=-1)
    emb.cpu().numpy().astype("<f4").tofile(os.path.join(out, "ref-embed.f32"))
    cls.cpu().numpy().astype("<f4").tofile(os.path.join(out, "ref-cls-unnormalised.f32"))
    ids = [tok(t)["input_ids"] for t in EMBED_TEXTS]
    if any(sum(1 for i in one if i == tok.unk_token_id) > 1 for one in ids):
        raise RuntimeError(f"the WordPiece tokenizer maps the texts to [UNK]: {ids}")
    with open(os.path.join(out, "ref-embed.json"), "w") as f:
        json.dump({"texts": EMBED_TEXTS, "ids": ids, "shape": list(emb.shape), "pooling": "mean",
                   "normalised": True, "also": "ref-cls-unnormalised.f32: the CLS hidden states, not normalised",
                   "transformers": transformers.__version__}, f, indent=1)
    log.write(f"bert: {sum(p.numel() for p in model.parameters())} parameters\n")
    describe(out, log)


def make_xlmr(root, device, log):
    from tokenizers import SentencePieceUnigramTokenizer
    from transformers import XLMRobertaConfig, XLMRobertaTokenizerFast
    out = os.path.join(root, "hf-xlmr-reranker")
    os.makedirs(out, exist_ok=True)
    sp = SentencePieceUnigramTokenizer()
    sp.train_from_iterator(make_hf_model.CORPUS * 4 + [q + " " + d for q, d in PAIRS], vocab_size=250,
                           special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], unk_token="<unk>",
                           show_progress=False)
    from tokenizers import processors
    sp.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", sp.token_to_id("<s>")), ("</s>", sp.token_to_id("</s>"))])
    tok = XLMRobertaTokenizerFast(tokenizer_object=sp._tokenizer, bos_token="<s>", eos_token="</s>", sep_token="</s>",
                                  cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>")
    cfg = XLMRobertaConfig(vocab_size=len(tok), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                           intermediate_size=128, max_position_embeddings=80, num_labels=1, initializer_range=0.1,
                           pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    torch.manual_seed(12)
    model = AutoModelForSequenceClassification.from_config(cfg, attn_implementation="eager").float().eval()
    randomise(model)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.normal_(1.0, 0.1)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    model = AutoModelForSequenceClassification.from_pretrained(out, dtype=torch.float32,
                                                               attn_implementation="eager").to(device).eval()
    enc = tok([q for q, _ in PAIRS], [d for _, d in PAIRS], padding=True, return_tensors="pt").to(device)
    with torch.no_grad():
        scores = model(**enc).logits[:, 0].cpu().tolist()
    ids = [tok(q, d)["input_ids"] for q, d in PAIRS]
    with open(os.path.join(out, "ref-scores.json"), "w") as f:
        json.dump({"pairs": PAIRS, "ids": ids, "scores": scores, "note": "raw logits (num_labels 1), no sigmoid",
                   "transformers": transformers.__version__}, f, indent=1)
    log.write(f"xlmr-reranker: {sum(p.numel() for p in model.parameters())} parameters, scores {scores}\n")
    describe(out, log)


def make_qwen3_embed(root, device, log):
    from transformers import Qwen3Config
    out = os.path.join(root, "hf-qwen3-embed")
    tok = byte_bpe()
    tok.padding_side = "left"
    cfg = Qwen3Config(**dict(COMMON, num_hidden_layers=2), head_dim=16, tie_word_embeddings=True,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(13)
    model = AutoModel.from_config(cfg, attn_implementation="eager").float().eval()
    randomise(model)
    os.makedirs(out, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    model = AutoModel.from_pretrained(out, dtype=torch.float32, attn_implementation="eager").to(device).eval()
    texts = ["Instruct: Given a web search query, retrieve relevant passages that answer the query\n"
             "Query:what does offloading do?"] + EMBED_TEXTS
    # as Qwen3-Embedding's model card: the text, then the end-of-text token, last-token pooling, L2 normalise
    ids = [tok(t, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for t in texts]
    vecs = []
    with torch.no_grad():
        for one in ids:  # one at a time: no padding question in the reference
            h = model(torch.tensor([one], device=device)).last_hidden_state[0, -1]
            vecs.append(torch.nn.functional.normalize(h, dim=-1).cpu())
    emb = torch.stack(vecs)
    emb.numpy().astype("<f4").tofile(os.path.join(out, "ref-embed.f32"))
    with open(os.path.join(out, "ref-embed.json"), "w") as f:
        json.dump({"texts": texts, "ids": ids, "shape": list(emb.shape), "pooling": "last token (the appended eos)",
                   "normalised": True, "transformers": transformers.__version__}, f, indent=1)
    log.write(f"qwen3-embed: {type(model).__name__}\n")
    describe(out, log)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("root")
    p.add_argument("--only", default="")
    a = p.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    os.makedirs(a.root, exist_ok=True)
    only = set(x for x in a.only.split(",") if x)
    jobs = [(n, (lambda n=n, f=f: make_causal(n, f, a.root, device, log))) for n, f in causal_configs().items()]
    jobs += [("bert", lambda: make_bert(a.root, device, log)), ("xlmr", lambda: make_xlmr(a.root, device, log)),
             ("qwen3-embed", lambda: make_qwen3_embed(a.root, device, log))]
    with open(os.path.join(a.root, "make.log"), "w") as log:
        log.write(f"transformers {transformers.__version__}, torch {torch.__version__}, device {device}\n")
        for name, job in jobs:
            if only and name not in only:
                continue
            try:
                job()
                print(f"ok {name}", flush=True)
            except Exception:
                traceback.print_exc()
                log.write(f"FAILED {name}:\n{traceback.format_exc()}\n")
                print(f"FAILED {name}", flush=True)
            log.flush()


if __name__ == "__main__":
    main()
