package io.offload4j.backend;

import io.offload4j.model.ModelConfig;
import io.offload4j.model.Weight;
import java.lang.foreign.MemorySegment;

/**
 * A model on an accelerator: its workspace, and the operations a step is made of. The offload layer decides where
 * each unit's weights are (uploaded once, or streamed into a slot of a {@link CopyRing}), binds each unit to that
 * memory once, and then, per step, calls {@link #stageInputs}, {@link #beginStep}, {@link #runBlock} / {@link #runHeadSlice} for the
 * units in order (interleaved with the ring's copies and, in a hybrid step, the CPU's blocks), {@link #endStep} and
 * {@link #finishStep}. Every call enqueues work on the device's compute stream and returns; only the calls that say so
 * wait. Nothing on the per-step path allocates on the host.
 */
public interface AcceleratorModel extends AutoCloseable {

    ModelConfig config();

    /** Device bytes of a unit made of {@code parts}, laid out back to back as the device computes from them. */
    long unitBytes(Weight... parts);

    /** Allocates device memory for a unit of {@code parts} and copies them in from the file mapping. */
    DeviceWeights upload(Weight... parts);

    /**
     * A ring of {@code slots} staging slots of {@code slotBytes} each for the units in {@code units} whose
     * {@code streamed} flag is set; those with {@code pinned} set are first copied into pinned host memory (the
     * others are gathered from the file mapping at every copy). {@code tickets}: copies whose events it keeps.
     */
    CopyRing copyRing(Weight[][] units, boolean[] streamed, boolean[] pinned, int slots, long slotBytes, int tickets);

    /** Block {@code block} of the model, computing from {@code weights}. */
    BoundUnit bindBlock(int block, DeviceWeights weights);

    /**
     * Rows {@code firstRow ..} of the output head ({@code slice}, a row slice of the output matrix), computing from
     * {@code weights}; {@code whole}: the slice is the whole head.
     */
    BoundUnit bindHeadSlice(int firstRow, Weight slice, DeviceWeights weights, boolean whole);

    KvCache newKvCache(int capacity);

    /**
     * Writes the step's parameters and its tokens' embeddings (looked up on the host) into pinned host buffers; a
     * batch's per-sequence parameters are uploaded at once. Host work: it stays outside a captured graph.
     */
    void stageInputs(Step step);

    /** Enqueues the upload of the staged parameters and embeddings: the first work of a step (and of its graph). */
    void beginStep(Step step);

    void runBlock(BoundUnit block, Step step);

    void runHeadSlice(BoundUnit slice, Step step);

    /** Enqueues the copy of the step's logits to the host. */
    void endStep(Step step);

    /** Waits for everything enqueued so far. */
    void finishStep();

    /** Output row {@code row}'s logits of the finished step. */
    void readLogits(int row, float[] logits);

