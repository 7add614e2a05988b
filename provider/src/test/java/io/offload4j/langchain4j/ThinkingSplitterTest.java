package io.offload4j.langchain4j;

import static org.assertj.core.api.Assertions.assertThat;

import io.offload4j.chat.ThinkingFormat;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class ThinkingSplitterTest {

    private static final ThinkingFormat FORMAT = new ThinkingFormat("<think>", "</think>", false);

    /** Feeds {@code text} in random pieces; returns {thinking, answer} as they came out. */
    private static String[] run(String text, boolean startsInside, long seed) {
        ThinkingSplitter s = new ThinkingSplitter(FORMAT, startsInside);
        StringBuilder thinking = new StringBuilder();
        StringBuilder answer = new StringBuilder();
        SplittableRandom random = new SplittableRandom(seed);
        for (int i = 0; i < text.length(); ) {
            int n = 1 + random.nextInt(4);
            ThinkingSplitter.Split split = s.accept(text.substring(i, Math.min(text.length(), i + n)));
            thinking.append(split.thinking());
            answer.append(split.answer());
            i += n;
        }
        ThinkingSplitter.Split last = s.finish();
        thinking.append(last.thinking());
        answer.append(last.answer());
        assertThat(s.thinking()).isEqualTo(thinking.toString().strip().isEmpty() ? null : thinking.toString().strip());
        return new String[] {thinking.toString(), answer.toString()};
    }

    @Test
    void markersSplitAcrossPiecesNeverLeak() {
        for (long seed = 0; seed < 200; seed++) {
            String[] r = run("\n<think>a < b, and </thin is not the end</think>\n\nThe answer <think> stays.", false,
                    seed);
            assertThat(r[0]).isEqualTo("a < b, and </thin is not the end");
            assertThat(r[1]).isEqualTo("The answer <think> stays.");
        }
    }

    @Test
    void noThinkingMeansEverythingIsAnswer() {
        for (long seed = 0; seed < 50; seed++) {
            assertThat(run("<thin air> is fine", false, seed)).containsExactly("", "<thin air> is fine");
            assertThat(run("  plain", false, seed)).containsExactly("", "  plain");
        }
    }

    @Test
    void aPromptThatOpenedTheThinkingStartsInsideIt() {
        for (long seed = 0; seed < 50; seed++) {
            assertThat(run("step 1\n</think>\n\nDone", true, seed)).containsExactly("step 1\n", "Done");
            assertThat(run("cut off mid-thought </thi", true, seed)).containsExactly("cut off mid-thought </thi", "");
        }
    }

    @Test
    void withoutAFormatNothingIsThinking() {
        ThinkingSplitter s = new ThinkingSplitter(null, false);
        assertThat(s.accept("<think>x</think>y").answer()).isEqualTo("<think>x</think>y");
        assertThat(s.thinking()).isNull();
    }
}
