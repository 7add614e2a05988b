package io.offload4j.bench;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Runs llama.cpp's {@code llama-bench} on a GGUF file and reads its JSON report. */
final class LlamaBench {

    /** One llama-bench test: pp (nPrompt > 0) or tg (nGen > 0), throughput over its repetitions. */
    record Result(int nPrompt, int nGen, double avgTokensPerSecond, double stddevTokensPerSecond, long modelBytes,
                  String buildCommit, String cpuInfo, String backends, int threads) {}

    private LlamaBench() {}

    static List<Result> run(Path llamaBench, Path model, int threads, int prompt, int gen, int reps, long timeoutSeconds)
            throws IOException, InterruptedException {
        List<String> cmd = List.of(llamaBench.toString(), "-m", model.toString(), "-t", Integer.toString(threads),
                "-p", Integer.toString(prompt), "-n", Integer.toString(gen), "-r", Integer.toString(reps), "-o", "json");
        System.err.println("[peer] " + String.join(" ", cmd));
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        p.getOutputStream().close();
        byte[] out;
        try (InputStream in = p.getInputStream()) {
            ByteArrayOutputStream buf = new ByteArrayOutputStream();
            in.transferTo(buf);
            out = buf.toByteArray();
        }
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException("llama-bench did not finish in " + timeoutSeconds + " s");
        }
        if (p.exitValue() != 0) {
            throw new IOException("llama-bench exited with " + p.exitValue());
        }
        return parse(new String(out, StandardCharsets.UTF_8));
    }

    static List<Result> parse(String json) {
        int start = json.indexOf('[');
        if (start < 0) {
            throw new IllegalArgumentException("no JSON array in llama-bench output: " + json);
        }
        List<Result> results = new ArrayList<>();
        for (Object o : (List<?>) Json.parse(json.substring(start))) {
            Map<?, ?> m = (Map<?, ?>) o;
            results.add(new Result(num(m, "n_prompt"), num(m, "n_gen"), dbl(m, "avg_ts"), dbl(m, "stddev_ts"),
                    (long) dbl(m, "model_size"), str(m, "build_commit") + " (" + str(m, "build_number") + ")",
                    str(m, "cpu_info"), str(m, "backends"), num(m, "n_threads")));
        }
        return results;
    }

    private static int num(Map<?, ?> m, String k) {
        return (int) dbl(m, k);
    }

    private static double dbl(Map<?, ?> m, String k) {
        Object v = m.get(k);
        return v instanceof Double d ? d : Double.NaN;
    }

    private static String str(Map<?, ?> m, String k) {
        Object v = m.get(k);
        return v == null ? "?" : v instanceof Double d && d == Math.rint(d) ? Long.toString(d.longValue()) : v.toString();
    }
}
