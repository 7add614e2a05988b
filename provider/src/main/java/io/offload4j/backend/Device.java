package io.offload4j.backend;

import java.util.List;
import java.util.Locale;

/**
 * Which device an engine runs on: {@link #AUTO} (the GPU when a usable one exists, else the CPU), {@link #CPU}, one
 * CUDA GPU by ordinal, or several CUDA GPUs that one model is split over ({@link Kind#CUDA_GROUP}: a pipeline of
 * consecutive blocks per GPU). Written and parsed as users write it: {@code auto}, {@code cpu}, {@code cuda},
 * {@code cuda:N}, {@code cuda:all}, {@code cuda:0,1,…}.
 *
 * <p>A group may name one GPU more than once ({@code cuda:0,0}): each entry is then a logical device with its share
 * of that GPU's memory. That runs the several-GPU code path on one GPU, which is how it is tested where only one is
 * lent; it is slower than {@code cuda:0} and has no other use.
 *
 * @param ordinals for {@link Kind#CUDA}, the one ordinal; for {@link Kind#CUDA_GROUP}, the GPUs in pipeline order, or
 *                 an empty list for every visible GPU ({@code cuda:all}); empty otherwise
 */
public record Device(Kind kind, List<Integer> ordinals) {

    public enum Kind { AUTO, CPU, CUDA, CUDA_GROUP }

    public static final Device AUTO = new Device(Kind.AUTO, List.of());
    public static final Device CPU = new Device(Kind.CPU, List.of());
    /** Every GPU the driver shows. */
    public static final Device ALL_GPUS = new Device(Kind.CUDA_GROUP, List.of());

    /** The most GPUs a group may name (entries of {@code cuda:0,1,…}). */
    public static final int MAX_GROUP = 64;

    public Device {
        if (kind == null || ordinals == null) {
            throw new IllegalArgumentException("device kind and ordinals must not be null");
        }
        ordinals = List.copyOf(ordinals);
        for (int o : ordinals) {
            if (o < 0) {
                throw new IllegalArgumentException("device ordinal " + o + " is negative");
            }
        }
        boolean ok = switch (kind) {
            case AUTO, CPU -> ordinals.isEmpty();
            case CUDA -> ordinals.size() == 1;
            case CUDA_GROUP -> ordinals.size() != 1 && ordinals.size() <= MAX_GROUP;
        };
        if (!ok) {
            throw new IllegalArgumentException(kind + " with ordinals " + ordinals);
        }
    }

    public static Device cuda(int ordinal) {
        return new Device(Kind.CUDA, List.of(ordinal));
    }

    /** Several GPUs, in pipeline order: the first computes the first blocks. */
    public static Device cudaGroup(List<Integer> ordinals) {
        return new Device(Kind.CUDA_GROUP, ordinals);
    }

    /** The GPU of a {@link Kind#CUDA} device. */
    public int ordinal() {
        if (kind != Kind.CUDA) {
            throw new IllegalStateException(this + " is not one GPU");
        }
        return ordinals.getFirst();
    }

    /**
     * @throws IllegalArgumentException naming the accepted forms
     */
    public static Device parse(String name) {
        String d = name == null ? "auto" : name.trim().toLowerCase(Locale.ROOT).replace(" ", "");
        switch (d) {
            case "auto", "" -> {
                return AUTO;
            }
            case "cpu" -> {
                return CPU;
            }
            case "cuda", "gpu" -> {
                return cuda(0);
            }
            case "cuda:all" -> {
                return ALL_GPUS;
            }
            default -> {
                if (d.matches("cuda:\\d{1,4}")) {
                    return cuda(Integer.parseInt(d.substring(5)));
                }
                if (d.matches("cuda:\\d{1,4}(,\\d{1,4})+")) {
                    List<Integer> list = java.util.Arrays.stream(d.substring(5).split(","))
                            .map(Integer::valueOf).toList();
                    if (list.size() > MAX_GROUP) {
                        throw new IllegalArgumentException("device '" + name + "' names " + list.size()
                                + " GPUs; at most " + MAX_GROUP);
                    }
                    return cudaGroup(list);
                }
                throw new IllegalArgumentException("unknown device '" + name
                        + "'; expected auto, cpu, cuda, cuda:N, cuda:all or cuda:N,M,… (several GPUs)");
            }
        }
    }

    @Override
    public String toString() {
        return switch (kind) {
            case AUTO -> "auto";
            case CPU -> "cpu";
            case CUDA -> "cuda:" + ordinals.getFirst();
            case CUDA_GROUP -> ordinals.isEmpty() ? "cuda:all"
                    : "cuda:" + String.join(",", ordinals.stream().map(String::valueOf).toList());
        };
    }
}
