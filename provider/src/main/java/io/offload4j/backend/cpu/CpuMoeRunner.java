package io.offload4j.backend.cpu;

import io.offload4j.backend.MoeRoutingListener;
import io.offload4j.model.MoeConfig;
import io.offload4j.model.MoeWeights;
import io.offload4j.model.Weight;
import io.offload4j.quant.CpuKernels;
import io.offload4j.quant.FloatOps;
import io.offload4j.quant.RowKernel;

/**
 * The sparse FFN of a mixture-of-experts block on the CPU, for the rows of one step (a prompt chunk or a decode
 * batch): {@code x += Σ_chosen w_e · down_e(SiLU(gate_e · xb) ⊙ (up_e · xb))} plus, where the block has one, the
 * shared expert scaled by {@code sigmoid(sharedGateInput · xb)}.
 *
 * <p>The step's rows are <em>grouped by expert</em>: after routing, the rows that chose expert e are gathered into
 * consecutive rows of one buffer, and each chosen expert becomes a job over its own rows. One parallel section
 * computes the gate and up projections of every job (the index space is the jobs' gate rows, one after the other),
 * one the down projections, one adds the weighted outputs into the residual stream. So each chosen expert's weights
 * are read once per step however many rows chose it (a grouped matrix multiply), and a decode step reads only the
 * k chosen experts. Experts no row chose cost nothing.
 *
 * <p>Every buffer is sized at construction for {@code maxRows}; {@link #run} allocates nothing and looks nothing
 * up in maps.
 */
final class CpuMoeRunner {

    private final CpuThreadPool pool;
    private final Gemm gemm;
    private final FloatOps ops = CpuKernels.floatOps();
    private final int dim;
    private final int experts;
    private final int k;
    private final boolean normalize;
    private final float scale;

    // Routing, per row.
    private final float[] routerLogits;
    private final int[] chosen;
    private final float[] chosenWeight;
    private final float[] sharedScale;
    private final int[] stamp;
    private int stampNow;

    // Jobs: each chosen expert (ascending), then the shared expert.
    private final Weight[] jobGate;
    private final Weight[] jobUp;
    private final Weight[] jobDown;
    private final RowKernel[] jobGateKernel;
    private final RowKernel[] jobUpKernel;
    private final RowKernel[] jobDownKernel;
    /** First gathered row of each job; job j's rows are {@code [jobRow[j], jobRow[j+1])}. */
    private final int[] jobRow;
    /** Offset of each job's hidden activations (rows × its FFN length) in {@link #hGate}/{@link #hUp}. */
    private final int[] jobHidden;
    /** Each job's first index in the gate/up index space (its FFN rows), and in the down index space (width rows). */
    private final int[] jobGateStart;
    private final int[] jobDownStart;
    private int jobs;
    private final int[] expertRows;
    private final int[] expertCursor;

    // Gathered rows: which row of the step each is, its weight, its input, its hidden state and its output.
    private final int[] gatheredRow;
    private final float[] gatheredWeight;
    private final float[] gathered;
    private final float[] hGate;
    private final float[] hUp;
    private final float[] out;
    private final float[][] scratch;

    private final RouterTask routerTask = new RouterTask();
    private final GateUpTask gateUpTask = new GateUpTask();
    private final DownTask downTask = new DownTask();
    private final CombineTask combineTask = new CombineTask();

    private volatile MoeRoutingListener listener = MoeRoutingListener.NONE;

    // The current call.
    private MoeWeights weights;
    private float[] xb;
    private float[] x;
    private int count;

    CpuMoeRunner(MoeConfig c, int dim, int maxRows, CpuThreadPool pool, Gemm gemm) {
        this.pool = pool;
        this.gemm = gemm;
        this.dim = dim;
        this.experts = c.expertCount();
        this.k = c.expertUsedCount();
        this.normalize = c.normalizeTopK();
        this.scale = c.weightsScale();
        int shared = c.sharedFeedForwardLength();
        routerLogits = new float[maxRows * experts];
        chosen = new int[maxRows * k];
        chosenWeight = new float[maxRows * k];
        sharedScale = new float[maxRows];
        stamp = new int[experts];
        int maxJobs = experts + 1;
        jobGate = new Weight[maxJobs];
        jobUp = new Weight[maxJobs];
        jobDown = new Weight[maxJobs];
        jobGateKernel = new RowKernel[maxJobs];
        jobUpKernel = new RowKernel[maxJobs];
        jobDownKernel = new RowKernel[maxJobs];
        jobRow = new int[maxJobs + 1];
        jobHidden = new int[maxJobs + 1];
        jobGateStart = new int[maxJobs + 1];
        jobDownStart = new int[maxJobs + 1];
        expertRows = new int[experts];
        expertCursor = new int[experts];
        int rows = maxRows * k + (shared > 0 ? maxRows : 0);
        gatheredRow = new int[rows];
        gatheredWeight = new float[rows];
        gathered = new float[rows * dim];
        int hidden = maxRows * k * c.expertFeedForwardLength() + maxRows * shared;
        hGate = new float[hidden];
        hUp = new float[hidden];
        out = new float[rows * dim];
        int maxCols = Math.max(dim, Math.max(c.expertFeedForwardLength(), shared));
        scratch = new float[pool.threads()][Math.max(RowKernel.DOT_SCRATCH, gemm.rowTile() * maxCols)];
    }

