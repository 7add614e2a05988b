package io.offload4j.engine;

import java.util.List;

/**
 * Finds stop strings in growing generated text, and says how much of the text is safe to show:
 * text that could still turn into a stop string is held back.
 */
final class StopStringMatcher {

    private final List<String> stops;

    StopStringMatcher(List<String> stops) {
        this.stops = stops;
    }

    /**
     * Index of the earliest complete stop string at or after {@code from}, or -1. Searches the builder
     * in place: called once per generated token, it must not copy the whole text each time.
     */
    int find(StringBuilder text, int from) {
        int best = -1;
        for (String stop : stops) {
            int i = text.indexOf(stop, Math.max(0, from));
            if (i >= 0 && (best < 0 || i < best)) {
                best = i;
            }
        }
        return best;
    }

    /** The end of the prefix of {@code text} that no stop string can start in. */
    int safeEnd(CharSequence text) {
        int n = text.length();
        int safe = n;
        for (String stop : stops) {
            // Longest suffix of text that is a proper prefix of stop.
            for (int len = Math.min(stop.length() - 1, n); len > 0; len--) {
                if (regionMatches(text, n - len, stop, len)) {
                    safe = Math.min(safe, n - len);
                    break;
                }
            }
        }
        return safe;
    }

    private static boolean regionMatches(CharSequence text, int start, String stop, int len) {
        for (int i = 0; i < len; i++) {
            if (text.charAt(start + i) != stop.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    /** Earliest position from which a newly appended piece could complete a stop string. */
    int searchFrom(int previousLength) {
        int longest = 0;
        for (String stop : stops) {
            longest = Math.max(longest, stop.length());
        }
        return Math.max(0, previousLength - longest + 1);
    }
}
