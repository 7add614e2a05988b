package io.offload4j.backend.cpu;

import java.util.ArrayDeque;

/**
 * The pages of one kind of {@link CpuKvCache} (one pass, the same blocks paged): hands them out, counts their holders
 * (a page several caches share is written by none of them: a writer copies it first) and keeps released ones for the
 * next cache, so that a sequence that grows by a page takes no new memory while others have finished. At most
 * {@code maxFree} pages are kept unused; the rest go to the garbage collector.
 *
 * <p>Thread-safe: caches are written on the engine's thread, but a kept cache may be closed on another.
 */
final class KvPages {
    private final int positions;
    /** Per block: the key and value floats of one position, 0 where pages do not hold the block. */
    private final int[] keyDims;
    private final int[] valueDims;
    private final int padding;
    private final long pageBytes;
    private final int maxFree;
    private final ArrayDeque<KvPage> free = new ArrayDeque<>();
    private int inUse;
    private int peak;

    /**
     * @param positions positions per page
     * @param keyDims   per block, the key floats of a position (0: the block is not in pages)
     * @param valueDims per block, the value floats of a position
     * @param padding   floats after each block's keys that vector loads may read
     * @param maxFree   released pages kept for reuse
     */
    KvPages(int positions, int[] keyDims, int[] valueDims, int padding, int maxFree) {
        if (positions < 1) {
            throw new IllegalArgumentException("pages of " + positions + " positions");
        }
        this.positions = positions;
        this.keyDims = keyDims.clone();
        this.valueDims = valueDims.clone();
        this.padding = padding;
        this.maxFree = maxFree;
        long floats = 0;
        for (int b = 0; b < keyDims.length; b++) {
            if (keyDims[b] > 0) {
                floats += Math.multiplyExact(keyDims[b], positions) + padding + (long) valueDims[b] * positions;
            }
        }
        this.pageBytes = 4 * floats;
    }

    /** Positions per page. */
    int positions() {
        return positions;
    }

    /** Bytes of one page. */
    long pageBytes() {
        return pageBytes;
    }

    /** Per block: whether pages hold it. */
    boolean[] blocks() {
        boolean[] held = new boolean[keyDims.length];
        for (int b = 0; b < held.length; b++) {
            held[b] = keyDims[b] > 0;
        }
        return held;
    }

    /** Whether pages hold any block (not so where every block this pass stores is a ring). */
    boolean holdsAny() {
        return pageBytes > 0;
    }

    /** Pages held by caches now. */
    synchronized int pagesInUse() {
        return inUse;
    }

    /** The most pages held at once so far. */
    synchronized int peakInUse() {
        return peak;
    }

    /** A page for one holder; its rows hold whatever they held before (every row is written before it is read). */
    synchronized KvPage take() {
        KvPage page = free.pollFirst();
        if (page == null) {
            float[][] keys = new float[keyDims.length][];
            float[][] values = new float[keyDims.length][];
            for (int b = 0; b < keyDims.length; b++) {
                keys[b] = keyDims[b] == 0 ? new float[0] : new float[keyDims[b] * positions + padding];
                values[b] = keyDims[b] == 0 ? new float[0] : new float[valueDims[b] * positions];
            }
            page = new KvPage(keys, values);
        }
        page.holders = 1;
        peak = Math.max(peak, ++inUse);
        return page;
    }

    /** One holder more for {@code page}. */
    synchronized void share(KvPage page) {
        if (page.holders < 1) {
            throw new IllegalStateException("a released page cannot be shared");
        }
        page.holders++;
    }

    /** One holder less; the last one's release frees the page. */
    synchronized void release(KvPage page) {
        if (page.holders < 1) {
            throw new IllegalStateException("a page released more often than it was taken and shared");
        }
        if (--page.holders == 0) {
            inUse--;
            if (free.size() < maxFree) {
                free.addLast(page);
            }
        }
    }

    /** Rows {@code 0..rows-1} of every block of {@code source} into {@code target} (pages of this pool). */
    void copyRows(KvPage target, KvPage source, int rows) {
        for (int b = 0; b < keyDims.length; b++) {
            if (keyDims[b] == 0) {
                continue;
            }
            for (int j = 0; j < keyDims[b]; j++) {
                System.arraycopy(source.keys[b], j * positions, target.keys[b], j * positions, rows);
            }
            System.arraycopy(source.values[b], 0, target.values[b], 0, rows * valueDims[b]);
        }
    }
}
