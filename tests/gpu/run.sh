#!/usr/bin/env bash
# On the GPU machine, from a bundle made by tests/gpu/bundle.sh: runs the gpu-tagged test suite, then
# the benchmark (synthetic models written to this machine's disk), then optionally the PyTorch peer.
#
#   bash BUNDLE/run.sh                 reports under $OUT (default BUNDLE/out)
#   env: TESTS=0 / BENCH=0 skip a part; TEST_SELECT picks tests (default: every gpu-tagged test under
#        io.offload4j; e.g. "--select-class io.offload4j.backend.cuda.PipelineGpuTest"); PEER=1 adds the HF transformers peer (PEER_SHAPES,
#        default llama32-3b); BENCH_ARGS passes
#        arguments to CudaBenchmark (e.g. "--shapes llama32-3b,llama3-8b --quants Q4_K_M");
#        OFFLOAD=1 runs the offloading benchmark (OFFLOAD_ARGS, e.g. "--shapes llama3-8b --quants F16
#        --budgets 1,0.5,0.25,0.1") into offload.md / offload.log; OFFLOAD_AB=1 then runs it again for each
#        earlier build bundled with ALT (bundle.sh) and for this build once more (an A/B in one call);
#        SPECULATIVE=1 runs the speculative decoding benchmark (SPECULATIVE_ARGS, e.g. "--shapes llama3-8b
#        --quants F16 --budgets 1,0.25 --acceptance 0,0.7,1 --concurrency 1,4") into speculative.md / speculative.log;
#        SPECULATIVE_AB=1 then runs it for each alt/NAME build and this build again (SPECULATIVE_AB_ARGS);
#        JAVA_OPTS adds JVM options (e.g. -Xlog:gc, or a bundle made with HOST_PROFILER=1: "-agentpath:$PWD/prof/
#        libasyncProfiler.so=start,event=itimer,interval=100us,threads,file=/tmp/prof.collapsed,collapsed" for the host's
#        stacks per thread); PROFILE=1 runs Nsight Compute
#        over one decode step of each of PROFILE_QUANTS (default "Q4_K_M F16") into ncu-QUANT.csv;
#        MOE=1 runs the MoE expert-offloading benchmark (MOE_ARGS, e.g. "--shape qwen3-30b-a3b --quant Q4_K_M
#        --zipf 1.0 --budgets 1,0.5,0.25,0.1") into moe.md / moe.log; MOE_AB=1 then runs it for each alt/NAME build
#        and this build again (MOE_AB_ARGS);
#        SERVING=1 runs the serving benchmark (SERVING_ARGS) into serving.md / serving.log;
#        GEMM=1 builds and times the prefill GEMM alone against the WMMA kernel it replaced, then the batched-decode small
#        GEMM at 1..64 rows on a 3B step's launches against its WMMA predecessor (tests/gpu/gemm_bench.cu);
#        ATTN=1 builds and times the batched decode attention, grouped against per-head (tests/gpu/attn_bench.cu);
#        MATVEC=1 builds and times the decode matrix-vector kernels alone (tests/gpu/matvec_bench.cu, with nvcc; see the
#        MATVEC block below), MATVEC_BASE=DIR against another build's CUDA sources, outputs compared;
#        SOAK=1 runs the reliability soak first (SOAK_MINUTES, default 10; SOAK_SHAPE tiny|small|3b, default
#        small; SOAK_DEVICE, default cuda; SOAK_ARGS) into soak.log.
#
# Files written: gpu.txt (nvidia-smi), tests.log, tests-report.txt (every measured error),
# bench.md (the table), bench.log, peer.log.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${OUT:-$here/out}"
mkdir -p "$OUT"
cd "$here"
jre=/tmp/offload4j-jre
if [ ! -x "$jre/jre/bin/java" ]; then
    mkdir -p "$jre"
    tar xJf jre.txz -C "$jre" 2>/dev/null \
        || python3 -c "import tarfile,sys; tarfile.open('jre.txz').extractall(sys.argv[1])" "$jre"
