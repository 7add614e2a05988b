package io.offload4j.backend;

import java.util.List;

/**
 * Several accelerators that one model is split over, in pipeline order: the offload layer gives each a run of
 * consecutive blocks ({@code offload.PipelineForwardPass}). When the same GPU appears more than once (a logical
 * split, for testing the path on one GPU), each entry plans with its {@link #memoryShare} of that GPU's free memory.
 */
public final class AcceleratorGroup implements Backend {

    private final List<Accelerator> members;
    private final List<String> physical;

    /**
     * @param members  in pipeline order
     * @param physical for each member, the physical device it is on (equal strings: the same GPU)
     */
    public AcceleratorGroup(List<Accelerator> members, List<String> physical) {
        if (members.size() < 2 || members.size() != physical.size()) {
            throw new IllegalArgumentException("a group needs at least two accelerators, each with its device; got "
                    + members.size() + " and " + physical.size());
        }
        this.members = List.copyOf(members);
        this.physical = List.copyOf(physical);
    }

    public List<Accelerator> members() {
        return members;
    }

    /** The share of its GPU's free memory member {@code i} plans with: 1 / how many members that GPU has. */
    public double memoryShare(int i) {
        String p = physical.get(i);
        return 1.0 / physical.stream().filter(p::equals).count();
    }

    @Override
    public String description() {
        StringBuilder s = new StringBuilder(members.size() + " GPUs in a pipeline:");
        for (Accelerator a : members) {
            s.append(" [").append(a.description()).append(']');
        }
        return s.toString();
    }

    @Override
    public void close() {
        for (Accelerator a : members) {
            a.close();
        }
    }
}
