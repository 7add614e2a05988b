package io.offload4j.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.function.BiConsumer;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A hostile file must not make the reader allocate much more than a small multiple of its own size.
 * Each case is about 1 MB of the cheapest-to-write, most-expensive-to-read content; the bytes the
 * parsing thread allocates are measured (second parse, so class loading and call-site linking of the
 * first do not count) and must stay under {@code factor * size + 64 KiB}.
 *
 * <p>Measured on JDK 25 (bytes allocated per file byte): UINT8/INT8 arrays 4.0 (int[]), UINT16/UINT32
 * 2.0, BOOL/INT32 1.0, empty or 1-byte strings 0.5, 2-byte strings 5.2, invalid UTF-8 7.6, 3-byte CJK
 * strings 9.1 (the JDK's UTF-8 decoding copies), nested empty arrays 2.3, tiny metadata entries 7.4,
 * tiny tensor infos 5.1; rejected files about 1 or less. The factors allowed are those plus a margin.
 */
class GgufAllocationTest {

    private static final int MB = 1 << 20;
    private static final long SLACK = 64 << 10;
    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    /** A key short enough to leave the file to its content, distinct for every i. */
    private static String key(int i) {
        return Integer.toString(i, 36);
    }

    /** Header, one array entry, then {@code count} elements of {@code size} bytes written by {@code element}. */
    private static byte[] array(GgufValueType elementType, int count, int size, BiConsumer<ByteBuffer, Integer> element) {
        byte[] head = RawGguf.header(3, 0, 1).kvArray("k", elementType, count).bytes();
        ByteBuffer b = ByteBuffer.allocate(head.length + count * size).order(ByteOrder.LITTLE_ENDIAN).put(head);
        for (int i = 0; i < count; i++) {
            element.accept(b, i);
        }
        return b.array();
    }

    /** {@code count} elements that are all {@code unit}. */
    private static byte[] array(GgufValueType elementType, int count, byte... unit) {
        return array(elementType, count, unit.length, (b, i) -> b.put(unit));
    }

    static Stream<Arguments> cases() {
        return Stream.of(
                // name, bytes, expected to parse, allowed factor
                Arguments.of("1 MB array of UINT8 (int[]: 4 bytes each)", array(GgufValueType.UINT8, MB, (byte) 0xff), true, 5),
                Arguments.of("1 MB array of INT8", array(GgufValueType.INT8, MB, 1, (b, i) -> b.put((byte) (int) i)), true, 5),
                Arguments.of("1 MB array of UINT16", array(GgufValueType.UINT16, MB / 2, new byte[2]), true, 3),
                Arguments.of("1 MB array of UINT32 (long[])", array(GgufValueType.UINT32, MB / 4, new byte[4]), true, 3),
                Arguments.of("1 MB array of BOOL", array(GgufValueType.BOOL, MB, (byte) 1), true, 2),
                Arguments.of("1 MB array of INT32", array(GgufValueType.INT32, MB / 4, new byte[4]), true, 2),
                Arguments.of("1 MB of empty strings", array(GgufValueType.STRING, MB / 8, new byte[8]), true, 2),
                Arguments.of("1 MB of 1-byte strings", array(GgufValueType.STRING, MB / 9, 9,
                        (b, i) -> b.putLong(1).put((byte) (int) i)), true, 2),
                Arguments.of("1 MB of 2-byte strings", array(GgufValueType.STRING, MB / 10, 10,
                        (b, i) -> b.putLong(2).put((byte) ('a' + i % 26)).put((byte) ('a' + i / 26 % 26))), true, 7),
                Arguments.of("1 MB of 2-byte invalid UTF-8 strings", array(GgufValueType.STRING, MB / 10, 10,
                        (b, i) -> b.putLong(2).put((byte) 0xff).put((byte) 0xfe)), true, 10),
                Arguments.of("1 MB of 3-byte CJK strings", array(GgufValueType.STRING, MB / 11,
                        new RawGguf().str("世").bytes()), true, 11),
                Arguments.of("1 MB of nested empty arrays", array(GgufValueType.ARRAY, MB / 12,
                        new RawGguf().u32(GgufValueType.UINT8.id()).u64(0).bytes()), true, 4),
                Arguments.of("1 MB of tiny metadata entries", manyKvs(), true, 10),
                Arguments.of("1 MB of tiny tensor infos sharing one data block", manyTensors(), true, 7),
                Arguments.of("array claims the whole file, then a bad BOOL", badBoolAtEnd(), false, 2),
                Arguments.of("UINT8 array count of 2^62 in 1 MB", RawGguf.header(3, 0, 1)
                        .kvArray("k", GgufValueType.UINT8, 1L << 62).zeros(MB).bytes(), false, 1),
                Arguments.of("metadata count of 2^63 then 1 MB of zeros", RawGguf.header(3, 0, Long.MIN_VALUE)
                        .zeros(MB).bytes(), false, 1),
                Arguments.of("string length of 2^40 in 1 MB", RawGguf.header(3, 0, 1).u64(1L << 40).zeros(MB).bytes(),
                        false, 1));
    }

    private static final int KVS = MB / 16;
    private static final int TENSORS = MB / 40;

    private static byte[] manyKvs() {
        ByteBuffer b = ByteBuffer.allocate(MB + (MB >> 4)).order(ByteOrder.LITTLE_ENDIAN);
        b.put(RawGguf.header(3, 0, KVS).bytes());
        for (int i = 0; i < KVS; i++) {
            byte[] k = key(i).getBytes(StandardCharsets.US_ASCII);
            b.putLong(k.length).put(k).putInt(GgufValueType.UINT8.id()).put((byte) 200); // 200: no cached Integer
        }
        return Arrays.copyOf(b.array(), b.position());
    }

    private static byte[] manyTensors() {
        ByteBuffer b = ByteBuffer.allocate(MB).order(ByteOrder.LITTLE_ENDIAN);
        b.put(RawGguf.header(3, TENSORS, 0).bytes());
        for (int i = 0; i < TENSORS; i++) {
            byte[] k = key(i).getBytes(StandardCharsets.US_ASCII);
            b.putLong(k.length).put(k).putInt(1).putLong(1).putInt(GgmlType.F32.id()).putLong(0);
        }
        return Arrays.copyOf(b.array(), (int) GgufFile.alignUp(b.position(), 32) + 32);
    }

    private static byte[] badBoolAtEnd() {
        byte[] b = array(GgufValueType.BOOL, MB, (byte) 1);
        b[b.length - 1] = 2;
        return b;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void allocationIsBoundedByTheFileSize(String name, byte[] bytes, boolean parses, int factor) {
        parse(bytes, parses); // first run: class loading, call-site linking, JIT
        long before = THREADS.getCurrentThreadAllocatedBytes();
        parse(bytes, parses);
        long allocated = THREADS.getCurrentThreadAllocatedBytes() - before;
        double perByte = (double) allocated / bytes.length;
        System.out.printf("%-55s %9d bytes -> %10d allocated (%.2f per byte, allowed %d)%n", name, bytes.length,
                allocated, perByte, factor);
        assertTrue(allocated <= factor * (long) bytes.length + SLACK, () -> name + ": parsing " + bytes.length
                + " bytes allocated " + allocated + " bytes (" + String.format("%.2f", perByte) + " per byte), more than "
                + factor + " per byte");
    }

    private static void parse(byte[] bytes, boolean parses) {
        if (parses) {
            try (GgufFile f = GgufFile.parse(RawGguf.NAME, MemorySegment.ofArray(bytes))) {
                assertTrue(f.metadata().keys().size() + f.tensors().size() > 0);
            }
        } else {
            ModelFormatException e = assertThrows(ModelFormatException.class,
                    () -> GgufFile.parse(RawGguf.NAME, MemorySegment.ofArray(bytes)));
            assertTrue(e.getMessage().startsWith("test.gguf: offset "), e.getMessage());
        }
    }

    /** The cases are what they say (guards the generators above against silently building something else). */
    @org.junit.jupiter.api.Test
    void casesAreWhatTheySay() {
        cases().forEach(a -> {
            byte[] b = (byte[]) a.get()[1];
            assertTrue(b.length > MB * 0.85 && b.length < MB * 1.1, a.get()[0] + ": " + b.length);
        });
        try (GgufFile f = GgufFile.parse(RawGguf.NAME, MemorySegment.ofArray(manyKvs()))) {
            assertEquals(KVS, f.metadata().keys().size());
            assertEquals(200, f.metadata().getInt(key(KVS - 1)));
        }
        try (GgufFile f = GgufFile.parse(RawGguf.NAME, MemorySegment.ofArray(manyTensors()))) {
            assertEquals(TENSORS, f.tensors().size());
        }
        try (GgufFile f = GgufFile.parse(RawGguf.NAME, MemorySegment.ofArray(array(GgufValueType.STRING, 3, 10,
                (b, i) -> b.putLong(2).put((byte) ('a' + i)).put((byte) 'z'))))) {
            assertArrayEquals(new String[] {"az", "bz", "cz"}, f.metadata().getStringArray("k"));
        }
    }
}
