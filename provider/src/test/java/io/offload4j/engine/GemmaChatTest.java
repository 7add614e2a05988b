package io.offload4j.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.chat.ChatPrompts;
import io.offload4j.testing.DelegatingForwardPass;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The chat path of a Gemma directory (transformers' hf-gemma2: Gemma's SentencePiece-style vocabulary with byte
 * fallback, its turn markers as special tokens, its template): the prompt renders and encodes as Gemma's turns with one
 * BOS, and a reply ends at {@code <end_of_turn>} — forced here after three tokens, since random weights never emit it.
 */
class GemmaChatTest {

    private static final int END_OF_TURN = 5;
    private static final EngineOptions CPU = EngineOptions.DEFAULTS.withDevice("cpu").withThreads(2).withContextLength(64);

    @Test
    void promptsAreGemmaTurnsAndTheReplyStopsAtEndOfTurn() throws Exception {
        Path dir = Path.of(getClass().getResource("/transformers/hf-gemma2/config.json").toURI()).getParent();
        try (InferenceEngine engine = InferenceEngine.load(dir, CPU, (pass, tokenizer) -> new EndOfTurnAfter(pass, 3))) {
            ChatPrompts prompts = ChatPrompts.forModel(engine.tokenizer(), engine.tokenizerMetadata());
            List<Map<String, String>> messages = List.of(Map.of("role", "user", "content", "Hello there"));
            assertEquals("<bos><start_of_turn>user\nHello there<end_of_turn>\n<start_of_turn>model\n",
                    prompts.render(messages, null, true));
            int[] ids = prompts.encode(messages, null, true);
            assertEquals(2, ids[0], "one BOS, from the template");
            assertEquals(4, ids[1], "<start_of_turn> is one token");
            assertEquals(1, Arrays.stream(ids).filter(t -> t == 2).count());
            assertEquals(END_OF_TURN, engine.tokenizer().tokenId("<end_of_turn>"));
            assertTrue(Arrays.stream(prompts.stopTokens()).anyMatch(t -> t == END_OF_TURN),
                    Arrays.toString(prompts.stopTokens()));

            GenerationResult result = engine.generate(new GenerationRequest(ids, 20, SamplingParams.GREEDY,
                    prompts.stopStrings(), prompts.stopTokens()), GenerationListener.NONE);
            assertEquals(FinishReason.STOP, result.finishReason());
            assertEquals(4, result.tokens().length, Arrays.toString(result.tokens()));
            assertEquals(END_OF_TURN, result.tokens()[3]);
            assertTrue(!result.text().contains("<end_of_turn>"), result.text());
        }
    }

    /** Runs the model, but makes {@code <end_of_turn>} the only choice once a sequence has decoded {@code n} tokens. */
    private static final class EndOfTurnAfter extends DelegatingForwardPass {
        private final int n;
        private int promptEnd = -1;

        EndOfTurnAfter(ForwardPass pass, int n) {
            super(pass);
            this.n = n;
        }

        @Override
        public void forward(KvCache cache, int[] tokens, int offset, int count, int startPos, float[] logits) {
            pass.forward(cache, tokens, offset, count, startPos, logits);
            if (count > 1 || promptEnd < 0) {
                promptEnd = startPos + count;
            }
            if (startPos + count - promptEnd == n) {
                Arrays.fill(logits, -1e9f);
                logits[END_OF_TURN] = 0;
            }
        }
    }
}
