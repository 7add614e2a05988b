package io.offload4j.langchain4j;

import io.offload4j.engine.EngineOptions;
import io.offload4j.engine.ScriptedEngines;
import java.nio.file.Files;
import java.nio.file.Path;
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
        EngineOptions options = EngineOptions.DEFAULTS.withDevice("cpu").withContextLength(2048);
        return OffloadEngine.of(ScriptedEngines.load(model, options, text -> {
            if (!text.endsWith(GENERATION_PROMPT)) {
                return null; // not where the assistant speaks
            }
            int turn = text.lastIndexOf("<|im_start|>", text.length() - GENERATION_PROMPT.length() - 1);
            return replies.apply(text.substring(Math.max(turn, 0), text.length() - GENERATION_PROMPT.length()));
        }));
    }

    /** The text between {@code <tool_response>} tags of a turn, or null. */
    static String toolResponse(String turn) {
        int open = turn.indexOf("<tool_response>\n");
        int close = turn.indexOf("\n</tool_response>");
        return open < 0 || close < 0 ? null : turn.substring(open + "<tool_response>\n".length(), close);
    }
}
