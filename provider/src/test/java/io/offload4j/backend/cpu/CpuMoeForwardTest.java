package io.offload4j.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.backend.MoeRoutingCounts;
import io.offload4j.model.Architecture;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Mixture-of-experts blocks on the CPU against the double-precision reference transformer (which interprets the
 * router and the experts step by step from {@link io.offload4j.model.BlockRecipe}): qwen3moe, qwen2moe with its
 * gated shared expert, and Mixtral (llama with experts), in every storage format, from merged 3-D expert tensors
 * and from per-expert tensors; prompt chunks (tokens grouped by expert) against decode (the chosen experts only),
 * batches against single sequences, and the routing trace against what the reference chose.
 */
class CpuMoeForwardTest {

    private static final int[] TOKENS = {1, 300, 17, 42, 511, 260, 5, 99, 400, 3, 77};

    @TempDir
    Path dir;

    static Stream<Arguments> cases() {
        List<Arguments> l = new ArrayList<>();
        for (QuantPreset q : QuantPreset.values()) {
            l.add(Arguments.of(Architecture.QWEN3MOE, q, true));
        }
        for (QuantPreset q : new QuantPreset[] {QuantPreset.F32, QuantPreset.Q8_0, QuantPreset.Q4_K_M}) {
            l.add(Arguments.of(Architecture.QWEN2MOE, q, true));
            l.add(Arguments.of(Architecture.LLAMA, q, true));
        }
        // Older Mixtral files: one tensor per expert.
        l.add(Arguments.of(Architecture.LLAMA, QuantPreset.F32, false));
        l.add(Arguments.of(Architecture.LLAMA, QuantPreset.Q4_0, false));
        l.add(Arguments.of(Architecture.QWEN3MOE, QuantPreset.Q6_K, false));
        return l.stream();
    }

    private Model model(Architecture arch, QuantPreset q, boolean merged, double zipf) {
        SyntheticModelSpec spec = SyntheticModelSpec.tinyMoe(arch, q, zipf);
        spec = spec.withMoe(spec.moe().withMergedTensors(merged));
        Path p = dir.resolve(arch + "-" + q + "-" + merged + "-" + zipf + ".gguf");
        SyntheticModelWriter.write(spec, p);
        return Model.load(p);
    }

    @ParameterizedTest(name = "{0} {1} merged={2}")
    @MethodSource("cases")
    void matchesTheReference(Architecture arch, QuantPreset q, boolean merged) {
        try (Model m = model(arch, q, merged, 0.8);
             ForwardPass pass = new CpuBackend(2).prepare(m, 32, 4);
             KvCache cache = pass.newKvCache(32)) {
            assertTrue(m.config().isMixtureOfExperts());
            assertTrue(m.weights().blocks().stream().allMatch(b -> b.isSparse() && b.wGate() == null));
            assertEquals(arch == Architecture.QWEN2MOE, m.weights().blocks().getFirst().moe().hasSharedExpert());
            float[] logits = new float[m.config().vocabularySize()];
            // Chunks of 4: 4 + 4 + 3 tokens (grouped matmul), then one token alone (decode) at the end.
            for (int pos = 0; pos < TOKENS.length - 1; pos += 4) {
                pass.forward(cache, TOKENS, pos, Math.min(4, TOKENS.length - 1 - pos), pos, logits);
            }
            pass.forward(cache, TOKENS, TOKENS.length - 1, 1, TOKENS.length - 1, logits);
            double err = relativeError(logits, new ReferenceTransformer(m).logits(TOKENS));
            assertTrue(err < 1e-4, arch + " " + q + ": relative error " + err);
        }
    }

    @Test
    void routerSettingsFollowEachArchitecture() {
        try (Model qwen3 = model(Architecture.QWEN3MOE, QuantPreset.F32, true, 0);
             Model qwen2 = model(Architecture.QWEN2MOE, QuantPreset.F32, true, 0);
             Model mixtral = model(Architecture.LLAMA, QuantPreset.F32, true, 0)) {
            assertTrue(qwen3.config().moe().normalizeTopK(), "Qwen3-MoE renormalises (llama.cpp's qwen3moe)");
            assertTrue(!qwen2.config().moe().normalizeTopK(), "Qwen2-MoE does not (norm_topk_prob defaults to false)");
            assertTrue(mixtral.config().moe().normalizeTopK(), "Mixtral always renormalises");
            assertEquals(512, qwen2.config().moe().sharedFeedForwardLength());
            assertEquals(0, qwen3.config().moe().sharedFeedForwardLength());
            assertEquals(256, mixtral.config().moe().expertFeedForwardLength());
        }
        try (Model dense = Model.load(write(SyntheticModelSpec.tiny(Architecture.LLAMA, QuantPreset.F32)))) {
            assertNull(dense.config().moe());
            assertNotNull(dense.weights().blocks().getFirst().wGate());
        }
    }

