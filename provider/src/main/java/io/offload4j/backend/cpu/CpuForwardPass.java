package io.offload4j.backend.cpu;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.gguf.ModelFormatException;
import io.offload4j.model.BlockWeights;
import io.offload4j.model.Model;
import io.offload4j.model.ModelConfig;
import io.offload4j.model.ModelTraits;
import io.offload4j.model.ModelWeights;
import io.offload4j.model.RopeLayout;
import io.offload4j.model.ModelFormats;
import io.offload4j.model.RopeFrequencies;
import io.offload4j.model.Weight;
import io.offload4j.quant.CpuKernels;
import io.offload4j.quant.FloatOps;
import io.offload4j.quant.RowKernel;

/**
 * The transformer forward pass on the CPU, for a chunk of T tokens of one sequence at a time, or for
 * one token of each of B sequences ({@link #forwardBatch}).
 *
 * <p>Both run their T (or B) tokens as rows of one activation matrix. Prefill runs the whole chunk
 * through each projection as a matrix–matrix product: each weight row is decoded once into a
 * per-thread scratch row and dotted with all T activations, so weights are read from memory once per
 * chunk, not once per token. A batched decode step takes the same path with one row per sequence, so
 * each weight is read once per step for the whole batch. Only RoPE, the KV-cache write and attention
 * look at which sequence a row belongs to: each row carries its own KV cache and position. A single
 * token (T = 1 or B = 1) uses the fused quantized dot product, which never materialises the row.
 * Every buffer is allocated here, at preparation; {@link #forward} and {@link #forwardBatch} allocate
 * nothing.
 */
final class CpuForwardPass implements ForwardPass {

    private final ModelConfig config;
    private final ModelWeights weights;
    private final CpuThreadPool pool;
    private final FloatOps ops = CpuKernels.floatOps();
    private final Gemm gemm = Gemm.best();
    private final Attention attend = Attention.best();
    private final RowKernel embeddingKernel;
    /** The blocks as an array: iterating the model's list would allocate an iterator per call. */
    private final BlockWeights[] blocks;
    private final int maxContext;
    private final int maxChunk;
    /** Rows of the activation buffers: a prefill chunk's tokens, or a decode batch's sequences. */
    private final int maxRows;

    // Per row of the current call: the KV cache it reads and extends, and its position in that sequence.
    private final CpuKvCache[] rowCache;
    private final int[] rowPos;
    /**
     * Set by a bidirectional {@link #forwardHidden} for the length of that call only: row t then attends to positions
     * 0..rowLast[t] of its cache (its sequence's last position) instead of 0..rowPos[t].
     */
    private boolean bidirectional;
    private final int[] rowLast;
    /** Logits of up to {@link #LOGIT_ROWS} rows of a decode batch, row-major (vocabulary-size rows). */
    private final float[] batchLogits;

    // Activations for up to maxRows tokens, token-major.
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
    /** cos and sin are multiplied by this ({@link RopeFrequencies#magnitude}: LongRoPE's attention factor, else 1). */
    private final float ropeMagnitude;
    /** Sliding-window blocks' RoPE (Gemma 3's local base); the same arrays as the global ones when they agree. */
    private final float[] slidingRopeCos;
    private final float[] slidingRopeSin;
    private final double[] slidingInverseFrequencies;
    /** Embedding scale, attention scale and soft caps, sliding-window blocks. */
    private final ModelTraits traits;
    // Per worker thread.
    private final float[][] rowScratch;
    private final float[][] tileScratch;
    /** The chunk's activations transposed into panels for the packed GEMM (empty without one). */
    private final float[] panel;
    private final PackTask pack = new PackTask();
    /** Per worker thread: attention scores, a row of {@link #scoreStride} floats per query head of a group. */
    private final float[][] scores;
    private final int scoreStride;

    /** The sparse FFN of mixture-of-experts blocks; null for a dense model. */
    private final CpuMoeRunner moe;

    private final MatmulTask matmul = new MatmulTask();
    private final AttentionTask attention = new AttentionTask();

    /** Positions per KV cache page ({@link CpuKvCache}). */
    static final int PAGE_POSITIONS = 64;
    private final int pagePositions;
    /** The pools of its KV caches' pages, by the blocks they hold ({@link #pages}). */
    private final java.util.List<KvPages> pagePools = new java.util.ArrayList<>(2);