fi
JAVA="$jre/jre/bin/java"
# The repository's test resources (fixtures; bundle.sh leaves them (transformers, quant, nomic) out of the tests jar): on the class path.
resources="$(cd "$here/../.." 2>/dev/null && pwd)/provider/src/test/resources"
[ -d "$resources" ] || resources="${RESOURCES:-$here/resources}"
# ... and its main resources (the CUDA fatbin, which bundle.sh leaves out of the provider jar), ahead of the jars.
mainres="$(cd "$here/../.." 2>/dev/null && pwd)/provider/src/main/resources"
[ -d "$mainres" ] && resources="$mainres:$resources"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv > "$OUT/gpu.txt" 2>&1
cat "$OUT/gpu.txt"
opts=(--enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector -Xmx24g
      -Doffload4j.shared="$here/shared" -Doffload4j.transformers="$resources/transformers" ${JAVA_OPTS:-})

if [ "${SOAK:-0}" = 1 ]; then
    # Issue 19's GPU soak: mixed load (prompt lengths, streaming, cancelled, batched) for SOAK_MINUTES, heap, RSS and
    # device memory (cuMemGetInfo) sampled every 30 s; see tests/reliability/README.md.
    t0=$(date +%s)
    timeout $(( ${SOAK_MINUTES:-10} * 60 + 300 )) "$JAVA" "${opts[@]}" -cp "lib/*:$resources" io.offload4j.reliability.ProviderSoak \
        --device "${SOAK_DEVICE:-cuda}" --shape "${SOAK_SHAPE:-small}" --minutes "${SOAK_MINUTES:-10}" \
        --sample-seconds 30 --rounds 1000000 --requests 64 --clients 16 --max-tokens 64 ${SOAK_ARGS:-} > "$OUT/soak.log" 2>&1
    echo "soak: exit $? in $(( $(date +%s) - t0 )) s"
    grep -E "^(loaded|sample|end|soak|FAILURE)" "$OUT/soak.log"
fi

if [ "${TESTS:-1}" = 1 ]; then
    rm -f "$OUT/tests-report.txt"
    t0=$(date +%s)
    timeout "${TEST_TIMEOUT:-300}" "$JAVA" "${opts[@]}" -Doffload4j.report="$OUT/tests-report.txt" -cp "lib/*:$resources" \
        org.junit.platform.console.ConsoleLauncher execute ${TEST_SELECT:---select-package io.offload4j} \
        --include-tag gpu --details=tree --disable-banner > "$OUT/tests.log" 2>&1
    echo "tests: exit $? in $(( $(date +%s) - t0 )) s"
    grep -E "tests (successful|failed|aborted|skipped)|containers failed" "$OUT/tests.log"
    grep -B2 -A12 -E "✘|MethodSource|Exception" "$OUT/tests.log" | head -80
fi

