package io.offload4j.backend.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import io.offload4j.backend.KvCache;

/**
 * Keys and values in float32 on the heap, in two layouts by block.
 *
 * <p><b>Pages</b> (every block, unless it is a ring): positions in {@link KvPage pages} of P positions from a
 * {@link KvPages} pool, one per run of P positions ({@code table[pos / P]}, row {@code pos % P}), taken as the
 * sequence first writes there. So a cache holds the memory of the positions it has reached, not of its capacity, and
 * {@link #copyPrefix} shares the source's whole pages instead of copying them (only the rows of a last, partial page
 * are copied): sequences that start with the same prompt hold those keys and values once. A page several caches hold
 * is never written: a cache about to write into one copies it first ({@link #writable}).
 *
 * <p><b>Rings</b>: a block that attends through a sliding window of W positions keeps only a ring of R = W + maxChunk
 * rows when that is smaller than the capacity, in arrays of its own: position p lives in slot p mod R, written twice
 * (at the slot and at slot + R) so that any run of up to R consecutive positions is contiguous in the 2R stored rows
 * and attention reads it as one run. Keys are transposed per head, {@code keys[block][(head * headDim + d) *
 * keyStride(block) + slot]}, values slot-major, {@code values[block][slot * valueDim + d]}; the key stride is 2R plus
 * a little padding that vector loads may read past the last row. R exceeds W by a chunk so that a chunk's rows, all
 * written before any attends, never overwrite a row an earlier token of the same chunk still attends to — and so that
 * the last {@link #maxRewind()} positions may be computed again (a rejected speculative draft, a reused prefix)
 * without losing the window before them.
 *
 * <p>Used on one thread at a time (the engine's); {@link #close} may come from another once nothing else uses it.
 */
final class CpuKvCache implements KvCache {
    /** Per block: a ring's keys, or an empty array for a paged or unstored block. */
    final float[][] keys;
    final float[][] values;
    /** Per block: a ring's key stride (its 2R rows plus padding), 0 for a paged or unstored block. */
    final int[] keyStrides;
    /** Per block: R for a ring (slot = position mod R, stored twice), 0 otherwise. */
    private final int[] ring;
    private final KvPages pages;
    /** Positions per page. */
    private final int pagePositions;
    /** Per page of positions: the page, or null before the sequence first writes there. */
    private final KvPage[] table;
    private final int capacity;
    private final int rewind;
    private final long ringBytes;

    /**
     * @param pages    the pool of the blocks this cache keeps in pages (all stored blocks that are not rings)
     * @param ringRows per block, R for a ring of R rows, 0 for a paged or unstored block
     * @param padding  floats past a ring's last row that vector loads may read
     * @param rewind   how many of the last positions may be written again ({@link #maxRewind()})
     */
    CpuKvCache(KvPages pages, int capacity, int[] ringRows, int padding, int keyDim, int valueDim, int rewind) {
        this.pages = pages;
        this.pagePositions = pages.positions();
        this.capacity = capacity;
        this.rewind = rewind;
        this.ring = ringRows.clone();
        this.table = new KvPage[(capacity + pagePositions - 1) / pagePositions];
        int blocks = ring.length;
        this.keyStrides = new int[blocks];
        this.keys = new float[blocks][];
        this.values = new float[blocks][];
        long floats = 0;
        for (int b = 0; b < blocks; b++) {
            int rows = 2 * ring[b];
            keyStrides[b] = rows == 0 ? 0 : rows + padding;
            keys[b] = new float[rows == 0 ? 0 : Math.multiplyExact(keyDim, keyStrides[b])];
            values[b] = new float[Math.multiplyExact(rows, valueDim)];
            floats += keys[b].length + values[b].length;
        }
        this.ringBytes = 4 * floats;
    }

    /** The row where position {@code pos} of ring block {@code block} is (its first copy). */
    int slot(int block, int pos) {
        return pos % ring[block];
    }

    /**
     * Makes the pages of positions {@code pos .. pos+count-1} this cache's own before it writes them: takes a page
     * where there is none yet, and copies one that other caches share (their rows stay as they were). Allocation-free
     * once the pool has released pages to hand out.
     */
    void writable(int pos, int count) {
        if (!pages.holdsAny()) {
            return;
        }
        for (int i = pos / pagePositions, last = (pos + count - 1) / pagePositions; i <= last; i++) {
            KvPage page = table[i];
            if (page == null) {
                table[i] = pages.take();
            } else if (page.holders > 1) {
                KvPage own = pages.take();
                pages.copyRows(own, page, pagePositions);
                pages.release(page);
                table[i] = own;
            }
        }
    }

