package io.offload4j.model;

import io.offload4j.gguf.GgmlType;
import io.offload4j.quant.CpuKernels;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Gemma's RMSNorm multiplies by {@code 1 + w} (transformers' {@code Gemma2RMSNorm}/{@code Gemma3RMSNorm}, in float32);
 * llama.cpp's converter stores {@code 1 + w} in GGUF files. A Hugging Face norm weight becomes that tensor here, so
 * that every device and both formats compute {@code x · weight} with the same numbers.
 */
final class GemmaNorms {

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private GemmaNorms() {}

    /** A float32 copy of a norm vector with 1 added to each element (float32 addition, as transformers does). */
    static TensorSource.Tensor plusOne(TensorSource.Tensor t) {
        long n = 1;
        for (long d : t.ggmlDims()) {
            n *= d;
        }
        int length = Math.toIntExact(n);
        float[] values = new float[length];
        CpuKernels.scalar(t.type()).dequantize(t.data(), 0, values, 0, length);
        MemorySegment out = Arena.ofAuto().allocate(4L * length, 4);
        for (int i = 0; i < length; i++) {
            out.setAtIndex(F32, i, 1f + values[i]);
        }
        return new TensorSource.Tensor(GgmlType.F32, t.ggmlDims(), out);
    }
}
