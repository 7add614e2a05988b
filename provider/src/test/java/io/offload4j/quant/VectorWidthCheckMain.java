package io.offload4j.quant;

import io.offload4j.gguf.GgmlType;
import io.offload4j.testing.QuantFixtures;
import java.lang.foreign.MemorySegment;
import java.util.Random;

/**
 * Run in a child JVM by {@link VectorWidthTest}, with {@code -Doffload4j.vector.bits}: checks every
 * selected kernel against the scalar one (dequantize bit for bit, dot within 1e-5 of Σ|w·x|, as in
 * {@link DotConsistencyTest}) and the float ops against scalar ones, on small random rows, and the kernels of
 * the formats with committed ggml fixtures ({@link QuantFixtures}) against those, bit for bit. Prints the
 * kernel description, then one line per problem, then {@code checked N}.
 */
public final class VectorWidthCheckMain {
    private VectorWidthCheckMain() {}

    public static void main(String[] args) {
        System.out.println("description=" + CpuKernels.description());
        System.out.println("vectorized=" + CpuKernels.vectorized());
        System.out.println("floatOps=" + CpuKernels.floatOps().getClass().getSimpleName());
        Random r = new Random(11);
        int checked = 0;
        for (GgmlType type : QuantTestData.FORMATS) {
            RowKernel fast = CpuKernels.of(type);
            RowKernel scalar = CpuKernels.scalar(type);
            int bs = type.blockSize();
            for (int n : bs == 1 ? new int[] {5, 16, 67, 256} : new int[] {bs, 3 * bs}) {
                MemorySegment row = MemorySegment.ofArray(QuantTestData.randomBlocks(type, n / bs, r));
                float[] x = QuantTestData.gaussian(r, n);
                float[] w = new float[n];
                float[] v = new float[n];
                scalar.dequantize(row, 0, w, 0, n);
                fast.dequantize(row, 0, v, 0, n);
                for (int i = 0; i < n; i++) {
                    if (Float.floatToRawIntBits(w[i]) != Float.floatToRawIntBits(v[i])) {
                        System.out.println("FAIL " + fast.getClass().getSimpleName() + " dequantize n=" + n + " i=" + i);
                        break;
                    }
                }
                double want = QuantTestData.dot(w, x, 0);
                double scale = QuantTestData.absDot(w, x, 0);
                float got = fast.dot(row, 0, x, 0, n);
                if (!(Math.abs(got - want) <= 1e-5 * scale)) {
                    System.out.println("FAIL " + fast.getClass().getSimpleName() + " dot n=" + n + ": " + got + " vs " + want);
                }
                checked++;
            }
        }
        // ggml's own dequantization of the newer formats (the committed fixtures), bit for bit at this width.
        for (QuantFixtures.Tensor t : QuantFixtures.tensors()) {
            RowKernel fast = CpuKernels.of(t.format());
            float[] v = new float[t.rows() * t.cols()];
            fast.dequantize(MemorySegment.ofArray(t.quantized()), 0, v, 0, v.length);
            for (int i = 0; i < v.length; i++) {
                if (Float.floatToRawIntBits(v[i]) != Float.floatToRawIntBits(t.reference()[i])) {
                    System.out.println("FAIL " + fast.getClass().getSimpleName() + " differs from ggml on " + t + " at " + i);
                    break;
                }
            }
            checked++;
        }
        FloatOps ops = CpuKernels.floatOps();
        for (int n : new int[] {0, 3, 16, 45, 100}) {
            float[] a = QuantTestData.gaussian(r, n);
            float[] b = QuantTestData.gaussian(r, n);
            double want = QuantTestData.dot(a, b, 0);
            if (!(Math.abs(ops.dot(a, 0, b, 0, n) - want) <= 1e-6 * QuantTestData.absDot(a, b, 0))) {
                System.out.println("FAIL floatOps.dot n=" + n);
            }
            float[] y = b.clone();
            ops.axpy(0.5f, a, 0, y, 0, n);
            for (int i = 0; i < n; i++) {
                if (Math.abs(y[i] - (b[i] + 0.5 * a[i])) > 1e-6 * (Math.abs(b[i]) + Math.abs(a[i]))) {
                    System.out.println("FAIL floatOps.axpy n=" + n + " i=" + i);
                }
            }
            checked++;
        }
        System.out.println("checked " + checked);
    }
}
