package io.offload4j.backend.cpu;

import io.offload4j.backend.KvCache;

/** Keys and values in float32 on the heap: {@code keys[block][position * kvDim + d]}. */
final class CpuKvCache implements KvCache {
    final float[][] keys;
    final float[][] values;
    private final int capacity;

    CpuKvCache(int blocks, int capacity, int keyDim, int valueDim) {
        this.capacity = capacity;
        this.keys = new float[blocks][];
        this.values = new float[blocks][];
        for (int b = 0; b < blocks; b++) {
            keys[b] = new float[Math.multiplyExact(capacity, keyDim)];
            values[b] = new float[Math.multiplyExact(capacity, valueDim)];
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
