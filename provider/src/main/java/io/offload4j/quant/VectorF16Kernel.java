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
     * Elements converted per step of {@link #dot(MemorySegment, long, float[], int, int, float[])}. Converting a whole
     * row and then multiplying it leaves memory idle while the multiply runs; in pieces of 512 the row streams in
     * short bursts the hardware prefetcher stays ahead of. Measured on the 2-vCPU AVX-512 build machine (410M-shaped
     * F16 model, decode, 2 threads, `cpu-vs-llama-cpp.sh --ours-only --quant F16 --only tg -n 64 -r 2 -t 2`, four
     * alternating pairs): whole rows 21.5 / 18.9 / 19.3 / 19.2 tok/s, 512 24.7 / 21.5 / 24.3 / 23.9 (+25 % in the
     * medians); 1024 gained nothing (the model's 1024-wide rows then stay whole) and 256 lost (a reduction per piece).
     * One thread, 4096-wide rows ({@code DecodeKernelBench F16 5 256}, thread CPU time): from memory (256 MiB)
     * 9.5-10.1 GB/s whole vs 16.5-16.6 in pieces; from L2 (0.2 MiB) 28-33 vs 19.4, the pieces' fixed costs (a loop
     * prologue and a lane reduction each). Decode reads weights from memory, so the pieces win where it matters.
     */
    static final int CHUNK = 512;

    /**
     * Decode-then-multiply: {@link #CHUNK} elements at a time go through the hardware conversion (the scalar
     * {@code Float.float16ToFloat} loop, which C2 vectorizes), then a four-accumulator float dot reads them back from
     * L1. On the lent machine's Xeon (16 cores, AVX-512) whole rows read this way ran at 101 GB/s against the fused
     * kernel's 91 on all cores, and 1.4x its rate on one (io.offload4j.backend.cuda.HostBandwidthBenchmark).
     */

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n, float[] scratch) {
        Rows.blocks(GgmlType.F16, n);
        float sum = 0;
        int chunk = Math.min(scratch.length, CHUNK);
        for (int base = 0; base < n; base += chunk) {
            int m = Math.min(chunk, n - base);
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
