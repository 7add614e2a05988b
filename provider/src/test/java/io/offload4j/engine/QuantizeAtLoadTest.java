package io.offload4j.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.backend.cpu.CpuBackend;
import io.offload4j.gguf.GgmlType;
import io.offload4j.gguf.GgufFile;
import io.offload4j.gguf.GgufTensorInfo;
import io.offload4j.model.Architecture;
import io.offload4j.model.LoadQuantization;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.Quantization;
import io.offload4j.model.QuantizedGguf;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import io.offload4j.model.TwinModels;
import io.offload4j.safetensors.SafetensorsDtype;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Quantize at load ({@link EngineOptions#quantization()}): the quantized model is what the GGUF quantizations of the
 * same weights are (byte for byte, so within the same bounds: their logit errors against the float model are
 * measured and printed), a Hugging Face directory quantizes to a model as close to the float one as those, the
 * cache file reloads to identical logits and is rewritten when the source changes, the heap stays far below the
 * model's size, and bad values are refused naming the option and the allowed values.
 */
class QuantizeAtLoadTest {

    private static final int[] TOKENS = {1, 300, 17, 42, 311, 260, 5, 99, 200, 3, 77, 301, 18, 19, 250, 120};

    @TempDir
    Path tmp;

    /**
     * The synthetic writer draws each tensor's float rows from its seed and quantizes them with the same kernels as
     * llama.cpp's presets; quantizing the F32 file at load must give exactly the tensors of the file written in that
     * preset, and so the same logits. The logit errors against the F32 model are the bounds the GGUF quantizations
     * of these weights reach (printed; asserted below loose ceilings).
     */
    @ParameterizedTest(name = "{0} ({1})")
    @CsvSource({"q8_0, Q8_0, 0.02", "q6_k, Q6_K, 0.05", "q4_k, Q4_K_M, 0.2"})
    void quantizedAtLoadIsTheGgufQuantizationOfTheSameWeights(String option, QuantPreset preset, double ceiling) {
        for (Architecture arch : new Architecture[] {Architecture.LLAMA, Architecture.PHI3}) {
            SyntheticModelSpec spec = SyntheticModelSpec.tiny(arch, QuantPreset.F32);
            Path f32 = tmp.resolve(arch + "-f32.gguf");
            Path gguf = tmp.resolve(arch + "-" + preset + ".gguf");
            SyntheticModelWriter.write(spec, f32);
            SyntheticModelWriter.write(spec.withQuantization(preset), gguf);
            Path atLoad = tmp.resolve(arch + "-" + option + ".gguf");
            try (Model m = Model.load(f32)) {
                QuantizedGguf.write(m, m.metadata(), Quantization.parse(option, "test"), atLoad);
            }
            assertSameTensors(gguf, atLoad);
            float[] reference = lastLogits(f32);
            double fromFile = relativeError(lastLogits(gguf), reference);
            double fromLoad = relativeError(lastLogits(atLoad), reference);
            System.out.printf("quantize at load %s %s: logits vs F32 %.3e (GGUF %s of the same weights: %.3e)%n",
                    arch, option, fromLoad, preset, fromFile);
            assertEquals(fromFile, fromLoad, 1e-6, "the same tensors: the same logits up to summation order");
            assertTrue(fromLoad > 0 && fromLoad < ceiling, option + ": " + fromLoad);
        }
    }

    /**
     * A Hugging Face directory quantized at load (through the engine) is the quantization of its GGUF conversion:
     * the same tensors, byte for byte, as quantizing the GGUF file llama.cpp's converter would write (a llama's Q/K
     * rows permuted for adjacent-pair RoPE, Phi-3's fused tensors and LongRoPE factors), so its logits are as close
     * to the unquantized model's as that GGUF quantization's are to the GGUF's (printed; loose ceilings asserted).
     */
    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"LLAMA, q8_0, 0.05", "LLAMA, q4_k, 0.3", "PHI3, q6_k, 0.15", "QWEN2, q4_k, 0.3"})
    void huggingFaceDirectoryQuantizesAsItsGgufConversionDoes(Architecture arch, String option, double ceiling)
            throws Exception {
        // K-quants need rows of 256 (narrower ones take Q8_0, llama.cpp's fallback): a 256-wide twin
        TwinModels.Spec spec = new TwinModels.Spec(arch, 256, 2, 4, 2, 0, 512, 320, SafetensorsDtype.BF16, false, 2,
                arch == Architecture.PHI3 ? TwinModels.Rope.LONGROPE : TwinModels.Rope.DEFAULT, 5);
        Path hf = TwinModels.writeHuggingFace(spec, tmp.resolve("hf-" + arch));
        Path twin = TwinModels.writeGguf(spec, tmp.resolve("twin-" + arch + ".gguf"), true);
        Quantization q = Quantization.parse(option, "test");
        Path fromHf = tmp.resolve("from-hf.gguf");
        Path fromTwin = tmp.resolve("from-twin.gguf");
        try (Model m = Model.load(hf)) {
            QuantizedGguf.write(m, ModelFiles.tokenizerMetadata(m), q, fromHf);
        }
        try (Model m = Model.load(twin)) {
            QuantizedGguf.write(m, m.metadata(), q, fromTwin);
        }
        assertSameTensors(fromTwin, fromHf);

        double viaEngine = relativeError(engineLogits(hf, EngineOptions.DEFAULTS.withQuantization(option)),
                engineLogits(hf, EngineOptions.DEFAULTS));
        double gguf = relativeError(lastLogits(fromTwin), lastLogits(twin));
        System.out.printf("quantize at load, Hugging Face %s BF16 → %s: logits vs unquantized %.3e (its GGUF"
                + " conversion quantized: %.3e)%n", arch, option, viaEngine, gguf);
        assertEquals(gguf, viaEngine, 1e-4, "the same quantized tensors: the same error up to summation order");
        assertTrue(viaEngine > 0 && viaEngine < ceiling, option + ": " + viaEngine);
    }

    /** The cache file: written once, mapped by the next start (identical logits), rewritten when the source changes. */
    @Test
    void cacheFileReloadsToIdenticalLogitsAndFollowsTheSource() throws Exception {
        Path hf = TwinModels.writeHuggingFace(TwinModels.tiny(Architecture.QWEN2).with(SafetensorsDtype.BF16),
                tmp.resolve("hf"));
        Path cacheDir = Files.createDirectories(tmp.resolve("cache"));
        EngineOptions options = EngineOptions.DEFAULTS.withQuantization("q8_0").withQuantizationCache(cacheDir);
        float[] first = engineLogits(hf, options);
        Path cached = cacheDir.resolve("hf.q8_0.gguf");
        assertTrue(Files.isRegularFile(cached), "kept in the cache folder");
        FileTime written = Files.getLastModifiedTime(cached);
        float[] second = engineLogits(hf, options);
        assertArrayEquals(first, second, "the next start maps the same file: identical logits");
        assertEquals(written, Files.getLastModifiedTime(cached), "not written again");
        try (Model m = Model.load(cached)) {
            assertEquals(GgmlType.Q8_0, m.weights().blocks().getFirst().wq().type());
            assertEquals("q8_0", m.metadata().getString(QuantizedGguf.KEY_FORMAT));
        }
        float[] direct = engineLogits(cached, EngineOptions.DEFAULTS);
        assertArrayEquals(first, direct, "the cache file is a GGUF model of its own");

        Path shard = hf.resolve("model.safetensors");
        Files.setLastModifiedTime(shard, FileTime.fromMillis(Files.getLastModifiedTime(shard).toMillis() + 5000));
        Files.setLastModifiedTime(cached, FileTime.fromMillis(0));
        engineLogits(hf, options);
        assertFalse(Files.getLastModifiedTime(cached).toMillis() == 0, "a changed source is quantized again");

        // without a cache file nothing is left behind in the temporary folder
        long before = countTemporary();
        engineLogits(hf, EngineOptions.DEFAULTS.withQuantization("q4_k"));
        assertEquals(before, countTemporary(), "the temporary quantized file is deleted once mapped");
    }

    private static long countTemporary() throws Exception {
        try (var s = Files.list(Path.of(System.getProperty("java.io.tmpdir")))) {
            return s.filter(p -> p.getFileName().toString().startsWith("offload4j-hf-")).count();
        }
    }

    /**
     * The heap stays bounded: a child JVM with a 48 MiB heap quantizes a 190 MiB F32 model (one row buffer per task,
     * tensors written straight into the mapped output).
     */
    @Test
    void peakHeapStaysFarBelowTheModelSize() throws Exception {
        Path f32 = tmp.resolve("big-f32.gguf");
        SyntheticModelWriter.write(new SyntheticModelSpec("big", Architecture.LLAMA, 1024, 4, 2816, 8, 4, 0, 2048, 512,
                QuantPreset.F32, false, 9), f32);
        Path out = tmp.resolve("big-q8.gguf");
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElseThrow(),
                "-Xmx48m", "-XX:TieredStopAtLevel=1", "--enable-native-access=ALL-UNNAMED", "-cp",
                System.getProperty("java.class.path"), QuantizeAtLoadHeapMain.class.getName(), f32.toString(), "q8_0",
                out.toString()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "child JVM did not finish");
        assertEquals(0, p.exitValue(), "child JVM failed:\n" + output);
        Map<String, Long> values = new java.util.HashMap<>();
        for (String line : output.split("\\R")) {
            int eq = line.indexOf('=');
            if (eq > 0 && line.substring(eq + 1).matches("\\d+")) {
                values.put(line.substring(0, eq), Long.parseLong(line.substring(eq + 1)));
            }
        }
        long peak = values.get("peakHeap");
        long model = values.get("matrixBytes");
        System.out.printf("quantize at load: %d MiB of F32 matrices quantized with a peak heap of %d MiB (-Xmx48m)%n",
                model >> 20, peak >> 20);
        assertTrue(model > 150L << 20, "the model is larger than the heap: " + model);
        assertTrue(peak < 48L << 20, "peak heap " + peak);
        try (Model m = Model.load(out)) {
            assertEquals(GgmlType.Q8_0, m.weights().blocks().getFirst().wDown().type());
        }
    }

    /** A GGUF file quantized throughout is loaded as it is (re-quantizing would only lose precision). */
    @Test
    void anAlreadyQuantizedModelIsLoadedAsItIs() {
        Path q8 = tmp.resolve("q8.gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tiny(Architecture.LLAMA, QuantPreset.Q8_0), q8);
        try (InferenceEngine e = InferenceEngine.load(q8, EngineOptions.DEFAULTS.withDevice("cpu").withThreads(2)
                .withContextLength(32).withQuantization("q4_k"))) {
            assertEquals(q8, e.model().path());
            assertEquals(GgmlType.Q8_0, e.model().weights().blocks().getFirst().wq().type());
        }
    }

    @Test
    void badValuesNameTheOptionAndTheAllowedOnes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> EngineOptions.DEFAULTS.withQuantization("int4"));
        assertTrue(e.getMessage().contains("quantization is 'int4'"), e.getMessage());
        assertTrue(e.getMessage().contains("none, q8_0, q4_k, q6_k"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Quantization.parse("q5", "--quantize"));
        assertTrue(e.getMessage().startsWith("--quantize is 'q5'"), e.getMessage());
        assertEquals(Quantization.Q4_K, Quantization.parse("Q4_K_M", "x"));
        assertEquals(Quantization.NONE, Quantization.parse("", "x"));
        assertEquals(LoadQuantization.NONE, EngineOptions.DEFAULTS.quantization());
    }

    // ---- helpers

    private static void assertSameTensors(Path expected, Path actual) {
        try (GgufFile a = GgufFile.open(expected); GgufFile b = GgufFile.open(actual)) {
            assertEquals(a.tensors().keySet(), b.tensors().keySet());
            for (GgufTensorInfo t : a.tensors().values()) {
                GgufTensorInfo u = b.tensors().get(t.name());
                assertEquals(t.type(), u.type(), t.name());
                assertArrayEquals(t.dims(), u.dims(), t.name());
                assertEquals(-1, a.tensorData(t).mismatch(b.tensorData(u)), t.name() + ": bytes differ");
            }
        }
    }

    private static float[] lastLogits(Path file) {
        try (Model m = Model.load(file);
             CpuBackend cpu = new CpuBackend(2);
             ForwardPass pass = cpu.prepare(m, 32, 8);
             KvCache cache = pass.newKvCache(32)) {
            float[] logits = new float[m.config().vocabularySize()];
            for (int pos = 0; pos < TOKENS.length; pos += 8) {
                pass.forward(cache, TOKENS, pos, 8, pos, logits);
            }
            return logits;
        }
    }

    private static float[] engineLogits(Path model, EngineOptions options) {
        ForwardPass[] pass = new ForwardPass[1];
        try (InferenceEngine e = InferenceEngine.load(model, options.withDevice("cpu").withThreads(2)
                .withContextLength(32), (p, t) -> pass[0] = p)) {
            float[] logits = new float[e.config().vocabularySize()];
            try (KvCache cache = pass[0].newKvCache(32)) {
                pass[0].forward(cache, TOKENS, 0, TOKENS.length, 0, logits);
            }
            return logits;
        }
    }

    private static double relativeError(float[] a, float[] b) {
        double maxDiff = 0;
        double maxRef = 0;
        for (int i = 0; i < b.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
            maxRef = Math.max(maxRef, Math.abs(b[i]));
        }
        return maxDiff / maxRef;
    }
}
