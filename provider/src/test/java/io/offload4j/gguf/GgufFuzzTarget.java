package io.offload4j.gguf;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.function.Supplier;

/**
 * What the fuzzer runs on each input: parse, then use everything that parsed. The only exception
 * allowed out of the reader is {@link ModelFormatException}, with a one-line message that names the
 * file; anything else (another exception, an {@link Error} such as OutOfMemoryError, a broken
 * invariant, allocating far more than the input's size) is thrown as a finding.
 */
final class GgufFuzzTarget {

    static final Path NAME = Path.of("fuzz.gguf");
    /** Parsing may allocate at most this many bytes per input byte, plus {@link #ALLOCATION_SLACK}. */
    static final long ALLOCATION_FACTOR = 32;
    static final long ALLOCATION_SLACK = 256 << 10;

    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    private GgufFuzzTarget() {}

    /** Returns the parsed file's tensor count, or -1 when the input was rejected. */
    static int exercise(byte[] bytes) {
        long limit = ALLOCATION_FACTOR * bytes.length + ALLOCATION_SLACK;
        long allocated = parseAllocation(bytes);
        if (allocated > limit) {
            // The first run through a code path also links string concatenations, loads classes...:
            // only a second run measures the parser itself.
            allocated = parseAllocation(bytes);
            if (allocated > limit) {
                throw new AssertionError("parsing " + bytes.length + " bytes allocated " + allocated + " bytes");
            }
        }
        GgufFile f;
        try {
            f = GgufFile.parse(NAME, MemorySegment.ofArray(bytes));
        } catch (ModelFormatException e) {
            checkMessage(e);
            return -1;
        }
        try (f) {
            useMetadata(f.metadata());
            useTensors(f, bytes.length);
            return f.tensors().size();
        }
    }

    /** Bytes allocated by one parse of {@code bytes} (which may fail with a ModelFormatException only). */
    static long parseAllocation(byte[] bytes) {
        long before = THREADS.getCurrentThreadAllocatedBytes();
        try {
            GgufFile.parse(NAME, MemorySegment.ofArray(bytes)).close();
        } catch (ModelFormatException e) {
            // checked by the caller's own parse
        }
        return THREADS.getCurrentThreadAllocatedBytes() - before;
    }

    static void checkMessage(ModelFormatException e) {
        String m = e.getMessage();
        if (m == null || !m.startsWith(NAME + ": ") || m.length() <= NAME.toString().length() + 2) {
            throw new AssertionError("message must name the file: " + m, e);
        }
        if (m.indexOf('\n') >= 0 || m.indexOf('\r') >= 0) {
            throw new AssertionError("message must be one line: " + m, e);
        }
        if (!NAME.equals(e.file())) {
            throw new AssertionError("file() must be the parsed file: " + e.file(), e);
        }
    }

    private static void useMetadata(GgufMetadata m) {
        for (String key : m.keys()) {
            GgufMetadata.Entry e = m.entry(key).orElseThrow();
            if (e.type() == null || e.value() == null || !m.has(key) || m.get(key) != e.value()) {
                throw new AssertionError("inconsistent entry " + GgufFile.printable(key));
            }
            boolean isArray = e.value() instanceof GgufArray;
            if (isArray != (e.type() == GgufValueType.ARRAY)) {
                throw new AssertionError("ARRAY type and GgufArray value disagree for " + GgufFile.printable(key));
            }
            if (isArray) {
                ((GgufArray) e.value()).toString();
            }
            tolerate(() -> m.getString(key));
            tolerate(() -> m.optString(key));
            tolerate(() -> m.getLong(key));
            tolerate(() -> m.getInt(key));
            tolerate(() -> m.getInt(key, 1));
            tolerate(() -> m.getFloat(key));
            tolerate(() -> m.getFloat(key, 1f));
            tolerate(() -> m.getBoolean(key));
            tolerate(() -> m.getBoolean(key, true));
            tolerate(() -> m.getArray(key));
            tolerate(() -> m.getStringArray(key));
            tolerate(() -> m.getFloatArray(key));
            tolerate(() -> m.getIntArray(key));
        }
        tolerate(() -> m.getString("fuzz.absent.key"));
        if (m.getInt("fuzz.absent.key", 7) != 7) {
            throw new AssertionError("default ignored");
        }
    }

    private static void useTensors(GgufFile f, int fileSize) {
        for (GgufTensorInfo t : f.tensors().values()) {
            t.toString();
            long size = t.byteSize();
            long elements = t.elementCount();
            if (elements <= 0 || size <= 0 || t.rank() < 1 || t.rank() > GgufFile.MAX_DIMS) {
                throw new AssertionError("accepted an impossible tensor " + t);
            }
            if (t.dataOffset() % f.alignment() != 0) {
                throw new AssertionError("accepted an unaligned tensor " + t);
            }
            MemorySegment data = f.tensorData(t);
            long start = data.address() - f.segment().address();
            if (data.byteSize() != size || start != f.dataStart() + t.dataOffset() || start + size > fileSize) {
                throw new AssertionError("tensor data out of place: " + t);
            }
            data.get(ValueLayout.JAVA_BYTE, 0);
            data.get(ValueLayout.JAVA_BYTE, size - 1);
        }
    }

    private static void tolerate(Supplier<?> accessor) {
        try {
            accessor.get();
        } catch (ModelFormatException e) {
            checkMessage(e);
        }
    }
}
