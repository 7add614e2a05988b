package io.offload4j.model;

import io.offload4j.gguf.GgmlType;
import io.offload4j.gguf.ModelFormatException;
import io.offload4j.quant.CpuKernels;
import java.util.Arrays;

/** Looks up a model's tensors by GGUF name and checks their shape against the config. */
final class TensorBinder {

    private final TensorSource source;
    private final String architecture;

    TensorBinder(TensorSource source, String architecture) {
        this.source = source;
        this.architecture = architecture;
    }

    boolean has(String name) {
        return source.find(name) != null;
    }

    private TensorSource.Tensor require(String name, long... expectedDims) {
        TensorSource.Tensor t = source.find(name);
        if (t == null) {
            throw new ModelFormatException(source.path(), "tensor '" + source.sourceName(name) + "' is missing; a "
                    + architecture + " model of this shape needs it with shape " + source.formatShape(expectedDims)
                    + " (" + source.missingHint(name) + ")");
        }
        long[] dims = t.ggmlDims();
        if (!Arrays.equals(trimTrailingOnes(dims), trimTrailingOnes(expectedDims))) {
            throw new ModelFormatException(source.path(), "tensor '" + source.sourceName(name) + "' has shape "
                    + source.formatShape(dims) + ", expected " + source.formatShape(expectedDims) + " "
                    + source.shapeNote());
        }
        return t;
    }

    Weight matrix(String name, int rows, int cols) {
        TensorSource.Tensor t = require(name, cols, rows);
        return new Weight(name, t.type(), rows, cols, t.data());
    }

    /**
     * The {@code experts} matrices ({@code rows × cols} each) of one kind in a sparse block: from the merged 3-D
     * tensor {@code blk.N.<kind>_exps.weight} ({@code [cols, rows, experts]} in ggml order; expert e's matrix is
     * its e-th slab of contiguous rows), else from the per-expert tensors {@code blk.N.<kind>.E.weight} of older
     * Mixtral files and of Hugging Face checkpoints.
     *
     * @param kind {@code ffn_gate}, {@code ffn_up} or {@code ffn_down}
     */
    Weight[] experts(int block, String kind, int experts, int rows, int cols) {
        String merged = "blk." + block + "." + kind + "_exps.weight";
        Weight[] out = new Weight[experts];
        if (source.find(merged) != null || source.find("blk." + block + "." + kind + ".0.weight") == null) {
            TensorSource.Tensor t = require(merged, cols, rows, experts);
            long slab = t.type().bytesFor(cols) * rows;
            for (int e = 0; e < experts; e++) {
                out[e] = new Weight(merged + "[" + e + "]", t.type(), rows, cols, t.data().asSlice(e * slab, slab));
            }
            return out;
        }
        for (int e = 0; e < experts; e++) {
            out[e] = matrix("blk." + block + "." + kind + "." + e + ".weight", rows, cols);
        }
        return out;
    }

    float[] vector(String name, int length) {
        TensorSource.Tensor t = require(name, length);
        if (!CpuKernels.isSupported(t.type())) {
            throw new ModelFormatException(source.path(), "tensor '" + source.sourceName(name) + "' is stored as "
                    + t.type() + ", which cannot be decoded; supported: " + CpuKernels.supported());
        }
        float[] values = new float[length];
        if (length % t.type().blockSize() != 0 && t.type() != GgmlType.F32) {
            throw new ModelFormatException(source.path(), "tensor '" + source.sourceName(name) + "' length " + length
                    + " is not a whole number of " + t.type() + " blocks");
        }
        CpuKernels.scalar(t.type()).dequantize(t.data(), 0, values, 0, length);
        return values;
    }

    /** A {@code rows × cols} table (position or token-type embeddings) decoded to floats, row-major. */
    float[] vector2(String name, int rows, int cols) {
        TensorSource.Tensor t = require(name, cols, rows);
        if (!CpuKernels.isSupported(t.type())) {
            throw new ModelFormatException(source.path(), "tensor '" + source.sourceName(name) + "' is stored as "
                    + t.type() + ", which cannot be decoded; supported: " + CpuKernels.supported());
        }
        float[] values = new float[Math.multiplyExact(rows, cols)];
        long rowBytes = t.type().bytesFor(cols);
        for (int r = 0; r < rows; r++) {
            CpuKernels.scalar(t.type()).dequantize(t.data(), r * rowBytes, values, r * cols, cols);
        }
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
