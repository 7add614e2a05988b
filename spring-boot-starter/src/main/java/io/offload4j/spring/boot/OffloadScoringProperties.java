package io.offload4j.spring.boot;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.validation.Errors;
import org.springframework.validation.Validator;

/**
 * The {@code langchain4j.offload.scoring-model.*} properties: a {@code ScoringModel} bean (a re-ranker) computed
 * in-process, with its own model, beside the chat and embedding models. Setting {@code model} turns it on.
 */
@ConfigurationProperties(prefix = OffloadScoringProperties.PREFIX)
public class OffloadScoringProperties implements Validator {

    public static final String PREFIX = "langchain4j.offload.scoring-model";

    /**
     * The re-ranker; setting it creates the ScoringModel bean. A GGUF file or Hugging Face directory of a
     * cross-encoder (bge-reranker, XLMRobertaForSequenceClassification or BertForSequenceClassification with one
     * label) or of Qwen3-Reranker, or a Hugging Face Hub model ('owner/repo:Q8_0', 'hf:owner/repo').
     */
    private String model;

    /**
     * Where the re-ranker runs: 'auto', 'cpu', 'cuda' or 'cuda:N' ('auto': the GPU when a usable one exists and the
     * model fits, else the CPU).
     */
    private String device = "auto";

    /**
     * CPU threads; 0 = one per processor.
     */
    private int threads = 0;

    /**
     * Tokens of several (query, document) pairs scored together in one pass of a cross-encoder; 0 = 2048 (for a
     * decoder re-ranker: its prompt chunk, 512).
     */
    private int batchTokens = 0;

    /**
     * The longest (query, document) input in tokens (the longer text is cut first); 0 = the model's limit (512 for
     * decoder re-rankers).
     */
    private int maxTokens = 0;

    /**
     * Whether a cross-encoder's score is its logit mapped into 0..1 by a sigmoid (as hosted re-rankers score, so a
     * minScore such as 0.5 keeps its meaning); false = the raw logit. Qwen3-Reranker's P(yes) is in 0..1 either way.
     */
    private boolean sigmoid = true;

    /**
     * Qwen3-Reranker's task in its prompt ('<Instruct>: ...'); unset = its model card's web-search instruction.
     */
    private String instruction;

    @Override
    public boolean supports(Class<?> clazz) {
        return OffloadScoringProperties.class.isAssignableFrom(clazz);
    }

    @Override
    public void validate(Object target, Errors errors) {
        SubModelChecks.check(errors, PREFIX, device, threads, batchTokens, maxTokens);
    }

    public String getModel() {
        return model;
    }

    public void setModel(String model) {
        this.model = model;
    }

    public String getDevice() {
        return device;
    }

    public void setDevice(String device) {
        this.device = device;
    }

    public int getThreads() {
        return threads;
    }

    public void setThreads(int threads) {
        this.threads = threads;
    }

    public int getBatchTokens() {
        return batchTokens;
    }

    public void setBatchTokens(int batchTokens) {
        this.batchTokens = batchTokens;
    }

    public int getMaxTokens() {
        return maxTokens;
    }

    public void setMaxTokens(int maxTokens) {
        this.maxTokens = maxTokens;
    }

    public boolean isSigmoid() {
        return sigmoid;
    }

    public void setSigmoid(boolean sigmoid) {
        this.sigmoid = sigmoid;
    }

    public String getInstruction() {
        return instruction;
    }

    public void setInstruction(String instruction) {
        this.instruction = instruction;
    }
}
