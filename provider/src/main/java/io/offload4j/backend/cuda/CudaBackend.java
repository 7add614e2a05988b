package io.offload4j.backend.cuda;

import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemHostAlloc;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

import io.offload4j.backend.Accelerator;
import io.offload4j.backend.AcceleratorModel;
import io.offload4j.backend.AcceleratorOptions;
import io.offload4j.model.Model;
import io.offload4j.model.ModelFormats;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUstream;
import jcuda.driver.CUstream_flags;

/**
 * One NVIDIA GPU as an {@link Accelerator}: weights in their GGUF formats, our own kernels (JCuda driver API, fatbin
 * resource), fp16 KV caches, one compute stream and a copy stream per {@link CudaCopyRing}. Where units live is not
 * its business: the offload layer decides and drives it.
 */
public final class CudaBackend implements Accelerator {

    private final CudaDevice device;
    private final CudaKernels kernels;

    /**
     * @throws IllegalStateException with the reason when device {@code ordinal} cannot be used
     */
    public CudaBackend(int ordinal) {
        this.device = CudaDevice.open(ordinal);
        try {
            device.makeCurrent();
            this.kernels = new CudaKernels();
        } catch (RuntimeException e) {
            device.close();
            throw e;
        }
    }

    CudaDevice device() {
        return device;
    }

    CudaKernels kernels() {
        return kernels;
    }

    @Override
    public String description() {
        return device.description() + ", JCuda driver API";
    }

    @Override
    public String name() {
        return device.name();
    }

    @Override
    public long freeMemory() {
        device.makeCurrent();
        return device.freeMemory();
    }

    @Override
    public long workspaceBytes(Model model, AcceleratorOptions options) {
        return CudaWorkspace.estimate(model, options);
    }

    @Override
    public long kvCacheBytes(Model model, int capacity) {
        return 4L * capacity * model.config().keyValueDim() * model.config().blockCount();
    }

    @Override
    public AcceleratorModel load(Model model, AcceleratorOptions options) {
        io.offload4j.model.MoeConfig moe = model.config().moe();
        if (moe != null) {
            for (io.offload4j.model.BlockWeights b : model.weights().blocks()) {
                if (b.moe() == null) {
                    continue;
                }
                io.offload4j.model.Weight gate = b.moe().gate()[0];
                io.offload4j.model.Weight down = b.moe().down()[0];
                if (CudaKernels.SUPPORTED.contains(gate.type()) && CudaKernels.SUPPORTED.contains(down.type())
                        && (!CudaKernels.vectorisable(gate.type(), gate.cols())
                        || !CudaKernels.vectorisable(down.type(), down.cols()))) {
                    throw new io.offload4j.gguf.ModelFormatException(model.path(), "expert matrices of block "
                            + b.index() + " have rows of " + gate.cols() + " and " + down.cols()
                            + " elements; the CUDA expert kernels need multiples of " + CudaKernels.unit(gate.type())
                            + " (" + gate.type() + "): use --device cpu");
                }
            }
        }
        int hd = model.config().headDim();
        if (hd % 8 != 0 || hd > CudaKernels.MAX_HEAD_DIM) {
            throw new io.offload4j.gguf.ModelFormatException(model.path(), "head size " + hd + ": the CUDA attention"
                    + " kernels need a multiple of 8 up to " + CudaKernels.MAX_HEAD_DIM + "; use --device cpu");
        }
        ModelFormats.require(model, CudaKernels.SUPPORTED, "the CUDA backend",
                "use --device cpu, or re-quantize, e.g. to Q4_K_M or Q8_0");
        device.makeCurrent();
        return new CudaModel(device, kernels, model, options);
    }

    /** A BERT-family encoder resident on this GPU, in fp32 ({@link CudaEncoderPass}). */
    @Override
    public io.offload4j.backend.EncoderPass prepareEncoder(io.offload4j.model.EncoderModel model, int maxRows) {
        device.makeCurrent();
        return new CudaEncoderPass(device, kernels, model, maxRows);
    }

    @Override
    public double measureHostToDevice(long bytes, long busyNanos, Runnable whileRunning) {
        device.makeCurrent();
        Pointer host = new Pointer();
        CUdeviceptr dev = new CUdeviceptr();
        CUstream stream = new CUstream();
        cuStreamCreate(stream, CUstream_flags.CU_STREAM_NON_BLOCKING);
        try {
            cuMemHostAlloc(host, bytes, 0);
            cuMemAlloc(dev, bytes);
            cuMemcpyHtoDAsync(dev, host, bytes, stream); // warm-up
            cuStreamSynchronize(stream);
            long t0 = System.nanoTime();
            for (int i = 0; i < 3; i++) {
                cuMemcpyHtoDAsync(dev, host, bytes, stream);
            }
            cuStreamSynchronize(stream);
            double gbs = 3.0 * bytes / (System.nanoTime() - t0);
            if (whileRunning != null) {
                // enough copies, at the rate just measured, to outlast what runs meanwhile
                long copies = (long) (busyNanos * 1.2 * gbs / bytes) + 1;
                for (int i = 0; i < copies; i++) {
                    cuMemcpyHtoDAsync(dev, host, bytes, stream);
                }
                whileRunning.run();
                cuStreamSynchronize(stream);
            }
            return gbs;
        } finally {
            cuMemFree(dev);
            cuMemFreeHost(host);
            cuStreamDestroy(stream);
        }
    }

    @Override
    public void close() {
        device.makeCurrent();
        kernels.close();
        device.close();
    }
}
