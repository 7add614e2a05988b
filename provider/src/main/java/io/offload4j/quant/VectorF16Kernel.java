package io.offload4j.quant;

import static io.offload4j.quant.VectorKernels.F;
import static io.offload4j.quant.VectorKernels.I;
import static io.offload4j.quant.VectorKernels.S;
import static io.offload4j.quant.VectorKernels.LE;
import static io.offload4j.quant.VectorKernels.L;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * F16 rows on the Vector API. The JDK 25 Vector API has no half-to-float lane conversion, so halves
 * are widened to int lanes and converted with integer operations (exact for every half, including
 * subnormals, infinities and NaN, and without ever computing on a subnormal float, which costs
 * microcode assists on some CPUs): exponent and mantissa move to float position and the exponent is
 * rebiased by 112; exponent 31 (Inf/NaN) gets another 112 to reach 255; a subnormal half is built as
 * the normal float {@code 2^-14·(1 + m/1024)·...} and renormalised by subtracting {@code 2^-14}.
 */
final class VectorF16Kernel extends ScalarF16Kernel {
    // dequantize is inherited: C2 auto-vectorizes the scalar loop of Float.float16ToFloat into the
    // hardware conversion (vcvtph2ps), which beats this decode when the result goes to memory anyway.

    private static final int EXP_MASK = 0x7c00 << 13;
    private static final int REBIAS = (127 - 15) << 23;
    private static final float TWO_POW_MINUS_14 = 0x1p-14f;

    static FloatVector decode(MemorySegment src, long offset) {
        IntVector h = ((IntVector) ShortVector.fromMemorySegment(S, src, offset, LE).castShape(I, 0));
        IntVector em = h.and(0x7fff).lanewise(VectorOperators.LSHL, 13);
        IntVector exp = em.and(EXP_MASK);
        IntVector bits = em.add(REBIAS);
        bits = bits.add(REBIAS, exp.eq(EXP_MASK));
        FloatVector f = bits.reinterpretAsFloats();
        FloatVector sub = bits.add(1 << 23).reinterpretAsFloats().sub(TWO_POW_MINUS_14);
        f = f.blend(sub, exp.eq(0).cast(F));
        return f.reinterpretAsInts().or(h.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats();
    }

    /**
     * Decode-then-multiply: as much of the row as {@code scratch} holds (the whole row, from the CPU pass) goes
     * through the hardware conversion, then a four-accumulator float dot reads it back from L1/L2. On the lent
     * machine's Xeon (16 cores, AVX-512) this read F16 weights at 101 GB/s against the fused kernel's 91 on all
     * cores, and 1.4x its rate on one (io.offload4j.backend.cuda.HostBandwidthBenchmark).
     */
    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n, float[] scratch) {
        Rows.blocks(GgmlType.F16, n);
        float sum = 0;
        for (int base = 0; base < n; base += scratch.length) {
            int m = Math.min(scratch.length, n - base);
            dequantize(src, offset + 2L * base, scratch, 0, m);
            sum += VectorFloatOps.INSTANCE.dot(scratch, 0, x, xOffset + base, m);
        }
        return sum;
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        Rows.blocks(GgmlType.F16, n);
        // One inlined copy of decode: it is large in C2's IR, and past C2's node cutoff calls stop being
        // inlined and vectors get boxed. C2 unrolls the loop itself.
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (int end = n - L; i <= end; i += L) {
            acc = decode(src, offset + 2L * i).fma(FloatVector.fromArray(F, x, xOffset + i), acc);
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            sum += Float.float16ToFloat(src.get(Le.SHORT, offset + 2L * i)) * x[xOffset + i];
        }
        return sum;
    }
}
