#!/usr/bin/env bash
# On the GPU machine, from a bundle made by tests/gpu/bundle.sh (after run.sh has unpacked the JRE, or with
# JAVA set): Hugging Face directories made by transformers, run by offload4j and by transformers on identical weights.
#
#   bash BUNDLE/hf_compare.sh            reports under $OUT
#
# 1. Correctness: small random-init llama and qwen2 directories; our CUDA logits (resident and offloaded) against
#    transformers' float32 logits for the same token ids (HfLogitsCheck).
# 2. Peer: an 8B-shaped llama in bf16 (BIG_ARGS), the same GPU budget (BUDGET_GIB, default 8) for both:
#    OffloadBenchmark --model DIR --budget-gib B, then Accelerate (device_map="auto", max_memory) — peer_accelerate.py.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${OUT:-$here/out}"
mkdir -p "$OUT"
cd "$here"
JAVA="${JAVA:-/tmp/offload4j-jre/jre/bin/java}"
java=("$JAVA" --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -Xmx24g -cp "lib/*")
ids=1,300,17,42,99,1000,5,77,123,456,789,1500,3,8,21,34
for arch in llama qwen2; do
    d=/tmp/hf-small-$arch
    [ -d "$d" ] || python3 make_hf_model.py "$d" --arch "$arch" --hidden 512 --layers 6 --heads 8 --kv-heads 4 \
        --ffn 1024 --vocab 2048 --dtype bf16 --max-shard-size 4MB > "$OUT/make-small-$arch.log" 2>&1
    python3 hf_logits.py "$d" --ids "$ids" --out "/tmp/ref-small-$arch" > "$OUT/ref-small-$arch.log" 2>&1
    "${java[@]}" io.offload4j.backend.cuda.HfLogitsCheck "$d" "/tmp/ref-small-$arch" 2e-3 0.7 2>&1 | tee -a "$OUT/hf-check.log"
done
big=/tmp/hf-8b
t0=$(date +%s)
[ -d "$big" ] || python3 make_hf_model.py "$big" ${BIG_ARGS:---hidden 4096 --layers 32 --heads 32 --kv-heads 8 --ffn 14336 --vocab 128256 --head-dim 128 --dtype bf16 --context 8192} > "$OUT/make-8b.log" 2>&1
echo "8B directory: $(du -sh "$big" | cut -f1) in $(( $(date +%s) - t0 )) s"
if [ "${CHECK_BIG:-1}" = 1 ]; then
    python3 hf_logits.py "$big" --ids 1,300,17,42,99,1000,5,77 --out /tmp/ref-8b > "$OUT/ref-8b.log" 2>&1
    "${java[@]}" io.offload4j.backend.cuda.HfLogitsCheck "$big" /tmp/ref-8b 2e-3 0.5 2>&1 | tee -a "$OUT/hf-check.log"
fi
"${java[@]}" io.offload4j.backend.cuda.OffloadBenchmark --model "$big" --budget-gib "${BUDGET_GIB:-8}" \
    --batches 1,4,16 --decode-seconds 4 --out "$OUT/offload-hf8b.md" > "$OUT/offload-hf8b.log" 2>&1
echo "ours: exit $?"; grep -E "^\|" "$OUT/offload-hf8b.md"
PYTHONUNBUFFERED=1 timeout "${PEER_TIMEOUT:-300}" python3 peer_accelerate.py "$big" "${BUDGET_GIB:-8}" "${PEER_STEPS:-6}" \
    > "$OUT/accelerate.log" 2>&1
echo "accelerate: exit $?"; cat "$OUT/accelerate.log" | grep -vi warn | tail -8
