package io.offload4j.backend.cuda;

import io.offload4j.backend.BoundUnit;
import io.offload4j.gguf.GgmlType;
import io.offload4j.model.MoeWeights;
import io.offload4j.model.Weight;
import java.util.ArrayList;
import java.util.List;
import jcuda.driver.CUdeviceptr;

/** Units bound to device memory: where each matrix of a block or head slice is, and how its kernels group. */
final class CudaUnits {

    private CudaUnits() {}

    /** A weight matrix in device memory, in its file format. */
    record DevMatrix(GgmlType type, int rows, int cols, long rowBytes, CUdeviceptr ptr) {}

    /** A block's fp32 vectors on the device (norm weights, biases; null where absent), uploaded once. */
    record BlockNorms(CUdeviceptr attnNorm, CUdeviceptr qBias, CUdeviceptr kBias, CUdeviceptr vBias,
                      CUdeviceptr qNorm, CUdeviceptr kNorm, CUdeviceptr ffnNorm, CUdeviceptr attnPostNorm,
                      CUdeviceptr ffnPostNorm) {}

    /**
     * One transformer block bound to device memory. {@code qkvGroups}: Q, K and V grouped by format, one launch per
     * group; {@code gemmOk}: every matrix has a shape the tensor-core path takes; {@code smallGemmOk}: every matrix
     * takes the small-batch GEMM ({@link CudaKernels#smallGemmOk}).
     */
    record DevBlock(int index, BlockNorms norms, DevMatrix wq, DevMatrix wk, DevMatrix wv, DevMatrix wo,
                    DevMatrix gate, DevMatrix up, DevMatrix down, DevMatrix[][] qkvGroups, boolean gemmOk,
                    boolean smallGemmOk, DevExperts experts)
            implements BoundUnit {}

    /**
     * A sparse block's FFN bound to device memory: the router, expert 0's gate, up and down (expert e's are
     * {@code e × stride} bytes further: the unit lays the experts out one after another, all the same size), and
     * the shared expert's matrices (null without one).
     */
    record DevExperts(DevMatrix router, DevMatrix gate, DevMatrix up, DevMatrix down, long stride,
                      DevMatrix sharedGate, DevMatrix sharedUp, DevMatrix sharedDown, boolean pooled) {}

    /** Rows {@code firstRow ..} of the output head bound to device memory; {@code whole}: the head is one slice. */
    record OutputSlice(int firstRow, DevMatrix matrix, boolean whole) implements BoundUnit {}

    static DevBlock block(int index, Weight[] parts, CUdeviceptr base, BlockNorms norms) {
        return block(index, parts, base, norms, null);
    }

    /** A block whose {@code parts} are {@link io.offload4j.model.BlockWeights#matrices()}; {@code moe} when sparse. */
    static DevBlock block(int index, Weight[] parts, CUdeviceptr base, BlockNorms norms, MoeWeights moe) {
        DevMatrix[] m = place(parts, base);
        DevMatrix[][] qkv = qkvGroups(m);
        if (moe == null) {
            return new DevBlock(index, norms, m[0], m[1], m[2], m[3], m[4], m[5], m[6], qkv, gemmOk(parts),
                    smallGemmOk(parts), null);
        }
        // Q, K, V, O, router, [shared gate, up, down], then gate, up, down of each expert (MoeWeights.matrices()).
        int s = moe.hasSharedExpert() ? 3 : 0;
        int first = 5 + s;
        long[] offsets = CudaUnitLayout.of(parts).offsets();
        long stride = moe.expertCount() > 1 ? offsets[first + 3] - offsets[first] : 0;
        for (int e = 1; e < moe.expertCount(); e++) {
            for (int i = 0; i < 3; i++) {
                if (offsets[first + 3 * e + i] - offsets[first + i] != e * stride) {
                    throw new IllegalStateException("block " + index + ": expert " + e + " is not laid out "
                            + e + " strides after expert 0 (experts of different sizes or formats?)");
                }
            }
        }
        DevExperts experts = new DevExperts(m[4], m[first], m[first + 1], m[first + 2], stride,
                s > 0 ? m[5] : null, s > 0 ? m[6] : null, s > 0 ? m[7] : null, false);
        // The attention part takes the tensor-core path when its four matrices can; the experts never do.
        return new DevBlock(index, norms, m[0], m[1], m[2], m[3], null, null, null, qkv,
                gemmOk(java.util.Arrays.copyOf(parts, 4)), smallGemmOk(java.util.Arrays.copyOf(parts, 4)), experts);
    }

