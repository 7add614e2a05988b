package io.offload4j.backend.cuda;

import static jcuda.driver.JCudaDriver.cuGraphDestroy;
import static jcuda.driver.JCudaDriver.cuGraphExecDestroy;
import static jcuda.driver.JCudaDriver.cuGraphInstantiate;
import static jcuda.driver.JCudaDriver.cuGraphLaunch;
import static jcuda.driver.JCudaDriver.cuStreamBeginCapture;
import static jcuda.driver.JCudaDriver.cuStreamEndCapture;

import io.offload4j.backend.KvCache;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUstream;
import jcuda.driver.CUstreamCaptureMode;

/**
 * Batched decode steps replayed as CUDA graphs, one per batch size. A batched step's kernels take each sequence's KV
 * cache addresses as arguments, so a graph serves the caches it was captured with, in that order; positions and
 * tokens come from the device parameter blocks, as for the one-sequence decode graph ({@link CudaModel#runAsGraph}).
 *
 * <p>Continuous batching keeps a batch's sequences from one step to the next and changes them when one joins or
 * leaves. So a set of caches seen for the first time runs directly (launch by launch); seen again in the next step of
 * that size, it is captured, instantiated (replacing that size's earlier graph) and replayed from then on. A batch
 * whose sequences change every step never pays for a capture it does not reuse.
 */
final class CudaBatchGraphs implements AutoCloseable {

    private final CUstream stream;
    /** Per batch size: the executable graph and the caches it was captured with (null: none yet). */
    private final CUgraphExec[] graphs;
    private final KvCache[][] capturedFor;
    /** Per batch size: the caches of the last step that ran directly, to notice the same set again. */
    private final KvCache[][] lastDirect;
    private int captures;

    CudaBatchGraphs(CUstream stream, int maxRows) {
        this.stream = stream;
        this.graphs = new CUgraphExec[maxRows + 1];
        this.capturedFor = new KvCache[maxRows + 1][];
        this.lastDirect = new KvCache[maxRows + 1][];
    }

    /**
     * Runs the step {@code enqueue} enqueues for the sequences of {@code caches[0..n-1]}: the graph captured for these
     * caches, else directly or captured now (see the class comment). Returns true when {@code enqueue} ran in this
     * call (directly or while capturing), false for a replay.
     */
    boolean run(KvCache[] caches, int n, Runnable enqueue) {
        if (n < 2 || n >= graphs.length) {
            throw new IllegalArgumentException("a batched step of " + n + " sequences; graphs are kept for 2.."
                    + (graphs.length - 1));
        }
        if (graphs[n] != null && same(capturedFor[n], caches, n)) {
            cuGraphLaunch(graphs[n], stream);
            return false;
        }
        if (!same(lastDirect[n], caches, n)) {
            lastDirect[n] = remember(lastDirect[n], caches, n);
            enqueue.run();
            return true;
        }
        CUgraph graph = new CUgraph();
        cuStreamBeginCapture(stream, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_RELAXED);
        try {
            enqueue.run();
        } finally {
            cuStreamEndCapture(stream, graph);
        }
        CUgraphExec exec = new CUgraphExec();
        try {
            cuGraphInstantiate(exec, graph, 0);
        } finally {
            cuGraphDestroy(graph);
        }
        if (graphs[n] != null) {
            cuGraphExecDestroy(graphs[n]);
        }
        graphs[n] = exec;
        capturedFor[n] = remember(capturedFor[n], caches, n);
        lastDirect[n] = null;
        captures++;
        cuGraphLaunch(exec, stream);
        return true;
    }

    /** How many batched graphs were captured so far (for tests). */
    int captures() {
        return captures;
    }

    private static boolean same(KvCache[] kept, KvCache[] caches, int n) {
        if (kept == null) {
            return false;
        }
        for (int i = 0; i < n; i++) {
            if (kept[i] != caches[i]) {
                return false;
            }
        }
        return true;
    }

    /** caches[0..n-1] copied into {@code into} (allocated once per batch size). */
    private static KvCache[] remember(KvCache[] into, KvCache[] caches, int n) {
        KvCache[] a = into != null ? into : new KvCache[n];
        System.arraycopy(caches, 0, a, 0, n);
        return a;
    }

    @Override
    public void close() {
        for (int n = 0; n < graphs.length; n++) {
            if (graphs[n] != null) {
                cuGraphExecDestroy(graphs[n]);
                graphs[n] = null;
            }
            capturedFor[n] = null;
            lastDirect[n] = null;
        }
    }
}
