package io.offload4j.offload;

/**
 * Which devices a step's units run on. A plan with CPU units has two: at batch-1 decode the CPU computes its units
 * from host memory while the others stream; every other step (a prompt chunk, a batch) streams the CPU units too,
 * because there one copy serves every row while the CPU would compute each row.
 */
enum StepRoute {
    /** Batch-1 decode: the plan's CPU units on the CPU. */
    HYBRID,
    /** Every unit on the accelerator (CPU units streamed). */
    ALL_ACCELERATOR
}
