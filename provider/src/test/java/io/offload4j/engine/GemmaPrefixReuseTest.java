package io.offload4j.engine;

import io.offload4j.engine.speculative.SpeculativeOptions;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Prefix reuse on a model whose sliding blocks keep a ring (transformers' hf-gemma2, window 8, context 256, chunks
 * of 16: rings of 2 × 24 rows): a conversation's next turn continues the ring and generates what computing it from
 * scratch generates; a prompt that branches off further back than the ring's surplus is computed afresh (a miss),
 * since the ring no longer holds the window before the branch.
 */
@Timeout(120)
class GemmaPrefixReuseTest {

    private static final EngineOptions CPU = EngineOptions.DEFAULTS.withDevice("cpu").withThreads(2)
            .withContextLength(256).withChunkTokens(16);

    private static int[] ids(int from, int n) {
        int[] t = new int[n];
        t[0] = 2; // <bos>
        for (int i = 1; i < n; i++) {
            t[i] = 6 + (from + i * 37) % 370;
        }
        return t;
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static GenerationResult greedy(InferenceEngine e, int[] prompt, int maxTokens) {
        return e.generate(GenerationRequest.of(prompt, maxTokens, SamplingParams.GREEDY), GenerationListener.NONE);
    }

    @Test
    void theNextTurnContinuesTheRingAndABranchFarBackIsComputedAfresh() throws Exception {
        Path dir = Path.of(getClass().getResource("/transformers/hf-gemma2/config.json").toURI()).getParent();
        try (InferenceEngine reuse = InferenceEngine.load(dir, CPU);
             InferenceEngine fresh = InferenceEngine.load(dir, CPU.withPrefixCacheBytes(0))) {
            int[] turn1 = ids(1, 60);
            GenerationResult r1 = greedy(reuse, turn1, 12);
            int[] turn2 = concat(concat(turn1, r1.tokens()), ids(7, 30));
            GenerationResult r2 = greedy(reuse, turn2, 12);
            assertEquals(turn1.length + r1.tokens().length - 1, r2.cachedPromptTokens(), "the next turn reuses");
            assertArrayEquals(greedy(fresh, turn2, 12).tokens(), r2.tokens(), "as computed from scratch");

            // branch off 80 tokens into turn 2's history of 113 cached tokens: more than half of them, so the entry
            // would be worth taking, but 33 positions past the branch > the ring's surplus of 16
            int[] branch = concat(java.util.Arrays.copyOf(turn2, 80), ids(11, 20));
            long missesBefore = reuse.stats().prefixMisses();
            GenerationResult r3 = greedy(reuse, branch, 12);
            assertEquals(0, r3.cachedPromptTokens(), "the ring lost the window before the branch");
            assertEquals(missesBefore + 1, reuse.stats().prefixMisses());
            assertArrayEquals(greedy(fresh, branch, 12).tokens(), r3.tokens());
        }
    }

    /**
     * With speculative decoding a sequence's last verification may have written up to max-draft-tokens rows past the
     * tokens it hands back (its rejected drafts), which in a ring overwrite older rows too: an entry is reused only
     * where the ring's surplus (16) covers those as well. A branch 9 positions before the end of 71 cached tokens is
     * reused without drafting and computed afresh with drafts of up to 8 (9 + 8 > 16), with the same tokens.
     */
    @Test
    void withDraftsTheRingMustAlsoCoverTheRowsOfRejectedDrafts() throws Exception {
        Path dir = Path.of(getClass().getResource("/transformers/hf-gemma2/config.json").toURI()).getParent();
        EngineOptions drafting = CPU.withSpeculative(SpeculativeOptions.promptLookupDefaults().withMaxDraftTokens(8));
        int[][] tokens = new int[2][];
        for (EngineOptions options : new EngineOptions[] {CPU, drafting}) {
            try (InferenceEngine e = InferenceEngine.load(dir, options)) {
                int[] turn1 = ids(1, 60);
                GenerationResult r1 = greedy(e, turn1, 12);
                int[] branch = concat(java.util.Arrays.copyOf(concat(turn1, r1.tokens()), 62), ids(13, 10));
                GenerationResult r2 = greedy(e, branch, 12);
                boolean drafts = options == drafting;
                assertEquals(drafts ? 0 : 62, r2.cachedPromptTokens(), drafts ? "computed afresh" : "reused");
                tokens[drafts ? 1 : 0] = r2.tokens();
            }
        }
        assertArrayEquals(tokens[0], tokens[1]);
    }
}
