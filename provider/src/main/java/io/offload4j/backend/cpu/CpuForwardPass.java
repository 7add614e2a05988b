package io.offload4j.backend.cpu;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.gguf.ModelFormatException;
import io.offload4j.model.BlockWeights;
import io.offload4j.model.Model;
import io.offload4j.model.ModelConfig;
import io.offload4j.model.ModelWeights;
import io.offload4j.model.RopeLayout;
import io.offload4j.model.RopeScaling;
import io.offload4j.model.Weight;
import io.offload4j.quant.CpuKernels;
import io.offload4j.quant.FloatOps;
import io.offload4j.quant.RowKernel;

/**
 * The transformer forward pass on the CPU, for a chunk of T tokens of one sequence at a time.
 *
 * <p>Prefill runs the whole chunk through each projection as a matrix–matrix product: each weight
 * row is decoded once into a per-thread scratch row and dotted with all T activations, so weights
 * are read from memory once per chunk, not once per token. Decode (T = 1) uses the fused
 * quantized dot product, which never materialises the row. Every buffer is allocated here, at
 * preparation; {@link #forward} allocates nothing.
 */
final class CpuForwardPass implements ForwardPass {

    private final ModelConfig config;
    private final ModelWeights weights;
    private final CpuThreadPool pool;
    private final FloatOps ops = CpuKernels.floatOps();
    private final Gemm gemm = Gemm.best();
    private final Attention attend = Attention.best();
    private final int maxContext;
    private final int maxChunk;

    // Activations for up to maxChunk tokens, token-major.
    private final float[] x;
    private final float[] xb;
    private final float[] q;
    private final float[] k;
    private final float[] v;
    private final float[] attnOut;
    private final float[] hb;
    private final float[] hb2;
    private final float[] ropeCos;
    private final float[] ropeSin;
    private final double[] inverseFrequencies;
    // Per worker thread.
    private final float[][] rowScratch;
    private final float[][] tileScratch;
    /** The chunk's activations transposed into panels for the packed GEMM (empty without one). */
    private final float[] panel;
    private final PackTask pack = new PackTask();
    private final float[][] scores;

    private final MatmulTask matmul = new MatmulTask();
    private final AttentionTask attention = new AttentionTask();

    CpuForwardPass(Model model, CpuThreadPool pool, int maxContext, int maxChunk) {
        this.config = model.config();
        this.weights = model.weights();
        this.pool = pool;
        if (maxContext < 1 || maxChunk < 1) {
            throw new IllegalArgumentException("maxContext and maxChunk must be positive");
        }
        this.maxContext = maxContext;
        this.maxChunk = maxChunk;
        checkSupported(model);
        ModelConfig c = config;
        int dim = c.embeddingLength();
        x = new float[maxChunk * dim];
        xb = new float[maxChunk * Math.max(dim, c.queryDim())];
        q = new float[maxChunk * c.queryDim()];
        k = new float[maxChunk * c.keyValueDim()];
        v = new float[maxChunk * c.valueDim()];
        attnOut = new float[maxChunk * c.queryDim()];
        hb = new float[maxChunk * c.feedForwardLength()];
        hb2 = new float[maxChunk * c.feedForwardLength()];
        int half = c.ropeDimensions() / 2;
        ropeCos = new float[maxChunk * half];
        ropeSin = new float[maxChunk * half];
        inverseFrequencies = inverseFrequencies(c, weights.ropeFrequencyFactors());
        int maxCols = Math.max(Math.max(dim, c.feedForwardLength()), c.queryDim());
        rowScratch = new float[pool.threads()][Math.max(gemm.rowTile(), gemm.packedRowTile()) * maxCols];
        int pt = gemm.panelTokens();
        tileScratch = new float[pool.threads()][Math.max(1, gemm.packedRowTile() * pt)];
        panel = pt == 0 || maxChunk < PACKED_MIN_TOKENS ? new float[0]
                : new float[(maxChunk + pt - 1) / pt * pt * maxCols];
        int group = c.headCount() / c.headCountKv();
        scores = new float[pool.threads()][group * (maxContext + attend.padding())];
    }

    private static void checkSupported(Model model) {
        ModelWeights w = model.weights();
        check(model, w.tokenEmbedding());
        check(model, w.output());
        for (BlockWeights b : w.blocks()) {
            for (Weight m : new Weight[] {b.wq(), b.wk(), b.wv(), b.wo(), b.wGate(), b.wUp(), b.wDown()}) {
                check(model, m);
            }
        }
    }

