package io.offload4j.tokenizer;

import io.offload4j.gguf.GgufFile;
import io.offload4j.testing.SharedData;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Encode/decode throughput on a large text: llama.cpp's tokenizer test inputs (multilingual, emoji,
 * whitespace runs, digits) repeated to the requested size. Reports the best of several rounds.
 *
 * A second text of pseudo-random words (Latin, accented Latin, Cyrillic, Greek, CJK, digits, punctuation,
 * emoji; fixed seed) shows throughput when few pieces repeat, i.e. with little help from the per-call
 * piece cache.
 *
 * <p>Run from the repository root:
 * <pre>
 * ./mvnw -q -B -pl provider test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.cp -Dmdep.includeScope=test
 * cd provider &amp;&amp; java -cp "target/classes:target/test-classes:$(cat target/bench.cp)" io.offload4j.tokenizer.TokenizerBenchmark 2 5
 * </pre>
 * args: [megabytes=2] [rounds=5] [names...: spm gpt2 llama3 qwen2].
 */
public final class TokenizerBenchmark {

    private TokenizerBenchmark() {}

    public static void main(String[] args) throws Exception {
        double mb = args.length > 0 ? Double.parseDouble(args[0]) : 2;
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 5;
        List<String> names = args.length > 2 ? List.of(args).subList(2, args.length) : List.of("spm", "gpt2", "llama3", "qwen2");

        Path inp = SharedData.find("vocab/ggml-vocab-llama-bpe.gguf.inp").orElseThrow(() ->
                new IllegalStateException("reference data not found: set -Doffload4j.shared=DIR (the folder holding vocab/)"));
        String unit = String.join("\n", ReferenceVectors.inputs(inp)) + "\n";
        long target = (long) (mb * 1024 * 1024);
        int unitBytes = unit.getBytes(StandardCharsets.UTF_8).length;
        String repeated = unit.repeat((int) Math.max(1, (target + unitBytes - 1) / unitBytes));
        String random = randomWords(target);
        System.out.printf("texts: 'repeated' = llama.cpp test inputs repeated, %.2f MB; 'random' = random words, %.2f MB (UTF-8)%n",
                repeated.getBytes(StandardCharsets.UTF_8).length / 1048576.0, random.getBytes(StandardCharsets.UTF_8).length / 1048576.0);
        System.out.printf("best of %d rounds after one warm-up round, %d cores, Java %s%n",
                rounds, Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"));

        Path tmp = Files.createTempDirectory("bench");
        Map<String, Supplier<Tokenizer>> all = new LinkedHashMap<>();
        all.put("spm", () -> gguf("ggml-vocab-llama-spm.gguf.gz", tmp));
        all.put("gpt2", () -> gguf("ggml-vocab-gpt-2.gguf.gz", tmp));
        all.put("llama3", TestVocabularies::llama3);
        all.put("qwen2", TestVocabularies::qwen2);
        System.out.printf("%-8s %-9s %8s %10s %14s %12s %14s%n", "vocab", "text", "load ms", "tokens", "encode tok/s", "encode MB/s", "decode tok/s");
        for (String name : names) {
            long t0 = System.nanoTime();
            Tokenizer t = all.get(name).get();
            long loadMs = (System.nanoTime() - t0) / 1_000_000;
            run(name, "repeated", loadMs, t, repeated, rounds);
            run(name, "random", loadMs, t, random, rounds);
        }
    }

    private static void run(String name, String textName, long loadMs, Tokenizer t, String text, int rounds) {
        {
            double bestEncode = Double.MAX_VALUE;
            double bestDecode = Double.MAX_VALUE;
            int[] ids = null;
            for (int r = 0; r < rounds + 1; r++) { // the first round warms up
                long s = System.nanoTime();
                ids = t.encode(text, false, false);
                double e = (System.nanoTime() - s) / 1e9;
                s = System.nanoTime();
                String back = t.decode(ids);
                double d = (System.nanoTime() - s) / 1e9;
                if (back.length() == 0) throw new AssertionError();
                if (r > 0) {
                    bestEncode = Math.min(bestEncode, e);
                    bestDecode = Math.min(bestDecode, d);
                }
            }
            double mb = text.getBytes(StandardCharsets.UTF_8).length / 1048576.0;
            System.out.printf("%-8s %-9s %8d %10d %14.0f %12.1f %14.0f%n", name, textName, loadMs, ids.length,
                    ids.length / bestEncode, mb / bestEncode, ids.length / bestDecode);
        }
    }

    /** Pseudo-random words of several scripts, separated by spaces and now and then newlines (fixed seed). */
    static String randomWords(long targetBytes) {
        java.util.Random r = new java.util.Random(42);
        int[][] ranges = {{'a', 'z'}, {'a', 'z'}, {'a', 'z'}, {'A', 'Z'}, {0xE0, 0xFF}, {0x430, 0x44F}, {0x3B1, 0x3C9},
                {0x4E00, 0x9FFF}, {'0', '9'}, {'!', '/'}, {0x1F600, 0x1F64F}};
        StringBuilder b = new StringBuilder();
        long bytes = 0;
        while (bytes < targetBytes) {
            int[] range = ranges[r.nextInt(ranges.length)];
            int len = 1 + r.nextInt(9);
            for (int i = 0; i < len; i++) {
                int cp = range[0] + r.nextInt(range[1] - range[0] + 1);
                b.appendCodePoint(cp);
                bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
            }
            b.append(r.nextInt(12) == 0 ? '\n' : ' ');
            bytes++;
        }
        return b.toString();
    }

    private static Tokenizer gguf(String gz, Path tmp) {
        Path p = SharedData.find("vocab/" + gz).orElseThrow();
        try (GgufFile f = GgufFile.open(unzip(p, tmp))) {
            return Tokenizers.fromGguf(f.metadata());
        }
    }

    private static Path unzip(Path gz, Path dir) {
        try (var in = new java.util.zip.GZIPInputStream(Files.newInputStream(gz))) {
            Path out = dir.resolve(gz.getFileName().toString().replace(".gz", ""));
            Files.copy(in, out, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            return out;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
