package io.offload4j.backend.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import io.offload4j.backend.KvCache;

/**
 * Keys and values in float32 on the heap. Keys are transposed per head,
 * {@code keys[block][(head * headDim + d) * keyStride(block) + slot]}, so attention scores for a run
 * of positions are plain vector multiply-adds; values are slot-major,
 * {@code values[block][slot * valueDim + d]}. The key stride is the block's rows plus a little
 * padding that vector loads may read past the last row.
 *
 * <p>A block that attends through a sliding window of W positions keeps only a <b>ring</b> of R = W + maxChunk
 * rows when that is smaller than the capacity: position p lives in slot p mod R, written twice (at the slot and at
 * slot + R) so that any run of up to R consecutive positions is contiguous in the 2R stored rows and attention reads
 * it exactly like a full cache. R exceeds W by a chunk so that a chunk's rows, all written before any attends,
 * never overwrite a row an earlier token of the same chunk still attends to — and so that the last
 * {@link #maxRewind()} positions may be computed again (a rejected speculative draft, a reused prefix) without
 * losing the window before them. Other blocks keep every position (slot = position).
 */
final class CpuKvCache implements KvCache {
    final float[][] keys;
    final float[][] values;
    /** Per block: the key stride (its stored rows plus padding). */
    final int[] keyStrides;
    /** Per block: R for a ring (slot = position mod R, stored twice), 0 for a full cache (slot = position). */
    private final int[] ring;
    private final int capacity;
    private final int rewind;

    CpuKvCache(int blocks, int capacity, int keyStride, int kvHeads, int headDim, int valueDim) {
        this(blocks, capacity, keyStride - capacity, kvHeads, headDim, valueDim, null, new int[blocks], Integer.MAX_VALUE);
    }

    /**
     * @param padding      rows past the last that vector loads may read
     * @param blocksStored non-null: only the blocks it marks get storage (a GPU pass's CPU-computed blocks)
     * @param ringRows     per block, R for a ring of R rows, 0 for every position
     * @param rewind       how many of the last positions may be written again ({@link #maxRewind()})
     */
    CpuKvCache(int blocks, int capacity, int padding, int kvHeads, int headDim, int valueDim, boolean[] blocksStored,
               int[] ringRows, int rewind) {
        if (padding < 0) {
            throw new IllegalArgumentException("negative padding " + padding);
        }
        this.capacity = capacity;
        this.rewind = rewind;
        this.ring = ringRows.clone();
        this.keyStrides = new int[blocks];
        this.keys = new float[blocks][];
        this.values = new float[blocks][];
        for (int b = 0; b < blocks; b++) {
            boolean used = blocksStored == null || blocksStored[b];
            int rows = ring[b] > 0 ? 2 * ring[b] : capacity;
            keyStrides[b] = rows + padding;
            keys[b] = new float[used ? Math.multiplyExact(Math.multiplyExact(kvHeads, headDim), keyStrides[b]) : 0];
            values[b] = new float[used ? Math.multiplyExact(rows, valueDim) : 0];
        }
    }

    /** The row where position {@code pos} of {@code block} is (its first copy, for a ring). */
    int slot(int block, int pos) {
        int r = ring[block];
        return r == 0 ? pos : pos % r;
    }

    /**
     * Stores one position's key ({@code k[kOff ..]}) and value ({@code v[vOff ..]}), {@code kvDim} floats each: in
     * its slot, and in a ring also at slot + R.
     */
    void store(int block, int pos, float[] k, int kOff, float[] v, int vOff, int kvDim) {
        float[] keysOfBlock = keys[block];
        int stride = keyStrides[block];
        int s = slot(block, pos);
        int copies = ring[block] == 0 ? 1 : 2;
        for (int c = 0; c < copies; c++, s += ring[block]) {
            for (int j = 0; j < kvDim; j++) {
                keysOfBlock[j * stride + s] = k[kOff + j];
            }
            System.arraycopy(v, vOff, values[block], s * kvDim, kvDim);
        }
    }

