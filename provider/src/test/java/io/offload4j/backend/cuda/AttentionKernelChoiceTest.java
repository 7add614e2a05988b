package io.offload4j.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Which batched-decode attention kernel a model's heads take: the grouped one (a block per key/value head, instances
 * for head sizes 64, 128 and 256 and up to 8 query heads per key/value head), else the per-head one. The shapes are
 * real models'; the grouped kernel's correctness is checked on the GPU (OffloadGpuTest and GemmaGpuTest's batches
 * against each sequence alone, tests/gpu/attn_bench.cu against the per-head kernel).
 */
class AttentionKernelChoiceTest {

    @ParameterizedTest(name = "{0}: head {1}, {2} query heads per kv head")
    @CsvSource({
        "Llama 3.2 3B, 128, 3, true",
        "Llama 3.1 8B, 128, 4, true",
        "Qwen2.5 0.5B, 64, 7, true",
        "Qwen2.5 3B, 128, 8, true",
        "Gemma 2 2B, 256, 2, true",
        "multi-head (stories260K-like), 64, 1, true",
        "Phi-2-like head of 80, 80, 1, false",
        "head of 96, 96, 4, false",
        "16 query heads per kv head, 128, 16, false"})
    void groupedKernelTakesTheShapesItHasInstancesFor(String model, int headDim, int group, boolean grouped) {
        assertEquals(grouped, CudaKernels.groupedDecodeOk(headDim, group), model);
    }

    /** About four blocks per SM of an H100 (132), in 1..8 splits: the best or near it in tests/gpu/attn_bench.cu. */
    @ParameterizedTest(name = "{0} kv heads, {1} sequences: {2} splits")
    @CsvSource({"8, 16, 4", "8, 64, 1", "8, 32, 2", "2, 16, 8", "2, 64, 4", "8, 2, 8", "1, 64, 8", "32, 64, 1"})
    void groupedKernelSplitsUntilTheGpuHasAboutFourBlocksPerSm(int kvHeads, int batch, int splits) {
        assertEquals(splits, CudaKernels.groupedSplits(kvHeads, batch, 132));
    }
}
