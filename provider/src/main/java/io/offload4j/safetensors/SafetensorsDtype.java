package io.offload4j.safetensors;

import io.offload4j.gguf.GgmlType;
import java.util.Arrays;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * The element types a safetensors header may name ({@code "dtype"}), with their size in bits, so that
 * every tensor's byte size can be checked whatever its type. Only {@link #F32}, {@link #F16} and
 * {@link #BF16} have a ggml counterpart the engine computes with ({@link #ggmlType()}); the others are
 * read and validated but refused when a model needs them.
 */
public enum SafetensorsDtype {
    BOOL(8), U8(8), I8(8), F8_E5M2(8), F8_E4M3(8), F8_E8M0(8),
    I16(16), U16(16), F16(16, GgmlType.F16), BF16(16, GgmlType.BF16),
    I32(32), U32(32), F32(32, GgmlType.F32),
    I64(64), U64(64), F64(64), C64(64),
    /** Sub-byte types (packed; the element count times the size must be a whole number of bytes). */
    F4(4), F6_E2M3(6), F6_E3M2(6);

    private final int bits;
    private final GgmlType ggml;

    SafetensorsDtype(int bits) {
        this(bits, null);
    }

    SafetensorsDtype(int bits, GgmlType ggml) {
        this.bits = bits;
        this.ggml = ggml;
    }

    public int bits() {
        return bits;
    }

    /** The ggml storage type with the same bytes, when the engine can use the tensor as stored. */
    public Optional<GgmlType> ggmlType() {
        return Optional.ofNullable(ggml);
    }

    /** The dtype named in a header, if known. */
    public static Optional<SafetensorsDtype> byName(String name) {
        for (SafetensorsDtype d : values()) {
            if (d.name().equals(name)) {
                return Optional.of(d);
            }
        }
        return Optional.empty();
    }

    /** "BOOL, U8, ..." for messages. */
    public static String knownNames() {
        return Arrays.stream(values()).map(Enum::name).collect(Collectors.joining(", "));
    }

    /** "F32, F16, BF16" for messages. */
    public static String computableNames() {
        return Arrays.stream(values()).filter(d -> d.ggml != null).map(Enum::name).collect(Collectors.joining(", "));
    }
}
