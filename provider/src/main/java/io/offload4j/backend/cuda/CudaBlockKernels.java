package io.offload4j.backend.cuda;

import static jcuda.driver.JCudaDriver.cuMemcpy2DAsync;

import io.offload4j.backend.Phase;
import io.offload4j.backend.Step;
import io.offload4j.backend.cuda.CudaUnits.DevBlock;
import io.offload4j.backend.cuda.CudaUnits.DevMatrix;
import io.offload4j.backend.cuda.CudaUnits.OutputSlice;
import io.offload4j.gguf.GgmlType;
import io.offload4j.model.ModelConfig;
import io.offload4j.model.ModelTraits;
import io.offload4j.model.RopeLayout;
import jcuda.driver.CUDA_MEMCPY2D;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUmemorytype;

/**
 * The kernels of one transformer block and of one output-head slice, enqueued on the workspace's stream, in the
 * order of {@link io.offload4j.model.BlockRecipe}: the norms are fused into the projections (matrix-vector path; a
 * single token of a quantized format multiplies 8-bit activations, the norm fused into their quantization),
 * bias, QK norm, RoPE and the KV write into one kernel ({@code qkvPost}), then attention (a batched step: one
 * {@code qkv_post_batch} and one {@code attn_decode_batch} for all its sequences). Steps of at least
 * {@code gemmMinTokens} rows multiply on tensor cores: up to 64 rows through the small GEMM, which decodes each weight
 * tile in shared memory, longer ones with each weight dequantized to fp16 first; shorter steps run the matrix-vector
 * kernels on up to 8 rows per launch. Enqueuing allocates nothing but JCuda's pointer views and argument arrays.
 */
final class CudaBlockKernels {

    private final CudaKernels kernels;
    private final CudaMoeKernels moe;
    private final CudaInt8Kernels int8;
    private final ModelConfig config;
    private final CudaWorkspace ws;
    private final int gemmMinTokens;
    private final int splits;
    private final CUDA_MEMCPY2D sliceCopy = new CUDA_MEMCPY2D();
    private final DevMatrix[] one = new DevMatrix[1];
    private final CUdeviceptr[] oneOut = new CUdeviceptr[1];
    private final DevMatrix[] gateUp = new DevMatrix[2];
    private final CUdeviceptr[] qkvOuts = new CUdeviceptr[3];
    private final CUdeviceptr[] gateUpOuts = new CUdeviceptr[2];
    /** Per block: scale, soft-cap and window of its attention, over a cache of positions or (sliding) a ring. */
    private final CudaKernels.AttentionShape[] shapes;
    private final CudaKernels.AttentionShape[] ringShapes;
    private final boolean geglu;

    /**
     * A resident mixture-of-experts block's one-token FFN norm and its experts' 8-bit input come from one launch
     * (quantize_x8_keep) instead of rmsnorm + quantize_x8 (the same floats for rows of 1024 values or more);
     * {@code -Doffload4j.cuda.fusedFfnQuantize=false} turns it off. Read when a model's kernels are prepared.
     */
    static final String FUSED_FFN_QUANTIZE_PROPERTY = "offload4j.cuda.fusedFfnQuantize";
    private final boolean fusedFfnQuantize = switchedOn(FUSED_FFN_QUANTIZE_PROPERTY);
    /**
     * A one-token step's router logits and top-k come from one launch (moe_router_topk1) instead of a matrix-vector
     * launch and moe_topk (the same floats); {@code -Doffload4j.cuda.fusedRouterTopK=false} turns it off. With the
     * FFN quantize above and the specialised one-token attention: resident Qwen3-30B-A3B-shaped decode 255 → 305
     * tok/s on an H100 (session 16, tests/gpu/results/moe-decode-launches-h100-session16.md).
     */
    static final String FUSED_ROUTER_TOPK_PROPERTY = "offload4j.cuda.fusedRouterTopK";
    private final boolean fusedRouterTopK = switchedOn(FUSED_ROUTER_TOPK_PROPERTY);

    /** A switch of this class: on unless its property is "false". */
    private static boolean switchedOn(String property) {
        return !"false".equalsIgnoreCase(System.getProperty(property));
    }

