package io.offload4j.langchain4j;

import static org.assertj.core.api.Assertions.assertThat;

import dev.langchain4j.model.chat.response.ChatResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Eight callers at once on one engine, half through the blocking model and half streaming: each gets exactly the
 * reply it gets alone (greedy decoding), though the engine interleaves them token by token.
 */
@Timeout(60)
class ConcurrentCallersTest {

    private static final String[] PROMPTS = {"Once upon a time", "The little dog", "Tom and Sue went",
            "One day, a bird", "Lily saw a big", "There was a boy", "The sun was", "Mom said"};

    @Test
    void eightConcurrentCallersGetTheirSequentialReplies() throws Exception {
        try (OffloadEngine engine = Stories.engine()) {
            OffloadChatModel blocking = OffloadChatModel.builder().engine(engine).temperature(0.0).maxTokens(40)
                    .build();
            OffloadStreamingChatModel streaming = OffloadStreamingChatModel.builder().engine(engine).temperature(0.0)
                    .maxTokens(40).build();
            List<String> alone = new ArrayList<>();
            for (String p : PROMPTS) {
                alone.add(blocking.chat(p));
            }
            CountDownLatch start = new CountDownLatch(1);
            ExecutorService callers = Executors.newFixedThreadPool(PROMPTS.length);
            try {
                List<Future<String>> replies = new ArrayList<>();
                for (int i = 0; i < PROMPTS.length; i++) {
                    String prompt = PROMPTS[i];
                    boolean stream = i % 2 == 1;
                    replies.add(callers.submit(() -> {
                        start.await();
                        if (!stream) {
                            return blocking.chat(prompt);
                        }
                        OffloadStreamingChatModelTest.Recorder r = new OffloadStreamingChatModelTest.Recorder();
                        streaming.chat(prompt, r);
                        ChatResponse response = r.await();
                        assertThat(String.join("", r.pieces)).isEqualTo(response.aiMessage().text());
                        return response.aiMessage().text();
                    }));
                }
                start.countDown();
                for (int i = 0; i < PROMPTS.length; i++) {
                    assertThat(replies.get(i).get(30, TimeUnit.SECONDS)).as(PROMPTS[i]).isEqualTo(alone.get(i));
                }
            } finally {
                callers.shutdownNow();
            }
            assertThat(engine.stats().running()).isZero();
            assertThat(engine.stats().completed()).isEqualTo(2L * PROMPTS.length);
        }
    }
}
