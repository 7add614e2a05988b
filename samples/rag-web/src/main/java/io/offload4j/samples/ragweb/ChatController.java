package io.offload4j.samples.ragweb;

import dev.langchain4j.service.Result;
import org.springframework.http.MediaType;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;

/** {@code POST /api/chat}: a question in, the whole answer out (JSON both ways). */
@RestController
class ChatController {

    private final DocsAssistant assistant;

    ChatController(DocsAssistant assistant) {
        this.assistant = assistant;
    }

    @PostMapping(path = "/api/chat", consumes = MediaType.APPLICATION_JSON_VALUE,
            produces = MediaType.APPLICATION_JSON_VALUE)
    ChatAnswer chat(@RequestBody ChatRequest request) {
        ChatRequest r = request.validated();
        Result<String> result = assistant.answer(r.conversationId(), r.message());
        return ChatAnswer.of(r.conversationId(), result.finalResponse(), result.sources());
    }
}
