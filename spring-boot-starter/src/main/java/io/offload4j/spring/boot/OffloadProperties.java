package io.offload4j.spring.boot;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.validation.Errors;
import org.springframework.validation.Validator;

/**
 * The {@code langchain4j.offload.*} properties: which model to load, how the engine runs it, and the default
 * parameters of the {@code ChatModel} / {@code StreamingChatModel} beans. Every field's comment is what IDEs show
 * for its key (through the generated {@code META-INF/spring-configuration-metadata.json}). Values are checked when
 * they are bound ({@link OffloadPropertiesValidator}), so a mistake stops start-up with a message naming the key.
 */
@ConfigurationProperties(prefix = OffloadProperties.PREFIX)
public class OffloadProperties implements Validator {

    public static final String PREFIX = "langchain4j.offload";

    private static final Validator VALIDATOR = new OffloadPropertiesValidator();

    /**
     * The model to load; setting it turns the starter on. A path to a GGUF file, or a Hugging Face Hub model:
     * 'owner/repo:Q4_K_M' (the repository's GGUF file of that quantization) or 'hf:owner/repo/file.gguf'. Hub
     * models are downloaded once into the hub cache (see cache-dir); HF_TOKEN, HF_ENDPOINT and HF_HUB_OFFLINE
     * apply.
     */
    private String model;

    /**
     * Where the model runs: 'auto' (the GPU when a usable one exists, else the CPU), 'cpu', 'cuda' or 'cuda:N'
     * (the N-th GPU), 'cuda:all' or 'cuda:N,M,...' (one model split over several GPUs, consecutive blocks per GPU).
     */
    private String device = "auto";

    /**
     * CPU threads for the forward pass; 0 = one per processor.
     */
    private int threads = 0;

    /**
     * The longest prompt + reply, in tokens; 0 = the model's trained context, at most 4096.
     */
    private int contextLength = 0;

    /**
     * Allows a context-length above the context the model was trained for (refused otherwise): only for a model
     * whose positions were stretched for longer contexts (RoPE scaling), else its output degrades past that length.
     */
    private boolean contextBeyondTraining = false;

    /**
     * Quantize at load (as bitsandbytes' load_in_8bit / load_in_4bit): none, q8_0, q4_k (llama.cpp's Q4_K_M mix) or
     * q6_k. F16/BF16/F32 weights (a Hugging Face directory, an F16 GGUF) are quantized tensor by tensor as they load,
     * on every core; norms stay float.
     */
    private String quantization = "none";

    /**
     * Where the quantized model is kept as a GGUF file (a file, or a folder to put it in), mapped directly on the next
     * start while the source is unchanged; unset: a temporary file, deleted once mapped.
     */
    private String quantizationCache;

    /**
     * Requests served at once (decoded together, one batched step per token); further requests wait in a queue. Each running
     * request holds a KV cache of its prompt and max tokens. 0 = auto: on a GPU up to gpu.max-batch-rows, each request
     * admitted while the GPU's free memory holds its KV cache (kept conversations dropped to make room); on the CPU up to
     * 8, each admitted while the Java heap's share for KV caches holds its KV cache (without max tokens: its prompt and
     * 256 positions, reserved further as it goes).
     */
    private int maxSequences = 0;

    /**
     * Memory for KV caches of finished conversations, kept so that a request starting with the same tokens (a
     * conversation's next turn) skips their prefill: a size such as 1GB, 0 to switch reuse off, or 'auto' (room
     * for two full-context KV caches; on the CPU at most a quarter of what the Java heap (-Xmx) has room for).
     */
    private MemoryBudget prefixCache = MemoryBudget.AUTO;

    /**
     * The Hugging Face hub cache that hub models are looked up in and downloaded to (the folder holding
     * models--owner--repo folders); unset = HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub.
     */
    private Path cacheDir;

    /**
     * Whether the model is loaded while the application starts (a bad model then stops start-up); false = load it
     * on the first request, which then waits for the load.
     */
    private boolean loadOnStartup = true;