    private static void check(Model model, Weight w) {
        if (!CpuKernels.isSupported(w.type())) {
            throw new ModelFormatException(model.path(), "tensor '" + w.name() + "' is stored as " + w.type()
                    + ", which the CPU backend cannot compute with; supported formats: " + CpuKernels.supported()
                    + " (re-quantize the model, e.g. with llama-quantize to Q4_K_M or Q8_0)");
        }
    }

    /** θ_i = base^(-2i/d), divided by Llama 3.1-style frequency factors and linear scaling. */
    private static double[] inverseFrequencies(ModelConfig c, float[] factors) {
        int half = c.ropeDimensions() / 2;
        double[] f = new double[half];
        double linear = c.ropeScaling().type() == RopeScaling.Type.LINEAR ? c.ropeScaling().factor() : 1.0;
        for (int i = 0; i < half; i++) {
            f[i] = Math.pow(c.ropeFreqBase(), -2.0 * i / c.ropeDimensions()) / linear;
            if (factors != null) {
                f[i] /= factors[i];
            }
        }
        return f;
    }

    @Override
    public ModelConfig config() {
        return config;
    }

    @Override
    public int maxChunkTokens() {
        return maxChunk;
    }

    @Override
    public int maxContext() {
        return maxContext;
    }

    @Override
    public KvCache newKvCache(int capacity) {
        if (capacity < 1 || capacity > maxContext) {
            throw new IllegalArgumentException("KV cache capacity " + capacity + " outside 1.." + maxContext);
        }
        return new CpuKvCache(config.blockCount(), capacity, capacity + attend.padding(), config.headCountKv(),
                config.headDim(), config.valueDim());
    }

    @Override
    public void forward(KvCache kvCache, int[] tokens, int offset, int count, int startPos, float[] logits) {
        if (count < 1 || count > maxChunk) {
            throw new IllegalArgumentException("chunk of " + count + " tokens; this pass takes 1.." + maxChunk);
        }
        CpuKvCache cache = (CpuKvCache) kvCache;
        if (startPos < 0 || startPos + count > cache.capacity()) {
            throw new IllegalArgumentException("positions " + startPos + ".." + (startPos + count - 1)
                    + " do not fit the KV cache of " + cache.capacity());
        }
        ModelConfig c = config;
        int dim = c.embeddingLength();
        Weight embedding = weights.tokenEmbedding();
        RowKernel embeddingKernel = CpuKernels.of(embedding.type());
        for (int t = 0; t < count; t++) {
            embeddingKernel.dequantize(embedding.data(), (long) tokens[offset + t] * embedding.rowBytes(), x, t * dim, dim);
        }
        computeRope(count, startPos);
        for (BlockWeights block : weights.blocks()) {
            block(block, cache, count, startPos);
        }
        // Only the last token's logits are needed.
        rmsNorm(xb, 0, x, (count - 1) * dim, weights.outputNorm(), dim);
        matmul(weights.output(), xb, 1, logits);
    }

    private void block(BlockWeights b, CpuKvCache cache, int count, int startPos) {
        ModelConfig c = config;
        int dim = c.embeddingLength();
        int qDim = c.queryDim();
        int kvDim = c.keyValueDim();
        int vDim = c.valueDim();
        for (int t = 0; t < count; t++) {
            rmsNorm(xb, t * dim, x, t * dim, b.attentionNorm(), dim);
        }
        matmul(xb, count, b.wq(), q, b.wk(), k, b.wv(), v);
        if (b.qBias() != null) {
            addBias(q, b.qBias(), count);
            addBias(k, b.kBias(), count);
            addBias(v, b.vBias(), count);
        }
        int hd = c.headDim();
        if (b.qNorm() != null) {
            for (int i = 0; i < count * c.headCount(); i++) {
                rmsNorm(q, i * hd, q, i * hd, b.qNorm(), hd);
            }
            for (int i = 0; i < count * c.headCountKv(); i++) {
                rmsNorm(k, i * hd, k, i * hd, b.kNorm(), hd);
            }
        }
        applyRope(q, count, c.headCount());
        applyRope(k, count, c.headCountKv());
        float[] keys = cache.keys[b.index()];
        float[] values = cache.values[b.index()];
        // Keys go in transposed (per head: dimension-major), values as they are.
        int stride = cache.keyStride;
        for (int t = 0; t < count; t++) {
            for (int j = 0; j < kvDim; j++) {
                keys[j * stride + startPos + t] = k[t * kvDim + j];
            }
        }
        System.arraycopy(v, 0, values, startPos * vDim, count * vDim);

        // One item per (token, KV head) and all the query heads that share it; per query head when
        // that would leave threads idle (decode).
        int split = count * c.headCountKv() >= 4 * pool.threads() ? 1 : c.headCount() / c.headCountKv();
        attention.set(keys, values, stride, count, startPos, split);
        pool.run(count * c.headCountKv() * split, 1, attention);

        matmul(b.wo(), attnOut, count, xb);
        for (int i = 0; i < count * dim; i++) {
            x[i] += xb[i];
        }

        for (int t = 0; t < count; t++) {
            rmsNorm(xb, t * dim, x, t * dim, b.ffnNorm(), dim);
        }
        swiglu(b.wGate(), b.wUp(), xb, count, hb, hb2);
        matmul(b.wDown(), hb, count, xb);
        for (int i = 0; i < count * dim; i++) {
            x[i] += xb[i];
        }
    }

