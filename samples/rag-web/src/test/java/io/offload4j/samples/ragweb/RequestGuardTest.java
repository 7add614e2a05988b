package io.offload4j.samples.ragweb;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayInputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Issue 19: oversized bodies are refused before they are parsed; every response carries nosniff and a CSP. */
@Timeout(60)
class RequestGuardTest extends StoriesModelTest {

    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private static byte[] hugeQuestion(int bytes) {
        String message = "a".repeat(bytes);
        return ("{\"message\": \"" + message + "\"}").getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void aBodyAnnouncedLargerThanTheLimitIsRefusedWith413() throws Exception {
        HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(url("/api/chat")))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(hugeQuestion(2_000_000))).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(413);
        assertThat(r.body()).contains("at most " + RequestGuard.MAX_BODY_BYTES);
    }

    @Test
    void aChunkedBodyIsCutOffOnceItPassesTheLimit() throws Exception {
        byte[] body = hugeQuestion(2_000_000);
        HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(url("/api/chat")))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(body))).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(413);
    }

    @Test
    void aQuestionJustUnderTheLimitStillGetsTheMessageCheck() throws Exception {
        HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(url("/api/chat")))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(hugeQuestion(ChatRequest.MAX_MESSAGE_CHARS + 1))).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
        assertThat(r.body()).contains("at most " + ChatRequest.MAX_MESSAGE_CHARS);
    }

    @Test
    void pagesAndApiAnswersCarryNosniffAndAContentSecurityPolicy() throws Exception {
        for (String path : new String[] {"/", "/api/stats"}) {
            HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(url(path))).GET().build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(r.headers().firstValue("X-Content-Type-Options")).as(path).hasValue("nosniff");
            assertThat(r.headers().firstValue("Content-Security-Policy")).as(path)
                    .hasValue(RequestGuard.CONTENT_SECURITY_POLICY);
        }
    }
}