    /**
     * GPU settings, for models that may not fit in GPU memory.
     */
    private final Gpu gpu = new Gpu();

    /**
     * Pinned host memory settings, for blocks streamed to the GPU.
     */
    private final Host host = new Host();

    /**
     * Speculative decoding: a drafter proposes tokens that the model verifies several at a time (the output is
     * unchanged; decoding is faster when drafts are accepted, most of all when weights are streamed).
     */
    private final Speculative speculative = new Speculative();

    /**
     * Default parameters of the ChatModel and StreamingChatModel beans; a request's own parameters take
     * precedence.
     */
    private final ChatModelProperties chatModel = new ChatModelProperties();

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

    public int getContextLength() {
        return contextLength;
    }

    public void setContextLength(int contextLength) {
        this.contextLength = contextLength;
    }

    public boolean isContextBeyondTraining() {
        return contextBeyondTraining;
    }

    public void setContextBeyondTraining(boolean contextBeyondTraining) {
        this.contextBeyondTraining = contextBeyondTraining;
    }

    public String getQuantization() {
        return quantization;
    }

    public void setQuantization(String quantization) {
        this.quantization = quantization;
    }

    public String getQuantizationCache() {
        return quantizationCache;
    }

    public void setQuantizationCache(String quantizationCache) {
        this.quantizationCache = quantizationCache;
    }

    public int getMaxSequences() {
        return maxSequences;
    }

    public void setMaxSequences(int maxSequences) {
        this.maxSequences = maxSequences;
    }

    public MemoryBudget getPrefixCache() {
        return prefixCache;
    }

    public void setPrefixCache(MemoryBudget prefixCache) {
        this.prefixCache = prefixCache;
    }

    public Path getCacheDir() {
        return cacheDir;
    }

    public void setCacheDir(Path cacheDir) {
        this.cacheDir = cacheDir;
    }

    public boolean isLoadOnStartup() {
        return loadOnStartup;
    }

    public void setLoadOnStartup(boolean loadOnStartup) {
        this.loadOnStartup = loadOnStartup;
    }

    public Gpu getGpu() {
        return gpu;
    }

    public Host getHost() {
        return host;
    }

    public ChatModelProperties getChatModel() {
        return chatModel;
    }

    public Speculative getSpeculative() {
        return speculative;
    }

    /** Spring Boot validates a bound target that is a {@link Validator} with itself. */
    @Override
    public boolean supports(Class<?> type) {
        return VALIDATOR.supports(type);
    }

    @Override
    public void validate(Object target, Errors errors) {
        VALIDATOR.validate(target, errors);
    }

    /** Where a model's weights go on the GPU and how the rest is streamed. */
    public static class Gpu {

        /**
         * GPU memory the weights may occupy (resident blocks plus the staging ring for streamed ones): a size such
         * as 6GB, or 'auto' (free memory minus a margin, the KV cache and activations).
         */
        private MemoryBudget memoryBudget = MemoryBudget.AUTO;

        /**
         * How many streamed blocks are copied to the GPU ahead of the block being computed (at least 1).
         */
        private int prefetchDepth = 2;

        /**
         * What happens to blocks that do not fit on the GPU: 'auto' (decided per block from measured bandwidths),
         * 'stream' (copied to the GPU for every step, never computed on the CPU) or 'cpu' (computed on the CPU).
         */
        private Placement placement = Placement.AUTO;

        /**
         * The most sequences one batched decode step runs on the GPU at once (its activation rows); larger batches
         * run in parts. More rows cost GPU memory for activations and logits.
         */
        private int maxBatchRows = 64;

        /**
         * Steps of at least this many tokens (prompt chunks, batches) multiply on the tensor cores; shorter ones use
         * the matrix-vector kernels.
         */
        private int gemmMinTokens = 5;

        /**
         * Whether a decode step with every block on the GPU is captured once as a CUDA graph and replayed (fewer
         * kernel launches per token); 'false' launches the kernels one by one.
         */
        private boolean graphs = true;

