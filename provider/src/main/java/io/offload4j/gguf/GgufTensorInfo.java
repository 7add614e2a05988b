package io.offload4j.gguf;

import java.util.Arrays;

/**
 * One tensor's header entry. {@code dims[0]} is ggml's {@code ne[0]}: the innermost, contiguous
 * dimension (the length of a row). {@code dataOffset} is relative to the start of the data section.
 */
public record GgufTensorInfo(String name, long[] dims, GgmlType type, long dataOffset) {

    public GgufTensorInfo {
        dims = dims.clone();
    }

    @Override
    public long[] dims() {
        return dims.clone();
    }

    public int rank() {
        return dims.length;
    }

    /** Size of dimension {@code i}, 1 beyond the rank (ggml's convention). */
    public long dim(int i) {
        return i < dims.length ? dims[i] : 1;
    }

    public long elementCount() {
        long n = 1;
        for (long d : dims) {
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    public long byteSize() {
        return type.bytesFor(elementCount());
    }

    @Override
    public String toString() {
        return name + " " + type + " " + Arrays.toString(dims);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GgufTensorInfo t && t.name.equals(name) && Arrays.equals(t.dims, dims)
                && t.type == type && t.dataOffset == dataOffset;
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(dims);
    }
}
