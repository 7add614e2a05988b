package io.offload4j.embedding;

import static io.offload4j.embedding.EmbeddingReferenceTest.assertCosine;
import static io.offload4j.embedding.EmbeddingReferenceTest.f32;
import static io.offload4j.embedding.EmbeddingReferenceTest.ints;
import static io.offload4j.embedding.EmbeddingReferenceTest.json;
import static io.offload4j.embedding.EmbeddingReferenceTest.resource;
import static io.offload4j.embedding.EmbeddingReferenceTest.strings;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.backend.cpu.CpuBackend;
import io.offload4j.engine.ModelFiles;
import io.offload4j.gguf.GgufMetadata;
import io.offload4j.gguf.GgufValueType;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.QuantizedGguf;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A gte-Qwen2-style decoder trained with bidirectional attention ({@code hf-qwen2-bidir}: a Qwen2Model directory with
 * {@code "is_causal": false}, random weights) against a float64 numpy forward pass of the same weights written
 * independently of the engine ({@code tests/embedding/make_bidir_fixture.py}), which also gives the causal vectors:
 * the engine's causal pass (checked against transformers by the other fixtures) matching those shows the numpy pass
 * right, and the bidirectional vectors differ from them by a cosine of 0.80 to 0.97, so a causal run cannot pass.
 * With {@code ref-embed.json}/{@code ref-embed.f32} in the directory ({@code tests/gpu/make_bidir_fixture.py}, run
 * with transformers on the GPU machine), the vectors are checked against transformers too.
 */
public class BidirectionalEmbeddingTest {

    private static final EmbeddingOptions CPU = EmbeddingOptions.DEFAULTS.withDevice("cpu").withThreads(2);
    static final int DIM = 64;

    static Path dir;
    static List<String> texts;
    static int[][] ids;
    static float[][] bidirectional;
    static float[][] causal;

