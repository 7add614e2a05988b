package io.offload4j.engine;

import io.offload4j.model.Architecture;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.Quantization;
import io.offload4j.model.QuantizedGguf;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * How fast quantize at load runs on this machine (a program, not a test): writes an F16 random model of the given
 * width and block count, then quantizes it to each format, printing the source's matrix bytes per second.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -cp … io.offload4j.engine.QuantizeAtLoadBenchmark [WIDTH=2048] [BLOCKS=4]
 * </pre>
 */
public final class QuantizeAtLoadBenchmark {

    public static void main(String[] args) throws Exception {
        int width = args.length > 0 ? Integer.parseInt(args[0]) : 2048;
        int blocks = args.length > 1 ? Integer.parseInt(args[1]) : 4;
        Path dir = Files.createTempDirectory("quantize-bench");
        Path f16 = dir.resolve("f16.gguf");
        SyntheticModelWriter.write(new SyntheticModelSpec("bench", Architecture.LLAMA, width, blocks, width * 11 / 4 / 256 * 256,
                width / 64, width / 256, 64, 32000, 4096, QuantPreset.F16, false, 1), f16);
        try (Model m = Model.load(f16)) {
            long bytes = m.weights().totalMatrixBytes();
            for (int round = 0; round < 2; round++) { // the first round warms the JIT up
                for (Quantization q : new Quantization[] {Quantization.Q8_0, Quantization.Q6_K, Quantization.Q4_K}) {
                    Path out = dir.resolve(q.optionName() + ".gguf");
                    long t0 = System.nanoTime();
                    QuantizedGguf.write(m, m.metadata(), q, out);
                    double s = (System.nanoTime() - t0) / 1e9;
                    System.out.printf("round %d %-5s %6.0f MiB F16 in %5.2f s: %6.0f MiB/s of F16 on %d cores%n",
                            round, q.optionName(), bytes / 1048576.0, s, bytes / 1048576.0 / s,
                            Runtime.getRuntime().availableProcessors());
                    Files.delete(out);
                }
            }
        }
        Files.delete(f16);
        Files.delete(dir);
    }
}
