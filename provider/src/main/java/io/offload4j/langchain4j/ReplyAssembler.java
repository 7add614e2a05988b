package io.offload4j.langchain4j;

import dev.langchain4j.agent.tool.ToolExecutionRequest;
import java.util.Collection;
import java.util.List;
import java.util.Optional;

/**
 * Splits a reply, as it is generated, into text that can be shown at once and a tool-call part that is held
 * back and parsed at the end. One per generation; confined to the engine thread.
 *
 * <p>Without tools in the request everything is text. With tools, text is streamed except what could still be
 * the start of a tool call: a suffix that is a prefix of the format's marker, trailing whitespace (dropped if
 * a tool call follows), and for Llama 3.1 JSON leading whitespace until the first character shows whether the
 * reply is a JSON call. From the marker on, everything is held; at the end it is parsed, and if it is not a
 * well-formed tool call it is released as text. So the streamed pieces always add up to the reply's text.
 */
final class ReplyAssembler {

    /** The reply: its text (null if none), its tool calls, and the text not streamed yet (to stream last). */
    record Reply(String text, List<ToolExecutionRequest> toolCalls, String remainder) {}

    private final ToolCallFormat format;
    private final Collection<String> toolNames;
    private final StringBuilder pending = new StringBuilder();
    private final StringBuilder streamed = new StringBuilder();
    private StringBuilder region;
    private String dropped = "";
    private boolean started;

    /** @param format {@link ToolCallFormat#NONE} when the request offers no tools */
    ReplyAssembler(ToolCallFormat format, Collection<String> toolNames) {
        this.format = format;
        this.toolNames = toolNames;
    }

    /** Adds generated text (or a tool-call special token's text); returns what may be shown now, maybe "". */
    String accept(String piece) {
        if (region != null) {
            region.append(piece);
            return "";
        }
        if (format == ToolCallFormat.NONE) {
            streamed.append(piece);
            return piece;
        }
        pending.append(piece);
        if (format == ToolCallFormat.LLAMA3_JSON && !started) {
            int first = firstNonWhitespace(pending);
            if (first < 0) {
                return "";
            }
            started = true;
            if (pending.charAt(first) == '{') {
                return startRegion(first);
            }
        }
        int marker = earliestMarker();
        if (marker >= 0) {
            return startRegion(marker);
        }
        int safe = safeEnd();
        return release(safe);
    }

    /** Ends the reply: parses a held tool-call part, or releases it as text. */
    Reply finish() {
        String remainder;
        List<ToolExecutionRequest> calls = List.of();
        if (region != null) {
            Optional<List<ToolExecutionRequest>> parsed = ToolCallParser.parse(format, region.toString(), toolNames);
            if (parsed.isPresent()) {
                calls = parsed.get();
                remainder = "";
            } else {
                remainder = dropped + region;
            }
        } else {
            remainder = pending.toString();
            pending.setLength(0);
        }
        streamed.append(remainder);
        return new Reply(streamed.isEmpty() ? null : streamed.toString(), calls, remainder);
    }

    private String startRegion(int at) {
        int end = at;
        while (end > 0 && Character.isWhitespace(pending.charAt(end - 1))) {
            end--;
        }
        String out = pending.substring(0, end);
        dropped = pending.substring(end, at);
        region = new StringBuilder(pending.substring(at));
        pending.setLength(0);
        streamed.append(out);
        return out;
    }

    private String release(int end) {
        if (end == 0) {
            return "";
        }
        String out = pending.substring(0, end);
        pending.delete(0, end);
        streamed.append(out);
        return out;
    }

    private int earliestMarker() {
        int best = -1;
        for (String m : format.markers()) {
            int i = pending.indexOf(m);
            if (i >= 0 && (best < 0 || i < best)) {
                best = i;
            }
        }
        return best;
    }

    /** End of the part of {@code pending} that cannot begin a marker and is not trailing whitespace. */
    private int safeEnd() {
        int n = pending.length();
        int safe = n;
        for (String m : format.markers()) {
            for (int len = Math.min(m.length() - 1, n); len > 0; len--) {
                if (endsWithPrefix(pending, m, len)) {
                    safe = Math.min(safe, n - len);
                    break;
                }
            }
        }
        while (safe > 0 && Character.isWhitespace(pending.charAt(safe - 1))) {
            safe--;
        }
        return safe;
    }

    /** Whether {@code text} ends with the first {@code len} characters of {@code marker} (no allocation). */
    private static boolean endsWithPrefix(CharSequence text, String marker, int len) {
        int start = text.length() - len;
        for (int i = 0; i < len; i++) {
            if (text.charAt(start + i) != marker.charAt(i)) {
                return false;
            }
        }
        return true;
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
