package io.offload4j.backend.cuda;

import static jcuda.driver.JCudaDriver.cuGraphExecDestroy;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuPointerGetAttribute;

import io.offload4j.backend.KvCache;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUpointer_attribute;

/**
 * Keys and values of one sequence in device memory, fp16: one allocation each for the blocks this device computes
 * ({@code firstBlock ..}, all of them unless the model is split over several devices), {@code [block][row][kvDim]}
 * (arrays are indexed by {@code block - firstBlock}). A block row is its position, except in a sliding-window block
 * whose cache is a ring of R rows (as {@code backend.cpu.CpuKvCache}: position p in row p mod R and again in row
 * p mod R + R, so a window is always contiguous; 2R rows where the block would otherwise hold the whole capacity).
 * It also keeps the CUDA graph of the decode step, which bakes in these addresses: captured on the first one-token
 * forward call, replayed for every later token.
 */
final class CudaKvCache implements KvCache {

    final CudaModel owner;
    private final int capacity;
    private final int kvDim;
    private final CUdeviceptr keys = new CUdeviceptr();
    private final CUdeviceptr values = new CUdeviceptr();
    /** The two allocations' device addresses as numbers, for the tables of batched steps. */
    private final long keysAddress;
    private final long valuesAddress;
    private final long[] blockOffsets;
    private final int[] ring;
    private final int rewind;
    private final long bytes;
    private final int firstBlock;
    CUgraphExec decodeGraph;
    /** Per block (index), with experts placed one by one: the one-token attention part's graph (CudaModel). */
    CUgraphExec[] blockGraphs;
    private boolean closed;

    CudaKvCache(CudaModel owner, int firstBlock, int blocks, int capacity, int kvDim, String device) {
        this(owner, firstBlock, blocks, capacity, kvDim, device, new int[blocks], Integer.MAX_VALUE);
    }

    /**
     * @param firstBlock the first block this cache holds; {@code blocks} blocks from there
     * @param ring       per block held ({@code block - firstBlock}), R for a ring of R rows, 0 for every position
     * @param rewind     how many of the last positions may be written again ({@link KvCache#maxRewind()})
     */
    CudaKvCache(CudaModel owner, int firstBlock, int blocks, int capacity, int kvDim, String device, int[] ring,
                int rewind) {
        this.owner = owner;
        this.firstBlock = firstBlock;
        this.capacity = capacity;
        this.kvDim = kvDim;
        this.ring = ring.clone();
        this.rewind = rewind;
        this.blockOffsets = new long[blocks + 1];
        for (int b = 0; b < blocks; b++) {
            blockOffsets[b + 1] = blockOffsets[b] + 2L * (ring[b] > 0 ? 2L * ring[b] : capacity) * kvDim;
        }
        long total = blockOffsets[blocks];
        this.bytes = 2 * total;
        CudaMemory.alloc(keys, total, device, "the keys of a " + capacity + "-position KV cache");
        try {
            CudaMemory.alloc(values, total, device, "the values of a " + capacity + "-position KV cache");
        } catch (RuntimeException e) {
            cuMemFree(keys);
            throw e;
        }
        this.keysAddress = address(keys);
        this.valuesAddress = address(values);
    }

    private static long address(CUdeviceptr p) {
        long[] value = new long[1];
        cuPointerGetAttribute(Pointer.to(value), CUpointer_attribute.CU_POINTER_ATTRIBUTE_DEVICE_POINTER, p);
        return value[0];
    }

    /** The device address of {@code block}'s keys, as {@link #keys} points to them. */
    long keysAddress(int block) {
        return keysAddress + blockOffsets[block - firstBlock];
    }

    /** The device address of {@code block}'s values. */
    long valuesAddress(int block) {
        return valuesAddress + blockOffsets[block - firstBlock];
    }

    CUdeviceptr keys(int block) {
        return keys.withByteOffset(blockOffsets[block - firstBlock]);
    }

    CUdeviceptr values(int block) {
        return values.withByteOffset(blockOffsets[block - firstBlock]);
    }

    /**
     * R of a sliding block's ring for a window of {@code window} and steps of up to {@code stepRows} rows:
     * W + max(stepRows, 8). A step's rows are all written before any attends, so the ring must hold the window
     * behind its first row plus every row of the step (8: the queries one attn_prefill block takes at once); the
     * surplus over W is also how far a sequence may be rewound ({@link #maxRewind()}).
     */
    static int ringRows(int window, int stepRows) {
        return window + Math.max(stepRows, 8);
    }

    /** R of the block's ring, or 0 when its rows are positions. */
    int ring(int block) {
        return ring[block - firstBlock];
    }

    /** The row of {@code position} in {@code block} (its first copy, in a ring). */
    int row(int block, int position) {
        int r = ring[block - firstBlock];
        return r == 0 ? position : position % r;
    }

    int kvDim() {
        return kvDim;
    }

    @Override
    public int capacity() {
        return capacity;
    }

    @Override
    public int maxRewind() {
        return rewind;
    }

    /** A cache of the same model and blocks with the same rings (the row counts of full blocks may differ). */
    @Override
    public boolean canCopyPrefix(KvCache source) {
        return source instanceof CudaKvCache src && src.owner == owner && src.firstBlock == firstBlock
                && src.kvDim == kvDim && java.util.Arrays.equals(src.ring, ring);
    }

    /**
     * Per block, device to device on the model's compute stream (so after the source's last step and before the next
     * step of either): a full block's first {@code positions} rows of keys and of values, a ring whole (it holds the
     * window before {@code positions} when the source kept to {@link #maxRewind()}).
     */
    @Override
    public void copyPrefix(KvCache source, int positions) {
        KvCache.requireCopyable(this, source, positions);
        CudaKvCache src = (CudaKvCache) source;
        owner.makeCurrent();
        for (int b = 0; b < ring.length; b++) {
            long bytes = ring[b] > 0 ? blockOffsets[b + 1] - blockOffsets[b] : 2L * positions * kvDim;
            if (bytes > 0) {
                owner.copyOnStream(keys.withByteOffset(blockOffsets[b]), src.keys.withByteOffset(src.blockOffsets[b]),
                        bytes);
                owner.copyOnStream(values.withByteOffset(blockOffsets[b]),
                        src.values.withByteOffset(src.blockOffsets[b]), bytes);
            }
        }
    }

    @Override
    public long byteSize() {
        return bytes;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        owner.makeCurrent();
        if (decodeGraph != null) {
            cuGraphExecDestroy(decodeGraph);
            decodeGraph = null;
        }
        if (blockGraphs != null) {
            for (CUgraphExec g : blockGraphs) {
                if (g != null) {
                    cuGraphExecDestroy(g);
                }
            }
            blockGraphs = null;
        }
        cuMemFree(keys);
        cuMemFree(values);
    }
}
