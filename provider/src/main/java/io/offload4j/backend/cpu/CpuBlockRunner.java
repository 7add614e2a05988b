package io.offload4j.backend.cpu;

import io.offload4j.backend.KvCache;
import io.offload4j.model.Model;
import java.lang.foreign.MemorySegment;

/**
 * The CPU computing single transformer blocks for a GPU pass that keeps some blocks in host memory: one token at a
 * time (batch-1 decode, where host memory can outrun PCIe), on the residual-stream activation the GPU hands over.
 * Keys and values live in CPU KV caches that hold only those blocks; the GPU pass mirrors them to and from its own.
 * Same kernels and thread pool as the CPU backend; nothing allocated per call.
 */
public final class CpuBlockRunner implements AutoCloseable {

    /**
     * The most tokens of one sequence a call computes: a decode step's one, or a speculative verification's last token
     * and drafts (whose rows cost the CPU little more than one: the weights are read once for all of them).
     */
    public static final int MAX_ROWS = 16;

    private final CpuForwardPass pass;
    private final CpuThreadPool pool;
    private final boolean[] blocks;

    /**
     * @param blocks  the blocks this runner computes (others get no KV storage)
     * @param threads worker threads, 0 = one per available processor
     */
    public CpuBlockRunner(Model model, int maxContext, boolean[] blocks, int threads) {
        int n = threads == 0 ? Runtime.getRuntime().availableProcessors() : threads;
        this.pool = new CpuThreadPool(n);
        this.pass = new CpuForwardPass(model, pool, maxContext, MAX_ROWS);
        this.blocks = blocks.clone();
    }

    /**
     * While on, the worker threads spin between blocks instead of parking: for a step that alternates GPU work and
     * CPU blocks, so that each block starts on all cores at once. Turn it off when the step ends.
     */
    public void keepThreadsSpinning(boolean on) {
        pool.keepSpinning(on);
    }

    /** Sets who is told which experts the sparse blocks this runner computes chose (see {@link CpuForwardPass}). */
    public void routingListener(io.offload4j.backend.MoeRoutingListener listener) {
        pass.routingListener(listener);
    }

    /**
     * A KV cache for one sequence, holding only this runner's blocks. Sliding-window blocks keep a ring with
     * {@link #RING_SURPLUS} rows beyond the window, so that the GPU pass may rewind the sequence that far (a rejected
     * speculative draft, a reused prefix) while the CPU's copy still holds the window behind it. A call's rows
     * (up to {@link #MAX_ROWS}) all fit the ring's surplus too.
     */
    public KvCache newKvCache(int capacity) {
        return pass.newKvCache(capacity, blocks, RING_SURPLUS);
    }

    /**
     * Rows a sliding block's ring keeps beyond the window (see {@link #newKvCache}): at least {@link #MAX_ROWS}, so
     * that a multi-row call's rows, all written before any attends, never overwrite the window of its first row.
     */
    static final int RING_SURPLUS = Math.max(64, MAX_ROWS);

    /**
     * Block {@code block} for {@code count} (≤ {@link #MAX_ROWS}) consecutive tokens from {@code pos}:
     * {@code activations} ({@code count} rows) are updated in place.
     */
    public void runBlock(int block, KvCache cache, float[] activations, int count, int pos) {
        check(block);
        pass.runBlock(block, (CpuKvCache) cache, activations, count, pos);
    }

    /** Stores a position's key and value computed elsewhere (by the GPU, during a prompt). */
    public void writeKv(KvCache cache, int block, int pos, float[] key, float[] value) {
        check(block);
        ((CpuKvCache) cache).write(block, pos, key, value);
    }

    /**
     * Stores {@code count} positions' keys and values from {@code pos} on, given as fp16 rows (token-major
     * {@code [t][kvDim]}, little-endian) at byte offsets {@code keysOffset} and {@code valuesOffset} of
     * {@code halves}: a GPU's cache rows copied to host memory as they are.
     */
    public void writeKvRowsHalves(KvCache cache, int block, int pos, int count, MemorySegment halves, long keysOffset,
                                  long valuesOffset) {
        check(block);
        ((CpuKvCache) cache).writeHalves(block, pos, count, halves, keysOffset, valuesOffset,
                pass.config().keyValueDim());
    }

    /** Runs {@code task} over {@code [0, size)}, one index at a time, on this runner's threads. */
    public void parallel(int size, CpuThreadPool.RangeTask task) {
        pool.run(size, 1, task);
    }

    /** Reads a position's key and value computed here, for the GPU's copy of the cache. */
    public void readKv(KvCache cache, int block, int pos, float[] key, float[] value) {
        check(block);
        ((CpuKvCache) cache).read(block, pos, key, value);
    }

    private void check(int block) {
        if (block < 0 || block >= blocks.length || !blocks[block]) {
            throw new IllegalArgumentException("block " + block + " is not computed by this CPU runner");
        }
    }

    @Override
    public void close() {
        pass.close();
    }
}
