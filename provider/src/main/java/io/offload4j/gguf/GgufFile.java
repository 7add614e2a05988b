package io.offload4j.gguf;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * A GGUF (v2 or v3, little-endian) file: its metadata, its tensor infos and its tensor data, which
 * stays in the memory-mapped file (never copied). The mapping is released by {@link #close()};
 * segments handed out by {@link #tensorData} must not be used afterwards.
 *
 * <p>Every problem with the file is reported as a {@link ModelFormatException} naming the file, the
 * byte offset and the metadata key or tensor concerned, what was expected, what was found and what
 * to do. Nothing the file says is trusted before it is checked against the file's size, so a corrupt
 * or hostile file cannot make the reader allocate more than a small multiple of the file size, loop
 * for long, recurse deeply or read out of bounds.
 *
 * <p>Strings that are not valid UTF-8 (real vocabularies hold partial byte tokens) are kept, with
 * the invalid bytes replaced by U+FFFD, rather than rejected.
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
    /** Largest accepted {@code general.alignment}. */
    static final int MAX_ALIGNMENT = 1 << 30;
    /** Largest Java array the reader creates (a little below the VM's limit). */
    static final int MAX_JAVA_ARRAY = Integer.MAX_VALUE - 16;

    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Appended to messages about damaged files. */
    static final String TRUNCATED = "; the file is truncated or corrupt: download or convert the model again";
    static final String CORRUPT = "; the file is corrupt: download or convert the model again";

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
        if (!Files.isRegularFile(path)) { // a FIFO or a device: opening it would wait for a writer forever
            throw new ModelFormatException(path, "is not a regular file (a pipe, socket or device); expected a .gguf"
                    + " file on disk: pass the model file itself");
        }
        Arena arena = Arena.ofShared();
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = channel.size();
            MemorySegment segment = size == 0 ? MemorySegment.ofArray(new byte[0])
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
        Objects.requireNonNull(path, "nameForErrors");
        Objects.requireNonNull(segment, "segment");
        long fileSize = segment.byteSize();
        if (fileSize == 0) {
            throw new ModelFormatException(path, "the file is empty (0 bytes); a GGUF file starts with the magic 'GGUF'"
                    + " (is the download or copy incomplete?)");
        }
        if (fileSize < 4) {
            throw new ModelFormatException(path, "the file is only " + fileSize + " bytes long; a GGUF file starts with"
                    + " the 4-byte magic 'GGUF' (is the download or copy incomplete?)");
        }
        Cursor in = new Cursor(path, segment);
        int magic = in.u32("magic");
        if (magic != MAGIC) {
            throw new ModelFormatException(path, "offset 0: expected the magic 'GGUF', found " + describeMagic(segment)
                    + "; " + guessFormat(segment));
        }
        int version = in.u32("version");
        if (version != 2 && version != 3) {
            if (Integer.reverseBytes(version) == 2 || Integer.reverseBytes(version) == 3) {
                throw new ModelFormatException(path, "offset 4: this is a big-endian GGUF file (version bytes "
                        + hex(segment, 4, 4) + "); only little-endian files are supported: convert it again"
                        + " without --bigendian");
            }
            String hint;
            if (version == 1) {
                hint = "GGUF version 1 files are obsolete: re-convert the model with a current llama.cpp";
            } else if (version > 3 && version < 256) {
                hint = "the file was written by a newer GGUF writer: update offload4j, or convert the model to GGUF v3";
            } else {
                hint = "no GGUF writer produces this version: the file is corrupt";
            }
            throw new ModelFormatException(path, "offset 4: unsupported GGUF version " + Integer.toUnsignedString(version)
                    + " (supported: 2 and 3); " + hint);
        }
        long tensorCount = in.u64("tensor count");
        long kvCount = in.u64("metadata count");
        // Every key/value takes at least 13 bytes, every tensor info at least 32: a count beyond what the
        // rest of the file can hold must not drive an allocation, and the loops end when the bytes do.
        // Such a count is reported with the error that ends the loop (the count or the file is wrong:
        // the first error says where the file stops making sense, the note says what the count claims).
        Map<String, GgufMetadata.Entry> entries = LinkedHashMap.newLinkedHashMap(in.expectItems(kvCount, 13,
                "metadata count", "metadata entries", 16));
        int alignment = DEFAULT_ALIGNMENT;
        for (long i = 0; Long.compareUnsigned(i, kvCount) < 0; i++) {
            in.enterMetadata(i);
            long keyOffset = in.position;
            String key = in.string("key", -1);
            if (entries.containsKey(key)) {
                throw in.fail(keyOffset, "metadata key '" + printable(key) + "' appears a second time (metadata entry "
                        + i + ")" + (key.indexOf('\uFFFD') >= 0 ? " after replacing invalid UTF-8" : "")
                        + "; keys must be unique" + CORRUPT);
            }
            in.named(key);
            long typeOffset = in.position;
            int typeId = in.u32("value type");
            GgufValueType type = GgufValueType.byId(Integer.toUnsignedLong(typeId));
            if (type == null) {
                throw in.fail(typeOffset, "metadata key '" + printable(key) + "' has unknown value type "
                        + Integer.toUnsignedString(typeId) + " (GGUF value types are 0 to 12)" + CORRUPT);
            }
            Object value = in.value(type, 0);
            if (key.equals(ALIGNMENT_KEY)) {
                alignment = checkAlignment(in, type, value, typeOffset);
            }
            entries.put(key, new GgufMetadata.Entry(type, value));
        }
        in.enterNothing();
        GgufMetadata metadata = new GgufMetadata(path, Collections.unmodifiableMap(entries), true);

        Map<String, GgufTensorInfo> tensors = LinkedHashMap.newLinkedHashMap(in.expectItems(tensorCount, 32,
                "tensor count", "tensor infos", 8));
        for (long i = 0; Long.compareUnsigned(i, tensorCount) < 0; i++) {
            GgufTensorInfo info = in.tensorInfo(i, alignment);
            if (tensors.putIfAbsent(info.name(), info) != null) {
                throw in.fail(in.infoOffset, "tensor name '" + printable(info.name()) + "' appears a second time (tensor info "
                        + i + ")" + (info.name().indexOf('\uFFFD') >= 0 ? " after replacing invalid UTF-8" : "")
                        + "; tensor names must be unique" + CORRUPT);
            }
        }
        in.enterNothing();

        long headerEnd = in.position;
        long dataStart = alignUp(headerEnd, alignment);
        if (!tensors.isEmpty() && dataStart > fileSize) {
            throw new ModelFormatException(path, "the header ends at offset " + headerEnd + " and the tensor data should"
                    + " start at offset " + dataStart + ", but the file is only " + fileSize + " bytes long: no tensor data"
                    + " follows" + TRUNCATED);
        }
        for (GgufTensorInfo t : tensors.values()) {
            long size = t.byteSize(); // checked by tensorInfo
            long start = dataStart + t.dataOffset();
            if (start < dataStart || start + size < start || start + size > fileSize) {
                throw new ModelFormatException(path, "tensor '" + printable(t.name()) + "' (" + t.type() + " "
                        + Arrays.toString(t.dims()) + ", " + size + " bytes at file offset "
                        + Long.toUnsignedString(start) + " = data start " + dataStart + " + data offset "
                        + Long.toUnsignedString(t.dataOffset()) + ") extends past the end of the file (" + fileSize
                        + " bytes)" + TRUNCATED);
            }
        }
        return new GgufFile(path, arena, segment, version, metadata, Collections.unmodifiableMap(tensors), alignment,
                dataStart);
    }

    private static int checkAlignment(Cursor in, GgufValueType type, Object value, long typeOffset) {
        if (type != GgufValueType.UINT32) {
            throw in.fail(typeOffset, "metadata key '" + ALIGNMENT_KEY + "' is " + type + "; GGUF requires UINT32 (a power"
                    + " of two, 32 by default)" + CORRUPT);
        }
        long a = (Long) value;
        if (a == 0 || Long.bitCount(a) != 1) {
            throw in.fail(typeOffset, "metadata key '" + ALIGNMENT_KEY + "' is " + a + "; it must be a power of two"
                    + " (32 by default)" + CORRUPT);
        }
        if (a > MAX_ALIGNMENT) {
            throw in.fail(typeOffset, "metadata key '" + ALIGNMENT_KEY + "' is " + a + "; alignments above " + MAX_ALIGNMENT
                    + " bytes are not supported" + CORRUPT);
        }
        return (int) a;
    }

    static long alignUp(long position, long alignment) {
        return (position + alignment - 1) / alignment * alignment;
    }

    private static String hex(MemorySegment s, long offset, int n) {
        return HexFormat.ofDelimiter(" ").formatHex(s.asSlice(offset, n).toArray(ValueLayout.JAVA_BYTE));
    }

    private static String describeMagic(MemorySegment s) {
        byte[] b = s.asSlice(0, 4).toArray(ValueLayout.JAVA_BYTE);
        StringBuilder printable = new StringBuilder();
        for (byte x : b) {
            printable.append(x >= 32 && x < 127 ? (char) x : '.');
        }
        return "'" + printable + "' (bytes " + HexFormat.ofDelimiter(" ").formatHex(b) + ")";
    }

    /** What the file probably is, and what to do with it. */
    private static String guessFormat(MemorySegment s) {
        long size = s.byteSize();
        byte b0 = s.get(ValueLayout.JAVA_BYTE, 0);
        byte b1 = s.get(ValueLayout.JAVA_BYTE, 1);
        int magic = s.get(U32, 0);
        if (size >= 9) {
            long headerLength = s.get(U64, 0);
            if (headerLength > 1 && headerLength <= size - 8 && s.get(ValueLayout.JAVA_BYTE, 8) == '{') {
                return "this looks like a safetensors file (an 8-byte length, then a JSON header): convert the model to"
                        + " GGUF first, e.g. with llama.cpp's convert_hf_to_gguf.py";
            }
        }
        if (b0 == 0x1f && b1 == (byte) 0x8b) {
            return "this is a gzip-compressed file: decompress it first";
        }
        if (b0 == 'P' && b1 == 'K') {
            return "this is a zip archive (a PyTorch checkpoint?): convert the model to GGUF first, e.g. with"
                    + " llama.cpp's convert_hf_to_gguf.py";
        }
        if (magic == 0x67676d6c || magic == 0x67676d66 || magic == 0x67676a74) {
            return "this is a legacy GGML/GGMF/GGJT model from before GGUF: convert it with a current llama.cpp";
        }
        if (magic == Integer.reverseBytes(MAGIC)) {
            return "this looks like a big-endian GGUF file; only little-endian files are supported";
        }
        return "this is not a GGUF file (Hugging Face safetensors/PyTorch checkpoints must be converted first, e.g."
                + " with llama.cpp's convert_hf_to_gguf.py)";
    }

    /** A key or tensor name as it may appear in a message: control characters escaped, at most 200 characters. */
    static String printable(String s) {
        StringBuilder b = new StringBuilder(Math.min(s.length(), 210));
        for (int i = 0; i < s.length(); i++) {
            if (b.length() >= 200) {
                return b.append("...(").append(s.length()).append(" characters)").toString();
            }
            char c = s.charAt(i);
            if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == '\'' || c == '\\') {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.toString();
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

    /**
     * The bytes of one tensor, a view into the mapping.
     *
     * @throws IllegalArgumentException when {@code tensor} is not one of {@link #tensors()}
     */
    public MemorySegment tensorData(GgufTensorInfo tensor) {
        GgufTensorInfo own = tensors.get(tensor.name());
        if (!tensor.equals(own)) {
            throw new IllegalArgumentException(path + ": " + tensor + (own == null ? " is not a tensor of this file"
                    : " differs from this file's tensor " + own));
        }
        return segment.asSlice(dataStart + tensor.dataOffset(), tensor.byteSize());
    }

    /** Releases the mapping (when this object owns one). */
    @Override
    public void close() {
        if (arena != null && arena.scope().isAlive()) {
            arena.close();
        }
    }

    /**
     * Bounds-checked little-endian reading of the header. What is being read (which metadata entry or
     * tensor info) is kept as state, so messages can say so without building a description per value.
     */
    private static final class Cursor {
        private static final String[] ONE_BYTE_STRINGS = new String[256];
        private static final Integer[] SMALL_INTS = new Integer[256];
        private static final int[] NO_INTS = {};
        private static final long[] NO_LONGS = {};
        private static final float[] NO_FLOATS = {};
        private static final double[] NO_DOUBLES = {};
        private static final boolean[] NO_BOOLEANS = {};
        private static final String[] NO_STRINGS = {};
        private static final GgufArray[] NO_ARRAYS = {};

        static {
            for (int i = 0; i < 256; i++) {
                ONE_BYTE_STRINGS[i] = new String(new byte[] {(byte) i}, StandardCharsets.UTF_8);
                SMALL_INTS[i] = i;
            }
        }

        private final Path path;
        private final MemorySegment s;
        private final long size;
        long position;
        /** Where the tensor info being read starts. */
        long infoOffset;
        private byte[] scratch = new byte[256];

        /** Set while reading more items than the file can hold (see {@link #expectItems}). */
        private String countNote;
        private boolean inTensors;
        private long index = -1;
        private String name;

        Cursor(Path path, MemorySegment s) {
            this.path = path;
            this.s = s;
            this.size = s.byteSize();
        }

        void enterMetadata(long i) {
            inTensors = false;
            index = i;
            name = null;
        }

        void enterTensor(long i) {
            inTensors = true;
            index = i;
            name = null;
        }

        void enterNothing() {
            index = -1;
            name = null;
            countNote = null;
        }

        void named(String n) {
            name = n;
        }

        /** " of metadata key 'x'", " of tensor info 3" ... or "" outside entries. */
        private String where() {
            if (index < 0) {
                return "";
            }
            if (name == null) {
                return (inTensors ? " of tensor info " : " of metadata entry ") + index;
            }
            return (inTensors ? " of tensor '" : " of metadata key '") + printable(name) + "'";
        }

        ModelFormatException fail(long offset, String message) {
            return new ModelFormatException(path, "offset " + offset + ": " + message + (countNote == null ? "" : countNote));
        }

        private long left() {
            return size - position;
        }

        private void need(long n, String what) {
            if (n > left()) {
                throw fail(position, "the header is cut off in the " + what + where() + " (" + n + " bytes needed, "
                        + left() + " left in the file)" + TRUNCATED);
            }
        }

        /**
         * Starts a loop over {@code count} items of at least {@code minBytesEach} bytes. When the rest of
         * the file cannot hold them, errors until {@link #enterNothing} carry a note saying so. Returns
         * a safe initial capacity for a collection of the items.
         */
        int expectItems(long count, long minBytesEach, String what, String items, long countOffset) {
            long fit = left() / minBytesEach;
            countNote = count >= 0 && count <= fit ? null
                    : "; note: the " + what + " at offset " + countOffset + " is " + Long.toUnsignedString(count)
                            + ", but the " + left() + " bytes after offset " + position + " can hold at most " + fit
                            + " " + items;
            return (int) Math.min(Math.min(fit, count < 0 ? fit : count), 1 << 16);
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

        /** A string: {@code label} names it, or (label null) it is element {@code element} of an array. */
        String string(String label, long element) {
            long lengthOffset = position;
            if (left() < 8) {
                throw fail(position, "the header is cut off in the length of the " + stringName(label, element)
                        + " (8 bytes needed, " + left() + " left in the file)" + TRUNCATED);
            }
            long length = s.get(U64, position);
            position += 8;
            if (length < 0 || length > left()) {
                throw fail(lengthOffset, "the " + stringName(label, element) + " claims a length of "
                        + Long.toUnsignedString(length) + " bytes, but only " + left() + " bytes are left in the file"
                        + TRUNCATED);
            }
            if (length == 0) {
                return "";
            }
            if (length > MAX_JAVA_ARRAY) {
                throw fail(lengthOffset, "the " + stringName(label, element) + " is " + length
                        + " bytes long; strings over 2 GiB are not supported" + CORRUPT);
            }
            int n = (int) length;
            String result;
            if (n == 1) {
                result = ONE_BYTE_STRINGS[Byte.toUnsignedInt(s.get(ValueLayout.JAVA_BYTE, position))];
            } else {
                if (scratch.length < n) {
                    scratch = new byte[(int) Math.min(MAX_JAVA_ARRAY, Math.max(n, 2L * scratch.length))];
                }
                MemorySegment.copy(s, ValueLayout.JAVA_BYTE, position, scratch, 0, n);
                result = new String(scratch, 0, n, StandardCharsets.UTF_8);
            }
            position += n;
            return result;
        }

        private String stringName(String label, long element) {
            return label != null ? label + where() : "string at element " + element + " of the array" + where();
        }

        Object value(GgufValueType type, int depth) {
            return switch (type) {
                case UINT8 -> { need(1, "UINT8 value"); yield SMALL_INTS[Byte.toUnsignedInt(s.get(ValueLayout.JAVA_BYTE, position++))]; }
                case INT8 -> { need(1, "INT8 value"); yield (int) s.get(ValueLayout.JAVA_BYTE, position++); }
                case UINT16 -> { need(2, "UINT16 value"); int v = Short.toUnsignedInt(s.get(U16, position)); position += 2; yield v; }
                case INT16 -> { need(2, "INT16 value"); int v = s.get(U16, position); position += 2; yield v; }
                case UINT32 -> Integer.toUnsignedLong(u32("UINT32 value"));
                case INT32 -> u32("INT32 value");
                case FLOAT32 -> { need(4, "FLOAT32 value"); float v = s.get(F32, position); position += 4; yield v; }
                case BOOL -> {
                    need(1, "BOOL value");
                    yield bool(position++, -1);
                }
                case STRING -> string("STRING value", -1);
                case UINT64 -> u64("UINT64 value");
                case INT64 -> u64("INT64 value");
                case FLOAT64 -> { need(8, "FLOAT64 value"); double v = s.get(F64, position); position += 8; yield v; }
                case ARRAY -> array(depth);
            };
        }

        private boolean bool(long offset, long element) {
            byte b = s.get(ValueLayout.JAVA_BYTE, offset);
            if (b != 0 && b != 1) {
                throw fail(offset, (element < 0 ? "the BOOL value" : "BOOL element " + element + " of the array") + where()
                        + " is the byte 0x" + HexFormat.of().toHexDigits(b) + "; a BOOL must be 0 or 1" + CORRUPT);
            }
            return b == 1;
        }

        private GgufArray array(int depth) {
            if (depth >= MAX_ARRAY_DEPTH) {
                throw fail(position, "the array" + where() + " nests arrays more than " + MAX_ARRAY_DEPTH
                        + " deep (real models nest at most 1 deep)" + CORRUPT);
            }
            long typeOffset = position;
            int typeId = u32("array element type");
            GgufValueType elementType = GgufValueType.byId(Integer.toUnsignedLong(typeId));
            if (elementType == null) {
                throw fail(typeOffset, "the array" + where() + " has unknown element type "
                        + Integer.toUnsignedString(typeId) + " (GGUF value types are 0 to 12)" + CORRUPT);
            }
            long countOffset = position;
            long count = u64("array length");
            long minBytes = switch (elementType) {
                case STRING -> 8;
                case ARRAY -> 12;
                default -> elementType.fixedSize();
            };
            if (count < 0 || count > left() / minBytes) {
                throw fail(countOffset, "the array" + where() + " claims " + Long.toUnsignedString(count) + " "
                        + elementType + " elements (at least " + minBytes + " bytes each), but only " + left()
                        + " bytes are left in the file" + TRUNCATED);
            }
            if (count > MAX_JAVA_ARRAY) {
                throw fail(countOffset, "the array" + where() + " has " + count + " elements; arrays of more than "
                        + MAX_JAVA_ARRAY + " elements are not supported" + CORRUPT);
            }
            int n = (int) count;
            long p = position;
            // Fixed-size elements are in bounds: count <= left() / size was checked above.
            Object values = switch (elementType) {
                case UINT8 -> {
                    int[] a = n == 0 ? NO_INTS : new int[n];
                    for (int i = 0; i < n; i++) {
                        a[i] = Byte.toUnsignedInt(s.get(ValueLayout.JAVA_BYTE, p + i));
                    }
                    yield a;
                }
                case INT8 -> {
                    int[] a = n == 0 ? NO_INTS : new int[n];
                    for (int i = 0; i < n; i++) {
                        a[i] = s.get(ValueLayout.JAVA_BYTE, p + i);
                    }
                    yield a;
                }
                case UINT16 -> {
                    int[] a = n == 0 ? NO_INTS : new int[n];
                    for (int i = 0; i < n; i++) {
                        a[i] = Short.toUnsignedInt(s.get(U16, p + 2L * i));
                    }
                    yield a;
                }
                case INT16 -> {
                    int[] a = n == 0 ? NO_INTS : new int[n];
                    for (int i = 0; i < n; i++) {
                        a[i] = s.get(U16, p + 2L * i);
                    }
                    yield a;
                }
                case INT32 -> n == 0 ? NO_INTS : s.asSlice(p, 4L * n).toArray(U32);
                case UINT32 -> {
                    long[] a = n == 0 ? NO_LONGS : new long[n];
                    for (int i = 0; i < n; i++) {
                        a[i] = Integer.toUnsignedLong(s.get(U32, p + 4L * i));
                    }
                    yield a;
                }
                case UINT64, INT64 -> n == 0 ? NO_LONGS : s.asSlice(p, 8L * n).toArray(U64);
                case FLOAT32 -> n == 0 ? NO_FLOATS : s.asSlice(p, 4L * n).toArray(F32);
                case FLOAT64 -> n == 0 ? NO_DOUBLES : s.asSlice(p, 8L * n).toArray(F64);
                case BOOL -> {
                    boolean[] a = n == 0 ? NO_BOOLEANS : new boolean[n];
                    for (int i = 0; i < n; i++) {
                        a[i] = bool(p + i, i);
                    }
                    yield a;
                }
                case STRING -> {
                    String[] a = n == 0 ? NO_STRINGS : new String[n];
                    for (int i = 0; i < n; i++) {
                        a[i] = string(null, i);
                    }
                    yield a;
                }
                case ARRAY -> {
                    GgufArray[] a = n == 0 ? NO_ARRAYS : new GgufArray[n];
                    for (int i = 0; i < n; i++) {
                        a[i] = array(depth + 1);
                    }
                    yield a;
                }
            };
            if (elementType != GgufValueType.STRING && elementType != GgufValueType.ARRAY) {
                position = p + count * minBytes;
            }
            return new GgufArray(elementType, values);
        }

        GgufTensorInfo tensorInfo(long i, int alignment) {
            enterTensor(i);
            infoOffset = position;
            String tensorName = string("name", -1);
            named(tensorName);
            long rankOffset = position;
            int rank = u32("number of dimensions");
            if (rank < 1 || rank > MAX_DIMS) {
                throw fail(rankOffset, quoted() + " has " + Integer.toUnsignedString(rank) + " dimensions; GGUF tensors have 1 to "
                        + MAX_DIMS + CORRUPT);
            }
            long[] dims = new long[rank];
            long elements = 1;
            for (int d = 0; d < rank; d++) {
                long dimOffset = position;
                dims[d] = u64("dimensions");
                if (dims[d] <= 0) {
                    throw fail(dimOffset, "dimension " + d + " of " + quoted() + " is " + Long.toUnsignedString(dims[d])
                            + "; every dimension must be at least 1" + CORRUPT);
                }
                try {
                    elements = Math.multiplyExact(elements, dims[d]);
                } catch (ArithmeticException e) {
                    throw fail(dimOffset, quoted() + " has dimensions " + unsignedDims(dims, d)
                            + ", more than 2^63-1 elements" + CORRUPT);
                }
            }
            long typeOffset = position;
            int typeId = u32("ggml type");
            GgmlType type = GgmlType.byId(Integer.toUnsignedLong(typeId));
            if (type == null) {
                throw fail(typeOffset, quoted() + " has unknown ggml type id " + Integer.toUnsignedString(typeId)
                        + unknownTypeHint(typeId));
            }
            if (dims[0] % type.blockSize() != 0) {
                throw fail(rankOffset + 4, quoted() + " (" + type + ") has rows of " + dims[0] + " elements, but " + type
                        + " stores blocks of " + type.blockSize() + " elements: the row length must be a multiple of "
                        + type.blockSize() + CORRUPT);
            }
            try {
                type.bytesFor(elements);
            } catch (ArithmeticException e) {
                throw fail(rankOffset, quoted() + " (" + type + " " + Arrays.toString(dims) + ") needs more than 2^63-1 bytes"
                        + CORRUPT);
            }
            long offsetOffset = position;
            long dataOffset = u64("data offset");
            if (dataOffset < 0 || dataOffset % alignment != 0) {
                throw fail(offsetOffset, quoted() + " has data offset " + Long.toUnsignedString(dataOffset)
                        + ", which is not a multiple of the alignment " + alignment
                        + (alignment == DEFAULT_ALIGNMENT ? " (the default; no general.alignment)" : " (general.alignment)")
                        + CORRUPT);
            }
            return new GgufTensorInfo(tensorName, dims, type, dataOffset);
        }

        /** "tensor 'name'" for the tensor info being read (built only for messages). */
        private String quoted() {
            return "tensor '" + printable(name) + "'";
        }

        private static String unsignedDims(long[] dims, int last) {
            StringBuilder b = new StringBuilder("[");
            for (int d = 0; d <= last; d++) {
                b.append(d == 0 ? "" : ", ").append(Long.toUnsignedString(dims[d]));
            }
            return b.append(last < dims.length - 1 ? ", ...]" : "]").toString();
        }

        private static String unknownTypeHint(int typeId) {
            return switch (typeId) {
                case 4, 5 -> " (Q4_2/Q4_3, removed from ggml in 2023): re-quantize the model with a current llama.cpp";
                case 31, 32, 33, 36, 37, 38 -> " (a repacked Q4_0/IQ4_NL layout that GGUF files no longer use):"
                        + " re-quantize the model with a current llama.cpp";
                default -> Integer.compareUnsigned(typeId, 64) < 0
                        ? "; the file may use a type newer than this engine knows: update offload4j or re-quantize the"
                                + " model to a known type"
                        : CORRUPT;
            };
        }
    }
}