    /**
     * Stores one position's key ({@code k[kOff ..]}, {@code kvDim} floats) and value ({@code v[vOff ..]}): in a ring at
     * its slot and at slot + R, else in its page, which {@link #writable} made this cache's own.
     */
    void store(int block, int pos, float[] k, int kOff, float[] v, int vOff, int kvDim) {
        if (ring[block] == 0) {
            KvPage page = table[pos / pagePositions];
            int row = pos % pagePositions;
            float[] keysOfPage = page.keys[block];
            for (int j = 0; j < kvDim; j++) {
                keysOfPage[j * pagePositions + row] = k[kOff + j];
            }
            float[] valuesOfPage = page.values[block];
            int valueDim = valuesOfPage.length / pagePositions;
            System.arraycopy(v, vOff, valuesOfPage, row * valueDim, valueDim);
            return;
        }
        float[] keysOfBlock = keys[block];
        int stride = keyStrides[block];
        int valueDim = values[block].length / (2 * ring[block]);
        for (int c = 0, s = slot(block, pos); c < 2; c++, s += ring[block]) {
            for (int j = 0; j < kvDim; j++) {
                keysOfBlock[j * stride + s] = k[kOff + j];
            }
            System.arraycopy(v, vOff, values[block], s * valueDim, valueDim);
        }
    }

    /**
     * Attention of {@code n} query heads ({@code q[qOff + g * hd ..]}) that share key/value head {@code kvHead} of
     * {@code block}, over positions {@code first..last} (all written): into {@code out[outOff + g * hd ..]}, with
     * scores in {@code att[g * attStride ..]} ({@code attStride} at least the positions plus the attention's padding).
     * A ring's window is one contiguous run; pages are attended to run by run, which gives the same floats as one run
     * (each score is its own dot product, the softmax spans all of them, and the weighted sum goes on in order).
     */
    void attend(Attention attention, int block, int kvHead, float[] q, int qOff, int n, int hd, int first, int last,
                float scale, float softcap, float[] att, int attStride, float[] out, int outOff) {
        int positions = last - first + 1;
        if (ring[block] != 0) {
            int stride = keyStrides[block];
            int row = slot(block, first);
            int valueDim = values[block].length / (2 * ring[block]);
            attention.attend(q, qOff, n, hd, keys[block], kvHead * hd * stride + row, stride, values[block],
                    row * valueDim + kvHead * hd, valueDim, positions, scale, softcap, att, attStride, out, outOff);
            return;
        }
        int pp = pagePositions;
        for (int p = first; p <= last; ) {
            int row = p % pp;
            int run = Math.min(pp - row, last - p + 1);
            attention.scores(q, qOff, n, hd, table[p / pp].keys[block], kvHead * hd * pp + row, pp, run, scale, att,
                    p - first, attStride);
            p += run;
        }
        for (int g = 0; g < n; g++) {
            int a = g * attStride;
            if (softcap > 0) {
                attention.softcap(att, a, a + positions, softcap);
            }
            float inv = attention.softmax(att, a, positions);
            for (int p = first; p <= last; ) {
                int row = p % pp;
                int run = Math.min(pp - row, last - p + 1);
                float[] v = table[p / pp].values[block];
                int valueDim = v.length / pp;
                attention.weightedSum(att, a + p - first, inv, hd, v, row * valueDim + kvHead * hd, valueDim, run, out,
                        outOff + g * hd, p == first, p + run > last);
                p += run;
            }
        }
    }

    // ---------------------------------------------------------- rows handed over by another device (hybrid steps)

    /** Writes one position's key and value ({@code keyValueDim} / {@code valueDim} floats) of {@code block}. */
    void write(int block, int pos, float[] key, float[] value) {
        if (ring[block] == 0) {
            writable(pos, 1);
        }
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
        writable(pos, count);
        int pp = pagePositions;
        for (int p = pos, end = pos + count; p < end; ) {
            KvPage page = table[p / pp];
            int row = p % pp;
            int run = Math.min(pp - row, end - p);
            long first = p - pos; // the run's first token in src
            float[] k = page.keys[block];
            for (int j = 0; j < kvDim; j++) {
                int at = j * pp + row;
                for (int t = 0; t < run; t++) {
                    k[at + t] = Float.float16ToFloat(src.get(HALF, keysOffset + 2L * ((first + t) * kvDim + j)));
                }
            }
            float[] v = page.values[block];
            int base = row * kvDim;
            int n = run * kvDim;
            long from = valuesOffset + 2L * first * kvDim;
            for (int i = 0; i < n; i++) { // C2 turns this into the hardware conversion
                v[base + i] = Float.float16ToFloat(src.get(HALF, from + 2L * i));
            }
            p += run;
        }
    }

