package io.offload4j.offload;

import java.util.Locale;

/** How many bytes of accelerator memory the weight units may occupy (resident units plus the staging ring). */
final class WeightBudget {

    /** Accelerator memory left unplanned for the driver, the kernels' module and fragmentation. */
    static final long MARGIN_BYTES = 768L << 20;
    /** Full-context KV caches the automatic budget leaves room for (running sequences and the prefix cache). */
    static final int AUTO_RESERVED_KV_CACHES = 4;

    private WeightBudget() {}

    /**
     * Automatic: free memory minus a margin, the workspace and room for {@link #AUTO_RESERVED_KV_CACHES} full-context
     * KV caches. Explicit: checked against what is free now.
     *
     * @param free      accelerator memory free before anything of the model was allocated
     * @param workspace activations and scratch the model allocates besides its weights
     */
    static long of(OffloadOptions options, String device, long free, long workspace, long kvPerCache) {
        long others = workspace + MARGIN_BYTES;
        if (options.gpuMemoryBudget() == OffloadOptions.AUTO) {
            long budget = free - others - AUTO_RESERVED_KV_CACHES * kvPerCache;
            if (budget <= 0) {
                throw new IllegalStateException(String.format(Locale.ROOT, "%s has %s free, which the activations"
                        + " (%s), %d KV caches of %s and a margin of %s already exceed; use a smaller context length"
                        + " or the cpu device", device, gib(free), gib(workspace), AUTO_RESERVED_KV_CACHES,
                        gib(kvPerCache), gib(MARGIN_BYTES)));
            }
            return budget;
        }
        long budget = options.gpuMemoryBudget();
        if (budget + others + kvPerCache > free) {
            throw new IllegalArgumentException(String.format(Locale.ROOT, "GPU memory budget of %s is larger than %s"
                    + " can give: %s free, minus activations %s, one KV cache %s and a margin of %s leaves %s; lower"
                    + " the budget, or leave it automatic", gib(budget), device, gib(free), gib(workspace),
                    gib(kvPerCache), gib(MARGIN_BYTES), gib(Math.max(0, free - others - kvPerCache))));
        }
        return budget;
    }

    static String gib(long bytes) {
        return String.format(Locale.ROOT, "%.2f GiB", bytes / (double) (1L << 30));
    }
}
