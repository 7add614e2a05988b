package io.offload4j.backend.cuda;

import io.offload4j.backend.BoundUnit;
import io.offload4j.gguf.GgmlType;
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
     * group; {@code gemmOk}: every matrix has a shape the tensor-core path takes.
     */
    record DevBlock(int index, BlockNorms norms, DevMatrix wq, DevMatrix wk, DevMatrix wv, DevMatrix wo,
                    DevMatrix gate, DevMatrix up, DevMatrix down, DevMatrix[][] qkvGroups, boolean gemmOk)
            implements BoundUnit {}

    /** Rows {@code firstRow ..} of the output head bound to device memory; {@code whole}: the head is one slice. */
    record OutputSlice(int firstRow, DevMatrix matrix, boolean whole) implements BoundUnit {}

    static DevBlock block(int index, Weight[] parts, CUdeviceptr base, BlockNorms norms) {
        DevMatrix[] m = place(parts, base);
        // Q, K and V of one format run as one launch; a mixed block (Q4_K_M keeps V in Q6_K in some blocks) groups
        // by format.
        List<DevMatrix[]> groups = new ArrayList<>();
        List<DevMatrix> pending = new ArrayList<>(List.of(m[0], m[1], m[2]));
        while (!pending.isEmpty()) {
            GgmlType t = pending.getFirst().type();
            List<DevMatrix> same = pending.stream().filter(d -> d.type() == t).toList();
            groups.add(same.toArray(DevMatrix[]::new));
            pending.removeAll(same);
        }
        return new DevBlock(index, norms, m[0], m[1], m[2], m[3], m[4], m[5], m[6],
                groups.toArray(DevMatrix[][]::new), gemmOk(parts));
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
}