    CudaBlockKernels(CudaKernels kernels, ModelConfig config, CudaWorkspace ws, int gemmMinTokens, int splits) {
        this.kernels = kernels;
        this.moe = new CudaMoeKernels(kernels);
        this.int8 = new CudaInt8Kernels(kernels);
        this.config = config;
        this.ws = ws;
        this.gemmMinTokens = gemmMinTokens;
        this.splits = splits;
        sliceCopy.srcMemoryType = CUmemorytype.CU_MEMORYTYPE_DEVICE;
        sliceCopy.dstMemoryType = CUmemorytype.CU_MEMORYTYPE_DEVICE;
        ModelTraits t = config.traits();
        this.geglu = config.architecture().isGemma();
        if (geglu && config.feedForwardLength() < config.embeddingLength()) {
            // the post-norms take their input from the FFN buffers
            throw new IllegalArgumentException(config.architecture().ggufName() + " with an FFN of "
                    + config.feedForwardLength() + " narrower than its width " + config.embeddingLength()
                    + " is not supported on the GPU");
        }
        this.shapes = new CudaKernels.AttentionShape[config.blockCount()];
        this.ringShapes = new CudaKernels.AttentionShape[config.blockCount()];
        int ring = CudaKvCache.ringRows(t.slidingWindow(), ws.rows);
        for (int l = 0; l < shapes.length; l++) {
            int window = t.sliding(l) ? t.slidingWindow() : 0;
            shapes[l] = new CudaKernels.AttentionShape(t.attentionScale(), t.attentionSoftcap(), window, 0);
            ringShapes[l] = new CudaKernels.AttentionShape(t.attentionScale(), t.attentionSoftcap(), window, ring);
        }
    }

    void block(DevBlock b, Step step) {
        int count = step.rows();
        ModelConfig c = config;
        int dim = c.embeddingLength();
        float eps = c.rmsNormEps();
        CudaUnits.BlockNorms n = b.norms();
        // tensor cores from gemmMinTokens rows: up to 64 rows (batched decode) the small GEMM, which decodes the weights
        // itself; longer steps (prompts) dequantize each weight to fp16 for the prefill GEMM
        boolean small = fitsSmallGemm(count) && b.smallGemmOk();
        boolean gemm = count >= gemmMinTokens && ws.a16 != null && (small || b.gemmOk());

        // attention
        if (gemm) {
            kernels.rmsnorm(ws.stream, ws.x, n.attnNorm(), null, ws.a16, dim, eps, count);
            if (small) {
                for (DevMatrix[] group : b.qkvGroups()) {
                    for (int i = 0; i < group.length; i++) {
                        DevMatrix m = group[i];
                        qkvOuts[i] = m == b.wq() ? ws.q : m == b.wk() ? ws.k : ws.v;
                    }
                    smallGemm(group, qkvOuts, count, false);
                }
            } else {
                gemm(b.wq(), ws.q, count, false);
                gemm(b.wk(), ws.k, count, false);
                gemm(b.wv(), ws.v, count, false);
            }
        } else {
            // the attention norm is fused into the projections, or (a few tokens, 8-bit activations) into the
            // quantization they share
            boolean x8 = takesInt8(b.qkvGroups(), count);
            if (x8) {
                quantize(ws.x, n.attnNorm(), dim, count);
            }
            for (DevMatrix[] group : b.qkvGroups()) {
                for (int i = 0; i < group.length; i++) {
                    DevMatrix m = group[i];
                    qkvOuts[i] = m == b.wq() ? ws.q : m == b.wk() ? ws.k : ws.v;
                }
                if (x8) {
                    matvecX8(count, CudaKernels.STORE, group, qkvOuts);
                } else {
                    matvecs(count, CudaKernels.STORE, group, ws.x, qkvOuts, n.attnNorm());
                }
            }
        }
        if (step.segments() > 0) { // packed sequences: each attends within its own rows and cache
            for (int s = 0; s < step.segments(); s++) {
                int first = step.segmentStart(s);
                attention(b, (CudaKvCache) step.cache(first), ws.seqParams.withByteOffset(16L * s), first,
                        step.segmentLength(s), step.bidirectional());
            }
        } else if (step.phase() != Phase.BATCH) {
            attention(b, (CudaKvCache) step.cache(0), ws.params, 0, count, false);
        } else {
            batchAttention(b, count); // each sequence attends to its own cache, at its own position
        }
        // with a post-attention norm (Gemma) the projection goes to hb (free until the FFN), then x += norm(hb)
        CUdeviceptr attnPost = n.attnPostNorm();
        if (gemm) {
            kernels.f32ToF16(ws.stream, ws.attn, ws.a16, (long) count * c.queryDim());
            one[0] = b.wo();
            oneOut[0] = attnPost == null ? ws.x : ws.hb;
            project(small, one, oneOut, count, attnPost == null);
        } else {
            one[0] = b.wo();
            oneOut[0] = attnPost == null ? ws.x : ws.hb;
            project1(count, attnPost == null ? CudaKernels.ADD : CudaKernels.STORE, one, ws.attn, oneOut, null);
        }
        if (attnPost != null) {
            kernels.rmsnormAdd(ws.stream, ws.hb, attnPost, ws.x, dim, eps, count);
        }

        // feed-forward
        if (b.experts() != null) {
            experts(b, count);
            return;
        }
        // feed-forward; with a post-FFN norm (Gemma) the down projection goes to hb2, then x += norm(hb2)
        CUdeviceptr ffnPost = n.ffnPostNorm();
        if (gemm) {
            kernels.rmsnorm(ws.stream, ws.x, n.ffnNorm(), null, ws.a16, dim, eps, count);
            gateUp[0] = b.gate();
            gateUp[1] = b.up();
            gateUpOuts[0] = ws.hb;
            gateUpOuts[1] = ws.hb2;
            project(small, gateUp, gateUpOuts, count, false);
            if (geglu) {
                kernels.gegluF16(ws.stream, ws.hb, ws.hb2, ws.a16, (long) count * c.feedForwardLength());
            } else {
                kernels.swigluF16(ws.stream, ws.hb, ws.hb2, ws.a16, (long) count * c.feedForwardLength());
            }
            one[0] = b.down();
            oneOut[0] = ffnPost == null ? ws.x : ws.hb2;
            project(small, one, oneOut, count, ffnPost == null);
        } else if (geglu) {
            // GeGLU: gate and up stored by one launch (the FFN norm fused in), then gelu(gate) · up
            if (b.gate().type() != b.up().type()) {
                throw new IllegalStateException("gate and up projections of block " + b.index() + " differ in format ("
                        + b.gate().type() + ", " + b.up().type() + ")");
            }
            gateUp[0] = b.gate();
            gateUp[1] = b.up();
            gateUpOuts[0] = ws.hb;
            gateUpOuts[1] = ws.hb2;
            project1(count, CudaKernels.STORE, gateUp, ws.x, gateUpOuts, n.ffnNorm());
            kernels.geglu(ws.stream, ws.hb, ws.hb2, (long) count * c.feedForwardLength());
            one[0] = b.down();
            oneOut[0] = ffnPost == null ? ws.x : ws.hb2;
            project1(count, ffnPost == null ? CudaKernels.ADD : CudaKernels.STORE, one, ws.hb, oneOut, null);
        } else {
            // the FFN norm is fused into the gate/up projection
            if (b.gate().type() != b.up().type()) {
                throw new IllegalStateException("gate and up projections of block " + b.index() + " differ in format ("
                        + b.gate().type() + ", " + b.up().type() + ")");
            }
            gateUp[0] = b.gate();
            gateUp[1] = b.up();
            oneOut[0] = ws.hb;
            project1(count, CudaKernels.SWIGLU, gateUp, ws.x, oneOut, n.ffnNorm());
            one[0] = b.down();
            oneOut[0] = ws.x;
            project1(count, CudaKernels.ADD, one, ws.hb, oneOut, null);
        }
        if (ffnPost != null) {
            kernels.rmsnormAdd(ws.stream, ws.hb2, ffnPost, ws.x, dim, eps, count);
        }
    }

