package io.offload4j.model;

import io.offload4j.gguf.GgmlType;
import io.offload4j.gguf.GgufWriter;
import io.offload4j.quant.CpuKernels;
import io.offload4j.quant.RowKernel;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * Writes random-weight GGUF models of any shape, architecture and quantization, with a small
 * SentencePiece vocabulary, so tests and benchmarks run real files of realistic sizes without
 * downloading anything. The same spec and seed always produce the same file.
 *
 * <p>Weights are uniform in ±1/√(row length), which keeps activations in a realistic range through
 * many blocks; norm weights are 1.
 */
public final class SyntheticModelWriter {

    private SyntheticModelWriter() {}

    public static void write(SyntheticModelSpec s, Path target) {
        GgufWriter w = new GgufWriter();
        String a = s.architecture().ggufName();
        w.putString("general.architecture", a);
        w.putString("general.name", s.name());
        w.putString("general.description", "random weights written by offload4j's SyntheticModelWriter (seed "
                + s.seed() + ", " + s.quantization() + ")");
        w.putUInt32(a + ".context_length", s.contextLength());
        w.putUInt32(a + ".embedding_length", s.embeddingLength());
        w.putUInt32(a + ".block_count", s.blockCount());
        w.putUInt32(a + ".feed_forward_length", s.feedForwardLength());
        w.putUInt32(a + ".attention.head_count", s.headCount());
        w.putUInt32(a + ".attention.head_count_kv", s.headCountKv());
        w.putUInt32(a + ".attention.key_length", s.headDim());
        w.putUInt32(a + ".attention.value_length", s.headDim());
        w.putUInt32(a + ".rope.dimension_count", s.headDim());
        w.putFloat32(a + ".attention.layer_norm_rms_epsilon", 1e-5f);
        w.putFloat32(a + ".rope.freq_base", s.architecture() == Architecture.GEMMA3 ? 1_000_000f : 10000f);
        GemmaMetadata.write(w, s);
        writeVocabulary(w, s.vocabularySize());

        int dim = s.embeddingLength();
        int qDim = s.headCount() * s.headDim();
        int kvDim = s.headCountKv() * s.headDim();
        int ffn = s.feedForwardLength();
        int layers = s.blockCount();
        matrix(w, s, "token_embd.weight", -1, s.vocabularySize(), dim);
        boolean gemma = s.architecture().isGemma();
        for (int i = 0; i < layers; i++) {
            String p = "blk." + i + ".";
            norm(w, s, p + "attn_norm.weight", dim);
            matrix(w, s, p + "attn_q.weight", i, qDim, dim);
            matrix(w, s, p + "attn_k.weight", i, kvDim, dim);
            matrix(w, s, p + "attn_v.weight", i, kvDim, dim);
            matrix(w, s, p + "attn_output.weight", i, dim, qDim);
            if (s.architecture().hasQkvBias()) {
                matrix(w, s, p + "attn_q.bias", i, 1, qDim);
                matrix(w, s, p + "attn_k.bias", i, 1, kvDim);
                matrix(w, s, p + "attn_v.bias", i, 1, kvDim);
            }
            if (s.architecture().hasQkNorm()) {
                norm(w, s, p + "attn_q_norm.weight", s.headDim());
                norm(w, s, p + "attn_k_norm.weight", s.headDim());
            }
            if (gemma) {
                norm(w, s, p + "post_attention_norm.weight", dim);
            }
            norm(w, s, p + "ffn_norm.weight", dim);
            matrix(w, s, p + "ffn_gate.weight", i, ffn, dim);
            matrix(w, s, p + "ffn_up.weight", i, ffn, dim);
            matrix(w, s, p + "ffn_down.weight", i, dim, ffn);
            if (gemma) {
                norm(w, s, p + "post_ffw_norm.weight", dim);
            }
        }
        norm(w, s, "output_norm.weight", dim);
        if (!s.tiedEmbeddings()) {
            matrix(w, s, "output.weight", layers, s.vocabularySize(), dim);
        }
        w.write(target);
    }

