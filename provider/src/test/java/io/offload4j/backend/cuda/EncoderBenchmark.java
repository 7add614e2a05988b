package io.offload4j.backend.cuda;

import io.offload4j.backend.Backend;
import io.offload4j.backend.EncoderPass;
import io.offload4j.backend.cpu.CpuBackend;
import io.offload4j.gguf.GgmlType;
import io.offload4j.gguf.GgufWriter;
import io.offload4j.model.EncoderModel;
import io.offload4j.quant.CpuKernels;
import io.offload4j.quant.RowKernel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * Encoder throughput, CPU against GPU: texts per second of a random-weight BERT-shaped GGUF (all-MiniLM-L6-v2's shape,
 * BERT-base's, or both) for a batch of 1 text and of 64 texts of {@code --tokens} tokens each, packed in one pass, on
 * the {@link EncoderPass}es directly (no tokenizer: random ids). Also prints the GPU's hidden states' relative error
 * against the CPU's for the same batch. A program, not a test:
 *
 * <pre>
 *   java -cp "lib/*" io.offload4j.backend.cuda.EncoderBenchmark [--shapes minilm,bert-base] [--tokens 128]
 *        [--batches 1,64] [--quant F32|F16|Q8_0] [--devices cpu,cuda] [--threads 0] [--seconds 3]
 *        [--dir /tmp/offload4j-encoder-bench]
 * </pre>
 *
 * A device {@code cuda/simple} or {@code cuda/wide} runs the GPU with that GEMM kernel forced
 * ({@code offload4j.encoder.gemm}); plain {@code cuda} lets the pass choose.
 */
public final class EncoderBenchmark {

    /** An encoder's shape. */
    record Shape(String name, int dim, int layers, int heads, int ffn, int vocab, int positions) {}

    private static final List<Shape> SHAPES = List.of(
            new Shape("minilm", 384, 6, 12, 1536, 30522, 512),
            new Shape("bert-base", 768, 12, 12, 3072, 30522, 512),
            new Shape("hf-bert-fixture", 64, 2, 4, 128, 273, 64));

    private EncoderBenchmark() {}

    public static void main(String[] args) throws Exception {
        List<String> shapes = List.of("minilm", "bert-base");
        int tokens = 128;
        int[] batches = {1, 64};
        GgmlType quant = GgmlType.F32;
        List<String> devices = List.of("cpu", "cuda");
        int threads = 0;
        double seconds = 3;
        Path dir = Path.of("/tmp/offload4j-encoder-bench");
        for (int i = 0; i < args.length; i += 2) {
            String v = args[i + 1];
            switch (args[i]) {
                case "--shapes" -> shapes = List.of(v.split(","));
                case "--tokens" -> tokens = Integer.parseInt(v);
                case "--batches" -> batches = java.util.Arrays.stream(v.split(",")).mapToInt(Integer::parseInt)
                        .toArray();
                case "--quant" -> quant = GgmlType.valueOf(v.toUpperCase(Locale.ROOT));
                case "--devices" -> devices = List.of(v.split(","));
                case "--threads" -> threads = Integer.parseInt(v);
                case "--seconds" -> seconds = Double.parseDouble(v);
                case "--dir" -> dir = Path.of(v);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        Files.createDirectories(dir);
        int maxBatch = java.util.Arrays.stream(batches).max().orElse(1);
        System.out.println("| shape | quant | device | texts × tokens | ms per pass | texts/s |");
        System.out.println("|---|---|---|---|---|---|");
        List<String> notes = new ArrayList<>();
        for (String name : shapes) {
            Shape s = SHAPES.stream().filter(x -> x.name().equals(name)).findFirst().orElseThrow(
                    () -> new IllegalArgumentException("unknown shape " + name + "; known: " + SHAPES));
            int len = Math.min(tokens, s.positions());
            Path file = dir.resolve(s.name() + "-" + quant + ".gguf");
            if (!Files.exists(file)) {
                write(s, quant, file);
            }
            try (EncoderModel model = EncoderModel.load(file)) {
                float[][] reference = new float[batches.length][];
                for (String device : devices) {
                    String gemm = device.contains("/") ? device.substring(device.indexOf('/') + 1) : "auto";
                    System.setProperty(CudaEncoderKernels.GEMM_PROPERTY, gemm);
                    try (Backend backend = device.equals("cpu") ? new CpuBackend(threads) : new CudaBackend(0);
                         EncoderPass pass = backend.prepareEncoder(model, maxBatch * len)) {
                        for (int b = 0; b < batches.length; b++) {
                            int texts = batches[b];
                            int[] lengths = new int[texts];
                            java.util.Arrays.fill(lengths, len);
                            int[] ids = new SplittableRandom(b).ints(texts * len, 0, s.vocab()).toArray();
                            int[] types = new int[texts * len];
                            float[] hidden = new float[texts * len * s.dim()];
                            long warm = System.nanoTime(); // warm-up: the JIT's compilations, the GPU's clocks
                            int warmRuns = 0;
                            do {
                                pass.encode(ids, types, lengths, texts, hidden);
                                warmRuns++;
                            } while (warmRuns < 3 || System.nanoTime() - warm < seconds * 0.5e9);
                            int runs = 0;
                            long t0 = System.nanoTime();
                            long elapsed;
                            do {
                                pass.encode(ids, types, lengths, texts, hidden);
                                runs++;
                                elapsed = System.nanoTime() - t0;
                            } while (elapsed < seconds * 1e9);
                            double ms = elapsed / 1e6 / runs;
                            System.out.printf(Locale.ROOT, "| %s | %s | %s | %d × %d | %.3f | %.1f |%n", s.name(),
                                    quant, pass.description() + (device.equals("cpu") ? "" : ", GEMM " + gemm), texts,
                                    len, ms, texts * 1000.0 / ms);
                            if (reference[b] == null) {
                                reference[b] = hidden.clone();
                            } else {
                                notes.add(String.format(Locale.ROOT, "%s, %d × %d: %s vs %s: hidden states rel err"
                                        + " %.2e", s.name(), texts, len, device, devices.getFirst(),
                                        GpuTests.relErr(hidden, reference[b])));
                            }
                        }
                    }
                }
            }
        }
        notes.forEach(System.out::println);
    }

    /** A random-weight BERT of shape {@code s} as llama.cpp names its tensors, matrices in {@code type}. */
    static void write(Shape s, GgmlType type, Path file) {
        String[] tokens = new String[s.vocab()];
        tokens[0] = "[PAD]";
        tokens[1] = "[UNK]";
        tokens[2] = "[CLS]";
        tokens[3] = "[SEP]";
        for (int i = 4; i < tokens.length; i++) {
            tokens[i] = "\u2581w" + i;
        }
        GgufWriter w = new GgufWriter().putString("general.architecture", "bert")
                .putString("general.name", "random-" + s.name()).putUInt32("bert.embedding_length", s.dim())
                .putUInt32("bert.block_count", s.layers()).putUInt32("bert.attention.head_count", s.heads())
                .putUInt32("bert.feed_forward_length", s.ffn()).putUInt32("bert.context_length", s.positions())
                .putFloat32("bert.attention.layer_norm_epsilon", 1e-12f).putBool("bert.attention.causal", false)
                .putString("tokenizer.ggml.model", "bert").putStrings("tokenizer.ggml.tokens", tokens)
                .putUInt32("bert.pooling_type", 1);
        int d = s.dim();
        matrix(w, "token_embd.weight", type, s.vocab(), d, 1f);
        matrix(w, "position_embd.weight", GgmlType.F32, s.positions(), d, 0.1f);
        matrix(w, "token_types.weight", GgmlType.F32, 2, d, 0.1f);
        norm(w, "token_embd_norm", d);
        for (int l = 0; l < s.layers(); l++) {
            String p = "blk." + l + ".";
            for (String m : new String[] {"attn_q", "attn_k", "attn_v", "attn_output"}) {
                matrix(w, p + m + ".weight", type, d, d, (float) (1 / Math.sqrt(d)));
                matrix(w, p + m + ".bias", GgmlType.F32, 1, d, 0.02f);
            }
            norm(w, p + "attn_output_norm", d);
            matrix(w, p + "ffn_up.weight", type, s.ffn(), d, (float) (1 / Math.sqrt(d)));
            matrix(w, p + "ffn_up.bias", GgmlType.F32, 1, s.ffn(), 0.02f);
            matrix(w, p + "ffn_down.weight", type, d, s.ffn(), (float) (1 / Math.sqrt(s.ffn())));
            matrix(w, p + "ffn_down.bias", GgmlType.F32, 1, d, 0.02f);
            norm(w, p + "layer_output_norm", d);
        }
        w.write(file);
    }

    private static void norm(GgufWriter w, String name, int n) {
        float[] ones = new float[n];
        java.util.Arrays.fill(ones, 1f);
        w.addF32(name + ".weight", new long[] {n}, ones);
        w.addF32(name + ".bias", new long[] {n}, new float[n]);
    }

    private static void matrix(GgufWriter w, String name, GgmlType type, int rows, int cols, float bound) {
        RowKernel kernel = CpuKernels.scalar(type);
        long rowBytes = type.bytesFor(cols);
        long seed = name.hashCode();
        long[] dims = rows == 1 ? new long[] {cols} : new long[] {cols, rows};
        w.addTensor(name, type, dims, dst -> IntStream.range(0, rows).parallel().forEach(r -> {
            float[] row = new float[cols];
            SplittableRandom random = new SplittableRandom(seed ^ (r * 0x9E3779B97F4A7C15L));
            for (int c = 0; c < cols; c++) {
                row[c] = (float) (random.nextDouble() * 2 - 1) * bound;
            }
            kernel.quantize(row, 0, dst, r * rowBytes, cols);
        }));
    }
}
