package io.offload4j.langchain4j;

import static dev.langchain4j.internal.Utils.getOrDefault;

import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.DefaultChatRequestParameters;
import java.util.Objects;

/**
 * Request parameters with offload4j's sampling settings besides LangChain4j's common ones (modelName,
 * temperature, topP, topK, maxOutputTokens, stopSequences, tools …). The names are Ollama's.
 *
 * <pre>{@code
 * model.chat(ChatRequest.builder()
 *         .messages(UserMessage.from("Hi"))
 *         .parameters(OffloadChatRequestParameters.builder().temperature(0.7).minP(0.1).seed(42).build())
 *         .build());
 * }</pre>
 */
public class OffloadChatRequestParameters extends DefaultChatRequestParameters {

    public static final OffloadChatRequestParameters EMPTY = builder().build();

    private final Double minP;
    private final Double repeatPenalty;
    private final Integer repeatLastN;
    private final Integer seed;

    protected OffloadChatRequestParameters(Builder builder) {
        super(builder);
        this.minP = builder.minP;
        this.repeatPenalty = builder.repeatPenalty;
        this.repeatLastN = builder.repeatLastN;
        this.seed = builder.seed;
    }

    /** Drop tokens less likely than minP × the most likely one (0 = off; default 0.05). */
    public Double minP() {
        return minP;
    }

    /** Penalise tokens seen in the last {@link #repeatLastN()} tokens (1 = off, the default). */
    public Double repeatPenalty() {
        return repeatPenalty;
    }

    /** How many recent tokens the repeat penalty looks at (default 64). */
    public Integer repeatLastN() {
        return repeatLastN;
    }

    /** Makes sampling reproducible; unset = a random seed per request. */
    public Integer seed() {
        return seed;
    }

    @Override
    public OffloadChatRequestParameters overrideWith(ChatRequestParameters that) {
        return builder().overrideWith(this).overrideWith(that).build();
    }

    @Override
    public OffloadChatRequestParameters defaultedBy(ChatRequestParameters that) {
        return builder().overrideWith(that).overrideWith(this).build();
    }

    @Override
    public boolean equals(Object o) {
        if (o == null || getClass() != o.getClass() || !super.equals(o)) {
            return false;
        }
        OffloadChatRequestParameters that = (OffloadChatRequestParameters) o;
        return Objects.equals(minP, that.minP) && Objects.equals(repeatPenalty, that.repeatPenalty)
                && Objects.equals(repeatLastN, that.repeatLastN) && Objects.equals(seed, that.seed);
    }

    @Override
    public int hashCode() {
        return Objects.hash(super.hashCode(), minP, repeatPenalty, repeatLastN, seed);
    }

    @Override
    public String toString() {
        return "OffloadChatRequestParameters{modelName=" + modelName() + ", temperature=" + temperature()
                + ", topP=" + topP() + ", topK=" + topK() + ", minP=" + minP + ", repeatPenalty=" + repeatPenalty
                + ", repeatLastN=" + repeatLastN + ", seed=" + seed + ", frequencyPenalty=" + frequencyPenalty()
                + ", presencePenalty=" + presencePenalty() + ", maxOutputTokens=" + maxOutputTokens()
                + ", stopSequences=" + stopSequences() + ", toolSpecifications=" + toolSpecifications()
                + ", toolChoice=" + toolChoice() + ", responseFormat=" + responseFormat() + '}';
    }

    public static Builder builder() {
        return new Builder();
    }

    public static class Builder extends DefaultChatRequestParameters.Builder<Builder> {

        private Double minP;
        private Double repeatPenalty;
        private Integer repeatLastN;
        private Integer seed;

        @Override
        public Builder overrideWith(ChatRequestParameters parameters) {
            super.overrideWith(parameters);
            if (parameters instanceof OffloadChatRequestParameters p) {
                minP(getOrDefault(p.minP, minP));
                repeatPenalty(getOrDefault(p.repeatPenalty, repeatPenalty));
                repeatLastN(getOrDefault(p.repeatLastN, repeatLastN));
                seed(getOrDefault(p.seed, seed));
            }
            return this;
        }

        public Builder minP(Double minP) {
            this.minP = minP;
            return this;
        }

        public Builder repeatPenalty(Double repeatPenalty) {
            this.repeatPenalty = repeatPenalty;
            return this;
        }

        public Builder repeatLastN(Integer repeatLastN) {
            this.repeatLastN = repeatLastN;
            return this;
        }

        public Builder seed(Integer seed) {
            this.seed = seed;
            return this;
        }

        @Override
        public OffloadChatRequestParameters build() {
            return new OffloadChatRequestParameters(this);
        }
    }
}
