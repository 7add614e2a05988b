package io.offload4j.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.backend.cpu.CpuBackend;
import io.offload4j.model.Architecture;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import io.offload4j.offload.OffloadOptions;
import io.offload4j.offload.Placement;
import io.offload4j.offload.PlacementPlan;
import io.offload4j.offload.TieredForwardPass;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Gemma 2 and Gemma 3 on the GPU against the CPU pass (itself checked against transformers and the reference
 * transformer): synthetic 12-block models with a window of 16 positions and prompts of 200 tokens in a context of 1024,
 * so sliding blocks keep a ring (16 + 64 rows, stored twice) on both devices and it wraps; the soft caps, post-norms,
 * GeGLU, scaled embeddings and the local RoPE of Gemma 3 all run. Logits are compared after every call: prompt chunks
 * of 64 (tensor cores) and of 12 (matrix-vector kernels), decode steps, a batch; resident, streamed, and with the
 * CPU taking blocks (its single-block runner's own ring, and the K/V hand-off between the two caches).
 */
@Tag("gpu")
@ExtendWith(GpuCondition.class)
class GemmaGpuTest {

    private static final int CONTEXT = 1024;
    private static final int WINDOW = 16;

    @RegisterExtension
    static final GpuTests.BackendSession gpu = new GpuTests.BackendSession();
    static CpuBackend cpu;

    @TempDir
    static Path tmp;

    @BeforeAll
    static void open() {
        cpu = new CpuBackend(0);
    }

    @AfterAll
    static void close() {
        if (cpu != null) {
            cpu.close();
        }
    }

    @ParameterizedTest(name = "{0} {1} placement {2}")
    @CsvSource({
            "GEMMA2, Q8_0, resident", "GEMMA3, Q8_0, resident", "GEMMA2, F16, resident", "GEMMA3, Q4_K_M, resident",
            "GEMMA2, Q8_0, stream", "GEMMA3, Q8_0, stream", "GEMMA2, Q8_0, cpu", "GEMMA3, Q8_0, cpu"})
    void logitsMatchTheCpuThroughTheRing(Architecture arch, QuantPreset quant, String placement) {
        Path path = tmp.resolve(arch + "-" + quant + ".gguf");
        // 12 blocks (gemma3: 5 and 11 global), so that a plan can stream some and keep others
        SyntheticModelWriter.write(new SyntheticModelSpec("gemma-gpu", arch, 256, 12, 512, 8, 4, 0, 512, 512, quant,
                true, 5, WINDOW), path);
        String label = arch + " " + quant + " " + placement;
        try (Model model = Model.load(path);
             ForwardPass pc = cpu.prepare(model, CONTEXT, 64);
             TieredForwardPass pg = Passes.on(gpu.backend(), model, CONTEXT, 64,
                     options(placement, model, CONTEXT, 0.4))) {
            PlacementPlan plan = pg.plan();
            if (!placement.equals("resident")) {
                assertTrue(plan.count(Placement.RESIDENT) < plan.placements().length, plan.toString());
            }
            if (placement.equals("cpu")) {
                assertTrue(plan.count(Placement.CPU) > 0, plan.toString());
            }
            int vocab = model.config().vocabularySize();
            SplittableRandom rnd = new SplittableRandom(label.hashCode());
            int[] tokens = new int[240];
            for (int i = 0; i < tokens.length; i++) {
                tokens[i] = 3 + rnd.nextInt(vocab - 3);
            }
            float[] lc = new float[vocab];
            float[] lg = new float[vocab];
            double worst = 0;
            try (KvCache cc = pc.newKvCache(CONTEXT); KvCache cg = pg.newKvCache(CONTEXT)) {
                assertTrue(cg.maxRewind() < Integer.MAX_VALUE, "the GPU cache keeps sliding blocks in a ring");
                int p = 0;
                // 64-token chunks (tensor cores), then 12-token chunks (matrix-vector kernels): 200 positions
                for (int chunk : new int[] {64, 64, 12, 12, 12, 12, 12, 12}) {
                    pc.forward(cc, tokens, p, chunk, p, lc);
                    pg.forward(cg, tokens, p, chunk, p, lg);
                    double tol = chunk >= 16 ? CudaForwardPassGpuTest.TOL_GEMM : CudaForwardPassGpuTest.tolFp32(model);
                    worst = Math.max(worst, check(lg, lc, tol, label + " chunk " + chunk + " @" + p));
                    p += chunk;
                }
                for (; p < tokens.length; p++) { // decode: past the ring's 80 rows again
                    pc.forward(cc, tokens, p, 1, p, lc);
                    pg.forward(cg, tokens, p, 1, p, lg);
                    worst = Math.max(worst, check(lg, lc, CudaForwardPassGpuTest.TOL_GEMM, label + " decode @" + p));
                }
            }
            // a batch of three sequences at different depths (one before the window fills)
            int[] lengths = {5, 40, 150};
            KvCache[] cpuCaches = new KvCache[3];
            KvCache[] gpuCaches = new KvCache[3];
            try {
                int[] next = new int[3];
                int[] positions = new int[3];
                for (int s = 0; s < 3; s++) {
                    cpuCaches[s] = pc.newKvCache(CONTEXT);
                    gpuCaches[s] = pg.newKvCache(CONTEXT);
                    for (int q = 0; q < lengths[s]; q += 64) {
                        int n = Math.min(64, lengths[s] - q);
                        pc.forward(cpuCaches[s], tokens, q, n, q, lc);
                        pg.forward(gpuCaches[s], tokens, q, n, q, lg);
                    }
                    next[s] = tokens[lengths[s]];
                    positions[s] = lengths[s];
                }
                float[][] bc = new float[3][vocab];
                float[][] bg = new float[3][vocab];
                pc.forwardBatch(cpuCaches, next, positions, 3, bc);
                pg.forwardBatch(gpuCaches, next, positions, 3, bg);
                for (int s = 0; s < 3; s++) {
                    worst = Math.max(worst, check(bg[s], bc[s], CudaForwardPassGpuTest.TOL_GEMM,
                            label + " batch sequence " + s));
                }
            } finally {
                for (int s = 0; s < 3; s++) {
                    if (cpuCaches[s] != null) {
                        cpuCaches[s].close();
                    }
                    if (gpuCaches[s] != null) {
                        gpuCaches[s].close();
                    }
                }
            }
            GpuTests.report(String.format("gemma %-24s %d resident / %d streamed / %d cpu units, worst relErr %.2e",
                    label, plan.count(Placement.RESIDENT), plan.count(Placement.STREAMED), plan.count(Placement.CPU),
                    worst));
        }
    }

    /**
     * transformers' own Gemma 2 / Gemma 3 directories (window 8, a 38-token text; src/test/resources/transformers) on
     * the GPU in a context of 256, where the sliding blocks keep a ring of 8 + 64 rows: every position's logits,
     * token by token and as one prompt, against transformers' float32 logits (tolerance 2e-3: the fp16 KV cache), and
     * the greedy continuation — resident, and with 60 % of the weights on the GPU, streamed or with the CPU taking
     * blocks.
     */
    @ParameterizedTest(name = "{0} placement {1}")
    @CsvSource({"hf-gemma2, resident", "hf-gemma3, resident", "hf-gemma2, cpu", "hf-gemma3, stream"})
    void transformersLogitsOnTheGpu(String name, String placement) throws Exception {
        Path dir = Path.of(getClass().getResource("/transformers/" + name + "/config.json").toURI()).getParent();
        com.fasterxml.jackson.databind.JsonNode ref = new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(dir.resolve("ref-text.json").toFile());
        int[] prompt = new int[ref.get("ids").size()];
        for (int i = 0; i < prompt.length; i++) {
            prompt[i] = ref.get("ids").get(i).asInt();
        }
        int[] greedy = new int[ref.get("greedy").size()];
        for (int i = 0; i < greedy.length; i++) {
            greedy[i] = ref.get("greedy").get(i).asInt();
        }
        int vocab = ref.get("vocab_size").asInt();
        java.nio.ByteBuffer bytes = java.nio.ByteBuffer.wrap(java.nio.file.Files.readAllBytes(dir.resolve("ref-text.f32")))
                .order(java.nio.ByteOrder.LITTLE_ENDIAN);
        float[][] expected = new float[prompt.length][vocab];
        for (float[] row : expected) {
            bytes.asFloatBuffer().get(row);
            bytes.position(bytes.position() + 4 * vocab);
        }
        try (Model model = Model.load(dir);
             TieredForwardPass pg = Passes.on(gpu.backend(), model, 256, 64, options(placement, model, 256, 0.6))) {
            float[] logits = new float[vocab];
            double worst = 0;
            try (KvCache cache = pg.newKvCache(256)) {
                assertTrue(cache.maxRewind() < Integer.MAX_VALUE, "sliding blocks keep a ring");
                for (int p = 0; p < prompt.length; p++) {
                    pg.forward(cache, prompt, p, 1, p, logits);
                    worst = Math.max(worst, check(logits, expected[p], 2e-3, name + " decode position " + p));
                }
            }
            try (KvCache cache = pg.newKvCache(256)) {
                pg.forward(cache, prompt, 0, prompt.length, 0, logits);
                worst = Math.max(worst, check(logits, expected[prompt.length - 1], 2e-3, name + " whole prompt"));
                int[] next = new int[1];
                for (int i = 0; i < greedy.length; i++) {
                    int best = 0;
                    for (int t = 1; t < vocab; t++) {
                        if (logits[t] > logits[best]) {
                            best = t;
                        }
                    }
                    org.junit.jupiter.api.Assertions.assertEquals(greedy[i], best, name + " greedy token " + i);
                    next[0] = best;
                    pg.forward(cache, next, 0, 1, prompt.length + i, logits);
                }
            }
            GpuTests.report(String.format("gemma transformers %s %s: worst relErr %.2e", name, placement, worst));
        }
    }

    /**
     * Resident: everything; stream / cpu: {@code fraction} of the resident plan's bytes (room for the head and two
     * staging slots at least), the rest streamed or on the CPU.
     */
    private static OffloadOptions options(String placement, Model model, int context, double fraction) {
        if (placement.equals("resident")) {
            return OffloadOptions.DEFAULTS;
        }
        long total;
        try (TieredForwardPass resident = Passes.on(gpu.backend(), model, context, 64, OffloadOptions.DEFAULTS)) {
            total = resident.plan().residentBytes();
        }
        return OffloadOptions.DEFAULTS.withGpuMemoryBudget((long) (fraction * total)).withPrefetchDepth(1)
                .withPlacement(placement);
    }

    private static double check(float[] got, float[] want, double tol, String what) {
        double err = GpuTests.relErr(got, want);
        assertTrue(err <= tol, what + ": relErr " + err + " > " + tol);
        return err;
    }
}