    /** Gemma 2's final soft-cap on the step's {@code outputs} rows of logits. */
    void softcapLogits(int outputs, float cap) {
        kernels.softcap(ws.stream, ws.logits, (long) outputs * config.vocabularySize(), cap);
    }

    /**
     * A sparse block's FFN (BlockRecipe's MOE_ROUTER, MOE_EXPERTS, MOE_SHARED_EXPERT), all on the device: the FFN
     * norm, the router's logits (matrix-vector), softmax and top-k ({@code moe_topk}), then each (token, choice)
     * slot's gate and up rows of its expert, and per token the weighted sum of its experts' down projections added
     * into the residual stream. The shared expert runs as a dense SwiGLU scaled by its sigmoid gate. No host round
     * trip, so resident decode still runs as one CUDA graph.
     */
    private void experts(DevBlock b, int count) {
        ModelConfig c = config;
        io.offload4j.model.MoeConfig mc = c.moe();
        CudaMoeBuffers m = ws.moe;
        CudaUnits.DevExperts e = b.experts();
        int dim = c.embeddingLength();
        int k = mc.expertUsedCount();
        // one launch for the FFN norm and the experts' 8-bit input (FUSED_FFN_QUANTIZE_PROPERTY)
        boolean quantized = fusedFfnQuantize && count == 1 && !e.pooled() && expertsTakeInt8(e, dim);
        if (quantized) {
            int8.quantizeKeeping(ws.stream, ws.x, b.norms().ffnNorm(), c.rmsNormEps(), dim, ws.x8q, ws.x8d, ws.x8s,
                    m.xb);
        } else {
            kernels.rmsnorm(ws.stream, ws.x, b.norms().ffnNorm(), m.xb, null, dim, c.rmsNormEps(), count);
        }
        router(e.router(), count, m.logits, m.chosen, m.weights);
        if (e.pooled()) {
            // the routed experts wait for the host to map the choices to pool slots (routedExperts), and the shared
            // expert comes after them (sharedExpert), as in a resident block
            return;
        }
        routedExperts(b, count, quantized);
        sharedExpert(b, count);
    }

