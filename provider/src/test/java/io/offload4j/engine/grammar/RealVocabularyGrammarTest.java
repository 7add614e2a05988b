package io.offload4j.engine.grammar;

import static org.assertj.core.api.Assertions.assertThat;

import io.offload4j.tokenizer.TestVocabularies;
import io.offload4j.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The grammar over real vocabularies: Qwen2's byte-level BPE (151 643 tokens) and Llama 2's SentencePiece. A JSON
 * document tokenized the way the model itself would write it must be allowed token by token, and the time of
 * one mask is measured (printed; the bound asserted is loose because the build machine is shared).
 */
class RealVocabularyGrammarTest {

    private static final String DOCUMENT = "{\"name\": \"Grüße aus Köln\", \"age\": 42, \"tags\": [\"a\", \"b c\"],"
            + " \"nested\": {\"ok\": true, \"ratio\": -0.25e3, \"none\": null}, \"text\": \"line\\nbreak \\\"quoted\\\""
            + " 日本語 and a longer sentence that keeps going for a while to exercise free strings\"}";

    @Test
    void qwen2ByteLevelVocabularyWritesJsonItsOwnWay() {
        check("qwen2", TestVocabularies.qwen2());
    }

    @Test
    void llamaSentencePieceVocabularyWritesJsonItsOwnWay(@TempDir Path tmp) {
        check("llama-spm", TestVocabularies.gguf("ggml-vocab-llama-spm.gguf.gz", tmp));
    }

    private static void check(String name, Tokenizer tokenizer) {
        long t0 = System.nanoTime();
        GrammarVocabulary vocab = GrammarVocabulary.of(tokenizer);
        long buildNanos = System.nanoTime() - t0;
        Grammar json = JsonGrammar.anyValue();
        int[] tokens = tokenizer.encode(DOCUMENT, false, false);
        float[] logits = new float[tokenizer.vocabularySize()];
        long worst = 0;
        long total = 0;
        int measured = 0;
        for (int round = 0; round < 5; round++) { // the first rounds warm the JIT up
            GrammarMatcher m = new GrammarMatcher(json, vocab);
            for (int t : tokens) {
                long s = System.nanoTime();
                m.mask(logits, 10_000); // the mask computed and applied to the logits
                long d = System.nanoTime() - s;
                assertThat(m.allowed(t)).as("%s token %d '%s'", name, t, tokenizer.tokenText(t)).isTrue();
                m.accept(t);
                if (round >= 3) {
                    worst = Math.max(worst, d);
                    total += d;
                    measured++;
                }
            }
            assertThat(m.isComplete()).isTrue();
            m.computeMask(10_000);
            assertThat(m.allowed(tokenizer.eosToken())).isTrue();
        }
        double meanMs = total / 1e6 / measured;
        System.out.printf("grammar mask, %s (%d tokens): vocabulary built in %.0f ms; mask mean %.3f ms, worst %.3f ms"
                        + " over %d tokens of a JSON document%n", name, tokenizer.vocabularySize(), buildNanos / 1e6,
                meanMs, worst / 1e6, measured);
        assertThat(meanMs).as("mean mask time (ms)").isLessThan(20);
    }

    @Test
    void closingPathsUseTheVocabularyBytes() {
        Tokenizer qwen = TestVocabularies.qwen2();
        GrammarMatcher m = new GrammarMatcher(JsonGrammar.anyValue(), GrammarVocabulary.of(qwen));
        for (int t : qwen.encode("{\"a\": [{\"b\": \"unfinished", false, false)) {
            m.accept(t);
        }
        int need = m.minCompletionBytes(); // "\"}]}"
        assertThat(need).isEqualTo(4);
        StringBuilder closing = new StringBuilder();
        for (int left = need; left > 0; left--) {
            m.computeMask(left);
            int chosen = -1;
            for (int t = 0; t < qwen.vocabularySize() && chosen < 0; t++) {
                if (m.allowed(t)) {
                    chosen = t;
                }
            }
            m.accept(chosen);
            closing.append(new String(qwen.tokenBytes(chosen), java.nio.charset.StandardCharsets.UTF_8));
        }
        assertThat(m.isComplete()).isTrue();
        assertThat(closing.toString().replace(" ", "")).isEqualTo("\"}]}");
        assertThat(List.of(m.minCompletionBytes())).containsExactly(0);
    }
}
