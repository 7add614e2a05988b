package io.offload4j.quant;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Little-endian, unaligned value layouts for reading ggml blocks. GGUF stores everything
 * little-endian, and block structs are packed (a Q8_0 block is 34 bytes), so no field is aligned.
 */
final class Le {
    static final ValueLayout.OfByte BYTE = ValueLayout.JAVA_BYTE;
    static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Le() {}

    /** The IEEE half at {@code offset} (ggml's {@code ggml_half} scales {@code d}, {@code dmin}), as a float. */
    static float half(MemorySegment s, long offset) {
        return Float.float16ToFloat(s.get(SHORT, offset));
    }

    /** Stores {@code v} rounded to the nearest IEEE half. */
    static void putHalf(MemorySegment s, long offset, float v) {
        s.set(SHORT, offset, Float.floatToFloat16(v));
    }

    /** The float a half rounds {@code v} to: what a reader of the stored scale will see. */
    static float roundToHalf(float v) {
        return Float.float16ToFloat(Float.floatToFloat16(v));
    }
}
