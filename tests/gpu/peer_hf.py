"""The PyTorch + Hugging Face transformers peer for the CUDA benchmark: a random-weight Llama of the
same shape in bf16, resident on the GPU, eager mode with the default dynamic KV cache. Prints prefill
tokens/s for one 512-token prompt and decode tokens/s over 120 greedy steps (after 8 warm-up steps)."""
import statistics
import sys
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

SHAPES = {
    "llama32-3b": dict(hidden_size=3072, intermediate_size=8192, num_hidden_layers=28, num_attention_heads=24,
                       num_key_value_heads=8, head_dim=128, vocab_size=128256, tie_word_embeddings=True),
    "llama3-8b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                      num_key_value_heads=8, head_dim=128, vocab_size=128256, tie_word_embeddings=False),
}

shape = sys.argv[1] if len(sys.argv) > 1 else "llama32-3b"
config = LlamaConfig(max_position_embeddings=8192, rope_theta=10000.0, **SHAPES[shape])
torch.manual_seed(0)
with torch.device("cuda"):
    model = LlamaForCausalLM(config).to(torch.bfloat16).eval()
print(shape, torch.cuda.get_device_name(), "params", sum(p.numel() for p in model.parameters()) / 1e9, "B")

ids = torch.randint(3, config.vocab_size, (1, 512), device="cuda")
with torch.no_grad():
    times = []
    for i in range(4):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = model(ids, use_cache=True)
        torch.cuda.synchronize()
        if i > 0:
            times.append(time.perf_counter() - t0)
    print(f"prefill 512: {512 / statistics.median(times):.0f} tok/s")
    past = out.past_key_values
    nxt = out.logits[:, -1].argmax(-1, keepdim=True)
    steps, warm = 128, 8
    for i in range(steps):
        if i == warm:
            torch.cuda.synchronize()
            t0 = time.perf_counter()
        out = model(nxt, past_key_values=past, use_cache=True)
        past = out.past_key_values
        nxt = out.logits[:, -1].argmax(-1, keepdim=True)
    torch.cuda.synchronize()
    tps = (steps - warm) / (time.perf_counter() - t0)
    wbytes = sum(p.numel() for p in model.parameters()) * 2
    print(f"decode (ctx 512..640): {tps:.1f} tok/s, effective {wbytes * tps / 1e9:.0f} GB/s of weights")
