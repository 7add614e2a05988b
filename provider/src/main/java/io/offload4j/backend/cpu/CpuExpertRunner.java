package io.offload4j.backend.cpu;

import io.offload4j.model.MoeWeights;
import io.offload4j.model.Weight;
import io.offload4j.quant.CpuKernels;
import io.offload4j.quant.RowKernel;

/**
 * A few routed experts of one token computed on the CPU from host memory (the file mapping): the miss path of a GPU
 * expert cache at batch-1 decode, where reading an expert from host memory on all cores can beat copying it over
 * PCIe. {@code x += Σ_j w_j · down_j(silu(gate_j · xn) ⊙ (up_j · xn))} with {@code xn} the FFN RMSNorm of {@code x},
 * the experts' down rows summed in the order given (deterministic). One parallel section for the gate and up rows of
 * every expert, one for the output rows; nothing allocates after construction.
 */
public final class CpuExpertRunner implements AutoCloseable {

    private final CpuThreadPool pool;
    private final MoeWeights[] blocks;
    private final float[][] ffnNorms;
    private final RowKernel[][] kernels;  // per block: gate, up, down (every expert of a block has one format each)
    private final int dim;
    private final float eps;
    private final float[] xn;
    private final float[] hidden;      // [expert slot][expert FFN]
    private final float[] out;
    private final float[][] scratch;
    private final GateUp gateUp = new GateUp();
    private final Down down = new Down();
    // the current call
    private MoeWeights weights;
    private RowKernel[] kernel;
    private int[] experts;
    private float[] expertWeights;
    private int count;
    private int ffn;

    /**
     * @param blocks     each block's experts (null for a dense block)
     * @param ffnNorms   each block's FFN RMSNorm weights
     * @param maxExperts the most experts one call computes (k)
     * @param threads    CPU threads
     */
    public CpuExpertRunner(MoeWeights[] blocks, float[][] ffnNorms, int dim, int maxExperts, float rmsNormEps,
                           int threads) {
        this.pool = new CpuThreadPool(threads);
        this.blocks = blocks;
        this.ffnNorms = ffnNorms;
        this.kernels = new RowKernel[blocks.length][];
        int widest = 1;
        for (int l = 0; l < blocks.length; l++) {
            MoeWeights w = blocks[l];
            if (w != null) {
                kernels[l] = new RowKernel[] {CpuKernels.of(w.gate()[0].type()), CpuKernels.of(w.up()[0].type()),
                        CpuKernels.of(w.down()[0].type())};
                widest = Math.max(widest, w.gate()[0].rows());
            }
        }
        this.dim = dim;
        this.eps = rmsNormEps;
        this.xn = new float[dim];
        this.hidden = new float[maxExperts * widest];
        this.out = new float[dim];
        this.scratch = new float[threads][Math.max(dim, widest) + 64];
    }

    /** While on, the threads spin between calls instead of parking (a decode step calls this once per block). */
    public void keepThreadsSpinning(boolean on) {
        pool.keepSpinning(on);
    }

    /**
     * Adds experts {@code experts[0 .. count)} of block {@code block}, weighted by {@code expertWeights}, into the
     * one row {@code x} (the residual stream after attention), normalising it with the block's FFN norm first.
     */
    public void addExperts(int block, float[] x, int[] experts, float[] expertWeights, int count) {
        if (count == 0) {
            return;
        }
        MoeWeights w = blocks[block];
        float[] ffnNorm = ffnNorms[block];
        this.kernel = kernels[block];
        double ss = 0;
        for (int i = 0; i < dim; i++) {
            ss += (double) x[i] * x[i];
        }
        float inv = (float) (1.0 / Math.sqrt(ss / dim + eps));
        for (int i = 0; i < dim; i++) {
            xn[i] = x[i] * inv * ffnNorm[i];
        }
        this.weights = w;
        this.experts = experts;
        this.expertWeights = expertWeights;
        this.count = count;
        this.ffn = w.gate()[experts[0]].rows();
        int rows = count * ffn;
        pool.run(rows, Math.max(16, rows / (8 * pool.threads())), gateUp);
        pool.run(dim, Math.max(16, dim / (8 * pool.threads())), down);
        for (int i = 0; i < dim; i++) {
            x[i] += out[i];
        }
        this.weights = null;
        this.experts = null;
        this.expertWeights = null;
    }

    /** Index i: expert slot i / ffn, row i % ffn of its gate and up. */
    private final class GateUp implements CpuThreadPool.RangeTask {
        @Override
        public void run(int start, int end, int worker) {
            float[] s = scratch[worker];
            for (int i = start; i < end; i++) {
                int j = i / ffn;
                int r = i % ffn;
                Weight g = weights.gate()[experts[j]];
                Weight u = weights.up()[experts[j]];
                float a = kernel[0].dot(g.data(), r * g.rowBytes(), xn, 0, dim, s);
                float b = kernel[1].dot(u.data(), r * u.rowBytes(), xn, 0, dim, s);
                hidden[j * ffn + r] = a / (1f + (float) Math.exp(-a)) * b;
            }
        }
    }

    /** Index r: output row r, the experts summed in order. */
    private final class Down implements CpuThreadPool.RangeTask {
        @Override
        public void run(int start, int end, int worker) {
            float[] s = scratch[worker];
            for (int r = start; r < end; r++) {
                float total = 0;
                for (int j = 0; j < count; j++) {
                    Weight d = weights.down()[experts[j]];
                    total += expertWeights[j]
                            * kernel[2].dot(d.data(), r * d.rowBytes(), hidden, j * ffn, ffn, s);
                }
                out[r] = total;
            }
        }
    }

    @Override
    public void close() {
        pool.close();
    }
}
