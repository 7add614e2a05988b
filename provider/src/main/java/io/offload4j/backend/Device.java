package io.offload4j.backend;

import java.util.Locale;

/**
 * Which device an engine runs on: {@link #AUTO} (the GPU when a usable one exists, else the CPU), {@link #CPU}, or
 * one CUDA GPU by ordinal. Written and parsed as users write it: {@code auto}, {@code cpu}, {@code cuda},
 * {@code cuda:N}.
 */
public record Device(Kind kind, int ordinal) {

    public enum Kind { AUTO, CPU, CUDA }

    public static final Device AUTO = new Device(Kind.AUTO, 0);
    public static final Device CPU = new Device(Kind.CPU, 0);

    public Device {
        if (kind == null) {
            throw new IllegalArgumentException("device kind must not be null");
        }
        if (ordinal < 0 || kind != Kind.CUDA && ordinal != 0) {
            throw new IllegalArgumentException("device ordinal " + ordinal + " for " + kind);
        }
    }

    public static Device cuda(int ordinal) {
        return new Device(Kind.CUDA, ordinal);
    }

    /**
     * @throws IllegalArgumentException naming the accepted forms
     */
    public static Device parse(String name) {
        String d = name == null ? "auto" : name.trim().toLowerCase(Locale.ROOT);
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
            default -> {
                if (d.matches("cuda:\\d{1,4}")) {
                    return cuda(Integer.parseInt(d.substring(5)));
                }
                throw new IllegalArgumentException("unknown device '" + name + "'; expected auto, cpu, cuda or cuda:N");
            }
        }
    }

    @Override
    public String toString() {
        return switch (kind) {
            case AUTO -> "auto";
            case CPU -> "cpu";
            case CUDA -> "cuda:" + ordinal;
        };
    }
}
