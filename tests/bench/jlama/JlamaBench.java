import com.github.tjake.jlama.model.AbstractModel;
import com.github.tjake.jlama.model.ModelSupport;
import com.github.tjake.jlama.model.functions.Generator;
import com.github.tjake.jlama.safetensors.DType;
import com.github.tjake.jlama.safetensors.prompt.PromptContext;
import com.github.tjake.jlama.util.PhysicalCoreExecutor;
import io.offload4j.model.Architecture;
import io.offload4j.safetensors.SafetensorsDtype;
import io.offload4j.model.TwinModels;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.UUID;

/**
 * Jlama (com.github.tjake:jlama-core) on a Hugging Face directory of the same shape and random weights as the
 * synthetic GGUF models of CpuBenchmark: prefill and decode tokens/s, same thread count. Run by
 * tests/bench/jlama-bench.sh, which supplies the classpath.
 *
 * <pre>
 * java ... JlamaBench.java write DIR small|llama32-1b [BF16|F16|F32]
 * java ... JlamaBench.java run DIR threads promptTokens genTokens reps [BF16|Q4|I8]
 * </pre>
 */
public final class JlamaBench {
    public static void main(String[] args) throws Exception {
        switch (args[0]) {
            case "write" -> write(Path.of(args[1]), args[2], args.length > 3 ? args[3] : "BF16");
            case "run" -> run(new File(args[1]), Integer.parseInt(args[2]), Integer.parseInt(args[3]),
                    Integer.parseInt(args[4]), Integer.parseInt(args[5]), args.length > 6 ? args[6] : "BF16");
            default -> throw new IllegalArgumentException("write or run");
        }
    }

    /** The shapes of CpuBenchmark's synthetic models (llama, random weights). */
    static void write(Path dir, String shape, String dtype) throws java.io.IOException {
        SafetensorsDtype d = SafetensorsDtype.valueOf(dtype);
        TwinModels.Spec spec = switch (shape) {
            case "small" -> new TwinModels.Spec(Architecture.LLAMA, 1024, 24, 16, 4, 0, 4096, 32000, d, false, 1,
                    TwinModels.Rope.DEFAULT, 380);
            case "llama32-1b" -> new TwinModels.Spec(Architecture.LLAMA, 2048, 16, 32, 8, 0, 8192, 128256, d, true, 1,
                    TwinModels.Rope.DEFAULT, 1);
            default -> throw new IllegalArgumentException("shape small or llama32-1b");
        };
        TwinModels.writeHuggingFace(spec, dir);
        // Room for a 512-token prompt and the generated tokens (TwinModels writes 512).
        Path config = dir.resolve("config.json");
        Files.writeString(config, Files.readString(config).replace("\"max_position_embeddings\" : 512",
                "\"max_position_embeddings\" : 4096"));
        System.out.println("wrote " + dir + " (" + spec + ")");
    }

    static void run(File dir, int threads, int promptTokens, int genTokens, int reps, String quant) throws Exception {
        PhysicalCoreExecutor.overrideThreadCount(threads);
        Optional<DType> q = quant.equals("BF16") ? Optional.empty() : Optional.of(DType.valueOf(quant));
        Path work = Files.createTempDirectory("jlama-work");
        AbstractModel m = ModelSupport.loadModel(dir, work.toFile(), DType.F32, DType.I8, q, Optional.empty());
        // Random words: the synthetic vocabulary's byte fallback tokenizes anything; Jlama reports the count.
        // Random words up to promptTokens tokens by Jlama's own tokenizer (it adds BOS).
        SplittableRandom r = new SplittableRandom(7);
        StringBuilder prompt = new StringBuilder();
        while (true) {
            StringBuilder word = new StringBuilder();
            for (int i = 0, n = 2 + r.nextInt(6); i < n; i++) {
                word.append((char) ('a' + r.nextInt(26)));
            }
            if (m.getTokenizer().encode(prompt + word.toString() + " ").length >= promptTokens) {
                break;
            }
            prompt.append(word).append(' ');
        }
        double[] pp = new double[reps];
        double[] tg = new double[reps];
        for (int i = 0; i <= reps; i++) { // the first is a warm-up
            // Jlama's token limit counts the prompt too.
            Generator.Response resp = m.generate(UUID.randomUUID(), PromptContext.of(prompt.toString()), 0.0f,
                    promptTokens + genTokens, (s, f) -> {});
            double ppRate = resp.promptTokens / (resp.promptTimeMs / 1000.0);
            double tgRate = resp.generatedTokens / (resp.generateTimeMs / 1000.0);
            System.out.printf(Locale.ROOT, "jlama %s rep %d: prompt %d tokens %.1f tok/s, generated %d tokens %.1f tok/s%n",
                    quant, i, resp.promptTokens, ppRate, resp.generatedTokens, tgRate);
            if (i > 0) {
                pp[i - 1] = ppRate;
                tg[i - 1] = tgRate;
            }
        }
        Arrays.sort(pp);
        Arrays.sort(tg);
        System.out.printf(Locale.ROOT, "JLAMA %s threads %d: prefill %.1f (best %.1f) tok/s, decode %.1f (best %.1f) tok/s%n",
                quant, threads, pp[reps / 2], pp[reps - 1], tg[reps / 2], tg[reps - 1]);
    }
}
