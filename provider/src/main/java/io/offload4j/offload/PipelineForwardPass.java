package io.offload4j.offload;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.model.ModelConfig;

/**
 * A model split over several accelerators as a pipeline: stage {@code i} is a {@link TieredForwardPass} over a run
 * of consecutive blocks on accelerator {@code i} (with its own resident units and, when its share does not fit, its
 * own staging ring); the last stage also computes the head. A step runs the stages in order and hands the activation
 * rows from one to the next, device to device where the devices allow it, else through host memory
 * ({@link TieredForwardPass#connectAfter}). Each sequence has one KV cache per
 * stage, holding that stage's blocks ({@link PipelineKvCache}). Prepared by {@link TieredPasses} for an
 * {@link io.offload4j.backend.AcceleratorGroup}.
 *
 * <p>The stages run one after the other within a step, so one accelerator works at a time: the pipeline adds the
 * accelerators' memory (a model that fits their sum is resident everywhere and never streams), not their speed.
 * Overlapping micro-batches across stages is not done yet.
 */
public final class PipelineForwardPass implements ForwardPass {

    private final TieredForwardPass[] stages;
    private final int[] starts;
    private final int rows;
    // scratch for a batch's part, filled per call: [stage][row] caches, the part's tokens, positions and logits rows
    private final KvCache[][] stageCaches;
    private final int[] partTokens;
    private final int[] partPositions;
    private final float[][] partLogits;
    private boolean closed;

    PipelineForwardPass(TieredForwardPass[] stages, int[] starts) {
        this.stages = stages.clone();
        this.starts = starts.clone();
        ModelConfig c = stages[0].config();
        int rows = Integer.MAX_VALUE;
        for (TieredForwardPass s : stages) {
            rows = Math.min(rows, s.rows());
        }
        this.rows = rows;
        float[] between = new float[rows * c.embeddingLength()]; // where no device copy: stage i writes, i+1 reads
        for (int i = 1; i < stages.length; i++) {
            stages[i].connectAfter(stages[i - 1], between);
        }
        this.stageCaches = new KvCache[stages.length][rows];
        this.partTokens = new int[rows];
        this.partPositions = new int[rows];
        this.partLogits = new float[rows][];
    }

    private TieredForwardPass last() {
        return stages[stages.length - 1];
    }

    @Override
    public void forward(KvCache cache, int[] tokens, int offset, int count, int startPos, float[] logits) {
        KvCache[] parts = own(cache).parts;
        for (int s = 0; s < stages.length - 1; s++) {
            stages[s].stageForward(parts[s], tokens, offset, count, startPos);
        }
        last().forward(parts[stages.length - 1], tokens, offset, count, startPos, logits);
    }

    @Override
    public void forwardAll(KvCache cache, int[] tokens, int offset, int count, int startPos, float[][] logits) {
        KvCache[] parts = own(cache).parts;
        if (count < 1 || count > logits.length) {
            throw new IllegalArgumentException("forwardAll of " + count + " tokens with " + logits.length
                    + " logits rows");
        }
        for (int s = 0; s < stages.length - 1; s++) {
            stages[s].stageForward(parts[s], tokens, offset, count, startPos);
        }
        last().forwardAll(parts[stages.length - 1], tokens, offset, count, startPos, logits);
    }

    @Override
    public void forwardBatch(KvCache[] caches, int[] tokens, int[] positions, int batch, float[][] logits) {
        if (batch < 1 || batch > caches.length || batch > tokens.length || batch > positions.length
                || batch > logits.length) {
            throw new IllegalArgumentException("batch of " + batch + " with " + caches.length + " caches, "
                    + tokens.length + " tokens, " + positions.length + " positions and " + logits.length
                    + " logits arrays");
        }
        // part by part, every stage for a part before the next part: the stages share one activation buffer
        for (int from = 0; from < batch; from += rows) {
            int n = Math.min(rows, batch - from);
            for (int b = 0; b < n; b++) {
                KvCache[] parts = own(caches[from + b]).parts;
                for (int s = 0; s < stages.length; s++) {
                    stageCaches[s][b] = parts[s];
                }
                partTokens[b] = tokens[from + b];
                partPositions[b] = positions[from + b];
                partLogits[b] = logits[from + b];
            }
            try {
                for (int s = 0; s < stages.length; s++) {
                    stages[s].batchRows(stageCaches[s], partTokens, partPositions, 0, n,
                            s == stages.length - 1 ? partLogits : null);
                }
            } finally {
                for (KvCache[] c : stageCaches) {
                    java.util.Arrays.fill(c, 0, n, null);
                }
                java.util.Arrays.fill(partLogits, 0, n, null);
            }
        }
    }