        /**
         * A mixture of experts larger than the GPU: 'true' (the default) places its experts one by one (the
         * attention parts first, the experts in a GPU cache of expert slots with W-TinyLFU admission); 'false' places
         * each sparse block whole, like a dense block (faster prompts, several times slower decode).
         */
        private boolean expertCache = true;

        /**
         * With expert-cache: at decode too (prompt chunks always do), each sparse block applies the next block's router
         * to its own FFN input and copies the predicted experts that are not on the GPU ahead, while it computes
         * (1.25-1.44x decode on an H100).
         */
        private boolean expertPrefetch = true;

        public boolean isExpertPrefetch() {
            return expertPrefetch;
        }

        public void setExpertPrefetch(boolean expertPrefetch) {
            this.expertPrefetch = expertPrefetch;
        }

        public boolean isExpertCache() {
            return expertCache;
        }

        public void setExpertCache(boolean expertCache) {
            this.expertCache = expertCache;
        }

        public int getMaxBatchRows() {
            return maxBatchRows;
        }

        public void setMaxBatchRows(int maxBatchRows) {
            this.maxBatchRows = maxBatchRows;
        }

        public int getGemmMinTokens() {
            return gemmMinTokens;
        }

        public void setGemmMinTokens(int gemmMinTokens) {
            this.gemmMinTokens = gemmMinTokens;
        }

        public boolean isGraphs() {
            return graphs;
        }

        public void setGraphs(boolean graphs) {
            this.graphs = graphs;
        }

        public MemoryBudget getMemoryBudget() {
            return memoryBudget;
        }

        public void setMemoryBudget(MemoryBudget memoryBudget) {
            this.memoryBudget = memoryBudget;
        }

        public int getPrefetchDepth() {
            return prefetchDepth;
        }

        public void setPrefetchDepth(int prefetchDepth) {
            this.prefetchDepth = prefetchDepth;
        }

        public Placement getPlacement() {
            return placement;
        }

        public void setPlacement(Placement placement) {
            this.placement = placement;
        }
    }

    /** Speculative decoding: which drafter, and how many tokens it drafts at most per step. */
    public static class Speculative {

        /**
         * Draft by prompt lookup: tokens copied from where the last few tokens occurred earlier in the prompt or the
         * reply; suits answers that quote their input (RAG). Needs no second model.
         */
        private boolean promptLookup = false;

        /**
         * A small draft model with the model's vocabulary (e.g. Qwen2.5-0.5B for Qwen2.5-7B): the path of a GGUF
         * file or Hugging Face directory. Kept on the CPU, or wholly on the GPU. Not together with prompt-lookup.
         */
        private Path draftModel;

        /**
         * The most tokens drafted per step (1..63); below it the engine picks the count with the most tokens per
         * second, from the acceptance rate and the measured cost of each verification size.
         */
        private int maxDraftTokens = 8;

        public boolean isPromptLookup() {
            return promptLookup;
        }

        public void setPromptLookup(boolean promptLookup) {
            this.promptLookup = promptLookup;
        }

        public Path getDraftModel() {
            return draftModel;
        }

        public void setDraftModel(Path draftModel) {
            this.draftModel = draftModel;
        }

        public int getMaxDraftTokens() {
            return maxDraftTokens;
        }

        public void setMaxDraftTokens(int maxDraftTokens) {
            this.maxDraftTokens = maxDraftTokens;
        }
    }

    /** Host memory used for streaming weights to the GPU. */
    public static class Host {

        /**
         * Pinned (page-locked) host memory for blocks streamed to the GPU: a size such as 16GB, or 'auto' (as much
         * as the streamed blocks need, up to half of the physical memory). Blocks beyond it are streamed from the
         * file mapping through pinned staging buffers.
         */
        private MemoryBudget pinnedMemoryBudget = MemoryBudget.AUTO;

        public MemoryBudget getPinnedMemoryBudget() {
            return pinnedMemoryBudget;
        }

        public void setPinnedMemoryBudget(MemoryBudget pinnedMemoryBudget) {
            this.pinnedMemoryBudget = pinnedMemoryBudget;
        }
    }

