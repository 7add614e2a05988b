package io.offload4j.gguf;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Writes GGUF v3 files: metadata of every type, tensors of any ggml type and shape. The tensor bytes
 * are produced by a {@link TensorFiller} straight into the memory-mapped output, so files of any size
 * (tens of GiB) are written without holding them in memory. The file appears under its final name only
 * once it is complete.
 */
public final class GgufWriter {

    /** Writes exactly {@code destination.byteSize()} bytes of one tensor's data. */
    @FunctionalInterface
    public interface TensorFiller {
        void fill(MemorySegment destination);
    }

    private record PendingTensor(String name, GgmlType type, long[] dims, TensorFiller filler) {}

    private final Map<String, GgufMetadata.Entry> metadata = new LinkedHashMap<>();
    private final List<PendingTensor> tensors = new ArrayList<>();
    private int alignment = GgufFile.DEFAULT_ALIGNMENT;

    /** Sets {@code general.alignment} (a power of two, at most 2^30). */
    public GgufWriter alignment(int alignment) {
        if (alignment <= 0 || Integer.bitCount(alignment) != 1 || alignment > GgufFile.MAX_ALIGNMENT) {
            throw new IllegalArgumentException("alignment must be a power of two up to 2^30: " + alignment);
        }
        return put(GgufFile.ALIGNMENT_KEY, GgufValueType.UINT32, (long) alignment);
    }

    /**
     * Adds a metadata entry. Value classes: Integer for 8/16-bit and INT32, Long for UINT32/UINT64/INT64,
     * Float, Double, Boolean, String, and {@link GgufArray} for ARRAY.
     */
    public GgufWriter put(String key, GgufValueType type, Object value) {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(value, "value");
        checkValue(key, type, value, 0);
        if (key.equals(GgufFile.ALIGNMENT_KEY)) {
            long a = type == GgufValueType.UINT32 ? ((Number) value).longValue() : -1;
            if (a <= 0 || Long.bitCount(a) != 1 || a > GgufFile.MAX_ALIGNMENT) {
                throw new IllegalArgumentException(key + " must be a UINT32 power of two up to 2^30, not " + type + " " + value);
            }
            this.alignment = (int) a;
        }
        metadata.put(key, new GgufMetadata.Entry(type, value));
        return this;
    }

    /** Rejects values the encoder would mangle: wrong class, integer out of the type's range. */
    private static void checkValue(String key, GgufValueType type, Object value, int depth) {
        String problem = switch (type) {
            case UINT8 -> integerIn(value, 0, 0xff);
            case INT8 -> integerIn(value, Byte.MIN_VALUE, Byte.MAX_VALUE);
            case UINT16 -> integerIn(value, 0, 0xffff);
            case INT16 -> integerIn(value, Short.MIN_VALUE, Short.MAX_VALUE);
            case UINT32 -> integerIn(value, 0, 0xffff_ffffL);
            case INT32 -> integerIn(value, Integer.MIN_VALUE, Integer.MAX_VALUE);
            case UINT64, INT64 -> integerIn(value, Long.MIN_VALUE, Long.MAX_VALUE);
            case FLOAT32, FLOAT64 -> value instanceof Float || value instanceof Double ? null : "needs a Float or Double";
            case BOOL -> value instanceof Boolean ? null : "needs a Boolean";
            case STRING -> value instanceof String ? null : "needs a String";
            case ARRAY -> {
                if (!(value instanceof GgufArray a)) {
                    yield "needs a GgufArray";
                }
                if (depth >= GgufFile.MAX_ARRAY_DEPTH) {
                    yield "nests arrays more than " + GgufFile.MAX_ARRAY_DEPTH + " deep, which readers reject";
                }
                for (int i = 0, n = a.length(); i < n; i++) {
                    Object element = java.lang.reflect.Array.get(a.values(), i);
                    if (element == null) {
                        yield "has a null element " + i;
                    }
                    checkValue(key + "[" + i + "]", a.elementType(), element, depth + 1);
                }
                yield null;
            }
        };
        if (problem != null) {
            throw new IllegalArgumentException("metadata key '" + key + "': a " + type + " value " + problem + ", got "
                    + value.getClass().getSimpleName() + " " + value);
        }
    }

    private static String integerIn(Object value, long min, long max) {
        if (!(value instanceof Integer || value instanceof Long || value instanceof Short || value instanceof Byte)) {
            return "needs an Integer or Long";
        }
        long v = ((Number) value).longValue();
        return v < min || v > max ? "must be in " + min + ".." + max : null;
    }

    public GgufWriter putString(String key, String value) {
        return put(key, GgufValueType.STRING, value);
    }

    public GgufWriter putUInt32(String key, long value) {
        return put(key, GgufValueType.UINT32, value);
    }

    public GgufWriter putInt32(String key, int value) {
        return put(key, GgufValueType.INT32, value);
    }

    public GgufWriter putFloat32(String key, float value) {
        return put(key, GgufValueType.FLOAT32, value);
    }

    public GgufWriter putBool(String key, boolean value) {
        return put(key, GgufValueType.BOOL, value);
    }

    public GgufWriter putStrings(String key, String... values) {
        return put(key, GgufValueType.ARRAY, new GgufArray(GgufValueType.STRING, values));
    }

    public GgufWriter putFloats(String key, float... values) {
        return put(key, GgufValueType.ARRAY, new GgufArray(GgufValueType.FLOAT32, values));
    }

    public GgufWriter putInt32s(String key, int... values) {
        return put(key, GgufValueType.ARRAY, new GgufArray(GgufValueType.INT32, values));
    }

