package io.offload4j.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.gguf.GgufArray;
import io.offload4j.gguf.GgufMetadata;
import io.offload4j.gguf.GgufValueType;
import io.offload4j.testing.SharedData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Choosing a model's template from GGUF metadata, the built-in fallbacks, and the end-of-turn marker. */
class ChatTemplatesTest {

    private static final List<Map<String, Object>> CONVERSATION = List.of(
            Map.of("role", "system", "content", "Be brief."),
            Map.of("role", "user", "content", "Hi"),
            Map.of("role", "assistant", "content", "Hello!"),
            Map.of("role", "user", "content", "Joke?"));

    /** Synthetic GGUF metadata: a vocabulary (special tokens typed CONTROL), BOS/EOS ids, optional template. */
    private static GgufMetadata metadata(List<String> normal, List<String> control, String bos, String eos,
            String template, Map<String, Object> extra) {
        List<String> tokens = new ArrayList<>(normal);
        tokens.addAll(control);
        int[] types = new int[tokens.size()];
        for (int i = 0; i < types.length; i++) {
            types[i] = i < normal.size() ? 1 : 3;
        }
        Map<String, GgufMetadata.Entry> e = new LinkedHashMap<>();
        e.put("general.name", new GgufMetadata.Entry(GgufValueType.STRING, "Test Model 1B"));
        e.put("tokenizer.ggml.tokens", new GgufMetadata.Entry(GgufValueType.ARRAY,
                new GgufArray(GgufValueType.STRING, tokens.toArray(new String[0]))));
        e.put("tokenizer.ggml.token_type", new GgufMetadata.Entry(GgufValueType.ARRAY,
                new GgufArray(GgufValueType.INT32, types)));
        if (bos != null) {
            e.put("tokenizer.ggml.bos_token_id", new GgufMetadata.Entry(GgufValueType.UINT32, tokens.indexOf(bos)));
        }
        if (eos != null) {
            e.put("tokenizer.ggml.eos_token_id", new GgufMetadata.Entry(GgufValueType.UINT32, tokens.indexOf(eos)));
        }
        if (template != null) {
            e.put("tokenizer.chat_template", new GgufMetadata.Entry(GgufValueType.STRING, template));
        }
        extra.forEach((k, v) -> e.put(k, new GgufMetadata.Entry(
                v instanceof String ? GgufValueType.STRING : GgufValueType.UINT32,
                v instanceof String s ? s : tokens.indexOf((String) ((Object[]) v)[0]))));
        return new GgufMetadata(Path.of("test.gguf"), e);
    }

    @Test
    void fallbackFormatFollowsTheSpecialTokens() {
        assertEquals(ChatFormat.LLAMA3, ChatTemplates.fallbackFormat(List.of("a", "<|start_header_id|>")));
        assertEquals(ChatFormat.CHATML, ChatTemplates.fallbackFormat(List.of("<|im_start|>", "<|im_end|>")));
        assertEquals(ChatFormat.GEMMA, ChatTemplates.fallbackFormat(List.of("<start_of_turn>")));
        assertEquals(ChatFormat.MISTRAL, ChatTemplates.fallbackFormat(List.of("[INST]", "[/INST]")));
        assertEquals(ChatFormat.PLAIN, ChatTemplates.fallbackFormat(List.of("<unk>", "<s>", "</s>", "the")));
    }

