package io.offload4j.model;

import io.offload4j.gguf.GgmlType;
import io.offload4j.gguf.GgufFile;
import io.offload4j.gguf.GgufMetadata;
import io.offload4j.gguf.GgufValueType;
import io.offload4j.gguf.GgufWriter;
import io.offload4j.gguf.ModelFormatException;
import io.offload4j.quant.CpuKernels;
import io.offload4j.quant.RowKernel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.IntStream;
import java.util.stream.Stream;

/**
 * Quantize at load: writes a model's weights as a GGUF file in a {@link Quantization}'s formats, tensor by tensor
 * straight into the mapped output file (rows quantized in parallel on every core, one row buffer per task: the heap
 * never holds a tensor), then maps that file as the model. The file is what llama.cpp's converter and
 * {@code llama-quantize} would make of the same weights: GGUF tensor names, Phi-3's fused {@code attn_qkv} and
 * {@code ffn_up}, and a Hugging Face llama's Q/K rows permuted for GGUF's adjacent-pair RoPE; with the source's
 * metadata (tokenizer and chat template included), so it is a model of its own that any GGUF reader loads.
 *
 * <p>Matrices stored as F32, F16 or BF16 are quantized; ones already quantized are copied as they are. A matrix
 * whose rows are not a whole number of the format's blocks (K-quants: 256) takes Q8_0 (32) instead, or stays as
 * it is. Norms, biases and RoPE factors stay F32.
 */
public final class QuantizedGguf {

    /** The source path, its fingerprint (sizes and modification times) and the format, to know a cache is current. */
    public static final String KEY_SOURCE = "offload4j.quantized_from";
    public static final String KEY_FINGERPRINT = "offload4j.source_fingerprint";
    public static final String KEY_FORMAT = "offload4j.quantization";

    /** Rows one parallel task quantizes with one row buffer. */
    private static final int ROWS_PER_TASK = 16;

    private QuantizedGguf() {}

    /**
     * The quantized model.
     *
     * @param model  mapped from {@code file}
     * @param file   the GGUF it maps (already deleted when it was a temporary file)
     * @param reused whether a cache file written by an earlier start was mapped without quantizing
     */
    public record Result(Model model, Path file, boolean reused, long nanos) {}

