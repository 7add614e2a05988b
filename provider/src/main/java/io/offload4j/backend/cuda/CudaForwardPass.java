package io.offload4j.backend.cuda;

import static jcuda.driver.JCudaDriver.cuGraphDestroy;
import static jcuda.driver.JCudaDriver.cuGraphInstantiate;
import static jcuda.driver.JCudaDriver.cuGraphLaunch;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.CU_MEMHOSTALLOC_DEVICEMAP;
import static jcuda.driver.JCudaDriver.cuMemHostAlloc;
import static jcuda.driver.JCudaDriver.cuMemHostGetDevicePointer;
import static jcuda.driver.JCudaDriver.cuMemcpy2DAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoHAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemsetD8;
import static jcuda.driver.JCudaDriver.cuStreamBeginCapture;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamEndCapture;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.backend.cpu.CpuBlockRunner;
import io.offload4j.gguf.GgmlType;
import io.offload4j.gguf.ModelFormatException;
import io.offload4j.model.BlockWeights;
import io.offload4j.model.Model;
import io.offload4j.model.ModelConfig;
import io.offload4j.model.ModelWeights;
import io.offload4j.model.RopeLayout;
import io.offload4j.model.RopeScaling;
import io.offload4j.model.Weight;
import io.offload4j.offload.Bandwidths;
import io.offload4j.offload.OffloadOptions;
import io.offload4j.offload.OffloadStats;
import io.offload4j.offload.Placement;
import io.offload4j.offload.PlacementPlan;
import io.offload4j.offload.PlacementPlanner;
import io.offload4j.offload.PlanRequest;
import io.offload4j.quant.CpuKernels;
import io.offload4j.quant.RowKernel;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.ShortBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import io.offload4j.backend.cpu.CpuThreadPool;
import java.lang.foreign.MemorySegment;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUgraph;
import jcuda.driver.CUDA_MEMCPY2D;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUmemorytype;
import jcuda.driver.CUstream;
import jcuda.driver.CUstreamCaptureMode;
import jcuda.driver.CUstream_flags;

/**
 * The transformer forward pass on one GPU, with the same semantics as the CPU pass (same order of
 * operations, same RoPE angles, same RMSNorm formula), so that the two agree to rounding.
 *
 * <p><b>Weights.</b> The model is cut into <em>units</em> — each transformer block, and the output head in slices of
 * at most a block's size — and a {@link PlacementPlanner} decides from the GPU budget which units stay resident and
 * which are streamed for every step through a ring of staging slots ({@link StreamingWeights}); a model that fits is
 * simply all resident. Token embeddings are looked up on the host (a few rows per step) and never occupy GPU memory.
 * Norm weights and biases are small and always resident, as fp32.
 *
 * <p><b>Everything else</b> — activations for {@code rows} tokens, an fp16 scratch for dequantized weights, the
 * parameter blocks and the logits, pinned on the host side — is allocated here, at preparation: a forward call
 * allocates nothing, on either side.
 *
 * <p><b>Decode</b> (one token) runs the matrix-vector kernels and the split-K attention kernel. With every unit
 * resident, the whole step is captured once per KV cache as a CUDA graph and replayed, which removes ~250 kernel
 * launches' worth of driver overhead per token; the token position is read by the kernels from the device parameter
 * block, so the same graph serves every position. With streaming, the step is enqueued directly, interleaved with
 * the copy stream's events. <b>Batched decode</b> ({@link #forwardBatch}) runs the projections of all sequences as
 * one multi-token pass (each weight, and each streamed copy, serves the whole batch) and attention per sequence.
 * Prefill chunks of at least {@code gemmMinTokens} tokens dequantize each weight to fp16 and multiply on tensor
 * cores; shorter chunks use the matrix-vector kernels on up to 8 tokens at a time.
 */
final class CudaForwardPass implements ForwardPass {

    private static final System.Logger LOG = System.getLogger("io.offload4j.offload");
    /** GPU memory left unplanned for the driver, the kernels' module and fragmentation. */
    static final long MARGIN_BYTES = 768L << 20;
    /** Full-context KV caches the automatic budget leaves room for (running sequences and the prefix cache). */
    static final int AUTO_RESERVED_KV_CACHES = 4;

    /** A weight matrix in device memory, in its file format. */
    record DevMatrix(String name, GgmlType type, int rows, int cols, long rowBytes, CUdeviceptr ptr) {}

    /** One transformer block's device weights; optional tensors are null. */
    record DevBlock(CUdeviceptr attnNorm, DevMatrix wq, DevMatrix wk, DevMatrix wv, DevMatrix wo, CUdeviceptr qBias,
                    CUdeviceptr kBias, CUdeviceptr vBias, CUdeviceptr qNorm, CUdeviceptr kNorm, CUdeviceptr ffnNorm,
                    DevMatrix gate, DevMatrix up, DevMatrix down, List<DevMatrix[]> qkvGroups, boolean gemmOk) {}

    /** A slice of the output head: rows {@code firstRow ..} of the output matrix. */
    record OutputSlice(int firstRow, DevMatrix matrix) {}

    private final CudaDevice device;
    private final CudaKernels kernels;
    private final ModelConfig config;
    private final int maxContext;
    private final int maxChunk;
    /** Tokens the activation buffers hold: the larger of a prefill chunk and a decode batch. */
    private final int rows;
    private final int gemmMinTokens;
    private final int splits;
    private final CUstream stream = new CUstream();
    private final List<CUdeviceptr> allocations = new ArrayList<>();
    private long deviceBytes;

    private final Weight embedding;
    private final RowKernel embeddingKernel;
    private final CUdeviceptr outputNorm;
    private final CUdeviceptr invFreq;
    /** Per step kind (0: batch-1 decode, 1: prompt chunks and batches): each block's device weights, or null where
     *  the CPU computes it in that kind of step. */
    private final List<List<DevBlock>> blocksByKind = List.of(new ArrayList<>(), new ArrayList<>());
    private final List<DevBlock> blocks = blocksByKind.get(1);
    private final Placement[] placements;
    /** Computes the plan's CPU blocks at batch-1 decode; null when the plan has none. */
    private final CpuBlockRunner cpuRunner;
    private long cpuNanos;       // time computing CPU blocks, for offloadStats()
    private long cpuWaitNanos;   // time waiting for the GPU before them
    private final int[] cpuLayerIndex;     // per block: its index among the CPU blocks, or -1
    private final float[] cpuActivation;
    private final float[] kvRowK;
    private final float[] kvRowV;
    private final Pointer kvUpHost = new Pointer();   // fp16 K/V rows the CPU computed, on their way to the GPU cache
    private final ShortBuffer kvUpView;
    private final Pointer kvDownHost = new Pointer(); // fp16 K/V rows the GPU computed, on their way to the CPU cache
    private final MemorySegment kvDown;               // the same buffer, for the CPU's threads
    private final int[] cpuBlocks;                    // the CPU blocks, in order
    private final int mirrorGroup;                    // CPU blocks whose rows kvDown holds at once
    private final MirrorTask mirrorTask = new MirrorTask();
    private final CudaKvCache[] mirrorCaches;
    private final int[] mirrorPositions;
    /** Per step kind, like {@link #blocksByKind}: a streamed slice sits in a different slot in each kind. */
    private final List<List<OutputSlice>> outputSlicesByKind = List.of(new ArrayList<>(), new ArrayList<>());
    private final List<OutputSlice> outputSlices = outputSlicesByKind.get(1);
    private final StreamingWeights weights;
    private final boolean useGraphs;
    private final String memoryReport;

