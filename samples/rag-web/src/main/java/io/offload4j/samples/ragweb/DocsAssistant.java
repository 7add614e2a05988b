package io.offload4j.samples.ragweb;

import dev.langchain4j.service.MemoryId;
import dev.langchain4j.service.Result;
import dev.langchain4j.service.TokenStream;
import dev.langchain4j.service.UserMessage;

/**
 * The LangChain4j AI Service the web API calls. Its implementation (built by {@code AiServices} in
 * {@link AssistantConfiguration}) retrieves passages for each question, adds them to the user message, keeps the
 * conversation's memory and calls the offload4j model.
 */
interface DocsAssistant {

    /** Answers at once; the result also carries the passages used ({@code sources}) and the token usage. */
    Result<String> answer(@MemoryId String conversationId, @UserMessage String question);

    /** Answers token by token; call {@code start()} on the stream after setting its handlers. */
    TokenStream answerStreaming(@MemoryId String conversationId, @UserMessage String question);
}