    CpuForwardPass(Model model, CpuThreadPool pool, int maxContext, int maxChunk) {
        this(model, pool, maxContext, maxChunk, PAGE_POSITIONS);
    }

    /** @param pagePositions positions per KV cache page (tests compare sizes; the engine's is {@link #PAGE_POSITIONS}) */
    CpuForwardPass(Model model, CpuThreadPool pool, int maxContext, int maxChunk, int pagePositions) {
        if (pagePositions < 1) {
            throw new IllegalArgumentException("KV cache pages of " + pagePositions + " positions");
        }
        this.pagePositions = pagePositions;
        this.config = model.config();
        this.weights = model.weights();
        this.pool = pool;
        if (maxContext < 1 || maxChunk < 1) {
            throw new IllegalArgumentException("maxContext and maxChunk must be positive");
        }
        this.maxContext = maxContext;
        this.maxChunk = maxChunk;
        this.maxRows = Math.max(maxChunk, MIN_BATCH_ROWS);
        ModelFormats.require(model, CpuKernels.supported(), "the CPU backend",
                "re-quantize the model, e.g. with llama-quantize to Q4_K_M or Q8_0");
        this.embeddingKernel = CpuKernels.of(weights.tokenEmbedding().type());
        this.blocks = weights.blocks().toArray(new BlockWeights[0]);
        ModelConfig c = config;
        int dim = c.embeddingLength();
        int rows = maxRows;
        rowCache = new CpuKvCache[rows];
        rowPos = new int[rows];
        rowLast = new int[rows];
        batchLogits = new float[Math.multiplyExact(LOGIT_ROWS, c.vocabularySize())];
        x = new float[rows * dim];
        xb = new float[rows * Math.max(dim, c.queryDim())];
        q = new float[rows * c.queryDim()];
        k = new float[rows * c.keyValueDim()];
        v = new float[rows * c.valueDim()];
        attnOut = new float[rows * c.queryDim()];
        hb = new float[rows * c.feedForwardLength()];
        hb2 = new float[rows * c.feedForwardLength()];
        int half = c.ropeDimensions() / 2;
        ropeCos = new float[rows * half];
        ropeSin = new float[rows * half];
        inverseFrequencies = RopeFrequencies.inverse(c, weights, maxContext);
        ropeMagnitude = RopeFrequencies.magnitude(weights);
        traits = c.traits();
        double[] sliding = RopeFrequencies.inverseSliding(c, weights, maxContext);
        boolean sameRope = !traits.hasSlidingWindow() || java.util.Arrays.equals(sliding, inverseFrequencies);
        slidingInverseFrequencies = sameRope ? inverseFrequencies : sliding;
        slidingRopeCos = sameRope ? ropeCos : new float[rows * half];
        slidingRopeSin = sameRope ? ropeSin : new float[rows * half];
        int maxCols = Math.max(Math.max(dim, c.feedForwardLength()), c.queryDim());
        rowScratch = new float[pool.threads()][Math.max(RowKernel.DOT_SCRATCH,
                Math.max(gemm.rowTile(), gemm.packedRowTile()) * maxCols)];
        int pt = gemm.panelTokens();
        tileScratch = new float[pool.threads()][Math.max(1, gemm.packedRowTile() * pt)];
        panel = pt == 0 || rows < PACKED_MIN_TOKENS ? new float[0]
                : new float[(rows + pt - 1) / pt * pt * maxCols];
        int group = c.headCount() / c.headCountKv();
        scoreStride = maxContext + attend.padding();
        scores = new float[pool.threads()][group * scoreStride];
        moe = c.moe() == null ? null : new CpuMoeRunner(c.moe(), dim, rows, pool, gemm);
    }

    @Override
    public void routingListener(io.offload4j.backend.MoeRoutingListener listener) {
        if (moe != null) {
            moe.listener(listener);
        }
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
        return newKvCache(capacity, null);
    }

    @Override
    public void forward(KvCache kvCache, int[] tokens, int offset, int count, int startPos, float[] logits) {
        chunk(kvCache, tokens, offset, count, startPos);
        // Only the last token's logits are needed.
        int dim = config.embeddingLength();
        rmsNorm(xb, 0, x, (count - 1) * dim, weights.outputNorm(), dim);
        matmul(weights.output(), xb, 1, logits);
        finalSoftcap(logits, 0);
        releaseRows(count);
    }

