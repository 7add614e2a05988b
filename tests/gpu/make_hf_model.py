"""Writes a random-initialised Hugging Face model directory the way transformers saves one, so that offload4j
(which loads such a directory directly) and transformers / Accelerate can be compared on identical weights.

    python3 make_hf_model.py OUT_DIR --hidden 3072 --layers 28 --heads 24 --kv-heads 8 --ffn 8192 \
        --vocab 128256 --dtype bf16 [--arch llama|qwen2|qwen3] [--head-dim 128] [--tied] \
        [--max-shard-size 2GB] [--seed 0] [--context 8192] [--rope-theta 500000]

Writes config.json, model.safetensors (or model-0000X-of-0000N.safetensors + model.safetensors.index.json),
tokenizer.json, tokenizer_config.json (and chat_template.jinja on transformers 5). Nothing is downloaded:
the tokenizer is a byte-level BPE trained here on a few sentences (the 256 byte tokens, some merges and five
Llama 3-style special tokens, split like Llama 3), valid for both transformers and offload4j; its vocabulary
is smaller than --vocab, the remaining embedding rows are simply never produced by it.

Weights: transformers' own initialisation (normal, std 0.02), then every norm weight is drawn around 1 and
every bias around 0 (transformers starts them at exactly 1 and 0, which would hide a swapped norm or a lost
bias in a comparison). Runs on the GPU when there is one (an 8B model initialises in seconds there).
"""
import argparse
import inspect
import os
import sys

import torch
import transformers
from transformers import AutoModelForCausalLM, LlamaConfig, PreTrainedTokenizerFast, Qwen2Config, Qwen3Config

LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
CHAT_TEMPLATE = ("{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
                 "{{ m['content'] }}<|eot_id|>{% endfor %}"
                 "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}")
CORPUS = [
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.",
    "The quick brown fox jumps over the lazy dog. 0123456789 times, again and again!",
    "Offloading streams the weights of a model larger than the GPU over PCIe, layer after layer.",
    "def forward(self, x):\n    return self.down(self.act(self.gate(x)) * self.up(x))\n",
    "Über den Wolken muss die Freiheit wohl grenzenlos sein. 日本語のテキストも少し。",
]
CONFIGS = {"llama": LlamaConfig, "qwen2": Qwen2Config, "qwen3": Qwen3Config}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out_dir")
    p.add_argument("--arch", choices=sorted(CONFIGS), default="llama")
    p.add_argument("--hidden", type=int, required=True)
    p.add_argument("--layers", type=int, required=True)
    p.add_argument("--heads", type=int, required=True)
    p.add_argument("--kv-heads", type=int, required=True)
    p.add_argument("--ffn", type=int, required=True)
    p.add_argument("--vocab", type=int, required=True)
    p.add_argument("--head-dim", type=int, default=0, help="0 = hidden / heads")
    p.add_argument("--dtype", choices=["bf16", "f16", "f32"], default="bf16")
    p.add_argument("--tied", action="store_true", help="tie lm_head to the embedding (no lm_head.weight saved)")
    p.add_argument("--max-shard-size", default="5GB", help="e.g. 2GB, 500MB, 100KB (smaller = more shards)")
    p.add_argument("--context", type=int, default=4096, help="max_position_embeddings")
    p.add_argument("--rope-theta", type=float, default=10000.0)
    p.add_argument("--tokenizer-vocab", type=int, default=1024, help="size of the trained byte-level BPE")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return p.parse_args()


def make_tokenizer(args):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    size = min(args.tokenizer_vocab, args.vocab)
    if size < 256 + len(SPECIALS):
        sys.exit(f"--vocab {args.vocab} is too small: the byte-level tokenizer needs {256 + len(SPECIALS)} ids")
    try:
        bpe = models.BPE(ignore_merges=True)  # as Llama 3's tokenizer.json (tokenizers >= 0.19)
    except TypeError:
        bpe = models.BPE()
    tok = Tokenizer(bpe)
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=size, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 4, trainer)
    bos = tok.token_to_id(SPECIALS[0])
    tok.post_processor = processors.TemplateProcessing(
        single=f"{SPECIALS[0]} $A", pair=f"{SPECIALS[0]} $A {SPECIALS[0]} $B", special_tokens=[(SPECIALS[0], bos)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=SPECIALS[0], eos_token=SPECIALS[4],
                                   pad_token=SPECIALS[1])
    fast.chat_template = CHAT_TEMPLATE
    return fast


def make_config(args, tokenizer):
    kwargs = dict(hidden_size=args.hidden, intermediate_size=args.ffn, num_hidden_layers=args.layers,
                  num_attention_heads=args.heads, num_key_value_heads=args.kv_heads, vocab_size=args.vocab,
                  max_position_embeddings=args.context, rms_norm_eps=1e-5, tie_word_embeddings=args.tied,
                  bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                  pad_token_id=tokenizer.pad_token_id)
    if args.head_dim:
        kwargs["head_dim"] = args.head_dim
    major = int(transformers.__version__.split(".")[0])
    if major >= 5:  # transformers 5 keeps RoPE in rope_parameters
        kwargs["rope_parameters"] = {"rope_type": "default", "rope_theta": args.rope_theta}
    else:
        kwargs["rope_theta"] = args.rope_theta
    return CONFIGS[args.arch](**kwargs)


def main():
    args = parse_args()
    dtype = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}[args.dtype]
    torch.manual_seed(args.seed)
    tokenizer = make_tokenizer(args)
    config = make_config(args, tokenizer)
    with torch.device(args.device):
        model = AutoModelForCausalLM.from_config(config)
    model = model.to(dtype).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.normal_(1.0, 0.1)
            elif name.endswith(".bias"):
                p.normal_(0.0, 0.02)
    os.makedirs(args.out_dir, exist_ok=True)
    save = dict(max_shard_size=args.max_shard_size)
    if "safe_serialization" in inspect.signature(model.save_pretrained).parameters:
        save["safe_serialization"] = True  # transformers 4; 5 always writes safetensors
    model.save_pretrained(args.out_dir, **save)
    tokenizer.save_pretrained(args.out_dir)
    params = sum(p.numel() for p in model.parameters())
    print(f"wrote {args.out_dir}: {type(model).__name__}, {params / 1e6:.2f} M parameters, {args.dtype},"
          f" transformers {transformers.__version__}, torch {torch.__version__}")
    for f in sorted(os.listdir(args.out_dir)):
        print(f"  {f}  {os.path.getsize(os.path.join(args.out_dir, f))} bytes")


if __name__ == "__main__":
    main()
