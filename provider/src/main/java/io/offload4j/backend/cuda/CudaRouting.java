package io.offload4j.backend.cuda;

import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemHostGetDevicePointer;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoHAsync;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;

/**
 * The host round trip of a block whose experts are placed one by one: the router's choices come down (ids and
 * weights of every row's k experts), and the slot numbers the host mapped them to go back up, with the weights.
 * One pinned, mapped host buffer in three regions: the download, and two upload regions used in turn — an upload
 * is read by a kernel when the stream reaches it, so a region is rewritten only after the event recorded behind its
 * last upload has passed (a prompt's block may upload several passes before the host waits for anything).
 */
final class CudaRouting implements AutoCloseable {

    private static final int REGIONS = 4;  // download, two uploads, prediction

    private final CudaWorkspace ws;
    private final int k;
    private final long regionBytes;
    private final Pointer host = new Pointer();
    private final CUdeviceptr mapped = new CUdeviceptr();
    private final IntBuffer[] ids = new IntBuffer[REGIONS];
    private final FloatBuffer[] weights = new FloatBuffer[REGIONS];
    private final CUevent[] uploaded = new CUevent[2];
    private int nextUpload;
    private boolean allocated;
    /** The predicted next block's router logits, choices and weights (device), made on the first prediction. */
    private CUdeviceptr predLogits;
    private CUdeviceptr predChosen;
    private CUdeviceptr predWeights;

    CudaRouting(CudaWorkspace ws, int k) {
        this.ws = ws;
        this.k = k;
        this.regionBytes = 8L * ws.rows * k;
        try {
            CudaMemory.allocHost(host, REGIONS * regionBytes, jcuda.driver.JCudaDriver.CU_MEMHOSTALLOC_DEVICEMAP,
                    "the expert routing hand-over buffer");
            allocated = true;
            cuMemHostGetDevicePointer(mapped, host, 0);
            for (int r = 0; r < REGIONS; r++) {
                var bytes = host.getByteBuffer(r * regionBytes, regionBytes).order(ByteOrder.nativeOrder());
                ids[r] = bytes.asIntBuffer();
                weights[r] = bytes.position(4 * ws.rows * k).slice().order(ByteOrder.nativeOrder()).asFloatBuffer();
            }
            for (int i = 0; i < uploaded.length; i++) {
                uploaded[i] = new CUevent();
                cuEventCreate(uploaded[i], CUevent_flags.CU_EVENT_DISABLE_TIMING);
            }
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    /** Waits for the stream and copies the {@code rows} rows' choices into {@code chosen} and {@code w}. */
    void download(int rows, int[] chosen, float[] w) {
        int n = rows * k;
        cuMemcpyDtoHAsync(host, ws.moe.chosen, 4L * n, ws.stream);
        cuMemcpyDtoHAsync(host.withByteOffset(4L * ws.rows * k), ws.moe.weights, 4L * n, ws.stream);
        cuStreamSynchronize(ws.stream);
        ids[0].get(0, chosen, 0, n);
        weights[0].get(0, w, 0, n);
    }

    /** Enqueues the upload of {@code rows} rows' slot numbers and weights into the device's choice buffers. */
    void upload(int rows, int[] slots, float[] w) {
        int n = rows * k;
        int u = nextUpload;
        nextUpload ^= 1;
        cuEventSynchronize(uploaded[u]); // the kernel that read this region last has run
        int region = 1 + u;
        ids[region].put(0, slots, 0, n);
        weights[region].put(0, w, 0, n);
        long at = region * regionBytes;
        ws.upload(ws.moe.chosen, mapped, host, at, 4L * n);
        ws.upload(ws.moe.weights, mapped, host, at + 4L * ws.rows * k, 4L * n);
        cuEventRecord(uploaded[u], ws.stream);
    }

    /**
     * Enqueues the top-k of {@code next}'s router over the FFN input in {@code ws.moe.xb} ({@code rows} rows), by
     * {@code blocks}, and the copy of the predicted ids to the host (region 3); read with {@link #predicted}.
     */
    void predict(CudaBlockKernels blocks, CudaUnits.DevBlock next, int rows, io.offload4j.model.MoeConfig mc) {
        if (predLogits == null) {
            predLogits = new CUdeviceptr();
            predChosen = new CUdeviceptr();
            predWeights = new CUdeviceptr();
            CudaMemory.alloc(predLogits, 4L * ws.rows * mc.expertCount() + CudaKernels.PADDING, "the GPU",
                    "the expert prediction's router logits");
            CudaMemory.alloc(predChosen, 4L * ws.rows * k + CudaKernels.PADDING, "the GPU", "predicted experts");
            CudaMemory.alloc(predWeights, 4L * ws.rows * k + CudaKernels.PADDING, "the GPU", "predicted weights");
        }
        blocks.routerTopK(next, rows, predLogits, predChosen, predWeights);
        cuMemcpyDtoHAsync(host.withByteOffset(3 * regionBytes), predChosen, 4L * rows * k, ws.stream);
    }

    /** The ids of the last {@link #predict}, once the stream has passed its copy (a later {@link #download}). */
    void predicted(int rows, int[] out) {
        ids[3].get(0, out, 0, rows * k);
    }

    @Override
    public void close() {
        for (CUdeviceptr p : new CUdeviceptr[] {predLogits, predChosen, predWeights}) {
            if (p != null) {
                jcuda.driver.JCudaDriver.cuMemFree(p);
            }
        }
        predLogits = null;
        for (int i = 0; i < uploaded.length; i++) {
            if (uploaded[i] != null) {
                cuEventDestroy(uploaded[i]);
                uploaded[i] = null;
            }
        }
        if (allocated) {
            allocated = false;
            cuMemFreeHost(host);
        }
    }
}