if [ "${BENCH:-1}" = 1 ]; then
    rm -f "$OUT/bench.md"
    timeout "${BENCH_TIMEOUT:-420}" "$JAVA" "${opts[@]}" -cp "lib/*:$resources" io.offload4j.backend.cuda.CudaBenchmark \
        --dir /tmp/offload4j-bench --out "$OUT/bench.md" ${BENCH_ARGS:-} > "$OUT/bench.log" 2>&1
    echo "bench: exit $?"
    tail -n 30 "$OUT/bench.log"
    # Earlier builds bundled under alt/NAME (bundle.sh ALT=...), timed on this same machine, then this
    # build once more: timings are only comparable within one machine (and drift shows up here).
    if [ -d alt ]; then
        for d in alt/*/ ""; do
            name=${d:+$(basename "$d")}
            printf '\n## %s\n\n' "${name:-this build again}" >> "$OUT/bench.md"
            timeout "${ALT_TIMEOUT:-150}" "$JAVA" "${opts[@]}" -cp "${d:+$d*:}lib/*:$resources" io.offload4j.backend.cuda.CudaBenchmark \
                --dir /tmp/offload4j-bench --out "$OUT/bench.md" ${ALT_BENCH_ARGS:---shapes llama32-3b} >> "$OUT/bench.log" 2>&1
            echo "bench ${name:-again}: exit $?"
        done
        grep -E "^## |^\| llama" "$OUT/bench.md" | tail -n 12
    fi
fi

if [ "${SPECULATIVE:-0}" = 1 ]; then
    # Speculative decoding: the cost of verifying k tokens per budget, then decode tokens/s at set acceptance rates.
    timeout "${SPECULATIVE_TIMEOUT:-540}" "$JAVA" "${opts[@]}" -cp "lib/*:$resources" io.offload4j.backend.cuda.SpeculativeBenchmark \
        --dir /tmp/offload4j-bench --out "$OUT/speculative.md" ${SPECULATIVE_ARGS:-} > "$OUT/speculative.log" 2>&1
    echo "speculative: exit $?"
    grep -E "^\|" "$OUT/speculative.md" | tail -n 24
    # SPECULATIVE_AB=1: the same benchmark with each earlier build bundled under alt/NAME ahead of this build's jars
    # (its engine, this build's benchmark: bundle.sh ALT="before=old-provider.jar"), then this build again, one after
    # the other (SPECULATIVE_AB_ARGS, default SPECULATIVE_ARGS; the model file written by the first run is reused).
    if [ "${SPECULATIVE_AB:-0}" = 1 ] && [ -d alt ]; then
        for d in alt/*/ ""; do
            name=${d:+$(basename "$d")}
            printf '\n## %s\n\n' "${name:-this build again}" >> "$OUT/speculative.md"
            timeout "${SPECULATIVE_TIMEOUT:-540}" "$JAVA" "${opts[@]}" -cp "${d:+$d*:}lib/*:$resources" \
                io.offload4j.backend.cuda.SpeculativeBenchmark --dir /tmp/offload4j-bench --out "$OUT/speculative.md" \
                ${SPECULATIVE_AB_ARGS:-${SPECULATIVE_ARGS:-}} >> "$OUT/speculative.log" 2>&1
            echo "speculative ${name:-again}: exit $?"
        done
        grep -E "^## |^\|" "$OUT/speculative.md" | tail -n 30
    fi
fi

if [ "${OFFLOAD:-0}" = 1 ]; then
    # Offloading: GPU budgets from all of the weights down to a tenth, decode at several batch sizes.
    # OFFLOAD_FIRST=0 skips this first run of this build (an A/B then runs the earlier build, then this one).
    if [ "${OFFLOAD_FIRST:-1}" = 1 ]; then
        timeout "${OFFLOAD_TIMEOUT:-420}" "$JAVA" "${opts[@]}" -cp "lib/*:$resources" io.offload4j.backend.cuda.OffloadBenchmark \
            --dir /tmp/offload4j-bench --out "$OUT/offload.md" ${OFFLOAD_ARGS:-} > "$OUT/offload.log" 2>&1
        echo "offload: exit $?"
        grep -E "^\|" "$OUT/offload.md" | tail -n 20
    fi
    # A/B: earlier builds bundled under alt/NAME (their provider jar and its tests jar, so that the benchmark is
    # the one that build shipped), then this build again, same arguments, same machine, one after another.
    if [ "${OFFLOAD_AB:-0}" = 1 ] && [ -d alt ]; then
        for d in alt/*/ ""; do
            name=${d:+$(basename "$d")}
            printf '\n## %s\n\n' "${name:-this build again}" >> "$OUT/offload.md"
            timeout "${OFFLOAD_TIMEOUT:-420}" "$JAVA" "${opts[@]}" -cp "${d:+$d*:}lib/*:$resources" \
                io.offload4j.backend.cuda.OffloadBenchmark --dir /tmp/offload4j-bench --out "$OUT/offload.md" \
                ${OFFLOAD_ARGS:-} >> "$OUT/offload.log" 2>&1
            echo "offload ${name:-again}: exit $?"
        done
        grep -E "^## |^\|" "$OUT/offload.md" | tail -n 40
    fi
fi

if [ "${MOE:-0}" = 1 ]; then
    # Issue 13: a mixture of experts larger than the GPU, sparse blocks placed whole vs experts in a GPU expert cache,
    # at MOE_ARGS (default: a 12-block Qwen3-30B-A3B-shaped Q4_K_M model, Zipf 1.0, budgets 1/0.5/0.25/0.1), with
    # the llama.cpp command for the same file; into moe.md / moe.log.
    timeout "${MOE_TIMEOUT:-540}" "$JAVA" "${opts[@]}" -cp "lib/*:$resources" io.offload4j.backend.cuda.MoeOffloadBenchmark \
        --dir /tmp/offload4j-bench --out "$OUT/moe.md" ${MOE_ARGS:---shape qwen3-moe-small} > "$OUT/moe.log" 2>&1
    echo "moe: exit $?"
    grep -E "^\||llama-bench" "$OUT/moe.md" | tail -n 24
    # MOE_AB=1: the same benchmark with each earlier build bundled under alt/NAME, then this build again (an A/B in
    # one call; MOE_AB_ARGS, default MOE_ARGS; the model file written by the first run is reused).
    if [ "${MOE_AB:-0}" = 1 ] && [ -d alt ]; then
        for d in alt/*/ ""; do
            name=${d:+$(basename "$d")}
            printf '\n## %s\n\n' "${name:-this build again}" >> "$OUT/moe.md"
            timeout "${MOE_TIMEOUT:-540}" "$JAVA" "${opts[@]}" -cp "${d:+$d*:}lib/*:$resources" \
                io.offload4j.backend.cuda.MoeOffloadBenchmark --dir /tmp/offload4j-bench --out "$OUT/moe.md" \
                ${MOE_AB_ARGS:-${MOE_ARGS:---shape qwen3-moe-small}} >> "$OUT/moe.log" 2>&1
            echo "moe ${name:-again}: exit $?"
        done
        grep -E "^## |^\|" "$OUT/moe.md" | tail -n 40
    fi
