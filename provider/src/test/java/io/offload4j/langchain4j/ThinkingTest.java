package io.offload4j.langchain4j;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ResponseFormat;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.PartialThinking;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import io.offload4j.engine.EngineOptions;
import io.offload4j.engine.ScriptedEngines;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Reasoning models, on stories260K dressed with a reasoning model's chat template and scripted replies
 * ({@link ScriptedEngines}): DeepSeek-R1's real template (its generation prompt opens {@code <think>}), and a
 * Qwen3-style template that reads {@code enable_thinking}. The thinking is split from the answer, returned only
 * when asked, streamed to {@code onPartialThinking}, and never part of the text.
 */
class ThinkingTest {

    /** ChatML with Qwen3's thinking switch: with enable_thinking false the prompt carries an empty thinking block. */
    static final String QWEN3_STYLE = "{%- for message in messages %}{{ '<|im_start|>' + message.role + '\\n'"
            + " + message.content + '<|im_end|>\\n' }}{%- endfor %}{%- if add_generation_prompt %}"
            + "{{ '<|im_start|>assistant\\n' }}{%- if enable_thinking is defined and enable_thinking is false %}"
            + "{{ '<think>\\n\\n</think>\\n\\n' }}{%- endif %}{%- endif %}"
            + "{# a reasoning model's template strips earlier thinking: content.split('</think>') #}";

    static final String THINKING_REPLY = "<think>\nThe user greets me. I should greet back.\n</think>\n\nHello there!";

    @TempDir
    Path dir;

    private OffloadEngine engine(String template, Function<String, String> script) throws Exception {
        Path model = dir.resolve("thinking-" + Math.abs(template.hashCode()) + ".gguf");
        ScriptedEngines.withChatTemplate(Stories.path(), model, template);
        return OffloadEngine.of(ScriptedEngines.load(model, EngineOptions.DEFAULTS.withDevice("cpu").withThreads(1)
                .withContextLength(1024).withContextBeyondTraining(true), script));
    }

    /** Qwen3-style: thinks unless the prompt already holds an empty thinking block. */
    private static String qwen3(String text) {
        if (text.endsWith("<|im_start|>assistant\n<think>\n\n</think>\n\n")) {
            return "Hello there!";
        }
        return text.endsWith("<|im_start|>assistant\n") ? THINKING_REPLY : null;
    }

    @Test
    void thinkingIsSplitFromTheAnswerAndReturnedOnlyWhenAsked() throws Exception {
        try (OffloadEngine engine = engine(QWEN3_STYLE, ThinkingTest::qwen3)) {
            ChatResponse plain = OffloadChatModel.builder().engine(engine).build().chat(ask("Hi"));
            assertThat(plain.aiMessage().text()).isEqualTo("Hello there!");
            assertThat(plain.aiMessage().thinking()).isNull();

            ChatResponse withThinking = OffloadChatModel.builder().engine(engine).returnThinking(true).build()
                    .chat(ask("Hi"));
            assertThat(withThinking.aiMessage().text()).isEqualTo("Hello there!");
            assertThat(withThinking.aiMessage().thinking()).isEqualTo("The user greets me. I should greet back.");
        }
    }

    @Test
    void thinkFalseRendersTheTemplateWithThinkingOff() throws Exception {
        List<String> prompts = new CopyOnWriteArrayList<>();
        try (OffloadEngine engine = engine(QWEN3_STYLE, text -> {
            String reply = qwen3(text);
            if (reply != null) {
                prompts.add(text);
            }
            return reply;
        })) {
            ChatResponse r = OffloadChatModel.builder().engine(engine).think(false).returnThinking(true).build()
                    .chat(ask("Hi"));
            // (the scripted reply is SentencePiece-encoded with its space prefix: hence strip)
            assertThat(r.aiMessage().text().strip()).isEqualTo("Hello there!");
            assertThat(r.aiMessage().thinking()).isNull();
            assertThat(prompts).singleElement().asString().endsWith("<think>\n\n</think>\n\n");
        }
    }

