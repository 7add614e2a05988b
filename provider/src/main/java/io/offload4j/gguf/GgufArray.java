package io.offload4j.gguf;

import java.lang.reflect.Array;

/**
 * A metadata array. {@code values} is a Java array whose component type follows the element type:
 * {@code int[]} for 8/16-bit and INT32 integers, {@code long[]} for UINT32/INT64/UINT64,
 * {@code float[]}, {@code double[]}, {@code boolean[]}, {@code String[]}, or {@code GgufArray[]}
 * for nested arrays.
 */
public record GgufArray(GgufValueType elementType, Object values) {

    public GgufArray {
        if (values == null || !values.getClass().isArray()) {
            throw new IllegalArgumentException("values must be an array");
        }
    }

    public int length() {
        return Array.getLength(values);
    }

    @Override
    public String toString() {
        return "array of " + length() + " " + elementType;
    }
}
