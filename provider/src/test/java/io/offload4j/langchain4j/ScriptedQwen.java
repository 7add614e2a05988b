package io.offload4j.langchain4j;

import io.offload4j.engine.EngineOptions;
import io.offload4j.engine.ScriptedEngines;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * stories260K dressed as a tool-calling chat model: its GGUF copied with Qwen 2.5's chat template (which renders
 * tools and teaches the {@code <tool_call>} format), and its replies forced by a script (see
 * {@link ScriptedEngines}): the tokenizer, template, scheduler, sampler, stop handling and streaming are the
 * real ones, only the choice of tokens is dictated.
 */
final class ScriptedQwen {

    static final String GENERATION_PROMPT = "<|im_start|>assistant\n";

    private ScriptedQwen() {}

    /** Writes the model into {@code dir} and loads it with {@code replies} answering each assistant turn. */
    static OffloadEngine engine(Path dir, Function<String, String> replies) throws Exception {
        Path model = dir.resolve("stories260K-qwen-template.gguf");
        if (!Files.exists(model)) {
            ScriptedEngines.withChatTemplate(Stories.path(), model, Templates.source("Qwen-Qwen2.5-7B-Instruct.jinja"));
        }
        EngineOptions options = EngineOptions.DEFAULTS.withDevice("cpu").withThreads(1).withContextLength(2048)
                .withContextBeyondTraining(true); // stories260K was trained on 128 positions
        return OffloadEngine.of(ScriptedEngines.load(model, options, text -> {
            if (!text.endsWith(GENERATION_PROMPT)) {
                return null; // not where the assistant speaks
            }
            int turn = text.lastIndexOf("<|im_start|>", text.length() - GENERATION_PROMPT.length() - 1);
            return replies.apply(text.substring(Math.max(turn, 0), text.length() - GENERATION_PROMPT.length()));
        }));
    }

    /**
     * Plays the capable model that LangChain4j's shared tool tests expect: calls {@code getWeather} for Munich,
     * {@code getTime} for France, {@code get_current_time} when asked, and answers with the tools' results.
     */
    static String suiteReplies(String lastTurn) {
        List<String> results = toolResponses(lastTurn);
        if (!results.isEmpty()) {
            return "Here is what the tools said: " + String.join(", ", results) + ".";
        }
        String weather = "<tool_call>\n{\"name\": \"getWeather\", \"arguments\": {\"city\": \"Munich\"}}\n</tool_call>";
        if (lastTurn.contains("weather in Munich and time in France")) {
            return weather + "\n<tool_call>\n{\"name\": \"getTime\", \"arguments\": {\"country\": \"France\"}}\n</tool_call>";
        }
        if (lastTurn.contains("weather in Munich")) {
            return weather;
        }
        if (lastTurn.contains("get_current_time")) {
            return "<tool_call>\n{\"name\": \"get_current_time\", \"arguments\": {}}\n</tool_call>";
        }
        return "I only know how to call tools.";
    }

    /** The tool-calling model of the shared suites, written into {@code dir}. */
    static OffloadEngine suiteEngine(Path dir) {
        try {
            return engine(dir, ScriptedQwen::suiteReplies);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    static Path tempDir() {
        try {
            return Files.createTempDirectory("offload4j-scripted");
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    static void delete(Path dir) {
        try (var files = Files.walk(dir)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (java.io.IOException e) {
            // a temporary directory left behind
        }
    }

    /** The texts between {@code <tool_response>} tags of a turn, in order. */
    static List<String> toolResponses(String turn) {
        List<String> out = new ArrayList<>();
        int at = 0;
        while (true) {
            int open = turn.indexOf("<tool_response>\n", at);
            int close = open < 0 ? -1 : turn.indexOf("\n</tool_response>", open);
            if (close < 0) {
                return out;
            }
            out.add(turn.substring(open + "<tool_response>\n".length(), close));
            at = close + 1;
        }
    }

    /** The text between {@code <tool_response>} tags of a turn, or null. */
    static String toolResponse(String turn) {
        int open = turn.indexOf("<tool_response>\n");
        int close = turn.indexOf("\n</tool_response>");
        return open < 0 || close < 0 ? null : turn.substring(open + "<tool_response>\n".length(), close);
    }
}