    // activations, token-major, for up to `rows` tokens
    private final CUdeviceptr params;
    private final CUdeviceptr seqParams;   // per sequence of a batch: {position, 1, 0, 0}
    private final CUdeviceptr x;
    private final CUdeviceptr q;
    private final CUdeviceptr k;
    private final CUdeviceptr v;
    private final CUdeviceptr attn;
    private final CUdeviceptr hb;
    private final CUdeviceptr hb2;
    private final CUdeviceptr a16;
    private final CUdeviceptr w16;
    private final CUdeviceptr partial;
    private final CUdeviceptr counters;
    private final CUdeviceptr logitsDev;
    private final CUdeviceptr sliceOut;    // one output slice's logits for a batch, before the strided copy
    // pinned host memory
    private final Pointer paramsHost = new Pointer();
    private final Pointer seqParamsHost = new Pointer();
    private final Pointer xHost = new Pointer();
    // The same pinned buffers as the GPU addresses them, for uploads the SMs read themselves (see upload)
    private final CUdeviceptr paramsMapped = new CUdeviceptr();
    private final CUdeviceptr seqParamsMapped = new CUdeviceptr();
    private final CUdeviceptr xMapped = new CUdeviceptr();
    private final CUdeviceptr kvUpMapped = new CUdeviceptr();
    private final Pointer logitsHost = new Pointer();
    private final IntBuffer paramsView;
    private final IntBuffer seqParamsView;
    private final float[] embedRow;
    private final FloatBuffer xView;
    private final FloatBuffer logitsView;
    private final CUDA_MEMCPY2D sliceCopy = new CUDA_MEMCPY2D();
    // the step being enqueued: one sequence's cache, or a batch's
    private CudaKvCache stepCache;
    private CudaKvCache[] stepBatch;
    private boolean closed;

    CudaForwardPass(CudaDevice device, CudaKernels kernels, Model model, int maxContext, int maxChunk) {
        this(device, kernels, model, maxContext, maxChunk, OffloadOptions.DEFAULTS);
    }

    CudaForwardPass(CudaDevice device, CudaKernels kernels, Model model, int maxContext, int maxChunk,
                    OffloadOptions offload) {
        if (maxContext < 1 || maxChunk < 1) {
            throw new IllegalArgumentException("maxContext and maxChunk must be positive");
        }
        this.device = device;
        this.kernels = kernels;
        this.config = model.config();
        this.maxContext = maxContext;
        this.maxChunk = maxChunk;
        this.rows = Math.max(maxChunk, Integer.getInteger("offload4j.cuda.maxBatch", 64));
        this.gemmMinTokens = Integer.getInteger("offload4j.cuda.gemmMinTokens", 16);
        ModelConfig c = config;
        checkSupported(model);
        this.splits = Math.clamp(2L * device.multiprocessors() / c.headCount(), 1, 32);
        device.makeCurrent();
        StreamingWeights placed = null;
        try {
            cuStreamCreate(stream, CUstream_flags.CU_STREAM_NON_BLOCKING);
            ModelWeights w = model.weights();
            this.embedding = w.tokenEmbedding();
            this.embeddingKernel = CpuKernels.of(embedding.type());
            StreamingWeights.UnitLayout[] units = units(w);
            long activations = activationBytes(c, rows, w);
            long kvPerCache = 4L * maxContext * c.keyValueDim() * c.blockCount();
            long free = device.freeMemory();
            long budget = weightBudget(offload, free, activations, kvPerCache);
            boolean cpuPossible = !offload.placement().equals("stream");
            Bandwidths bandwidths = measureBandwidths(model, units, budget, cpuPossible);
            long[] sizes = new long[units.length];
            String[] names = new String[units.length];
            for (int i = 0; i < units.length; i++) {
                sizes[i] = units[i].bytes();
                names[i] = units[i].name();
            }
            PlacementPlan plan = PlacementPlanner.plan(new PlanRequest(names, sizes, budget, offload.prefetchDepth(),
                    bandwidths, 1, offload.placement(), cpuPossible, w.blocks().size()));
            this.placements = plan.placements();
            LOG.log(System.Logger.Level.INFO, "placement on " + device.name() + ": " + plan.reasoning());
            long hostBudget = offload.hostPinnedMemoryBudget() == OffloadOptions.AUTO
                    ? Math.min(plan.streamedBytesPerStep() + plan.cpuBytesPerStep(), physicalMemory() / 2)
                    : offload.hostPinnedMemoryBudget();
            placed = new StreamingWeights(units, plan, hostBudget);
            this.weights = placed;
            this.useGraphs = !placed.streams()
                    && !"false".equalsIgnoreCase(System.getProperty("offload4j.cuda.graphs", "true"));
            int kvDim = c.keyValueDim();
            boolean[] cpuLayers = new boolean[w.blocks().size()];
            this.cpuLayerIndex = new int[w.blocks().size()];
            int cpuCount = 0;
            for (int l = 0; l < w.blocks().size(); l++) {
                cpuLayers[l] = placements[l] == Placement.CPU;
                cpuLayerIndex[l] = cpuLayers[l] ? cpuCount++ : -1;
                BlockNorms norms = uploadNorms(w.blocks().get(l));
                for (int kind = 0; kind < 2; kind++) {
                    CUdeviceptr base = placed.address(l, kind);
                    blocksByKind.get(kind).add(base == null ? null : deviceBlock(units[l], base, norms));
                }
            }
            this.cpuRunner = cpuCount == 0 ? null : new CpuBlockRunner(model, maxContext, cpuLayers, 0);
            this.cpuActivation = new float[cpuCount == 0 ? 0 : c.embeddingLength()];
            this.kvRowK = new float[cpuCount == 0 ? 0 : kvDim];
            this.kvRowV = new float[cpuCount == 0 ? 0 : kvDim];
            this.cpuBlocks = java.util.stream.IntStream.range(0, cpuLayers.length).filter(l -> cpuLayers[l]).toArray();
            this.mirrorCaches = new CudaKvCache[rows];
            this.mirrorPositions = new int[rows];
            long upBytes = 4L * Math.max(1, cpuCount) * kvDim;
            long mirrorLayerBytes = 2L * 2 * rows * kvDim; // keys and values, fp16, of a step's rows
            this.mirrorGroup = (int) Math.clamp(MIRROR_BUFFER_BYTES / mirrorLayerBytes, 1, Math.max(1, cpuCount));
            long downBytes = mirrorGroup * mirrorLayerBytes;
            cuMemHostAlloc(kvUpHost, upBytes, CU_MEMHOSTALLOC_DEVICEMAP);
            cuMemHostGetDevicePointer(kvUpMapped, kvUpHost, 0);
            cuMemHostAlloc(kvDownHost, downBytes, 0);
            kvUpView = kvUpHost.getByteBuffer(0, upBytes).order(ByteOrder.nativeOrder()).asShortBuffer();
            kvDown = MemorySegment.ofBuffer(kvDownHost.getByteBuffer(0, downBytes));
            Weight out = w.output();
            for (int u = w.blocks().size(); u < units.length; u++) {
                StreamingWeights.UnitLayout slice = units[u];
                Weight part = slice.parts()[0];
                int first = (int) ((part.data().address() - out.data().address()) / out.rowBytes());
                for (int kind = 0; kind < 2; kind++) {
                    outputSlicesByKind.get(kind).add(new OutputSlice(first, new DevMatrix(part.name(), part.type(),
                            part.rows(), part.cols(), part.rowBytes(), placed.address(u, kind))));
                }
            }
            outputNorm = uploadFloats(w.outputNorm());
            invFreq = uploadDoubles(inverseFrequencies(c, w.ropeFrequencyFactors()));

            int dim = c.embeddingLength();
            int ffn = c.feedForwardLength();
            int wide = Math.max(Math.max(dim, c.queryDim()), ffn);
            params = alloc(4L * (2 + rows));
            seqParams = alloc(16L * rows);
            x = alloc(4L * rows * dim);
            q = alloc(4L * rows * c.queryDim());
            k = alloc(4L * rows * c.keyValueDim());
            v = alloc(4L * rows * c.valueDim());
            attn = alloc(4L * rows * c.queryDim());
            hb = alloc(4L * rows * ffn);
            hb2 = alloc(4L * rows * ffn);
            boolean gemm = rows >= gemmMinTokens && blocks.stream().anyMatch(DevBlock::gemmOk);
            a16 = gemm ? alloc(2L * rows * wide) : null;
            w16 = gemm ? alloc(2L * largestNonF16Matrix()) : null;
            partial = alloc(4L * CudaKernels.attnPartialFloats(c.headCount(), c.headDim(), splits));
            counters = alloc(4L * c.headCount());
            cuMemsetD8(counters, (byte) 0, 4L * c.headCount());
            logitsDev = alloc(4L * rows * c.vocabularySize());
            int widestSlice = outputSlices.stream().mapToInt(o -> o.matrix().rows()).max().orElse(1);
            sliceOut = outputSlices.size() > 1 ? alloc(4L * rows * widestSlice) : null;
            cuMemHostAlloc(paramsHost, 4L * (2 + rows), CU_MEMHOSTALLOC_DEVICEMAP);
            cuMemHostAlloc(seqParamsHost, 16L * rows, CU_MEMHOSTALLOC_DEVICEMAP);
            cuMemHostAlloc(xHost, 4L * rows * dim, CU_MEMHOSTALLOC_DEVICEMAP);
            cuMemHostGetDevicePointer(paramsMapped, paramsHost, 0);
            cuMemHostGetDevicePointer(seqParamsMapped, seqParamsHost, 0);
            cuMemHostGetDevicePointer(xMapped, xHost, 0);
            cuMemHostAlloc(logitsHost, 4L * rows * c.vocabularySize(), 0);
            paramsView = paramsHost.getByteBuffer(0, 4L * (2 + rows)).order(ByteOrder.nativeOrder()).asIntBuffer();
            seqParamsView = seqParamsHost.getByteBuffer(0, 16L * rows).order(ByteOrder.nativeOrder()).asIntBuffer();
            xView = xHost.getByteBuffer(0, 4L * rows * dim).order(ByteOrder.nativeOrder()).asFloatBuffer();
            logitsView = logitsHost.getByteBuffer(0, 4L * rows * c.vocabularySize()).order(ByteOrder.nativeOrder())
                    .asFloatBuffer();
            embedRow = new float[dim];
            sliceCopy.srcMemoryType = CUmemorytype.CU_MEMORYTYPE_DEVICE;
            sliceCopy.dstMemoryType = CUmemorytype.CU_MEMORYTYPE_DEVICE;
            this.memoryReport = memoryReport(plan, placed, activations + deviceBytes, kvPerCache, free, bandwidths);
            LOG.log(System.Logger.Level.INFO, memoryReport);
        } catch (RuntimeException | Error e) {
            if (placed != null) {
                placed.close();
            }
            close();
            throw e;
        }
    }

