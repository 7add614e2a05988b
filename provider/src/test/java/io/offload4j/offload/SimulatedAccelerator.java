package io.offload4j.offload;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.Accelerator;
import io.offload4j.backend.AcceleratorModel;
import io.offload4j.backend.AcceleratorOptions;
import io.offload4j.backend.BoundUnit;
import io.offload4j.backend.CopyRing;
import io.offload4j.backend.DeviceMemoryException;
import io.offload4j.backend.DeviceWeights;
import io.offload4j.backend.KvCache;
import io.offload4j.backend.Step;
import io.offload4j.model.Model;
import io.offload4j.model.ModelConfig;
import io.offload4j.model.Weight;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * An accelerator that computes nothing but checks everything the offload layer asks of it: each unit computes from
 * memory that holds it (a resident buffer, or a slot whose copy of that very unit the compute waited for), a copy
 * never overwrites a slot before the slot's unit has computed, every unit of a step runs once and in order (here or,
 * through the hand-off, on the CPU), and every byte a step copies is counted.
 */
final class SimulatedAccelerator implements Accelerator {

    record Buffer(long bytes, int slot) implements DeviceWeights {
        @Override
        public void free() {}
    }

    /** {@code unit}: the index the ring copies it by (from 0 on each device); {@code id}: block or head-slice number
     * in the whole model (blocks first), as a step's order records it. */
    record Bound(int unit, int id, Buffer weights) implements BoundUnit {}

    /** A sparse block bound to its attention part and an expert pool. */
    record PooledBound(int unit, int id, Buffer weights, Pool pool) implements BoundUnit {}

    /**
     * An expert pool: which expert (pool unit) each slot holds, and whether the compute waited for its copy. Copies
     * and computes are checked as the tiers use them: an expert computes only from a slot holding it, after its copy.
     * Copies land in order, as {@link CopyRing} says: waiting for one waits for every copy issued before it.
     */
    final class Pool implements CopyRing {
        final long[] bytes;
        final int[] holds;
        private final long[] copySerial;  // per slot: the serial of its last copy
        private long copiesIssued;
        private long awaitedThrough;      // the compute waits for every copy up to this serial
        /** Calls of {@link #awaitCopy}: each is a driver call on the decode step's critical path on a real device. */
        long awaits;
        final long slotBytes;
        long copies;
        /** Per slot: the block run (a routing read) whose expert computes last read it. */
        final long[] readInRun;
        long run;
        /** In this run, after its last compute so far: a copy into a slot that compute read (it waits for it). */
        boolean waitingCopyQueued;
        boolean computedInRun;
        /** Copies issued after a block's last compute that queued behind such a waiting copy, though their slots were
         *  free (a later pass's misses, whose compute follows in the same run, do not count). */
        long copiesAheadBehindAWait;
        private long behindAWait;

        Pool(long[] bytes, int slots, long slotBytes) {
            this.bytes = bytes;
            this.holds = new int[slots];
            Arrays.fill(holds, -1);
            this.copySerial = new long[slots];
            this.slotBytes = slotBytes;
            this.readInRun = new long[slots];
        }

        /** A block's routing was read: its misses and what it copies ahead follow. */
        void nextRun() {
            copiesAheadBehindAWait += behindAWait; // no compute of that run followed them: they were copies ahead
            behindAWait = 0;
            run++;
            waitingCopyQueued = false;
            computedInRun = false;
        }

        @Override
        public DeviceWeights slot(int s) {
            return new Buffer(slotBytes, -1);
        }

        @Override
        public void copy(int unit, int slot, int ticket) {
            assertEquals(slot, ticket, "an expert copy's ticket is its slot");
            assertTrue(bytes[unit] <= slotBytes, "expert " + unit + " fits a slot");
            if (computedInRun) { // a copy ahead (or a later pass's miss): the copy stream runs copies in order
                if (readInRun[slot] == run) {
                    waitingCopyQueued = true;
                } else if (waitingCopyQueued) {
                    behindAWait++;
                }
            }
            holds[slot] = unit;
            copySerial[slot] = ++copiesIssued;
            copies++;
            copiedBytes += bytes[unit];
        }

        @Override
        public void awaitCopy(int ticket) {
            awaits++;
            awaitedThrough = Math.max(awaitedThrough, copySerial[ticket]);
        }

        /** Whether the compute has waited for the last copy into {@code slot}. */
        boolean awaited(int slot) {
            return copySerial[slot] <= awaitedThrough;
        }

