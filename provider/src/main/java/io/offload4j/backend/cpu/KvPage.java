package io.offload4j.backend.cpu;

/**
 * {@link KvPages#positions()} consecutive positions of the paged blocks of a sequence's KV cache: the unit a
 * {@link CpuKvCache} takes as its sequence grows, and shares with another cache that copies a prefix from it. Keys are
 * transposed per head, {@code keys[block][(head * headDim + d) * positions + row]}, so that attention scores over a
 * page's rows are plain vector multiply-adds; values are row-major, {@code values[block][row * valueDim + d]}. Each key
 * array ends with a little padding that vector loads may read past the last row.
 */
final class KvPage {
    /** Per block: its keys, or an empty array for a block its pages do not hold (a ring, another device's block). */
    final float[][] keys;
    final float[][] values;
    /** How many caches hold this page; written under the lock of the {@link KvPages} that made it. */
    volatile int holders;

    KvPage(float[][] keys, float[][] values) {
        this.keys = keys;
        this.values = values;
    }
}
