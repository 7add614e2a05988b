package io.offload4j.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import io.offload4j.chat.ChatPrompts;
import io.offload4j.gguf.ModelFormatException;
import io.offload4j.langchain4j.OffloadChatModel;
import io.offload4j.model.Architecture;
import io.offload4j.model.TwinModels;
import io.offload4j.safetensors.SafetensorsDtype;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The engine (and so the CLI and the LangChain4j models) takes a Hugging Face directory wherever it takes a GGUF file. */
class SafetensorsEngineTest {

    private static final EngineOptions CPU = EngineOptions.DEFAULTS.withDevice("cpu").withThreads(2).withContextLength(128);

    @TempDir
    Path tmp;

    @Test
    void generatesWhatTheGgufConversionGenerates() {
        TwinModels.Spec spec = TwinModels.tiny(Architecture.LLAMA).with(SafetensorsDtype.BF16).shards(2);
        Path hf = TwinModels.writeHuggingFace(spec, tmp.resolve("tiny-llama-hf"));
        Path gguf = TwinModels.writeGguf(spec, tmp.resolve("tiny-llama.gguf"), true);
        try (InferenceEngine fromHf = InferenceEngine.load(hf, CPU);
             InferenceEngine fromGguf = InferenceEngine.load(gguf, CPU)) {
            String text = "the quick brown fox, 42 times! ünïcödé";
            int[] prompt = fromGguf.tokenizer().encode(text, true, false);
            assertArrayEquals(prompt, fromHf.tokenizer().encode(text, true, false),
                    "tokenizer.json + tokenizer_config.json tokenize as the GGUF vocabulary does");
            GenerationResult a = fromHf.generate(GenerationRequest.of(prompt, 24, SamplingParams.GREEDY), null);
            GenerationResult b = fromGguf.generate(GenerationRequest.of(prompt, 24, SamplingParams.GREEDY), null);
            assertArrayEquals(b.tokens(), a.tokens());
            assertEquals(b.text(), a.text());
            assertEquals("tiny-llama-hf", fromHf.config().name());

            List<Map<String, Object>> chat = List.of(ChatPrompts.message("user", "hi"));
            assertEquals("<s>[INST] hi [/INST]", ChatPrompts.forModel(fromHf.tokenizer(), fromHf.tokenizerMetadata()).render(chat, List.of(), true),
                    "the chat template comes from tokenizer_config.json");
            assertEquals(1, ChatPrompts.forModel(fromHf.tokenizer(), fromHf.tokenizerMetadata()).encode(chat, List.of(), true)[0]);
        }
    }

    /** The LangChain4j model built with modelPath(directory), rendering the template of the transformers-written model. */
    @Test
    void langChain4jModelFromADirectory() throws Exception {
        Path dir = Path.of(getClass().getResource("/transformers/hf-llama/config.json").toURI()).getParent();
        try (OffloadChatModel chat = OffloadChatModel.builder().modelPath(dir).device("cpu").threads(2).contextLength(64)
                .temperature(0.0).maxTokens(5).build()) {
            ChatResponse r = chat.chat(ChatRequest.builder().messages(UserMessage.from("hi")).build());
            assertEquals("hf-llama", r.modelName());
            assertEquals(5, r.tokenUsage().outputTokenCount());
            assertTrue(r.tokenUsage().inputTokenCount() > 5, "the chat template's header tokens and the message");
        }
    }

    @Test
    void directoryWithoutTokenizerIsRefusedUpFront() throws IOException {
        Path hf = TwinModels.writeHuggingFace(TwinModels.tiny(Architecture.QWEN3), tmp.resolve("no-tokenizer"));
        Files.delete(hf.resolve("tokenizer.json"));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> InferenceEngine.load(hf, CPU));
        assertTrue(e.getMessage().endsWith("no-tokenizer: is a directory without tokenizer.json; a safetensors directory"
                + " needs config.json, *.safetensors and tokenizer.json (or pass a .gguf file)"), e.getMessage());
    }

    @Test
    void emptyDirectoryListsEverythingMissing() {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> InferenceEngine.load(tmp, CPU));
        assertTrue(e.getMessage().contains("is a directory without config.json, *.safetensors, tokenizer.json; a"
                + " safetensors directory needs config.json, *.safetensors and tokenizer.json"), e.getMessage());
    }
}