        @Override
        public void slotUsed(int slot) {}

        @Override
        public long copyNanos(int ticket) {
            return 1000;
        }

        /** Every copy issued has landed (the host waited): nothing is left for the compute to wait for. */
        @Override
        public void drain() {
            awaitedThrough = copiesIssued;
        }

        @Override
        public long pinnedBytes() {
            return 0;
        }

        @Override
        public long slotBytes() {
            return holds.length * slotBytes;
        }

        @Override
        public void close() {}
    }

    /**
     * A stand-in for a sparse block's numbers: each row's routed experts are a function of its token and the block
     * (skewed towards low expert numbers, so that a cache has hot experts to keep), each expert contributes a value
     * of its own times its weight to a per-row sum, and the sums of a step are its "logits". A run with experts in a
     * pool must give the sums of the resident run: every choice computed exactly once, from its own expert.
     */
    static int[] route(int block, int token, int experts, int k) {
        int[] chosen = new int[k];
        long h = 0x9E3779B97F4A7C15L * (block * 7919L + token + 1);
        for (int j = 0; j < k; j++) {
            while (true) {
                h = h * 6364136223846793005L + 1442695040888963407L;
                double u = ((h >>> 11) & ((1L << 53) - 1)) / (double) (1L << 53);
                int e = (int) (experts * u * u * u);
                boolean dup = false;
                for (int i = 0; i < j; i++) {
                    dup |= chosen[i] == e;
                }
                if (!dup) {
                    chosen[j] = e;
                    break;
                }
            }
        }
        return chosen;
    }

    static float weight(int block, int token, int j) {
        return 0.25f + ((block * 31 + token * 17 + j * 7) % 13) / 16f;
    }

    static double value(int block, int expert) {
        return Math.sin(block * 1.7 + expert * 0.37) + 1.5;
    }

    private io.offload4j.model.ModelWeights loadedWeights;
    /** Expert misses of decode tokens the CPU computed (checked against a reference), in total. */
    long cpuExpertsChecked;

    /** Per step, each row's sum of expert contributions (see {@link #route}). */
    final List<double[]> expertSums = new ArrayList<>();
    private double[] sums = new double[0];
    private int[][] contributions = new int[0][];

    static final class Cache implements KvCache {
        final int capacity;

        Cache(int capacity) {
            this.capacity = capacity;
        }

        @Override
        public int capacity() {
            return capacity;
        }

        @Override
        public long byteSize() {
            return capacity;
        }

        @Override
        public void close() {}
    }

    long copiedBytes;
    int steps;
    /** Marks, in a step's order, a unit the CPU computed. */
    static final int ON_CPU = -1;
    /** Per step, the units in the order they ran ({@link #ON_CPU} for one the CPU ran). */
    final List<int[]> stepOrder = new ArrayList<>();
    /** The last step's rows and the rows whose logits it produced; the last K/V hand-off to the host (from, count). */
    int lastRows;
    int lastOutputs;
    int[] lastKvHandOff;
    /** K/V rows the CPU's blocks wrote into the accelerator's cache (hybrid steps), and the highest position. */
    int kvRowsWritten;
    int lastKvRowPosition = -1;
    private final List<Integer> current = new ArrayList<>();
    SimModel model;
    /** Set by a test of a pipeline: activations go to and come from other stages, not the CPU. */
    boolean pipelineStage;
    /** Whether stages copy activations device to device (else through a host array). */
    boolean peerCopies;
    /** The rows the last step received from the previous stage and handed to the next. */
    int received;
    int handedOn;

    @Override
    public String description() {
        return "simulated accelerator";
    }

    @Override
    public String name() {
        return "sim";
    }

    /** What {@link #freeMemory} answers, call after call (the last one repeats): another process may take some. */
    long[] free = {1L << 40};
    private int freeCalls;
    /** Resident bytes one load may upload before the device runs out of memory. */
    long uploadLimit = Long.MAX_VALUE;
    int loads;

    @Override
    public long freeMemory() {
        return free[Math.min(freeCalls++, free.length - 1)];
    }

    @Override
    public long workspaceBytes(Model model, AcceleratorOptions options) {
        return 0;
    }

    @Override
    public long kvCacheBytes(Model model, int capacity) {
        return capacity;
    }

