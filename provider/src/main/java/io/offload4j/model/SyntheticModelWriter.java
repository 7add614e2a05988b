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
 *
 * <p>A mixture of experts ({@link SyntheticModelSpec#moe()}) gets routers whose expert popularity follows a Zipf law
 * with the spec's exponent (see {@link SyntheticRouter}: a few channels of the residual stream are reserved for
 * routing, so which experts a token chooses depends on the token alone and the routers' biases can be fitted to the
 * target shares when the file is written). {@code MoeRoutingSkewTest} measures what the CPU pass then chooses.
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
        w.putUInt32(a + ".rope.dimension_count", ropeDimensions(s));
        w.putFloat32(a + ".attention.layer_norm_rms_epsilon", 1e-5f);
        w.putFloat32(a + ".rope.freq_base", s.architecture() == Architecture.GEMMA3 ? 1_000_000f : 10000f);
        GemmaMetadata.write(w, s);
        SyntheticMoe moe = s.moe();
        if (moe != null) {
            w.putUInt32(a + ".expert_count", moe.experts());
            w.putUInt32(a + ".expert_used_count", moe.used());
            w.putUInt32(a + ".expert_feed_forward_length", moe.expertFfn());
            if (moe.sharedFfn() > 0) {
                w.putUInt32(a + ".expert_shared_feed_forward_length", moe.sharedFfn());
            }
        }
        writeVocabulary(w, s.vocabularySize());
        if (s.architecture() == Architecture.PHI3) {
            writeLongRope(w, s);
        }

        int dim = s.embeddingLength();
        int qDim = s.headCount() * s.headDim();
        int kvDim = s.headCountKv() * s.headDim();
        int ffn = s.feedForwardLength();
        int layers = s.blockCount();
        float[][] signatures = moe == null ? null : routingSignatures(s);
        if (moe == null) {
            matrix(w, s, "token_embd.weight", -1, s.vocabularySize(), dim);
        } else {
            tensor(w, s, "token_embd.weight", -1, s.vocabularySize(), dim, 1, SyntheticModelWriter::constantChannel);
        }
        boolean gemma = s.architecture().isGemma();
        for (int i = 0; i < layers; i++) {
            String p = "blk." + i + ".";
            norm(w, s, p + "attn_norm.weight", dim);
            if (s.architecture() == Architecture.PHI3) { // as llama.cpp's converter writes Phi-3: Q, K, V fused
                matrix(w, s, p + "attn_qkv.weight", i, qDim + 2 * kvDim, dim);
            } else if (moe == null) {
                matrix(w, s, p + "attn_q.weight", i, qDim, dim);
                matrix(w, s, p + "attn_k.weight", i, kvDim, dim);
                matrix(w, s, p + "attn_v.weight", i, kvDim, dim);
            } else {
                tensor(w, s, p + "attn_q.weight", i, qDim, dim, 1, ignoreChannels(dim));
                tensor(w, s, p + "attn_k.weight", i, kvDim, dim, 1, ignoreChannels(dim));
                tensor(w, s, p + "attn_v.weight", i, kvDim, dim, 1, ignoreChannels(dim));
            }
            if (moe == null) {
                matrix(w, s, p + "attn_output.weight", i, dim, qDim);
            } else {
                tensor(w, s, p + "attn_output.weight", i, dim, qDim, 1, keepChannels(dim));
            }
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
            if (moe != null) {
                experts(w, s, i, signatures);
                continue;
            }
            if (s.architecture().hasFusedGateUp()) { // gate's rows, then up's
                matrix(w, s, p + "ffn_up.weight", i, 2 * ffn, dim);
            } else {
                matrix(w, s, p + "ffn_gate.weight", i, ffn, dim);
                matrix(w, s, p + "ffn_up.weight", i, ffn, dim);
            }
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
     * The dimensions RoPE rotates: every one, except for phi3, which gets Phi-4-mini's partial rotary factor of
     * 3/4 so that tests cover partial rotation on every device.
     */
    public static int ropeDimensions(SyntheticModelSpec s) {
        return s.architecture() == Architecture.PHI3 ? s.headDim() * 3 / 4 / 2 * 2 : s.headDim();
    }

    /**
     * Phi-3.5's LongRoPE as the converter writes it: short and long divisors (made-up values around Phi-3.5's,
     * short ones near 1, long ones growing with the wavelength), the pre-training context (a quarter of the
     * context, so that an engine picks either set depending on its context) and the attention factor
     * √(1 + ln(context / original) / ln(original)).
     */
    private static void writeLongRope(GgufWriter w, SyntheticModelSpec s) {
        String a = s.architecture().ggufName();
        int half = ropeDimensions(s) / 2;
        float[] shortFactors = new float[half];
        float[] longFactors = new float[half];
        for (int i = 0; i < half; i++) {
            shortFactors[i] = 1f + 0.02f * i;
            longFactors[i] = 1f + 40f * i / half;
        }
        int original = Math.max(1, s.contextLength() / 4);
        double scale = (double) s.contextLength() / original;
        w.putUInt32(a + ".rope.scaling.original_context_length", original);
        w.putFloat32(a + ".rope.scaling.attn_factor", (float) Math.sqrt(1 + Math.log(scale) / Math.log(original)));
        w.addF32("rope_factors_short.weight", new long[] {half}, shortFactors);
        w.addF32("rope_factors_long.weight", new long[] {half}, longFactors);
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

    /** The sparse FFN of block {@code i}: router, experts (merged or per-expert tensors), shared expert. */
    private static void experts(GgufWriter w, SyntheticModelSpec s, int i, float[][] signatures) {
        SyntheticMoe moe = s.moe();
        String p = "blk." + i + ".";
        int dim = s.embeddingLength();
        int n = moe.experts();
        int ffn = moe.expertFfn();
        float[] router = SyntheticRouter.weights(n, moe.used(), moe.zipfExponent(), dim, signatures,
                s.seed() * 31 + i);
        w.addF32(p + "ffn_gate_inp.weight", new long[] {dim, n}, router);
        if (moe.mergedTensors()) {
            tensor(w, s, p + "ffn_gate_exps.weight", i, n * ffn, dim, n, ignoreChannels(dim));
            tensor(w, s, p + "ffn_up_exps.weight", i, n * ffn, dim, n, ignoreChannels(dim));
            tensor(w, s, p + "ffn_down_exps.weight", i, n * dim, ffn, n, keepChannels(dim));
        } else {
            for (int e = 0; e < n; e++) {
                tensor(w, s, p + "ffn_gate." + e + ".weight", i, ffn, dim, 1, ignoreChannels(dim));
                tensor(w, s, p + "ffn_up." + e + ".weight", i, ffn, dim, 1, ignoreChannels(dim));
                tensor(w, s, p + "ffn_down." + e + ".weight", i, dim, ffn, 1, keepChannels(dim));
            }
        }
        if (moe.sharedFfn() > 0) {
            int shared = moe.sharedFfn();
            tensor(w, p + "ffn_gate_inp_shexp.weight", GgmlType.F32, new long[] {dim}, 1, dim,
                    s.seed() * 1_000_003L + (p + "ffn_gate_inp_shexp.weight").hashCode(),
                    (float) (1.0 / Math.sqrt(dim)), ignoreChannels(dim));
            tensor(w, s, p + "ffn_gate_shexp.weight", i, shared, dim, 1, ignoreChannels(dim));
            tensor(w, s, p + "ffn_up_shexp.weight", i, shared, dim, 1, ignoreChannels(dim));
            tensor(w, s, p + "ffn_down_shexp.weight", i, dim, shared, 1, keepChannels(dim));
        }
    }

    /** Embedding rows: the constant routing channel. */
    private static void constantChannel(int r, float[] row) {
        row[0] = SyntheticRouter.CONSTANT;
    }

    /** Matrices reading the normalised residual stream (Q, K, V, gate, up) ignore the routing channels. */
    private static RowEdit ignoreChannels(int dim) {
        int ch = SyntheticRouter.channels(dim);
        return (r, row) -> java.util.Arrays.fill(row, 0, ch, 0f);
    }

    /** Matrices writing the residual stream (attention output, down projections) leave the routing channels alone. */
    private static RowEdit keepChannels(int dim) {
        int ch = SyntheticRouter.channels(dim);
        return (r, row) -> {
            if (r < ch) {
                java.util.Arrays.fill(row, 0f);
            }
        };
    }

    /**
     * The routing channels 1.. of a sample of the vocabulary (every token up to 4096, else 4096 evenly spaced), as
     * the model will hold them: each embedding row regenerated as {@link #tensor} generates it and passed through
     * its storage format.
     */
    private static float[][] routingSignatures(SyntheticModelSpec s) {
        int dim = s.embeddingLength();
        int ch = SyntheticRouter.channels(dim);
        String name = "token_embd.weight";
        GgmlType type = s.quantization().typeOf(name, -1, s.blockCount());
        RowKernel kernel = CpuKernels.scalar(type);
        long tensorSeed = s.seed() * 1_000_003L + name.hashCode();
        float bound = (float) (1.0 / Math.sqrt(dim));
        int vocab = s.vocabularySize();
        int samples = Math.min(vocab, 4096);
        float[][] out = new float[samples][ch - 1];
        java.lang.foreign.MemorySegment q = java.lang.foreign.Arena.ofAuto().allocate(type.bytesFor(dim));
        float[] row = new float[dim];
        for (int i = 0; i < samples; i++) {
            int r = (int) ((long) i * vocab / samples);
            SplittableRandom random = new SplittableRandom(tensorSeed ^ (r * 0x9E3779B97F4A7C15L));
            for (int c = 0; c < dim; c++) {
                row[c] = (float) (random.nextDouble() * 2 - 1) * bound;
            }
            constantChannel(r, row);
            kernel.quantize(row, 0, q, 0, dim);
            kernel.dequantize(q, 0, row, 0, dim);
            System.arraycopy(row, 1, out[i], 0, ch - 1);
        }
        return out;
    }

    /** Changes a random row (row index within its expert's slab) before it is stored. */
    @FunctionalInterface
    private interface RowEdit {
        void edit(int row, float[] values);
    }

    /**
     * A random matrix of {@code slabs} stacked {@code rows/slabs × cols} slabs (a 3-D tensor when more than one),
     * in the preset's format, each row passed through {@code edit} (its index within the slab) when not null.
     */
    private static void tensor(GgufWriter w, SyntheticModelSpec s, String name, int layer, int rows, int cols,
                               int slabs, RowEdit edit) {
        GgmlType type = s.quantization().typeOf(name, layer, s.blockCount());
        int slabRows = rows / slabs;
        long[] dims = slabs > 1 ? new long[] {cols, slabRows, slabs} : new long[] {cols, rows};
        tensor(w, name, type, dims, rows, cols, s.seed() * 1_000_003L + name.hashCode(), (float) (1.0 / Math.sqrt(cols)),
                edit == null ? null : (r, row) -> edit.edit(r % slabRows, row));
    }

    private static void tensor(GgufWriter w, String name, GgmlType type, long[] dims, int rows, int cols,
                               long tensorSeed, float bound, RowEdit edit) {
        RowKernel kernel = CpuKernels.scalar(type);
        long rowBytes = type.bytesFor(cols);
        w.addTensor(name, type, dims, dst -> IntStream.range(0, rows).parallel().forEach(r -> {
            float[] row = new float[cols];
            SplittableRandom random = new SplittableRandom(tensorSeed ^ (r * 0x9E3779B97F4A7C15L));
            for (int c = 0; c < cols; c++) {
                row[c] = (float) (random.nextDouble() * 2 - 1) * bound;
            }
            if (edit != null) {
                edit.edit(r, row);
            }
            kernel.quantize(row, 0, dst, r * rowBytes, cols);
        }));
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

    /**
     * Command line: {@code SyntheticModelWriter SHAPE QUANT OUT.gguf [ZIPF]} (SHAPE: tiny, tiny-phi3, tiny-mistral,
     * small, llama32-3b, llama3-8b, qwen3-30b-a3b, mixtral-8x7b, gemma2-2b, gemma3-1b; ZIPF: the router's skew for
     * the mixtures of experts, default 0).
     */
    public static void main(String[] args) {
        if (args.length != 3 && args.length != 4) {
            System.err.println("usage: SyntheticModelWriter tiny|tiny-phi3|tiny-mistral|small|llama32-3b|llama3-8b"
                    + "|qwen3-30b-a3b|mixtral-8x7b|gemma2-2b|gemma3-1b QUANT OUT.gguf [ZIPF_EXPONENT]");
            System.exit(2);
        }
        double zipf = args.length == 4 ? Double.parseDouble(args[3]) : 0;
        QuantPreset q = QuantPreset.parse(args[1]);
        SyntheticModelSpec spec = switch (args[0]) {
            case "tiny" -> SyntheticModelSpec.tiny(Architecture.LLAMA, q);
            case "tiny-phi3" -> SyntheticModelSpec.tiny(Architecture.PHI3, q);
            case "tiny-mistral" -> SyntheticModelSpec.tinyMistral(q);
            case "small" -> SyntheticModelSpec.small(q);
            case "llama32-3b" -> SyntheticModelSpec.llama32_3b(q);
            case "llama3-8b" -> SyntheticModelSpec.llama3_8b(q);
            case "qwen3-30b-a3b" -> SyntheticModelSpec.qwen3_30b_a3b(q, zipf);
            case "mixtral-8x7b" -> SyntheticModelSpec.mixtral_8x7b(q, zipf);
            case "gemma2-2b" -> SyntheticModelSpec.gemma2_2b(q);
            case "gemma3-1b" -> SyntheticModelSpec.gemma3_1b(q);
            default -> throw new IllegalArgumentException("unknown shape '" + args[0] + "'; choose tiny, tiny-phi3,"
                    + " tiny-mistral, small, llama32-3b, llama3-8b, qwen3-30b-a3b, mixtral-8x7b, gemma2-2b, gemma3-1b");
        };
        long t0 = System.nanoTime();
        write(spec, Path.of(args[2]));
        System.out.printf("wrote %s (%s, %s) in %.1f s%n", args[2], spec.name(), q, (System.nanoTime() - t0) / 1e9);
    }
}