    /**
     * Quantizes {@code source} as {@code options} say, or maps the cache file an earlier start wrote for the same
     * source and format. {@code source} stays open: the caller closes it once the result is in use.
     *
     * @param metadata every key the written file carries: the model's and the tokenizer's (for a Hugging Face
     *                 directory, the GGUF keys its config and tokenizer files amount to)
     */
    public static Result load(Model source, GgufMetadata metadata, LoadQuantization options) {
        if (!options.enabled()) {
            throw new IllegalArgumentException("quantization is none: nothing to write");
        }
        long t0 = System.nanoTime();
        String fingerprint = fingerprint(source.path());
        String format = options.format().optionName();
        Path target = options.cacheFile();
        boolean temporary = target == null;
        try {
            if (temporary) {
                target = Files.createTempFile("offload4j-" + safeName(source) + "-", "." + format + ".gguf");
            } else if (Files.isDirectory(target)) {
                target = target.resolve(safeName(source) + "." + format + ".gguf");
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a temporary file for the quantized model (" + e.getMessage()
                    + "); set the quantization cache to a folder with room for it", e);
        }
        if (!temporary && Files.isRegularFile(target) && matches(target, source.path(), fingerprint, format)) {
            return new Result(Model.load(target), target, true, System.nanoTime() - t0);
        }
        try {
            write(source, metadata, options.format(), target, fingerprint);
            Model model = Model.load(target);
            if (temporary) {
                deleteMapped(target);
            }
            return new Result(model, target, false, System.nanoTime() - t0);
        } catch (RuntimeException | Error e) {
            if (temporary) {
                deleteQuietly(target);
            }
            throw e;
        }
    }

    /** Writes {@code source}'s weights in {@code format} as the GGUF file {@code target} (atomically). */
    public static void write(Model source, GgufMetadata metadata, Quantization format, Path target) {
        write(source, metadata, format, target, fingerprint(source.path()));
    }

    /**
     * Writes {@code source} as a GGUF file with {@code preset}'s formats ({@link QuantPreset#F32}: a plain
     * conversion of a Hugging Face directory, as llama.cpp's converter would write it), without cache keys.
     */
    public static void writeAs(Model source, GgufMetadata metadata, QuantPreset preset, Path target) {
        GgufWriter out = new GgufWriter();
        out.putAll(metadata);
        tensors(out, source, preset);
        out.write(target);
    }

    private static void write(Model source, GgufMetadata metadata, Quantization format, Path target,
                              String fingerprint) {
        if (format == Quantization.NONE) {
            throw new IllegalArgumentException("quantization is none: nothing to write");
        }
        GgufWriter out = new GgufWriter();
        out.putAll(metadata);
        out.putUInt32("general.file_type", format.llamaFileType());
        out.putUInt32("general.quantization_version", 2);
        out.putString(KEY_SOURCE, source.path().toAbsolutePath().toString());
        out.putString(KEY_FINGERPRINT, fingerprint);
        out.putString(KEY_FORMAT, format.optionName());
        tensors(out, source, format.preset());
        out.write(target);
    }

    /** Every tensor of {@code source}, in GGUF's names and layout, each filled when the file is written. */
    private static void tensors(GgufWriter out, Model source, QuantPreset preset) {
        ModelConfig c = source.config();
        ModelWeights w = source.weights();
        int layers = c.blockCount();

        matrix(out, preset, "token_embd.weight", -1, layers, 0, w.tokenEmbedding());
        // A Hugging Face llama's Q/K rows are in rotate-half order; GGUF llama expects them permuted for adjacent
        // pairs, as llama.cpp's converter writes them.
        boolean permute = c.ropeLayout() != c.architecture().ropeLayout();
        for (BlockWeights b : w.blocks()) {
            int i = b.index();
            String p = "blk." + i + ".";
            vector(out, p + "attn_norm.weight", b.attentionNorm());
            if (c.architecture() == Architecture.PHI3 && b.wq().type() == b.wk().type()
                    && b.wk().type() == b.wv().type()) {
                matrix(out, preset, p + "attn_qkv.weight", i, layers, 0, b.wq(), b.wk(), b.wv());
            } else {
                matrix(out, preset, p + "attn_q.weight", i, layers, permute ? c.headCount() : 0, b.wq());
                matrix(out, preset, p + "attn_k.weight", i, layers, permute ? c.headCountKv() : 0, b.wk());
                matrix(out, preset, p + "attn_v.weight", i, layers, 0, b.wv());
            }
            matrix(out, preset, p + "attn_output.weight", i, layers, 0, b.wo());
            vector(out, p + "attn_q.bias", b.qBias());
            vector(out, p + "attn_k.bias", b.kBias());
            vector(out, p + "attn_v.bias", b.vBias());
            vector(out, p + "attn_q_norm.weight", b.qNorm());
            vector(out, p + "attn_k_norm.weight", b.kNorm());
            vector(out, p + "ffn_norm.weight", b.ffnNorm());
            if (c.architecture().hasFusedGateUp()) {
                matrix(out, preset, p + "ffn_up.weight", i, layers, 0, b.wGate(), b.wUp());
            } else {
                matrix(out, preset, p + "ffn_gate.weight", i, layers, 0, b.wGate());
                matrix(out, preset, p + "ffn_up.weight", i, layers, 0, b.wUp());
            }
            matrix(out, preset, p + "ffn_down.weight", i, layers, 0, b.wDown());
        }
        vector(out, "output_norm.weight", w.outputNorm());
        if (!w.tiedEmbeddings()) {
            matrix(out, preset, "output.weight", layers, layers, 0, w.output());
        }
        vector(out, "rope_freqs.weight", w.ropeFrequencyFactors());
        if (w.longRope() != null) {
            vector(out, Model.LONG_ROPE_SHORT, w.longRope().shortFactors());
            vector(out, Model.LONG_ROPE_LONG, w.longRope().longFactors());
        }
    }

    private static void vector(GgufWriter out, String name, float[] values) {
        if (values != null) {
            out.addF32(name, new long[] {values.length}, values);
        }
    }

    /**
     * One GGUF matrix made of {@code parts} (their rows one after the other: Phi-3's fused tensors), rows permuted
     * for adjacent-pair RoPE when {@code permuteHeads} > 0.
     */
    private static void matrix(GgufWriter out, QuantPreset preset, String name, int layer, int layers,
                               int permuteHeads, Weight... parts) {
        int cols = parts[0].cols();
        GgmlType sourceType = parts[0].type();
        int rows = 0;
        for (Weight part : parts) {
            if (part.cols() != cols || part.type() != sourceType) {
                throw new IllegalStateException("parts of " + name + " differ in row length or format");
            }
            rows += part.rows();
        }
        GgmlType type = targetType(preset.typeOf(name, layer, layers), sourceType, cols);
        int totalRows = rows;
        int headDim = permuteHeads > 0 ? rows / permuteHeads : 0;
        out.addTensor(name, type, new long[] {cols, rows}, dst -> {
            long dstRowBytes = type.bytesFor(cols);
            int tasks = (totalRows + ROWS_PER_TASK - 1) / ROWS_PER_TASK;
            IntStream.range(0, tasks).parallel().forEach(task -> {
                RowKernel decode = CpuKernels.of(sourceType);
                RowKernel encode = CpuKernels.scalar(type);
                float[] row = type == sourceType ? null : new float[cols];
                int end = Math.min(totalRows, (task + 1) * ROWS_PER_TASK);
                for (int r = task * ROWS_PER_TASK; r < end; r++) {
                    int from = headDim > 0 ? adjacentPairsSource(r, headDim) : r;
                    Weight part = parts[0];
                    int k = 0;
                    while (from >= part.rows()) {
                        from -= part.rows();
                        part = parts[++k];
                    }
                    long src = from * part.rowBytes();
                    if (row == null) {
                        MemorySegment.copy(part.data(), src, dst, r * dstRowBytes, dstRowBytes);
                    } else {
                        decode.dequantize(part.data(), src, row, 0, cols);
                        encode.quantize(row, 0, dst, r * dstRowBytes, cols);
                    }
                }
            });
        });
    }

    /**
     * The format a matrix gets: the preset's, when the source is F32/F16/BF16 and its rows are whole blocks of it;
     * Q8_0 when they are whole blocks of 32 only; else the source's own (also for sources already quantized).
     */
    static GgmlType targetType(GgmlType wanted, GgmlType source, int cols) {
        if (source != GgmlType.F32 && source != GgmlType.F16 && source != GgmlType.BF16) {
            return source;
        }
        if (cols % wanted.blockSize() == 0) {
            return wanted;
        }
        return cols % GgmlType.Q8_0.blockSize() == 0 ? GgmlType.Q8_0 : source;
    }

    /** llama.cpp's permutation: GGUF row (h, 2i + j) is Hugging Face row (h, j · d/2 + i). */
    private static int adjacentPairsSource(int row, int headDim) {
        int head = row / headDim;
        int within = row % headDim;
        return head * headDim + (within % 2) * (headDim / 2) + within / 2;
    }

    /** Whether {@code file} was written by this class from the same, unchanged source in the same format. */
    private static boolean matches(Path file, Path source, String fingerprint, String format) {
        try (GgufFile f = GgufFile.open(file)) {
            GgufMetadata md = f.metadata();
            return md.has(KEY_FINGERPRINT) && md.getString(KEY_FINGERPRINT).equals(fingerprint)
                    && md.has(KEY_FORMAT) && md.getString(KEY_FORMAT).equals(format)
                    && md.has(KEY_SOURCE) && md.getString(KEY_SOURCE).equals(source.toAbsolutePath().toString());
        } catch (ModelFormatException | UncheckedIOException e) {
            return false; // a partial or foreign file: written anew
        }
    }

    /**
     * The source's files (a GGUF file, or a directory's config, weights and tokenizer files) with their sizes and
     * modification times: a cache written from other bytes does not match.
     */
    static String fingerprint(Path source) {
        try {
            List<Path> files = new ArrayList<>();
            if (Files.isDirectory(source)) {
                try (Stream<Path> s = Files.list(source)) {
                    s.filter(Files::isRegularFile).filter(p -> {
                        String n = p.getFileName().toString();
                        return n.endsWith(".safetensors") || n.endsWith(".json") || n.endsWith(".jinja");
                    }).sorted().forEach(files::add);
                }
            } else {
                files.add(source);
            }
            StringBuilder b = new StringBuilder();
            for (Path f : files) {
                b.append(f.getFileName()).append(':').append(Files.size(f)).append(':')
                        .append(Files.getLastModifiedTime(f).toMillis()).append(';');
            }
            return b.toString();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + source + " to fingerprint it: " + e.getMessage(), e);
        }
    }

    private static String safeName(Model source) {
        String name = source.path().getFileName() == null ? "model" : source.path().getFileName().toString();
        if (name.toLowerCase(Locale.ROOT).endsWith(".gguf")) {
            name = name.substring(0, name.length() - 5);
        }
        return name.replaceAll("[^A-Za-z0-9._-]", "_");
    }

    /**
     * Deletes a file that is mapped: on Linux and macOS the mapping keeps its pages and the space is freed when it
     * is unmapped; where the system refuses (Windows), at exit.
     */
    private static void deleteMapped(Path file) {
        try {
            Files.delete(file);
        } catch (IOException e) {
            file.toFile().deleteOnExit();
        }
    }

    private static void deleteQuietly(Path file) {
        try {
            Files.deleteIfExists(file);
            Files.deleteIfExists(file.resolveSibling(file.getFileName() + ".part"));
        } catch (IOException ignored) {
            // the original error is the one worth reporting
        }
    }
}
