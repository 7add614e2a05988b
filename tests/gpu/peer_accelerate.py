"""The Hugging Face Accelerate offloading peer: transformers loads a Hugging Face model directory (for example one
written by make_hf_model.py) with device_map="auto" and max_memory={0: BUDGET, "cpu": ...}, so Accelerate keeps
what fits on the GPU and moves the rest in for every forward call; offload4j runs the very same directory with the
same GPU budget (OffloadBenchmark --model DIR --budget-gib BUDGET) in the same call.

    python3 peer_accelerate.py MODEL_DIR BUDGET_GIB [DECODE_STEPS=8]

Prints the placement (parameters on the GPU / on the CPU), the pinned host->device bandwidth measured now, prefill
tokens/s of one 512-token prompt, decode tokens/s at batch 1 (greedy, after 2 warm-up steps), and the bytes that
cross PCIe per decode step (the CPU-placed parameters) over the step time as a fraction of that bandwidth."""
import sys
import time

import torch
from transformers import AutoModelForCausalLM

model_dir = sys.argv[1]
budget_gib = float(sys.argv[2])
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 8

# pinned host -> device bandwidth, as OffloadBenchmark measures it
n = 1 << 30
host = torch.empty(n, dtype=torch.uint8, pin_memory=True)
dev = torch.empty(n, dtype=torch.uint8, device="cuda")
dev.copy_(host, non_blocking=True)
torch.cuda.synchronize()
t0 = time.perf_counter()
for _ in range(3):
    dev.copy_(host, non_blocking=True)
torch.cuda.synchronize()
pinned = 3 * n / (time.perf_counter() - t0) / 1e9
del host, dev
torch.cuda.empty_cache()
print(f"pinned host->device: {pinned:.1f} GB/s")

t0 = time.perf_counter()
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16, device_map="auto",
                                             max_memory={0: f"{budget_gib}GiB", "cpu": "110GiB"}).eval()
print(f"loaded in {time.perf_counter() - t0:.1f} s")
on_gpu = on_cpu = 0
for p in model.parameters():
    if p.device.type == "cuda":
        on_gpu += p.numel() * p.element_size()
    else:  # Accelerate's hooks keep offloaded weights on the CPU ("meta" placeholders count here too)
        on_cpu += p.numel() * p.element_size()
devices = {}
for name, d in getattr(model, "hf_device_map", {}).items():
    devices[str(d)] = devices.get(str(d), 0) + 1
print(f"placement: {on_gpu / 2**30:.2f} GiB on the GPU, {on_cpu / 2**30:.2f} GiB on the CPU; modules per device"
      f" {devices}")

vocab = model.config.vocab_size
ids = torch.randint(3, vocab, (1, 512), device="cuda")
with torch.no_grad():
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = model(ids, use_cache=True)
    torch.cuda.synchronize()
    prefill = time.perf_counter() - t0
    print(f"prefill 512: {512 / prefill:.1f} tok/s ({prefill:.2f} s)")
    past = out.past_key_values
    nxt = out.logits[:, -1].argmax(-1, keepdim=True)
    warm = 2
    for i in range(warm + steps):
        if i == warm:
            torch.cuda.synchronize()
            t0 = time.perf_counter()
        out = model(nxt, past_key_values=past, use_cache=True)
        past = out.past_key_values
        nxt = out.logits[:, -1].argmax(-1, keepdim=True)
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - t0) / steps
    print(f"decode b1: {1 / seconds:.2f} tok/s; {on_cpu / 1e9:.2f} GB cross PCIe per step ="
          f" {on_cpu / seconds / 1e9:.1f} GB/s = {on_cpu / seconds / 1e9 / pinned:.2f} of pinned")
