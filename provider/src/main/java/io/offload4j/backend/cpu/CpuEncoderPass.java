package io.offload4j.backend.cpu;

import io.offload4j.backend.EncoderInputs;
import io.offload4j.backend.EncoderPass;
import io.offload4j.model.EncoderConfig;
import io.offload4j.model.EncoderModel;
import io.offload4j.model.EncoderWeights;
import io.offload4j.model.Weight;
import io.offload4j.quant.CpuKernels;
import io.offload4j.quant.RowKernel;
import java.util.Arrays;

/**
 * A BERT-family encoder on the CPU, several inputs packed into the rows of one activation matrix (see
 * {@link EncoderPass}). Per block, in transformers' order (post-LayerNorm): Q, K, V projections with biases; for each
 * row and head, softmax attention over the rows of the row's own input; output projection, residual, LayerNorm;
 * up projection, GELU, down projection, residual, LayerNorm. nomic-bert differs in three places: no position table
 * but Q and K rotated by each row's position in its input ({@link EncoderConfig#rotary()}), no projection biases
 * (null), and a SwiGLU feed-forward {@code down(silu(gate·x) ⊙ up·x)} where the layer has a gate. Projections run
 * as matrix–matrix products over all rows (each weight row decoded once per call, {@link Gemm}); buffers are
 * allocated here, so a call allocates nothing.
 */
final class CpuEncoderPass implements EncoderPass {

    private final EncoderConfig config;
    private final EncoderWeights weights;
    private final EncoderWeights.Layer[] layers;
    private final CpuThreadPool pool;
    private final String description;
    private final Gemm gemm = Gemm.best();
    private final Attention attend = Attention.best();
    private final RowKernel embeddingKernel;
    private final int maxRows;

    private final float[] x;
    private final float[] q;
    private final float[] k;
    /** The keys transposed, {@code keysT[c * keyStride + row]}, as {@link Attention} reads them. */
    private final float[] keysT;
    private final int keyStride;
    private final float[] v;
    private final float[] ctx;
    private final float[] tmp;
    private final float[] h;
    /** SwiGLU's gate activations, {@code maxRows × ffn}; empty for a GELU feed-forward. */
    private final float[] g;
    /** Rotary cos and sin per (position, frequency), {@code [position * half + i]}; empty for learned positions. */
    private final float[] ropeCos;
    private final float[] ropeSin;
    private final int[] rowStart;     // per row: the first row of its input
    private final int[] rowEnd;       // per row: one past the last row of its input
    private final float[][] rowScratch;
    private final float[][] tileScratch;
    /** The rows' activations transposed into panels for the packed GEMM (empty without one). */
    private final float[] panel;
    private final PackTask pack = new PackTask();
    private final float[][] scores;
    private final float[] headIn;
    private final float[] headMid;
    private final MatmulTask matmul = new MatmulTask();
    private final AttentionTask attention = new AttentionTask();

    CpuEncoderPass(EncoderModel model, CpuThreadPool pool, int maxRows, String description) {
        this.config = model.config();
        this.weights = model.weights();
        this.layers = weights.layers().toArray(new EncoderWeights.Layer[0]);
        this.pool = pool;
        this.description = description;
        if (maxRows < 1) {
            pool.close();
            throw new IllegalArgumentException("maxRows must be positive, was " + maxRows);
        }
        this.maxRows = maxRows;
        this.embeddingKernel = CpuKernels.of(weights.tokenEmbedding().type());
        for (EncoderWeights.Layer l : layers) {
            for (Weight w : new Weight[] {l.wq(), l.wk(), l.wv(), l.wo(), l.up(), l.down(), l.gate()}) {
                if (w != null && !CpuKernels.isSupported(w.type())) {
                    pool.close();
                    throw new IllegalArgumentException(model.path() + ": tensor " + w.name() + " is " + w.type()
                            + ", which the CPU backend cannot compute; supported: " + CpuKernels.supported());
                }
            }
        }
        int dim = config.embeddingLength();
        int ffn = config.feedForwardLength();
        x = new float[maxRows * dim];
        q = new float[maxRows * dim];
        k = new float[maxRows * dim];
        keyStride = maxRows + attend.padding();
        keysT = new float[dim * keyStride + attend.padding()];
        v = new float[maxRows * dim];
        ctx = new float[maxRows * dim];
        tmp = new float[maxRows * dim];
        h = new float[maxRows * ffn];
        boolean gated = Arrays.stream(layers).anyMatch(l -> l.gate() != null);
        g = gated ? new float[maxRows * ffn] : new float[0];
        int half = config.headDim() / 2;
        int ropePositions = config.rotary() ? Math.min(maxRows, config.maxTokens()) : 0;
        ropeCos = new float[ropePositions * half];
        ropeSin = new float[ropePositions * half];
        fillRotaryTables(half, ropePositions);
        rowStart = new int[maxRows];
        rowEnd = new int[maxRows];
        int maxCols = Math.max(dim, ffn);
        rowScratch = new float[pool.threads()][Math.max(RowKernel.DOT_SCRATCH,
                Math.max(gemm.rowTile(), gemm.packedRowTile()) * maxCols)];
        int pt = gemm.panelTokens();
        tileScratch = new float[pool.threads()][Math.max(1, gemm.packedRowTile() * pt)];
        panel = pt == 0 ? new float[0] : new float[(maxRows + pt - 1) / pt * pt * maxCols];
        scores = new float[pool.threads()][keyStride];
        headIn = new float[dim];
        headMid = new float[dim];
    }

