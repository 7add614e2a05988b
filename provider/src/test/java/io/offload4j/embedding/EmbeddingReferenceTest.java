package io.offload4j.embedding;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Embeddings and re-ranking scores against transformers / sentence-transformers, on tiny random-weight models the
 * lead made on the GPU machine ({@code tests/gpu/make_hf_fixtures.py}, float32, kept in
 * {@code src/test/resources/transformers}): the same token ids, and every vector within cosine 0.9999 of the
 * reference (every score within 1e-4). The references were computed padded as one batch; ours packed: equal results
 * also show that packing several texts in a pass keeps each text to itself.
 */
public class EmbeddingReferenceTest {

    private static final EmbeddingOptions CPU = EmbeddingOptions.DEFAULTS.withDevice("cpu").withThreads(2);
    private static final List<AutoCloseable> OPEN = new ArrayList<>();

    public static Path resource(String name) {
        try {
            return Path.of(EmbeddingReferenceTest.class.getResource("/transformers/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    @BeforeAll
    static void none() {
    }

    @AfterAll
    static void closeAll() throws Exception {
        for (AutoCloseable c : OPEN) {
            c.close();
        }
    }

    private static <T extends AutoCloseable> T open(T t) {
        OPEN.add(t);
        return t;
    }

    @Test
    void bertMeanPooledNormalisedEmbeddingsMatchSentenceTransformers() throws IOException {
        Path dir = resource("hf-bert");
        JsonNode ref = json(dir.resolve("ref-embed.json"));
        EncoderEmbedder bert = (EncoderEmbedder) open(TextEmbedders.load(dir, CPU));
        assertEquals(Pooling.MEAN, bert.pooling(), "1_Pooling/config.json says mean");
        assertTrue(bert.normalizes(), "modules.json has a Normalize module");
        List<String> texts = strings(ref.path("texts"));
        for (int i = 0; i < texts.size(); i++) {
            assertArrayEquals(ints(ref.path("ids").get(i)), bert.tokenize(texts.get(i)), "ids of " + texts.get(i));
        }
        float[][] expected = f32(dir.resolve("ref-embed.f32"), texts.size(), 64);
        List<float[]> actual = bert.embed(texts); // all five packed into one pass
        for (int i = 0; i < texts.size(); i++) {
            assertCosine(expected[i], actual.get(i), texts.get(i));
        }
        // one text per call gives the same vectors as the packed pass
        for (int i = 0; i < texts.size(); i++) {
            assertCosine(expected[i], bert.embed(List.of(texts.get(i))).getFirst(), "alone: " + texts.get(i));
        }
    }

    @Test
    void bertClsPoolingGivesTheClsHiddenState() throws IOException {
        Path dir = resource("hf-bert");
        JsonNode ref = json(dir.resolve("ref-embed.json"));
        TextEmbedder bert = open(TextEmbedders.load(dir, CPU.withPooling(Pooling.CLS).withNormalize(false)));
        List<String> texts = strings(ref.path("texts"));
        float[][] expected = f32(dir.resolve("ref-cls-unnormalised.f32"), texts.size(), 64);
        List<float[]> actual = bert.embed(texts);
        for (int i = 0; i < texts.size(); i++) {
            assertCosine(expected[i], actual.get(i), texts.get(i));
            for (int j = 0; j < 64; j++) {
                assertEquals(expected[i][j], actual.get(i)[j], 1e-4f, "CLS state " + i + "[" + j + "]");
            }
        }
    }

    @Test
    void xlmRobertaRerankerScoresMatchTransformersLogits() throws IOException {
        Path dir = resource("hf-xlmr-reranker");
        JsonNode ref = json(dir.resolve("ref-scores.json"));
        CrossEncoderScorer raw = (CrossEncoderScorer) open(TextScorers.load(dir, CPU, false, null));
        TextScorer sigmoid = open(TextScorers.load(dir, CPU, true, null));
        JsonNode pairs = ref.path("pairs");
        for (int i = 0; i < pairs.size(); i++) {
            String q = pairs.get(i).get(0).asText();
            String d = pairs.get(i).get(1).asText();
            assertArrayEquals(ints(ref.path("ids").get(i)), raw.tokenize(q, d), "ids of pair " + i);
            float expected = (float) ref.path("scores").get(i).asDouble();
            float actual = raw.score(q, List.of(d))[0];
            assertEquals(expected, actual, 1e-4f, "logit of pair " + i);
            assertEquals(1 / (1 + Math.exp(-expected)), sigmoid.score(q, List.of(d))[0], 1e-4, "sigmoid " + i);
        }
        // several documents of one query packed in one pass
        String q = pairs.get(0).get(0).asText();
        float[] both = raw.score(q, List.of(pairs.get(0).get(1).asText(), pairs.get(1).get(1).asText()));
        assertEquals(ref.path("scores").get(0).asDouble(), both[0], 1e-4);
        assertEquals(ref.path("scores").get(1).asDouble(), both[1], 1e-4);
    }

    @Test
    void qwen3EmbeddingLastTokenPooledMatchesTransformers() throws IOException {
        Path dir = resource("hf-qwen3-embed");
        JsonNode ref = json(dir.resolve("ref-embed.json"));
        DecoderEmbedder qwen = (DecoderEmbedder) open(TextEmbedders.load(dir, CPU));
        assertEquals(Pooling.LAST, qwen.pooling());
        List<String> texts = strings(ref.path("texts"));
        for (int i = 0; i < texts.size(); i++) {
            assertArrayEquals(ints(ref.path("ids").get(i)), qwen.tokenize(texts.get(i)), "ids of text " + i);
        }
        float[][] expected = f32(dir.resolve("ref-embed.f32"), texts.size(), 64);
        List<float[]> actual = qwen.embed(texts);
        for (int i = 0; i < texts.size(); i++) {
            assertCosine(expected[i], actual.get(i), "text " + i);
        }
    }

    @Test
    void sentenceTransformersMaxSeqLengthCutsTexts(@org.junit.jupiter.api.io.TempDir Path tmp) throws IOException {
        Path src = resource("hf-bert");
        try (var files = Files.walk(src)) {
            for (Path f : files.toList()) {
                Path to = tmp.resolve(src.relativize(f).toString());
                if (Files.isDirectory(f)) {
                    Files.createDirectories(to);
                } else {
                    Files.copy(f, to);
                }
            }
        }
        Files.writeString(tmp.resolve("sentence_bert_config.json"), "{\"max_seq_length\": 4}");
        try (EncoderEmbedder bert = (EncoderEmbedder) TextEmbedders.load(tmp, CPU)) {
            // [CLS] the quick [SEP]: sentence-transformers counts the special tokens in max_seq_length
            assertArrayEquals(new int[] {2, 101, 182, 3}, bert.tokenize("The quick brown fox jumps over the lazy dog."));
        }
        try (EncoderEmbedder bert = (EncoderEmbedder) TextEmbedders.load(tmp, CPU.withMaxTokens(6))) {
            assertEquals(6, bert.tokenize("The quick brown fox jumps over the lazy dog.").length, "an explicit limit wins");
        }
    }

    public static void assertCosine(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what + ": dimension");
        double dot = 0;
        double a = 0;
        double b = 0;
        for (int i = 0; i < expected.length; i++) {
            dot += (double) expected[i] * actual[i];
            a += (double) expected[i] * expected[i];
            b += (double) actual[i] * actual[i];
        }
        double cosine = dot / Math.sqrt(a * b);
        assertTrue(cosine >= 0.9999, what + ": cosine " + cosine + " < 0.9999");
    }

    public static JsonNode json(Path p) throws IOException {
        return new ObjectMapper().readTree(p.toFile());
    }

    public static List<String> strings(JsonNode a) {
        List<String> out = new ArrayList<>();
        a.forEach(n -> out.add(n.asText()));
        return out;
    }

    public static int[] ints(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).asInt();
        }
        return out;
    }

    public static float[][] f32(Path p, int rows, int cols) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(p)).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(4L * rows * cols, b.capacity(), p + " size");
        float[][] out = new float[rows][cols];
        for (float[] row : out) {
            b.asFloatBuffer().get(row);
            b.position(b.position() + 4 * cols);
        }
        return out;
    }
}
