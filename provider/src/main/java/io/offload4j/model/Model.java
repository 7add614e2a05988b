package io.offload4j.model;

import io.offload4j.gguf.GgmlType;
import io.offload4j.gguf.GgufFile;
import io.offload4j.gguf.GgufMetadata;
import io.offload4j.gguf.GgufTensorInfo;
import io.offload4j.gguf.ModelFormatException;
import io.offload4j.quant.CpuKernels;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A loaded model: its config, its weights (views of the memory-mapped GGUF file) and the file's
 * metadata (for the tokenizer and chat template). Closing it releases the mapping; nothing read
 * from it may be used afterwards.
 */
public final class Model implements AutoCloseable {

    private final GgufFile file;
    private final ModelConfig config;
    private final ModelWeights weights;

    private Model(GgufFile file, ModelConfig config, ModelWeights weights) {
        this.file = file;
        this.config = config;
        this.weights = weights;
    }

    /** Maps and validates a GGUF model. Every tensor the architecture needs is checked for presence and shape. */
    public static Model load(Path path) {
        GgufFile file = GgufFile.open(path);
        try {
            return fromFile(file);
        } catch (RuntimeException e) {
            file.close();
            throw e;
        }
    }

    /** Builds a model over an open file, taking ownership of it. */
    public static Model fromFile(GgufFile file) {
        GgufMetadata md = file.metadata();
        Path path = file.path();
        if (file.tensors().isEmpty()) {
            throw new ModelFormatException(path, "has no tensors: it is a vocabulary-only GGUF (or a header without"
                    + " weights), not a model; point to the model's .gguf file");
        }
        GgufTensorInfo embd = file.tensors().get("token_embd.weight");
        int vocab = md.has("tokenizer.ggml.tokens") ? md.getArray("tokenizer.ggml.tokens").length()
                : embd != null ? (int) embd.dim(1) : 0;
        ModelConfig config = ModelConfig.fromMetadata(path, md, vocab);
        TensorBinder t = new TensorBinder(file);
        int dim = config.embeddingLength();
        Weight tokenEmbedding = t.matrix("token_embd.weight", vocab, dim);
        List<BlockWeights> blocks = new ArrayList<>(config.blockCount());
        for (int i = 0; i < config.blockCount(); i++) {
            blocks.add(block(t, config, i));
        }
        float[] outputNorm = t.vector("output_norm.weight", dim);
        boolean tied = !file.tensors().containsKey("output.weight");
        Weight output = tied ? tokenEmbedding : t.matrix("output.weight", vocab, dim);
        float[] ropeFreqs = file.tensors().containsKey("rope_freqs.weight")
                ? t.vector("rope_freqs.weight", config.ropeDimensions() / 2) : null;
        return new Model(file, config, new ModelWeights(tokenEmbedding, List.copyOf(blocks), outputNorm, output, tied,
                ropeFreqs));
    }

    private static BlockWeights block(TensorBinder t, ModelConfig c, int i) {
        String p = "blk." + i + ".";
        int dim = c.embeddingLength();
        Architecture a = c.architecture();
        return new BlockWeights(i,
                t.vector(p + "attn_norm.weight", dim),
                t.matrix(p + "attn_q.weight", c.queryDim(), dim),
                t.matrix(p + "attn_k.weight", c.keyValueDim(), dim),
                t.matrix(p + "attn_v.weight", c.valueDim(), dim),
                t.matrix(p + "attn_output.weight", dim, c.queryDim()),
                a.hasQkvBias() ? t.vector(p + "attn_q.bias", c.queryDim()) : null,
                a.hasQkvBias() ? t.vector(p + "attn_k.bias", c.keyValueDim()) : null,
                a.hasQkvBias() ? t.vector(p + "attn_v.bias", c.valueDim()) : null,
                a.hasQkNorm() ? t.vector(p + "attn_q_norm.weight", c.headDim()) : null,
                a.hasQkNorm() ? t.vector(p + "attn_k_norm.weight", c.headDim()) : null,
                t.vector(p + "ffn_norm.weight", dim),
                t.matrix(p + "ffn_gate.weight", c.feedForwardLength(), dim),
                t.matrix(p + "ffn_up.weight", c.feedForwardLength(), dim),
                t.matrix(p + "ffn_down.weight", dim, c.feedForwardLength()));
    }

    public ModelConfig config() {
        return config;
    }

    public ModelWeights weights() {
        return weights;
    }

    public GgufMetadata metadata() {
        return file.metadata();
    }

    public GgufFile file() {
        return file;
    }

    public Path path() {
        return file.path();
    }

    @Override
    public void close() {
        file.close();
    }

    /** Looks up tensors by name and checks their shape against the config. */
    private static final class TensorBinder {
        private final GgufFile file;

        TensorBinder(GgufFile file) {
            this.file = file;
        }

        private GgufTensorInfo require(String name, long... expectedDims) {
            GgufTensorInfo info = file.tensors().get(name);
            if (info == null) {
                throw new ModelFormatException(file.path(), "tensor '" + name + "' is missing; a "
                        + file.metadata().getString("general.architecture") + " model of this shape needs it with shape "
                        + Arrays.toString(expectedDims) + " (incomplete or mis-converted file?)");
            }
            long[] dims = info.dims();
            long[] expectedTrimmed = expectedDims;
            if (!Arrays.equals(trimTrailingOnes(dims), trimTrailingOnes(expectedTrimmed))) {
                throw new ModelFormatException(file.path(), "tensor '" + name + "' has shape " + Arrays.toString(dims)
                        + ", expected " + Arrays.toString(expectedDims) + " (ggml order: row length first) from the"
                        + " model's metadata; the file's metadata and tensors disagree");
            }
            return info;
        }

        Weight matrix(String name, int rows, int cols) {
            GgufTensorInfo info = require(name, cols, rows);
            return new Weight(name, info.type(), rows, cols, file.tensorData(info));
        }

        float[] vector(String name, int length) {
            GgufTensorInfo info = require(name, length);
            if (!CpuKernels.isSupported(info.type())) {
                throw new ModelFormatException(file.path(), "tensor '" + name + "' is stored as " + info.type()
                        + ", which cannot be decoded; supported: " + CpuKernels.supported());
            }
            float[] values = new float[length];
            if (length % info.type().blockSize() != 0 && info.type() != GgmlType.F32) {
                throw new ModelFormatException(file.path(), "tensor '" + name + "' length " + length
                        + " is not a whole number of " + info.type() + " blocks");
            }
            CpuKernels.scalar(info.type()).dequantize(file.tensorData(info), 0, values, 0, length);
            return values;
        }

        private static long[] trimTrailingOnes(long[] dims) {
            int n = dims.length;
            while (n > 1 && dims[n - 1] == 1) {
                n--;
            }
            return Arrays.copyOf(dims, n);
        }
    }
}
