package io.offload4j.cli;

import io.offload4j.engine.GenerationResult;
import io.offload4j.engine.InferenceEngine;
import java.util.Locale;

/** The {@code --json} output: one object, written by hand to keep the CLI free of dependencies. */
final class Json {

    private Json() {}

    static String result(GenerationResult r, InferenceEngine engine) {
        StringBuilder b = new StringBuilder(256);
        b.append("{\"text\":").append(string(r.text()));
        b.append(",\"prompt_tokens\":").append(ints(r.promptTokens()));
        b.append(",\"tokens\":").append(ints(r.tokens()));
        b.append(",\"finish_reason\":").append(string(r.finishReason().name().toLowerCase(Locale.ROOT)));
        b.append(",\"usage\":{\"prompt_tokens\":").append(r.promptTokenCount())
                .append(",\"completion_tokens\":").append(r.generatedTokenCount())
                .append(",\"total_tokens\":").append(r.promptTokenCount() + r.generatedTokenCount()).append('}');
        b.append(",\"timings\":{\"prefill_ms\":").append(number(r.prefillNanos() / 1e6))
                .append(",\"prefill_tokens_per_second\":").append(number(r.prefillTokensPerSecond()))
                .append(",\"decode_ms\":").append(number(r.decodeNanos() / 1e6))
                .append(",\"decode_tokens_per_second\":").append(number(r.decodeTokensPerSecond())).append('}');
        b.append(",\"model\":").append(string(engine.config().name()));
        b.append(",\"device\":").append(string(engine.deviceDescription()));
        return b.append('}').toString();
    }

    static String number(double d) {
        return String.format(Locale.ROOT, "%.3f", d);
    }

    static String ints(int[] values) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < values.length; i++) {
            if (i > 0) {
                b.append(',');
            }
            b.append(values[i]);
        }
        return b.append(']').toString();
    }

    static String string(String s) {
        StringBuilder b = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20) {
                        b.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"').toString();
    }
}