fi

if [ "${MATVEC:-0}" = 1 ]; then
    # The decode matrix-vector kernels alone (tests/gpu/matvec_bench.cu, built here with the device's nvcc): this
    # checkout's kernels, and with MATVEC_BASE=DIR (a folder holding another build's provider/src/main/cuda files)
    # that build's too, before and after this one; the two builds' output vectors compared byte for byte.
    # MATVEC_ARGS, e.g. "--formats q4_k/q6_k,q8_0/q8_0"; MATVEC_FLAGS, e.g. "-DMV_PAIRS=0"; into matvec.md.
    repo="$(cd "$here/../.." && pwd)"
    mb=/tmp/offload4j-matvec; mkdir -p "$mb"
    nvcc -O3 -std=c++17 -arch=sm_90 ${MATVEC_FLAGS:-} -I "$repo/provider/src/main/cuda" -o "$mb/this" \
        "$repo/tests/gpu/matvec_bench.cu" > "$mb/this.log" 2>&1 &
    [ -n "${MATVEC_BASE:-}" ] && nvcc -O3 -std=c++17 -arch=sm_90 -I "$MATVEC_BASE" -o "$mb/base" \
        "$repo/tests/gpu/matvec_bench.cu" > "$mb/base.log" 2>&1 &
    wait
    runs="this"; [ -n "${MATVEC_BASE:-}" ] && runs="base this base-again"
    failed=0
    for r in $runs; do
        printf '\n## %s\n\n' "$r" >> "$OUT/matvec.md"
        rm -f "$mb/$r.out"
        timeout "${MATVEC_TIMEOUT:-120}" "$mb/${r%-again}" --out "$mb/$r.out" ${MATVEC_ARGS:-} >> "$OUT/matvec.md" 2>&1
        rc=$?; echo "matvec $r: exit $rc"; [ $rc = 0 ] || failed=1
    done
    if [ -n "${MATVEC_BASE:-}" ] && [ $failed = 0 ]; then
        cmp -s "$mb/base.out" "$mb/this.out" && echo "matvec: outputs identical" || echo "matvec: outputs differ"
    fi
    grep -E "^## |^\|" "$OUT/matvec.md" | cut -c1-120 | tail -n 40
fi

