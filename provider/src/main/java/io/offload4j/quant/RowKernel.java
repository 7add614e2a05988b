package io.offload4j.quant;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;

/**
 * CPU kernels for one ggml storage format, working on rows as they are stored in a GGUF file.
 * A row of {@code n} elements (a whole number of blocks) starts at a byte offset of a segment.
 * Implementations are stateless and thread-safe, and allocate nothing.
 */
public interface RowKernel {

    GgmlType type();

    /** Decodes {@code n} elements starting at byte {@code offset} of {@code src} into {@code dst[dstOffset..]}. */
    void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n);

    /** The dot product of the stored row ({@code n} elements at byte {@code offset}) with {@code x[xOffset..xOffset+n)}. */
    float dot(MemorySegment src, long offset, float[] x, int xOffset, int n);

    /**
     * {@link #dot(MemorySegment, long, float[], int, int)} with a caller-owned {@code scratch} of at least
     * {@link #DOT_SCRATCH} floats that the kernel may overwrite. A format whose fused dot is compute-bound but
     * whose {@link #dequantize} reaches a hardware conversion (F16 on the Vector API: C2 compiles the scalar
     * half-to-float loop to {@code vcvtph2ps}) decodes into it instead, as much of the row at a time as it holds,
     * and multiply-adds the floats back from cache. The result may differ from the scratch-free dot by summation
     * order.
     */
    default float dot(MemorySegment src, long offset, float[] x, int xOffset, int n, float[] scratch) {
        return dot(src, offset, x, xOffset, n);
    }

    /**
     * Whether {@link #dot4} and {@link #dot2} are fused: four (two) activation rows against a stored row in one pass
     * over its bytes. Where they are not, a caller with a few rows decodes the row to floats once instead of calling
     * {@link #dotRows}.
     */
    default boolean fusesRows() {
        return fusedRowsMax() > 0;
    }

    /**
     * The most rows for which {@link #dotRows} is faster than decoding each stored row to floats once and multiplying
     * those with every activation row (measured per format): a fused pass re-reads every activation row for every
     * stored row, which for long rows streams them from L2. 0 (the default): no fused form.
     */
    default int fusedRowsMax() {
        return 0;
    }

    /**
     * For {@code t < rows}: {@code out[outOffset + t·outStride]} = the dot product of the stored row with
     * {@code x[xOffset + t·xStride ..]}, each summed in the order {@link #dot(MemorySegment, long, float[], int, int)}
     * sums it (equal up to the final lane reduction, whose order the Vector API leaves to the JIT): four rows at a
     * time by {@link #dot4}, then two by {@link #dot2} where they {@link #fusesRows() are fused}, then one. For a
     * speculative verification's few rows or a small decode batch.
     */
    default void dotRows(MemorySegment src, long offset, float[] x, int xOffset, int xStride, int rows, int n,
                         float[] out, int outOffset, int outStride) {
        int t = 0;
        if (fusesRows()) {
            for (; t + 4 <= rows; t += 4) {
                dot4(src, offset, x, xOffset + t * xStride, xStride, n, out, outOffset + t * outStride, outStride);
            }
            if (t + 2 <= rows) {
                dot2(src, offset, x, xOffset + t * xStride, xStride, n, out, outOffset + t * outStride, outStride);
                t += 2;
            }
        }
        dotRowByRow(src, offset, x, xOffset + t * xStride, xStride, rows - t, n, out, outOffset + t * outStride,
                outStride);
    }

    /** {@link #dotRows} of exactly four rows: fused where {@link #fusesRows()}, else one {@code dot} per row. */
    default void dot4(MemorySegment src, long offset, float[] x, int xOffset, int xStride, int n, float[] out,
                      int outOffset, int outStride) {
        dotRowByRow(src, offset, x, xOffset, xStride, 4, n, out, outOffset, outStride);
    }

    /** {@link #dotRows} of exactly two rows: fused where {@link #fusesRows()}, else one {@code dot} per row. */
    default void dot2(MemorySegment src, long offset, float[] x, int xOffset, int xStride, int n, float[] out,
                      int outOffset, int outStride) {
        dotRowByRow(src, offset, x, xOffset, xStride, 2, n, out, outOffset, outStride);
    }

    private void dotRowByRow(MemorySegment src, long offset, float[] x, int xOffset, int xStride, int rows, int n,
                             float[] out, int outOffset, int outStride) {
        for (int t = 0; t < rows; t++) {
            out[outOffset + t * outStride] = dot(src, offset, x, xOffset + t * xStride, n);
        }
    }

    /** Floats of scratch {@link #dot(MemorySegment, long, float[], int, int, float[])} needs. */
    int DOT_SCRATCH = 1024;

    /**
     * Encodes {@code n} floats (a whole number of blocks) into this format at byte {@code offset} of
     * {@code dst}. Used by the synthetic-model generator and converters; not a hot path.
     */
    void quantize(float[] src, int srcOffset, MemorySegment dst, long offset, int n);
}