    /**
     * Copies every metadata entry of an existing file, in its order (e.g. to re-quantize or trim a
     * model). That includes {@code general.alignment}, so the copy is laid out like the source; call
     * {@link #alignment(int)} afterwards to change it (the key keeps its place).
     */
    public GgufWriter putAll(GgufMetadata source) {
        source.entries().forEach((k, v) -> put(k, v.type(), v.value()));
        return this;
    }

    /**
     * Adds a tensor; {@code dims[0]} is the row length (ggml's ne[0]) and must be a whole number of
     * {@code type} blocks.
     */
    public GgufWriter addTensor(String name, GgmlType type, long[] dims, TensorFiller filler) {
        if (dims.length < 1 || dims.length > GgufFile.MAX_DIMS) {
            throw new IllegalArgumentException(name + ": rank must be 1.." + GgufFile.MAX_DIMS);
        }
        for (int d = 0; d < dims.length; d++) {
            if (dims[d] <= 0) {
                throw new IllegalArgumentException(name + ": dimension " + d + " is " + dims[d] + "; every dimension must be at least 1");
            }
        }
        if (dims[0] % type.blockSize() != 0) {
            throw new IllegalArgumentException(name + ": row length " + dims[0] + " is not a multiple of the "
                    + type + " block size " + type.blockSize());
        }
        for (PendingTensor t : tensors) {
            if (t.name.equals(name)) {
                throw new IllegalArgumentException("duplicate tensor " + name);
            }
        }
        tensors.add(new PendingTensor(name, type, dims.clone(), filler));
        return this;
    }

    /** Adds an F32 tensor from values. */
    public GgufWriter addF32(String name, long[] dims, float[] values) {
        return addTensor(name, GgmlType.F32, dims, dst -> MemorySegment.copy(values, 0, dst,
                java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0, values.length));
    }

    /** Writes the file (atomically: a temporary file renamed into place). */
    public void write(Path target) {
        byte[] header = header();
        long dataStart = GgufFile.alignUp(header.length, alignment);
        long[] offsets = new long[tensors.size()];
        long dataSize = 0;
        for (int i = 0; i < tensors.size(); i++) {
            offsets[i] = dataSize;
            dataSize = GgufFile.alignUp(dataSize + byteSize(tensors.get(i)), alignment);
        }
        long fileSize = tensors.isEmpty() ? header.length : dataStart + dataSize;
        Path tmp = target.resolveSibling(target.getFileName() + ".part");
        try {
            Path parent = target.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                    StandardOpenOption.READ, StandardOpenOption.WRITE);
                 Arena arena = Arena.ofShared()) {
                MemorySegment out = ch.map(FileChannel.MapMode.READ_WRITE, 0, fileSize, arena);
                MemorySegment.copy(MemorySegment.ofArray(header), 0, out, 0, header.length);
                for (int i = 0; i < tensors.size(); i++) {
                    PendingTensor t = tensors.get(i);
                    t.filler.fill(out.asSlice(dataStart + offsets[i], byteSize(t)));
                }
                out.force();
            }
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // the original error is the one worth reporting
            }
            throw new UncheckedIOException("cannot write " + target + ": " + e.getMessage(), e);
        }
    }

    private static long byteSize(PendingTensor t) {
        long n = 1;
        for (long d : t.dims) {
            n = Math.multiplyExact(n, d);
        }
        return t.type.bytesFor(n);
    }

    /** The header bytes: magic, version, counts, metadata, tensor infos (offsets as laid out by write). */
    public byte[] header() {
        Bytes b = new Bytes();
        b.u32(GgufFile.MAGIC);
        b.u32(3);
        b.u64(tensors.size());
        b.u64(metadata.size());
        metadata.forEach((key, entry) -> {
            b.string(key);
            b.u32(entry.type().id());
            b.value(entry.type(), entry.value());
        });
        long offset = 0;
        for (PendingTensor t : tensors) {
            b.string(t.name);
            b.u32(t.dims.length);
            for (long d : t.dims) {
                b.u64(d);
            }
            b.u32(t.type.id());
            b.u64(offset);
            offset = GgufFile.alignUp(offset + byteSize(t), alignment);
        }
        return b.toByteArray();
    }

    /** Little-endian GGUF encoding. */
    private static final class Bytes extends ByteArrayOutputStream {
        private final ByteBuffer scratch = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);

        void u32(long v) {
            scratch.clear();
            scratch.putInt((int) v);
            write(scratch.array(), 0, 4);
        }

        void u64(long v) {
            scratch.clear();
            scratch.putLong(v);
            write(scratch.array(), 0, 8);
        }

        void string(String s) {
            byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
            u64(bytes.length);
            write(bytes, 0, bytes.length);
        }

        void value(GgufValueType type, Object v) {
            switch (type) {
                case UINT8, INT8 -> write(((Number) v).intValue());
                case BOOL -> write((Boolean) v ? 1 : 0);
                case UINT16, INT16 -> {
                    int x = ((Number) v).intValue();
                    write(x & 0xff);
                    write((x >>> 8) & 0xff);
                }
                case UINT32, INT32 -> u32(((Number) v).longValue());
                case UINT64, INT64 -> u64(((Number) v).longValue());
                case FLOAT32 -> u32(Float.floatToRawIntBits(((Number) v).floatValue()));
                case FLOAT64 -> u64(Double.doubleToRawLongBits(((Number) v).doubleValue()));
                case STRING -> string((String) v);
                case ARRAY -> {
                    GgufArray a = (GgufArray) v;
                    u32(a.elementType().id());
                    int n = a.length();
                    u64(n);
                    for (int i = 0; i < n; i++) {
                        value(a.elementType(), java.lang.reflect.Array.get(a.values(), i));
                    }
                }
            }
        }
    }
}