    // ---------------------------------------------------------- rows handed over by another device (hybrid steps)

    /** Writes one position's key and value ({@code keyValueDim} / {@code valueDim} floats) of {@code block}. */
    void write(int block, int pos, float[] key, float[] value) {
        store(block, pos, key, 0, value, 0, key.length);
    }

    /**
     * Writes {@code count} positions' keys and values from {@code pos} on, given as fp16 rows (token-major
     * {@code [t][kvDim]}, little-endian) at byte offsets {@code keysOffset} and {@code valuesOffset} of {@code src}:
     * another device's cache rows copied to host memory as they are. Keys are stored transposed, so the loop runs
     * along the destination rows. In a ring the positions are written in order, so the newest win.
     */
    void writeHalves(int block, int pos, int count, MemorySegment src, long keysOffset, long valuesOffset,
                     int kvDim) {
        if (ring[block] != 0) { // position by position, each into both copies of its row (a batch step's path too)
            float[] k = keys[block];
            float[] v = values[block];
            int keyStride = keyStrides[block];
            for (int t = 0; t < count; t++) {
                for (int row = slot(block, pos + t), c = 0; c < 2; c++, row += ring[block]) {
                    for (int j = 0; j < kvDim; j++) {
                        long at = 2L * ((long) t * kvDim + j);
                        k[j * keyStride + row] = Float.float16ToFloat(src.get(HALF, keysOffset + at));
                        v[row * kvDim + j] = Float.float16ToFloat(src.get(HALF, valuesOffset + at));
                    }
                }
            }
            return;
        }
        float[] k = keys[block];
        int keyStride = keyStrides[block];
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

    /** Reads one position's key and value of {@code block} (in a ring, one of its last R positions). */
    void read(int block, int pos, float[] key, float[] value) {
        float[] k = keys[block];
        int stride = keyStrides[block];
        int s = slot(block, pos);
        for (int j = 0; j < key.length; j++) {
            key[j] = k[j * stride + s];
        }
        System.arraycopy(values[block], s * value.length, value, 0, value.length);
    }

    @Override
    public int capacity() {
        return capacity;
    }

    @Override
    public int maxRewind() {
        return rewind;
    }

    /** A cache of the same pass: the same blocks stored, the same rings, the same widths. */
    @Override
    public boolean canCopyPrefix(KvCache source) {
        if (!(source instanceof CpuKvCache src) || src.keys.length != keys.length) {
            return false;
        }
        for (int b = 0; b < keys.length; b++) {
            boolean stored = keys[b].length > 0;
            if (stored != (src.keys[b].length > 0) || ring[b] != src.ring[b]) {
                return false;
            }
            if (stored && (keys[b].length / keyStrides[b] != src.keys[b].length / src.keyStrides[b]
                    || (ring[b] > 0 && (keyStrides[b] != src.keyStrides[b]
                    || values[b].length != src.values[b].length)))) {
                return false;
            }
        }
        return true;
    }

    /**
     * Full blocks copy their first {@code positions} rows (each transposed key row, then the values); a ring is
     * copied whole, which holds the window before {@code positions} when the source kept to {@link #maxRewind()}.
     */
    @Override
    public void copyPrefix(KvCache source, int positions) {
        KvCache.requireCopyable(this, source, positions);
        CpuKvCache src = (CpuKvCache) source;
        for (int b = 0; b < keys.length; b++) {
            if (keys[b].length == 0) {
                continue;
            }
            if (ring[b] > 0) {
                System.arraycopy(src.keys[b], 0, keys[b], 0, keys[b].length);
                System.arraycopy(src.values[b], 0, values[b], 0, values[b].length);
                continue;
            }
            int kvDim = keys[b].length / keyStrides[b];
            for (int j = 0; j < kvDim; j++) {
                System.arraycopy(src.keys[b], j * src.keyStrides[b], keys[b], j * keyStrides[b], positions);
            }
            int valueDim = values[b].length / capacity;
            System.arraycopy(src.values[b], 0, values[b], 0, positions * valueDim);
        }
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
