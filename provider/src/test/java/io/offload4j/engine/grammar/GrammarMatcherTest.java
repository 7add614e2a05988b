package io.offload4j.engine.grammar;

import static io.offload4j.engine.grammar.GrammarBuilder.chars;
import static io.offload4j.engine.grammar.GrammarBuilder.literal;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class GrammarMatcherTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    static final ListTokenizer TOKENIZER = new ListTokenizer(List.of("{\"", "\":", "\", \"", "\"}", "true", "false",
            "null", "123", "0.5e", "é", "日本", "\\u00", "\\n", " {", "{}", "[]", "],", "},", "abc", " the", "a\"b",
            "\"name\"", "\"age\"", ": ", ", ", "\n  ", "-", "\u00e9t\u00e9", "\"\"", "[{", "}]", "\":\"", "\":{\""));

    @Test
    void acceptsJsonAndRefusesWhatIsNot() {
        Grammar json = JsonGrammar.anyValue();
        for (String ok : List.of("{}", "[]", "0", "-12.5e+3", "\"a\\u00e9\\n\"", " {\"a\": [1, {\"b\": null}], \"c\": true}",
                "\"日本\"", "[\n  1,\n  2\n]")) {
            GrammarMatcher m = matcher(json);
            assertThat(m.acceptBytes(ok.getBytes(StandardCharsets.UTF_8))).as(ok).isTrue();
            assertThat(m.isComplete()).as(ok).isTrue();
        }
        for (String bad : List.of("{,}", "[1,]", "01", "\"a\\x\"", "{\"a\" 1}", "tru e", "\"\u0001\"", "{\"a\":1}}")) {
            GrammarMatcher m = matcher(json);
            assertThat(m.acceptBytes(bad.getBytes(StandardCharsets.UTF_8)) && m.isComplete()).as(bad).isFalse();
        }
        for (String open : List.of("{", "[1,", "\"abc", "{\"a\":", "-")) {
            GrammarMatcher m = matcher(json);
            assertThat(m.acceptBytes(open.getBytes(StandardCharsets.UTF_8))).as(open).isTrue();
            assertThat(m.isComplete()).as(open).isFalse();
        }
    }

    @Test
    void refusesInvalidUtf8InsideStrings() {
        GrammarMatcher m = matcher(JsonGrammar.anyValue());
        assertThat(m.acceptBytes(new byte[] {'"', (byte) 0xC3})).isTrue(); // first byte of é: may complete
        assertThat(m.acceptBytes(new byte[] {'"'})).isFalse(); // but not end the string half-way
        assertThat(m.acceptBytes(new byte[] {(byte) 0xA9, '"'})).isTrue();
        assertThat(m.isComplete()).isTrue();
        assertThat(matcher(JsonGrammar.anyValue()).acceptBytes(new byte[] {'"', (byte) 0xED, (byte) 0xA0})).isFalse();
    }

    @Test
    void shortestCompletionIsCounted() {
        GrammarMatcher m = matcher(JsonGrammar.anyValue());
        assertThat(m.minCompletionBytes()).isEqualTo(1); // "0"
        m.acceptBytes("{\"ab".getBytes(StandardCharsets.UTF_8));
        assertThat(m.minCompletionBytes()).isEqualTo("\":0}".length());
        m.acceptBytes("\\u0".getBytes(StandardCharsets.UTF_8));
        assertThat(m.minCompletionBytes()).isEqualTo("000\":0}".length());
    }

    @Test
    void everyRandomWalkEndsInValidJsonWithinItsBudget() throws Exception {
        Grammar json = JsonGrammar.anyValue();
        GrammarVocabulary vocab = GrammarVocabulary.of(TOKENIZER);
        for (int seed = 0; seed < 400; seed++) {
            SplittableRandom random = new SplittableRandom(seed);
            int budget = 1 + random.nextInt(80);
            String text = randomWalk(new GrammarMatcher(json, vocab), budget, random);
            JsonNode parsed = JSON.readTree(text);
            assertThat(parsed).as("seed %d: %s", seed, text).isNotNull();
        }
    }

    @Test
    void eosOnlyWhenCompleteAndControlTokensNever() {
        GrammarMatcher m = matcher(JsonGrammar.anyValue());
        m.computeMask(100);
        assertThat(m.allowed(0)).isFalse();
        assertThat(m.allowed(1)).isFalse();
        assertThat(m.allowed(ListTokenizer.byteToken('{'))).isTrue();
        assertThat(m.allowed(ListTokenizer.byteToken('}'))).isFalse();
        m.acceptBytes("\"x".getBytes(StandardCharsets.UTF_8));
        m.computeMask(100);
        assertThat(m.allowed(TOKENIZER.tokenId("abc"))).isTrue();
        assertThat(m.allowed(TOKENIZER.tokenId("a\"b"))).isFalse(); // would close the string, then text follows
        assertThat(m.allowed(TOKENIZER.tokenId("\"}"))).isFalse();
        assertThat(m.allowed(ListTokenizer.byteToken('"'))).isTrue();
        m.acceptBytes("\"".getBytes(StandardCharsets.UTF_8));
        m.computeMask(100);
        assertThat(m.allowed(0)).isTrue();
        assertThat(m.allowed(ListTokenizer.byteToken('"'))).isFalse();
        m.accept(0);
        assertThat(m.isFinished()).isTrue();
        assertThatThrownBy(() -> m.accept(ListTokenizer.byteToken(' '))).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void theLastTokensCloseTheValue() {
        GrammarMatcher m = matcher(JsonGrammar.anyValue());
        m.acceptBytes("{\"a\": [\"xy".getBytes(StandardCharsets.UTF_8));
        m.computeMask(4); // "]}" + the closing quote = 3 bytes, so 4 tokens leave one to spare
        assertThat(m.allowed(TOKENIZER.tokenId("abc"))).isTrue();
        m.computeMask(3); // exactly the shortest path is left
        assertThat(m.allowed(TOKENIZER.tokenId("abc"))).isFalse();
        assertThat(m.allowed(ListTokenizer.byteToken('"'))).isTrue();
        assertThat(m.allowed(ListTokenizer.byteToken('z'))).isFalse();
    }

    @Test
    void leftRecursionAndEndlessRulesAreRefused() {
        GrammarBuilder b = new GrammarBuilder();
        GrammarBuilder.Rule list = b.rule("list");
        list.alt(list, chars('0', '9')).alt(chars('0', '9'));
        assertThatThrownBy(() -> b.build(list)).hasMessageContaining("left-recursive");
        GrammarBuilder b2 = new GrammarBuilder();
        GrammarBuilder.Rule loop = b2.rule("loop");
        loop.alt(literal("x"), loop);
        assertThatThrownBy(() -> b2.build(loop)).hasMessageContaining("no finite text");
    }

    @Test
    void maskingAndAcceptingAllocateNothingOnceWarm() {
        com.sun.management.ThreadMXBean threads =
                (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        Grammar json = JsonGrammar.anyValue();
        // a reply through structure, a free string, an escape, a number and nesting, token by token
        int[] reply = tokens("{", "\"name\"", ": ", "\"", " the", "abc", "\\u00", "e", "9", "\"", ", ", "\"age\"",
                ": ", "123", ", ", "\"", "x", "\":{\"", "y", "\":", "[{", "\"", "z", "\":", "null", "}]", "}", "}");
        float[] logits = new float[TOKENIZER.vocabularySize()];
        for (int warm = 0; warm < 200; warm++) {
            walk(json, reply, logits);
        }
        GrammarMatcher m = matcher(json);
        long before = threads.getThreadAllocatedBytes(Thread.currentThread().threadId());
        for (int t : reply) {
            m.mask(logits, 1000);
            m.accept(t);
        }
        long allocated = threads.getThreadAllocatedBytes(Thread.currentThread().threadId()) - before;
        assertThat(m.isComplete()).isTrue();
        assertThat(allocated).as("bytes allocated by %d masks and tokens", reply.length).isLessThan(1024);
    }

    private static void walk(Grammar json, int[] reply, float[] logits) {
        GrammarMatcher m = matcher(json);
        for (int t : reply) {
            m.mask(logits, 1000);
            assertThat(m.allowed(t)).isTrue();
            m.accept(t);
        }
    }

    private static int[] tokens(String... pieces) {
        int[] ids = new int[pieces.length];
        for (int i = 0; i < pieces.length; i++) {
            int id = TOKENIZER.tokenId(pieces[i]);
            ids[i] = id >= 0 ? id : ListTokenizer.byteToken(pieces[i].charAt(0));
            assertThat(pieces[i].length() == 1 || id >= 0).as(pieces[i]).isTrue();
        }
        return ids;
    }

    static GrammarMatcher matcher(Grammar g) {
        return new GrammarMatcher(g, GrammarVocabulary.of(TOKENIZER));
    }

    /** Picks allowed tokens uniformly at random until end of generation or the budget; returns the text. */
    static String randomWalk(GrammarMatcher m, int budget, SplittableRandom random) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int[] allowed = new int[TOKENIZER.vocabularySize()];
        for (int left = budget; left > 0; left--) {
            m.computeMask(left);
            int n = 0;
            for (int t = 0; t < allowed.length; t++) {
                if (m.allowed(t)) {
                    allowed[n++] = t;
                }
            }
            int t = allowed[random.nextInt(n)];
            m.accept(t);
            if (t == 0) {
                break;
            }
            out.writeBytes(TOKENIZER.tokenBytes(t));
        }
        assertThat(m.isComplete()).as("complete after %d tokens: %s", budget, out.toString(StandardCharsets.UTF_8))
                .isTrue();
        return out.toString(StandardCharsets.UTF_8);
    }
}
