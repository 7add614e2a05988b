package io.offload4j.reliability;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The process's resident memory as Linux reports it in {@code /proc/self/status}; 0 elsewhere. */
public final class ProcessMemory {

    private ProcessMemory() {
    }

    /** Resident set size now (VmRSS). */
    public static long rssBytes() {
        return field("VmRSS:");
    }

    /** The most resident memory the process has had (VmHWM). */
    public static long peakRssBytes() {
        return field("VmHWM:");
    }

    /** Java heap in use now. */
    public static long heapUsedBytes() {
        Runtime r = Runtime.getRuntime();
        return r.totalMemory() - r.freeMemory();
    }

    private static long field(String name) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith(name)) {
                    return Long.parseLong(line.substring(name.length()).trim().split("\\s+")[0]) * 1024;
                }
            }
        } catch (IOException | RuntimeException e) {
            return 0;
        }
        return 0;
    }
}