    /**
     * cos and sin of position × θ_i, θ_i = base^(-2i/headDim), computed in double once: a row's position is below
     * its input's length, so below {@code maxRows} and the model's limit.
     */
    private void fillRotaryTables(int half, int positions) {
        int hd = config.headDim();
        for (int i = 0; i < half; i++) {
            double theta = Math.pow(config.rotaryBase(), -2.0 * i / hd);
            for (int p = 0; p < positions; p++) {
                double angle = p * theta;
                ropeCos[p * half + i] = (float) Math.cos(angle);
                ropeSin[p * half + i] = (float) Math.sin(angle);
            }
        }
    }

    @Override
    public EncoderConfig config() {
        return config;
    }

    @Override
    public int maxRows() {
        return maxRows;
    }

    @Override
    public String description() {
        return description;
    }

    @Override
    public void encode(int[] ids, int[] typeIds, int[] lengths, int sequences, float[] hidden) {
        int rows = checkPacking(lengths, sequences);
        int dim = config.embeddingLength();
        if (hidden.length < rows * dim) {
            throw new IllegalArgumentException("hidden holds " + hidden.length + " floats; " + rows + " rows need "
                    + rows * dim);
        }
        embed(ids, typeIds, lengths, sequences);
        for (EncoderWeights.Layer layer : layers) {
            block(layer, rows);
        }
        System.arraycopy(x, 0, hidden, 0, rows * dim);
    }

    /** Every input's rows and the input bounds of each row; the total is returned. */
    private int checkPacking(int[] lengths, int sequences) {
        int total = EncoderInputs.checkPacking(config, maxRows, lengths, sequences);
        int rows = 0;
        for (int s = 0; s < sequences; s++) {
            int n = lengths[s];
            for (int t = rows; t < rows + n; t++) {
                rowStart[t] = rows;
                rowEnd[t] = rows + n;
            }
            rows += n;
        }
        return total;
    }

    /** Token + position (learned positions only) + token-type embeddings, then LayerNorm. */
    private void embed(int[] ids, int[] typeIds, int[] lengths, int sequences) {
        int dim = config.embeddingLength();
        Weight table = weights.tokenEmbedding();
        float[] positions = weights.positions();
        float[] types = weights.tokenTypes();
        int row = 0;
        for (int s = 0; s < sequences; s++) {
            for (int p = 0; p < lengths[s]; p++, row++) {
                int id = ids[row];
                int type = typeIds[row];
                EncoderInputs.checkToken(config, id, type);
                int at = row * dim;
                embeddingKernel.dequantize(table.data(), (long) id * table.rowBytes(), x, at, dim);
                if (positions != null) {
                    int pos = (p + config.positionOffset()) * dim;
                    for (int i = 0; i < dim; i++) {
                        x[at + i] += positions[pos + i] + types[type * dim + i];
                    }
                } else {
                    for (int i = 0; i < dim; i++) {
                        x[at + i] += types[type * dim + i];
                    }
                }
                layerNorm(x, at, weights.embeddingNorm(), weights.embeddingNormBias());
            }
        }
    }