    @Test
    void builtInFormatsRenderTheirConventions() {
        assertEquals("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                + "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nJoke?<|im_end|>\n"
                + "<|im_start|>assistant\n", ChatTemplates.builtIn(ChatFormat.CHATML).render(CONVERSATION, null, true,
                "", ""));
        assertEquals("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                + "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
                + "<|start_header_id|>user<|end_header_id|>\n\nJoke?<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\n", ChatTemplates.builtIn(ChatFormat.LLAMA3)
                .render(CONVERSATION, null, true, "<|begin_of_text|>", "<|eot_id|>"));
        assertEquals("<s>[INST] Be brief.\n\nHi [/INST]Hello!</s>[INST] Joke? [/INST]",
                ChatTemplates.builtIn(ChatFormat.MISTRAL).render(CONVERSATION, null, true, "<s>", "</s>"));
        assertEquals("<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!"
                + "<end_of_turn>\n<start_of_turn>user\nJoke?<end_of_turn>\n<start_of_turn>model\n",
                ChatTemplates.builtIn(ChatFormat.GEMMA).render(CONVERSATION, null, true, "<bos>", "<eos>"));
        assertEquals("Once upon a time", ChatTemplates.builtIn(ChatFormat.PLAIN)
                .render(List.of(Map.of("role", "user", "content", "Once upon a time")), null, true, "<s>", "</s>"));
        assertEquals("Be brief.\nHi\nHello!\nJoke?",
                ChatTemplates.builtIn(ChatFormat.PLAIN).render(CONVERSATION, null, true, "<s>", "</s>"));
        assertThrows(IllegalArgumentException.class, () -> ChatTemplates.builtIn(ChatFormat.MODEL));
    }