    /**
     * Whether a one-token step's routed experts of {@code e} run on 8-bit activations (routedExperts, which refuses
     * gate and up experts of different formats before it asks).
     */
    private boolean expertsTakeInt8(CudaUnits.DevExperts e, int dim) {
        return int8.applies(e.gate().type(), dim, 1) && int8.applies(e.down().type(), e.down().cols(), 1);
    }

    /**
     * Block {@code b}'s router applied to the FFN input already in {@code ws.moe.xb} ({@code count} rows, normalised
     * by the block before it): logits, softmax and top-k into the given buffers — a prediction of b's experts.
     */
    void routerTopK(DevBlock b, int count, CUdeviceptr logits, CUdeviceptr chosen, CUdeviceptr weights) {
        router(b.experts().router(), count, logits, chosen, weights);
    }

    /** The router's logits of the {@code count} rows of {@code ws.moe.xb}, softmax and top-k into the buffers given. */
    private void router(DevMatrix router, int count, CUdeviceptr logits, CUdeviceptr chosen, CUdeviceptr weights) {
        io.offload4j.model.MoeConfig mc = config.moe();
        if (fusedRouterTopK && count == 1 && CudaMoeKernels.routerTopK1Fits(router.type(), router.cols())) {
            moe.routerTopK1(ws.stream, router.type(), router.ptr(), router.rows(), router.rowBytes(), router.cols(),
                    ws.moe.xb, logits, chosen, weights, mc.expertUsedCount(), mc.normalizeTopK(), mc.weightsScale(),
                    ws.moe.routerTicket);
            return;
        }
        one[0] = router;
        oneOut[0] = logits;
        matvecs(count, CudaKernels.STORE, one, ws.moe.xb, oneOut, null);
        moe.topk(ws.stream, logits, chosen, weights, mc.expertCount(), mc.expertUsedCount(),
                mc.normalizeTopK(), mc.weightsScale(), count);
    }

    /**
     * The routed experts of {@code count} rows from the choices in {@code ws.moe.chosen} / {@code weights}: expert
     * ids in a block bound to its unit, pool slot numbers in a pooled block (uploaded by the host; -1: computed in
     * another pass or on the CPU). Steps of few tokens (decode) give each (token, choice) slot its own warps; longer
     * ones ({@link CudaMoeBuffers#grouped}) sort the slots by expert on the device and read each expert's weights once
     * per tile of its slots: on tensor cores, 64 slots a tile, where the formats and shape allow
     * ({@link CudaMoeKernels#tensorCoresOk}; inputs and hidden states rounded to fp16, as the dense prompt GEMMs
     * do), else in fp32, 8 slots a tile (the same floats as the per-slot kernels).
     */
    void routedExperts(DevBlock b, int count) {
        routedExperts(b, count, false);
    }

