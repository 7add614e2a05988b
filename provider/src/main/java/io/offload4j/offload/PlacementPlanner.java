package io.offload4j.offload;

import java.util.Arrays;
import java.util.Locale;

/**
 * Decides, for every unit of weights, whether it stays on the GPU, is streamed to it for every step, or is computed
 * on the CPU.
 *
 * <p><b>Why not just a cache.</b> A dense model reads its units in a fixed cycle, 0..n-1, 0..n-1. A recency cache
 * with room for k &lt; n units then misses every time: the unit it evicts is always the next one needed. So the
 * planner pins a fixed set of k units (they fit the budget next to the staging ring) and streams the others through
 * the ring; the steady-state hit rate is then k/n and a step copies exactly the non-resident units' bytes.
 *
 * <p><b>Which k.</b> Resident units are spread evenly through the cycle rather than bunched at the front, so that
 * while the GPU computes a resident unit the copy engine is already filling a slot for the next streamed one.
 *
 * <p><b>Stream or CPU.</b> A streamed unit costs {@code bytes / host→GPU bandwidth} per step whatever the batch,
 * since one copy serves every sequence. The CPU reads the same bytes at its own dot-product bandwidth, but for each
 * sequence of the batch (its kernels are compute-bound), so it wins only for small batches on hosts whose memory
 * outruns PCIe — llama.cpp's choice at batch 1. Policy {@code auto} picks the cheaper per unit, when the backend can
 * hand units to the CPU at all.
 */
public final class PlacementPlanner {

    /**
     * The share of its probed bandwidth the CPU reaches inside a decode step. The probe runs blocks back to back
     * while copies run; inside a step each block also waits for the GPU's hand-off and starts its threads from a
     * spin. On the lent H200 (3B F16, 8 blocks on the CPU next to 12 streamed) the in-step rate was 57 GB/s against
     * a probe of 62–66: 0.85–0.9. (It was 0.55–0.65 while small uploads still queued behind streamed copies on the
     * copy engine.)
     */
    static final double CPU_IN_STEP_FACTOR = 0.85;
    /** The CPU gets blocks only when the estimate promises at least this speed-up over streaming alone. */
    static final double MIN_CPU_GAIN = 1.2;

    private PlacementPlanner() {}

    public static PlacementPlan plan(PlanRequest r) {
        int n = r.units();
        long total = Arrays.stream(r.unitBytes()).sum();
        Placement[] placements = new Placement[n];
        if (total <= r.weightBudget()) {
            Arrays.fill(placements, Placement.RESIDENT);
            return new PlacementPlan(placements, 0, 0, total, 0, 0, String.format(Locale.ROOT,
                    "all %d units resident: %s of weights within the GPU budget of %s", n, gib(total),
                    gib(r.weightBudget())));
        }
        // When the CPU may take blocks, the units it cannot take (the output head's slices) are kept resident first:
        // streamed, they would bunch at the end of every step, where the CPU has nothing left to overlap with.
        boolean cpuMayHelp = r.policy() != PlacementPolicy.STREAM && r.cpuCanCompute() && r.bandwidths().cpuWeightGBs() > 0;
        boolean[] resident = pickResident(r.unitBytes(), r.weightBudget(), r.prefetchDepth() + 1,
                cpuMayHelp ? Math.min(n, r.cpuEligible()) : n);
        if (resident == null) {
            long largest = Arrays.stream(r.unitBytes()).max().orElseThrow();
            int slots = Math.min(r.prefetchDepth() + 1, n);
            throw new IllegalArgumentException(String.format(Locale.ROOT, "GPU budget of %s is too small: streaming"
                    + " needs a staging ring of %d slots of the largest unit (%s, %s) = %s; raise the GPU memory"
                    + " budget or lower the prefetch depth (%d)", gib(r.weightBudget()), slots,
                    r.unitNames()[argmax(r.unitBytes())], gib(largest), gib(slots * largest), r.prefetchDepth()));
        }
        int slots = r.prefetchDepth() + 1;
        double pcie = r.bandwidths().hostToDeviceGBs() * 1e9;
        double cpu = r.bandwidths().cpuWeightGBs() * 1e9;
        boolean[] toCpu = chooseCpu(r, resident, pcie, cpu * CPU_IN_STEP_FACTOR);
        long residentBytes = 0;
        long streamedBytes = 0;
        long cpuBytes = 0;
        long offBytes = 0;
        for (int i = 0; i < n; i++) {
            if (resident[i]) {
                placements[i] = Placement.RESIDENT;
                residentBytes += r.unitBytes()[i];
                continue;
            }
            offBytes += r.unitBytes()[i];
            placements[i] = toCpu[i] ? Placement.CPU : Placement.STREAMED;
            if (toCpu[i]) {
                cpuBytes += r.unitBytes()[i];
            } else {
                streamedBytes += r.unitBytes()[i];
            }
        }
        // Prompts and batches stream the CPU units too, so the ring is sized for every off-GPU unit.
        long streamedLargest = 0;
        int streamedUnits = 0;
        int offUnits = 0;
        for (int i = 0; i < n; i++) {
            if (placements[i] != Placement.RESIDENT) {
                streamedLargest = Math.max(streamedLargest, r.unitBytes()[i]);
                offUnits++;
            }
            if (placements[i] == Placement.STREAMED) {
                streamedUnits++;
            }
        }
        slots = offUnits == 0 ? 0 : Math.min(slots, offUnits);
        String reasoning = String.format(Locale.ROOT, "GPU budget %s for %s of weights in %d units: %d resident"
                        + " (%s), %d streamed through %d staging slots of %s (%s per step, ≥ %.1f ms at %.1f GB/s"
                        + " host→GPU), %d on the CPU at batch-1 decode (%s; prompts and batches stream them);"
                        + " computing all off-GPU %s on the CPU would take ≥ %s per step at %.1f GB/s × batch %d,"
                        + " policy %s%s",
                gib(r.weightBudget()), gib(total), n, count(resident), gib(residentBytes), streamedUnits, slots,
                gib(streamedLargest), gib(streamedBytes), streamedBytes / pcie * 1e3, pcie / 1e9,
                n - count(resident) - streamedUnits, gib(cpuBytes), gib(offBytes),
                cpu > 0 ? String.format(Locale.ROOT, "%.1f ms", offBytes / cpu * r.batch() * 1e3) : "(unmeasured)",
                cpu / 1e9, r.batch(), r.policy(), r.cpuCanCompute() ? "" : " (CPU compute not available here)");
        return new PlacementPlan(placements, slots, streamedLargest, residentBytes, streamedBytes, cpuBytes,
                reasoning);
    }

