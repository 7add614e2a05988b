package io.offload4j.quant;

import static io.offload4j.quant.VectorKernels.F;
import static io.offload4j.quant.VectorKernels.L;
import static io.offload4j.quant.VectorKernels.bytesToInts;
import static io.offload4j.quant.VectorKernels.load;
import static io.offload4j.quant.VectorKernels.toFloats;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/** Q5_1 on the Vector API: quants as in {@link VectorQ5_0Kernel}, unsigned; per block d·Σ q·x + m·Σ x. */
final class VectorQ5_1Kernel extends ScalarQ5_1Kernel {

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q5_1, n);
        IntVector lane = VectorKernels.laneIndex();
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            FloatVector d = FloatVector.broadcast(F, Le.half(src, bo));
            FloatVector m = FloatVector.broadcast(F, Le.half(src, bo + 2));
            int qh = src.get(Le.INT, bo + QH);
            int y = dstOffset + b * QK;
            for (int c = 0; c < 16; c += L) {
                IntVector q = bytesToInts(src, bo + QS + c);
                // mul then add, not fma: the result must round exactly as ggml's d*q + m.
                toFloats(VectorQ5_0Kernel.low(q, qh, c, lane)).mul(d).add(m).intoArray(dst, y + c);
                toFloats(VectorQ5_0Kernel.high(q, qh, c, lane)).mul(d).add(m).intoArray(dst, y + 16 + c);
            }
        }
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q5_1, n);
        IntVector lane = VectorKernels.laneIndex();
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            int qh = src.get(Le.INT, bo + QH);
            int xi = xOffset + b * QK;
            FloatVector sq = FloatVector.zero(F);
            FloatVector sx = FloatVector.zero(F);
            for (int c = 0; c < 16; c += L) {
                IntVector q = bytesToInts(src, bo + QS + c);
                FloatVector x0 = load(x, xi + c);
                FloatVector x1 = load(x, xi + 16 + c);
                sq = toFloats(VectorQ5_0Kernel.low(q, qh, c, lane)).fma(x0, sq);
                sq = toFloats(VectorQ5_0Kernel.high(q, qh, c, lane)).fma(x1, sq);
                sx = sx.add(x0).add(x1);
            }
            acc0 = sq.fma(FloatVector.broadcast(F, Le.half(src, bo)), acc0);
            acc1 = sx.fma(FloatVector.broadcast(F, Le.half(src, bo + 2)), acc1);
        }
        return acc0.add(acc1).reduceLanes(VectorOperators.ADD);
    }
}
