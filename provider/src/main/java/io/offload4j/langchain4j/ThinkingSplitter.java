package io.offload4j.langchain4j;

import io.offload4j.chat.ThinkingFormat;

/**
 * Separates a reasoning model's thinking from its answer as the reply is generated: text between the start and
 * end markers at the beginning of the reply (or from the beginning, when the prompt already opened the thinking)
 * is thinking, the rest is the answer (its leading whitespace dropped). A suffix that could be the start of a
 * marker is held back until the next piece decides, so no marker text ever reaches either side. The start marker
 * is recognised only at the beginning of the reply (after whitespace): an answer that mentions {@code <think>}
 * later stays answer. One per reply; confined to the engine thread.
 */
final class ThinkingSplitter {

    /** What one piece of generated text contributes to each side (either may be ""). */
    record Split(String thinking, String answer) {
        static final Split NOTHING = new Split("", "");
    }

    private enum State { LEAD, THINKING, ANSWER_LEAD, ANSWER }

    private final ThinkingFormat format;
    private final StringBuilder pending = new StringBuilder();
    private final StringBuilder thinking = new StringBuilder();
    private State state;

    /**
     * @param format       the model's markers, or null: then everything is answer
     * @param startsInside the prompt already opened the thinking
     */
    ThinkingSplitter(ThinkingFormat format, boolean startsInside) {
        this.format = format;
        this.state = format == null ? State.ANSWER : startsInside ? State.THINKING : State.LEAD;
    }

    /** Splits the next piece of generated text. */
    Split accept(String piece) {
        if (state == State.ANSWER) {
            return piece.isEmpty() ? Split.NOTHING : new Split("", piece);
        }
        pending.append(piece);
        StringBuilder thought = new StringBuilder();
        StringBuilder answer = new StringBuilder();
        while (true) {
            switch (state) {
                case LEAD -> {
                    int first = firstNonWhitespace(pending);
                    if (first < 0) {
                        return split(thought, answer); // whitespace so far: undecided
                    }
                    String rest = pending.substring(first);
                    if (rest.startsWith(format.start())) {
                        pending.delete(0, first + format.start().length());
                        state = State.THINKING;
                    } else if (format.start().startsWith(rest)) {
                        return split(thought, answer); // may still become the start marker
                    } else {
                        state = State.ANSWER;
                        answer.append(pending);
                        pending.setLength(0);
                        return split(thought, answer);
                    }
                }
                case THINKING -> {
                    int end = pending.indexOf(format.end());
                    if (end >= 0) {
                        thought.append(pending, 0, end);
                        pending.delete(0, end + format.end().length());
                        state = State.ANSWER_LEAD;
                    } else {
                        int safe = pending.length() - heldBack(pending, format.end());
                        thought.append(pending, 0, safe);
                        pending.delete(0, safe);
                        return split(thought, answer);
                    }
                }
                case ANSWER_LEAD -> {
                    int first = firstNonWhitespace(pending);
                    if (first < 0) {
                        pending.setLength(0);
                        return split(thought, answer);
                    }
                    answer.append(pending, first, pending.length());
                    pending.setLength(0);
                    state = State.ANSWER;
                    return split(thought, answer);
                }
                default -> {
                    answer.append(pending);
                    pending.setLength(0);
                    return split(thought, answer);
                }
            }
        }
    }

    /** Ends the reply: held-back text goes where it was heading (unfinished thinking stays thinking). */
    Split finish() {
        String rest = pending.toString();
        pending.setLength(0);
        return switch (state) {
            case THINKING -> {
                thinking.append(rest);
                yield new Split(rest, "");
            }
            case ANSWER_LEAD -> Split.NOTHING;
            default -> rest.isEmpty() ? Split.NOTHING : new Split("", rest);
        };
    }

    /** All thinking so far without surrounding whitespace, or null when there was none. */
    String thinking() {
        String t = thinking.toString().strip();
        return t.isEmpty() ? null : t;
    }

    private Split split(StringBuilder thought, StringBuilder answer) {
        thinking.append(thought);
        if (thought.isEmpty() && answer.isEmpty()) {
            return Split.NOTHING;
        }
        return new Split(thought.toString(), answer.toString());
    }

    /** Length of the longest suffix of {@code text} that is a proper prefix of {@code marker}. */
    private static int heldBack(CharSequence text, String marker) {
        int n = text.length();
        for (int len = Math.min(marker.length() - 1, n); len > 0; len--) {
            boolean match = true;
            for (int i = 0; i < len && match; i++) {
                match = text.charAt(n - len + i) == marker.charAt(i);
            }
            if (match) {
                return len;
            }
        }
        return 0;
    }

    private static int firstNonWhitespace(CharSequence s) {
        for (int i = 0; i < s.length(); i++) {
            if (!Character.isWhitespace(s.charAt(i))) {
                return i;
            }
        }
        return -1;
    }
}
