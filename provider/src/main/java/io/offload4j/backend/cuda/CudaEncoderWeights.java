package io.offload4j.backend.cuda;

import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;

import io.offload4j.gguf.GgmlType;
import io.offload4j.model.EncoderConfig;
import io.offload4j.model.EncoderWeights;
import io.offload4j.model.Weight;
import io.offload4j.quant.CpuKernels;
import io.offload4j.quant.RowKernel;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

/**
 * An encoder's weights, all resident on one GPU. Every projection matrix is decoded on the host by the CPU's own row
 * kernels (so the GPU multiplies exactly the values the CPU pass does, whatever the file's format) and stored as fp32;
 * Q, K and V of a block go into one [3 × dim][dim] matrix (one GEMM, and the layout a fused-QKV checkpoint such as
 * nomic-bert has already). A gated (SwiGLU) feed-forward's gate and up go into one [2 × ffn][dim] matrix, gate rows
 * first, so that one GEMM computes both ({@code enc_swiglu} then reads each row's two halves). The token table, only
 * gathered from, stays in its file format where the decoders' gather kernels read it. Biases, norms, positions and
 * token types are the floats the model decoded at load; a null bias stays a null pointer (no bias), and so does a
 * null position table (rotary positions).
 */
final class CudaEncoderWeights implements AutoCloseable {

    /**
     * One block on the device. {@code gated}: {@code up} is the stacked [gate; up] matrix ([2 × ffn][dim]) and
     * {@code upBias} (if any) its [2 × ffn] bias; otherwise {@code up} is BERT's [ffn][dim] up projection.
     */
    record Layer(boolean gated, CUdeviceptr qkv, CUdeviceptr qkvBias, CUdeviceptr wo, CUdeviceptr bo, CUdeviceptr attentionNorm,
                 CUdeviceptr attentionNormBias, CUdeviceptr up, CUdeviceptr upBias, CUdeviceptr down,
                 CUdeviceptr downBias, CUdeviceptr outputNorm, CUdeviceptr outputNormBias) {}

    /** Floats decoded and uploaded at a time (a tensor's rows in slices, so the heap never holds a big matrix). */
    private static final int SLICE_FLOATS = 1 << 22;

    private final String device;
    private final List<CUdeviceptr> allocations = new ArrayList<>();
    final Layer[] layers;
    final CUdeviceptr tokenTable;
    final GgmlType tokenTableType;
    final long tokenTableRowBytes;
    final CUdeviceptr positions;
    final CUdeviceptr tokenTypes;
    final CUdeviceptr embeddingNorm;
    final CUdeviceptr embeddingNormBias;