    /**
     * Which off-GPU units the CPU computes. Copies run on their own engine while the CPU works, so the two add up:
     * policy {@code auto} moves eligible units to the CPU, spread evenly through the off-GPU ones, as far as that
     * lowers {@code max(CPU time, copy time)} of a step (with the CPU's rate discounted by
     * {@link #CPU_IN_STEP_FACTOR}), and only when the step gets at least {@link #MIN_CPU_GAIN}× faster; {@code cpu}
     * moves every eligible one; {@code stream} none.
     */
    private static boolean[] chooseCpu(PlanRequest r, boolean[] resident, double pcie, double cpu) {
        int n = r.units();
        boolean[] toCpu = new boolean[n];
        int[] off = java.util.stream.IntStream.range(0, Math.min(n, r.cpuEligible())).filter(i -> !resident[i])
                .toArray();
        if (r.policy() == PlacementPolicy.STREAM || off.length == 0) {
            return toCpu;
        }
        if (!r.cpuCanCompute()) {
            if (r.policy() == PlacementPolicy.CPU) {
                throw new IllegalArgumentException("placement 'cpu' was asked for, but this backend cannot compute"
                        + " blocks on the CPU next to the GPU yet; use placement 'stream' or 'auto'");
            }
            return toCpu;
        }
        if (r.policy() == PlacementPolicy.CPU) {
            for (int i : off) {
                toCpu[i] = true;
            }
            return toCpu;
        }
        if (!(cpu > 0)) {
            return toCpu;
        }
        long streamAll = 0;
        for (int i = 0; i < n; i++) {
            if (!resident[i]) {
                streamAll += r.unitBytes()[i];
            }
        }
        double streamOnly = streamAll / pcie;
        double best = streamOnly;
        int bestCount = 0;
        for (int c = 1; c <= off.length; c++) {
            long onCpu = 0;
            for (int j = 0; j < c; j++) {
                onCpu += r.unitBytes()[off[(int) ((long) j * off.length / c)]];
            }
            double step = Math.max(onCpu / cpu * r.batch(), (streamAll - onCpu) / pcie);
            if (step < best) {
                best = step;
                bestCount = c;
            }
        }
        if (best * MIN_CPU_GAIN > streamOnly) {
            return toCpu; // too small a gain to be sure of, given how the CPU's rate varies
        }
        for (int j = 0; j < bestCount; j++) {
            toCpu[off[(int) ((long) j * off.length / bestCount)]] = true;
        }
        return toCpu;
    }

    /**
     * The most resident units that fit {@code budget} next to the staging ring, or null when not even the ring fits.
     * For k resident units, units {@code preferredFrom .. n-1} are taken first, then the rest are spread evenly
     * through the cycle (the units at {@code floor(i·m/k')} of the first {@code m = preferredFrom}), and the ring has
     * {@code min(maxSlots, n-k)} slots of the largest remaining unit; k = n-1, n-2, … is tried until it fits.
     */
    static boolean[] pickResident(long[] bytes, long budget, int maxSlots, int preferredFrom) {
        int n = bytes.length;
        int preferred = n - preferredFrom;
        for (int k = n - 1; k >= 0; k--) {
            boolean[] pick = new boolean[n];
            long sum = 0;
            int fromPreferred = Math.min(k, preferred);
            for (int i = 0; i < fromPreferred; i++) {
                int u = preferredFrom + (int) ((long) i * preferred / fromPreferred);
                pick[u] = true;
                sum += bytes[u];
            }
            int spread = k - fromPreferred;
            for (int i = 0; i < spread; i++) {
                int u = (int) ((long) i * preferredFrom / spread);
                pick[u] = true;
                sum += bytes[u];
            }
            long largestOff = 0;
            for (int u = 0; u < n; u++) {
                if (!pick[u]) {
                    largestOff = Math.max(largestOff, bytes[u]);
                }
            }
            if (sum + Math.min(maxSlots, n - k) * largestOff <= budget) {
                return pick;
            }
        }
        return null;
    }

    private static int count(boolean[] b) {
        int c = 0;
        for (boolean x : b) {
            c += x ? 1 : 0;
        }
        return c;
    }

    private static int argmax(long[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    static String gib(long bytes) {
        if (bytes >= 1L << 30) {
            return String.format(Locale.ROOT, "%.2f GiB", bytes / (double) (1L << 30));
        }
        return String.format(Locale.ROOT, "%.1f MiB", bytes / (double) (1L << 20));
    }
}
