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
import java.util.List;
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
 * Phi-3 (fused Q/K/V and gate/up split into views, RoPE on 3/4 of each head, LongRoPE's factors and attention
 * factor) and a Mistral-Nemo-shaped llama (head dimension not width / heads) on the GPU against the CPU backend:
 * resident with the short and the long LongRoPE factors, then offloaded (streamed, and with blocks on the CPU)
 * against the resident run. Tolerances as {@link CudaForwardPassGpuTest} and {@link OffloadGpuTest}.
 */
@Tag("gpu")
@ExtendWith(GpuCondition.class)
class Phi3AndMistralGpuTest {

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

    private static SyntheticModelSpec spec(String shape, QuantPreset q) {
        return shape.equals("phi3") ? SyntheticModelSpec.tiny(Architecture.PHI3, q) : SyntheticModelSpec.tinyMistral(q);
    }

    /**
     * Context 128 is the synthetic phi3's pre-training context (a quarter of its 512): the short factors; 256 takes
     * the long ones. A 12-token prompt and decode steps (fp32 matrix-vector path), then a 40-token prompt (tensor
     * cores) and decode.
     */
    @ParameterizedTest(name = "{0} {1}, context {2}")
    @CsvSource({"phi3, F32, 128", "phi3, F32, 256", "phi3, F16, 256", "phi3, Q8_0, 128", "phi3, Q4_K_M, 256",
            "mistral, F32, 128", "mistral, Q4_K_M, 128", "mistral, Q6_K, 128"})
    void residentLogitsMatchTheCpu(String shape, QuantPreset quant, int context) {
        Path path = tmp.resolve(shape + "-" + quant + ".gguf");
        if (!path.toFile().exists()) {
            SyntheticModelWriter.write(spec(shape, quant), path);
        }
        String label = shape + " " + quant + " ctx " + context;
        try (Model model = Model.load(path);
             ForwardPass pc = cpu.prepare(model, context, 64);
             TieredForwardPass pg = Passes.on(gpu.backend(), model, context, 64)) {
            int vocab = model.config().vocabularySize();
            SplittableRandom rnd = new SplittableRandom(label.hashCode());
            int[] tokens = new int[60];
            for (int i = 0; i < tokens.length; i++) {
                tokens[i] = 3 + rnd.nextInt(vocab - 3);
            }
            float[] lc = new float[vocab];
            float[] lg = new float[vocab];
            double worstFp32 = 0;
            double worstGemm = 0;
            try (KvCache cc = pc.newKvCache(context); KvCache cg = pg.newKvCache(context)) {
                pc.forward(cc, tokens, 0, 12, 0, lc);
                pg.forward(cg, tokens, 0, 12, 0, lg);
                worstFp32 = Math.max(worstFp32, check(lg, lc, CudaForwardPassGpuTest.tolFp32(model), label + " prompt 12"));
                for (int p = 12; p < 16; p++) {
                    pc.forward(cc, tokens, p, 1, p, lc);
                    pg.forward(cg, tokens, p, 1, p, lg);
                    worstFp32 = Math.max(worstFp32, check(lg, lc, CudaForwardPassGpuTest.tolFp32(model), label + " @" + p));
                }
            }
            try (KvCache cc = pc.newKvCache(context); KvCache cg = pg.newKvCache(context)) {
                pc.forward(cc, tokens, 0, 40, 0, lc);
                pg.forward(cg, tokens, 0, 40, 0, lg);
                worstGemm = Math.max(worstGemm, check(lg, lc, CudaForwardPassGpuTest.TOL_GEMM, label + " prompt 40"));
                for (int p = 40; p < 43; p++) {
                    pc.forward(cc, tokens, p, 1, p, lc);
                    pg.forward(cg, tokens, p, 1, p, lg);
                    worstGemm = Math.max(worstGemm, check(lg, lc, CudaForwardPassGpuTest.TOL_GEMM, label + " @" + p));
                }
            }
            GpuTests.report(String.format("%-28s fp32-path relErr=%.2e  gemm-path relErr=%.2e", label, worstFp32,
                    worstGemm));
        }
    }

    /**
     * Offloaded against resident, OffloadGpuTest's run (prompt, decode, follow-up chunk, batch): streamed units
     * compute with the same kernels (equal to rounding), CPU blocks with the CPU's (fp32 tolerance). The model's
     * context of 128 makes its pre-training context 32, so the passes' 64 positions use the long factors.
     */
    @ParameterizedTest(name = "{0} {1}, placement {2}, budget {3}")
    @CsvSource({"phi3, Q8_0, stream, 0.4", "phi3, F16, cpu, 0.5", "mistral, Q4_K_M, stream, 0.3",
            "mistral, Q8_0, cpu, 0.4"})
    void offloadedLogitsEqualTheResidentRun(String shape, QuantPreset quant, String placement, double fraction) {
        SyntheticModelSpec s = spec(shape, quant);
        // 8 blocks, so that a budget leaves several off the GPU
        s = new SyntheticModelSpec(s.name(), s.architecture(), s.embeddingLength(), 8, s.feedForwardLength(),
                s.headCount(), s.headCountKv(), s.headDim(), s.vocabularySize(), 128, quant, false, 5);
        Path path = tmp.resolve("offload-" + shape + "-" + quant + ".gguf");
        SyntheticModelWriter.write(s, path);
        try (Model model = Model.load(path)) {
            int vocab = model.config().vocabularySize();
            List<float[]> want;
            long total;
            try (TieredForwardPass resident = Passes.on(gpu.backend(), model, 64, 32, OffloadOptions.DEFAULTS)) {
                total = resident.plan().residentBytes();
                want = OffloadGpuTest.run(resident, vocab);
            }
            OffloadOptions options = OffloadOptions.DEFAULTS.withGpuMemoryBudget((long) (fraction * total))
                    .withPrefetchDepth(1).withPlacement(placement);
            try (TieredForwardPass offloaded = Passes.on(gpu.backend(), model, 64, 32, options)) {
                PlacementPlan plan = offloaded.plan();
                assertTrue(plan.count(placement.equals("cpu") ? Placement.CPU : Placement.STREAMED) > 0,
                        plan.toString());
                List<float[]> got = OffloadGpuTest.run(offloaded, vocab);
                double worst = 0;
                for (int i = 0; i < want.size(); i++) {
                    worst = Math.max(worst, GpuTests.relErr(got.get(i), want.get(i)));
                }
                double tol = placement.equals("cpu") ? CudaForwardPassGpuTest.tolFp32(model) : OffloadGpuTest.TOL_SAME;
                GpuTests.report(String.format("offload %s %s %s budget %.0f%%: %s, max difference to resident %.2e",
                        shape, quant, placement, fraction * 100, plan, worst));
                assertTrue(worst <= tol, "max relative logit difference " + worst + " > " + tol);
            }
        }
    }

    private static double check(float[] got, float[] want, double tol, String what) {
        double err = GpuTests.relErr(got, want);
        assertTrue(err <= tol, what + ": relErr " + err + " > " + tol);
        return err;
    }
}
