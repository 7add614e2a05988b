package io.offload4j.backend.cuda;

import io.offload4j.backend.Backend;
import io.offload4j.backend.Backends;
import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelWriter;
import io.offload4j.offload.OffloadOptions;
import io.offload4j.offload.TieredPasses;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * One model on one GPU and split over several (or over logical devices of one GPU, {@code cuda:0,0}, which measures
 * what the pipeline's stages and hand-offs cost): prefill, decode at batch 1 and batched decode, for each device
 * setting, in one run. Not a test: a program that prints a Markdown table.
 *
 * <pre>
 *   java ... io.offload4j.backend.cuda.PipelineBenchmark --shapes llama3-8b --quants F16 \
 *       --devices "cuda:0;cuda:0,0;cuda:0,1" [--budget-gib 8] [--prefill 512] [--batches 1,16] [--decode-seconds 4]
 * </pre>
 * {@code --budget-gib}: the GPU weight budget of each GPU (of each stage); without it, everything that fits.
 */
public final class PipelineBenchmark {

    private PipelineBenchmark() {}

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(arg(args, "--dir", "/tmp/offload4j-bench"));
        String[] shapes = arg(args, "--shapes", "llama3-8b").split(",");
        String[] quants = arg(args, "--quants", "F16").split(",");
        String[] devices = arg(args, "--devices", "cuda:0;cuda:0,0").split(";");
        String budget = arg(args, "--budget-gib", null);
        int prefill = Integer.parseInt(arg(args, "--prefill", "512"));
        int[] batches = Arrays.stream(arg(args, "--batches", "1,16").split(",")).mapToInt(Integer::parseInt).toArray();
        double seconds = Double.parseDouble(arg(args, "--decode-seconds", "4"));
        Files.createDirectories(dir);
        StringBuilder head = new StringBuilder("| model | device | GPU budget | prefill " + prefill + " tok/s |");
        StringBuilder rule = new StringBuilder("|---|---|---|---|");
        for (int b : batches) {
            head.append(" decode b").append(b).append(" tok/s |");
            rule.append("---|");
        }
        System.out.println(head);
        System.out.println(rule);
        for (String shape : shapes) {
            for (String q : quants) {
                Path file = dir.resolve(shape + "-" + q + ".gguf");
                if (!Files.exists(file)) {
                    SyntheticModelWriter.write(OffloadBenchmark.spec(shape, QuantPreset.valueOf(q)), file);
                }
                try (Model model = Model.load(file)) {
                    OffloadOptions options = budget == null ? OffloadOptions.DEFAULTS
                            : OffloadOptions.DEFAULTS.withGpuMemoryBudget((long) (Double.parseDouble(budget)
                                    * (1L << 30)));
                    for (String device : devices) {
                        try (Backend backend = Backends.create(device, 0);
                             ForwardPass pass = TieredPasses.prepare(backend, model, prefill + 128, prefill,
                                     options)) {
                            System.err.println(pass.memoryReport());
                            StringBuilder row = new StringBuilder(String.format(Locale.ROOT, "| %s %s | %s | %s |"
                                    + " %.0f |", shape, q, device, budget == null ? "all" : budget + " GiB / GPU",
                                    prefill(pass, prefill)));
                            for (int b : batches) {
                                row.append(String.format(Locale.ROOT, " %.1f |", decode(pass, b, seconds)));
                            }
                            System.out.println(row);
                        }
                    }
                }
            }
        }
    }

    private static int[] tokens(ForwardPass pass, int n) {
        SplittableRandom r = new SplittableRandom(5);
        int vocab = pass.config().vocabularySize();
        return r.ints(n, 3, vocab).toArray();
    }

    private static double prefill(ForwardPass pass, int n) {
        int[] t = tokens(pass, n);
        float[] logits = new float[pass.config().vocabularySize()];
        try (KvCache cache = pass.newKvCache(n + 128)) {
            pass.forward(cache, t, 0, n, 0, logits);
            double[] times = new double[3];
            for (int i = 0; i < times.length; i++) {
                long s = System.nanoTime();
                pass.forward(cache, t, 0, n, 0, logits);
                times[i] = (System.nanoTime() - s) / 1e9;
            }
            Arrays.sort(times);
            return n / times[1];
        }
    }

    private static double decode(ForwardPass pass, int batch, double seconds) {
        int vocab = pass.config().vocabularySize();
        int[] t = tokens(pass, 16 + batch);
        KvCache[] caches = new KvCache[batch];
        float[][] out = new float[batch][vocab];
        int[] positions = new int[batch];
        int[] next = new int[batch];
        try {
            for (int b = 0; b < batch; b++) {
                caches[b] = pass.newKvCache(pass.maxContext());
                pass.forward(caches[b], t, b, 16, 0, out[b]);
                positions[b] = 16;
                next[b] = t[16 + b];
            }
            int steps = 0;
            long s = System.nanoTime();
            while (steps < 3 || (System.nanoTime() - s) / 1e9 < seconds) {
                pass.forwardBatch(caches, next, positions, batch, out);
                for (int b = 0; b < batch; b++) {
                    positions[b]++;
                }
                steps++;
                if (positions[0] >= pass.maxContext() - 1) {
                    break;
                }
            }
            return steps * batch / ((System.nanoTime() - s) / 1e9);
        } finally {
            for (KvCache c : caches) {
                if (c != null) {
                    c.close();
                }
            }
        }
    }

    private static String arg(String[] args, String name, String fallback) {
        for (int i = 0; i + 1 < args.length; i++) {
            if (args[i].equals(name)) {
                return args[i + 1];
            }
        }
        return fallback;
    }
}
