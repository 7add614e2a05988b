package io.offload4j.gguf;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Builds GGUF bytes by hand, field by field, so tests can write what {@link GgufWriter} never would:
 * other versions, wrong counts, bad types, truncations. Little-endian unless {@link #bigEndian()}.
 */
final class RawGguf {

    static final Path NAME = Path.of("test.gguf");

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private ByteOrder order = ByteOrder.LITTLE_ENDIAN;

    /** Magic, version, tensor count, metadata count. */
    static RawGguf header(int version, long tensorCount, long kvCount) {
        return new RawGguf().raw("GGUF".getBytes(StandardCharsets.US_ASCII)).u32(version).u64(tensorCount).u64(kvCount);
    }

    RawGguf bigEndian() {
        order = ByteOrder.BIG_ENDIAN;
        return this;
    }

    RawGguf raw(byte... bytes) {
        out.writeBytes(bytes);
        return this;
    }

    RawGguf u8(int v) {
        out.write(v);
        return this;
    }

    RawGguf u16(int v) {
        return raw(ByteBuffer.allocate(2).order(order).putShort((short) v).array());
    }

    RawGguf u32(long v) {
        return raw(ByteBuffer.allocate(4).order(order).putInt((int) v).array());
    }

    RawGguf u64(long v) {
        return raw(ByteBuffer.allocate(8).order(order).putLong(v).array());
    }

    RawGguf f32(float v) {
        return u32(Float.floatToRawIntBits(v));
    }

    RawGguf f64(double v) {
        return u64(Double.doubleToRawLongBits(v));
    }

    RawGguf str(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        return u64(b.length).raw(b);
    }

    /** A key and a value type; the value follows. */
    RawGguf kv(String key, GgufValueType type) {
        return str(key).u32(type.id());
    }

    /** A key, ARRAY, element type and count; the elements follow. */
    RawGguf kvArray(String key, GgufValueType elementType, long count) {
        return kv(key, GgufValueType.ARRAY).u32(elementType.id()).u64(count);
    }

    RawGguf tensorInfo(String name, GgmlType type, long dataOffset, long... dims) {
        return tensorInfo(name, type.id(), dataOffset, dims);
    }

    RawGguf tensorInfo(String name, int typeId, long dataOffset, long... dims) {
        str(name).u32(dims.length);
        for (long d : dims) {
            u64(d);
        }
        return u32(typeId).u64(dataOffset);
    }

    /** Zero bytes up to the next multiple of {@code alignment}. */
    RawGguf padTo(int alignment) {
        while (out.size() % alignment != 0) {
            out.write(0);
        }
        return this;
    }

    RawGguf zeros(int n) {
        return raw(new byte[n]);
    }

    int size() {
        return out.size();
    }

    byte[] bytes() {
        return out.toByteArray();
    }

    static GgufFile parse(byte[] bytes) {
        return GgufFile.parse(NAME, MemorySegment.ofArray(bytes));
    }

    static byte[] cut(byte[] bytes, int length) {
        return Arrays.copyOf(bytes, length);
    }
}