    /**
     * A sparse block whose attention part ({@code attention}: {@link io.offload4j.model.BlockWeights#attentionMatrices()})
     * is at {@code base} and whose routed experts are in an expert pool from {@code pool} on, one per slot of
     * {@code slotBytes}: "expert 0" is slot 0's, laid out as {@link CudaUnitLayout} lays out this block's gate, up
     * and down, and the kernels address slot s at {@code s × slotBytes} (the routing ids become slot numbers).
     */
    static DevBlock pooledBlock(int index, Weight[] attention, CUdeviceptr base, BlockNorms norms, MoeWeights moe,
                                CUdeviceptr pool, long slotBytes) {
        DevMatrix[] m = place(attention, base);
        DevMatrix[] e = place(moe.expert(0), pool);
        int s = moe.hasSharedExpert() ? 3 : 0;
        DevExperts experts = new DevExperts(m[4], e[0], e[1], e[2], slotBytes, s > 0 ? m[5] : null,
                s > 0 ? m[6] : null, s > 0 ? m[7] : null, true);
        return new DevBlock(index, norms, m[0], m[1], m[2], m[3], null, null, null, qkvGroups(m),
                gemmOk(java.util.Arrays.copyOf(attention, 4)), smallGemmOk(java.util.Arrays.copyOf(attention, 4)),
                experts);
    }

    /** Q, K and V of one format run as one launch; a mixed block (Q4_K_M keeps V in Q6_K in some blocks) groups by
     * format. */
    private static DevMatrix[][] qkvGroups(DevMatrix[] m) {
        List<DevMatrix[]> groups = new ArrayList<>();
        List<DevMatrix> pending = new ArrayList<>(List.of(m[0], m[1], m[2]));
        while (!pending.isEmpty()) {
            GgmlType t = pending.getFirst().type();
            List<DevMatrix> same = pending.stream().filter(d -> d.type() == t).toList();
            groups.add(same.toArray(DevMatrix[]::new));
            pending.removeAll(same);
        }
        return groups.toArray(DevMatrix[][]::new);
    }

    static OutputSlice headSlice(int firstRow, Weight slice, CUdeviceptr base, boolean whole) {
        return new OutputSlice(firstRow, place(new Weight[] {slice}, base)[0], whole);
    }

    /** The matrices of a unit at their offsets in its layout ({@link CudaUnitLayout}) from {@code base}. */
    private static DevMatrix[] place(Weight[] parts, CUdeviceptr base) {
        CudaUnitLayout layout = CudaUnitLayout.of(parts);
        DevMatrix[] m = new DevMatrix[parts.length];
        for (int i = 0; i < parts.length; i++) {
            Weight w = parts[i];
            m[i] = new DevMatrix(w.type(), w.rows(), w.cols(), w.rowBytes(), base.withByteOffset(layout.offsets()[i]));
        }
        return m;
    }

    /** Whether every matrix has a shape and format the tensor-core GEMM takes. */
    static boolean gemmOk(Weight[] matrices) {
        for (Weight m : matrices) {
            if (!CudaKernels.gemmShapeOk(m.rows(), m.cols()) || !CudaKernels.vectorisable(m.type(), m.cols())) {
                return false;
            }
        }
        return true;
    }

    /** Whether every matrix takes the small-batch GEMM of batched decode steps. */
    static boolean smallGemmOk(Weight[] matrices) {
        for (Weight m : matrices) {
            if (!CudaKernels.smallGemmOk(m.type(), m.rows(), m.cols())) {
                return false;
            }
        }
        return true;
    }
}