    /** Like {@link #forward}, with the logits of every token of the chunk (the output projection as for a batch). */
    @Override
    public void forwardAll(KvCache kvCache, int[] tokens, int offset, int count, int startPos, float[][] logits) {
        if (count > logits.length) {
            throw new IllegalArgumentException("forwardAll of " + count + " tokens with " + logits.length
                    + " logits rows; it takes 1 to logits.length tokens");
        }
        chunk(kvCache, tokens, offset, count, startPos);
        outputRows(count, logits, 0);
        releaseRows(count);
    }

    /**
     * Packed sequences as the rows of one chunk: each row carries its own cache and position, so attention stays
     * within its sequence exactly as for a decode batch. Bidirectional: each row also carries its sequence's last
     * position, up to which it attends; every row's keys and values are in the caches before any row attends
     * ({@link #block}), and a sequence is always whole in one call, so this is full attention over the sequence.
     */
    @Override
    public void forwardHidden(KvCache[] caches, int[] tokens, int[] lengths, int sequences, float[] hidden,
                              boolean bidirectional) {
        ForwardPass.checkBidirectional(config, bidirectional);
        int dim = config.embeddingLength();
        int rows = 0;
        for (int s = 0; s < sequences; s++) {
            if (!(caches[s] instanceof CpuKvCache cache)) {
                throw new IllegalArgumentException("sequence " + s + " has no KV cache of this pass; use newKvCache");
            }
            if (lengths[s] < 1 || lengths[s] > cache.capacity()) {
                throw new IllegalArgumentException("sequence " + s + " of " + lengths[s] + " tokens does not fit its"
                        + " KV cache of " + cache.capacity());
            }
            rows += lengths[s];
        }
        if (rows > maxChunk || hidden.length < rows * dim) {
            throw new IllegalArgumentException(rows + " tokens together; this pass takes up to " + maxChunk
                    + " per call into " + hidden.length / dim + " hidden rows");
        }
        int row = 0;
        for (int s = 0; s < sequences; s++) {
            for (int p = 0; p < lengths[s]; p++, row++) {
                if (tokens[row] < 0 || tokens[row] >= config.vocabularySize()) {
                    throw new IllegalArgumentException("token " + tokens[row] + " outside the vocabulary");
                }
                rowCache[row] = (CpuKvCache) caches[s];
                rowPos[row] = p;
                rowLast[row] = lengths[s] - 1;
                embed(tokens[row], row);
            }
        }
        this.bidirectional = bidirectional;
        try {
            allBlocks(rows);
        } finally {
            this.bidirectional = false;
        }
        for (int t = 0; t < rows; t++) {
            rmsNorm(hidden, t * dim, x, t * dim, weights.outputNorm(), dim);
        }
        releaseRows(rows);
    }

    /** Checks a chunk of one sequence and runs it through every block (its logits not yet computed). */
    private void chunk(KvCache kvCache, int[] tokens, int offset, int count, int startPos) {
        if (count < 1 || count > maxChunk) {
            throw new IllegalArgumentException("chunk of " + count + " tokens; this pass takes 1.." + maxChunk);
        }
        if (!(kvCache instanceof CpuKvCache cache)) {
            throw new IllegalArgumentException("the KV cache was not created by this pass ("
                    + (kvCache == null ? "null" : kvCache.getClass().getSimpleName()) + "); use newKvCache");
        }
        if (startPos < 0 || startPos + count > cache.capacity()) {
            throw new IllegalArgumentException("positions " + startPos + ".." + (startPos + count - 1)
                    + " do not fit the KV cache of " + cache.capacity());
        }
        for (int t = 0; t < count; t++) {
            rowCache[t] = cache;
            rowPos[t] = startPos + t;
            embed(tokens[offset + t], t);
        }
        allBlocks(count);
    }