    /**
     * As above; {@code inputQuantized}: a one-token step's FFN input is already in the 8-bit buffers (quantized with
     * the norm by {@link CudaInt8Kernels#quantizeKeeping}).
     */
    private void routedExperts(DevBlock b, int count, boolean inputQuantized) {
        CudaMoeBuffers m = ws.moe;
        CudaUnits.DevExperts e = b.experts();
        int dim = config.embeddingLength();
        int k = config.moe().expertUsedCount();
        DevMatrix g = e.gate();
        if (e.up().type() != g.type()) {
            throw new IllegalStateException("gate and up experts of block " + b.index() + " differ in format ("
                    + g.type() + ", " + e.up().type() + ")");
        }
        DevMatrix d = e.down();
        int experts = config.moe().expertCount();
        if (m.groupedStep(count, k, experts)) {
            // many tokens: group the slots by expert so that each expert's rows are decoded once per tile of slots
            int slots = count * k;
            if (m.groupInputF16 != null && CudaMoeKernels.tensorCoresOk(g.type(), d.type(), dim, g.rows())) {
                int maxItems = CudaMoeKernels.maxItems(slots, experts, CudaMoeKernels.TC_TILE);
                moe.group(ws.stream, m.chosen, slots, m.groupIds(), m.groupCounts(), m.groupOrder,
                        m.groupItems, m.groupItemCount, maxItems, CudaMoeKernels.TC_TILE);
                moe.gatherF16(ws.stream, m.xb, m.groupOrder, m.groupItemCount, k, dim, m.groupInputF16, slots);
                moe.gateUpTc(ws.stream, g.type(), g.ptr(), e.up().ptr(), e.stride(), g.rows(), g.rowBytes(),
                        dim, m.groupInputF16, m.groupItems, m.groupItemCount, m.groupHiddenF16, maxItems);
                moe.downTc(ws.stream, d.type(), d.ptr(), e.stride(), dim, d.rowBytes(), d.cols(),
                        m.groupHiddenF16, m.groupItems, m.groupItemCount, m.groupOrder, m.groupY, maxItems);
            } else {
                int maxItems = CudaMoeKernels.maxItems(slots, experts, CudaMoeKernels.TILE);
                moe.group(ws.stream, m.chosen, slots, m.groupIds(), m.groupCounts(), m.groupOrder,
                        m.groupItems, m.groupItemCount, maxItems, CudaMoeKernels.TILE);
                moe.gateUpGrouped(ws.stream, g.type(), g.ptr(), e.up().ptr(), e.stride(), g.rows(),
                        g.rowBytes(), dim, m.xb, k, m.groupItems, m.groupItemCount, m.groupOrder, m.hidden, maxItems);
                moe.downGrouped(ws.stream, d.type(), d.ptr(), e.stride(), dim, d.rowBytes(), d.cols(),
                        m.hidden, m.groupItems, m.groupItemCount, m.groupOrder, m.groupY, maxItems);
            }
            moe.combine(ws.stream, m.groupY, m.chosen, m.weights, k, dim, ws.x, count);
            return;
        }
        if (count == 1 && expertsTakeInt8(e, dim)) {
            // one token: its input and its k hidden states multiply in 8 bits, as the dense projections do
            if (!inputQuantized) {
                quantize(m.xb, null, dim, 1);
            }
            moe.gateUpX8(ws.stream, g.type(), g.ptr(), e.up().ptr(), e.stride(), g.rows(), g.rowBytes(), dim, ws.x8q,
                    ws.x8d, ws.x8s, m.chosen, k, m.hidden, k);
            int8.quantize(ws.stream, m.hidden, null, config.rmsNormEps(), d.cols(), m.hiddenQ, m.hiddenD,
                    m.hiddenS, k);
            moe.downX8(ws.stream, d.type(), d.ptr(), e.stride(), dim, d.rowBytes(), d.cols(), m.hiddenQ, m.hiddenD,
                    m.hiddenS, m.chosen, m.weights, k, ws.x);
            return;
        }
        moe.gateUp(ws.stream, g.type(), g.ptr(), e.up().ptr(), e.stride(), g.rows(), g.rowBytes(), dim, m.xb,
                m.chosen, k, m.hidden, count * k);
        moe.down(ws.stream, d.type(), d.ptr(), e.stride(), dim, d.rowBytes(), d.cols(), m.hidden, m.chosen,
                m.weights, k, ws.x, count);
    }

    void sharedExpert(DevBlock b, int count) {
        CudaMoeBuffers m = ws.moe;
        CudaUnits.DevExperts e = b.experts();
        int dim = config.embeddingLength();
        if (e.sharedGate() != null) {
            gateUp[0] = e.sharedGate();
            gateUp[1] = e.sharedUp();
            oneOut[0] = m.sharedHidden;
            project1(count, CudaKernels.SWIGLU, gateUp, m.xb, oneOut, null);
            moe.sharedScale(ws.stream, m.xb, m.sharedGateInput[b.index()], m.sharedHidden, dim,
                    e.sharedGate().rows(), count);
            one[0] = e.sharedDown();
            oneOut[0] = ws.x;
            project1(count, CudaKernels.ADD, one, m.sharedHidden, oneOut, null);
        }
    }

    /**
     * The final hidden states of a step's {@code rows} rows: the output norm of the residual stream into
     * {@code ws.hb} (room for rows × feed-forward length floats, at least rows × embedding length: checked at load).
     */
    void hiddenStates(int rows) {
        if (config.feedForwardLength() < config.embeddingLength()) {
            throw new IllegalStateException("hidden states need a feed-forward length of at least the embedding length"
                    + " (the scratch they are written to); this model has " + config.feedForwardLength() + " < "
                    + config.embeddingLength());
        }
        kernels.rmsnorm(ws.stream, ws.x, ws.outputNorm, ws.hb, null, config.embeddingLength(), config.rmsNormEps(),
                rows);
    }

