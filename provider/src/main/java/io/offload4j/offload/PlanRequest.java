package io.offload4j.offload;

import java.util.Objects;

/**
 * What the planner decides from.
 *
 * @param unitNames     one name per unit of weights, in the order a forward step uses them ("block 3", "output 1/2")
 * @param unitBytes     bytes of each unit's weights
 * @param weightBudget  bytes of GPU memory the units may occupy: resident units plus the staging ring
 * @param prefetchDepth streamed units copied ahead of the one computing; the ring has {@code prefetchDepth + 1} slots
 * @param bandwidths    measured host → GPU and CPU bandwidths
 * @param batch         sequences that share each step (a streamed copy serves all of them; the CPU computes each)
 * @param policy        what happens to units that do not fit (see {@link PlacementPolicy})
 * @param cpuCanCompute whether the backend can hand a unit to the CPU; without it the CPU is only estimated, for
 *                      the log, and never chosen
 * @param cpuEligible   units {@code 0 .. cpuEligible-1} may be given to the CPU (the transformer blocks, not the
 *                      output head)
 */
public record PlanRequest(String[] unitNames, long[] unitBytes, long weightBudget, int prefetchDepth,
                          Bandwidths bandwidths, int batch, PlacementPolicy policy, boolean cpuCanCompute, int cpuEligible) {

    /** Every unit eligible for the CPU. */
    public PlanRequest(String[] unitNames, long[] unitBytes, long weightBudget, int prefetchDepth,
                       Bandwidths bandwidths, int batch, PlacementPolicy policy, boolean cpuCanCompute) {
        this(unitNames, unitBytes, weightBudget, prefetchDepth, bandwidths, batch, policy, cpuCanCompute,
                unitBytes.length);
    }

    public PlanRequest {
        Objects.requireNonNull(unitNames, "unitNames");
        Objects.requireNonNull(unitBytes, "unitBytes");
        Objects.requireNonNull(bandwidths, "bandwidths");
        if (unitNames.length != unitBytes.length || unitBytes.length == 0) {
            throw new IllegalArgumentException("need one name per unit and at least one unit, got " + unitNames.length
                    + " names and " + unitBytes.length + " sizes");
        }
        for (int i = 0; i < unitBytes.length; i++) {
            if (unitBytes[i] <= 0) {
                throw new IllegalArgumentException(unitNames[i] + " has " + unitBytes[i] + " bytes");
            }
        }
        if (weightBudget < 0) {
            throw new IllegalArgumentException("weight budget must be >= 0, was " + weightBudget);
        }
        if (prefetchDepth < 1) {
            throw new IllegalArgumentException("prefetch depth must be >= 1, was " + prefetchDepth);
        }
        if (batch < 1) {
            throw new IllegalArgumentException("batch must be >= 1, was " + batch);
        }
        policy = policy == null ? PlacementPolicy.AUTO : policy;
    }

    int units() {
        return unitBytes.length;
    }
}