    /**
     * The logits of activation rows {@code 0..n)} into {@code logits[from ..)}: the output projection in groups of
     * {@link #LOGIT_ROWS} rows (one row: the fused dot product straight into the caller's array, as {@link #forward}).
     */
    private void outputRows(int n, float[][] logits, int from) {
        int dim = config.embeddingLength();
        int vocab = config.vocabularySize();
        for (int g = 0; g < n; g += LOGIT_ROWS) {
            int m = Math.min(LOGIT_ROWS, n - g);
            for (int i = 0; i < m; i++) {
                rmsNorm(xb, i * dim, x, (g + i) * dim, weights.outputNorm(), dim);
            }
            if (m == 1) {
                matmul(weights.output(), xb, 1, logits[from + g]);
                finalSoftcap(logits[from + g], 0);
                continue;
            }
            matmul(weights.output(), xb, m, batchLogits);
            for (int i = 0; i < m; i++) {
                System.arraycopy(batchLogits, i * vocab, logits[from + g + i], 0, vocab);
                finalSoftcap(logits[from + g + i], 0);
            }
        }
    }

    /**
     * The B tokens are the rows of one activation matrix, exactly like a prefill chunk, so every projection
     * reads its weights once for the batch; every row's key and value are stored before any row attends, so a
     * sequence's rows (a mixed step) see the ones before them. Batches larger than the activation buffers ({@code max(maxChunk, 16)}
     * rows) run in groups of that size; the output projection runs in groups of {@link #LOGIT_ROWS} rows.
     */
    @Override
    public void forwardBatch(KvCache[] caches, int[] tokens, int[] positions, int batch, float[][] logits) {
        checkBatch(caches, tokens, positions, batch, logits);
        for (int from = 0; from < batch; from += maxRows) {
            int n = Math.min(maxRows, batch - from);
            for (int t = 0; t < n; t++) {
                rowCache[t] = (CpuKvCache) caches[from + t];
                rowPos[t] = positions[from + t];
                embed(tokens[from + t], t);
            }
            allBlocks(n);
            outputRows(n, logits, from);
            releaseRows(n);
        }
    }

    /** Every argument of a batch is checked before any work, so a bad one leaves all caches as they were. */
    private void checkBatch(KvCache[] caches, int[] tokens, int[] positions, int batch, float[][] logits) {
        if (batch < 1 || batch > caches.length || batch > tokens.length || batch > positions.length
                || batch > logits.length) {
            throw new IllegalArgumentException("batch of " + batch + " sequences, but the arrays hold " + caches.length
                    + " caches, " + tokens.length + " tokens, " + positions.length + " positions and " + logits.length
                    + " logit rows; the batch must be at least 1 and at most each length");
        }
        int vocab = config.vocabularySize();
        for (int b = 0; b < batch; b++) {
            if (!(caches[b] instanceof CpuKvCache cache)) {
                throw new IllegalArgumentException("sequence " + b + " of the batch has "
                        + (caches[b] == null ? "no KV cache" : "a KV cache of another backend ("
                        + caches[b].getClass().getSimpleName() + ")") + "; use this pass's newKvCache");
            }
            if (positions[b] < 0 || positions[b] >= cache.capacity()) {
                throw new IllegalArgumentException("sequence " + b + " of the batch is at position " + positions[b]
                        + ", outside its KV cache of " + cache.capacity() + " positions");
            }
            if (tokens[b] < 0 || tokens[b] >= vocab) {
                throw new IllegalArgumentException("sequence " + b + " of the batch feeds token " + tokens[b]
                        + ", outside the vocabulary 0.." + (vocab - 1));
            }
            if (logits[b] == null || logits[b].length < vocab) {
                throw new IllegalArgumentException("sequence " + b + " of the batch has a logits array of "
                        + (logits[b] == null ? "null" : logits[b].length + " floats") + "; it needs " + vocab);
            }
        }
        ForwardPass.checkRowsOfOneSequence(caches, positions, 0, batch);
    }

    // ------------------------------------------------------------------ single blocks, for a GPU pass (CpuBlockRunner)

