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
     * Encodes {@code n} floats (a whole number of blocks) into this format at byte {@code offset} of
     * {@code dst}. Used by the synthetic-model generator and converters; not a hot path.
     */
    void quantize(float[] src, int srcOffset, MemorySegment dst, long offset, int n);
}
