package io.offload4j.backend.cuda;

import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemHostGetDevicePointer;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

import io.offload4j.model.MoeConfig;
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
 * One pinned, mapped host buffer in five regions: the download, two upload regions used in turn — an upload is read
 * by a kernel when the stream reaches it, so a region is rewritten only after the event recorded behind its last
 * upload has passed (a prompt's block may upload several passes before the host waits for anything) — the
 * prediction, and the region a recorded decode graph reads its slot numbers from.
 *
 * <p>Every copy between the regions and the device is a kernel reading or writing mapped memory, so a decode step's
 * graphs hold them: the attention part's graph ends with the choices' (and the prediction's) download
 * ({@link #enqueueDownload}), the experts' graph starts with the slots' upload from the graph region
 * ({@link #enqueueGraphUpload}); the host then only synchronises, reads and writes. The graph region is rewritten
 * once the stream has been synchronised since the graph that read it last was launched (a decode block's routing
 * read does that, so this costs nothing).
 */
final class CudaRouting implements AutoCloseable {

    private static final int DOWNLOAD = 0;
    private static final int PREDICTION = 3;
    private static final int GRAPH_UPLOAD = 4;
    private static final int REGIONS = 5;

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
    /** The download of the choices is already enqueued (inside the attention part's graph). */
    private boolean downloadEnqueued;
    /** A graph reading the graph region was launched since the stream was last synchronised. */
    private boolean graphRegionInFlight;
    /** The predicted next block's router logits, choices and weights (device). */
    private final CUdeviceptr predLogits = new CUdeviceptr();
    private final CUdeviceptr predChosen = new CUdeviceptr();
    private final CUdeviceptr predWeights = new CUdeviceptr();
    private int predAllocated;

    CudaRouting(CudaWorkspace ws, MoeConfig mc) {
        this.ws = ws;
        this.k = mc.expertUsedCount();
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
            // made here, not at the first prediction: that may be inside a graph's capture
            CudaMemory.alloc(predLogits, 4L * ws.rows * mc.expertCount() + CudaKernels.PADDING, "the GPU",
                    "the expert prediction's router logits");
            predAllocated++;
            CudaMemory.alloc(predChosen, 4L * ws.rows * k + CudaKernels.PADDING, "the GPU", "predicted experts");
            predAllocated++;
            CudaMemory.alloc(predWeights, 4L * ws.rows * k + CudaKernels.PADDING, "the GPU", "predicted weights");
            predAllocated++;
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    /**
     * Enqueues the copy of {@code rows} rows' choices into the download region (the attention part's graph ends with
     * it); the next {@link #download} then only waits.
     */
    void enqueueDownload(int rows) {
        int n = rows * k;
        ws.downloadWords(ws.moe.chosen, mapped, DOWNLOAD * regionBytes, 4L * n);
        ws.downloadWords(ws.moe.weights, mapped, DOWNLOAD * regionBytes + 4L * ws.rows * k, 4L * n);
    }

    /** Marks the download as enqueued by a graph just launched. */
    void downloadEnqueued() {
        downloadEnqueued = true;
    }

    /** Waits for the stream and copies the {@code rows} rows' choices into {@code chosen} and {@code w}. */
    void download(int rows, int[] chosen, float[] w) {
        int n = rows * k;
        if (!downloadEnqueued) {
            enqueueDownload(rows);
        }
        downloadEnqueued = false;
        cuStreamSynchronize(ws.stream);
        graphRegionInFlight = false;
        ids[DOWNLOAD].get(0, chosen, 0, n);
        weights[DOWNLOAD].get(0, w, 0, n);
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
     * Writes {@code rows} rows' slot numbers and weights into the graph region, for a graph that starts with
     * {@link #enqueueGraphUpload} and is launched next.
     */
    void writeForGraph(int rows, int[] slots, float[] w) {
        if (graphRegionInFlight) { // not after a routing read: make sure the last graph has read the region
            cuStreamSynchronize(ws.stream);
        }
        int n = rows * k;
        ids[GRAPH_UPLOAD].put(0, slots, 0, n);
        weights[GRAPH_UPLOAD].put(0, w, 0, n);
        graphRegionInFlight = true;
    }

    /** Enqueues the copy of the graph region's {@code rows} rows into the device's choice buffers (inside a graph). */
    void enqueueGraphUpload(int rows) {
        int n = rows * k;
        long at = GRAPH_UPLOAD * regionBytes;
        ws.upload(ws.moe.chosen, mapped, host, at, 4L * n);
        ws.upload(ws.moe.weights, mapped, host, at + 4L * ws.rows * k, 4L * n);
    }

    /**
     * Enqueues the top-k of {@code next}'s router over the FFN input in {@code ws.moe.xb} ({@code rows} rows), by
     * {@code blocks}, and the copy of the predicted ids to the host (the prediction region); read with
     * {@link #predicted}.
     */
    void predict(CudaBlockKernels blocks, CudaUnits.DevBlock next, int rows) {
        blocks.routerTopK(next, rows, predLogits, predChosen, predWeights);
        ws.downloadWords(predChosen, mapped, PREDICTION * regionBytes, 4L * rows * k);
    }

    /** The ids of the last {@link #predict}, once the stream has passed its copy (a later {@link #download}). */
    void predicted(int rows, int[] out) {
        ids[PREDICTION].get(0, out, 0, rows * k);
    }

    @Override
    public void close() {
        CUdeviceptr[] pred = {predLogits, predChosen, predWeights};
        for (int i = 0; i < predAllocated; i++) {
            jcuda.driver.JCudaDriver.cuMemFree(pred[i]);
        }
        predAllocated = 0;
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