    private Path write(SyntheticModelSpec spec) {
        Path p = dir.resolve(spec.name() + ".gguf");
        SyntheticModelWriter.write(spec, p);
        return p;
    }

    /** A prompt as one chunk (grouped by expert) equals the same tokens decoded one at a time (chosen experts only). */
    @Test
    void chunkEqualsDecode() {
        try (Model m = model(Architecture.QWEN2MOE, QuantPreset.Q8_0, true, 1.0);
             ForwardPass pass = new CpuBackend(2).prepare(m, 32, 16)) {
            int vocab = m.config().vocabularySize();
            float[] chunked = new float[vocab];
            float[] stepwise = new float[vocab];
            try (KvCache a = pass.newKvCache(32); KvCache b = pass.newKvCache(32)) {
                pass.forward(a, TOKENS, 0, TOKENS.length, 0, chunked);
                for (int pos = 0; pos < TOKENS.length; pos++) {
                    pass.forward(b, TOKENS, pos, 1, pos, stepwise);
                }
            }
            for (int i = 0; i < vocab; i++) {
                assertEquals(stepwise[i], chunked[i], 1e-4f * Math.max(1, Math.abs(stepwise[i])), "logit " + i);
            }
        }
    }

    /** A long chunk (48 tokens: a dozen rows per expert, the shared expert over all) against the reference. */
    @Test
    void aLongChunkMatchesTheReference() {
        try (Model m = model(Architecture.QWEN2MOE, QuantPreset.Q8_0, true, 0.3);
             ForwardPass pass = new CpuBackend(2).prepare(m, 64, 64);
             KvCache cache = pass.newKvCache(64)) {
            int[] tokens = new java.util.SplittableRandom(4).ints(48, 3, 512).toArray();
            float[] logits = new float[m.config().vocabularySize()];
            pass.forward(cache, tokens, 0, tokens.length, 0, logits);
            double err = relativeError(logits, new ReferenceTransformer(m).logits(tokens));
            assertTrue(err < 1e-4, "relative error " + err);
        }
    }

    /** Sequences decoded together (their rows grouped by expert across sequences) equal each decoded alone. */
    @Test
    void batchEqualsSingleSequences() {
        try (Model m = model(Architecture.QWEN3MOE, QuantPreset.Q4_K_M, true, 0.5);
             ForwardPass pass = new CpuBackend(2).prepare(m, 32, 8)) {
            int vocab = m.config().vocabularySize();
            int batch = 6;
            KvCache[] caches = new KvCache[batch];
            KvCache[] alone = new KvCache[batch];
            int[] tokens = new int[batch];
            int[] positions = new int[batch];
            float[][] logits = new float[batch][vocab];
            float[] single = new float[vocab];
            for (int b = 0; b < batch; b++) {
                caches[b] = pass.newKvCache(32);
                alone[b] = pass.newKvCache(32);
                // Each sequence has a prompt of its own length before the batched step.
                pass.forward(caches[b], TOKENS, 0, b + 1, 0, single);
                pass.forward(alone[b], TOKENS, 0, b + 1, 0, single);
                tokens[b] = TOKENS[b + 2];
                positions[b] = b + 1;
            }
            pass.forwardBatch(caches, tokens, positions, batch, logits);
            for (int b = 0; b < batch; b++) {
                pass.forward(alone[b], tokens, b, 1, positions[b], single);
                for (int i = 0; i < vocab; i++) {
                    assertEquals(single[i], logits[b][i], 1e-4f * Math.max(1, Math.abs(single[i])),
                            "sequence " + b + " logit " + i);
                }
                caches[b].close();
                alone[b].close();
            }
        }
    }

    /** The routing trace names exactly k distinct experts per token and block, and counts every choice. */
    @Test
    void routingTraceCountsEveryChoice() {
        try (Model m = model(Architecture.LLAMA, QuantPreset.F32, true, 0);
             ForwardPass pass = new CpuBackend(2).prepare(m, 32, 4);
             KvCache cache = pass.newKvCache(32)) {
            int blocks = m.config().blockCount();
            int experts = m.config().moe().expertCount();
            int k = m.config().moe().expertUsedCount();
            MoeRoutingCounts counts = new MoeRoutingCounts(blocks, experts, 1000);
            pass.routingListener(counts);
            float[] logits = new float[m.config().vocabularySize()];
            pass.forward(cache, TOKENS, 0, 4, 0, logits);
            pass.forward(cache, TOKENS, 4, 1, 4, logits);
            long total = 0;
            for (int b = 0; b < blocks; b++) {
                for (int e = 0; e < experts; e++) {
                    total += counts.count(b, e);
                }
            }
            assertEquals(5L * k * blocks, total);
            int[] trace = counts.trace();
            assertEquals(5 * k * blocks, trace.length);
            // Block 0's chunk: 4 tokens × k choices, distinct within each token.
            for (int t = 0; t < 4; t++) {
                assertTrue(trace[t * k] != trace[t * k + 1], "token " + t + " chose one expert twice");
                assertTrue(trace[t * k] < experts, "block 0's choices come first");
            }
            pass.routingListener(io.offload4j.backend.MoeRoutingListener.NONE);
            pass.forward(cache, TOKENS, 5, 1, 5, logits);
            assertEquals(5 * k * blocks, counts.trace().length, "no longer listening");
        }
    }