    /**
     * The output norm and this slice's rows of the logits, for the step's last {@code outputs} rows. A batch's rows
     * (from {@code gemmMinTokens}) take one small-GEMM pass over the slice, fewer rows the matrix-vector kernels; a
     * slice of a head split into units writes [outputs × slice rows] to scratch, then into its columns of the logits.
     */
    void headSlice(OutputSlice slice, Step step) {
        int outputs = step.outputs();
        int vocab = config.vocabularySize();
        CUdeviceptr last = ws.x.withByteOffset(4L * (step.rows() - outputs) * config.embeddingLength());
        DevMatrix m = slice.matrix();
        one[0] = m;
        boolean strided = !slice.whole() && outputs > 1;
        CUdeviceptr out = slice.whole() ? ws.logits
                : strided ? ws.sliceOut(m.rows()) : ws.logits.withByteOffset(4L * slice.firstRow());
        oneOut[0] = out;
        if (outputs >= gemmMinTokens && fitsSmallGemm(outputs) && ws.a16 != null
                && CudaKernels.smallGemmOk(m.type(), m.rows(), m.cols())) {
            // the output norm to fp16, then one pass over the slice for every row
            kernels.rmsnorm(ws.stream, last, ws.outputNorm, null, ws.a16, config.embeddingLength(),
                    config.rmsNormEps(), outputs);
            smallGemm(one, oneOut, outputs, false);
        } else {
            project1(outputs, CudaKernels.STORE, one, last, oneOut, ws.outputNorm);
        }
        if (strided) {
            sliceCopy.srcDevice = out;
            sliceCopy.srcPitch = 4L * m.rows();
            sliceCopy.dstDevice = ws.logits.withByteOffset(4L * slice.firstRow());
            sliceCopy.dstPitch = 4L * vocab;
            sliceCopy.WidthInBytes = 4L * m.rows();
            sliceCopy.Height = outputs;
            cuMemcpy2DAsync(sliceCopy, ws.stream);
        }
    }

    /**
     * RoPE, the KV-cache write and attention for {@code count} tokens starting at token row {@code row}, all of one
     * sequence whose positions come from {@code p}; {@code bidirectional}: they are the whole sequence and each
     * attends to all of them (the K/V write of every row is enqueued before the attention, on the same stream).
     * One row attends to itself alone either way, so decode attention serves it.
     */
    private void attention(DevBlock b, CudaKvCache cache, CUdeviceptr p, int row, int count, boolean bidirectional) {
        ModelConfig c = config;
        int l = b.index();
        CudaUnits.BlockNorms n = b.norms();
        CUdeviceptr kc = cache.keys(l);
        CUdeviceptr vc = cache.values(l);
        CUdeviceptr qr = ws.q.withByteOffset(4L * row * c.queryDim());
        CUdeviceptr kr = ws.k.withByteOffset(4L * row * c.keyValueDim());
        CUdeviceptr vr = ws.v.withByteOffset(4L * row * c.valueDim());
        CUdeviceptr out = ws.attn.withByteOffset(4L * row * c.queryDim());
        boolean sliding = c.traits().sliding(l);
        int ring = cache.ring(l);
        CudaKernels.AttentionShape shape = ring == 0 ? shapes[l] : ringShapes[l];
        if (shape.ring() != ring) {
            throw new IllegalStateException("KV cache ring of " + ring + " rows in block " + l + "; this model's is "
                    + shape.ring());
        }
        kernels.qkvPost(ws.stream, qr, kr, vr, n.qBias(), n.kBias(), n.vBias(), n.qNorm(), n.kNorm(),
                sliding ? ws.invFreqSliding : ws.invFreq, c.ropeDimensions(), c.ropeLayout() == RopeLayout.HALVES,
                c.rmsNormEps(), p, kc, vc, c.headCount(), c.headCountKv(), c.headDim(), count, ws.ropeMagnitude,
                ring);
        if (count == 1) {
            kernels.attnDecode(ws.stream, qr, kc, vc, p, ws.partial, ws.counters, out, c.headCount(), c.headCountKv(),
                    c.headDim(), splits, shape);
        } else {
            kernels.attnPrefill(ws.stream, qr, kc, vc, p, out, count, c.headCount(), c.headCountKv(), c.headDim(),
                    shape, bidirectional);
        }
    }

    /** Whether a step of {@code rows} rows fits the small GEMM (its row tiles read up to 64 rows of a16). */
    private boolean fitsSmallGemm(int rows) {
        return rows <= CudaKernels.SMALL_GEMM_MAX_ROWS && CudaKernels.smallGemmRowsRead(rows) <= ws.rows
                && ws.gemmPartial != null;
    }

    /**
     * outs[i] (+)= a16 · mats[i]^T on tensor cores: with {@code small} the small GEMM (one launch when the matrices
     * share a format), else each matrix dequantized to fp16 and multiplied by the prefill GEMM.
     */
    private void project(boolean small, DevMatrix[] mats, CUdeviceptr[] outs, int count, boolean accumulate) {
        if (!small) {
            for (int i = 0; i < mats.length; i++) {
                gemm(mats[i], outs[i], count, accumulate);
            }
        } else if (mats.length == 2 && mats[0].type() != mats[1].type()) {
            one[0] = mats[0];
            oneOut[0] = outs[0];
            smallGemm(one, oneOut, count, accumulate);
            one[0] = mats[1];
            oneOut[0] = outs[1];
            smallGemm(one, oneOut, count, accumulate);
        } else {
            smallGemm(mats, outs, count, accumulate);
        }
    }

