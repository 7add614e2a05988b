package io.offload4j.engine;

import java.nio.file.Path;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Prints the KV cache one request holds (kept by the prefix cache after it ends: the cache it ran with) for a context
 * and a request of {@code prompt} + {@code max} tokens, on the CPU. Not a test: a program to run on demand.
 *
 * <p>With {@code max} 0, a request without max tokens (a chat model's usual request: it may run to the end of the
 * context): after {@code at} tokens of its reply, what its cache reserves ({@link EngineStats#runningKvCacheBytes}) and
 * the engine's memory report (on the CPU, what the KV pages hold), then it is cancelled; and its time to first token.
 *
 * <pre>
 * KvMemoryPerRequest MODEL.gguf [context 4096] [prompt 512] [max 128] [at 128]
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
            if (max <= 0) {
                int at = args.length > 4 ? Integer.parseInt(args[4]) : 128;
                for (int run = 0; run < 3; run++) { // the first warms the JIT
                    withoutMaxTokens(e, prompt, at);
                }
                return;
            }
            e.generate(GenerationRequest.of(prompt, max, SamplingParams.GREEDY), GenerationListener.NONE);
            System.out.printf(Locale.ROOT, "context %d, request %d + %d tokens: its KV cache %.1f MiB%n", context,
                    promptTokens, max, e.stats().prefixCacheBytes() / 1048576.0);
        }
    }

    private static void withoutMaxTokens(InferenceEngine e, int[] prompt, int at) {
        long start = System.nanoTime();
        long[] firstToken = new long[1];
        String[] seen = new String[2];
        Generation[] generation = new Generation[1];
        java.util.concurrent.CountDownLatch done = new java.util.concurrent.CountDownLatch(1);
        generation[0] = e.submit(GenerationRequest.of(prompt, 0, SamplingParams.GREEDY), new GenerationListener() {
            int tokens;

            @Override
            public void onToken(int token) {
                if (tokens++ == 0) {
                    firstToken[0] = System.nanoTime() - start;
                }
                if (tokens == at) {
                    seen[0] = String.format(Locale.ROOT, "%.1f MiB", e.stats().runningKvCacheBytes() / 1048576.0);
                    seen[1] = e.memoryReport().lines().findFirst().orElse("");
                    generation[0].cancel();
                    done.countDown();
                }
            }
        });
        try {
            done.await();
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt();
        }
        generation[0].result().exceptionally(x -> null).join();
        System.out.printf(Locale.ROOT, "request of %d tokens without max tokens: first token after %.1f ms; after %d"
                + " tokens its cache reserves %s; %s%n", prompt.length, firstToken[0] / 1e6, at, seen[0], seen[1]);
    }
}