    @Override
    public AcceleratorModel load(Model m, AcceleratorOptions options) {
        loads++;
        loadedWeights = m.weights();
        model = new SimModel(m.config(), options.firstBlock());
        return model;
    }

    @Override
    public double measureHostToDevice(long bytes, long busyNanos, Runnable whileRunning) {
        if (whileRunning != null) {
            whileRunning.run();
        }
        return 50;
    }

    @Override
    public void close() {}

    final class SimModel implements AcceleratorModel, CopyRing {
        private final ModelConfig config;
        private final int firstBlock;
        private long[] unitBytes;
        private int[] slotHolds;
        private boolean[] slotFree;
        private boolean[] slotAwaited;
        private int[] ticketSlot;
        private Buffer[] slots;
        private boolean inStep;

        SimModel(ModelConfig config, int firstBlock) {
            this.config = config;
            this.firstBlock = firstBlock;
        }

        @Override
        public ModelConfig config() {
            return config;
        }

        @Override
        public long unitBytes(Weight... parts) {
            return Arrays.stream(parts).mapToLong(w -> w.data().byteSize()).sum();
        }

        private long uploaded;

        @Override
        public DeviceWeights upload(Weight... parts) {
            long bytes = unitBytes(parts);
            if (uploaded + bytes > uploadLimit) {
                throw new DeviceMemoryException("sim", "a resident unit of weights", bytes, null);
            }
            uploaded += bytes;
            return new Buffer(bytes, -1);
        }

        @Override
        public CopyRing copyRing(Weight[][] units, boolean[] streamed, boolean[] pinned, int slots, long slotBytes,
                                 int tickets) {
            unitBytes = Arrays.stream(units).mapToLong(this::unitBytes).toArray();
            for (int u = 0; u < units.length; u++) {
                assertTrue(!streamed[u] || unitBytes[u] <= slotBytes, "unit " + u + " fits a slot");
            }
            this.slots = new Buffer[slots];
            for (int s = 0; s < slots; s++) {
                this.slots[s] = new Buffer(slotBytes, s);
            }
            slotHolds = new int[slots];
            Arrays.fill(slotHolds, -1);
            slotFree = new boolean[slots];
            Arrays.fill(slotFree, true);
            slotAwaited = new boolean[slots];
            ticketSlot = new int[tickets];
            return this;
        }

        @Override
        public BoundUnit bindBlock(int block, DeviceWeights weights) {
            return new Bound(block - firstBlock, block, (Buffer) weights);
        }

        // ------------------------------------------------------------------ experts placed one by one

        private int[] stepChosen = new int[0];
        private float[] stepWeights = new float[0];
        Pool pool;

        @Override
        public CopyRing expertPool(Weight[][] experts, boolean[] pinned, int slots, long slotBytes) {
            assertTrue(config.moe() != null);
            pool = new Pool(Arrays.stream(experts).mapToLong(this::unitBytes).toArray(), slots, slotBytes);
            return pool;
        }

        @Override
        public BoundUnit bindPooledBlock(int block, DeviceWeights attention, CopyRing p) {
            assertTrue(p == pool);
            return new PooledBound(block - firstBlock, block, (Buffer) attention, pool);
        }

        @Override
        public boolean runSparseAttentionAsGraph(KvCache cache, BoundUnit block, BoundUnit predictNext, Step step) {
            assertEquals(1, step.rows(), "a recorded attention part is a decode token's");
            assertTrue(((PooledBound) block).weights().slot() < 0, "a recorded attention part is resident");
            assertTrue(cache == step.cache(0), "the graph belongs to the step's sequence");
            sparseAttentionGraphs++;
            runSparseAttention(block, step);
            if (predictNext != null) {
                predictRouting(predictNext, step);
            }
            return false;
        }

        /** -1: never; n: the (n+1)-th call of {@link #runPooledExperts} from now throws. */
        int failPooledExpertsAfter = -1;
        /** -1: never; n: the (n+1)-th call of {@link #runSparseAttention} from now throws. */
        int failSparseAttentionAfter = -1;

        /** Calls of {@link #runSparseAttentionAsGraph}. */
        int sparseAttentionGraphs;

