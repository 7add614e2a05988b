package io.offload4j.langchain4j;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.langchain4j.agent.tool.ToolExecutionRequest;
import dev.langchain4j.agent.tool.ToolSpecification;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.data.message.Content;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.TextContent;
import dev.langchain4j.data.message.ToolExecutionResultMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.internal.JsonSchemaElementUtils;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * LangChain4j messages and tools as the Hugging Face-style maps chat templates receive
 * ({@code apply_chat_template(messages, tools=...)}):
 * <pre>
 * {"role": "system" | "user" | "assistant" | "tool", "content": "..."}
 * {"role": "assistant", "content": "", "tool_calls": [{"id": ..., "type": "function",
 *                                                    "function": {"name": ..., "arguments": {...}}}]}
 * {"role": "tool", "tool_call_id": ..., "name": ..., "content": "..."}
 * tools: [{"type": "function", "function": {"name": ..., "description": ..., "parameters": {JSON schema}}}]
 * </pre>
 * Tool-call arguments are passed as parsed JSON objects, as templates expect ({@code arguments | tojson}).
 */
final class HfMessages {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final TypeReference<LinkedHashMap<String, Object>> MAP = new TypeReference<>() {};

    private HfMessages() {}

    /**
     * @param nineCharIds rewrite tool call ids to nine letters and digits (Mistral's templates reject others);
     *                    the same id always maps to the same rewritten id
     */
    static List<Map<String, Object>> messages(List<ChatMessage> messages, boolean nineCharIds) {
        List<Map<String, Object>> out = new ArrayList<>(messages.size());
        for (ChatMessage m : messages) {
            out.add(switch (m) {
                case SystemMessage s -> message("system", s.text());
                case UserMessage u -> message("user", userText(u));
                case AiMessage a -> assistant(a, nineCharIds);
                case ToolExecutionResultMessage t -> toolResult(t, nineCharIds);
                default -> throw new UnsupportedFeatureException("messages of type " + m.type()
                        + " are not supported by offload4j; use system, user, AI and tool execution result messages");
            });
        }
        return out;
    }

    static List<Map<String, Object>> tools(List<ToolSpecification> specifications) {
        List<Map<String, Object>> out = new ArrayList<>(specifications.size());
        for (ToolSpecification spec : specifications) {
            Map<String, Object> function = new LinkedHashMap<>();
            function.put("name", spec.name());
            if (spec.description() != null) {
                function.put("description", spec.description());
            }
            if (spec.parameters() != null) {
                function.put("parameters", JsonSchemaElementUtils.toMap(spec.parameters()));
            } else {
                Map<String, Object> empty = new LinkedHashMap<>();
                empty.put("type", "object");
                empty.put("properties", new LinkedHashMap<>());
                function.put("parameters", empty);
            }
            Map<String, Object> tool = new LinkedHashMap<>();
            tool.put("type", "function");
            tool.put("function", function);
            out.add(tool);
        }
        return out;
    }

    private static Map<String, Object> message(String role, String content) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("role", role);
        m.put("content", content == null ? "" : content);
        return m;
    }

    private static String userText(UserMessage u) {
        StringBuilder text = new StringBuilder();
        for (Content c : u.contents()) {
            if (!(c instanceof TextContent t)) {
                throw new UnsupportedFeatureException("Content of type " + c.type().toString().toLowerCase(Locale.ROOT)
                        + " is not supported yet by offload4j: only text goes into the model's prompt");
            }
            if (!text.isEmpty()) {
                text.append('\n');
            }
            text.append(t.text());
        }
        return text.toString();
    }

    private static Map<String, Object> assistant(AiMessage a, boolean nineCharIds) {
        Map<String, Object> m = message("assistant", a.text());
        if (a.hasToolExecutionRequests()) {
            List<Map<String, Object>> calls = new ArrayList<>();
            for (ToolExecutionRequest r : a.toolExecutionRequests()) {
                Map<String, Object> function = new LinkedHashMap<>();
                function.put("name", r.name());
                function.put("arguments", arguments(r.arguments()));
                Map<String, Object> call = new LinkedHashMap<>();
                call.put("id", id(r.id(), nineCharIds));
                call.put("type", "function");
                call.put("function", function);
                calls.add(call);
            }
            m.put("tool_calls", calls);
        }
        return m;
    }

    private static Map<String, Object> toolResult(ToolExecutionResultMessage t, boolean nineCharIds) {
        for (Content c : t.contents()) {
            if (!(c instanceof TextContent)) {
                throw new UnsupportedFeatureException("tool results with content of type "
                        + c.type().toString().toLowerCase(Locale.ROOT) + " are not supported by offload4j");
            }
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("role", "tool");
        m.put("tool_call_id", id(t.id(), nineCharIds));
        m.put("name", t.toolName());
        m.put("content", t.text() == null ? "" : t.text());
        return m;
    }

    /** The arguments as a JSON object (what templates expect), or the text as it is when it is not JSON. */
    private static Object arguments(String json) {
        if (json == null || json.isBlank()) {
            return new LinkedHashMap<>();
        }
        try {
            return JSON.readValue(json, MAP);
        } catch (JsonProcessingException e) {
            return json;
        }
    }

    static String id(String id, boolean nineCharIds) {
        if (id == null || id.isEmpty()) {
            return nineCharIds ? "000000000" : "";
        }
        if (!nineCharIds || id.matches("[A-Za-z0-9]{9}")) {
            return id;
        }
        String alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        long h = 1125899906842597L;
        for (int i = 0; i < id.length(); i++) {
            h = 31 * h + id.charAt(i);
        }
        char[] c = new char[9];
        for (int i = 0; i < 9; i++) {
            c[i] = alphabet.charAt((int) Math.floorMod(h, 62L));
            h = Math.floorDiv(h, 62L) ^ (h << 7);
        }
        return new String(c);
    }
}
