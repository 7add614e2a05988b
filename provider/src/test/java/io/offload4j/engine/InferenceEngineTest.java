package io.offload4j.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.model.Architecture;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import io.offload4j.testing.SharedData;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class InferenceEngineTest {

    private static final String CONTINUATION = ", there was a little girl named Lily. She loved to play outside in the park.";

    private static InferenceEngine stories() {
        return InferenceEngine.load(SharedData.require("models/stories260K.gguf"), EngineOptions.DEFAULTS.withDevice("cpu"));
    }

    private static int[] prompt(InferenceEngine e) {
        return e.tokenizer().encode("Once upon a time", true, false);
    }

    /** Collects what a listener sees. */
    private static final class Recorder implements GenerationListener {
        final StringBuilder text = new StringBuilder();
        int tokens;
        int promptTokens = -1;
        int cancelAfter = Integer.MAX_VALUE;

        @Override
        public void onPromptProcessed(int n, long nanos) {
            promptTokens = n;
        }

        @Override
        public void onToken(int token) {
            tokens++;
        }

        @Override
        public void onText(String piece) {
            assertFalse(piece.isEmpty(), "text pieces are never empty");
            text.append(piece);
        }

        @Override
        public boolean isCancelled() {
            return tokens >= cancelAfter;
        }
    }

    @Test
    void streamedTextEqualsTheResultText() {
        try (InferenceEngine e = stories()) {
            Recorder r = new Recorder();
            GenerationResult result = e.generate(GenerationRequest.of(prompt(e), 30, SamplingParams.GREEDY), r);
            assertTrue(result.text().startsWith(CONTINUATION.substring(0, 40)), result.text());
            assertEquals(result.text(), r.text.toString());
            assertEquals(30, r.tokens);
            assertEquals(5, r.promptTokens);
            assertEquals(FinishReason.LENGTH, result.finishReason());
            assertEquals(30, result.generatedTokenCount());
        }
    }

    @Test
    void stopStringEndsGenerationAndIsNotShown() {
        try (InferenceEngine e = stories()) {
            Recorder r = new Recorder();
            GenerationRequest req = new GenerationRequest(prompt(e), 60, SamplingParams.GREEDY, List.of("Lily"), null);
            GenerationResult result = e.generate(req, r);
            assertEquals(", there was a little girl named ", result.text());
            assertEquals(result.text(), r.text.toString(), "nothing of the stop string was streamed");
            assertEquals(FinishReason.STOP, result.finishReason());
        }
    }

    @Test
    void stopTokenEndsGeneration() {
        try (InferenceEngine e = stories()) {
            GenerationResult full = e.generate(GenerationRequest.of(prompt(e), 20, SamplingParams.GREEDY), GenerationListener.NONE);
            int fifth = full.tokens()[4];
            GenerationRequest req = new GenerationRequest(prompt(e), 20, SamplingParams.GREEDY, List.of(), new int[] {fifth});
            GenerationResult stopped = e.generate(req, GenerationListener.NONE);
            assertEquals(FinishReason.STOP, stopped.finishReason());
            assertArrayEquals(java.util.Arrays.copyOf(full.tokens(), 5), stopped.tokens());
        }
    }

    @Test
    void endOfSequenceTokenStopsGeneration() {
        try (InferenceEngine e = stories()) {
            // Run until the context is full or the model ends its story with EOS.
            GenerationResult r = e.generate(GenerationRequest.of(prompt(e), 0, SamplingParams.GREEDY), GenerationListener.NONE);
            if (r.finishReason() == FinishReason.STOP) {
                assertEquals(e.tokenizer().eosToken(), r.tokens()[r.tokens().length - 1]);
            } else {
                assertEquals(e.contextLength(), r.promptTokenCount() + r.generatedTokenCount());
            }
        }
    }

    @Test
    void cancellationStopsWithinOneToken() {
        try (InferenceEngine e = stories()) {
            Recorder r = new Recorder();
            r.cancelAfter = 3;
            GenerationResult result = e.generate(GenerationRequest.of(prompt(e), 50, SamplingParams.GREEDY), r);
            assertEquals(FinishReason.CANCELLED, result.finishReason());
            assertEquals(3, result.generatedTokenCount());
        }
    }

    @Test
    void contextOverflowIsRefusedBeforeAnyWork() {
        try (InferenceEngine e = stories()) {
            Recorder r = new Recorder();
            String msg = assertThrows(ContextLengthExceededException.class,
                    () -> e.generate(GenerationRequest.of(prompt(e), 124, SamplingParams.GREEDY), r)).getMessage();
            assertTrue(msg.contains("5 tokens") && msg.contains("max tokens is 124") && msg.contains("context length 128"), msg);
            assertEquals(-1, r.promptTokens, "no prefill happened");
            int[] huge = new int[200];
            huge[0] = 1;
            String msg2 = assertThrows(ContextLengthExceededException.class,
                    () -> e.generate(GenerationRequest.of(huge, 10, SamplingParams.GREEDY), r)).getMessage();
            assertTrue(msg2.contains("the prompt has 200 tokens"), msg2);
        }
    }

    @Test
    void outOfVocabularyPromptTokenIsRefused() {
        try (InferenceEngine e = stories()) {
            String msg = assertThrows(IllegalArgumentException.class, () -> e.generate(
                    GenerationRequest.of(new int[] {1, 512}, 5, SamplingParams.GREEDY), GenerationListener.NONE)).getMessage();
            assertTrue(msg.contains("prompt token 1 is 512, outside the vocabulary 0..511"), msg);
        }
    }

    @Test
    void unknownDeviceIsAClearError(@TempDir Path dir) {
        Path tiny = dir.resolve("tiny.gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tiny(Architecture.QWEN3, QuantPreset.F32), tiny);
        String msg = assertThrows(IllegalArgumentException.class,
                () -> InferenceEngine.load(tiny, EngineOptions.DEFAULTS.withDevice("tpu"))).getMessage();
        assertTrue(msg.contains("unknown device 'tpu'"), msg);
    }

    @Test
    void syntheticModelsOfEveryArchitectureGenerate(@TempDir Path dir) {
        for (Architecture arch : Architecture.values()) {
            Path p = dir.resolve(arch + ".gguf");
            SyntheticModelWriter.write(SyntheticModelSpec.tiny(arch, QuantPreset.F32), p);
            try (InferenceEngine e = InferenceEngine.load(p, EngineOptions.DEFAULTS.withDevice("cpu"))) {
                int[] tokens = e.tokenizer().encode("hello world", true, false);
                GenerationResult a = e.generate(GenerationRequest.of(tokens, 8, SamplingParams.GREEDY), GenerationListener.NONE);
                GenerationResult b = e.generate(GenerationRequest.of(tokens, 8, SamplingParams.GREEDY), GenerationListener.NONE);
                assertTrue(a.generatedTokenCount() > 0, arch.toString());
                assertArrayEquals(a.tokens(), b.tokens(), arch + ": greedy decoding is deterministic");
            }
        }
    }

    @Test
    void theMemoryReportSaysHowManySequencesRunAtOnceAndWhy(@TempDir Path dir) {
        Path p = dir.resolve("tiny.gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tiny(Architecture.LLAMA, QuantPreset.F32), p);
        try (InferenceEngine auto = InferenceEngine.load(p, EngineOptions.DEFAULTS.withDevice("cpu"))) {
            assertEquals(EngineOptions.DEFAULT_MAX_SEQUENCES, auto.maxSequences(), "auto on the CPU: its default");
            assertTrue(auto.memoryReport().contains("engine 8 sequences at once (auto: up to the CPU's default of 8,"
                    + " each admitted while the Java heap's "), auto.memoryReport());
        }
        try (InferenceEngine set = InferenceEngine.load(p, EngineOptions.DEFAULTS.withDevice("cpu").withMaxSequences(3))) {
            assertEquals(3, set.maxSequences());
            assertTrue(set.memoryReport().contains("engine 3 sequences at once (set)"), set.memoryReport());
        }
    }
}
