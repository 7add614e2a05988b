package io.offload4j.offload;

import io.offload4j.model.ModelWeights;
import io.offload4j.model.Weight;
import java.util.ArrayList;
import java.util.List;
import java.util.function.ToLongFunction;

/**
 * A model cut into units, the pieces placement decides about: each transformer block (its seven matrices), then the
 * output head in row slices no larger than the largest block, so that a slice fits a staging slot. Slices are whole
 * multiples of {@link #SLICE_ROW_MULTIPLE} rows (but the last), the tile the GPU's batched head pass works in. Token
 * embeddings are not a unit: a step looks its few rows up on the host.
 *
 * @param names     "block 3", "output 1/2"
 * @param parts     each unit's matrices, in the order the device lays them out
 * @param bytes     each unit's size on the device (its layout, with the device's alignment)
 * @param firstRows for a head slice, its first row of the output matrix; -1 for a block
 * @param blocks    units {@code 0 .. blocks-1} are the transformer blocks
 */
record ModelUnits(String[] names, Weight[][] parts, long[] bytes, int[] firstRows, int blocks) {

    /**
     * Rows a head slice is a multiple of (but the last): the CUDA small GEMM's 64-feature tiles, so that a batched
     * step multiplies every slice on tensor cores rather than row by row (CudaBlockKernels.headSlice).
     */
    static final int SLICE_ROW_MULTIPLE = 64;

    static ModelUnits of(ModelWeights w, ToLongFunction<Weight[]> deviceBytes) {
        return of(w, deviceBytes, false);
    }

    /**
     * {@code withoutExperts}: a sparse block's unit is its attention part (attention, router, shared expert), its
     * routed experts being placed one by one ({@link ExpertTier}).
     */
    static ModelUnits of(ModelWeights w, ToLongFunction<Weight[]> deviceBytes, boolean withoutExperts) {
        List<String> names = new ArrayList<>();
        List<Weight[]> parts = new ArrayList<>();
        List<Integer> firstRows = new ArrayList<>();
        long largestBlock = 1;
        for (int l = 0; l < w.blocks().size(); l++) {
            var b = w.blocks().get(l);
            boolean attentionOnly = withoutExperts && b.isSparse();
            Weight[] m = attentionOnly ? b.attentionMatrices() : b.matrices();
            names.add(attentionOnly ? "block " + l + " (attention)" : "block " + l);
            parts.add(m);
            firstRows.add(-1);
            largestBlock = Math.max(largestBlock, deviceBytes.applyAsLong(m));
        }
        Weight out = w.output();
        long outBytes = (long) out.rows() * out.rowBytes();
        int slices = (int) Math.max(1, (outBytes + largestBlock - 1) / largestBlock);
        int perSlice = (out.rows() + slices - 1) / slices;
        if (slices > 1 && perSlice > SLICE_ROW_MULTIPLE) {
            perSlice -= perSlice % SLICE_ROW_MULTIPLE; // rounded down: still no larger than the largest block
            slices = (out.rows() + perSlice - 1) / perSlice;
        }
        for (int first = 0, i = 0; first < out.rows(); first += perSlice, i++) {
            int n = Math.min(perSlice, out.rows() - first);
            names.add(slices == 1 ? "output" : "output " + (i + 1) + "/" + slices);
            parts.add(new Weight[] {out.rowSlice(first, n)});
            firstRows.add(first);
        }
        long[] bytes = new long[parts.size()];
        for (int u = 0; u < bytes.length; u++) {
            bytes[u] = deviceBytes.applyAsLong(parts.get(u));
        }
        return new ModelUnits(names.toArray(String[]::new), parts.toArray(Weight[][]::new), bytes,
                firstRows.stream().mapToInt(Integer::intValue).toArray(), w.blocks().size());
    }

    /**
     * The units of one pipeline stage: blocks {@code first .. end-1} (numbered from 0 here) and, for the last stage,
     * the head slices.
     */
    ModelUnits stage(int first, int end, boolean withHead) {
        if (first < 0 || end > blocks || end <= first) {
            throw new IllegalArgumentException("blocks " + first + ".." + end + " of " + blocks);
        }
        int n = (end - first) + (withHead ? count() - blocks : 0);
        String[] names = new String[n];
        Weight[][] parts = new Weight[n][];
        long[] bytes = new long[n];
        int[] firstRows = new int[n];
        for (int i = 0; i < n; i++) {
            int u = i < end - first ? first + i : blocks + (i - (end - first));
            names[i] = this.names[u];
            parts[i] = this.parts[u];
            bytes[i] = this.bytes[u];
            firstRows[i] = this.firstRows[u];
        }
        return new ModelUnits(names, parts, bytes, firstRows, end - first);
    }

    int count() {
        return bytes.length;
    }

    long totalBytes() {
        long n = 0;
        for (long b : bytes) {
            n += b;
        }
        return n;
    }

    /** Whether the head is one unit (not sliced). */
    boolean wholeHead() {
        return count() - blocks == 1;
    }
}