    /**
     * Block {@code block} for {@code count} consecutive tokens from position {@code pos} of {@code cache} (at most the
     * pass's chunk): {@code activations} (the residual stream, {@code count} rows of {@code embeddingLength} floats)
     * are read and updated in place; the tokens' keys and values go into the cache. Allocation-free.
     */
    void runBlock(int block, CpuKvCache cache, float[] activations, int count, int pos) {
        if (count < 1 || count > maxChunk) {
            throw new IllegalArgumentException(count + " rows; this pass takes 1.." + maxChunk);
        }
        int n = count * config.embeddingLength();
        System.arraycopy(activations, 0, x, 0, n);
        for (int t = 0; t < count; t++) {
            rowCache[t] = cache;
            rowPos[t] = pos + t;
        }
        claimRows(count);
        computeRope(count);
        block(blocks[block], count);
        releaseRows(count);
        System.arraycopy(x, 0, activations, 0, n);
    }

    /** A KV cache holding only the blocks marked in {@code blocks} (the others get empty arrays). */
    CpuKvCache newKvCache(int capacity, boolean[] blocks) {
        return newKvCache(capacity, blocks, maxChunk);
    }

    /**
     * As above, sliding blocks in a ring of W + {@code surplus} rows ({@code surplus} at least this pass's chunk):
     * the surplus is how far the cache may be rewound ({@link KvCache#maxRewind()}).
     */
    CpuKvCache newKvCache(int capacity, boolean[] blocks, int surplus) {
        if (capacity < 1 || capacity > maxContext) {
            throw new IllegalArgumentException("KV cache capacity " + capacity + " outside 1.." + maxContext);
        }
        int[] ring = new int[config.blockCount()];
        int rewind = Integer.MAX_VALUE;
        // A sliding block keeps a ring of W + maxChunk rows (CpuKvCache says why) where its two copies take less
        // room than every position would.
        int extra = Math.max(surplus, maxChunk);
        int ringRows = traits.slidingWindow() + extra;
        boolean[] paged = new boolean[ring.length];
        for (int b = 0; b < ring.length; b++) {
            boolean stored = blocks == null || blocks[b];
            if (stored && traits.sliding(b) && 2L * ringRows < capacity) {
                ring[b] = ringRows;
                rewind = extra;
            } else {
                paged[b] = stored;
            }
        }
        return new CpuKvCache(pages(paged), capacity, ring, attend.padding(), config.keyValueDim(), config.valueDim(),
                rewind);
    }

    /**
     * The pool of pages for caches that keep exactly the blocks {@code paged} in pages: caches that share a pool can
     * share pages. A pass has one or two (with and without its sliding blocks' rings; a block runner's its blocks').
     */
    private synchronized KvPages pages(boolean[] paged) {
        for (KvPages p : pagePools) {
            if (java.util.Arrays.equals(p.blocks(), paged)) {
                return p;
            }
        }
        int[] keyDims = new int[paged.length];
        int[] valueDims = new int[paged.length];
        for (int b = 0; b < paged.length; b++) {
            keyDims[b] = paged[b] ? config.keyValueDim() : 0;
            valueDims[b] = paged[b] ? config.valueDim() : 0;
        }
        int perContext = (maxContext + pagePositions - 1) / pagePositions;
        KvPages p = new KvPages(pagePositions, keyDims, valueDims, attend.padding(), 2 * perContext);
        pagePools.add(p);
        return p;
    }

    /**
     * The weights' place, and what the KV caches' pages hold now and held at most so far (shared pages counted once;
     * a cache's rings not included).
     */
    @Override
    public String memoryReport() {
        long held = 0;
        long peak = 0;
        synchronized (this) {
            for (KvPages p : pagePools) {
                held += p.pagesInUse() * p.pageBytes();
                peak += p.peakInUse() * p.pageBytes();
            }
        }
        return String.format(java.util.Locale.ROOT, "all weights in host memory (file mapping); KV caches in pages of %d"
                + " positions: %.1f MiB held now, at most %.1f MiB so far", pagePositions, held / 1048576.0,
                peak / 1048576.0);
    }

    /** Pages held by this pass's KV caches now, in all pools (shared pages counted once). */
    int pagesInUse() {
        int n = 0;
        synchronized (this) {
            for (KvPages p : pagePools) {
                n += p.pagesInUse();
            }
        }
        return n;
    }

    /** Decodes token {@code token}'s embedding row into activation row {@code t}. */
    private void embed(int token, int t) {
        Weight embedding = weights.tokenEmbedding();
        int dim = config.embeddingLength();
        embeddingKernel.dequantize(embedding.data(), (long) token * embedding.rowBytes(), x, t * dim, dim);
        float scale = traits.embeddingScale();
        if (scale != 1f) {
            for (int i = t * dim; i < (t + 1) * dim; i++) {
                x[i] *= scale;
            }
        }
    }