    @Test
    void modelWithoutTemplateGetsTheFallbackOfItsVocabulary() {
        ModelChatTemplate llama = ChatTemplates.forModel(metadata(List.of("a", "b"),
                List.of("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                        "<|eot_id|>"), "<|begin_of_text|>", "<|end_of_text|>", null, Map.of()));
        assertEquals(ChatFormat.LLAMA3, llama.format());
        assertEquals("<|eot_id|>", llama.endOfTurn());
        assertEquals(List.of("<|eot_id|>", "<|end_of_text|>"), llama.stopMarkers());
        String prompt = llama.render(CONVERSATION.subList(1, 2), null, true);
        assertTrue(prompt.startsWith("<|begin_of_text|><|start_header_id|>user"), prompt);
        assertTrue(llama.startsWithBos(prompt));

        ModelChatTemplate chatml = ChatTemplates.forModel(metadata(List.of("a"),
                List.of("<|endoftext|>", "<|im_start|>", "<|im_end|>"), null, "<|endoftext|>", null, Map.of()));
        assertEquals(ChatFormat.CHATML, chatml.format());
        assertEquals(List.of("<|im_end|>", "<|endoftext|>"), chatml.stopMarkers());
        assertEquals("", chatml.bosToken());

        ModelChatTemplate gemma = ChatTemplates.forModel(metadata(List.of("a"),
                List.of("<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>"), "<bos>", "<eos>", null, Map.of()));
        assertEquals(ChatFormat.GEMMA, gemma.format());
        assertEquals("<end_of_turn>", gemma.endOfTurn());
    }

    @Test
    void baseModelLikeStories260kGetsPlainText() {
        ModelChatTemplate plain = ChatTemplates.forModel(metadata(List.of("<unk>", "<s>", "</s>", "▁Once", "▁upon"),
                List.of(), "<s>", "</s>", null, Map.of()));
        assertEquals(ChatFormat.PLAIN, plain.format());
        assertEquals("</s>", plain.endOfTurn());
        assertEquals(List.of("</s>"), plain.stopMarkers());
        String prompt = plain.render(List.of(Map.of("role", "user", "content", "Once upon a time")), null, true);
        assertEquals("Once upon a time", prompt);
        assertTrue(!plain.startsWithBos(prompt), "the tokenizer adds BOS itself for plain prompts");
    }

    @Test
    void modelTemplateIsUsedAndItsEndOfTurnFound() throws IOException {
        Path llama = SharedData.require("templates/meta-llama-Llama-3.1-8B-Instruct.jinja");
        List<String> specials = List.of("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                "<|end_header_id|>", "<|eot_id|>", "<|eom_id|>");
        ModelChatTemplate m = ChatTemplates.forModel(metadata(List.of("a"), specials, "<|begin_of_text|>",
                "<|end_of_text|>", Files.readString(llama), Map.of()));
        assertEquals(ChatFormat.MODEL, m.format());
        assertEquals("<|eot_id|>", m.endOfTurn());
        assertTrue(m.template().name().contains("Test Model 1B"), m.template().name());
        String prompt = m.withClock(ExpectedRenderingsTest.REFERENCE_CLOCK).render(CONVERSATION.subList(1, 2), null, true);
        assertTrue(prompt.startsWith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
                + "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024"), prompt);

        // an eom token declared in the metadata is a stop marker too
        ModelChatTemplate withEom = ChatTemplates.forModel(metadata(List.of("a"), specials, "<|begin_of_text|>",
                "<|end_of_text|>", Files.readString(llama),
                Map.of("tokenizer.ggml.eom_token_id", new Object[] {"<|eom_id|>"})));
        assertEquals(List.of("<|eot_id|>", "<|end_of_text|>", "<|eom_id|>"), withEom.stopMarkers());
    }

    @Test
    void endOfTurnOfTheReferenceTemplates() throws IOException {
        Map<String, String> expected = Map.of(
                "google-gemma-2-2b-it.jinja", "<end_of_turn>",
                "microsoft-Phi-3.5-mini-instruct.jinja", "<|end|>",
                "Qwen-Qwen2.5-7B-Instruct.jinja", "<|im_end|>",
                "mistralai-Mistral-Nemo-Instruct-2407.jinja", "</s>",
                "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", "<｜end▁of▁sentence｜>");
        for (Map.Entry<String, String> e : expected.entrySet()) {
            String source = Files.readString(SharedData.require("templates/" + e.getKey()));
            String eos = e.getValue().equals("<|end|>") ? "<|endoftext|>" : e.getValue().equals("<end_of_turn>")
                    ? "<eos>" : e.getValue().equals("<|im_end|>") ? "<|endoftext|>" : e.getValue();
            List<String> specials = List.of("<s>", eos, "<|end|>", "<end_of_turn>", "<|im_end|>", "<|im_start|>");
            ModelChatTemplate m = ChatTemplates.forModel(metadata(List.of("a"),
                    specials.stream().distinct().toList(), "<s>", eos, source, Map.of()));
            assertEquals(e.getValue(), m.endOfTurn(), e.getKey());
        }
    }

    @Test
    void declaredEotTokenWinsAndToolUseTemplateIsUsedWithTools() {
        ModelChatTemplate m = ChatTemplates.forModel(metadata(List.of("a"), List.of("<s>", "</s>", "<|turn_end|>"),
                "<s>", "</s>", "{% for m in messages %}{{ m.content }}<|turn_end|>{% endfor %}",
                Map.of("tokenizer.ggml.eot_token_id", new Object[] {"<|turn_end|>"},
                        "tokenizer.chat_template.tool_use", "TOOLS:{{ tools | length }}")));
        assertEquals("<|turn_end|>", m.endOfTurn());
        assertEquals("hi<|turn_end|>", m.render(List.of(Map.of("role", "user", "content", "hi")), null, false));
        assertEquals("TOOLS:1", m.render(List.of(Map.of("role", "user", "content", "hi")),
                List.of(Map.of("type", "function")), false));
        assertNull(ChatTemplates.forModel(metadata(List.of("a"), List.of("</s>"), null, "</s>", "x", Map.of()))
                .toolUseTemplate());
    }

    @Test
    void invalidModelTemplateIsAClearError() {
        TemplateException e = assertThrows(TemplateException.class, () -> ChatTemplates.forModel(metadata(
                List.of("a"), List.of("</s>"), null, "</s>", "ok\n{% for m in messages %}", Map.of())));
        assertEquals(TemplateException.Kind.SYNTAX, e.kind());
        assertTrue(e.getMessage().contains("Test Model 1B tokenizer.chat_template"), e::getMessage);
        assertEquals(2, e.line());
    }

    @Test
    void builtInTemplatesAreSharedInstances() {
        assertSame(ChatTemplates.builtIn(ChatFormat.CHATML), ChatTemplates.builtIn(ChatFormat.CHATML));
    }
}
