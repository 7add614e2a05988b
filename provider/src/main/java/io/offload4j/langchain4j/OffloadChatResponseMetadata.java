package io.offload4j.langchain4j;

import dev.langchain4j.model.chat.response.ChatResponseMetadata;
import java.util.Objects;

/**
 * Response metadata with what the engine measured: prompt tokens reused from the prefix cache, time queued,
 * prefill and decode time.
 */
public class OffloadChatResponseMetadata extends ChatResponseMetadata {

    private final int cachedPromptTokens;
    private final long queueNanos;
    private final long prefillNanos;
    private final long decodeNanos;

    protected OffloadChatResponseMetadata(Builder builder) {
        super(builder);
        this.cachedPromptTokens = builder.cachedPromptTokens;
        this.queueNanos = builder.queueNanos;
        this.prefillNanos = builder.prefillNanos;
        this.decodeNanos = builder.decodeNanos;
    }

    /**
     * Prompt tokens not computed: continued from an earlier sequence's KV cache, or copied from one running beside
     * it.
     */
    public int cachedPromptTokens() {
        return cachedPromptTokens;
    }

    /** Time the request waited for the scheduler. */
    public long queueNanos() {
        return queueNanos;
    }

    /** Time to compute the (not reused part of the) prompt and the first token. */
    public long prefillNanos() {
        return prefillNanos;
    }

    /** Time to generate the tokens after the first. */
    public long decodeNanos() {
        return decodeNanos;
    }

    @Override
    public Builder toBuilder() {
        Builder b = new Builder();
        toBuilder(b);
        return b.cachedPromptTokens(cachedPromptTokens).queueNanos(queueNanos).prefillNanos(prefillNanos)
                .decodeNanos(decodeNanos);
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof OffloadChatResponseMetadata that) || !super.equals(o)) {
            return false;
        }
        return cachedPromptTokens == that.cachedPromptTokens && queueNanos == that.queueNanos
                && prefillNanos == that.prefillNanos && decodeNanos == that.decodeNanos;
    }

    @Override
    public int hashCode() {
        return Objects.hash(super.hashCode(), cachedPromptTokens, queueNanos, prefillNanos, decodeNanos);
    }

    @Override
    public String toString() {
        return "OffloadChatResponseMetadata{id='" + id() + "', modelName='" + modelName() + "', tokenUsage="
                + tokenUsage() + ", finishReason=" + finishReason() + ", cachedPromptTokens=" + cachedPromptTokens
                + ", queueNanos=" + queueNanos + ", prefillNanos=" + prefillNanos + ", decodeNanos=" + decodeNanos
                + '}';
    }

    public static Builder builder() {
        return new Builder();
    }

    public static class Builder extends ChatResponseMetadata.Builder<Builder> {
        private int cachedPromptTokens;
        private long queueNanos;
        private long prefillNanos;
        private long decodeNanos;

        public Builder cachedPromptTokens(int n) {
            this.cachedPromptTokens = n;
            return this;
        }

        public Builder queueNanos(long nanos) {
            this.queueNanos = nanos;
            return this;
        }

        public Builder prefillNanos(long nanos) {
            this.prefillNanos = nanos;
            return this;
        }

        public Builder decodeNanos(long nanos) {
            this.decodeNanos = nanos;
            return this;
        }

        @Override
        public OffloadChatResponseMetadata build() {
            return new OffloadChatResponseMetadata(this);
        }
    }
}
