package io.offload4j.samples.ragweb;

import dev.langchain4j.data.embedding.Embedding;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.model.embedding.EmbeddingModel;
import dev.langchain4j.model.embedding.onnx.allminilml6v2.AllMiniLmL6V2EmbeddingModel;
import io.offload4j.langchain4j.OffloadEmbeddingModel;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Embedding throughput on the CPU: offload4j's BERT encoder against the ONNX all-MiniLM-L6-v2 that LangChain4j ships
 * (and this sample uses by default), on the <em>same weights</em> (the ONNX file turned back into a Hugging Face
 * directory by {@code tests/bench/onnx_bert_to_hf.py}) and the same texts: passages of this sample's bundled
 * documents, about 60–120 tokens each. Reports texts/s (best of the rounds, after a warm-up round) and how close the
 * two models' vectors are (cosine per text). A program, not a test: run it with {@code tests/bench/embedding-bench.sh}.
 *
 * <p>args: {@code HF_DIR [texts=1000] [rounds=3] [threads=0] [batchTokens=2048]}.
 */
public final class EmbeddingBenchmark {

    /**
     * The tokenizer.json inside LangChain4j's jar truncates at 128 tokens (its {@code truncation.max_length}), so
     * both models see the same ids only when ours cuts there too.
     */
    static final int ONNX_MAX_TOKENS = 128;

    private EmbeddingBenchmark() {}

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        int n = args.length > 1 ? Integer.parseInt(args[1]) : 1000;
        int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 3;
        int threads = args.length > 3 ? Integer.parseInt(args[3]) : 0;
        int batchTokens = args.length > 4 ? Integer.parseInt(args[4]) : 2048;
        List<TextSegment> texts = texts(n);
        System.out.printf("%d texts, %.0f characters on average, %d processors%n", texts.size(),
                texts.stream().mapToInt(t -> t.text().length()).average().orElse(0),
                Runtime.getRuntime().availableProcessors());

        EmbeddingModel onnx = new AllMiniLmL6V2EmbeddingModel();
        try (OffloadEmbeddingModel ours = OffloadEmbeddingModel.builder().modelPath(dir).device("cpu")
                .threads(threads).batchTokens(batchTokens).maxTokens(ONNX_MAX_TOKENS).build()) {
            List<Embedding> a = null;
            List<Embedding> b = null;
            double bestOnnx = 0;
            double bestOurs = 0;
            for (int r = 0; r <= rounds; r++) { // round 0 warms up
                long t0 = System.nanoTime();
                a = onnx.embedAll(texts).content();
                long t1 = System.nanoTime();
                b = ours.embedAll(texts).content();
                long t2 = System.nanoTime();
                double onnxRate = texts.size() / ((t1 - t0) / 1e9);
                double oursRate = texts.size() / ((t2 - t1) / 1e9);
                System.out.printf("round %d%s: ONNX all-MiniLM-L6-v2 %.1f texts/s, offload4j %.1f texts/s%n", r,
                        r == 0 ? " (warm-up)" : "", onnxRate, oursRate);
                if (r > 0) {
                    bestOnnx = Math.max(bestOnnx, onnxRate);
                    bestOurs = Math.max(bestOurs, oursRate);
                }
            }
            double min = 1;
            double sum = 0;
            int worst = 0;
            for (int i = 0; i < texts.size(); i++) {
                double c = a.get(i).vector().length == b.get(i).vector().length
                        ? cosine(a.get(i).vector(), b.get(i).vector()) : Double.NaN;
                if (c < min) {
                    min = c;
                    worst = i;
                }
                sum += c;
            }
            System.out.printf("least similar: text %d (%d tokens for offload4j): %s%n", worst,
                    ours.embed(texts.get(worst)).tokenUsage().inputTokenCount(),
                    texts.get(worst).text().replace('\n', ' '));
            System.out.printf("best: ONNX %.1f texts/s, offload4j %.1f texts/s (ratio %.2f)%n", bestOnnx, bestOurs,
                    bestOurs / bestOnnx);
            System.out.printf("agreement: cosine min %.6f, mean %.6f over %d texts%n", min, sum / texts.size(),
                    texts.size());
        }
    }

    /** Passages of the bundled documents (one per paragraph of 200+ characters, cut at 600), repeated to n. */
    static List<TextSegment> texts(int n) throws IOException {
        List<String> paragraphs = new ArrayList<>();
        for (String doc : List.of("overview", "configuration", "supported-models", "langchain4j",
                "tiers-and-offloading")) {
            try (InputStream in = EmbeddingBenchmark.class.getResourceAsStream("/docs/" + doc + ".md")) {
                String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
                for (String p : text.split("\n\n")) {
                    String t = p.strip();
                    if (t.length() >= 200) {
                        paragraphs.add(t.length() > 600 ? t.substring(0, 600) : t);
                    }
                }
            }
        }
        List<TextSegment> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            // a number in front keeps repeated paragraphs distinct texts
            out.add(TextSegment.from((i / paragraphs.size()) + ". " + paragraphs.get(i % paragraphs.size())));
        }
        return out;
    }

    static double cosine(float[] x, float[] y) {
        double d = 0;
        double a = 0;
        double b = 0;
        for (int i = 0; i < x.length; i++) {
            d += (double) x[i] * y[i];
            a += (double) x[i] * x[i];
            b += (double) y[i] * y[i];
        }
        return d / Math.sqrt(a * b);
    }
}
