package io.offload4j.offload;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The host's physical memory, which bounds the pinned memory offloading may take. */
final class HostMemory {

    private HostMemory() {}

    /** {@code MemTotal} from /proc/meminfo (CUDA here means Linux), else the heap limit as a conservative guess. */
    static long physicalBytes() {
        try (var lines = Files.lines(Path.of("/proc/meminfo"))) {
            return lines.filter(l -> l.startsWith("MemTotal:")).findFirst()
                    .map(l -> Long.parseLong(l.replaceAll("[^0-9]", "")) * 1024).orElseThrow();
        } catch (IOException | RuntimeException e) {
            return Runtime.getRuntime().maxMemory();
        }
    }
}
