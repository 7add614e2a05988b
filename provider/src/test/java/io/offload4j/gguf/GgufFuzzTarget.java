package io.offload4j.gguf;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
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
            rewriteAndCompare(f);
            return f.tensors().size();
        }
    }

    /**
     * What parsed can be written back by {@link GgufWriter} (laid out in memory exactly as
     * {@link GgufWriter#write} lays out a file) and reads back the same: metadata, tensor names, types,
     * shapes and bytes.
     */
    static void rewriteAndCompare(GgufFile f) {
        GgufWriter w = new GgufWriter().putAll(f.metadata());
        long align = f.alignment();
        long dataSize = 0;
        for (GgufTensorInfo t : f.tensors().values()) {
            w.addTensor(t.name(), t.type(), t.dims(), dst -> { });
            dataSize = GgufFile.alignUp(dataSize + t.byteSize(), align);
        }
        byte[] header = w.header();
        long dataStart = GgufFile.alignUp(header.length, align);
        byte[] out = new byte[Math.toIntExact(f.tensors().isEmpty() ? header.length : dataStart + dataSize)];
        System.arraycopy(header, 0, out, 0, header.length);
        long offset = 0;
        for (GgufTensorInfo t : f.tensors().values()) {
            MemorySegment.copy(f.tensorData(t), 0, MemorySegment.ofArray(out), dataStart + offset, t.byteSize());
            offset = GgufFile.alignUp(offset + t.byteSize(), align);
        }
        try (GgufFile g = GgufFile.parse(NAME, MemorySegment.ofArray(out))) {
            if (g.alignment() != f.alignment() || g.version() != 3) {
                throw new AssertionError("rewritten file: alignment " + g.alignment() + ", version " + g.version());
            }
            if (!List.copyOf(g.metadata().keys()).equals(List.copyOf(f.metadata().keys()))) {
                throw new AssertionError("rewritten keys differ");
            }
            for (String key : f.metadata().keys()) {
                GgufMetadata.Entry a = f.metadata().entry(key).orElseThrow();
                GgufMetadata.Entry b = g.metadata().entry(key).orElseThrow();
                if (a.type() != b.type() || !sameValue(a.value(), b.value())) {
                    throw new AssertionError("rewritten value of " + GgufFile.printable(key) + " differs: " + a + " vs " + b);
                }
            }
            if (!List.copyOf(g.tensors().keySet()).equals(List.copyOf(f.tensors().keySet()))) {
                throw new AssertionError("rewritten tensor names differ");
            }
            for (GgufTensorInfo t : f.tensors().values()) {
                GgufTensorInfo u = g.tensors().get(t.name());
                if (u.type() != t.type() || !Arrays.equals(u.dims(), t.dims())
                        || g.tensorData(u).mismatch(f.tensorData(t)) != -1) {
                    throw new AssertionError("rewritten tensor differs: " + t + " vs " + u);
                }
            }
        }
    }

    private static boolean sameValue(Object a, Object b) {
        if (a instanceof GgufArray x && b instanceof GgufArray y) {
            if (x.elementType() != y.elementType() || x.length() != y.length()) {
                return false;
            }
            if (x.values() instanceof GgufArray[] xs) {
                GgufArray[] ys = (GgufArray[]) y.values();
                for (int i = 0; i < xs.length; i++) {
                    if (!sameValue(xs[i], ys[i])) {
                        return false;
                    }
                }
                return true;
            }
            return Arrays.deepEquals(new Object[] {x.values()}, new Object[] {y.values()});
        }
        if (a instanceof Float x && b instanceof Float y) {
            return Float.floatToRawIntBits(x) == Float.floatToRawIntBits(y);
        }
        if (a instanceof Double x && b instanceof Double y) {
            return Double.doubleToRawLongBits(x) == Double.doubleToRawLongBits(y);
        }
        return a.equals(b);
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
