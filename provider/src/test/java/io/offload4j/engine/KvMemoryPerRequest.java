package io.offload4j.engine;

import java.nio.file.Path;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Prints the KV cache one request holds (kept by the prefix cache after it ends: the cache it ran with) for a context
 * and a request of {@code prompt} + {@code max} tokens, on the CPU. Not a test: a program to run on demand.
 *
 * <pre>
 * KvMemoryPerRequest MODEL.gguf [context 4096] [prompt 512] [max 128]
 * </pre>
 */
public final class KvMemoryPerRequest {

    private KvMemoryPerRequest() {}

    public static void main(String[] args) {
        int context = args.length > 1 ? Integer.parseInt(args[1]) : 4096;
        int promptTokens = args.length > 2 ? Integer.parseInt(args[2]) : 512;
        int max = args.length > 3 ? Integer.parseInt(args[3]) : 128;
        EngineOptions options = EngineOptions.DEFAULTS.withDevice("cpu").withThreads(2).withContextLength(context)
                .withContextBeyondTraining(true);
        try (InferenceEngine e = InferenceEngine.load(Path.of(args[0]), options)) {
            int[] prompt = new SplittableRandom(1).ints(promptTokens, 3, 1000).toArray();
            e.generate(GenerationRequest.of(prompt, max, SamplingParams.GREEDY), GenerationListener.NONE);
            System.out.printf(Locale.ROOT, "context %d, request %d + %d tokens: its KV cache %.1f MiB%n", context,
                    promptTokens, max, e.stats().prefixCacheBytes() / 1048576.0);
        }
    }
}