    /** The model as units: one per block, then the output head in slices no larger than the largest block. */
    private static StreamingWeights.UnitLayout[] units(ModelWeights w) {
        List<StreamingWeights.UnitLayout> units = new ArrayList<>();
        long largestBlock = 1;
        for (int l = 0; l < w.blocks().size(); l++) {
            BlockWeights b = w.blocks().get(l);
            StreamingWeights.UnitLayout u = StreamingWeights.UnitLayout.of("block " + l, b.wq(), b.wk(), b.wv(), b.wo(),
                    b.wGate(), b.wUp(), b.wDown());
            units.add(u);
            largestBlock = Math.max(largestBlock, u.bytes());
        }
        Weight out = w.output();
        long outBytes = (long) out.rows() * out.rowBytes();
        int slices = (int) Math.max(1, (outBytes + largestBlock - 1) / largestBlock);
        int perSlice = (out.rows() + slices - 1) / slices;
        for (int first = 0, i = 0; first < out.rows(); first += perSlice, i++) {
            int n = Math.min(perSlice, out.rows() - first);
            Weight part = out.rowSlice(first, n);
            units.add(StreamingWeights.UnitLayout.of(slices == 1 ? "output" : "output " + (i + 1) + "/" + slices,
                    part));
        }
        return units.toArray(StreamingWeights.UnitLayout[]::new);
    }

    /**
     * Bytes the weight units may occupy. Automatic: free memory minus a margin, the activations and room for
     * {@link #AUTO_RESERVED_KV_CACHES} full-context KV caches. Explicit: checked against what is free now.
     */
    private long weightBudget(OffloadOptions offload, long free, long activations, long kvPerCache) {
        long others = activations + MARGIN_BYTES;
        if (offload.gpuMemoryBudget() == OffloadOptions.AUTO) {
            long budget = free - others - AUTO_RESERVED_KV_CACHES * kvPerCache;
            if (budget <= 0) {
                throw new IllegalStateException(String.format(Locale.ROOT, "%s has %s free, which the activations"
                        + " (%s), %d KV caches of %s and a margin of %s already exceed; use a smaller context length"
                        + " or --device cpu", device.name(), gib(free), gib(activations), AUTO_RESERVED_KV_CACHES,
                        gib(kvPerCache), gib(MARGIN_BYTES)));
            }
            return budget;
        }
        long budget = offload.gpuMemoryBudget();
        if (budget + others + kvPerCache > free) {
            throw new IllegalArgumentException(String.format(Locale.ROOT, "GPU memory budget of %s is larger than %s"
                    + " can give: %s free, minus activations %s, one KV cache %s and a margin of %s leaves %s; lower"
                    + " the budget, or leave it automatic", gib(budget), device.name(), gib(free), gib(activations),
                    gib(kvPerCache), gib(MARGIN_BYTES), gib(Math.max(0, free - others - kvPerCache))));
        }
        return budget;
    }