    /** Placement of the blocks that do not fit on the GPU (the engine's {@code OffloadOptions.placement}). */
    public enum Placement {
        /** Decided per block from measured bandwidths. */
        AUTO,
        /** Copied to the GPU for every step; never computed on the CPU. */
        STREAM,
        /** Computed on the CPU from host memory, as llama.cpp does. */
        CPU;

        /** The engine's name for it. */
        public String engineName() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /**
     * Default request parameters of the chat model beans (the builders of {@code OffloadChatModel} and
     * {@code OffloadStreamingChatModel}). Unset values take llama.cpp's defaults.
     */
    public static class ChatModelProperties {

        /**
         * The model name responses report; unset = the GGUF's general.name. A request naming another model is
         * refused.
         */
        private String modelName;

        /**
         * Sampling temperature: 0 = always the most likely token (greedy); unset = 0.8.
         */
        private Double temperature;

        /**
         * Nucleus sampling: keep the smallest set of tokens whose probability reaches this, in (0, 1]; 1 = off;
         * unset = 0.95.
         */
        private Double topP;

        /**
         * Keep only the k most likely tokens; 0 = off; unset = 40.
         */
        private Integer topK;

        /**
         * Drop tokens less likely than min-p times the most likely one, in [0, 1); 0 = off; unset = 0.05.
         */
        private Double minP;

        /**
         * Penalty on tokens seen in the last repeat-last-n tokens, greater than 0; 1 = off (unset).
         */
        private Double repeatPenalty;

        /**
         * How many recent tokens the repeat penalty looks at; unset = 64.
         */
        private Integer repeatLastN;

        /**
         * Seed of the sampler, for reproducible replies; unset = a random seed per request.
         */
        private Integer seed;

        /**
         * The most tokens a reply may have; unset = until the context is full.
         */
        private Integer maxTokens;

        /**
         * Texts that end a reply (not included in it); the model's own end-of-turn markers always end it.
         */
        private List<String> stopSequences = new ArrayList<>();

        /**
         * Log each request (rendered prompt, sampling settings) at INFO on logger io.offload4j.langchain4j.
         */
        private boolean logRequests = false;

        /**
         * Log each response (message, token usage, timings) at INFO on logger io.offload4j.langchain4j.
         */
        private boolean logResponses = false;

        public String getModelName() {
            return modelName;
        }

        public void setModelName(String modelName) {
            this.modelName = modelName;
        }

        public Double getTemperature() {
            return temperature;
        }

        public void setTemperature(Double temperature) {
            this.temperature = temperature;
        }

        public Double getTopP() {
            return topP;
        }

        public void setTopP(Double topP) {
            this.topP = topP;
        }

        public Integer getTopK() {
            return topK;
        }

        public void setTopK(Integer topK) {
            this.topK = topK;
        }

        public Double getMinP() {
            return minP;
        }

        public void setMinP(Double minP) {
            this.minP = minP;
        }

        public Double getRepeatPenalty() {
            return repeatPenalty;
        }

        public void setRepeatPenalty(Double repeatPenalty) {
            this.repeatPenalty = repeatPenalty;
        }

        public Integer getRepeatLastN() {
            return repeatLastN;
        }

        public void setRepeatLastN(Integer repeatLastN) {
            this.repeatLastN = repeatLastN;
        }

        public Integer getSeed() {
            return seed;
        }

        public void setSeed(Integer seed) {
            this.seed = seed;
        }

        public Integer getMaxTokens() {
            return maxTokens;
        }

        public void setMaxTokens(Integer maxTokens) {
            this.maxTokens = maxTokens;
        }

        public List<String> getStopSequences() {
            return stopSequences;
        }

        public void setStopSequences(List<String> stopSequences) {
            this.stopSequences = stopSequences;
        }

        public boolean isLogRequests() {
            return logRequests;
        }

        public void setLogRequests(boolean logRequests) {
            this.logRequests = logRequests;
        }

        public boolean isLogResponses() {
            return logResponses;
        }

        public void setLogResponses(boolean logResponses) {
            this.logResponses = logResponses;
        }
    }
}