    /** outs[i] (+)= a16 · mats[i]^T for up to three matrices of one format and width, one launch. */
    private void smallGemm(DevMatrix[] mats, CUdeviceptr[] outs, int count, boolean accumulate) {
        DevMatrix m0 = mats[0];
        int n = mats.length;
        int rows = m0.rows() + (n > 1 ? mats[1].rows() : 0) + (n > 2 ? mats[2].rows() : 0);
        int splits = CudaKernels.smallGemmSplits(rows / CudaKernels.SMALL_GEMM_N, m0.cols(),
                CudaKernels.SMALL_GEMM_TARGET_BLOCKS);
        kernels.gemmSmall(ws.stream, m0.type(), m0.ptr(), n > 1 ? mats[1].ptr() : null, n > 2 ? mats[2].ptr() : null,
                m0.rows(), n > 1 ? mats[1].rows() : 0, n > 2 ? mats[2].rows() : 0, m0.rowBytes(), m0.cols(), ws.a16,
                outs[0], n > 1 ? outs[1] : null, n > 2 ? outs[2] : null, count, accumulate, splits, ws.gemmPartial,
                ws.gemmCounters);
    }

    /**
     * RoPE, the KV-cache writes and attention of a batched decode step: one token of each of {@code count} sequences,
     * each at its own position in its own cache (the step's tables, staged by CudaModel), in one launch each.
     */
    private void batchAttention(DevBlock b, int count) {
        ModelConfig c = config;
        int l = b.index();
        CudaUnits.BlockNorms n = b.norms();
        boolean sliding = c.traits().sliding(l);
        CUdeviceptr kv = ws.batchTables.withByteOffset(CudaWorkspace.batchKvOffset(l, count));
        CUdeviceptr rings = ws.batchTables.withByteOffset(CudaWorkspace.batchRingsOffset(c, l, count));
        kernels.qkvPostBatch(ws.stream, ws.q, ws.k, ws.v, n.qBias(), n.kBias(), n.vBias(), n.qNorm(), n.kNorm(),
                sliding ? ws.invFreqSliding : ws.invFreq, c.ropeDimensions(), c.ropeLayout() == RopeLayout.HALVES,
                c.rmsNormEps(), ws.seqParams, kv, rings, c.headCount(), c.headCountKv(), c.headDim(), count,
                ws.ropeMagnitude);
        // splits × sequences within the partial buffer's room (CudaWorkspace sizes it by the same rule)
        int batchSplits = kernels.batchAttentionSplits(c.headCount(), c.headCountKv(), c.headDim(), count, splits);
        kernels.attnDecodeBatch(ws.stream, ws.q, kv, rings, ws.seqParams, ws.partial, ws.counters, ws.attn,
                c.headCount(), c.headCountKv(), c.headDim(), batchSplits, count, shapes[l]);
    }

    /** out (+)= a16 · W^T on tensor cores, W dequantized to fp16 first unless it already is. */
    private void gemm(DevMatrix w, CUdeviceptr out, int count, boolean accumulate) {
        CUdeviceptr b = w.ptr();
        if (w.type() != GgmlType.F16) {
            kernels.dequantF16(ws.stream, w.type(), w.ptr(), w.rowBytes(), w.rows(), w.cols(), ws.w16);
            b = ws.w16;
        }
        kernels.gemm(ws.stream, ws.a16, b, out, count, w.rows(), w.cols(), accumulate);
    }

    /**
     * {@link #matvecs}, except that a short step's projections (up to {@link CudaInt8Kernels#TOKENS_PROPERTY}
     * tokens) run on 8-bit activations where every matrix's format has those kernels: {@code in} is normalised (with a
     * non-null {@code norm}) and quantized once, then multiplied, each weight read once per launch for all its tokens.
     */
    private void project1(int count, int mode, DevMatrix[] mats, CUdeviceptr in, CUdeviceptr[] outs, CUdeviceptr norm) {
        if (takesInt8(mats, count)) {
            quantize(in, norm, mats[0].cols(), count);
            matvecX8(count, mode, mats, outs);
        } else {
            matvecs(count, mode, mats, in, outs, norm);
        }
    }

    /** Whether every matrix of {@code mats} takes 8-bit activations (they share a width) in a step of count tokens. */
    private boolean takesInt8(DevMatrix[] mats, int count) {
        for (DevMatrix m : mats) {
            if (!int8.applies(m.type(), m.cols(), count)) {
                return false;
            }
        }
        return true;
    }