    private void addBias(float[] out, float[] bias, int count) {
        int n = bias.length;
        for (int t = 0; t < count; t++) {
            for (int i = 0; i < n; i++) {
                out[t * n + i] += bias[i];
            }
        }
    }

    private void rmsNorm(float[] out, int outOff, float[] in, int inOff, float[] weight, int n) {
        float ss = ops.dot(in, inOff, in, inOff, n);
        float scale = (float) (1.0 / Math.sqrt(ss / n + config.rmsNormEps()));
        for (int i = 0; i < n; i++) {
            out[outOff + i] = in[inOff + i] * scale * weight[i];
        }
    }

    private void computeRope(int count, int startPos) {
        int half = inverseFrequencies.length;
        for (int t = 0; t < count; t++) {
            int pos = startPos + t;
            for (int i = 0; i < half; i++) {
                double angle = pos * inverseFrequencies[i];
                ropeCos[t * half + i] = (float) Math.cos(angle);
                ropeSin[t * half + i] = (float) Math.sin(angle);
            }
        }
    }

    private void applyRope(float[] vectors, int count, int heads) {
        int hd = config.headDim();
        int half = inverseFrequencies.length;
        boolean adjacent = config.ropeLayout() == RopeLayout.ADJACENT_PAIRS;
        for (int t = 0; t < count; t++) {
            for (int h = 0; h < heads; h++) {
                int base = (t * heads + h) * hd;
                for (int i = 0; i < half; i++) {
                    int a = adjacent ? base + 2 * i : base + i;
                    int b = adjacent ? a + 1 : a + half;
                    float cos = ropeCos[t * half + i];
                    float sin = ropeSin[t * half + i];
                    float x0 = vectors[a];
                    float x1 = vectors[b];
                    vectors[a] = x0 * cos - x1 * sin;
                    vectors[b] = x0 * sin + x1 * cos;
                }
            }
        }
    }

    /** out[t][r] = W[r] · in[t] for t < count. */
    private void matmul(Weight w, float[] in, int count, float[] out) {
        matmul.set(in, count, false);
        matmul.add(w, out);
        runMatmul();
    }

    /** Two or three projections of the same input in one parallel run (Q, K, V): one hand-off, not three. */
    private void matmul(float[] in, int count, Weight w0, float[] out0, Weight w1, float[] out1, Weight w2, float[] out2) {
        matmul.set(in, count, false);
        matmul.add(w0, out0);
        matmul.add(w1, out1);
        matmul.add(w2, out2);
        runMatmul();
    }

    /** gate[t][r] = silu(Wg[r] · in[t]) * (Wu[r] · in[t]): both projections and the activation in one run. */
    private void swiglu(Weight gate, Weight up, float[] in, int count, float[] out, float[] scratch) {
        matmul.set(in, count, true);
        matmul.add(gate, out);
        matmul.add(up, scratch);
        runMatmul();
    }

    /** Chunks of at least this many tokens use the packed GEMM (below, the padding of its panels costs more than it saves). */
    private static final int PACKED_MIN_TOKENS = 8;

    private void runMatmul() {
        int rows = matmul.rows();
        boolean packed = matmul.count >= PACKED_MIN_TOKENS && panel.length > 0;
        if (packed) {
            int cols = matmul.weights[0].cols();
            pack.set(matmul.in, matmul.count, cols);
            pool.run(cols, Math.max(64, (cols + 2 * pool.threads() - 1) / (2 * pool.threads())), pack);
        }
        matmul.packed = packed;
        int tile = packed ? gemm.packedRowTile() : gemm.rowTile();
        // About 16 chunks per thread: whoever finishes first waits for at most a small chunk.
        int grain = Math.max(16, (rows + 16 * pool.threads() - 1) / (16 * pool.threads()));
        grain = (grain + tile - 1) / tile * tile;
        pool.run(rows, grain, matmul);
    }

