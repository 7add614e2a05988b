package io.offload4j.engine;

import io.offload4j.model.Model;
import io.offload4j.model.Quantization;
import io.offload4j.model.QuantizedGguf;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.file.Path;

/**
 * Child JVM of {@link QuantizeAtLoadTest}: quantizes {@code SOURCE} to {@code FORMAT} into {@code TARGET} under the
 * small heap the test gives it, then prints the heap's peak use and the bytes of the source's matrices.
 */
public final class QuantizeAtLoadHeapMain {

    public static void main(String[] args) {
        try (Model m = Model.load(Path.of(args[0]))) {
            QuantizedGguf.write(m, m.metadata(), Quantization.parse(args[1], "format"), Path.of(args[2]));
            long peak = 0;
            for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
                if (pool.getType() == MemoryType.HEAP) {
                    peak += pool.getPeakUsage().getUsed();
                }
            }
            System.out.println("peakHeap=" + peak);
            System.out.println("matrixBytes=" + m.weights().totalMatrixBytes());
        }
    }
}