    private boolean takesInt8(DevMatrix[][] groups, int count) {
        for (DevMatrix[] g : groups) {
            if (!takesInt8(g, count)) {
                return false;
            }
        }
        return true;
    }

    /**
     * {@code count} tokens' activations {@code in} (normalised by a non-null {@code norm}) into the workspace's 8-bit
     * rows.
     */
    private void quantize(CUdeviceptr in, CUdeviceptr norm, int cols, int count) {
        int8.quantize(ws.stream, in, norm, config.rmsNormEps(), cols, ws.x8q, ws.x8d, ws.x8s, count);
    }

    /**
     * count tokens' projections of {@code mats} (one format and width) from the quantized rows; modes as matvecs. A
     * launch takes up to {@link CudaInt8Kernels#MAX_TOKENS} tokens; a longer step (below gemmMinTokens, where that is
     * raised) takes several, each reading the weights again.
     */
    private void matvecX8(int count, int mode, DevMatrix[] mats, CUdeviceptr[] outs) {
        DevMatrix m0 = mats[0];
        boolean swiglu = mode == CudaKernels.SWIGLU;
        int n = mats.length;
        int cols = m0.cols();
        int rows1 = swiglu ? 0 : n > 1 ? mats[1].rows() : 0;
        int rows2 = n > 2 ? mats[2].rows() : 0;
        CUdeviceptr y1 = !swiglu && n > 1 ? outs[1] : null;
        CUdeviceptr y2 = n > 2 ? outs[2] : null;
        if (count <= CudaInt8Kernels.MAX_TOKENS) {
            int8.matvec(ws.stream, m0.type(), count, mode, m0.ptr(), n > 1 ? mats[1].ptr() : null,
                    n > 2 ? mats[2].ptr() : null, m0.rows(), rows1, rows2, m0.rowBytes(), cols, ws.x8q, ws.x8d, ws.x8s,
                    outs[0], y1, y2);
            return;
        }
        for (int t0 = 0; t0 < count; t0 += CudaInt8Kernels.MAX_TOKENS) {
            int nt = Math.min(CudaInt8Kernels.MAX_TOKENS, count - t0);
            int8.matvec(ws.stream, m0.type(), nt, mode, m0.ptr(), n > 1 ? mats[1].ptr() : null,
                    n > 2 ? mats[2].ptr() : null, m0.rows(), rows1, rows2, m0.rowBytes(), cols,
                    ws.x8q.withByteOffset((long) t0 * cols), ws.x8d.withByteOffset(4L * t0 * (cols / 32)),
                    ws.x8s.withByteOffset(4L * t0 * (cols / 16)), outs[0].withByteOffset(4L * t0 * m0.rows()),
                    y1 == null ? null : y1.withByteOffset(4L * t0 * rows1),
                    y2 == null ? null : y2.withByteOffset(4L * t0 * rows2));
        }
    }

    /**
     * Matrix-vector products over {@code count} tokens, at most 8 per launch. {@code mats} share a format
     * and row length; in SWIGLU mode they are (gate, up) and {@code outs} holds the one output. A non-null
     * {@code norm} RMS-normalises the input on the fly.
     */
    private void matvecs(int count, int mode, DevMatrix[] mats, CUdeviceptr in, CUdeviceptr[] outs,
                         CUdeviceptr norm) {
        DevMatrix m0 = mats[0];
        int cols = m0.cols();
        boolean vector = CudaKernels.vectorisable(m0.type(), cols);
        boolean swiglu = mode == CudaKernels.SWIGLU;
        int n = mats.length;
        for (int t0 = 0; t0 < count; ) {
            int left = count - t0;
            int nt = !vector ? Math.min(8, left) : left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
            CUdeviceptr xin = in.withByteOffset(4L * t0 * cols);
            CUdeviceptr y0 = outs[0].withByteOffset(4L * t0 * m0.rows());
            CUdeviceptr y1 = !swiglu && n > 1 ? outs[1].withByteOffset(4L * t0 * mats[1].rows()) : null;
            CUdeviceptr y2 = n > 2 ? outs[2].withByteOffset(4L * t0 * mats[2].rows()) : null;
            kernels.matvec(ws.stream, m0.type(), nt, mode, m0.ptr(), n > 1 ? mats[1].ptr() : null,
                    n > 2 ? mats[2].ptr() : null, m0.rows(), swiglu ? 0 : n > 1 ? mats[1].rows() : 0,
                    n > 2 ? mats[2].rows() : 0, m0.rowBytes(), cols, xin, y0, y1, y2, norm, config.rmsNormEps());
            t0 += nt;
        }
    }
}
