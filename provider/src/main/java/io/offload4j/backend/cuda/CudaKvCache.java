package io.offload4j.backend.cuda;

import static jcuda.driver.JCudaDriver.cuGraphExecDestroy;
import static jcuda.driver.JCudaDriver.cuMemFree;

import io.offload4j.backend.KvCache;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUgraphExec;

/**
 * Keys and values of one sequence in device memory, fp16: one allocation each for the blocks this device computes
 * ({@code firstBlock ..}, all of them unless the model is split over several devices),
 * {@code [block][position][kvDim]}. It also keeps the CUDA graph of the decode step, which bakes in
 * these addresses: captured on the first one-token forward call, replayed for every later token.
 */
final class CudaKvCache implements KvCache {

    final CudaModel owner;
    private final int capacity;
    private final int kvDim;
    private final CUdeviceptr keys = new CUdeviceptr();
    private final CUdeviceptr values = new CUdeviceptr();
    private final long bytesPerBlock;
    private final int blocks;
    private final int firstBlock;
    CUgraphExec decodeGraph;
    private boolean closed;

    CudaKvCache(CudaModel owner, int firstBlock, int blocks, int capacity, int kvDim, String device) {
        this.owner = owner;
        this.firstBlock = firstBlock;
        this.capacity = capacity;
        this.kvDim = kvDim;
        this.blocks = blocks;
        this.bytesPerBlock = 2L * capacity * kvDim;
        CudaMemory.alloc(keys, bytesPerBlock * blocks, device, "the keys of a " + capacity + "-position KV cache");
        try {
            CudaMemory.alloc(values, bytesPerBlock * blocks, device,
                    "the values of a " + capacity + "-position KV cache");
        } catch (RuntimeException e) {
            cuMemFree(keys);
            throw e;
        }
    }

    CUdeviceptr keys(int block) {
        return keys.withByteOffset((block - firstBlock) * bytesPerBlock);
    }

    CUdeviceptr values(int block) {
        return values.withByteOffset((block - firstBlock) * bytesPerBlock);
    }

    int kvDim() {
        return kvDim;
    }

    @Override
    public int capacity() {
        return capacity;
    }

    @Override
    public long byteSize() {
        return 2 * bytesPerBlock * blocks;
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
        cuMemFree(keys);
        cuMemFree(values);
    }
}
