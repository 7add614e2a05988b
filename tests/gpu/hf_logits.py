"""transformers' logits for given token ids, the reference that offload4j's are compared with on identical weights.

    python3 hf_logits.py MODEL_DIR --ids 1,300,17,42 [--out PREFIX] [--greedy 16] [--compute-dtype float32]
    python3 hf_logits.py MODEL_DIR --text "Once upon a time" [--no-bos] ...

Loads the directory with AutoModelForCausalLM (eager attention) on the GPU when there is one, runs the prompt in
one forward pass and reports, for every position, the logits of the next token. By default the model computes in
float32 (the weights loaded as saved, e.g. bf16, then widened), as offload4j's CPU backend does with the same
weights: differences are then rounding only. --compute-dtype auto keeps the saved dtype.

Writes PREFIX.f32 (little-endian float32, [positions x vocab], row p = logits after token p) and PREFIX.json
(ids, shape, dtypes, versions, top-5 per position, and with --greedy N the N greedy continuation ids computed
with the KV cache, never stopping at EOS) and prints a summary. Without --out only the summary is printed.
"""
import argparse
import json
import sys

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model_dir")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--ids", help="comma-separated token ids")
    g.add_argument("--text", help="text to tokenize with the directory's tokenizer")
    p.add_argument("--no-bos", action="store_true", help="with --text: do not add BOS")
    p.add_argument("--out", help="write PREFIX.f32 and PREFIX.json")
    p.add_argument("--greedy", type=int, default=0, help="also generate N greedy tokens")
    p.add_argument("--compute-dtype", choices=["float32", "auto"], default="float32")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return p.parse_args()


def load(model_dir, device):
    try:
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="auto", attn_implementation="eager")
    except TypeError:  # transformers before 4.56 call it torch_dtype
        model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype="auto", attn_implementation="eager")
    return model.to(device).eval()


def main():
    args = parse_args()
    if args.ids:
        ids = [int(x) for x in args.ids.replace(" ", "").split(",") if x]
    else:
        tok = AutoTokenizer.from_pretrained(args.model_dir)
        ids = tok(args.text, add_special_tokens=not args.no_bos)["input_ids"]
    if not ids:
        sys.exit("no token ids")
    model = load(args.model_dir, args.device)
    saved_dtype = str(next(model.parameters()).dtype)
    if args.compute_dtype == "float32":
        model = model.float()
    vocab = model.config.vocab_size
    if max(ids) >= vocab or min(ids) < 0:
        sys.exit(f"token ids must be in 0..{vocab - 1}")
    x = torch.tensor([ids], device=args.device)
    with torch.no_grad():
        out = model(x, use_cache=args.greedy > 0)
        logits = out.logits[0].float().cpu()
        greedy = []
        if args.greedy > 0:
            past = out.past_key_values
            nxt = out.logits[:, -1].argmax(-1, keepdim=True)
            for _ in range(args.greedy):
                greedy.append(int(nxt.item()))
                step = model(nxt, past_key_values=past, use_cache=True)
                past = step.past_key_values
                nxt = step.logits[:, -1].argmax(-1, keepdim=True)
    top5 = [[[int(i), float(v)] for v, i in zip(*torch.topk(row, 5))] for row in logits]
    report = {
        "model_dir": args.model_dir, "ids": ids, "positions": len(ids), "vocab_size": vocab,
        "saved_dtype": saved_dtype, "compute_dtype": str(next(model.parameters()).dtype),
        "transformers": transformers.__version__, "torch": torch.__version__, "device": args.device,
        "architecture": type(model).__name__, "top5": top5, "greedy": greedy,
    }
    if args.out:
        logits.numpy().astype("<f4").tofile(args.out + ".f32")
        with open(args.out + ".json", "w") as f:
            json.dump(report, f, indent=1)
    print(f"{report['architecture']} {saved_dtype} computed in {report['compute_dtype']} on {args.device},"
          f" transformers {transformers.__version__}; {len(ids)} positions x {vocab} logits")
    print("last position top-5:", top5[-1])
    if greedy:
        print("greedy:", ",".join(map(str, greedy)))


if __name__ == "__main__":
    main()
