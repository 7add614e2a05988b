package io.offload4j.offload;

import io.offload4j.backend.AcceleratorModel;
import io.offload4j.backend.KvCache;
import io.offload4j.backend.cpu.CpuBlockRunner;
import io.offload4j.backend.cpu.CpuThreadPool;
import java.lang.foreign.MemorySegment;

/**
 * Keeps the CPU's KV caches of the CPU blocks in step with the accelerator's, so that either device can take the next
 * step. At batch-1 decode the CPU computes those blocks and their key and value go up, row by row, into the
 * accelerator's cache ({@link #toAccelerator}); after a step the accelerator computed whole (a prompt chunk, a batch),
 * the rows it wrote for those blocks come down into each sequence's CPU cache ({@link #toCpu}): the rows of as many
 * blocks as the staging buffer holds with one synchronisation, then widened from fp16 to fp32 by the CPU's threads,
 * a block and sequence each. (Done block by block, the hand-over cost a prompt chunk about a quarter of its time.)
 */
final class KvHandOff {

    /** Pinned host memory for the keys and values a step hands to the CPU's caches, at most (one block's at least). */
    private static final long STAGING_BYTES = 32L << 20;

    private final AcceleratorModel accelerator;
    private final CpuBlockRunner cpu;
    private final int[] cpuBlocks;
    private final int kvDim;
    private final int rows;
    private final int group;                   // CPU blocks whose rows the staging buffer holds at once
    private final MemorySegment staging;
    private final float[] key;
    private final float[] value;
    private final KvCache[] cpuCaches;         // per sequence of the step being handed over
    private final int[] positions;
    private final WidenTask widen = new WidenTask();

    KvHandOff(AcceleratorModel accelerator, CpuBlockRunner cpu, int[] cpuBlocks, int rows) {
        this.accelerator = accelerator;
        this.cpu = cpu;
        this.cpuBlocks = cpuBlocks;
        this.kvDim = accelerator.config().keyValueDim();
        this.rows = rows;
        long blockBytes = 2L * 2 * rows * kvDim; // keys and values, fp16, of a step's rows
        this.group = (int) Math.clamp(STAGING_BYTES / blockBytes, 1, Math.max(1, cpuBlocks.length));
        this.staging = accelerator.kvStaging(group * blockBytes);
        this.key = new float[kvDim];
        this.value = new float[kvDim];
        this.cpuCaches = new KvCache[rows];
        this.positions = new int[rows];
    }

    /** The key and value the CPU computed for {@code block} at {@code position}, into the accelerator's cache. */
    void toAccelerator(TieredKvCache cache, int block, int position) {
        cpu.readKv(cache.cpu, block, position, key, value);
        accelerator.writeKvRow(cache.accelerator, block, position, key, value);
    }

    /** Sequence {@code s} of the step to hand over: its cache and the first position the step wrote. */
    void set(int s, TieredKvCache cache, int position) {
        cpuCaches[s] = cache.cpu;
        positions[s] = position;
    }

    /**
     * After a step the accelerator computed whole: the {@code count} rows from each of the {@code sequences}
     * sequences' positions ({@link #set}), for every CPU block, into the CPU caches. {@code accelerators[s]} is
     * sequence s's accelerator cache.
     */
    void toCpu(KvCache[] accelerators, int sequences, int count) {
        for (int first = 0; first < cpuBlocks.length; first += group) {
            int n = Math.min(group, cpuBlocks.length - first);
            for (int g = 0; g < n; g++) {
                int block = cpuBlocks[first + g];
                for (int s = 0; s < sequences; s++) {
                    accelerator.copyKvToHost(accelerators[s], block, positions[s], count, offset(g, 0, s * count),
                            offset(g, 1, s * count));
                }
            }
            accelerator.finishStep();
            widen.set(first, sequences, count);
            cpu.parallel(n * sequences, widen);
        }
        for (int s = 0; s < sequences; s++) {
            cpuCaches[s] = null;
        }
    }

    /** Byte offset in the staging buffer of row {@code row} of side {@code side} (0 keys, 1 values) of group block {@code g}. */
    private long offset(int g, int side, int row) {
        return ((2L * g + side) * rows + row) * 2L * kvDim;
    }

    /** Widens one (block, sequence) pair's rows from the staging buffer into that sequence's CPU cache. */
    private final class WidenTask implements CpuThreadPool.RangeTask {
        private int first;
        private int sequences;
        private int count;

        void set(int first, int sequences, int count) {
            this.first = first;
            this.sequences = sequences;
            this.count = count;
        }

        @Override
        public void run(int start, int end, int worker) {
            for (int i = start; i < end; i++) {
                int g = i / sequences;
                int s = i % sequences;
                cpu.writeKvRowsHalves(cpuCaches[s], cpuBlocks[first + g], positions[s], count, staging,
                        offset(g, 0, s * count), offset(g, 1, s * count));
            }
        }
    }
}