if [ "${GEMM:-0}" = 1 ]; then
    # The prefill GEMM alone (tests/gpu/gemm_bench.cu, built here with the device's nvcc): gemm_f16_m64/m128 at 3 and 4
    # stages against the WMMA kernel they replaced, on a 3B and an 8B block's projections; GEMM_ARGS: chunk lengths
    # (default 512 2048; "small": the small GEMM only); into gemm.txt.
    repo="$(cd "$here/../.." && pwd)"
    nvcc -O3 -std=c++17 -arch=sm_90 -I "$repo/provider/src/main/cuda" -I "$repo/tests/gpu" -o /tmp/offload4j-gemm-bench \
        "$repo/tests/gpu/gemm_bench.cu" > "$OUT/gemm-build.log" 2>&1 || tail -n 5 "$OUT/gemm-build.log"
    timeout "${GEMM_TIMEOUT:-120}" /tmp/offload4j-gemm-bench ${GEMM_ARGS:-512 2048} > "$OUT/gemm.txt" 2>&1
    echo "gemm: exit $?"
    grep -E "projections|step's small-GEMM" "$OUT/gemm.txt"
fi

if [ "${ATTN:-0}" = 1 ]; then
    # Batched decode attention alone: attn_decode_gqa_* (a block per kv head) against attn_decode_batch (a block per
    # query head) at 16 / 64 sequences of 32 / 512 / 2,048 positions, 3B / 8B / 0.5B head shapes; into attn.txt.
    repo="$(cd "$here/../.." && pwd)"
    nvcc -O3 -std=c++17 -arch=sm_90 -I "$repo/provider/src/main/cuda" -I "$repo/tests/gpu" -o /tmp/offload4j-attn-bench \
        "$repo/tests/gpu/attn_bench.cu" > "$OUT/attn-build.log" 2>&1 || tail -n 5 "$OUT/attn-build.log"
    timeout 120 /tmp/offload4j-attn-bench > "$OUT/attn.txt" 2>&1
    echo "attn: exit $?"
    cat "$OUT/attn.txt"
fi

if [ "${SERVING:-0}" = 1 ]; then
    # Issue 16: N concurrent requests (prompt 512, reply 128) through the engine's request API: aggregate tok/s,
    # time to first token and inter-token latency p50/p99; SERVING_ARGS, e.g. "--shape llama32-3b --quant Q4_K_M
    # --device cuda --concurrency 1,8,32,64"; into serving.md / serving.log.
    timeout "${SERVING_TIMEOUT:-420}" "$JAVA" "${opts[@]}" -cp "lib/*:$resources" io.offload4j.engine.ServingBenchmark \
        --dir /tmp/offload4j-bench --out "$OUT/serving.md" ${SERVING_ARGS:---shape llama32-3b --quant Q4_K_M --device cuda} \
        > "$OUT/serving.log" 2>&1
    echo "serving: exit $?"
    grep -E "^\|" "$OUT/serving.md" | tail -n 8
fi

if [ "${PROFILE:-0}" = 1 ]; then
    # Nsight Compute over one decode step (the 2nd..3rd graph replays) of each PROFILE_QUANTS model.
    ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -n1)
    for q in ${PROFILE_QUANTS:-Q4_K_M F16}; do
        timeout "${PROFILE_TIMEOUT:-150}" "$ncu" --clock-control none --target-processes all \
            --kernel-name-base function --launch-skip "${PROFILE_SKIP:-200}" --launch-count "${PROFILE_COUNT:-190}" \
            --section SpeedOfLight --section Occupancy --section WarpStateStats --section LaunchStats --csv \
            "$JAVA" "${opts[@]}" -cp "lib/*:$resources" io.offload4j.backend.cuda.CudaBenchmark --dir /tmp/offload4j-bench \
            --shapes "${PROFILE_SHAPE:-llama32-3b}" --quants "$q" --profile 4 > "$OUT/ncu-$q.csv" 2> "$OUT/ncu-$q.log"
        echo "ncu $q: exit $? ($(wc -l < "$OUT/ncu-$q.csv") lines)"
        tail -n 3 "$OUT/ncu-$q.log"
    done
fi

if [ "${PEER:-0}" = 1 ]; then
    rm -f "$OUT/peer.log"
    for shape in ${PEER_SHAPES:-llama32-3b}; do
        PYTHONUNBUFFERED=1 timeout "${PEER_TIMEOUT:-240}" python3 peer_hf.py "$shape" >> "$OUT/peer.log" 2>&1
        echo "peer $shape: exit $?"
    done
    tail -n 8 "$OUT/peer.log"
fi