    /**
     * The projection work: a range of weight rows against all tokens of the chunk. Up to three
     * weights with the same input share one index space (their rows one after the other); in SwiGLU
     * mode the two weights are walked in step instead and combined as silu(first) * second.
     */
    private final class MatmulTask implements CpuThreadPool.RangeTask {
        private final Weight[] weights = new Weight[3];
        private final RowKernel[] kernels = new RowKernel[3];
        private final float[][] outs = new float[3][];
        private final int[] firstRow = new int[4];
        private int parts;
        private boolean swiglu;
        private boolean packed;
        private float[] in;
        private int count;

        void set(float[] in, int count, boolean swiglu) {
            this.in = in;
            this.count = count;
            this.swiglu = swiglu;
            this.parts = 0;
        }

        void add(Weight weight, float[] out) {
            weights[parts] = weight;
            kernels[parts] = CpuKernels.of(weight.type());
            outs[parts] = out;
            firstRow[parts + 1] = firstRow[parts] + weight.rows();
            parts++;
        }

        int rows() {
            return swiglu ? weights[0].rows() : firstRow[parts];
        }

        @Override
        public void run(int start, int end, int worker) {
            if (swiglu) {
                project(0, start, end, worker);
                project(1, start, end, worker);
                float[] g = outs[0];
                float[] u = outs[1];
                int rows = weights[0].rows();
                for (int t = 0; t < count; t++) {
                    gemm.swiglu(g, u, t * rows + start, t * rows + end);
                }
                return;
            }
            for (int p = 0; p < parts; p++) {
                int lo = Math.max(start, firstRow[p]);
                int hi = Math.min(end, firstRow[p + 1]);
                if (lo < hi) {
                    project(p, lo - firstRow[p], hi - firstRow[p], worker);
                }
            }
        }

        /** Rows {@code [start, end)} of weight {@code p} against every token. */
        private void project(int p, int start, int end, int worker) {
            Weight weight = weights[p];
            RowKernel kernel = kernels[p];
            float[] out = outs[p];
            int cols = weight.cols();
            int rows = weight.rows();
            long rowBytes = weight.rowBytes();
            if (count == 1) {
                for (int r = start; r < end; r++) {
                    out[r] = kernel.dot(weight.data(), r * rowBytes, in, 0, cols);
                }
                return;
            }
            // Decode a few rows at a time, then multiply them with every token of the chunk in
            // register tiles: the weights are read once per chunk, the activations once per tile.
            float[] tileRows = rowScratch[worker];
            int tile = packed ? gemm.packedRowTile() : gemm.rowTile();
            for (int r = start; r < end; r += tile) {
                int n = Math.min(tile, end - r);
                for (int i = 0; i < n; i++) {
                    kernel.dequantize(weight.data(), (r + i) * rowBytes, tileRows, i * cols, cols);
                }
                if (packed) {
                    gemm.multiplyPacked(tileRows, 0, n, panel, count, cols, out, r, rows, tileScratch[worker]);
                } else {
                    gemm.multiply(tileRows, 0, n, in, count, cols, out, r, rows);
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

    /** Causal grouped-query attention: per index, one token's query heads of one KV head (or a part of them). */
    private final class AttentionTask implements CpuThreadPool.RangeTask {
        private float[] keys;
        private float[] values;
        private int stride;
        private int startPos;
        private int split;

        void set(float[] keys, float[] values, int stride, int count, int startPos, int split) {
            this.keys = keys;
            this.values = values;
            this.stride = stride;
            this.startPos = startPos;
            this.split = split;
        }

        @Override
        public void run(int start, int end, int worker) {
            ModelConfig c = config;
            int heads = c.headCount();
            int kvHeads = c.headCountKv();
            int hd = c.headDim();
            int vDim = c.valueDim();
            int perItem = heads / kvHeads / split;
            float scale = (float) (1.0 / Math.sqrt(hd));
            float[] att = scores[worker];
            for (int item = start; item < end; item++) {
                int t = item / (kvHeads * split);
                int rest = item % (kvHeads * split);
                int kvHead = rest / split;
                int h = kvHead * split * perItem + (rest % split) * perItem;
                int off = (t * heads + h) * hd;
                attend.attend(q, off, perItem, hd, keys, kvHead * hd * stride, stride, values, kvHead * hd, vDim,
                        startPos + t + 1, scale, att, attnOut, off);
            }
        }
    }

    @Override
    public void close() {
        pool.close();
    }
}
