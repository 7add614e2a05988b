package io.offload4j.backend.cuda;

import io.offload4j.model.Weight;

/**
 * Where a unit's matrices sit inside its device buffer or staging slot: back to back, each 256-byte aligned with the
 * kernels' read-ahead padding, so that a unit moves in one copy and every matrix starts aligned.
 */
record CudaUnitLayout(Weight[] parts, long[] offsets, long bytes) {

    private static final long ALIGN = 256;

    static CudaUnitLayout of(Weight... parts) {
        long[] offsets = new long[parts.length];
        long at = 0;
        for (int i = 0; i < parts.length; i++) {
            offsets[i] = at;
            at += (parts[i].data().byteSize() + CudaKernels.PADDING + ALIGN - 1) / ALIGN * ALIGN;
        }
        return new CudaUnitLayout(parts, offsets, at);
    }
}