    void listener(MoeRoutingListener l) {
        listener = l == null ? MoeRoutingListener.NONE : l;
    }

    /**
     * The sparse FFN of block {@code block} for rows {@code 0..count)}: reads the normalised activations
     * {@code xb} (row stride: the width) and adds the result into the residual stream {@code x}.
     */
    void run(int block, MoeWeights w, float[] xb, float[] x, int count) {
        this.weights = w;
        this.xb = xb;
        this.x = x;
        this.count = count;
        pool.run(count * experts, Math.max(1, experts / 4), routerTask);
        for (int t = 0; t < count; t++) {
            route(t);
        }
        listener.routed(block, count, k, chosen);
        group(w);
        if (w.hasSharedExpert()) {
            addSharedJob(w);
        }
        runJobs();
        this.weights = null;
        this.xb = null;
        this.x = null;
    }

    /** Softmax over every expert, the k most probable, renormalised when the architecture says so. */
    private void route(int t) {
        int base = t * experts;
        float max = Float.NEGATIVE_INFINITY;
        for (int e = 0; e < experts; e++) {
            max = Math.max(max, routerLogits[base + e]);
        }
        float sum = 0;
        for (int e = 0; e < experts; e++) {
            float p = (float) Math.exp(routerLogits[base + e] - max);
            routerLogits[base + e] = p;
            sum += p;
        }
        if (stampNow == Integer.MAX_VALUE) {
            java.util.Arrays.fill(stamp, 0);
            stampNow = 0;
        }
        int mark = ++stampNow;
        float chosenSum = 0;
        for (int j = 0; j < k; j++) {
            int best = -1;
            float bestP = Float.NEGATIVE_INFINITY;
            for (int e = 0; e < experts; e++) {
                float p = routerLogits[base + e];
                // NaN never wins a comparison: fall back to the first expert not yet chosen.
                if (stamp[e] != mark && (p > bestP || best < 0)) {
                    best = e;
                    bestP = p;
                }
            }
            stamp[best] = mark;
            chosen[t * k + j] = best;
            float p = bestP / sum;
            chosenWeight[t * k + j] = p;
            chosenSum += p;
        }
        float factor = (normalize ? 1f / chosenSum : 1f) * scale;
        for (int j = 0; j < k; j++) {
            chosenWeight[t * k + j] *= factor;
        }
    }

    /** Gathers each chosen expert's rows into consecutive rows, one job per expert in ascending order. */
    private void group(MoeWeights w) {
        java.util.Arrays.fill(expertRows, 0);
        int n = count * k;
        for (int i = 0; i < n; i++) {
            expertRows[chosen[i]]++;
        }
        jobs = 0;
        int row = 0;
        for (int e = 0; e < experts; e++) {
            if (expertRows[e] == 0) {
                continue;
            }
            expertCursor[e] = row;
            addJob(w.gate()[e], w.up()[e], w.down()[e], row);
            row += expertRows[e];
        }
        jobRow[jobs] = row;
        for (int i = 0; i < n; i++) {
            int t = i / k;
            int g = expertCursor[chosen[i]]++;
            gatheredRow[g] = t;
            gatheredWeight[g] = chosenWeight[i];
            System.arraycopy(xb, t * dim, gathered, g * dim, dim);
        }
        finishJobs();
    }

    /** The shared expert as one more job over every row, each scaled by sigmoid(sharedGateInput · xb). */
    private void addSharedJob(MoeWeights w) {
        int row = jobRow[jobs];
        addJob(w.sharedGate(), w.sharedUp(), w.sharedDown(), row);
        float[] gateInput = w.sharedGateInput();
        for (int t = 0; t < count; t++) {
            float s = ops.dot(gateInput, 0, xb, t * dim, dim);
            gatheredRow[row + t] = t;
            gatheredWeight[row + t] = (float) (1.0 / (1.0 + Math.exp(-s)));
            System.arraycopy(xb, t * dim, gathered, (row + t) * dim, dim);
        }
        jobRow[jobs] = row + count;
        finishJobs();
    }

    private void addJob(Weight gate, Weight up, Weight down, int firstRow) {
        int j = jobs++;
        jobGate[j] = gate;
        jobUp[j] = up;
        jobDown[j] = down;
        jobGateKernel[j] = CpuKernels.of(gate.type());
        jobUpKernel[j] = CpuKernels.of(up.type());
        jobDownKernel[j] = CpuKernels.of(down.type());
        jobRow[j] = firstRow;
    }

    /** The index spaces and hidden-state offsets of the jobs so far ({@link #jobRow} complete up to {@link #jobs}). */
    private void finishJobs() {
        jobHidden[0] = 0;
        jobGateStart[0] = 0;
        jobDownStart[0] = 0;
        for (int j = 0; j < jobs; j++) {
            int rows = jobRow[j + 1] - jobRow[j];
            int ffn = jobGate[j].rows();
            jobHidden[j + 1] = jobHidden[j] + rows * ffn;
            jobGateStart[j + 1] = jobGateStart[j] + ffn;
            jobDownStart[j + 1] = jobDownStart[j] + dim;
        }
    }