    @BeforeAll
    static void read() throws IOException {
        dir = resource("hf-qwen2-bidir");
        JsonNode ref = json(dir.resolve("ref-numpy.json"));
        texts = strings(ref.path("texts"));
        ids = new int[texts.size()][];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = ints(ref.path("ids").get(i));
        }
        bidirectional = f32(dir.resolve("ref-numpy-bidir.f32"), texts.size(), DIM);
        causal = f32(dir.resolve("ref-numpy-causal.f32"), texts.size(), DIM);
    }

    @Test
    void isCausalFalseBecomesLlamaCppsKeyAndTheEmbedderAttendsBidirectionally() {
        try (Model m = Model.load(dir)) {
            assertFalse(m.metadata().getBoolean("qwen2.attention.causal"), "is_causal false read as llama.cpp's key");
        }
        try (DecoderEmbedder e = (DecoderEmbedder) TextEmbedders.load(dir, CPU)) {
            assertEquals(Pooling.LAST, e.pooling(), "1_Pooling/config.json says the last token");
            for (int i = 0; i < texts.size(); i++) {
                assertArrayEquals(ids[i], e.tokenize(texts.get(i)), "ids of text " + i);
            }
            List<float[]> got = e.embed(texts); // packed: several texts in one pass, each attending only to itself
            double worst = 1;
            double nearestCausal = -1;
            for (int i = 0; i < texts.size(); i++) {
                worst = Math.min(worst, cosine(bidirectional[i], got.get(i)));
                nearestCausal = Math.max(nearestCausal, cosine(causal[i], got.get(i)));
            }
            System.out.printf("hf-qwen2-bidir on the CPU: worst cosine vs numpy %.8f, highest vs the causal vectors %.4f%n",
                    worst, nearestCausal);
            for (int i = 0; i < texts.size(); i++) {
                assertCosine(bidirectional[i], got.get(i), "bidirectional, text " + i);
                assertTrue(cosine(causal[i], got.get(i)) < 0.99, "text " + i + " embedded causally: cosine "
                        + cosine(causal[i], got.get(i)) + " with the causal vector");
            }
            for (int i = 0; i < texts.size(); i++) {
                assertCosine(bidirectional[i], e.embed(List.of(texts.get(i))).get(0), "alone, text " + i);
            }
        }
    }

    /** The pass itself: the same weights causally give numpy's causal vectors, bidirectionally its other ones. */
    @Test
    void forwardHiddenCausalAndBidirectionalMatchNumpy() {
        try (Model m = Model.load(dir); CpuBackend cpu = new CpuBackend(2); ForwardPass pass = cpu.prepare(m, 128, 256)) {
            for (boolean bidir : new boolean[] {false, true}) {
                float[][] got = lastRows(pass, ids, bidir);
                for (int i = 0; i < ids.length; i++) {
                    assertCosine(bidir ? bidirectional[i] : causal[i], got[i], (bidir ? "bidirectional" : "causal")
                            + " forwardHidden, text " + i);
                }
            }
        }
    }

    /** Every text packed in one forwardHidden call; the last row of each, L2-normalised. */
    public static float[][] lastRows(ForwardPass pass, int[][] ids, boolean bidirectional) {
        int total = 0;
        int[] lengths = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            lengths[i] = ids[i].length;
            total += lengths[i];
        }
        int[] tokens = new int[total];
        KvCache[] caches = new KvCache[ids.length];
        int at = 0;
        for (int i = 0; i < ids.length; i++) {
            System.arraycopy(ids[i], 0, tokens, at, lengths[i]);
            at += lengths[i];
        }
        int dim = pass.config().embeddingLength();
        float[] hidden = new float[total * dim];
        try {
            for (int i = 0; i < ids.length; i++) {
                caches[i] = pass.newKvCache(lengths[i]);
            }
            pass.forwardHidden(caches, tokens, lengths, ids.length, hidden, bidirectional);
        } finally {
            for (KvCache c : caches) {
                if (c != null) {
                    c.close();
                }
            }
        }
        float[][] out = new float[ids.length][dim];
        int row = 0;
        for (int i = 0; i < ids.length; i++) {
            row += lengths[i];
            System.arraycopy(hidden, (row - 1) * dim, out[i], 0, dim);
            Pooling.normalize(out[i]);
        }
        return out;
    }

    /** transformers' vectors of this directory, when the GPU machine's script has added them. */
    @Test
    void matchesTransformersWhenItsVectorsArePresent() throws IOException {
        Path vectors = dir.resolve("ref-embed.f32");
        Assumptions.assumeTrue(Files.isRegularFile(vectors), "no transformers vectors yet (tests/gpu/make_bidir_fixture.py)");
        JsonNode ref = json(dir.resolve("ref-embed.json"));
        List<String> refTexts = strings(ref.path("texts"));
        float[][] expected = f32(vectors, refTexts.size(), DIM);
        try (DecoderEmbedder e = (DecoderEmbedder) TextEmbedders.load(dir, CPU)) {
            for (int i = 0; i < refTexts.size(); i++) {
                assertArrayEquals(ints(ref.path("ids").get(i)), e.tokenize(refTexts.get(i)), "ids of text " + i);
            }
            List<float[]> got = e.embed(refTexts);
            for (int i = 0; i < refTexts.size(); i++) {
                assertCosine(expected[i], got.get(i), "vs transformers, text " + i);
            }
        }
        // transformers agrees with the numpy reference on the texts both have
        for (int i = 0; i < Math.min(refTexts.size(), texts.size()); i++) {
            if (refTexts.get(i).equals(texts.get(i))) {
                assertCosine(bidirectional[i], expected[i], "transformers vs numpy, text " + i);
            }
        }
    }

    /**
     * The same weights as GGUF (our writer, as llama.cpp's converter would name them): the key
     * {@code qwen2.attention.causal = false} travels with the metadata and makes the pass bidirectional; without it
     * the GGUF is an ordinary causal model.
     */
    @Test
    void ggufWithAttentionCausalFalse(@TempDir Path tmp) throws IOException {
        Path bidirGguf = tmp.resolve("bidir.gguf");
        Path causalGguf = tmp.resolve("causal.gguf");
        try (Model m = Model.load(dir)) {
            // llama.cpp's converter writes add_eos_token where the tokenizer appends <|endoftext|> (Qwen3-Embedding)
            Map<String, GgufMetadata.Entry> with = new LinkedHashMap<>(ModelFiles.tokenizerMetadata(m).entries());
            with.put("tokenizer.ggml.add_eos_token", new GgufMetadata.Entry(GgufValueType.BOOL, true));
            GgufMetadata md = new GgufMetadata(dir, with);
            QuantizedGguf.writeAs(m, md, QuantPreset.F32, bidirGguf);
            Map<String, GgufMetadata.Entry> without = new LinkedHashMap<>(md.entries());
            assertTrue(without.remove("qwen2.attention.causal") != null, "the directory's key is in the metadata");
            QuantizedGguf.writeAs(m, new GgufMetadata(dir, without), QuantPreset.F32, causalGguf);
        }
        try (Model m = Model.load(bidirGguf)) {
            assertFalse(m.metadata().getBoolean("qwen2.attention.causal"));
        }
        for (Path gguf : new Path[] {bidirGguf, causalGguf}) {
            boolean bidir = gguf == bidirGguf;
            try (DecoderEmbedder e = (DecoderEmbedder) TextEmbedders.load(gguf, CPU)) {
                List<float[]> got = e.embed(texts);
                for (int i = 0; i < texts.size(); i++) {
                    assertArrayEquals(ids[i], e.tokenize(texts.get(i)), "GGUF ids of text " + i);
                    assertCosine(bidir ? bidirectional[i] : causal[i], got.get(i), gguf.getFileName() + ", text " + i);
                }
            }
        }
    }

    /** A bidirectional model's first token has seen the whole text, so CLS pooling is allowed (and differs). */
    @Test
    void clsPoolingIsAllowedWhenBidirectional() {
        try (TextEmbedder e = TextEmbedders.load(dir, CPU.withPooling(Pooling.CLS))) {
            float[] first = e.embed(List.of(texts.get(1))).get(0);
            assertTrue(cosine(bidirectional[1], first) < 0.99, "CLS is the first token, not the last");
        }
    }

    /** The query form each model's card writes, from its sentence-transformers query prompt. */
    @Test
    void queryInstructionAsTheModelWritesIt() {
        try (TextEmbedder gte = TextEmbedders.load(dir, CPU);
             TextEmbedder qwen3 = TextEmbedders.load(resource("hf-qwen3-embed"), CPU)) {
            assertEquals("Instruct: Find passages\nQuery: what is it?", gte.instructed("Find passages", "what is it?"));
            assertEquals("Instruct: Find passages\nQuery:what is it?", qwen3.instructed("Find passages", "what is it?"));
        }
    }

    @Test
    void aBidirectionalModelIsNoReranker() {
        var e = assertThrows(IllegalArgumentException.class, () -> new DecoderReranker(dir, CPU, null));
        assertTrue(e.getMessage().contains("bidirectionally"), e.getMessage());
    }

    public static double cosine(float[] a, float[] b) {
        double d = 0;
        double x = 0;
        double y = 0;
        for (int i = 0; i < a.length; i++) {
            d += (double) a[i] * b[i];
            x += (double) a[i] * a[i];
            y += (double) b[i] * b[i];
        }
        return d / Math.sqrt(x * y);
    }
}