    /** A decode step and a prompt chunk of a mixture of experts allocate nothing after warm-up. */
    @Test
    void aStepAllocatesNothing() {
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        try (Model m = model(Architecture.QWEN2MOE, QuantPreset.Q8_0, true, 1.0);
             ForwardPass pass = new CpuBackend(1).prepare(m, 32, 4);
             KvCache cache = pass.newKvCache(32)) {
            MoeRoutingCounts counts = new MoeRoutingCounts(m.config().blockCount(), m.config().moe().expertCount(), 0);
            pass.routingListener(counts);
            float[] logits = new float[m.config().vocabularySize()];
            long allocated;
            long deadline = System.nanoTime() + 30_000_000_000L;
            do {
                long a0 = mx.getCurrentThreadAllocatedBytes();
                for (int i = 0; i < 20; i++) {
                    pass.forward(cache, TOKENS, 0, 4, 0, logits);
                    pass.forward(cache, TOKENS, 4, 1, 4, logits);
                }
                allocated = mx.getCurrentThreadAllocatedBytes() - a0;
            } while (allocated > 0 && System.nanoTime() < deadline);
            assertEquals(0, allocated, "bytes allocated by 20 prompt chunks and decode steps after warm-up");
        }
    }

    /**
     * Qwen's mlp_only_layers / decoder_sparse_step leave some blocks dense: a block without a router takes the dense
     * FFN tensors. Block 1 of a qwen3moe file rewritten that way computes what the reference says, and the
     * expert_weights_norm key overrides the architecture's default.
     */
    @Test
    void denseBlocksBetweenSparseOnesAndTheNormKey() {
        Path sparse = dir.resolve("all-sparse.gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tinyMoe(Architecture.QWEN3MOE, QuantPreset.F32, 0.5), sparse);
        Path mixed = dir.resolve("mixed.gguf");
        try (io.offload4j.gguf.GgufFile in = io.offload4j.gguf.GgufFile.open(sparse)) {
            io.offload4j.gguf.GgufWriter w = new io.offload4j.gguf.GgufWriter();
            w.putAll(in.metadata());
            w.putBool("qwen3moe.expert_weights_norm", false);
            for (io.offload4j.gguf.GgufTensorInfo t : in.tensors().values()) {
                if (!t.name().startsWith("blk.1.ffn_gate_inp") && !t.name().matches("blk\\.1\\.ffn_.*_exps.*")) {
                    java.lang.foreign.MemorySegment data = in.tensorData(t);
                    w.addTensor(t.name(), t.type(), t.dims(), dst -> dst.copyFrom(data));
                }
            }
            java.util.SplittableRandom random = new java.util.SplittableRandom(8);
            int dim = 256;
            int ffn = 512;
            for (String name : new String[] {"ffn_gate", "ffn_up", "ffn_down"}) {
                boolean down = name.equals("ffn_down");
                float[] v = new float[dim * ffn];
                for (int i = 0; i < v.length; i++) {
                    v[i] = (float) (random.nextDouble() * 2 - 1) / 16;
                }
                w.addF32("blk.1." + name + ".weight", down ? new long[] {ffn, dim} : new long[] {dim, ffn}, v);
            }
            w.write(mixed);
        }
        try (Model m = Model.load(mixed);
             ForwardPass pass = new CpuBackend(2).prepare(m, 32, 4);
             KvCache cache = pass.newKvCache(32)) {
            assertTrue(m.weights().blocks().get(0).isSparse());
            assertTrue(!m.weights().blocks().get(1).isSparse() && m.weights().blocks().get(1).wGate() != null);
            assertTrue(!m.config().moe().normalizeTopK(), "expert_weights_norm = false overrides qwen3moe's default");
            float[] logits = new float[m.config().vocabularySize()];
            for (int pos = 0; pos < TOKENS.length - 1; pos += 4) {
                pass.forward(cache, TOKENS, pos, Math.min(4, TOKENS.length - 1 - pos), pos, logits);
            }
            pass.forward(cache, TOKENS, TOKENS.length - 1, 1, TOKENS.length - 1, logits);
            double err = relativeError(logits, new ReferenceTransformer(m).logits(TOKENS));
            assertTrue(err < 1e-4, "relative error " + err);
        }
    }

    /** Largest |a-b| relative to the largest |b|. */
    static double relativeError(float[] a, double[] b) {
        double maxDiff = 0;
        double maxRef = 0;
        for (int i = 0; i < a.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
            maxRef = Math.max(maxRef, Math.abs(b[i]));
        }
        return maxDiff / maxRef;
    }
}