    /**
     * A SentencePiece vocabulary: unknown, BOS, EOS, the 256 byte-fallback tokens, then single
     * characters and made-up words with decreasing scores.
     */
    static void writeVocabulary(GgufWriter w, int size) {
        String[] tokens = new String[size];
        float[] scores = new float[size];
        int[] types = new int[size];
        tokens[0] = "<unk>";
        types[0] = 2;
        tokens[1] = "<s>";
        types[1] = 3;
        tokens[2] = "</s>";
        types[2] = 3;
        for (int b = 0; b < 256; b++) {
            tokens[3 + b] = String.format("<0x%02X>", b);
            types[3 + b] = 6;
        }
        String alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?'\"-:;()";
        int i = 259;
        for (int c = 0; c < alphabet.length() && i < size; c++, i++) {
            tokens[i] = String.valueOf(alphabet.charAt(c));
        }
        for (int c = 0; c < 26 && i < size; c++, i++) {
            tokens[i] = "▁" + alphabet.charAt(c);
        }
        if (i < size) {
            tokens[i++] = "▁";
        }
        for (int n = 0; i < size; n++, i++) {
            tokens[i] = "▁" + word(n);
        }
        for (int t = 259; t < size; t++) {
            types[t] = 1;
            scores[t] = -(t - 259);
        }
        w.putString("tokenizer.ggml.model", "llama");
        w.putStrings("tokenizer.ggml.tokens", tokens);
        w.putFloats("tokenizer.ggml.scores", scores);
        w.putInt32s("tokenizer.ggml.token_type", types);
        w.putUInt32("tokenizer.ggml.unknown_token_id", 0);
        w.putUInt32("tokenizer.ggml.bos_token_id", 1);
        w.putUInt32("tokenizer.ggml.eos_token_id", 2);
        w.putBool("tokenizer.ggml.add_bos_token", true);
        w.putBool("tokenizer.ggml.add_eos_token", false);
    }

    /** Distinct lowercase words of two or more letters: aa, ab, ..., zz, aaa, ... */
    private static String word(int n) {
        StringBuilder b = new StringBuilder();
        int x = n + 26;
        while (x >= 26) {
            b.append((char) ('a' + x % 26));
            x = x / 26 - 1;
        }
        b.append((char) ('a' + x));
        return b.reverse().toString();
    }

    /**
     * A norm weight: ones, except for Gemma, whose files hold 1 + w (llama.cpp's converter adds the 1): there random
     * in 1 ± 0.25, so that a swapped or missing one of its four norms per block shows in the logits.
     */
    private static void norm(GgufWriter w, SyntheticModelSpec s, String name, int n) {
        if (!s.architecture().isGemma()) {
            ones(w, name, n);
            return;
        }
        float[] v = new float[n];
        SplittableRandom random = new SplittableRandom(s.seed() * 7_919L + name.hashCode());
        for (int i = 0; i < n; i++) {
            v[i] = 1f + (float) (random.nextDouble() - 0.5) * 0.5f;
        }
        w.addF32(name, new long[] {n}, v);
    }

    private static void ones(GgufWriter w, String name, int n) {
        float[] v = new float[n];
        java.util.Arrays.fill(v, 1f);
        w.addF32(name, new long[] {n}, v);
    }

    private static void matrix(GgufWriter w, SyntheticModelSpec s, String name, int layer, int rows, int cols) {
        GgmlType type = s.quantization().typeOf(name, layer, s.blockCount());
        RowKernel kernel = CpuKernels.scalar(type);
        long rowBytes = type.bytesFor(cols);
        float bound = (float) (1.0 / Math.sqrt(cols));
        long tensorSeed = s.seed() * 1_000_003L + name.hashCode();
        long[] dims = rows == 1 ? new long[] {cols} : new long[] {cols, rows};
        w.addTensor(name, type, dims, dst -> IntStream.range(0, rows).parallel().forEach(r -> {
            float[] row = new float[cols];
            SplittableRandom random = new SplittableRandom(tensorSeed ^ (r * 0x9E3779B97F4A7C15L));
            for (int c = 0; c < cols; c++) {
                row[c] = (float) (random.nextDouble() * 2 - 1) * bound;
            }
            kernel.quantize(row, 0, dst, r * rowBytes, cols);
        }));
    }

    /** Command line: {@code SyntheticModelWriter SHAPE QUANT OUT.gguf} (SHAPE: tiny, small, llama32-3b, llama3-8b, gemma2-2b,
     * gemma3-1b). */
    public static void main(String[] args) {
        if (args.length != 3) {
            System.err.println("usage: SyntheticModelWriter tiny|small|llama32-3b|llama3-8b|gemma2-2b|gemma3-1b QUANT OUT.gguf");
            System.exit(2);
        }
        QuantPreset q = QuantPreset.parse(args[1]);
        SyntheticModelSpec spec = switch (args[0]) {
            case "tiny" -> SyntheticModelSpec.tiny(Architecture.LLAMA, q);
            case "small" -> SyntheticModelSpec.small(q);
            case "llama32-3b" -> SyntheticModelSpec.llama32_3b(q);
            case "llama3-8b" -> SyntheticModelSpec.llama3_8b(q);
            case "gemma2-2b" -> SyntheticModelSpec.gemma2_2b(q);
            case "gemma3-1b" -> SyntheticModelSpec.gemma3_1b(q);
            default -> throw new IllegalArgumentException("unknown shape '" + args[0] + "'; choose tiny, small, llama32-3b, llama3-8b, gemma2-2b, gemma3-1b");
        };
        long t0 = System.nanoTime();
        write(spec, Path.of(args[2]));
        System.out.printf("wrote %s (%s, %s) in %.1f s%n", args[2], spec.name(), q, (System.nanoTime() - t0) / 1e9);
    }
}