    /** Uploads everything; on any failure what was allocated is freed. The device's context must be current. */
    CudaEncoderWeights(EncoderWeights w, EncoderConfig c, String device) {
        this.device = device;
        try {
            Weight table = w.tokenEmbedding();
            if (gatherable(table.type(), c.embeddingLength())) {
                tokenTable = raw(table);
                tokenTableType = table.type();
                tokenTableRowBytes = table.rowBytes();
            } else {
                tokenTable = alloc(4L * table.rows() * table.cols(), "the token table");
                decode(table, tokenTable);
                tokenTableType = GgmlType.F32;
                tokenTableRowBytes = 4L * table.cols();
            }
            positions = floats(w.positions(), "the position table");
            tokenTypes = floats(w.tokenTypes(), "the token-type table");
            embeddingNorm = floats(w.embeddingNorm(), "the embedding norm");
            embeddingNormBias = floats(w.embeddingNormBias(), "the embedding norm");
            layers = new Layer[w.layers().size()];
            for (int i = 0; i < layers.length; i++) {
                layers[i] = layer(w.layers().get(i), c);
            }
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    /** Device bytes {@link CudaEncoderWeights} will take for these weights. */
    static long bytes(EncoderWeights w, EncoderConfig c) {
        Weight table = w.tokenEmbedding();
        long total = gatherable(table.type(), c.embeddingLength()) ? table.byteSize()
                : 4L * table.rows() * table.cols();
        total += 4L * ((w.positions() == null ? 0 : w.positions().length) + w.tokenTypes().length
                + 2L * c.embeddingLength());
        for (EncoderWeights.Layer l : w.layers()) {
            for (Weight m : new Weight[] {l.wq(), l.wk(), l.wv(), l.wo(), l.up(), l.down(), l.gate()}) {
                if (m != null) {
                    total += 4L * m.rows() * m.cols();
                }
            }
            total += 4L * (3L * c.embeddingLength() + 6L * c.embeddingLength() + 4L * c.feedForwardLength());
        }
        return total;
    }

    /** Whether the decoders' embed kernels gather rows of this format and width. */
    private static boolean gatherable(GgmlType type, int cols) {
        if (!CudaKernels.SUPPORTED.contains(type)) {
            return false;
        }
        return CudaKernels.vectorisable(type, cols) || type == GgmlType.F32 || type == GgmlType.F16
                || type == GgmlType.BF16;
    }

    private Layer layer(EncoderWeights.Layer l, EncoderConfig c) {
        int dim = c.embeddingLength();
        String block = "block " + l.index();
        for (Weight m : new Weight[] {l.wq(), l.wk(), l.wv(), l.wo()}) {
            requireShape(m, dim, dim);
        }
        requireShape(l.up(), c.feedForwardLength(), dim);
        requireShape(l.down(), dim, c.feedForwardLength());
        CUdeviceptr qkv = alloc(4L * 3 * dim * dim, "the Q/K/V projections of " + block);
        decode(l.wq(), qkv);
        decode(l.wk(), qkv.withByteOffset(4L * dim * dim));
        decode(l.wv(), qkv.withByteOffset(8L * dim * dim));
        CUdeviceptr qkvBias = null;
        if (l.bq() != null || l.bk() != null || l.bv() != null) {
            float[] b = new float[3 * dim]; // a missing one of the three: zeros
            for (int part = 0; part < 3; part++) {
                float[] src = part == 0 ? l.bq() : part == 1 ? l.bk() : l.bv();
                if (src != null) {
                    System.arraycopy(src, 0, b, part * dim, dim);
                }
            }
            qkvBias = floats(b, "the Q/K/V biases of " + block);
        }
        boolean gated = l.gate() != null;
        CUdeviceptr up;
        CUdeviceptr upBias;
        if (gated) {
            int ffn = c.feedForwardLength();
            requireShape(l.gate(), ffn, dim);
            up = alloc(4L * 2 * ffn * dim, "the gate and up projections of " + block);
            decode(l.gate(), up);
            decode(l.up(), up.withByteOffset(4L * ffn * dim));
            upBias = null;
            if (l.upBias() != null) {   // the gate has no bias: zeros before up's
                float[] b = new float[2 * ffn];
                System.arraycopy(l.upBias(), 0, b, ffn, ffn);
                upBias = floats(b, "the up bias of " + block);
            }
        } else {
            up = matrix(l.up(), block);
            upBias = floats(l.upBias(), block);
        }
        return new Layer(gated, qkv, qkvBias, matrix(l.wo(), block), floats(l.bo(), block),
                floats(l.attentionNorm(), block), floats(l.attentionNormBias(), block), up, upBias,
                matrix(l.down(), block), floats(l.downBias(), block), floats(l.outputNorm(), block),
                floats(l.outputNormBias(), block));
    }

    private static void requireShape(Weight m, int rows, int cols) {
        if (m.rows() != rows || m.cols() != cols) {
            throw new IllegalArgumentException("tensor " + m.name() + " is " + m.rows() + " × " + m.cols()
                    + "; the encoder's shape needs " + rows + " × " + cols);
        }
    }

    private CUdeviceptr matrix(Weight m, String block) {
        CUdeviceptr p = alloc(4L * m.rows() * m.cols(), m.name() + " of " + block);
        decode(m, p);
        return p;
    }

    /** The weight's rows decoded to fp32 on the host, slice by slice, into {@code dst}. */
    private static void decode(Weight m, CUdeviceptr dst) {
        if (!CpuKernels.isSupported(m.type())) {
            throw new IllegalArgumentException("tensor " + m.name() + " is " + m.type() + ", which offload4j cannot"
                    + " decode; supported: " + CpuKernels.supported());
        }
        RowKernel kernel = CpuKernels.of(m.type());
        int cols = m.cols();
        int rowsPerSlice = Math.max(1, SLICE_FLOATS / cols);
        float[] slice = new float[Math.min(m.rows(), rowsPerSlice) * cols];
        MemorySegment data = m.data();
        for (int r0 = 0; r0 < m.rows(); r0 += rowsPerSlice) {
            int n = Math.min(rowsPerSlice, m.rows() - r0);
            for (int i = 0; i < n; i++) {
                kernel.dequantize(data, (long) (r0 + i) * m.rowBytes(), slice, i * cols, cols);
            }
            cuMemcpyHtoD(dst.withByteOffset(4L * r0 * cols), Pointer.to(slice), 4L * n * cols);
        }
    }

    /** The file's bytes as they are. */
    private CUdeviceptr raw(Weight m) {
        MemorySegment src = m.data();
        long size = src.byteSize();
        CUdeviceptr p = alloc(size, "the token table");
        long slice = 1L << 30; // ByteBuffer views are limited to 2 GiB
        for (long off = 0; off < size; off += slice) {
            long len = Math.min(slice, size - off);
            MemorySegment part = src.asSlice(off, len);
            // a mapped file is copied from where it lies; a heap segment (any array type) through a byte[] copy
            Pointer from = part.isNative() ? Pointer.to(part.asByteBuffer())
                    : Pointer.to(part.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
            cuMemcpyHtoD(p.withByteOffset(off), from, len);
        }
        return p;
    }

    /** A float vector on the device, or null for a null one (no bias). */
    private CUdeviceptr floats(float[] v, String what) {
        if (v == null) {
            return null;
        }
        CUdeviceptr p = alloc(4L * v.length, what);
        cuMemcpyHtoD(p, Pointer.to(v), 4L * v.length);
        return p;
    }

    private CUdeviceptr alloc(long bytes, String what) {
        CUdeviceptr p = new CUdeviceptr();
        CudaMemory.alloc(p, bytes + CudaKernels.PADDING, device, what + " of an encoder");
        allocations.add(p);
        return p;
    }

    @Override
    public void close() {
        for (CUdeviceptr p : allocations) {
            cuMemFree(p);
        }
        allocations.clear();
    }
}