    /** Gemma 2's cap on the logits: cap · tanh(logit / cap); nothing without one. */
    private void finalSoftcap(float[] logits, int from) {
        float cap = traits.finalSoftcap();
        if (cap > 0) {
            attend.softcap(logits, from, from + config.vocabularySize(), cap);
        }
    }

    /** Every block over the first {@code count} rows (their caches and positions set in {@link #rowCache}, {@link #rowPos}). */
    private void allBlocks(int count) {
        claimRows(count);
        computeRope(count);
        for (BlockWeights block : blocks) {
            block(block, count);
        }
    }

    /** Makes the pages the rows write their caches' own ({@link CpuKvCache#writable}), before any block runs. */
    private void claimRows(int count) {
        for (int t = 0; t < count; t++) {
            rowCache[t].writable(rowPos[t], 1);
        }
    }

    /** Forgets the rows' caches, so that this pass never keeps a finished sequence's KV cache reachable. */
    private void releaseRows(int count) {
        for (int t = 0; t < count; t++) {
            rowCache[t] = null;
        }
    }

    /** One block over the first {@code count} rows, in the order of {@link io.offload4j.model.BlockRecipe}. */
    private void block(BlockWeights b, int count) {
        ModelConfig c = config;
        int dim = c.embeddingLength();
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
        boolean sliding = traits.sliding(b.index());
        applyRope(q, count, c.headCount(), sliding);
        applyRope(k, count, c.headCountKv(), sliding);
        // Each row's key and value go into its own cache at its own position: keys transposed (per head
        // dimension-major), values as they are. All rows are written before any attends, so within a chunk
        // a token sees the ones before it.
        int block = b.index();
        for (int t = 0; t < count; t++) {
            rowCache[t].store(block, rowPos[t], k, t * kvDim, v, t * vDim, kvDim);
        }

        // One item per (token, KV head) and all the query heads that share it; per query head when
        // that would leave threads idle (decode).
        int split = count * c.headCountKv() >= 4 * pool.threads() ? 1 : c.headCount() / c.headCountKv();
        attention.set(block, split);
        pool.run(count * c.headCountKv() * split, 1, attention);

        matmul(b.wo(), attnOut, count, xb);
        addResidual(b.attentionPostNorm(), count);

        for (int t = 0; t < count; t++) {
            rmsNorm(xb, t * dim, x, t * dim, b.ffnNorm(), dim);
        }
        if (b.moe() != null) {
            moe.run(block, b.moe(), xb, x, count);
            return;
        }
        swiglu(b.wGate(), b.wUp(), xb, count, hb, hb2, b.geluFeedForward());
        matmul(b.wDown(), hb, count, xb);
        addResidual(b.ffnPostNorm(), count);
    }

