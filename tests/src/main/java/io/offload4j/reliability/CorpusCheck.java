package io.offload4j.reliability;

import io.offload4j.engine.EngineOptions;
import io.offload4j.engine.GenerationListener;
import io.offload4j.engine.GenerationRequest;
import io.offload4j.engine.InferenceEngine;
import io.offload4j.engine.SamplingParams;
import io.offload4j.gguf.ModelFormatException;
import io.offload4j.model.Model;
import io.offload4j.reliability.BadInputCorpus.Case;
import io.offload4j.safetensors.SafetensorsCheckpoint;
import io.offload4j.safetensors.SafetensorsFile;
import io.offload4j.tokenizer.HuggingFaceTokenizerFiles;
import io.offload4j.tokenizer.TokenizerException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Loads every case of the {@link BadInputCorpus} and checks that each is refused as the project promises: an
 * exception of the project's own kinds ({@link ModelFormatException}, {@link TokenizerException}, or an
 * {@code IllegalArgumentException}/{@code IllegalStateException} with the engine's message), one line, naming the
 * file, within {@link #TIME_LIMIT_SECONDS}; never accepted, never a raw {@code NullPointerException} or
 * {@code OutOfMemoryError}, never a hang.
 *
 * <pre>java --add-modules jdk.incubator.vector -cp tests/target/classes:$(cat cp.txt) io.offload4j.reliability.CorpusCheck [DIR]</pre>
 * prints one line per case and the process's peak RSS, and exits 1 if any case is not refused properly.
 */
public final class CorpusCheck {

    static final long TIME_LIMIT_SECONDS = 20;

    /** What loading one case gave. */
    public record Outcome(Case c, boolean ok, String line) {
        @Override
        public String toString() {
            return (ok ? "refused " : "PROBLEM ") + c.name() + " (" + c.broken() + "): " + line;
        }
    }

    private CorpusCheck() {
    }

    public static void main(String[] args) throws Exception {
        Path dir = args.length > 0 ? Path.of(args[0]) : Files.createTempDirectory("offload4j-corpus");
        long t0 = System.nanoTime();
        List<Outcome> outcomes = checkAll(BadInputCorpus.write(dir));
        int problems = 0;
        for (Outcome o : outcomes) {
            System.out.println(o);
            problems += o.ok() ? 0 : 1;
        }
        System.out.printf("%d cases, %d problems, %.1f s, peak RSS %d MB%n", outcomes.size(), problems,
                (System.nanoTime() - t0) / 1e9, ProcessMemory.peakRssBytes() >> 20);
        System.exit(problems == 0 ? 0 : 1);
    }

    /** Checks every case, each on its own thread with a time limit (a hang counts as a problem). */
    public static List<Outcome> checkAll(List<Case> cases) {
        ExecutorService pool = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "corpus-check");
            t.setDaemon(true); // a case that hangs must not keep the JVM alive
            return t;
        });
        try {
            List<Outcome> out = new ArrayList<>();
            for (Case c : cases) {
                Future<Outcome> f = pool.submit(() -> check(c));
                try {
                    out.add(f.get(TIME_LIMIT_SECONDS, TimeUnit.SECONDS));
                } catch (TimeoutException e) {
                    f.cancel(true);
                    out.add(new Outcome(c, false, "no answer within " + TIME_LIMIT_SECONDS + " s (hangs)"));
                } catch (ExecutionException e) {
                    out.add(new Outcome(c, false, "the check itself failed: " + e.getCause()));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    static Outcome check(Case c) {
        try {
            load(c);
            return new Outcome(c, false, "accepted");
        } catch (ModelFormatException | IllegalArgumentException | IllegalStateException e) { // TokenizerException is an IAE
            return judge(c, e);
        } catch (Throwable e) {
            return new Outcome(c, false, "raw " + e.getClass().getName() + ": " + e.getMessage());
        }
    }

    private static Outcome judge(Case c, RuntimeException e) {
        String m = e.getMessage();
        if (m == null || m.isBlank()) {
            return new Outcome(c, false, e.getClass().getName() + " without a message");
        }
        if (m.contains("\n")) {
            return new Outcome(c, false, "a message of several lines: " + m);
        }
        boolean namesIt = c.kind() == BadInputCorpus.Kind.GENERATE || m.contains(c.path().getFileName().toString());
        return new Outcome(c, namesIt, namesIt ? m : "does not name " + c.path().getFileName() + ": " + m);
    }

    private static void load(Case c) {
        switch (c.kind()) {
            case GGUF -> InferenceEngine.load(c.path(), cpu()).close();
            case SAFETENSORS -> SafetensorsFile.open(c.path()).close();
            case INDEX -> SafetensorsCheckpoint.open(c.path()).close();
            case CONFIG -> Model.load(c.path()).close();
            case TOKENIZER -> HuggingFaceTokenizerFiles.load(c.path(), BadInputCorpus.VOCABULARY);
            case GENERATE -> {
                try (InferenceEngine e = InferenceEngine.load(c.path(), cpu())) {
                    e.generate(GenerationRequest.of(new int[] {1, 300, 301}, 4, SamplingParams.GREEDY),
                            GenerationListener.NONE);
                }
            }
        }
    }

    private static EngineOptions cpu() {
        return EngineOptions.DEFAULTS.withDevice("cpu").withThreads(1);
    }
}