    private void runJobs() {
        int tile = gemm.rowTile();
        pool.run(jobGateStart[jobs], grain(jobGateStart[jobs], tile), gateUpTask);
        pool.run(jobDownStart[jobs], grain(jobDownStart[jobs], tile), downTask);
        pool.run(dim, Math.max(64, (dim + 2 * pool.threads() - 1) / (2 * pool.threads())), combineTask);
    }

    /** About 16 chunks per thread, a multiple of the GEMM's row tile. */
    private int grain(int rows, int tile) {
        int g = Math.max(16, (rows + 16 * pool.threads() - 1) / (16 * pool.threads()));
        return (g + tile - 1) / tile * tile;
    }

    /**
     * Rows {@code [start, end)} of {@code w} against the job's {@code n} input rows at {@code in[inOff..]} (row
     * length {@code w.cols()}), into {@code o[oOff + t * oStride + r]}: the fused dot product for one row, else
     * a few decoded rows at a time against every input row.
     */
    private void project(Weight w, RowKernel kernel, int start, int end, float[] in, int inOff, int n, float[] o,
                         int oOff, int oStride, int worker) {
        int cols = w.cols();
        long rowBytes = w.rowBytes();
        float[] s = scratch[worker];
        if (n == 1) {
            for (int r = start; r < end; r++) {
                o[oOff + r] = kernel.dot(w.data(), r * rowBytes, in, inOff, cols, s);
            }
            return;
        }
        int tile = gemm.rowTile();
        for (int r = start; r < end; r += tile) {
            int m = Math.min(tile, end - r);
            for (int i = 0; i < m; i++) {
                kernel.dequantize(w.data(), (r + i) * rowBytes, s, i * cols, cols);
            }
            gemm.multiply(s, 0, m, in, inOff, n, cols, o, oOff + r, oStride);
        }
    }

    /** Router logits: one (row, expert) pair per index. */
    private final class RouterTask implements CpuThreadPool.RangeTask {
        @Override
        public void run(int start, int end, int worker) {
            Weight router = weights.router();
            RowKernel kernel = CpuKernels.of(router.type());
            long rowBytes = router.rowBytes();
            float[] s = scratch[worker];
            for (int i = start; i < end; i++) {
                int t = i / experts;
                int e = i % experts;
                routerLogits[i] = kernel.dot(router.data(), e * rowBytes, xb, t * dim, dim, s);
            }
        }
    }

    /** Gate and up rows of every job, then SiLU(gate) ⊙ up, in place in {@link #hGate}. */
    private final class GateUpTask implements CpuThreadPool.RangeTask {
        @Override
        public void run(int start, int end, int worker) {
            for (int j = 0; j < jobs; j++) {
                int lo = Math.max(start, jobGateStart[j]);
                int hi = Math.min(end, jobGateStart[j + 1]);
                if (lo >= hi) {
                    continue;
                }
                int r0 = lo - jobGateStart[j];
                int r1 = hi - jobGateStart[j];
                int n = jobRow[j + 1] - jobRow[j];
                int ffn = jobGate[j].rows();
                int inOff = jobRow[j] * dim;
                project(jobGate[j], jobGateKernel[j], r0, r1, gathered, inOff, n, hGate, jobHidden[j], ffn, worker);
                project(jobUp[j], jobUpKernel[j], r0, r1, gathered, inOff, n, hUp, jobHidden[j], ffn, worker);
                for (int t = 0; t < n; t++) {
                    int row = jobHidden[j] + t * ffn;
                    gemm.swiglu(hGate, hUp, row + r0, row + r1);
                }
            }
        }
    }

    /** Down rows of every job into {@link #out}, at the job's gathered rows. */
    private final class DownTask implements CpuThreadPool.RangeTask {
        @Override
        public void run(int start, int end, int worker) {
            for (int j = 0; j < jobs; j++) {
                int lo = Math.max(start, jobDownStart[j]);
                int hi = Math.min(end, jobDownStart[j + 1]);
                if (lo >= hi) {
                    continue;
                }
                int n = jobRow[j + 1] - jobRow[j];
                project(jobDown[j], jobDownKernel[j], lo - jobDownStart[j], hi - jobDownStart[j], hGate, jobHidden[j],
                        n, out, jobRow[j] * dim, dim, worker);
            }
        }
    }

    /** x[row] += weight · out[gathered row], for a range of columns, every gathered row in job order. */
    private final class CombineTask implements CpuThreadPool.RangeTask {
        @Override
        public void run(int start, int end, int worker) {
            int rows = jobRow[jobs];
            for (int g = 0; g < rows; g++) {
                int xo = gatheredRow[g] * dim;
                int oo = g * dim;
                float w = gatheredWeight[g];
                for (int i = start; i < end; i++) {
                    x[xo + i] += w * out[oo + i];
                }
            }
        }
    }
}
