package io.offload4j.backend;

/** What kind of step a forward call is: it decides which kernels run and, when offloading, where each unit runs. */
public enum Phase {
    /** A chunk of one sequence's prompt tokens (or a single token that is not a plain decode step). */
    PROMPT,
    /** One new token of one sequence: the step where host memory can outrun PCIe, so CPU blocks may run. */
    DECODE,
    /** One new token of each of several sequences, run as the rows of one activation matrix. */
    BATCH
}