    private void block(EncoderWeights.Layer l, int rows) {
        int dim = config.embeddingLength();
        matmul.set(x, rows, false);
        matmul.add(l.wq(), l.bq(), q);
        matmul.add(l.wk(), l.bk(), k);
        matmul.add(l.wv(), l.bv(), v);
        runMatmul();
        if (config.rotary()) {
            rotate(q, rows);
            rotate(k, rows);
        }
        for (int t = 0; t < rows; t++) {
            for (int c = 0; c < dim; c++) {
                keysT[c * keyStride + t] = k[t * dim + c];
            }
        }
        pool.run(rows * config.headCount(), 1, attention);
        matmul.set(ctx, rows, false);
        matmul.add(l.wo(), l.bo(), tmp);
        runMatmul();
        for (int t = 0; t < rows; t++) {
            int at = t * dim;
            for (int i = 0; i < dim; i++) {
                x[at + i] += tmp[at + i];
            }
            layerNorm(x, at, l.attentionNorm(), l.attentionNormBias());
        }
        if (l.gate() == null) {
            matmul.set(x, rows, true);
            matmul.add(l.up(), l.upBias(), h);
            runMatmul();
            matmul.set(h, rows, false);
        } else {
            matmul.set(x, rows, false);
            matmul.add(l.up(), l.upBias(), h);
            matmul.add(l.gate(), null, g);
            runMatmul();
            gemm.swiglu(g, h, 0, rows * config.feedForwardLength());
            matmul.set(g, rows, false);
        }
        matmul.add(l.down(), l.downBias(), tmp);
        runMatmul();
        for (int t = 0; t < rows; t++) {
            int at = t * dim;
            for (int i = 0; i < dim; i++) {
                x[at + i] += tmp[at + i];
            }
            layerNorm(x, at, l.outputNorm(), l.outputNormBias());
        }
    }

    /**
     * Rotates every head of every row of {@code a} by the row's position in its own input (NEOX layout: dimension
     * i pairs with i + headDim/2), as llama.cpp's {@code ggml_rope_ext} does for nomic-bert.
     */
    private void rotate(float[] a, int rows) {
        int dim = config.embeddingLength();
        int hd = config.headDim();
        int half = hd / 2;
        for (int t = 0; t < rows; t++) {
            int pos = (t - rowStart[t]) * half;
            for (int head = t * dim; head < (t + 1) * dim; head += hd) {
                for (int i = 0; i < half; i++) {
                    float c = ropeCos[pos + i];
                    float sn = ropeSin[pos + i];
                    float x0 = a[head + i];
                    float x1 = a[head + i + half];
                    a[head + i] = x0 * c - x1 * sn;
                    a[head + i + half] = x0 * sn + x1 * c;
                }
            }
        }
    }

    private void layerNorm(float[] a, int off, float[] gain, float[] bias) {
        int n = gain.length;
        double sum = 0;
        for (int i = 0; i < n; i++) {
            sum += a[off + i];
        }
        double mean = sum / n;
        double var = 0;
        for (int i = 0; i < n; i++) {
            double d = a[off + i] - mean;
            var += d * d;
        }
        float scale = (float) (1.0 / Math.sqrt(var / n + config.layerNormEps()));
        float m = (float) mean;
        for (int i = 0; i < n; i++) {
            a[off + i] = (a[off + i] - m) * scale * gain[i] + bias[i];
        }
    }

    @Override
    public void classify(float[] hidden, int[] lengths, int sequences, float[] logits) {
        EncoderWeights.Classifier head = weights.classifier();
        if (head == null) {
            throw new IllegalStateException(config.name() + " has no classification head; it is an embedding model,"
                    + " not a cross-encoder");
        }
        int dim = config.embeddingLength();
        int labels = config.labels();
        RowKernel denseKernel = CpuKernels.of(head.dense().type());
        RowKernel outKernel = CpuKernels.of(head.out().type());
        float[] scratch = rowScratch[0];
        int row = 0;
        for (int s = 0; s < sequences; s++) {
            System.arraycopy(hidden, row * dim, headIn, 0, dim);
            for (int r = 0; r < dim; r++) {
                headMid[r] = (float) Math.tanh(denseKernel.dot(head.dense().data(), r * head.dense().rowBytes(), headIn,
                        0, dim, scratch) + head.denseBias()[r]);
            }
            for (int r = 0; r < labels; r++) {
                logits[s * labels + r] = outKernel.dot(head.out().data(), r * head.out().rowBytes(), headMid, 0, dim,
                        scratch) + head.outBias()[r];
            }
            row += lengths[s];
        }
    }

    // ------------------------------------------------------------------ projections

    /** Inputs of at least this many rows use the packed GEMM (below, padding its panels costs more than it saves). */
    private static final int PACKED_MIN_ROWS = 8;