    /** x += xb, the rows of xb RMS-normalised with {@code postNorm} first when the block has one (Gemma). */
    private void addResidual(float[] postNorm, int count) {
        int dim = config.embeddingLength();
        if (postNorm != null) {
            for (int t = 0; t < count; t++) {
                rmsNorm(xb, t * dim, xb, t * dim, postNorm, dim);
            }
        }
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

    /** cos/sin of every row's position ({@link #rowPos}) and frequency. */
    private void computeRope(int count) {
        computeRope(count, inverseFrequencies, ropeCos, ropeSin);
        if (slidingInverseFrequencies != inverseFrequencies) {
            computeRope(count, slidingInverseFrequencies, slidingRopeCos, slidingRopeSin);
        }
    }

    private void computeRope(int count, double[] frequencies, float[] cosines, float[] sines) {
        int half = frequencies.length;
        for (int t = 0; t < count; t++) {
            int pos = rowPos[t];
            for (int i = 0; i < half; i++) {
                double angle = pos * frequencies[i];
                cosines[t * half + i] = (float) Math.cos(angle) * ropeMagnitude;
                sines[t * half + i] = (float) Math.sin(angle) * ropeMagnitude;
            }
        }
    }

    private void applyRope(float[] vectors, int count, int heads, boolean sliding) {
        float[] ropeCos = sliding ? slidingRopeCos : this.ropeCos;
        float[] ropeSin = sliding ? slidingRopeSin : this.ropeSin;
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
    private void swiglu(Weight gate, Weight up, float[] in, int count, float[] out, float[] scratch, boolean gelu) {
        matmul.set(in, count, true);
        matmul.gelu = gelu;
        matmul.add(gate, out);
        matmul.add(up, scratch);
        runMatmul();
    }

    /**
     * The activation buffers hold at least this many rows even when prefill chunks are smaller, so that a decode
     * batch of up to this many sequences reads each weight once. A 16-row step already runs the packed GEMM at
     * its full panel width, near the CPU's multiply-add peak (provider/README.md), so larger batches lose little
     * by running in groups.
     */
    private static final int MIN_BATCH_ROWS = 16;

    /** Rows of a batch whose logits one output projection computes (its scratch is this × vocabulary floats). */
    private static final int LOGIT_ROWS = 16;

    /**
     * Chunks of at least this many tokens use the packed GEMM. Below, its one-vector panel is mostly padding and the
     * register tiles of {@link Gemm#multiply} (4 × 4 on AVX-512) are faster: an 8B-shaped F16 block on the 2-vCPU
     * AVX-512 build machine took 65.7 ms for 8 rows and 65.6 for 9 packed, 42.7 and 47.8 tiled; at 16 rows the packed
     * GEMM's full panel was the faster (65.9 against 69.9 ms tiled).
     */
    private static final int PACKED_MIN_TOKENS = 16;

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
        /** In SwiGLU mode: GELU (tanh) instead of SiLU, i.e. GeGLU (Gemma). */
        private boolean gelu;
        private boolean packed;
        private float[] in;
        private int count;

        void set(float[] in, int count, boolean swiglu) {
            this.in = in;
            this.count = count;
            this.swiglu = swiglu;
            this.gelu = false;
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
                    if (gelu) {
                        gemm.geglu(g, u, t * rows + start, t * rows + end);
                    } else {
                        gemm.swiglu(g, u, t * rows + start, t * rows + end);
                    }
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
            if (count > 1 && !packed && count <= kernel.fusedRowsMax()) {
                // A few rows (a speculative verification, a small batch): the format's fused kernel reads and decodes
                // each weight row once for up to four of them, instead of decoding it to floats first (where the
                // format measured faster that way: RowKernel.fusedRowsMax).
                for (int r = start; r < end; r++) {
                    kernel.dotRows(weight.data(), r * rowBytes, in, 0, cols, count, cols, out, r, rows);
                }
                return;
            }
            if (count == 1) {
                float[] scratch = rowScratch[worker];
                for (int r = start; r < end; r++) {
                    out[r] = kernel.dot(weight.data(), r * rowBytes, in, 0, cols, scratch);
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

    /**
     * Causal grouped-query attention: per index, one row's query heads of one KV head (or a part of them), over
     * the positions {@code 0..rowPos[t]} of that row's own KV cache ({@code 0..rowLast[t]} when bidirectional).
     */
    private final class AttentionTask implements CpuThreadPool.RangeTask {
        private int block;
        private int split;

        void set(int block, int split) {
            this.block = block;
            this.split = split;
        }

        @Override
        public void run(int start, int end, int worker) {
            ModelConfig c = config;
            int heads = c.headCount();
            int kvHeads = c.headCountKv();
            int hd = c.headDim();
            int perItem = heads / kvHeads / split;
            float scale = traits.attentionScale();
            float softcap = traits.attentionSoftcap();
            float[] att = scores[worker];
            for (int item = start; item < end; item++) {
                int t = item / (kvHeads * split);
                int rest = item % (kvHeads * split);
                int kvHead = rest / split;
                int h = kvHead * split * perItem + (rest % split) * perItem;
                int off = (t * heads + h) * hd;
                // positions first..pos: in a sliding block only the window
                int pos = bidirectional ? rowLast[t] : rowPos[t]; // the last position the row sees
                int first = traits.firstAttended(block, pos); // 0: a bidirectional model has no window
                rowCache[t].attend(attend, block, kvHead, q, off, perItem, hd, first, pos, scale, softcap, att,
                        scoreStride, attnOut, off);
            }
        }
    }

    @Override
    public void close() {
        pool.close();
    }
}