    private PipelineKvCache own(KvCache cache) {
        if (!(cache instanceof PipelineKvCache p) || p.owner != this) {
            throw new IllegalArgumentException("the KV cache was not created by this forward pass");
        }
        return p;
    }

    @Override
    public KvCache newKvCache(int capacity) {
        KvCache[] parts = new KvCache[stages.length];
        try {
            for (int s = 0; s < stages.length; s++) {
                parts[s] = stages[s].newKvCache(capacity);
            }
            return new PipelineKvCache(this, parts);
        } catch (RuntimeException | Error e) {
            for (KvCache p : parts) {
                if (p != null) {
                    p.close();
                }
            }
            throw e;
        }
    }

    @Override
    public ModelConfig config() {
        return stages[0].config();
    }

    @Override
    public int maxChunkTokens() {
        return stages[0].maxChunkTokens();
    }

    @Override
    public int maxContext() {
        return stages[0].maxContext();
    }

    /** How many stages (accelerators) the model is split over. */
    public int stageCount() {
        return stages.length;
    }

    /** The first block of each stage, and the block count last. */
    public int[] stageStarts() {
        return starts.clone();
    }

    /** Stage {@code i}'s tiered pass (its plan and offload statistics). */
    public TieredForwardPass stage(int i) {
        return stages[i];
    }

    @Override
    public long freeDeviceMemory() {
        long least = Long.MAX_VALUE;
        for (TieredForwardPass stage : stages) {
            long free = stage.freeDeviceMemory();
            if (free < 0) {
                return -1;
            }
            least = Math.min(least, free);
        }
        return least;
    }

    @Override
    public String memoryReport() {
        StringBuilder r = new StringBuilder("pipeline over " + stages.length + " accelerators");
        for (TieredForwardPass s : stages) {
            r.append(System.lineSeparator()).append(s.memoryReport());
        }
        return r.toString();
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (TieredForwardPass s : stages) {
            s.close();
        }
    }

    /** One sequence's caches, one per stage, each holding its stage's blocks. */
    static final class PipelineKvCache implements KvCache {
        final PipelineForwardPass owner;
        final KvCache[] parts;
        private boolean closed;

        PipelineKvCache(PipelineForwardPass owner, KvCache[] parts) {
            this.owner = owner;
            this.parts = parts;
        }

        @Override
        public int capacity() {
            return parts[0].capacity();
        }

        /** As far as every stage's cache allows (a stage with sliding-window blocks keeps a ring; see KvCache). */
        @Override
        public int maxRewind() {
            int n = Integer.MAX_VALUE;
            for (KvCache p : parts) {
                n = Math.min(n, p.maxRewind());
            }
            return n;
        }

        /** Every stage's part can copy from the source's (nothing is copied unless all can). */
        @Override
        public boolean canCopyPrefix(KvCache source) {
            if (!(source instanceof PipelineKvCache src) || src.owner != owner || src.parts.length != parts.length) {
                return false;
            }
            for (int i = 0; i < parts.length; i++) {
                if (!parts[i].canCopyPrefix(src.parts[i])) {
                    return false;
                }
            }
            return true;
        }

        @Override
        public void copyPrefix(KvCache source, int positions) {
            KvCache.requireCopyable(this, source, positions);
            for (int i = 0; i < parts.length; i++) {
                parts[i].copyPrefix(((PipelineKvCache) source).parts[i], positions);
            }
        }

        @Override
        public long byteSize() {
            long n = 0;
            for (KvCache p : parts) {
                n += p.byteSize();
            }
            return n;
        }

        @Override
        public long heldBytes() {
            long n = 0;
            for (KvCache p : parts) {
                n += p.heldBytes();
            }
            return n;
        }

        @Override
        public void close() {
            if (closed) {
                return;
            }
            closed = true;
            for (KvCache p : parts) {
                p.close();
            }
        }
    }
}