    private void runMatmul() {
        int rows = matmul.totalRows();
        boolean packed = matmul.count >= PACKED_MIN_ROWS && panel.length > 0;
        if (packed) {
            int cols = matmul.ws[0].cols();
            pack.set(matmul.in, matmul.count, cols);
            pool.run(cols, Math.max(64, (cols + 2 * pool.threads() - 1) / (2 * pool.threads())), pack);
        }
        matmul.packed = packed;
        int tile = packed ? gemm.packedRowTile() : gemm.rowTile();
        int grain = Math.max(16, (rows + 16 * pool.threads() - 1) / (16 * pool.threads()));
        grain = (grain + tile - 1) / tile * tile;
        pool.run(rows, grain, matmul);
    }

    /**
     * out[t][r] = W[r] · in[t] + bias[r] (bias null: none), for up to three weights sharing an input; GELU after
     * when asked.
     */
    private final class MatmulTask implements CpuThreadPool.RangeTask {
        private final Weight[] ws = new Weight[3];
        private final float[][] biases = new float[3][];
        private final float[][] outs = new float[3][];
        private final RowKernel[] kernels = new RowKernel[3];
        private final int[] firstRow = new int[4];
        private int parts;
        private float[] in;
        private int count;
        private boolean gelu;
        private boolean packed;

        void set(float[] in, int count, boolean gelu) {
            this.in = in;
            this.count = count;
            this.gelu = gelu;
            this.parts = 0;
        }

        void add(Weight w, float[] bias, float[] out) {
            ws[parts] = w;
            biases[parts] = bias;
            outs[parts] = out;
            kernels[parts] = CpuKernels.of(w.type());
            firstRow[parts + 1] = firstRow[parts] + w.rows();
            parts++;
        }

        int totalRows() {
            return firstRow[parts];
        }

        @Override
        public void run(int start, int end, int worker) {
            for (int p = 0; p < parts; p++) {
                int lo = Math.max(start, firstRow[p]);
                int hi = Math.min(end, firstRow[p + 1]);
                if (lo < hi) {
                    project(p, lo - firstRow[p], hi - firstRow[p], worker);
                }
            }
        }

        private void project(int p, int start, int end, int worker) {
            Weight w = ws[p];
            RowKernel kernel = kernels[p];
            float[] out = outs[p];
            float[] bias = biases[p];
            int cols = w.cols();
            int rows = w.rows();
            long rowBytes = w.rowBytes();
            float[] tileRows = rowScratch[worker];
            int tile = packed ? gemm.packedRowTile() : gemm.rowTile();
            for (int r = start; r < end; r += tile) {
                int n = Math.min(tile, end - r);
                for (int i = 0; i < n; i++) {
                    kernel.dequantize(w.data(), (r + i) * rowBytes, tileRows, i * cols, cols);
                }
                if (packed) {
                    gemm.multiplyPacked(tileRows, 0, n, panel, count, cols, out, r, rows, tileScratch[worker]);
                } else {
                    gemm.multiply(tileRows, 0, n, in, count, cols, out, r, rows);
                }
            }
            if (bias == null && !gelu) {
                return;   // a projection without bias (nomic-bert): the products are the outputs
            }
            for (int t = 0; t < count; t++) {
                int base = t * rows;
                for (int r = start; r < end; r++) {
                    float y = bias == null ? out[base + r] : out[base + r] + bias[r];
                    out[base + r] = gelu ? (config.geluTanh() ? Gelu.tanh(y) : Gelu.exact(y)) : y;
                }
            }
        }
    }

    /** Transposes a range of the input's columns into {@link #panel}. */
    private final class PackTask implements CpuThreadPool.RangeTask {
        private float[] in;
        private int count;
        private int cols;

        void set(float[] in, int count, int cols) {
            this.in = in;
            this.count = count;
            this.cols = cols;
        }

        @Override
        public void run(int start, int end, int worker) {
            gemm.pack(in, count, cols, panel, start, end);
        }
    }

    /**
     * Per (row, head): softmax(q·k / √d) over the rows of the row's own input, times V, into {@link #ctx}: the
     * decoder's attention kernel over the input's keys (its run of {@link #keysT} columns), every position allowed.
     */
    private final class AttentionTask implements CpuThreadPool.RangeTask {
        @Override
        public void run(int start, int end, int worker) {
            int heads = config.headCount();
            int hd = config.headDim();
            int dim = config.embeddingLength();
            float scale = (float) (1.0 / Math.sqrt(hd));
            float[] att = scores[worker];
            for (int item = start; item < end; item++) {
                int t = item / heads;
                int off = (item % heads) * hd;
                int from = rowStart[t];
                attend.attend(q, t * dim + off, 1, hd, keysT, off * keyStride + from, keyStride, v, from * dim + off,
                        dim, rowEnd[t] - from, scale, att, ctx, t * dim + off);
            }
        }
    }

    @Override
    public void close() {
        pool.close();
    }
}