        @Override
        public void runSparseAttention(BoundUnit block, Step step) {
            if (failSparseAttentionAfter >= 0 && failSparseAttentionAfter-- == 0) {
                throw new IllegalStateException("simulated device failure in a sparse block's attention");
            }
            PooledBound b = (PooledBound) block;
            compute(new Bound(b.unit(), b.id(), b.weights()), step);
            int k = config.moe().expertUsedCount();
            int n = step.rows() * k;
            stepChosen = new int[n];
            stepWeights = new float[n];
            for (int t = 0; t < step.rows(); t++) {
                int[] c = route(b.id(), step.token(t), config.moe().expertCount(), k);
                for (int j = 0; j < k; j++) {
                    stepChosen[t * k + j] = c[j];
                    stepWeights[t * k + j] = weight(b.id(), step.token(t), j);
                }
            }
            contributions = new int[step.rows()][k];
            inPooledBlock = true;
            cpuRow = null;
        }

        private boolean inPooledBlock;
        private float[] x0;
        private float[] cpuRow;

        /** The activation a pooled block's CPU misses start from, made up per block. */
        private float[] activationFor(int block) {
            int dim = config.embeddingLength();
            float[] x = new float[dim];
            for (int i = 0; i < dim; i++) {
                x[i] = (float) Math.sin(0.1 * i + block);
            }
            return x;
        }

        /**
         * Expert {@code e} of {@code block} on {@code x}, from scalar dequantised rows in double precision: the
         * reference for the CPU's expert misses.
         */
        private double[] referenceExpert(int block, int e, float[] x) {
            io.offload4j.model.BlockWeights b = loadedWeights.blocks().get(block);
            int dim = config.embeddingLength();
            double ss = 0;
            for (float v : x) {
                ss += (double) v * v;
            }
            double inv = 1 / Math.sqrt(ss / dim + config.rmsNormEps());
            float[] xn = new float[dim];
            for (int i = 0; i < dim; i++) {
                xn[i] = (float) (x[i] * inv * b.ffnNorm()[i]);
            }
            Weight g = b.moe().gate()[e];
            Weight u = b.moe().up()[e];
            Weight d = b.moe().down()[e];
            float[] row = new float[Math.max(dim, g.rows())];
            double[] h = new double[g.rows()];
            for (int r = 0; r < g.rows(); r++) {
                double a = dot(g, r, row, xn);
                double c = dot(u, r, row, xn);
                h[r] = a / (1 + Math.exp(-a)) * c;
            }
            float[] hf = new float[h.length];
            for (int r = 0; r < h.length; r++) {
                hf[r] = (float) h[r];
            }
            double[] y = new double[dim];
            for (int r = 0; r < dim; r++) {
                y[r] = dot(d, r, row, hf);
            }
            return y;
        }

        private static double dot(Weight w, int r, float[] row, float[] x) {
            io.offload4j.quant.CpuKernels.scalar(w.type()).dequantize(w.data(), r * w.rowBytes(), row, 0, w.cols());
            double s = 0;
            for (int i = 0; i < w.cols(); i++) {
                s += (double) row[i] * x[i];
            }
            return s;
        }

        private int[] predictedIds = new int[0];
        /** Predictions made (each checked: the next block's attention part is resident). */
        int predictions;

        /** The next block's routing, exact for even tokens, one expert off for odd ones. */
        @Override
        public void predictRouting(BoundUnit next, Step step) {
            PooledBound b = (PooledBound) next;
            assertTrue(b.weights().slot() < 0, "a prediction reads the next block's router from resident memory");
            int k = config.moe().expertUsedCount();
            int experts = config.moe().expertCount();
            predictedIds = new int[step.rows() * k];
            for (int t = 0; t < step.rows(); t++) {
                int[] c = route(b.id(), step.token(t), experts, k);
                for (int j = 0; j < k; j++) {
                    predictedIds[t * k + j] = step.token(t) % 2 == 1 && j == 0 ? (c[j] + 1) % experts : c[j];
                }
            }
            predictions++;
        }

        @Override
        public void readPredicted(int rows, int[] predicted) {
            System.arraycopy(predictedIds, 0, predicted, 0, predictedIds.length);
        }

        @Override
        public void readRouting(int rows, int[] chosen, float[] weights) {
            assertEquals(stepChosen.length, rows * config.moe().expertUsedCount());
            if (pool != null) {
                pool.nextRun();
            }
            System.arraycopy(stepChosen, 0, chosen, 0, stepChosen.length);
            System.arraycopy(stepWeights, 0, weights, 0, stepWeights.length);
        }