    @Test
    void streamingSendsThinkingToOnPartialThinkingAndNeverToTheText() throws Exception {
        try (OffloadEngine engine = engine(QWEN3_STYLE, ThinkingTest::qwen3)) {
            OffloadStreamingChatModel model = OffloadStreamingChatModel.builder().engine(engine).returnThinking(true)
                    .build();
            List<String> thinking = new CopyOnWriteArrayList<>();
            List<String> text = new CopyOnWriteArrayList<>();
            CompletableFuture<ChatResponse> done = new CompletableFuture<>();
            model.chat(ask("Hi"), new StreamingChatResponseHandler() {
                @Override
                public void onPartialThinking(PartialThinking partialThinking) {
                    thinking.add(partialThinking.text());
                }

                @Override
                public void onPartialResponse(String partialResponse) {
                    text.add(partialResponse);
                }

                @Override
                public void onCompleteResponse(ChatResponse completeResponse) {
                    done.complete(completeResponse);
                }

                @Override
                public void onError(Throwable error) {
                    done.completeExceptionally(error);
                }
            });
            ChatResponse r = done.get(30, TimeUnit.SECONDS);
            assertThat(String.join("", text)).isEqualTo("Hello there!").isEqualTo(r.aiMessage().text());
            assertThat(String.join("", thinking).strip()).isEqualTo(r.aiMessage().thinking())
                    .isEqualTo("The user greets me. I should greet back.");
            assertThat(thinking).hasSizeGreaterThan(3).noneMatch(p -> p.contains("<") || p.contains(">"));
        }
    }

    @Test
    void deepSeekR1sTemplateOpensTheThinkingInThePrompt() throws Exception {
        String template = Templates.source("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja");
        try (OffloadEngine engine = engine(template, text -> {
            if (text.endsWith("<think>\n\n</think>\n\n")) {
                return "Hello!";
            }
            return text.endsWith("<think>\n") ? "Let me think.\n</think>\n\nHello!" : null;
        })) {
            ChatResponse r = OffloadChatModel.builder().engine(engine).returnThinking(true).build().chat(ask("Hi"));
            assertThat(r.aiMessage().text()).isEqualTo("Hello!");
            assertThat(r.aiMessage().thinking()).isEqualTo("Let me think.");
            ChatResponse off = OffloadChatModel.builder().engine(engine).returnThinking(true).think(false).build()
                    .chat(ask("Hi"));
            assertThat(off.aiMessage().text().strip()).isEqualTo("Hello!");
            assertThat(off.aiMessage().thinking()).isNull();
        }
    }

    @Test
    void aJsonAnswerMayFollowTheThinking() throws Exception {
        String template = Templates.source("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja");
        try (OffloadEngine engine = engine(template, text -> {
            if (text.endsWith("<think>\n\n</think>\n\n")) {
                return "{\"answer\": 2}";
            }
            return text.endsWith("<think>\n") ? "Two, surely.\n</think>\n\n{\"answer\": 1}" : null;
        })) {
            ChatRequest json = ChatRequest.builder().messages(UserMessage.from("How many?"))
                    .responseFormat(ResponseFormat.JSON).build();
            ChatResponse thinking = OffloadChatModel.builder().engine(engine).think(true).returnThinking(true).build()
                    .chat(json);
            assertThat(new ObjectMapper().readTree(thinking.aiMessage().text()).get("answer").asInt()).isEqualTo(1);
            assertThat(thinking.aiMessage().thinking()).isEqualTo("Two, surely.");
            ChatResponse direct = OffloadChatModel.builder().engine(engine).returnThinking(true).build().chat(json);
            assertThat(new ObjectMapper().readTree(direct.aiMessage().text()).get("answer").asInt()).isEqualTo(2);
            assertThat(direct.aiMessage().thinking()).isNull();
        }
    }

    private static ChatRequest ask(String text) {
        return ChatRequest.builder().messages(UserMessage.from(text)).build();
    }
}