    /**
     * Host → device bandwidth from pinned memory (a 256 MiB copy, timed), and the CPU's weight bandwidth at one
     * token (a fused dot product over a block's matrix on one thread, times the processors: an upper bound, since
     * the cores share the memory bus), both only when the model does not fit the budget: they matter to the planner
     * only then. Costs about 0.2 s.
     */
    private Bandwidths measureBandwidths(Model model, StreamingWeights.UnitLayout[] units, long budget,
                                         boolean cpuPossible) {
        long total = 0;
        for (StreamingWeights.UnitLayout u : units) {
            total += u.bytes();
        }
        if (total <= budget) {
            return new Bandwidths(1, 0);
        }
        long bytes = 256L << 20;
        Pointer host = new Pointer();
        CUdeviceptr dev = new CUdeviceptr();
        double h2d;
        double cpu;
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
            h2d = 3.0 * bytes / (System.nanoTime() - t0);
            // The CPU is measured while copies run, as it will work at decode: DMA from host memory competes with it.
            cpu = cpuPossible ? cpuBlockBandwidth(model, units, () -> {
                // enough 256 MiB copies, at the rate just measured, to outlast the probe
                long copies = (long) (CPU_PROBE_NANOS * 1.2 * h2d / bytes) + 1;
                for (int i = 0; i < copies; i++) {
                    cuMemcpyHtoDAsync(dev, host, bytes, stream);
                }
            }) : 0;
            cuStreamSynchronize(stream);
        } finally {
            cuMemFree(dev);
            freeHost(host);
        }
        return new Bandwidths(h2d, cpu);
    }

    /**
     * The CPU's weight bandwidth at one token, measured the way the CPU will be used: the first few blocks (at least
     * ~1 GiB of weights, so that caches do not flatter it) run one after another by a {@link CpuBlockRunner} on all
     * cores, 1 s of warm-up (the JIT compiles the kernels), then rounds for at least {@link #CPU_PROBE_NANOS} while
     * {@code startCopies}' copies keep the DMA engine reading host memory, as streamed blocks do at decode. (Two
     * rounds, ~30 ms, varied by ±20% from run to run on the lent machine, and the planner's split with them.)
     */
    private static final long CPU_PROBE_NANOS = 400_000_000L;

    private static double cpuBlockBandwidth(Model model, StreamingWeights.UnitLayout[] units,
                                            Runnable startCopies) {
        int blocks = model.config().blockCount();
        boolean[] measured = new boolean[blocks];
        long bytes = 0;
        int k = 0;
        while (k < blocks && (k < 2 || bytes < (1L << 30)) && k < 8) {
            measured[k] = true;
            bytes += units[k].bytes();
            k++;
        }
        try (CpuBlockRunner runner = new CpuBlockRunner(model, 2, measured, 0);
             KvCache cache = runner.newKvCache(2)) {
            float[] act = new float[model.config().embeddingLength()];
            long warm = System.nanoTime();
            while (System.nanoTime() - warm < 1_000_000_000L) {
                java.util.Arrays.fill(act, 0.01f);
                for (int l = 0; l < k; l++) {
                    runner.runBlock(l, cache, act, 0);
                }
            }
            startCopies.run();
            long t0 = System.nanoTime();
            int rounds = 0;
            do {
                java.util.Arrays.fill(act, 0.01f);
                for (int l = 0; l < k; l++) {
                    runner.runBlock(l, cache, act, 0);
                }
                rounds++;
            } while (System.nanoTime() - t0 < CPU_PROBE_NANOS);
            return (double) rounds * bytes / (System.nanoTime() - t0);
        }
    }

    /** Physical memory from /proc/meminfo (CUDA here means Linux), else the heap limit as a conservative guess. */
    private static long physicalMemory() {
        try (var lines = java.nio.file.Files.lines(java.nio.file.Path.of("/proc/meminfo"))) {
            return lines.filter(l -> l.startsWith("MemTotal:")).findFirst()
                    .map(l -> Long.parseLong(l.replaceAll("[^0-9]", "")) * 1024).orElseThrow();
        } catch (java.io.IOException | RuntimeException e) {
            return Runtime.getRuntime().maxMemory();
        }
    }

    private String memoryReport(PlacementPlan plan, StreamingWeights placed, long otherDevice, long kvPerCache,
                                long freeAtStart, Bandwidths bw) {
        StringBuilder r = new StringBuilder(String.format(Locale.ROOT, "memory on %s (%s free at load):%n",
                device.name(), gib(freeAtStart)));
        r.append(String.format(Locale.ROOT, "  GPU   resident weights %s (%d of %d units)%n", gib(plan.residentBytes()),
                plan.count(Placement.RESIDENT), plan.placements().length));
        r.append(String.format(Locale.ROOT, "  GPU   staging ring %s (%d slots)%n", gib(placed.stagingBytes()),
                plan.stagingSlots()));
        r.append(String.format(Locale.ROOT, "  GPU   activations, norms and scratch %s%n", gib(otherDevice)));
        r.append(String.format(Locale.ROOT, "  GPU   KV cache %s per full-context sequence (allocated per request)%n",
                gib(kvPerCache)));
        r.append(String.format(Locale.ROOT, "  host  pinned streamed weights %s of %s streamed per prompt step%n",
                gib(placed.hostPinnedBytes()), gib(placed.bytesPerStep(1))));
        if (plan.count(Placement.CPU) > 0) {
            r.append(String.format(Locale.ROOT, "  host  CPU-computed blocks %s (%d units, at batch-1 decode; streamed"
                    + " for prompts and batches)%n", gib(plan.cpuBytesPerStep()), plan.count(Placement.CPU)));
        }
        r.append(String.format(Locale.ROOT, "  host  token embeddings %s (file mapping, looked up on the CPU)",
                gib(embedding.data().byteSize())));
        if (!plan.allResident()) {
            r.append(String.format(Locale.ROOT, "%n  measured: host→GPU %.1f GB/s pinned, CPU weights ~%.1f GB/s",
                    bw.hostToDeviceGBs(), bw.cpuWeightGBs()));
        }
        return r.toString();
    }

    static String gib(long bytes) {
        return String.format(Locale.ROOT, "%.2f GiB", bytes / (double) (1L << 30));
    }

    private static long activationBytes(ModelConfig c, int chunk, ModelWeights w) {
        long perToken = 4L * (c.embeddingLength() * 2L + c.queryDim() * 3L + c.keyValueDim() * 2L
                + c.feedForwardLength() * 2L) + 2L * Math.max(c.feedForwardLength(), c.embeddingLength())
                + 8L * c.vocabularySize();
        long largest = 0;
        for (BlockWeights b : w.blocks()) {
            for (Weight m : new Weight[] {b.wq(), b.wk(), b.wv(), b.wo(), b.wGate(), b.wUp(), b.wDown()}) {
                largest = Math.max(largest, 2L * m.rows() * m.cols());
            }
        }
        return perToken * chunk + largest;
    }

    private void checkSupported(Model model) {
        ModelConfig c = config;
        int hd = c.headDim();
        if (hd % 8 != 0 || hd > CudaKernels.MAX_HEAD_DIM) {
            throw new ModelFormatException(model.path(), "head size " + hd + ": the CUDA attention kernels need a"
                    + " multiple of 8 up to " + CudaKernels.MAX_HEAD_DIM + "; use --device cpu");
        }
        ModelWeights w = model.weights();
        List<Weight> all = new ArrayList<>(List.of(w.tokenEmbedding(), w.output()));
        for (BlockWeights b : w.blocks()) {
            all.addAll(List.of(b.wq(), b.wk(), b.wv(), b.wo(), b.wGate(), b.wUp(), b.wDown()));
        }
        for (Weight m : all) {
            if (!CudaKernels.SUPPORTED.contains(m.type())) {
                throw new ModelFormatException(model.path(), "tensor '" + m.name() + "' is stored as " + m.type()
                        + ", which the CUDA backend cannot compute with; supported: " + CudaKernels.SUPPORTED
                        + " (use --device cpu, or re-quantize, e.g. to Q4_K_M or Q8_0)");
            }
        }
    }

    /** θ_i = base^(-2i/d), divided by linear scaling and the Llama 3.1 frequency factors, as on the CPU. */
    static double[] inverseFrequencies(ModelConfig c, float[] factors) {
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

    // ------------------------------------------------------------------ device memory

    /** Device memory with 16 bytes to spare: decoders of 2-byte aligned blocks read whole aligned words. */
    private CUdeviceptr alloc(long bytes) {
        CUdeviceptr p = new CUdeviceptr();
        cuMemAlloc(p, bytes + CudaKernels.PADDING);
        allocations.add(p);
        deviceBytes += bytes;
        return p;
    }

    private CUdeviceptr uploadFloats(float[] values) {
        if (values == null) {
            return null;
        }
        CUdeviceptr p = alloc(4L * values.length);
        cuMemcpyHtoD(p, Pointer.to(values), 4L * values.length);
        return p;
    }

    private CUdeviceptr uploadDoubles(double[] values) {
        CUdeviceptr p = alloc(8L * Math.max(1, values.length));
        if (values.length > 0) {
            cuMemcpyHtoD(p, Pointer.to(values), 8L * values.length);
        }
        return p;
    }

    /** A block's fp32 vectors on the device (norm weights, biases), shared by its step kinds. */
    private record BlockNorms(CUdeviceptr attnNorm, CUdeviceptr qBias, CUdeviceptr kBias, CUdeviceptr vBias,
                              CUdeviceptr qNorm, CUdeviceptr kNorm, CUdeviceptr ffnNorm) {}

    private BlockNorms uploadNorms(BlockWeights b) {
        return new BlockNorms(uploadFloats(b.attentionNorm()), uploadFloats(b.qBias()), uploadFloats(b.kBias()),
                uploadFloats(b.vBias()), uploadFloats(b.qNorm()), uploadFloats(b.kNorm()), uploadFloats(b.ffnNorm()));
    }

    private DevBlock deviceBlock(StreamingWeights.UnitLayout unit, CUdeviceptr base, BlockNorms n) {
        DevMatrix[] m = new DevMatrix[unit.parts().length];
        for (int i = 0; i < m.length; i++) {
            Weight w = unit.parts()[i];
            m[i] = new DevMatrix(w.name(), w.type(), w.rows(), w.cols(), w.rowBytes(),
                    base.withByteOffset(unit.offsets()[i]));
        }
        DevMatrix wq = m[0];
        DevMatrix wk = m[1];
        DevMatrix wv = m[2];
        DevMatrix wo = m[3];
        DevMatrix gate = m[4];
        DevMatrix up = m[5];
        DevMatrix down = m[6];
        // Q, K and V of one format run as one launch; a mixed block (Q4_K_M keeps V in Q6_K in some
        // blocks) groups by format.
        List<DevMatrix[]> groups = new ArrayList<>();
        List<DevMatrix> pending = new ArrayList<>(List.of(wq, wk, wv));
        while (!pending.isEmpty()) {
            GgmlType t = pending.getFirst().type();
            List<DevMatrix> same = pending.stream().filter(d -> d.type() == t).toList();
            groups.add(same.toArray(DevMatrix[]::new));
            pending.removeAll(same);
        }
        boolean gemmOk = true;
        for (DevMatrix d : m) {
            gemmOk &= CudaKernels.gemmShapeOk(d.rows(), d.cols()) && CudaKernels.vectorisable(d.type(), d.cols());
        }
        return new DevBlock(n.attnNorm(), wq, wk, wv, wo, n.qBias(), n.kBias(), n.vBias(), n.qNorm(), n.kNorm(),
                n.ffnNorm(), gate, up, down, List.copyOf(groups), gemmOk);
    }

    private long largestNonF16Matrix() {
        long n = 1;
        for (DevBlock b : blocks) {
            for (DevMatrix m : new DevMatrix[] {b.wq(), b.wk(), b.wv(), b.wo(), b.gate(), b.up(), b.down()}) {
                if (m.type() != GgmlType.F16) {
                    n = Math.max(n, (long) m.rows() * m.cols());
                }
            }
        }
        return n;
    }

    /** The placement this pass was prepared with. */
    PlacementPlan plan() {
        return weights.plan();
    }

    void makeCurrent() {
        device.makeCurrent();
    }

    /** Bytes of weights in device memory: the resident units and the staging ring. */
    long weightBytes() {
        return weights.plan().residentBytes() + weights.stagingBytes();
    }

    /** Weight bytes one decode step reads: every block matrix and the output matrix. */
    long weightBytesPerToken() {
        long n = 0;
        for (OutputSlice o : outputSlices) {
            n += o.matrix().rows() * o.matrix().rowBytes();
        }
        for (DevBlock b : blocks) {
            for (DevMatrix m : new DevMatrix[] {b.wq(), b.wk(), b.wv(), b.wo(), b.gate(), b.up(), b.down()}) {
                n += m.rows() * m.rowBytes();
            }
        }
        return n;
    }

    // ------------------------------------------------------------------ ForwardPass

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
    public OffloadStats offloadStats() {
        return weights.stats(cpuNanos, cpuWaitNanos);
    }

    @Override
    public String memoryReport() {
        return memoryReport;
    }

    @Override
    public KvCache newKvCache(int capacity) {
        if (capacity < 1 || capacity > maxContext) {
            throw new IllegalArgumentException("KV cache capacity " + capacity + " outside 1.." + maxContext);
        }
        device.makeCurrent();
        CudaKvCache cache = new CudaKvCache(this, config.blockCount(), capacity, config.keyValueDim());
        if (cpuRunner != null) {
            cache.cpuMirror = cpuRunner.newKvCache(capacity);
        }
        return cache;
    }

    @Override
    public void forward(KvCache kvCache, int[] tokens, int offset, int count, int startPos, float[] logits) {
        if (count < 1 || count > maxChunk) {
            throw new IllegalArgumentException("chunk of " + count + " tokens; this pass takes 1.." + maxChunk);
        }
        CudaKvCache cache = ownCache(kvCache);
        checkPositions(cache, startPos, count);
        int vocab = config.vocabularySize();
        if (logits.length < vocab) {
            throw new IllegalArgumentException("logits array of " + logits.length + " < vocabulary " + vocab);
        }
        checkTokens(tokens, offset, count);
        device.makeCurrent();
        paramsView.put(0, startPos);
        paramsView.put(1, count);
        for (int t = 0; t < count; t++) {
            paramsView.put(2 + t, tokens[offset + t]);
        }
        embedOnHost(tokens, offset, count);
        stepCache = cache;
        stepBatch = null;
        try {
            int kind = count == 1 && cpuRunner != null ? 0 : 1;
            if (count == 1 && useGraphs) {
                if (cache.decodeGraph == null) {
                    cache.decodeGraph = capture(cache); // counts this step's accesses while recording
                } else {
                    weights.replayedResidentStep();
                }
                cuGraphLaunch(cache.decodeGraph, stream);
            } else if (kind == 0) {
                // The CPU's blocks come between GPU work: its threads keep spinning through the whole step rather
                // than parking during the GPU's part and being woken, one unpark after another, for every block.
                cpuRunner.keepThreadsSpinning(true);
                try {
                    enqueue(count, 1, kind);
                } finally {
                    cpuRunner.keepThreadsSpinning(false);
                }
            } else {
                enqueue(count, 1, kind);
            }
            cuStreamSynchronize(stream);
            weights.stepCompleted();
            if (kind == 1 && cpuRunner != null) {
                mirrorCaches[0] = cache;
                mirrorPositions[0] = startPos;
                mirrorToCpu(1, count);
            }
        } catch (RuntimeException | Error e) {
            weights.reset();
            throw e;
        }
        logitsView.get(0, logits, 0, vocab);
    }

    @Override
    public void forwardBatch(KvCache[] caches, int[] tokens, int[] positions, int batch, float[][] logits) {
        if (batch < 1 || batch > caches.length || batch > tokens.length || batch > positions.length
                || batch > logits.length) {
            throw new IllegalArgumentException("batch of " + batch + " with " + caches.length + " caches, "
                    + tokens.length + " tokens, " + positions.length + " positions and " + logits.length
                    + " logits arrays");
        }
        if (batch > rows) { // more sequences than the activation buffers hold: in parts
            for (int b0 = 0; b0 < batch; b0 += rows) {
                int n = Math.min(rows, batch - b0);
                forwardBatch(java.util.Arrays.copyOfRange(caches, b0, b0 + n),
                        java.util.Arrays.copyOfRange(tokens, b0, b0 + n),
                        java.util.Arrays.copyOfRange(positions, b0, b0 + n), n,
                        java.util.Arrays.copyOfRange(logits, b0, b0 + n));
            }
            return;
        }
        if (batch == 1) {
            forward(caches[0], tokens, 0, 1, positions[0], logits[0]);
            return;
        }
        int vocab = config.vocabularySize();
        if (stepBatchBuffer == null || stepBatchBuffer.length < rows) {
            stepBatchBuffer = new CudaKvCache[rows]; // once: sized for the largest batch
        }
        for (int b = 0; b < batch; b++) {
            CudaKvCache cache = ownCache(caches[b]);
            checkPositions(cache, positions[b], 1);
            if (logits[b].length < vocab) {
                throw new IllegalArgumentException("logits array " + b + " of " + logits[b].length + " < vocabulary "
                        + vocab);
            }
            for (int a = 0; a < b; a++) {
                if (stepBatchBuffer[a] == cache) {
                    throw new IllegalArgumentException("sequences " + a + " and " + b + " of the batch share a KV cache");
                }
            }
            stepBatchBuffer[b] = cache;
        }
        checkTokens(tokens, 0, batch);
        device.makeCurrent();
        paramsView.put(0, 0);
        paramsView.put(1, batch);
        for (int b = 0; b < batch; b++) {
            paramsView.put(2 + b, tokens[b]);
            seqParamsView.put(4 * b, positions[b]);
            seqParamsView.put(4 * b + 1, 1);
            seqParamsView.put(4 * b + 2, tokens[b]);
            seqParamsView.put(4 * b + 3, 0);
        }
        embedOnHost(tokens, 0, batch);
        stepCache = null;
        stepBatch = stepBatchBuffer;
        try {
            upload(seqParams, seqParamsHost, seqParamsMapped, 0, 16L * batch);
            enqueue(batch, batch, 1);
            cuStreamSynchronize(stream);
            weights.stepCompleted();
            if (cpuRunner != null) {
                System.arraycopy(stepBatchBuffer, 0, mirrorCaches, 0, batch);
                System.arraycopy(positions, 0, mirrorPositions, 0, batch);
                mirrorToCpu(batch, 1);
            }
        } catch (RuntimeException | Error e) {
            weights.reset();
            throw e;
        } finally {
            stepBatch = null;
        }
        for (int b = 0; b < batch; b++) {
            logitsView.get(b * vocab, logits[b], 0, vocab);
        }
    }

    private CudaKvCache[] stepBatchBuffer;

    private CudaKvCache ownCache(KvCache kvCache) {
        if (!(kvCache instanceof CudaKvCache cache) || cache.owner != this) {
            throw new IllegalArgumentException("the KV cache was not created by this forward pass");
        }
        return cache;
    }

    private static void checkPositions(CudaKvCache cache, int startPos, int count) {
        if (startPos < 0 || startPos + count > cache.capacity()) {
            throw new IllegalArgumentException("positions " + startPos + ".." + (startPos + count - 1)
                    + " do not fit the KV cache of " + cache.capacity());
        }
    }

    private void checkTokens(int[] tokens, int offset, int count) {
        int vocab = config.vocabularySize();
        for (int t = 0; t < count; t++) {
            int id = tokens[offset + t];
            if (id < 0 || id >= vocab) {
                throw new IllegalArgumentException("token " + id + " outside the vocabulary 0.." + (vocab - 1));
            }
        }
    }

    /** Looks the tokens' embedding rows up on the host, into the pinned buffer the step copies to {@code x}. */
    private void embedOnHost(int[] tokens, int offset, int count) {
        int dim = config.embeddingLength();
        for (int t = 0; t < count; t++) {
            embeddingKernel.dequantize(embedding.data(), (long) tokens[offset + t] * embedding.rowBytes(), embedRow, 0,
                    dim);
            xView.put(t * dim, embedRow, 0, dim);
        }
    }

    private CUgraphExec capture(CudaKvCache cache) {
        CUgraph graph = new CUgraph();
        cuStreamBeginCapture(stream, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_RELAXED);
        try {
            enqueue(1, 1, 1);
        } finally {
            cuStreamEndCapture(stream, graph);
        }
        CUgraphExec exec = new CUgraphExec();
        try {
            cuGraphInstantiate(exec, graph, 0);
        } finally {
            cuGraphDestroy(graph);
        }
        return exec;
    }

    /**
     * Everything one forward step does, on the stream: parameters and embeddings in, logits out. {@code count}
     * tokens go through the blocks; the logits of the last {@code outputs} of them come back (1 for a prompt chunk,
     * all of them for a batch).
     */
    private void enqueue(int count, int outputs, int kind) {
        ModelConfig c = config;
        int dim = c.embeddingLength();
        int vocab = c.vocabularySize();
        weights.beginStep(kind);
        upload(params, paramsHost, paramsMapped, 0, 4L * (2 + count));
        upload(x, xHost, xMapped, 0, 4L * count * dim);
        List<DevBlock> stepBlocks = blocksByKind.get(kind);
        for (int l = 0; l < stepBlocks.size(); l++) {
            DevBlock b = stepBlocks.get(l);
            if (b == null) {
                weights.cpuUnit(l);
                cpuBlock(l);
                continue;
            }
            weights.beforeUnit(l, stream);
            block(l, b, count);
            weights.afterUnit(l, stream);
        }
        CUdeviceptr last = x.withByteOffset(4L * (count - outputs) * dim);
        int unit = blocks.size();
        for (OutputSlice slice : outputSlicesByKind.get(kind)) {
            weights.beforeUnit(unit, stream);
            DevMatrix m = slice.matrix();
            if (outputSlices.size() == 1) {
                matvecs(outputs, CudaKernels.STORE, new DevMatrix[] {m}, last, new CUdeviceptr[] {logitsDev},
                        outputNorm);
            } else if (outputs == 1) {
                matvecs(1, CudaKernels.STORE, new DevMatrix[] {m}, last,
                        new CUdeviceptr[] {logitsDev.withByteOffset(4L * slice.firstRow())}, outputNorm);
            } else {
                // [outputs × sliceRows] → columns firstRow.. of the [outputs × vocab] logits
                matvecs(outputs, CudaKernels.STORE, new DevMatrix[] {m}, last, new CUdeviceptr[] {sliceOut},
                        outputNorm);
                sliceCopy.srcDevice = sliceOut;
                sliceCopy.srcPitch = 4L * m.rows();
                sliceCopy.dstDevice = logitsDev.withByteOffset(4L * slice.firstRow());
                sliceCopy.dstPitch = 4L * vocab;
                sliceCopy.WidthInBytes = 4L * m.rows();
                sliceCopy.Height = outputs;
                cuMemcpy2DAsync(sliceCopy, stream);
            }
            weights.afterUnit(unit++, stream);
        }
        weights.endStep();
        cuMemcpyDtoHAsync(logitsHost, logitsDev, 4L * outputs * vocab, stream);
    }

    private void block(int l, DevBlock b, int count) {
        ModelConfig c = config;
        int dim = c.embeddingLength();
        float eps = c.rmsNormEps();
        boolean gemm = count >= gemmMinTokens && b.gemmOk() && a16 != null;

        // attention
        if (gemm) {
            kernels.rmsnorm(stream, x, b.attnNorm(), null, a16, dim, eps, count);
            gemm(b.wq(), q, count, false);
            gemm(b.wk(), k, count, false);
            gemm(b.wv(), v, count, false);
        } else {
            // the attention norm is fused into the projections
            for (DevMatrix[] group : b.qkvGroups()) {
                CUdeviceptr[] outs = new CUdeviceptr[group.length];
                for (int i = 0; i < group.length; i++) {
                    DevMatrix m = group[i];
                    outs[i] = m == b.wq() ? q : m == b.wk() ? k : v;
                }
                matvecs(count, CudaKernels.STORE, group, x, outs, b.attnNorm());
            }
        }
        if (stepBatch == null) {
            attention(l, b, stepCache, params, 0, count);
        } else {
            for (int s = 0; s < count; s++) { // each sequence attends to its own cache, at its own position
                attention(l, b, stepBatch[s], seqParams.withByteOffset(16L * s), s, 1);
            }
        }
        if (gemm) {
            kernels.f32ToF16(stream, attn, a16, (long) count * c.queryDim());
            gemm(b.wo(), x, count, true);
        } else {
            matvecs(count, CudaKernels.ADD, new DevMatrix[] {b.wo()}, attn, new CUdeviceptr[] {x}, null);
        }

        // feed-forward
        if (gemm) {
            kernels.rmsnorm(stream, x, b.ffnNorm(), null, a16, dim, eps, count);
            gemm(b.gate(), hb, count, false);
            gemm(b.up(), hb2, count, false);
            kernels.swigluF16(stream, hb, hb2, a16, (long) count * c.feedForwardLength());
            gemm(b.down(), x, count, true);
        } else {
            // the FFN norm is fused into the gate/up projection
            if (b.gate().type() == b.up().type()) {
                matvecs(count, CudaKernels.SWIGLU, new DevMatrix[] {b.gate(), b.up()}, x, new CUdeviceptr[] {hb},
                        b.ffnNorm());
            } else {
                throw new IllegalStateException("gate and up projections of block " + l + " differ in format ("
                        + b.gate().type() + ", " + b.up().type() + ")");
            }
            matvecs(count, CudaKernels.ADD, new DevMatrix[] {b.down()}, hb, new CUdeviceptr[] {x}, null);
        }
    }

    /**
     * Block {@code l} on the CPU, for the one token of a decode step: waits for the GPU's work so far, brings the
     * activation over, runs the block from host memory (while the copy stream keeps filling slots for the streamed
     * blocks ahead), sends the activation back, and mirrors the token's key and value into the GPU cache so that a
     * later prompt chunk, computed on the GPU, sees them.
     */
    private void cpuBlock(int l) {
        int dim = config.embeddingLength();
        int kvDim = config.keyValueDim();
        int pos = paramsView.get(0);
        long t0 = System.nanoTime();
        cuMemcpyDtoHAsync(xHost, x, 4L * dim, stream);
        cuStreamSynchronize(stream);
        long t1 = System.nanoTime();
        xView.get(0, cpuActivation, 0, dim);
        cpuRunner.runBlock(l, stepCache.cpuMirror, cpuActivation, pos);
        cpuNanos += System.nanoTime() - t1;
        cpuWaitNanos += t1 - t0;
        xView.put(0, cpuActivation, 0, dim);
        upload(x, xHost, xMapped, 0, 4L * dim);
        cpuRunner.readKv(stepCache.cpuMirror, l, pos, kvRowK, kvRowV);
        int at = 2 * cpuLayerIndex[l] * kvDim;
        for (int j = 0; j < kvDim; j++) {
            kvUpView.put(at + j, Float.floatToFloat16(kvRowK[j]));
            kvUpView.put(at + kvDim + j, Float.floatToFloat16(kvRowV[j]));
        }
        upload(stepCache.keys(l).withByteOffset(2L * pos * kvDim), kvUpHost, kvUpMapped, 2L * at, 2L * kvDim);
        upload(stepCache.values(l).withByteOffset(2L * pos * kvDim), kvUpHost, kvUpMapped, 2L * (at + kvDim),
                2L * kvDim);
    }

    /** Uploads up to this size are copied by the SMs from mapped memory; larger ones by the copy engine. */
    private static final long SMALL_UPLOAD_BYTES = 256 << 10;

    /**
     * Copies {@code bytes} from pinned host buffer {@code host} (at {@code offset}) to {@code dst} on the compute
     * stream. Small transfers are read by a kernel through the buffer's mapped address ({@code mapped}): the copy
     * engine may be busy for milliseconds with a streamed unit issued earlier, and a cuMemcpy would queue behind
     * it, stalling the step (measured on the lent H200: ~11 ms per step with CPU blocks, before this).
     */
    private void upload(CUdeviceptr dst, Pointer host, CUdeviceptr mapped, long offset, long bytes) {
        if (bytes <= SMALL_UPLOAD_BYTES && bytes % 4 == 0) {
            kernels.copyWords(stream, mapped.withByteOffset(offset), dst, bytes / 4);
        } else {
            cuMemcpyHtoDAsync(dst, host.withByteOffset(offset), bytes, stream);
        }
    }

    /** Pinned host memory for the keys and values a step hands to the CPU's cache, at most (one block's at least). */
    private static final long MIRROR_BUFFER_BYTES = 32L << 20;

    /**
     * After a step the GPU computed whole (a prompt chunk of {@code count} tokens of one sequence, or a batch of
     * {@code sequences} sequences, one token each; caches and start positions in {@link #mirrorCaches} /
     * {@link #mirrorPositions}): the keys and values it wrote for the CPU's blocks, copied into each sequence's CPU
     * cache so that decode can continue there. The rows of as many blocks as the buffer holds come over with one
     * synchronisation; the CPU's threads then widen them to fp32, a block and sequence each.
     */
    private void mirrorToCpu(int sequences, int count) {
        int kvDim = config.keyValueDim();
        long rowBytes = 2L * kvDim;
        for (int first = 0; first < cpuBlocks.length; first += mirrorGroup) {
            int group = Math.min(mirrorGroup, cpuBlocks.length - first);
            for (int g = 0; g < group; g++) {
                int l = cpuBlocks[first + g];
                for (int s = 0; s < sequences; s++) {
                    CudaKvCache cache = mirrorCaches[s];
                    long from = mirrorPositions[s] * rowBytes;
                    cuMemcpyDtoHAsync(kvDownHost.withByteOffset(mirrorOffset(g, 0, s * count)),
                            cache.keys(l).withByteOffset(from), count * rowBytes, stream);
                    cuMemcpyDtoHAsync(kvDownHost.withByteOffset(mirrorOffset(g, 1, s * count)),
                            cache.values(l).withByteOffset(from), count * rowBytes, stream);
                }
            }
            cuStreamSynchronize(stream);
            mirrorTask.set(first, sequences, count);
            cpuRunner.parallel(group * sequences, mirrorTask);
        }
    }

    /** Byte offset in {@link #kvDown} of row {@code row} of side {@code side} (0 keys, 1 values) of group block {@code g}. */
    private long mirrorOffset(int g, int side, int row) {
        return ((2L * g + side) * rows + row) * 2L * config.keyValueDim();
    }

    /** Widens one (block, sequence) pair's rows from {@link #kvDown} into that sequence's CPU cache. */
    private final class MirrorTask implements CpuThreadPool.RangeTask {
        private int first;
        private int sequences;
        private int count;

        void set(int first, int sequences, int count) {
            this.first = first;
            this.sequences = sequences;
            this.count = count;
        }

        @Override
        public void run(int start, int end, int worker) {
            for (int i = start; i < end; i++) {
                int g = i / sequences;
                int s = i % sequences;
                cpuRunner.writeKvRowsHalves(mirrorCaches[s].cpuMirror, cpuBlocks[first + g], mirrorPositions[s], count,
                        kvDown, mirrorOffset(g, 0, s * count), mirrorOffset(g, 1, s * count));
            }
        }
    }

    /**
     * RoPE, the KV-cache write and attention for {@code count} tokens starting at token row {@code row}, all of one
     * sequence whose positions come from {@code p}.
     */
    private void attention(int l, DevBlock b, CudaKvCache cache, CUdeviceptr p, int row, int count) {
        ModelConfig c = config;
        CUdeviceptr kc = cache.keys(l);
        CUdeviceptr vc = cache.values(l);
        CUdeviceptr qr = q.withByteOffset(4L * row * c.queryDim());
        CUdeviceptr kr = k.withByteOffset(4L * row * c.keyValueDim());
        CUdeviceptr vr = v.withByteOffset(4L * row * c.valueDim());
        CUdeviceptr out = attn.withByteOffset(4L * row * c.queryDim());
        kernels.qkvPost(stream, qr, kr, vr, b.qBias(), b.kBias(), b.vBias(), b.qNorm(), b.kNorm(), invFreq,
                c.ropeDimensions(), c.ropeLayout() == RopeLayout.HALVES, c.rmsNormEps(), p, kc, vc,
                c.headCount(), c.headCountKv(), c.headDim(), count);
        if (count == 1) {
            kernels.attnDecode(stream, qr, kc, vc, p, partial, counters, out, c.headCount(), c.headCountKv(),
                    c.headDim(), splits);
        } else {
            kernels.attnPrefill(stream, qr, kc, vc, p, out, count, c.headCount(), c.headCountKv(), c.headDim());
        }
    }

    /** out (+)= a16 · W^T on tensor cores, W dequantized to fp16 first unless it already is. */
    private void gemm(DevMatrix w, CUdeviceptr out, int count, boolean accumulate) {
        CUdeviceptr b = w.ptr();
        if (w.type() != GgmlType.F16) {
            kernels.dequantF16(stream, w.type(), w.ptr(), w.rowBytes(), w.rows(), w.cols(), w16);
            b = w16;
        }
        kernels.gemm(stream, a16, b, out, count, w.rows(), w.cols(), accumulate);
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
        for (int t0 = 0; t0 < count; ) {
            int left = count - t0;
            int nt = !vector ? Math.min(8, left) : left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
            CUdeviceptr xin = in.withByteOffset(4L * t0 * cols);
            CUdeviceptr y0 = outs[0].withByteOffset(4L * t0 * m0.rows());
            CUdeviceptr y1 = !swiglu && mats.length > 1 ? outs[1].withByteOffset(4L * t0 * mats[1].rows()) : null;
            CUdeviceptr y2 = mats.length > 2 ? outs[2].withByteOffset(4L * t0 * mats[2].rows()) : null;
            kernels.matvec(stream, m0.type(), nt, mode, m0.ptr(), mats.length > 1 ? mats[1].ptr() : null,
                    mats.length > 2 ? mats[2].ptr() : null, m0.rows(),
                    swiglu ? 0 : mats.length > 1 ? mats[1].rows() : 0, mats.length > 2 ? mats[2].rows() : 0,
                    m0.rowBytes(), cols, xin, y0, y1, y2, norm, config.rmsNormEps());
            t0 += nt;
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        device.makeCurrent();
        if (weights != null) {
            weights.close();
        }
        if (cpuRunner != null) {
            cpuRunner.close();
        }
        freeHost(kvUpHost);
        freeHost(kvDownHost);
        for (CUdeviceptr p : allocations) {
            cuMemFree(p);
        }
        allocations.clear();
        freeHost(paramsHost);
        freeHost(seqParamsHost);
        freeHost(xHost);
        freeHost(logitsHost);
        try {
            cuStreamDestroy(stream);
        } catch (RuntimeException ignored) {
            // never created (preparation failed before it)
        }
    }

    private static void freeHost(Pointer p) {
        if (p.equals(new Pointer())) {
            return;  // never allocated
        }
        try {
            cuMemFreeHost(p);
        } catch (RuntimeException ignored) {
            // never allocated (preparation failed before it)
        }
    }
}