    private static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Reads one position's key and value of {@code block} (in a ring, one of its last R positions). */
    void read(int block, int pos, float[] key, float[] value) {
        if (ring[block] == 0) {
            KvPage page = table[pos / pagePositions];
            int row = pos % pagePositions;
            for (int j = 0; j < key.length; j++) {
                key[j] = page.keys[block][j * pagePositions + row];
            }
            System.arraycopy(page.values[block], row * value.length, value, 0, value.length);
            return;
        }
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

    /** A cache of the same pass with the same blocks in pages (the same pool) and the same rings. */
    @Override
    public boolean canCopyPrefix(KvCache source) {
        if (!(source instanceof CpuKvCache src) || src.pages != pages || !java.util.Arrays.equals(src.ring, ring)) {
            return false;
        }
        for (int b = 0; b < ring.length; b++) {
            if (ring[b] > 0 && keyStrides[b] != src.keyStrides[b]) {
                return false;
            }
        }
        return true;
    }

    /**
     * Pages: the source's pages that lie wholly before {@code positions} become this cache's too (shared, not copied),
     * and the rows of a last, partial page are copied into a page of this cache's own. A ring is copied whole, which
     * holds the window before {@code positions} when the source kept to {@link #maxRewind()}.
     */
    @Override
    public void copyPrefix(KvCache source, int positions) {
        KvCache.requireCopyable(this, source, positions);
        CpuKvCache src = (CpuKvCache) source;
        int whole = positions / pagePositions;
        int rows = positions % pagePositions;
        if (pages.holdsAny()) { // checked before anything changes
            for (int i = 0; i < whole + (rows > 0 ? 1 : 0); i++) {
                src.requirePage(i, positions);
            }
        }
        for (int b = 0; b < ring.length; b++) {
            if (ring[b] > 0) {
                System.arraycopy(src.keys[b], 0, keys[b], 0, keys[b].length);
                System.arraycopy(src.values[b], 0, values[b], 0, values[b].length);
            }
        }
        if (!pages.holdsAny()) {
            return;
        }
        for (int i = 0; i < whole; i++) {
            KvPage page = src.table[i];
            if (page != table[i]) {
                pages.share(page); // before the release: the same page may be this cache's through a third one
                if (table[i] != null) {
                    pages.release(table[i]);
                }
                table[i] = page;
            }
        }
        if (rows > 0 && src.table[whole] != table[whole]) {
            writable(whole * pagePositions, 1);
            pages.copyRows(table[whole], src.table[whole], rows);
        }
    }

    /** Page {@code i}, which a prefix of {@code positions} positions being copied from this cache must have written. */
    private KvPage requirePage(int i, int positions) {
        if (table[i] == null) {
            throw new IllegalArgumentException("cannot copy a prefix of " + positions + " positions from a KV cache that"
                    + " has not written positions " + i * pagePositions + ".." + ((i + 1) * pagePositions - 1));
        }
        return table[i];
    }

    /** Device or host bytes it may occupy: every page of its capacity, and its rings. */
    @Override
    public long byteSize() {
        return table.length * pages.pageBytes() + ringBytes;
    }

    /** Its rings, and the pages of positions {@code 0..positions-1} (at most its capacity's). */
    @Override
    public long bytesHolding(int positions) {
        int p = Math.max(0, Math.min(positions, capacity));
        return ringBytes + (long) ((p + pagePositions - 1) / pagePositions) * pages.pageBytes();
    }

    /** The pages it has reached (counting those it shares with other caches) and its rings. */
    @Override
    public long heldBytes() {
        long held = ringBytes;
        for (KvPage page : table) {
            if (page != null) {
                held += pages.pageBytes();
            }
        }
        return held;
    }

    /** Its pages go back to the pool (a shared one once its last holder lets go); a ring is left to the collector. */
    @Override
    public void close() {
        for (int i = 0; i < table.length; i++) {
            if (table[i] != null) {
                pages.release(table[i]);
                table[i] = null;
            }
        }
    }
}
