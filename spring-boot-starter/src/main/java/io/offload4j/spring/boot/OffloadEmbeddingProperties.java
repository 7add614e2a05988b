package io.offload4j.spring.boot;

import java.util.Locale;
import java.util.Set;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.validation.Errors;
import org.springframework.validation.Validator;

/**
 * The {@code langchain4j.offload.embedding-model.*} properties: an {@code EmbeddingModel} bean computed in-process,
 * with its own model, beside the chat model (which it does not need). Setting {@code model} turns it on.
 */
@ConfigurationProperties(prefix = OffloadEmbeddingProperties.PREFIX)
public class OffloadEmbeddingProperties implements Validator {

    public static final String PREFIX = "langchain4j.offload.embedding-model";

    /**
     * The embedding model; setting it creates the EmbeddingModel bean. A GGUF file or a Hugging Face directory (a
     * BERT-family encoder such as all-MiniLM-L6-v2 or bge-small, or a decoder embedding model such as
     * Qwen3-Embedding), or a Hugging Face Hub model: 'owner/repo:Q8_0' (a GGUF file of the repository) or
     * 'hf:owner/repo' (its safetensors).
     */
    private String model;

    /**
     * Where the embedding model runs: 'auto', 'cpu', 'cuda' or 'cuda:N' ('auto': the GPU when a usable one exists and
     * a BERT-family encoder fits there, else the CPU).
     */
    private String device = "auto";

    /**
     * CPU threads; 0 = one per processor.
     */
    private int threads = 0;

    /**
     * Tokens of several texts embedded together in one pass; more texts take more passes. The activations' memory
     * grows with it. 0 = 2048 for BERT-family models, 512 for decoder models (whose GPU workspace also holds a row of
     * logits per token).
     */
    private int batchTokens = 0;

    /**
     * The longest text in tokens (longer texts are cut); 0 = the model's limit (512 for decoder models).
     */
    private int maxTokens = 0;

    /**
     * How token states become one vector: 'cls', 'mean' or 'last'; unset = what the model's files say
     * (sentence-transformers' 1_Pooling/config.json, the GGUF's pooling type; last token for decoder models).
     */
    private String pooling;

    /**
     * Whether vectors are scaled to unit length; unset = what the model's files say (a sentence-transformers
     * Normalize module; true when they say nothing).
     */
    private Boolean normalize;

    /**
     * The task put in front of queries (LangChain4j's QUERY inputs, e.g. those of its content retriever) as
     * 'Instruct: {task}\nQuery:{query}', for instruction-tuned models such as Qwen3-Embedding; documents are embedded
     * as they are. Unset = no instruction.
     */
    private String queryInstruction;

    /**
     * Text put verbatim in front of queries (LangChain4j's QUERY inputs), for models trained with task prefixes such
     * as nomic-embed-text ('search_query: '). Not together with query-instruction. Unset = none.
     */
    private String queryPrefix;

    /**
     * Text put verbatim in front of documents (LangChain4j's DOCUMENT inputs, e.g. those of its ingestor), such as
     * nomic-embed-text's 'search_document: '. Unset = none.
     */
    private String documentPrefix;

    @Override
    public boolean supports(Class<?> clazz) {
        return OffloadEmbeddingProperties.class.isAssignableFrom(clazz);
    }

    @Override
    public void validate(Object target, Errors errors) {
        SubModelChecks.check(errors, PREFIX, device, threads, batchTokens, maxTokens);
        if (pooling != null && !Set.of("cls", "mean", "last").contains(pooling.trim().toLowerCase(Locale.ROOT))) {
            errors.rejectValue("pooling", "offload.pooling", PREFIX + ".pooling = '" + pooling
                    + "' is not one of cls, mean, last");
        }
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

    public String getPooling() {
        return pooling;
    }

    public void setPooling(String pooling) {
        this.pooling = pooling;
    }

    public Boolean getNormalize() {
        return normalize;
    }

    public void setNormalize(Boolean normalize) {
        this.normalize = normalize;
    }

    public String getQueryInstruction() {
        return queryInstruction;
    }

    public void setQueryInstruction(String queryInstruction) {
        this.queryInstruction = queryInstruction;
    }

    public String getQueryPrefix() {
        return queryPrefix;
    }

    public void setQueryPrefix(String queryPrefix) {
        this.queryPrefix = queryPrefix;
    }

    public String getDocumentPrefix() {
        return documentPrefix;
    }

    public void setDocumentPrefix(String documentPrefix) {
        this.documentPrefix = documentPrefix;
    }
}
