package io.offload4j.quant;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;

/**
 * Run in a child JVM by {@link ScalarFallbackTest}: quantizes a row to Q8_0, dots it through
 * {@link CpuKernels#of}, and prints which kernels were chosen and the result.
 */
public final class ScalarFallbackMain {
    private ScalarFallbackMain() {}

    public static void main(String[] args) {
        float[] w = new float[64];
        float[] x = new float[64];
        for (int i = 0; i < 64; i++) {
            w[i] = (i % 7) - 3;
            x[i] = 1 + (i % 3);
        }
        RowKernel k = CpuKernels.of(GgmlType.Q8_0);
        MemorySegment row = MemorySegment.ofArray(new byte[(int) GgmlType.Q8_0.bytesFor(64)]);
        k.quantize(w, 0, row, 0, 64);
        float dot = k.dot(row, 0, x, 0, 64);
        float ops = CpuKernels.floatOps().dot(w, 0, x, 0, 64);
        System.out.println("vectorized=" + CpuKernels.vectorized());
        System.out.println("kernel=" + k.getClass().getSimpleName());
        System.out.println("floatOps=" + CpuKernels.floatOps().getClass().getSimpleName());
        System.out.println("dot=" + dot);
        System.out.println("floatDot=" + ops);
    }
}
