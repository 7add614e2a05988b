package io.offload4j.engine.speculative;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

class PromptLookupDrafterTest {

    private static int[] draft(PromptLookupDrafter d, int[] history, int max) {
        int[] out = new int[max];
        int n = d.draft(Arrays.copyOf(history, history.length + 5), history.length, max, out);
        return Arrays.copyOf(out, n);
    }

    @Test
    void continuesAfterTheLatestEarlierOccurrenceOfTheLongestMatchingNgram() {
        PromptLookupDrafter d = new PromptLookupDrafter(1, 3);
        // "7 8 9" occurs at 0 (followed by 1 2) and at 5 (followed by 4 4 ...): the latest wins
        int[] h = {7, 8, 9, 1, 2, 7, 8, 9, 4, 4, 6, 6, 0, 7, 8, 9};
        assertArrayEquals(new int[] {4, 4, 6}, draft(d, h, 3));
        // a 3-gram beats a later 1-gram: "5 8 9" is nowhere, "8 9" at 1 and 6 → latest 6
        int[] h2 = {1, 8, 9, 2, 3, 9, 8, 9, 4, 9, 5, 5, 8, 9};
        assertArrayEquals(new int[] {4, 9}, draft(d, h2, 2));
    }

    @Test
    void theDraftStopsAtTheEndOfTheHistoryAndAtMax() {
        PromptLookupDrafter d = new PromptLookupDrafter(1, 2);
        int[] h = {3, 4, 5, 3, 4};
        assertArrayEquals(new int[] {5, 3, 4}, draft(d, h, 8)); // from index 2 to the end
        assertArrayEquals(new int[] {5}, draft(d, h, 1));
    }

    @Test
    void noMatchNoDraft() {
        assertEquals(0, draft(new PromptLookupDrafter(2, 3), new int[] {1, 2, 3, 4, 5, 1}, 4).length);
        assertEquals(0, draft(new PromptLookupDrafter(1, 3), new int[] {1}, 4).length);
        assertArrayEquals(new int[] {2, 3, 4, 5}, draft(new PromptLookupDrafter(1, 3), new int[] {1, 2, 3, 4, 5, 1}, 4));
    }

    @Test
    void badSizesAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new PromptLookupDrafter(0, 2));
        assertThrows(IllegalArgumentException.class, () -> new PromptLookupDrafter(3, 2));
    }
}
