package io.offload4j.gguf;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A GGUF (v2 or v3) file: its metadata, its tensor infos and its tensor data, which stays in the
 * memory-mapped file (never copied). The mapping is released by {@link #close()}; segments handed
 * out by {@link #tensorData} must not be used afterwards.
 *
 * <p>Every problem with the file is reported as a {@link ModelFormatException} naming the file, the
 * byte offset or key, what was expected and what was found. Nothing the file says is trusted before
 * it is checked against the file's size, so a corrupt or hostile file cannot make the reader allocate
 * more than a small multiple of the file size, loop for long, or read out of bounds.
 */
public final class GgufFile implements AutoCloseable {

    /** "GGUF" read as a little-endian int. */
    public static final int MAGIC = 0x46554747;
    public static final int DEFAULT_ALIGNMENT = 32;
    public static final String ALIGNMENT_KEY = "general.alignment";
    /** ggml's GGML_MAX_DIMS. */
    public static final int MAX_DIMS = 4;
    /** Nested metadata arrays deeper than this are rejected (real files nest at most once). */
    static final int MAX_ARRAY_DEPTH = 8;

    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Path path;
    private final Arena arena;
    private final MemorySegment segment;
    private final int version;
    private final GgufMetadata metadata;
    private final Map<String, GgufTensorInfo> tensors;
    private final int alignment;
    private final long dataStart;

    private GgufFile(Path path, Arena arena, MemorySegment segment, int version, GgufMetadata metadata,
                     Map<String, GgufTensorInfo> tensors, int alignment, long dataStart) {
        this.path = path;
        this.arena = arena;
        this.segment = segment;
        this.version = version;
        this.metadata = metadata;
        this.tensors = tensors;
        this.alignment = alignment;
        this.dataStart = dataStart;
    }

    /** Maps and parses a GGUF file. The caller owns the result and must close it. */
    public static GgufFile open(Path path) {
        if (!Files.exists(path)) {
            throw new ModelFormatException(path, "no such file; check the model path", new NoSuchFileException(path.toString()));
        }
        if (Files.isDirectory(path)) {
            throw new ModelFormatException(path, "is a directory; expected a .gguf file");
        }
        Arena arena = Arena.ofShared();
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = channel.size();
            MemorySegment segment = size == 0 ? MemorySegment.NULL.reinterpret(0)
                    : channel.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            return parse(path, segment, arena);
        } catch (IOException e) {
            arena.close();
            throw new ModelFormatException(path, "cannot be read: " + e.getMessage(), e);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /**
     * Parses GGUF bytes that are already in memory (used by tests, the fuzzer and tools). The
     * result does not own {@code segment}; closing it does nothing.
     */
    public static GgufFile parse(Path nameForErrors, MemorySegment segment) {
        return parse(nameForErrors, segment, null);
    }

    private static GgufFile parse(Path path, MemorySegment segment, Arena arena) {
        Cursor in = new Cursor(path, segment);
        if (segment.byteSize() < 4) {
            throw new ModelFormatException(path, "is " + segment.byteSize()
                    + " bytes long; a GGUF file starts with the 4-byte magic 'GGUF' (is the download incomplete?)");
        }
        int magic = in.u32("magic");
        if (magic != MAGIC) {
            throw new ModelFormatException(path, "offset 0: expected the magic 'GGUF', found " + describeMagic(segment)
                    + "; this is not a GGUF file (Hugging Face safetensors/PyTorch checkpoints must be converted,"
                    + " e.g. with llama.cpp's convert_hf_to_gguf.py)");
        }
        int version = in.u32("version");
        if (version != 2 && version != 3) {
            if (Integer.reverseBytes(version) == 2 || Integer.reverseBytes(version) == 3) {
                throw new ModelFormatException(path, "offset 4: this is a big-endian GGUF file (version bytes "
                        + HexFormat.ofDelimiter(" ").formatHex(segment.asSlice(4, 4).toArray(ValueLayout.JAVA_BYTE))
                        + "); only little-endian files are supported");
            }
            throw new ModelFormatException(path, "offset 4: unsupported GGUF version " + Integer.toUnsignedString(version)
                    + "; supported are versions 2 and 3"
                    + (version == 1 ? " (version 1 files are obsolete: re-convert the model with a current llama.cpp)" : ""));
        }
        long tensorCount = in.u64("tensor count");
        long kvCount = in.u64("metadata count");
        // Every key/value takes at least 12 bytes, every tensor info at least 24: counts beyond what
        // the file can hold are corrupt, and must not drive an allocation.
        in.checkCount(kvCount, 12, "metadata count", 16);

        Map<String, GgufMetadata.Entry> entries = new LinkedHashMap<>();
        for (long i = 0; i < kvCount; i++) {
            long keyOffset = in.position;
            String key = in.string("key of metadata entry " + i);
            if (entries.containsKey(key)) {
                throw new ModelFormatException(path, "offset " + keyOffset + ": metadata key '" + key + "' appears twice");
            }
            long typeOffset = in.position;
            int typeId = in.u32("type of metadata key '" + key + "'");
            GgufValueType type = GgufValueType.byId(Integer.toUnsignedLong(typeId));
            if (type == null) {
                throw new ModelFormatException(path, "offset " + typeOffset + ": metadata key '" + key
                        + "' has unknown value type " + Integer.toUnsignedString(typeId) + " (known: 0..12)");
            }
            entries.put(key, new GgufMetadata.Entry(type, in.value(type, key, 0)));
        }
        GgufMetadata metadata = new GgufMetadata(path, entries);

        int alignment = DEFAULT_ALIGNMENT;
        GgufMetadata.Entry alignEntry = entries.get(ALIGNMENT_KEY);
        if (alignEntry != null) {
            if (alignEntry.type() != GgufValueType.UINT32) {
                throw new ModelFormatException(path, "metadata key '" + ALIGNMENT_KEY + "' is " + alignEntry.type()
                        + ", expected UINT32");
            }
            long a = (Long) alignEntry.value();
            if (a == 0 || Long.bitCount(a) != 1 || a > (1 << 30)) {
                throw new ModelFormatException(path, "metadata key '" + ALIGNMENT_KEY + "' is " + a
                        + ", expected a power of two");
            }
            alignment = (int) a;
        }

        in.checkCount(tensorCount, 24, "tensor count", 8);
        Map<String, GgufTensorInfo> tensors = new LinkedHashMap<>();
        for (long i = 0; i < tensorCount; i++) {
            long infoOffset = in.position;
            String name = in.string("name of tensor " + i);
            String what = "tensor '" + name + "'";
            int rank = in.u32("rank of " + what);
            if (rank < 1 || rank > MAX_DIMS) {
                throw new ModelFormatException(path, "offset " + (in.position - 4) + ": " + what + " has "
                        + Integer.toUnsignedString(rank) + " dimensions; expected 1 to " + MAX_DIMS);
            }
            long[] dims = new long[rank];
            long elements = 1;
            for (int d = 0; d < rank; d++) {
                dims[d] = in.u64("dimension " + d + " of " + what);
                if (dims[d] <= 0) {
                    throw new ModelFormatException(path, "offset " + (in.position - 8) + ": dimension " + d + " of " + what
                            + " is " + Long.toUnsignedString(dims[d]) + "; expected a positive size");
                }
                elements = multiplyOrFail(path, elements, dims[d], what, in.position - 8);
            }
            long typeOffset = in.position;
            int typeId = in.u32("type of " + what);
            GgmlType type = GgmlType.byId(Integer.toUnsignedLong(typeId));
            if (type == null) {
                throw new ModelFormatException(path, "offset " + typeOffset + ": " + what + " has unknown ggml type "
                        + Integer.toUnsignedString(typeId) + "; this file may need a newer engine");
            }
            if (dims[0] % type.blockSize() != 0) {
                throw new ModelFormatException(path, "offset " + infoOffset + ": " + what + " has rows of " + dims[0]
                        + " elements, not a multiple of the " + type + " block size " + type.blockSize());
            }
            long dataOffset = in.u64("data offset of " + what);
            if (dataOffset < 0 || dataOffset % alignment != 0) {
                throw new ModelFormatException(path, "offset " + (in.position - 8) + ": " + what + " has data offset "
                        + Long.toUnsignedString(dataOffset) + ", which is not a multiple of the alignment " + alignment);
            }
            GgufTensorInfo info = new GgufTensorInfo(name, dims, type, dataOffset);
            if (tensors.putIfAbsent(name, info) != null) {
                throw new ModelFormatException(path, "offset " + infoOffset + ": tensor name '" + name + "' appears twice");
            }
        }

        long dataStart = alignUp(in.position, alignment);
        long fileSize = segment.byteSize();
        if (!tensors.isEmpty() && dataStart > fileSize) {
            throw new ModelFormatException(path, "the header ends at offset " + in.position + " but the file is only "
                    + fileSize + " bytes: no tensor data follows (truncated file; download it again)");
        }
        for (GgufTensorInfo t : tensors.values()) {
            long size;
            try {
                size = t.byteSize();
            } catch (ArithmeticException e) {
                throw new ModelFormatException(path, "tensor '" + t.name() + "' is too large to address (" + t + ")");
            }
            long start = dataStart + t.dataOffset();
            if (start < dataStart || start + size < start || start + size > fileSize) {
                throw new ModelFormatException(path, "tensor '" + t.name() + "' (" + t.type() + ", " + size
                        + " bytes at file offset " + start + ") extends past the end of the file (" + fileSize
                        + " bytes): the file is truncated or corrupt; download or convert it again");
            }
        }
        return new GgufFile(path, arena, segment, version, metadata, Collections.unmodifiableMap(tensors), alignment,
                dataStart);
    }

    private static long multiplyOrFail(Path path, long a, long b, String what, long offset) {
        try {
            return Math.multiplyExact(a, b);
        } catch (ArithmeticException e) {
            throw new ModelFormatException(path, "offset " + offset + ": " + what + " has more elements than can be addressed");
        }
    }

    static long alignUp(long position, long alignment) {
        return (position + alignment - 1) / alignment * alignment;
    }

    private static String describeMagic(MemorySegment s) {
        byte[] b = s.asSlice(0, 4).toArray(ValueLayout.JAVA_BYTE);
        StringBuilder printable = new StringBuilder();
        for (byte x : b) {
            printable.append(x >= 32 && x < 127 ? (char) x : '.');
        }
        return "'" + printable + "' (bytes " + HexFormat.ofDelimiter(" ").formatHex(b) + ")";
    }

    public Path path() {
        return path;
    }

    public int version() {
        return version;
    }

    public GgufMetadata metadata() {
        return metadata;
    }

    /** Tensor infos in file order. */
    public Map<String, GgufTensorInfo> tensors() {
        return tensors;
    }

    public int alignment() {
        return alignment;
    }

    /** File offset of the data section. */
    public long dataStart() {
        return dataStart;
    }

    /** The whole mapped file. */
    public MemorySegment segment() {
        return segment;
    }

    /** The bytes of one tensor, a view into the mapping. */
    public MemorySegment tensorData(GgufTensorInfo tensor) {
        return segment.asSlice(dataStart + tensor.dataOffset(), tensor.byteSize());
    }

    /** Releases the mapping (when this object owns one). */
    @Override
    public void close() {
        if (arena != null && arena.scope().isAlive()) {
            arena.close();
        }
    }

    /** Bounds-checked little-endian reading of the header. */
    private static final class Cursor {
        private final Path path;
        private final MemorySegment s;
        private final long size;
        long position;

        Cursor(Path path, MemorySegment s) {
            this.path = path;
            this.s = s;
            this.size = s.byteSize();
        }

        private void need(long n, String what) {
            if (n < 0 || position + n > size || position + n < 0) {
                throw new ModelFormatException(path, "offset " + position + ": truncated header while reading " + what
                        + " (needs " + (n < 0 ? Long.toUnsignedString(n) : n) + " bytes, " + (size - position)
                        + " left in the file); the file is incomplete or corrupt");
            }
        }

        void checkCount(long count, long minBytesEach, String what, long countOffset) {
            long remaining = size - position;
            if (count < 0 || count > remaining / minBytesEach) {
                throw new ModelFormatException(path, "offset " + countOffset + ": " + what + " is " + Long.toUnsignedString(count) + ", more than the " + remaining
                        + " remaining bytes can hold; the file is corrupt");
            }
        }

        int u32(String what) {
            need(4, what);
            int v = s.get(U32, position);
            position += 4;
            return v;
        }

        long u64(String what) {
            need(8, what);
            long v = s.get(U64, position);
            position += 8;
            return v;
        }

        String string(String what) {
            long lengthOffset = position;
            long length = u64("length of " + what);
            if (length < 0 || length > size - position) {
                throw new ModelFormatException(path, "offset " + lengthOffset + ": " + what + " has length "
                        + Long.toUnsignedString(length) + " but only " + (size - position)
                        + " bytes are left in the file; the file is truncated or corrupt");
            }
            if (length == 0) {
                return "";
            }
            if (length > Integer.MAX_VALUE - 16) {
                throw new ModelFormatException(path, "offset " + lengthOffset + ": " + what + " is longer than 2 GiB");
            }
            byte[] bytes = s.asSlice(position, length).toArray(ValueLayout.JAVA_BYTE);
            long start = position;
            position += length;
            try {
                return StandardCharsets.UTF_8.newDecoder()
                        .onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT)
                        .decode(java.nio.ByteBuffer.wrap(bytes)).toString();
            } catch (CharacterCodingException e) {
                // Real vocabularies contain invalid UTF-8 (partial byte tokens): keep the text, replacing
                // the invalid bytes, rather than rejecting the file.
                return new String(bytes, StandardCharsets.UTF_8);
            } finally {
                assert position == start + length;
            }
        }

        Object value(GgufValueType type, String key, int depth) {
            String what = "value of metadata key '" + key + "'";
            return switch (type) {
                case UINT8 -> { need(1, what); yield Byte.toUnsignedInt(s.get(ValueLayout.JAVA_BYTE, position++)); }
                case INT8 -> { need(1, what); yield (int) s.get(ValueLayout.JAVA_BYTE, position++); }
                case UINT16 -> { need(2, what); int v = Short.toUnsignedInt(s.get(U16, position)); position += 2; yield v; }
                case INT16 -> { need(2, what); int v = s.get(U16, position); position += 2; yield v; }
                case UINT32 -> Integer.toUnsignedLong(u32(what));
                case INT32 -> u32(what);
                case FLOAT32 -> { need(4, what); float v = s.get(F32, position); position += 4; yield v; }
                case BOOL -> {
                    need(1, what);
                    byte b = s.get(ValueLayout.JAVA_BYTE, position);
                    if (b != 0 && b != 1) {
                        throw new ModelFormatException(path, "offset " + position + ": " + what + " is a BOOL with byte "
                                + b + "; expected 0 or 1");
                    }
                    position++;
                    yield b == 1;
                }
                case STRING -> string(what);
                case UINT64, INT64 -> u64(what);
                case FLOAT64 -> { need(8, what); double v = s.get(F64, position); position += 8; yield v; }
                case ARRAY -> array(key, depth);
            };
        }

        private GgufArray array(String key, int depth) {
            String what = "array of metadata key '" + key + "'";
            if (depth >= MAX_ARRAY_DEPTH) {
                throw new ModelFormatException(path, "offset " + position + ": " + what + " nests arrays more than "
                        + MAX_ARRAY_DEPTH + " deep");
            }
            long typeOffset = position;
            int typeId = u32("element type of " + what);
            GgufValueType elementType = GgufValueType.byId(Integer.toUnsignedLong(typeId));
            if (elementType == null) {
                throw new ModelFormatException(path, "offset " + typeOffset + ": " + what + " has unknown element type "
                        + Integer.toUnsignedString(typeId) + " (known: 0..12)");
            }
            long countOffset = position;
            long count = u64("length of " + what);
            long minBytes = switch (elementType) {
                case STRING -> 8;
                case ARRAY -> 12;
                default -> elementType.fixedSize();
            };
            if (count < 0 || count > (size - position) / minBytes || count > Integer.MAX_VALUE - 16) {
                throw new ModelFormatException(path, "offset " + countOffset + ": " + what + " claims "
                        + Long.toUnsignedString(count) + " " + elementType + " elements, more than the " + (size - position)
                        + " remaining bytes can hold; the file is truncated or corrupt");
            }
            int n = (int) count;
            Object values = switch (elementType) {
                case UINT8, INT8, UINT16, INT16, INT32 -> {
                    int[] a = new int[n];
                    for (int i = 0; i < n; i++) {
                        a[i] = ((Number) value(elementType, key, depth + 1)).intValue();
                    }
                    yield a;
                }
                case UINT32, UINT64, INT64 -> {
                    long[] a = new long[n];
                    for (int i = 0; i < n; i++) {
                        a[i] = (Long) value(elementType, key, depth + 1);
                    }
                    yield a;
                }
                case FLOAT32 -> {
                    need(4L * n, what);
                    float[] a = s.asSlice(position, 4L * n).toArray(F32);
                    position += 4L * n;
                    yield a;
                }
                case FLOAT64 -> {
                    need(8L * n, what);
                    double[] a = s.asSlice(position, 8L * n).toArray(F64);
                    position += 8L * n;
                    yield a;
                }
                case BOOL -> {
                    boolean[] a = new boolean[n];
                    for (int i = 0; i < n; i++) {
                        a[i] = (Boolean) value(elementType, key, depth + 1);
                    }
                    yield a;
                }
                case STRING -> {
                    String[] a = new String[n];
                    for (int i = 0; i < n; i++) {
                        a[i] = string("element " + i + " of " + what);
                    }
                    yield a;
                }
                case ARRAY -> {
                    List<GgufArray> a = new ArrayList<>(Math.min(n, 1024));
                    for (int i = 0; i < n; i++) {
                        a.add(array(key, depth + 1));
                    }
                    yield a.toArray(new GgufArray[0]);
                }
            };
            return new GgufArray(elementType, values);
        }
    }
}
