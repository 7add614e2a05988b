package io.offload4j.backend.cpu;

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

    /** With {@code layers} non-null, only the blocks it marks get storage (a GPU pass's CPU-computed blocks). */
    CpuKvCache(int blocks, int capacity, int keyStride, int kvHeads, int headDim, int valueDim, boolean[] layers) {
        if (keyStride < capacity) {
            throw new IllegalArgumentException("key stride " + keyStride + " < capacity " + capacity);
        }
        this.capacity = capacity;
        this.keyStride = keyStride;
        this.keys = new float[blocks][];
        this.values = new float[blocks][];
        for (int b = 0; b < blocks; b++) {
            boolean used = layers == null || layers[b];
            keys[b] = new float[used ? Math.multiplyExact(Math.multiplyExact(kvHeads, headDim), keyStride) : 0];
            values[b] = new float[used ? Math.multiplyExact(capacity, valueDim) : 0];
        }
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
