package io.offload4j.gguf;

/** The metadata value types of GGUF, by their on-disk id. */
public enum GgufValueType {
    UINT8(1), INT8(1), UINT16(2), INT16(2), UINT32(4), INT32(4), FLOAT32(4), BOOL(1),
    STRING(-1), ARRAY(-1), UINT64(8), INT64(8), FLOAT64(8);

    private static final GgufValueType[] VALUES = values();

    /** Bytes of one value, or -1 where the size is stored with the value. */
    private final int fixedSize;

    GgufValueType(int fixedSize) {
        this.fixedSize = fixedSize;
    }

    public int fixedSize() {
        return fixedSize;
    }

    /** The type with this on-disk id (its ordinal), or {@code null}. */
    public static GgufValueType byId(long id) {
        return id >= 0 && id < VALUES.length ? VALUES[(int) id] : null;
    }

    public int id() {
        return ordinal();
    }
}
