package io.offload4j.langchain4j;

import com.fasterxml.jackson.core.JsonParser;
import java.io.IOException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.langchain4j.agent.tool.ToolExecutionRequest;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;

/**
 * Reads tool calls out of a model's reply, in the {@link ToolCallFormat} of its chat template. Parsing is all or
 * nothing: when the tool-call part is not well-formed (truncated JSON, an unknown structure), the reply is
 * treated as plain text and no call is made.
 */
final class ToolCallParser {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final String ALPHANUMERIC = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

    private ToolCallParser() {}

    /**
     * Parses the tool-call region of a reply: the text from the format's marker (or, for Llama 3.1 JSON, from the
     * opening brace) to the end.
     *
     * @param toolNames the tools the request offered; a Llama 3.1-style bare JSON object counts as a call only
     *                  when it names one of them (otherwise it is an ordinary JSON answer)
     * @return the calls, or empty when the region is not a well-formed tool call
     */
    static Optional<List<ToolExecutionRequest>> parse(ToolCallFormat format, String region, Collection<String> toolNames) {
        try {
            List<ToolExecutionRequest> calls = switch (format) {
                case HERMES -> hermes(region);
                case MISTRAL -> mistral(region);
                case LLAMA3_JSON -> llama3(region, toolNames);
                case NONE -> null;
            };
            return calls == null || calls.isEmpty() ? Optional.empty() : Optional.of(List.copyOf(calls));
        } catch (IOException | IllegalArgumentException e) {
            return Optional.empty();
        }
    }

    /** {@code <tool_call>{json}</tool_call>} blocks; the last one may lack its closing tag (generation stopped). */
    private static List<ToolExecutionRequest> hermes(String region) throws IOException {
        List<ToolExecutionRequest> calls = new ArrayList<>();
        int at = 0;
        while (true) {
            int open = region.indexOf("<tool_call>", at);
            if (open < 0) {
                if (!region.substring(at).isBlank()) {
                    return null; // text after the calls: not a clean tool-call reply
                }
                return calls;
            }
            if (!region.substring(at, open).isBlank()) {
                return null;
            }
            int bodyStart = open + "<tool_call>".length();
            int close = region.indexOf("</tool_call>", bodyStart);
            String body = close < 0 ? region.substring(bodyStart) : region.substring(bodyStart, close);
            calls.add(call(object(body), "arguments", null));
            if (close < 0) {
                return calls;
            }
            at = close + "</tool_call>".length();
        }
    }

    /** {@code [TOOL_CALLS][{...}, ...]} or {@code [TOOL_CALLS]name[ARGS]{...}} (repeated). */
    private static List<ToolExecutionRequest> mistral(String region) throws IOException {
        String rest = region.strip();
        if (!rest.startsWith("[TOOL_CALLS]")) {
            return null;
        }
        rest = rest.substring("[TOOL_CALLS]".length()).strip();
        List<ToolExecutionRequest> calls = new ArrayList<>();
        if (rest.startsWith("[")) {
            JsonNode array = JSON.readTree(rest);
            if (!array.isArray()) {
                return null;
            }
            for (JsonNode n : array) {
                if (!(n instanceof ObjectNode o)) {
                    return null;
                }
                calls.add(call(o, "arguments", o.path("id").isTextual() ? o.get("id").asText() : null));
            }
            return calls;
        }
        // name[ARGS]{...}[TOOL_CALLS]name[ARGS]{...}
        for (String part : rest.split("\\[TOOL_CALLS]")) {
            int args = part.indexOf("[ARGS]");
            if (args <= 0) {
                return null;
            }
            String name = part.substring(0, args).strip();
            String id = null;
            int callId = name.indexOf("[CALL_ID]");
            if (callId >= 0) {
                id = name.substring(callId + "[CALL_ID]".length()).strip();
                name = name.substring(0, callId).strip();
            }
            JsonNode arguments = JSON.readTree(part.substring(args + "[ARGS]".length()).strip());
            if (name.isEmpty() || !arguments.isObject()) {
                return null;
            }
            calls.add(request(id, name, arguments));
        }
        return calls;
    }

    /**
     * {@code {"name": ..., "parameters": {...}}} (or {@code "arguments"}), after an optional {@code <|python_tag|>};
     * several calls may be separated by {@code ;} or new lines.
     */
    private static List<ToolExecutionRequest> llama3(String region, Collection<String> toolNames)
            throws IOException {
        String rest = region.strip();
        if (rest.startsWith("<|python_tag|>")) {
            rest = rest.substring("<|python_tag|>".length()).strip();
        }
        List<ToolExecutionRequest> calls = new ArrayList<>();
        while (true) {
            while (rest.startsWith(";")) {
                rest = rest.substring(1).strip();
            }
            if (rest.isEmpty()) {
                return calls;
            }
            JsonParser parser = JSON.createParser(rest);
            JsonNode node = JSON.readTree(parser);
            if (!(node instanceof ObjectNode o) || !o.path("name").isTextual()
                    || !toolNames.contains(o.get("name").asText())) {
                return null;
            }
            calls.add(call(o, o.has("parameters") ? "parameters" : "arguments", null));
            rest = rest.substring((int) parser.currentLocation().getCharOffset()).strip();
        }
    }

    private static ObjectNode object(String json) throws IOException {
        JsonNode n = JSON.readTree(json.strip());
        if (!(n instanceof ObjectNode o)) {
            throw new IllegalArgumentException("not a JSON object");
        }
        return o;
    }

    /** A call from {@code {"name": ..., argumentsField: {...}}}; a missing argument object means none. */
    private static ToolExecutionRequest call(ObjectNode o, String argumentsField, String id) throws IOException {
        JsonNode name = o.get("name");
        if (name == null || !name.isTextual() || name.asText().isBlank()) {
            throw new IllegalArgumentException("a tool call without a name");
        }
        JsonNode arguments = o.get(argumentsField);
        if (arguments == null || arguments.isNull()) {
            arguments = JSON.createObjectNode();
        } else if (arguments.isTextual()) { // some models write the arguments as a JSON string
            arguments = JSON.readTree(arguments.asText());
        }
        if (!arguments.isObject()) {
            throw new IllegalArgumentException("tool arguments are not a JSON object");
        }
        return request(id, name.asText(), arguments);
    }

    private static ToolExecutionRequest request(String id, String name, JsonNode arguments) throws IOException {
        return ToolExecutionRequest.builder()
                .id(id == null || id.isBlank() ? newId() : id)
                .name(name)
                .arguments(JSON.writeValueAsString(arguments))
                .build();
    }

    /** A tool call id: nine letters and digits (the form Mistral's templates insist on; fine for all). */
    static String newId() {
        char[] c = new char[9];
        for (int i = 0; i < c.length; i++) {
            c[i] = ALPHANUMERIC.charAt(RANDOM.nextInt(ALPHANUMERIC.length()));
        }
        return new String(c);
    }
}