        @Override
        public void runPooledExperts(BoundUnit block, Step step, int[] slots, float[] weights) {
            if (failPooledExpertsAfter >= 0 && failPooledExpertsAfter-- == 0) {
                throw new IllegalStateException("simulated device failure in a sparse block's experts");
            }
            PooledBound b = (PooledBound) block;
            int k = config.moe().expertUsedCount();
            int experts = config.moe().expertCount();
            if (cpuRow != null) {
                // the CPU computed this decode token's misses: the row came back with exactly their weighted outputs
                assertEquals(1, step.rows(), "the CPU takes misses of decode tokens only");
                int dim = config.embeddingLength();
                double[] want = new double[dim];
                for (int i = 0; i < k; i++) {
                    if (slots[i] >= 0) {
                        continue;
                    }
                    double[] y = referenceExpert(b.id(), stepChosen[i], x0);
                    for (int r = 0; r < dim; r++) {
                        want[r] += stepWeights[i] * y[r];
                    }
                    contributions[0][i]++;
                    sums[0] += stepWeights[i] * value(b.id(), stepChosen[i]);
                    cpuExpertsChecked++;
                }
                double scale = 0;
                for (double v : want) {
                    scale = Math.max(scale, Math.abs(v));
                }
                for (int r = 0; r < dim; r++) {
                    assertEquals(want[r], cpuRow[r] - x0[r], 1e-3 * scale + 1e-6, "block " + b.id() + " row " + r
                            + " of the CPU's experts");
                }
                cpuRow = null;
            }
            // copies that waited for an earlier pass were this pass's misses: only copies after the last pass count
            pool.computedInRun = true;
            pool.waitingCopyQueued = false;
            pool.behindAWait = 0;
            for (int i = 0; i < step.rows() * k; i++) {
                if (slots[i] < 0) {
                    continue;
                }
                int unit = pool.holds[slots[i]];
                assertTrue(pool.awaited(slots[i]), "an expert computes before its copy was waited for");
                pool.readInRun[slots[i]] = pool.run;
                // the pool's units are the sparse blocks' experts in order: unit = block × experts + expert here
                assertEquals(b.id() * experts + stepChosen[i], unit, "row " + i / k + " choice " + i % k
                        + " of block " + b.id() + " computes from a slot holding pool unit " + unit);
                assertEquals(stepWeights[i], weights[i]);
                contributions[i / k][i % k]++;
                sums[i / k] += weights[i] * value(b.id(), stepChosen[i]);
            }
        }

        @Override
        public void runSharedExpert(BoundUnit block, Step step) {
            inPooledBlock = false;
            for (int[] row : contributions) {
                for (int c : row) {
                    assertEquals(1, c, "every choice is computed once: " + Arrays.deepToString(contributions));
                }
            }
        }

        /** A sparse block computed whole (resident or streamed): the same sums, in choice order. */
        private void wholeSparseBlock(Bound b, Step step) {
            int k = config.moe().expertUsedCount();
            for (int t = 0; t < step.rows(); t++) {
                int[] c = route(b.id(), step.token(t), config.moe().expertCount(), k);
                for (int j = 0; j < k; j++) {
                    sums[t] += weight(b.id(), step.token(t), j) * value(b.id(), c[j]);
                }
            }
        }

        @Override
        public BoundUnit bindHeadSlice(int firstRow, Weight slice, DeviceWeights weights, boolean whole) {
            int id = config.blockCount() + (int) Math.round((double) firstRow / slice.rows());
            return new Bound(id - firstBlock, id, (Buffer) weights);
        }

        @Override
        public KvCache newKvCache(int capacity) {
            return new Cache(capacity);
        }

        @Override
        public void stageInputs(Step step) {
            assertTrue(step.rows() > 0);
        }

        @Override
        public void beginStep(Step step) {
            inStep = true;
            current.clear();
            sums = new double[step.rows()];
        }

        private void compute(BoundUnit b, Step step) {
            assertTrue(inStep);
            assertNotNull(step.cache(0));
            Bound bound = (Bound) b;
            Buffer w = bound.weights();
            if (w.slot() >= 0) {
                assertEquals(bound.unit(), slotHolds[w.slot()], "unit " + bound.unit() + " computes from slot "
                        + w.slot() + ", which holds unit " + slotHolds[w.slot()]);
                assertTrue(slotAwaited[w.slot()], "unit " + bound.unit() + " computes before waiting for its copy");
            }
            current.add(bound.id());
        }

