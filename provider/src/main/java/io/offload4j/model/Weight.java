package io.offload4j.model;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;

/**
 * A weight matrix as stored in the file: {@code rows} rows of {@code cols} elements each, in
 * {@code type}'s block format, contiguous row after row. For a projection, rows are output features
 * and cols input features (ggml's ne[1] and ne[0]). {@code data} is a view of the memory-mapped file.
 */
public record Weight(String name, GgmlType type, int rows, int cols, MemorySegment data) {

    /** Bytes of one row. */
    public long rowBytes() {
        return type.bytesFor(cols);
    }

    public long byteSize() {
        return data.byteSize();
    }

    /** Rows {@code first .. first+count} as a matrix of their own, viewing the same memory. */
    public Weight rowSlice(int first, int count) {
        if (first < 0 || count < 1 || first + count > rows) {
            throw new IllegalArgumentException("rows " + first + ".." + (first + count - 1) + " outside 0.."
                    + (rows - 1) + " of " + name);
        }
        return new Weight(name + "[" + first + ".." + (first + count - 1) + "]", type, count, cols,
                data.asSlice(first * rowBytes(), count * rowBytes()));
    }
}
