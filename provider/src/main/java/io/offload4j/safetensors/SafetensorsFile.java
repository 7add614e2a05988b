package io.offload4j.safetensors;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.offload4j.gguf.ModelFormatException;
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
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * One safetensors file: an 8-byte little-endian header length N, N bytes of JSON header
 * ({@code {"name": {"dtype", "shape", "data_offsets": [begin, end]}, ..., "__metadata__": {...}}}),
 * then the tensor bytes. The file is memory-mapped like {@link io.offload4j.gguf.GgufFile} (any size);
 * tensor data stays in the mapping and is never copied. {@link #close()} releases the mapping.
 *
 * <p>Nothing in the header is trusted: the header length is checked against the file before it is
 * read, every tensor's byte size against its dtype and shape, every range against the data section,
 * and the ranges must tile the data section exactly (no overlap, no gap, nothing left over — the
 * format requires it, and a file that breaks it is damaged or not what it claims). Each problem is a
 * {@link ModelFormatException} naming the file, the byte offset or tensor, what was found and what to do.
 */
public final class SafetensorsFile implements AutoCloseable {

    /** The safetensors format's own limit on the JSON header (100 MB). */
    public static final long MAX_HEADER_BYTES = 100_000_000L;
    /** The key of the free-form string map in the header. */
    public static final String METADATA_KEY = "__metadata__";

    static final String TRUNCATED = "; the file is truncated or corrupt: download or save the model again";
    static final String CORRUPT = "; the file is corrupt: download or save the model again";

    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final JsonMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private final Path path;
    private final Arena arena;
    private final MemorySegment segment;
    private final long dataStart;
    private final Map<String, SafetensorsTensorInfo> tensors;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path path, Arena arena, MemorySegment segment, long dataStart,
                            Map<String, SafetensorsTensorInfo> tensors, Map<String, String> metadata) {
        this.path = path;
        this.arena = arena;
        this.segment = segment;
        this.dataStart = dataStart;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /** Maps and validates a safetensors file. The caller owns the result and must close it. */
    public static SafetensorsFile open(Path path) {
        if (!Files.exists(path)) {
            throw new ModelFormatException(path, "no such file; check the model path", new NoSuchFileException(path.toString()));
        }
        if (Files.isDirectory(path)) {
            throw new ModelFormatException(path, "is a directory; expected a .safetensors file");
        }
        if (!Files.isRegularFile(path)) { // a FIFO or a device: opening it would wait for a writer forever
            throw new ModelFormatException(path, "is not a regular file (a pipe, socket or device); expected a .safetensors"
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

    /** Parses safetensors bytes already in memory (tests, tools). The result does not own {@code segment}. */
    public static SafetensorsFile parse(Path nameForErrors, MemorySegment segment) {
        return parse(nameForErrors, segment, null);
    }

    private static SafetensorsFile parse(Path path, MemorySegment segment, Arena arena) {
        Objects.requireNonNull(path, "nameForErrors");
        long size = segment.byteSize();
        if (size < 8) {
            throw new ModelFormatException(path, "the file is only " + size + " bytes long; a safetensors file starts"
                    + " with an 8-byte header length" + TRUNCATED);
        }
        long headerLength = segment.get(U64, 0);
        if (looksLikeGguf(segment)) {
            throw new ModelFormatException(path, "offset 0: this is a GGUF file, not safetensors; pass the .gguf file"
                    + " itself as the model path");
        }
        if (headerLength < 2 || headerLength > size - 8) {
            throw new ModelFormatException(path, "offset 0: the header length is " + Long.toUnsignedString(headerLength)
                    + " bytes, but " + (headerLength < 2 && headerLength >= 0 ? "a JSON header takes at least 2"
                    : "only " + (size - 8) + " bytes follow it in the file") + TRUNCATED);
        }
        if (headerLength > MAX_HEADER_BYTES) {
            throw new ModelFormatException(path, "offset 0: the header length is " + headerLength + " bytes, more than"
                    + " the format's limit of " + MAX_HEADER_BYTES + CORRUPT);
        }
        if (segment.get(ValueLayout.JAVA_BYTE, 8) != '{') {
            throw new ModelFormatException(path, "offset 8: the JSON header must start with '{', found byte 0x"
                    + String.format("%02x", segment.get(ValueLayout.JAVA_BYTE, 8)) + CORRUPT);
        }
        byte[] header = segment.asSlice(8, headerLength).toArray(ValueLayout.JAVA_BYTE);
        JsonNode root;
        try {
            root = JSON.readTree(header);
        } catch (JsonProcessingException e) {
            JsonLocation at = e.getLocation();
            long offset = at == null || at.getByteOffset() < 0 ? 8 : 8 + at.getByteOffset();
            throw new ModelFormatException(path, "offset " + offset + ": the JSON header is malformed: "
                    + e.getOriginalMessage() + CORRUPT, e);
        } catch (IOException e) {
            throw new ModelFormatException(path, "the JSON header cannot be read: " + e.getMessage() + CORRUPT, e);
        }
        if (root == null || !root.isObject()) {
            throw new ModelFormatException(path, "offset 8: the header is not a JSON object" + CORRUPT);
        }
        long dataStart = 8 + headerLength;
        long dataSize = size - dataStart;
        Map<String, SafetensorsTensorInfo> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = Map.of();
        for (Map.Entry<String, JsonNode> field : root.properties()) {
            String name = field.getKey();
            if (name.equals(METADATA_KEY)) {
                metadata = metadata(path, field.getValue());
            } else {
                tensors.put(name, tensor(path, name, field.getValue(), dataSize));
            }
        }
        checkTiling(path, tensors.values(), dataStart, dataSize);
        return new SafetensorsFile(path, arena, segment, dataStart, Collections.unmodifiableMap(tensors),
                Collections.unmodifiableMap(metadata));
    }

    private static boolean looksLikeGguf(MemorySegment s) {
        return s.get(ValueLayout.JAVA_BYTE, 0) == 'G' && s.get(ValueLayout.JAVA_BYTE, 1) == 'G'
                && s.get(ValueLayout.JAVA_BYTE, 2) == 'U' && s.get(ValueLayout.JAVA_BYTE, 3) == 'F';
    }

    private static Map<String, String> metadata(Path path, JsonNode node) {
        if (!node.isObject()) {
            throw new ModelFormatException(path, "header entry '" + METADATA_KEY + "' is " + kind(node)
                    + "; it must be an object of strings" + CORRUPT);
        }
        Map<String, String> m = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : node.properties()) {
            if (!e.getValue().isTextual()) {
                throw new ModelFormatException(path, "header entry '" + METADATA_KEY + "." + printable(e.getKey())
                        + "' is " + kind(e.getValue()) + "; metadata values must be strings" + CORRUPT);
            }
            m.put(e.getKey(), e.getValue().textValue());
        }
        return m;
    }

    private static SafetensorsTensorInfo tensor(Path path, String name, JsonNode node, long dataSize) {
        String where = "tensor '" + printable(name) + "'";
        if (!node.isObject()) {
            throw new ModelFormatException(path, where + ": the header entry is " + kind(node)
                    + "; expected an object with dtype, shape and data_offsets" + CORRUPT);
        }
        JsonNode dtypeNode = required(path, where, node, "dtype");
        if (!dtypeNode.isTextual()) {
            throw new ModelFormatException(path, where + ": dtype is " + kind(dtypeNode) + "; expected a string such as"
                    + " \"BF16\"" + CORRUPT);
        }
        String dtypeName = dtypeNode.textValue();
        SafetensorsDtype dtype = SafetensorsDtype.byName(dtypeName).orElseThrow(() -> new ModelFormatException(path,
                where + ": unknown dtype '" + printable(dtypeName) + "'; known: " + SafetensorsDtype.knownNames()
                        + " (a newer safetensors type? convert the model to F16, BF16 or F32)"));
        JsonNode shapeNode = required(path, where, node, "shape");
        if (!shapeNode.isArray()) {
            throw new ModelFormatException(path, where + ": shape is " + kind(shapeNode) + "; expected an array of"
                    + " dimension sizes" + CORRUPT);
        }
        long[] shape = new long[shapeNode.size()];
        long elements = 1;
        for (int i = 0; i < shape.length; i++) {
            shape[i] = nonNegative(path, where, "shape[" + i + "]", shapeNode.get(i));
            try {
                elements = Math.multiplyExact(elements, shape[i]);
            } catch (ArithmeticException e) {
                throw new ModelFormatException(path, where + ": shape " + shapeNode + " has more than 2^63-1 elements"
                        + CORRUPT);
            }
        }
        JsonNode offsets = required(path, where, node, "data_offsets");
        if (!offsets.isArray() || offsets.size() != 2) {
            throw new ModelFormatException(path, where + ": data_offsets is " + offsets + "; expected [begin, end]"
                    + CORRUPT);
        }
        long begin = nonNegative(path, where, "data_offsets[0]", offsets.get(0));
        long end = nonNegative(path, where, "data_offsets[1]", offsets.get(1));
        if (begin > end) {
            throw new ModelFormatException(path, where + ": data_offsets [" + begin + ", " + end + "] end before they"
                    + " begin" + CORRUPT);
        }
        if (end > dataSize) {
            throw new ModelFormatException(path, where + ": data_offsets [" + begin + ", " + end + "] reach past the"
                    + " end of the file: the data section after the header holds only " + dataSize + " bytes"
                    + TRUNCATED);
        }
        long bits;
        try {
            bits = Math.multiplyExact(elements, dtype.bits());
        } catch (ArithmeticException e) {
            throw new ModelFormatException(path, where + ": " + dtype + " " + Arrays.toString(shape)
                    + " needs more than 2^63-1 bits" + CORRUPT);
        }
        if (bits % 8 != 0 || bits / 8 != end - begin) {
            throw new ModelFormatException(path, where + ": " + dtype + " " + Arrays.toString(shape) + " is " + elements
                    + " elements of " + dtype.bits() + " bits = " + (bits % 8 == 0 ? bits / 8 + " bytes" : bits + " bits")
                    + ", but data_offsets [" + begin + ", " + end + "] hold " + (end - begin) + " bytes" + CORRUPT);
        }
        return new SafetensorsTensorInfo(name, dtype, shape, begin, end);
    }

    /** The ranges must cover the data section exactly once, as the format requires. */
    private static void checkTiling(Path path, java.util.Collection<SafetensorsTensorInfo> all, long dataStart,
                                    long dataSize) {
        List<SafetensorsTensorInfo> sorted = new ArrayList<>(all);
        sorted.sort(Comparator.comparingLong(SafetensorsTensorInfo::begin).thenComparingLong(SafetensorsTensorInfo::end));
        long covered = 0;
        SafetensorsTensorInfo previous = null;
        for (SafetensorsTensorInfo t : sorted) {
            if (t.begin() < covered) {
                throw new ModelFormatException(path, "tensors '" + printable(previous.name()) + "' (data_offsets ["
                        + previous.begin() + ", " + previous.end() + "]) and '" + printable(t.name()) + "' (["
                        + t.begin() + ", " + t.end() + "]) overlap; every byte belongs to one tensor" + CORRUPT);
            }
            if (t.begin() > covered) {
                throw new ModelFormatException(path, "file offsets " + (dataStart + covered) + " to "
                        + (dataStart + t.begin()) + " belong to no tensor (a gap before tensor '" + printable(t.name())
                        + "', data_offsets [" + t.begin() + ", " + t.end() + "]); safetensors files have no gaps"
                        + CORRUPT);
            }
            covered = Math.max(covered, t.end());
            if (t.end() > t.begin() || previous == null) {
                previous = t;
            }
        }
        if (covered != dataSize) {
            throw new ModelFormatException(path, "the tensors end at file offset " + (dataStart + covered)
                    + ", but the file has " + (dataSize - covered) + " more bytes (up to " + (dataStart + dataSize)
                    + "); safetensors files hold nothing after the last tensor" + CORRUPT);
        }
    }

    private static JsonNode required(Path path, String where, JsonNode node, String key) {
        JsonNode v = node.get(key);
        if (v == null || v.isNull()) {
            throw new ModelFormatException(path, where + ": the header entry has no '" + key + "'" + CORRUPT);
        }
        return v;
    }

    private static long nonNegative(Path path, String where, String what, JsonNode v) {
        if (v == null || !v.isIntegralNumber() || !v.canConvertToLong() || v.longValue() < 0) {
            throw new ModelFormatException(path, where + ": " + what + " is " + (v == null ? "missing" : v.toString())
                    + "; expected a non-negative integer" + CORRUPT);
        }
        return v.longValue();
    }

    private static String kind(JsonNode n) {
        return n.isObject() ? "an object" : n.isArray() ? "an array" : n.isTextual() ? "the string " + n
                : n.isNull() ? "null" : n.toString();
    }

    /** A name as it may appear in a message: control characters escaped, at most 200 characters. */
    static String printable(String s) {
        StringBuilder b = new StringBuilder(Math.min(s.length(), 210));
        for (int i = 0; i < s.length(); i++) {
            if (b.length() >= 200) {
                return b.append("...(").append(s.length()).append(" characters)").toString();
            }
            char c = s.charAt(i);
            if (c < 0x20 || c == 0x7f || c == '\'' || c == '\\') {
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

    /** Tensor infos in header order. */
    public Map<String, SafetensorsTensorInfo> tensors() {
        return tensors;
    }

    /** The header's {@code __metadata__} (empty when absent). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** File offset of the data section (8 + header length). */
    public long dataStart() {
        return dataStart;
    }

    /** The bytes of one tensor of this file, a view into the mapping. */
    public MemorySegment tensorData(SafetensorsTensorInfo info) {
        if (tensors.get(info.name()) != info) {
            throw new IllegalArgumentException("tensor '" + info.name() + "' is not one of " + path + "'s");
        }
        return segment.asSlice(dataStart + info.begin(), info.byteSize());
    }

    /** Header bytes as text (for tools and error reports). */
    public String headerJson() {
        return new String(segment.asSlice(8, dataStart - 8).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
    }

    /** Releases the mapping (for files from {@link #open}); tensor data must not be used afterwards. */
    @Override
    public void close() {
        if (arena != null && arena.scope().isAlive()) {
            arena.close();
        }
    }
}