    /**
     * Row {@code row}'s final hidden state (after the output norm) of a finished {@link Step#hiddenOutputs()} step,
     * into {@code out[offset .. offset + embeddingLength)}.
     */
    default void readHidden(int row, float[] out, int offset) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " does not produce hidden states");
    }

    /**
     * Runs the step {@code enqueue} would enqueue (every unit resident, one sequence) as a graph captured once per KV
     * cache and replayed after that. Returns true when it captured (and so ran {@code enqueue}) in this call.
     */
    boolean runAsGraph(KvCache cache, Runnable enqueue);

    /**
     * Runs the batched decode step {@code enqueue} would enqueue (every unit resident, {@code rows} sequences) as a
     * graph captured once per row count and replayed after that, for whichever sequences the step holds (their
     * positions and caches are inputs the step stages, not baked into the graph). Returns true when it ran
     * {@code enqueue} in this call; without graphs it simply does.
     */
    default boolean runBatchAsGraph(int rows, Runnable enqueue) {
        enqueue.run();
        return true;
    }

    /** Bytes of this device's memory free now (cuMemGetInfo on a GPU), or -1 when unknown. */
    default long freeMemory() {
        return -1;
    }

    /** Whether {@link #runAsGraph} should be used for resident decode steps. */
    boolean graphs();

    // ------------------------------------------------------------------ experts as units (a MoE larger than the GPU)

    /**
     * A pool of {@code slots} expert slots of {@code slotBytes} each, in one device allocation (slot s at
     * {@code s × slotBytes}), through which the units of {@code experts} (each an expert's gate, up and down) are
     * copied; those with {@code pinned} set are first copied into pinned host memory. Copies are issued with
     * {@link CopyRing#copy}(expert, slot, ticket = slot); a pooled block's experts compute from it.
     */
    CopyRing expertPool(Weight[][] experts, boolean[] pinned, int slots, long slotBytes);

    /**
     * Sparse block {@code block} whose attention part (Q, K, V, O, router and shared expert:
     * {@link io.offload4j.model.BlockWeights#attentionMatrices()}) is in {@code attention} and whose routed experts
     * compute from the slots of {@code pool}: run with {@link #runSparseAttention} then {@link #runPooledExperts}.
     */
    BoundUnit bindPooledBlock(int block, DeviceWeights attention, CopyRing pool);

    /**
     * A pooled block's first part: attention, the FFN norm and the router's choices (softmax, top k, weights); the
     * routed experts are left to {@link #runPooledExperts}, the shared expert to {@link #runSharedExpert}. The
     * activation is left as the FFN's input (the residual stream after attention).
     */
    void runSparseAttention(BoundUnit block, Step step);

    /**
     * {@link #runSparseAttention} for a one-token decode step of the sequence of {@code cache}, with the block's
     * attention part resident: a device with graphs records it once per (cache, block) and replays it for every later
     * token (the position is read from device memory), one launch instead of a dozen — the host enqueues each sparse
     * block's work between reading its choices, so its launches are the decode step's critical path. With
     * {@code predictNext} (not null) the recording also holds {@link #predictRouting} for that block, and a device may
     * add the choices' copy to the host that the next {@link #readRouting} waits for. Returns whether this call
     * recorded the graph. The default runs the block's work (and the prediction) directly.
     */
    default boolean runSparseAttentionAsGraph(KvCache cache, BoundUnit block, BoundUnit predictNext, Step step) {
        runSparseAttention(block, step);
        if (predictNext != null) {
            predictRouting(predictNext, step);
        }
        return false;
    }

    /**
     * Waits for the work so far and copies the last sparse attention's choices for the step's {@code rows} rows:
     * {@code chosen[row × k + j]} (expert ids) and their {@code weights}.
     */
    void readRouting(int rows, int[] chosen, float[] weights);

    /**
     * Adds {@code Σ_j weights[t × k + j] · expert(slots[t × k + j])(norm(x_t))} into the activation of the step's
     * rows, each expert computed from the pool slot given; a weight of 0 adds nothing (its slot must still hold an
     * expert of this block: the kernels compute it).
     */
    void runPooledExperts(BoundUnit block, Step step, int[] slots, float[] weights);

    /**
     * Enqueues pooled block {@code next}'s router (its attention part must be resident) applied to the FFN input of
     * the sparse block just run by {@link #runSparseAttention}, and the copy of its top-k choices to the host: a
     * prediction of {@code next}'s experts, read with {@link #readPredicted} once the following
     * {@link #readRouting} has waited for the stream.
     */
    void predictRouting(BoundUnit next, Step step);

    /** The step's rows × k experts predicted by the last {@link #predictRouting}, after a {@link #readRouting}. */
    void readPredicted(int rows, int[] predicted);

    /** A pooled block's last part: its shared expert (if it has one) added into the activation. */
    void runSharedExpert(BoundUnit block, Step step);

    // ------------------------------------------------------------------ hand-off to another device (hybrid steps, pipelines)

    /**
     * Waits for the work so far and copies the first {@code count} rows of the activation (the residual stream),
     * row after row, into {@code rows}.
     */
    void activationToHost(float[] rows, int count);

    /** Uploads {@code count} rows from {@code rows} as the activation's first rows, on the compute stream. */
    void activationFromHost(float[] rows, int count);

    /**
     * Whether {@link #activationFrom} can copy from {@code previous} (the same model on another device of this kind)
     * without going through a host array.
     */
    boolean canCopyActivationFrom(AcceleratorModel previous);

    /**
     * Copies the first {@code count} rows of {@code previous}'s activation, whose step has finished, into this
     * model's, on the compute stream (device to device: a pipeline's hand-off between GPUs).
     */
    void activationFrom(AcceleratorModel previous, int count);

    /**
     * The most positions of one block that a step hands over with {@link #writeKvRow} (a hybrid step's rows: one
     * decode token or a speculative verification's few). An implementation may stage the rows of one step
     * asynchronously, each (block, position) in its own place, so that a later row does not overwrite an earlier one
     * before the device has read it.
     */
    int KV_ROWS_PER_STEP = 16;

    /**
     * Stores one position's key and value of {@code block}, computed elsewhere, in {@code cache}. Within one step, at
     * most {@link #KV_ROWS_PER_STEP} consecutive positions per block.
     */
    void writeKvRow(KvCache cache, int block, int position, float[] key, float[] value);

    /** Pinned host memory of {@code bytes} for {@link #copyKvToHost}; allocated once, owned by this model. */
    MemorySegment kvStaging(long bytes);

    /**
     * Enqueues the copy of {@code count} positions' keys and values of {@code block} from {@code from} on, as fp16
     * rows ({@code [t][kvDim]}), into the {@link #kvStaging} buffer at byte offsets {@code keysAt} and
     * {@code valuesAt}. {@link #finishStep} waits for it.
     */
    void copyKvToHost(KvCache cache, int block, int from, int count, long keysAt, long valuesAt);

    // ------------------------------------------------------------------ reporting

    /** Device bytes of the workspace (activations, norms, scratch). */
    long workspaceBytes();

    /** Makes this model's device current for the calling thread. */
    void makeCurrent();

    @Override
    void close();
}
