package io.offload4j.backend.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import io.offload4j.backend.KvCache;

/**
 * Keys and values in float32 on the heap. Keys are transposed per head,
 * {@code keys[block][(head * headDim + d) * keyStride + position]}, so attention scores for a run
 * of positions are plain vector multiply-adds; values are position-major,
 * {@code values[block][position * valueDim + d]}. {@code keyStride} is the capacity plus a little
 * padding that vector loads may read past the last position.
 */
final class CpuKvCache implements KvCache {
    final float[][] keys;
    final float[][] values;
    final int keyStride;
    private final int capacity;

    CpuKvCache(int blocks, int capacity, int keyStride, int kvHeads, int headDim, int valueDim) {
        this(blocks, capacity, keyStride, kvHeads, headDim, valueDim, null);
    }

    /** With {@code blocksStored} non-null, only the blocks it marks get storage (a GPU pass's CPU-computed blocks). */
    CpuKvCache(int blocks, int capacity, int keyStride, int kvHeads, int headDim, int valueDim, boolean[] blocksStored) {
        if (keyStride < capacity) {
            throw new IllegalArgumentException("key stride " + keyStride + " < capacity " + capacity);
        }
        this.capacity = capacity;
        this.keyStride = keyStride;
        this.keys = new float[blocks][];
        this.values = new float[blocks][];
        for (int b = 0; b < blocks; b++) {
            boolean used = blocksStored == null || blocksStored[b];
            keys[b] = new float[used ? Math.multiplyExact(Math.multiplyExact(kvHeads, headDim), keyStride) : 0];
            values[b] = new float[used ? Math.multiplyExact(capacity, valueDim) : 0];
        }
    }

    // ---------------------------------------------------------- rows handed over by another device (hybrid steps)

    /** Writes one position's key and value ({@code keyValueDim} / {@code valueDim} floats) of {@code block}. */
    void write(int block, int pos, float[] key, float[] value) {
        float[] k = keys[block];
        for (int j = 0; j < key.length; j++) {
            k[j * keyStride + pos] = key[j];
        }
        System.arraycopy(value, 0, values[block], pos * value.length, value.length);
    }

    /**
     * Writes {@code count} positions' keys and values from {@code pos} on, given as fp16 rows (token-major
     * {@code [t][kvDim]}, little-endian) at byte offsets {@code keysOffset} and {@code valuesOffset} of {@code src}:
     * another device's cache rows copied to host memory as they are. Keys are stored transposed, so the loop runs
     * along the destination rows.
     */
    void writeHalves(int block, int pos, int count, MemorySegment src, long keysOffset, long valuesOffset,
                     int kvDim) {
        float[] k = keys[block];
        for (int j = 0; j < kvDim; j++) {
            int row = j * keyStride + pos;
            for (int t = 0; t < count; t++) {
                k[row + t] = Float.float16ToFloat(src.get(HALF, keysOffset + 2L * ((long) t * kvDim + j)));
            }
        }
        float[] v = values[block];
        int base = pos * kvDim;
        int n = count * kvDim;
        for (int i = 0; i < n; i++) { // C2 turns this into the hardware conversion
            v[base + i] = Float.float16ToFloat(src.get(HALF, valuesOffset + 2L * i));
        }
    }

    private static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Reads one position's key and value of {@code block}. */
    void read(int block, int pos, float[] key, float[] value) {
        float[] k = keys[block];
        for (int j = 0; j < key.length; j++) {
            key[j] = k[j * keyStride + pos];
        }
        System.arraycopy(values[block], pos * value.length, value, 0, value.length);
    }

    @Override
    public int capacity() {
        return capacity;
    }

    @Override
    public long byteSize() {
        long n = 0;
        for (int b = 0; b < keys.length; b++) {
            n += 4L * (keys[b].length + values[b].length);
        }
        return n;
    }

    @Override
    public void close() {
        // heap memory: nothing to release eagerly
    }
}
