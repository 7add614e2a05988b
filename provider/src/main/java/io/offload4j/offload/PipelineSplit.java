package io.offload4j.offload;

import java.util.Arrays;

/**
 * How a model's blocks are split over the devices of a pipeline: each device computes a run of consecutive blocks,
 * the last one also the output head, and each run's bytes are in proportion to the device's weight budget, so that a
 * model that fits the devices together is resident everywhere and one that does not streams the same share of each
 * device's part. Consecutive runs keep the activation's trips between devices to one per step per boundary.
 */
final class PipelineSplit {

    private PipelineSplit() {}

    /**
     * @param blockBytes each block's bytes on the device
     * @param headBytes  the output head's bytes (on the last device)
     * @param budgets    each device's weight budget, in pipeline order
     * @return {@code starts}: device {@code i} computes blocks {@code starts[i] .. starts[i+1]-1};
     *         {@code starts[devices] == blocks}
     * @throws IllegalArgumentException when there are fewer blocks than devices or a budget is not positive
     */
    static int[] split(long[] blockBytes, long headBytes, long[] budgets) {
        int blocks = blockBytes.length;
        int devices = budgets.length;
        if (devices < 1 || blocks < devices) {
            throw new IllegalArgumentException("a model of " + blocks + " blocks cannot be split over " + devices
                    + " devices: each device needs at least one block; use fewer devices");
        }
        double budgetSum = 0;
        for (long b : budgets) {
            if (b <= 0) {
                throw new IllegalArgumentException("device weight budgets must be positive: "
                        + Arrays.toString(budgets));
            }
            budgetSum += b;
        }
        long[] before = new long[blocks + 1]; // bytes of blocks 0..k-1
        for (int k = 0; k < blocks; k++) {
            before[k + 1] = before[k] + blockBytes[k];
        }
        double total = before[blocks] + headBytes;
        int[] starts = new int[devices + 1];
        starts[devices] = blocks;
        double share = 0;
        for (int i = 1; i < devices; i++) {
            share += budgets[i - 1];
            double target = total * share / budgetSum; // the bytes devices 0..i-1 should hold together
            int lo = starts[i - 1] + 1;                 // each device at least one block
            int hi = blocks - (devices - i);            // and enough left for the rest
            int best = lo;
            for (int k = lo; k <= hi; k++) {
                if (Math.abs(before[k] - target) < Math.abs(before[best] - target)) {
                    best = k;
                }
            }
            starts[i] = best;
        }
        return starts;
    }
}