        @Override
        public void runBlock(BoundUnit block, Step step) {
            compute(block, step);
            Bound b = (Bound) block;
            if (config.moe() != null && b.id() < config.blockCount()) {
                wholeSparseBlock(b, step);
            }
        }

        @Override
        public void runHeadSlice(BoundUnit slice, Step step) {
            compute(slice, step);
        }

        @Override
        public void endStep(Step step) {
            inStep = false;
            lastRows = step.rows();
            lastOutputs = step.outputs();
        }

        @Override
        public void finishStep() {
            if (!current.isEmpty() && config.moe() != null) {
                expertSums.add(sums.clone());
            }
            if (!current.isEmpty()) {
                stepOrder.add(current.stream().mapToInt(Integer::intValue).toArray());
                current.clear();
                steps++;
            }
        }

        @Override
        public void readLogits(int row, float[] logits) {
            Arrays.fill(logits, 0, config.vocabularySize(), 0);
        }

        @Override
        public boolean runAsGraph(KvCache cache, Runnable enqueue) {
            enqueue.run();
            return true;
        }

        @Override
        public boolean graphs() {
            return false;
        }

        @Override
        public void activationToHost(float[] rows, int count) {
            assertTrue(count >= 1 && rows.length >= count * config.embeddingLength());
            if (inPooledBlock) {
                x0 = activationFor(current.getLast());
                System.arraycopy(x0, 0, rows, 0, x0.length);
                return;
            }
            if (pipelineStage) {
                handedOn = count; // the next stage's turn
            } else {
                current.add(ON_CPU); // the CPU computes the next unit
            }
        }

        @Override
        public void activationFromHost(float[] rows, int count) {
            if (inPooledBlock) {
                assertEquals(1, count);
                cpuRow = Arrays.copyOf(rows, config.embeddingLength());
                return;
            }
            if (pipelineStage) {
                assertTrue(inStep && current.isEmpty(), "a stage's input comes before its first block");
                received = count;
            } else {
                assertEquals(ON_CPU, current.getLast(), "an activation comes back only after a CPU block");
            }
        }

        @Override
        public boolean canCopyActivationFrom(AcceleratorModel previous) {
            return peerCopies && previous instanceof SimModel;
        }

        @Override
        public void activationFrom(AcceleratorModel previous, int count) {
            assertTrue(peerCopies && inStep && current.isEmpty(), "a stage's input comes before its first block");
            received = count;
        }

        @Override
        public void writeKvRow(KvCache cache, int block, int position, float[] key, float[] value) {
            assertEquals(config.keyValueDim(), key.length);
            kvRowsWritten++;
            lastKvRowPosition = Math.max(lastKvRowPosition, position);
        }

        private final Arena arena = Arena.ofAuto();

        @Override
        public MemorySegment kvStaging(long bytes) {
            return arena.allocate(bytes);
        }

        @Override
        public void copyKvToHost(KvCache cache, int block, int from, int count, long keysAt, long valuesAt) {
            assertTrue(from >= 0 && count > 0);
            lastKvHandOff = new int[] {from, count};
        }

        @Override
        public long workspaceBytes() {
            return 0;
        }

        @Override
        public void makeCurrent() {}

        // ------------------------------------------------------------------ CopyRing

        @Override
        public DeviceWeights slot(int s) {
            return slots[s];
        }

        @Override
        public void copy(int unit, int slot, int ticket) {
            assertTrue(slotFree[slot], "copy of unit " + unit + " would overwrite unit " + slotHolds[slot]
                    + " before it computed");
            slotHolds[slot] = unit;
            slotFree[slot] = false;
            slotAwaited[slot] = false;
            ticketSlot[ticket] = slot;
            copiedBytes += unitBytes[unit];
        }

        @Override
        public void awaitCopy(int ticket) {
            slotAwaited[ticketSlot[ticket]] = true;
        }

        @Override
        public void slotUsed(int slot) {
            slotFree[slot] = true;
        }

        @Override
        public long copyNanos(int ticket) {
            return 1000;
        }

        /** Every copy has landed; what was copied ahead and not yet computed is thrown away by the caller. */
        @Override
        public void drain() {
            if (slots != null) {
                Arrays.fill(slotFree, true);
                Arrays.fill(slotHolds, -1);
            }
        }

        @Override
        public long pinnedBytes() {
            return 0;
        }

        @Override
        public long slotBytes() {
            return slots.length * slots[0].bytes();
        }

        @Override
        public void close() {}
    }
}
