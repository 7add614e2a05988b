package io.offload4j.langchain4j;

import static dev.langchain4j.internal.Utils.getOrDefault;

import dev.langchain4j.agent.tool.ToolSpecification;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.ModelProvider;
import dev.langchain4j.model.chat.Capability;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.DefaultChatRequestParameters;
import dev.langchain4j.model.chat.request.ResponseFormatType;
import dev.langchain4j.model.chat.request.ToolChoice;
import dev.langchain4j.model.chat.request.json.JsonRawSchema;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.TokenUsage;
import io.offload4j.chat.ChatPrompts;
import io.offload4j.chat.ThinkingFormat;
import io.offload4j.engine.ContextLengthExceededException;
import io.offload4j.engine.EngineOptions;
import io.offload4j.engine.GenerationRequest;
import io.offload4j.engine.GenerationResult;
import io.offload4j.engine.SamplingParams;
import io.offload4j.engine.grammar.Grammar;
import io.offload4j.engine.grammar.GrammarVocabulary;
import io.offload4j.chat.TemplateException;
import io.offload4j.hub.DownloadListener;
import io.offload4j.hub.ModelResolver;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What {@link OffloadChatModel} and {@link OffloadStreamingChatModel} share: settings, validation, turning a
 * {@link ChatRequest} into an engine request (messages → Hugging Face-style maps → the model's chat template →
 * tokens) and an engine result into a {@link ChatResponse}.
 */
abstract class OffloadBaseChatModel implements AutoCloseable {

    static final Logger LOG = LoggerFactory.getLogger("io.offload4j.langchain4j");

    /** llama.cpp's and Ollama's sampling defaults, used for what neither the model nor the request sets. */
    private static final SamplingParams DEFAULT_SAMPLING = SamplingParams.DEFAULTS;

    private static final AtomicLong IDS = new AtomicLong();

    final OffloadEngine engine;
    private final boolean ownsEngine;
    private final AtomicBoolean closed = new AtomicBoolean();
    final String modelName;
    final OffloadChatRequestParameters defaultParameters;
    final List<ChatModelListener> listeners;
    final boolean logRequests;
    final boolean logResponses;
    /** Fill {@code AiMessage.thinking()} and stream {@code onPartialThinking}. */
    final boolean returnThinking;
    /** null: the template's default; false: render with thinking off; true: on. */
    final Boolean think;

    OffloadBaseChatModel(Builder<?, ?> b) {
        if (b.engine != null) {
            if (b.modelPath != null || b.hubModel != null || b.contextLength != null || b.device != null
                    || b.threads != null || b.contextBeyondTraining != null || b.quantization != null) {
                throw new IllegalArgumentException("set either engine(...) or modelPath/contextLength/device/threads:"
                        + " the latter configure an engine this model would load, and one was given");
            }
            this.engine = b.engine;
            this.ownsEngine = false;
        } else if (b.modelPath != null || b.hubModel != null) {
            EngineOptions options = EngineOptions.DEFAULTS.withDevice(getOrDefault(b.device, "auto"))
                    .withContextLength(getOrDefault(b.contextLength, 0)).withThreads(getOrDefault(b.threads, 0))
                    .withContextBeyondTraining(getOrDefault(b.contextBeyondTraining, false))
                    .withQuantization(getOrDefault(b.quantization, "none"));
            Path path = b.modelPath != null ? b.modelPath : b.resolveHubModel();
            this.engine = OffloadEngine.acquire(path, options);
            this.ownsEngine = true;
        } else {
            throw new IllegalArgumentException("a model is needed: set model(a .gguf path or a Hugging Face id such as"
                    + " owner/repo:Q4_K_M), modelPath(path to a .gguf file), or engine(an OffloadEngine shared with"
                    + " other models)");
        }
        try {
            ChatRequestParameters common = getOrDefault(b.defaultRequestParameters, DefaultChatRequestParameters.EMPTY);
            OffloadChatRequestParameters own = common instanceof OffloadChatRequestParameters o ? o
                    : OffloadChatRequestParameters.EMPTY;
            String name = b.modelName != null ? b.modelName : engine.modelName();
            if (common.modelName() != null && !common.modelName().equals(name)) {
                throw modelNameNotSupported(common.modelName(), name);
            }
            this.modelName = name;
            this.defaultParameters = OffloadChatRequestParameters.builder()
                    .modelName(name)
                    .temperature(getOrDefault(b.temperature, common.temperature()))
                    .topP(getOrDefault(b.topP, common.topP()))
                    .topK(getOrDefault(b.topK, common.topK()))
                    .frequencyPenalty(getOrDefault(b.frequencyPenalty, common.frequencyPenalty()))
                    .presencePenalty(getOrDefault(b.presencePenalty, common.presencePenalty()))
                    .maxOutputTokens(getOrDefault(b.maxTokens, common.maxOutputTokens()))
                    .stopSequences(getOrDefault(b.stopSequences, common.stopSequences()))
                    .toolSpecifications(common.toolSpecifications())
                    .toolChoice(common.toolChoice())
                    .responseFormat(common.responseFormat())
                    .minP(getOrDefault(b.minP, own.minP()))
                    .repeatPenalty(getOrDefault(b.repeatPenalty, own.repeatPenalty()))
                    .repeatLastN(getOrDefault(b.repeatLastN, own.repeatLastN()))
                    .seed(getOrDefault(b.seed, own.seed()))
                    .build();
            validate(defaultParameters);
            sampling(defaultParameters); // fails now on values out of range
            this.listeners = b.listeners == null ? List.of() : List.copyOf(b.listeners);
            this.logRequests = Boolean.TRUE.equals(b.logRequests);
            this.logResponses = Boolean.TRUE.equals(b.logResponses);
            this.returnThinking = Boolean.TRUE.equals(b.returnThinking);
            this.think = b.think;
        } catch (RuntimeException e) {
            if (ownsEngine) {
                engine.close();
            }
            throw e;
        }
    }

    public OffloadChatRequestParameters defaultRequestParameters() {
        return defaultParameters;
    }

    public List<ChatModelListener> listeners() {
        return listeners;
    }

    public ModelProvider provider() {
        return ModelProvider.OTHER;
    }

    /**
     * {@link Capability#RESPONSE_FORMAT_JSON_SCHEMA}: a JSON schema response format is enforced by constrained
     * decoding (the reply always parses and matches the schema), so AI Services returning records, enums and lists
     * ask for it instead of describing the format in the prompt.
     */
    public Set<Capability> supportedCapabilities() {
        return Set.of(Capability.RESPONSE_FORMAT_JSON_SCHEMA);
    }

    /** The engine this model runs on (shared with the models given the same engine). */
    public OffloadEngine engine() {
        return engine;
    }

    /**
     * Releases the engine if this model loaded it ({@code modelPath(...)}): the engine closes when the last model
     * sharing it is closed. An engine given with {@code engine(...)} stays open; its owner closes it.
     */
    @Override
    public void close() {
        if (ownsEngine && closed.compareAndSet(false, true)) {
            engine.close();
        }
    }

    /** A request turned into the engine's terms ({@code request.grammar()}: the reply's constraint, or null). */
    record Prepared(GenerationRequest request, ToolCallFormat toolFormat, List<String> toolNames, String modelName,
                    ChatRequest chatRequest, ThinkingFormat thinking, boolean thinkingOpened) {}

    /**
     * Validates and renders a request.
     *
     * @throws UnsupportedFeatureException for what offload4j cannot do (images, tools on a model whose template
     *                                     has none, another model's name)
     * @throws InvalidRequestException     when the chat template rejects the conversation, it does not fit the
     *                                     context, or a JSON schema cannot be turned into a grammar
     */
    Prepared prepare(ChatRequest chatRequest) {
        ChatRequestParameters p = chatRequest.parameters();
        validate(p);
        List<Map<String, Object>> messages = HfMessages.messages(chatRequest.messages(),
                engine.toolCallFormat() == ToolCallFormat.MISTRAL);
        List<ToolSpecification> specs = p.toolSpecifications();
        boolean tools = !specs.isEmpty() && p.toolChoice() != ToolChoice.NONE;
        List<String> toolNames = new ArrayList<>();
        if (tools) {
            for (ToolSpecification s : specs) {
                toolNames.add(s.name());
            }
        }
        ChatPrompts prompts = engine.chatPrompts();
        List<Map<String, Object>> toolMaps = tools ? HfMessages.tools(specs) : null;
        boolean constrained = constrains(p, tools);
        ThinkingFormat thinking = engine.thinkingFormat();
        // A constrained reply answers without thinking unless think(true) asked for it; think(false) always.
        boolean thinkingOff = Boolean.FALSE.equals(think) || (constrained && !Boolean.TRUE.equals(think));
        Map<String, Object> variables = thinking != null && thinking.hasSwitch()
                && (think != null || thinkingOff) ? Map.of(ThinkingFormat.SWITCH_VARIABLE, !thinkingOff) : Map.of();
        String text;
        try {
            text = prompts.render(messages, toolMaps, true, variables);
        } catch (TemplateException e) {
            throw new InvalidRequestException("the chat template of " + modelName + " cannot render this conversation: "
                    + e.getMessage(), e);
        }
        boolean opened = thinking != null && thinking.opensIn(text);
        if (opened && thinkingOff && !thinking.hasSwitch()) {
            // The template opens the thinking itself (DeepSeek-R1) and has no switch: close it at once, as Qwen3's
            // template does with enable_thinking=false, so that the model answers directly.
            text = text + "\n" + thinking.end() + "\n\n";
            opened = false;
        }
        int[] tokens = prompts.encodeRendered(text);
        ThinkingFormat thinkingInReply = thinking == null || (thinkingOff && !opened) ? null : thinking;
        List<String> stops = new ArrayList<>(p.stopSequences());
        stops.addAll(prompts.stopStrings());
        GenerationRequest request = new GenerationRequest(tokens, maxTokens(p, tokens.length), sampling(p), stops,
                prompts.stopTokens(), grammar(p, tools ? specs : List.of(), constrained ? thinkingInReply : null,
                        opened));
        if (request.grammar() != null) {
            // built once per tokenizer (a fraction of a second for 150k tokens): here, on the caller's thread,
            // rather than on the engine thread where every running stream would wait for it
            GrammarVocabulary.of(engine.inferenceEngine().tokenizer());
        }
        if (logRequests) {
            LOG.info("offload4j request to {}: {} prompt tokens, {}, prompt:\n{}", modelName, tokens.length,
                    request.sampling(), text);
        }
        return new Prepared(request, tools ? engine.toolCallFormat() : ToolCallFormat.NONE, List.copyOf(toolNames),
                p.modelName() != null ? p.modelName() : modelName, chatRequest, thinkingInReply, opened);
    }

    /** A new listener state for the reply of {@code prepared}: thinking splitter and tool-call assembler. */
    ThinkingSplitter splitter(Prepared prepared) {
        return new ThinkingSplitter(prepared.thinking(), prepared.thinkingOpened());
    }

    private static boolean constrains(ChatRequestParameters p, boolean tools) {
        return (tools && p.toolChoice() == ToolChoice.REQUIRED)
                || (p.responseFormat() != null && p.responseFormat().type() == ResponseFormatType.JSON);
    }

    /**
     * The request's token budget: its {@code maxOutputTokens}, but no more than the room the prompt leaves in the
     * context, so that a long conversation ends its reply at the context with {@code LENGTH} rather than failing
     * (0: until the context is full; a prompt that fills the context is refused by the engine).
     */
    private int maxTokens(ChatRequestParameters p, int promptTokens) {
        Integer max = p.maxOutputTokens();
        if (max == null) {
            return 0;
        }
        int room = engine.inferenceEngine().contextLength() - promptTokens;
        return room > 0 ? Math.min(max, room) : max;
    }

    /**
     * The grammar the reply must follow: the tool-call format with the declared tools for
     * {@link ToolChoice#REQUIRED}, the JSON schema (or any JSON) for a JSON response format; null otherwise.
     */
    private static Grammar grammar(ChatRequestParameters p, List<ToolSpecification> tools, ToolCallFormat format,
                                   ThinkingFormat thinking, boolean opened) {
        try {
            if (!tools.isEmpty() && p.toolChoice() == ToolChoice.REQUIRED) {
                return ToolCallGrammar.of(format, tools, thinking, opened);
            }
            if (p.responseFormat() != null && p.responseFormat().type() == ResponseFormatType.JSON) {
                return JsonSchemaGrammar.of(p.responseFormat().jsonSchema(), thinking, opened);
            }
        } catch (IllegalArgumentException e) {
            throw new InvalidRequestException("cannot constrain the reply: " + e.getMessage(), e);
        }
        return null;
    }

    private Grammar grammar(ChatRequestParameters p, List<ToolSpecification> tools, ThinkingFormat thinking,
                            boolean opened) {
        return grammar(p, tools, engine.toolCallFormat(), thinking, opened);
    }

    /** The response for a finished generation. */
    ChatResponse response(Prepared prepared, GenerationResult r, ReplyAssembler.Reply reply, String thinking) {
        FinishReason finish;
        if (!reply.toolCalls().isEmpty()) {
            finish = FinishReason.TOOL_EXECUTION;
        } else {
            finish = switch (r.finishReason()) {
                case STOP -> FinishReason.STOP;
                case LENGTH -> FinishReason.LENGTH;
                case CANCELLED -> FinishReason.OTHER;
            };
        }
        AiMessage message = AiMessage.builder().text(reply.text()).thinking(returnThinking ? thinking : null)
                .toolExecutionRequests(reply.toolCalls()).build();
        ChatResponse response = ChatResponse.builder()
                .aiMessage(message)
                .metadata(OffloadChatResponseMetadata.builder()
                        .id("offload4j-" + IDS.incrementAndGet())
                        .modelName(prepared.modelName())
                        .tokenUsage(new TokenUsage(r.promptTokenCount(), r.generatedTokenCount()))
                        .finishReason(finish)
                        .cachedPromptTokens(r.cachedPromptTokens())
                        .queueNanos(r.queueNanos())
                        .prefillNanos(r.prefillNanos())
                        .decodeNanos(r.decodeNanos())
                        .build())
                .build();
        if (logResponses) {
            LOG.info("offload4j response from {}: {} (prefill {} tok/s, decode {} tok/s, {} prompt tokens reused)",
                    modelName, response, Math.round(r.prefillTokensPerSecond()), Math.round(r.decodeTokensPerSecond()),
                    r.cachedPromptTokens());
        }
        return response;
    }

    /** Engine exceptions as LangChain4j's. */
    static RuntimeException translate(Throwable t) {
        if (t instanceof ContextLengthExceededException e) {
            return new InvalidRequestException(e.getMessage(), e);
        }
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException(t);
    }

    private void validate(ChatRequestParameters p) {
        if (p.modelName() != null && !p.modelName().equals(modelName) && modelName != null) {
            throw modelNameNotSupported(p.modelName(), modelName);
        }
        if (p.maxOutputTokens() != null && p.maxOutputTokens() < 1) {
            throw new IllegalArgumentException("maxOutputTokens (maxTokens) must be at least 1, was "
                    + p.maxOutputTokens() + "; leave it unset to generate until the context is full");
        }
        for (String stop : p.stopSequences()) {
            if (stop == null || stop.isEmpty()) {
                throw new IllegalArgumentException("stop sequences must not be empty (an empty one would end every"
                        + " reply before its first token), got " + p.stopSequences());
            }
        }
        if (p.responseFormat() != null && p.responseFormat().jsonSchema() != null
                && p.responseFormat().jsonSchema().rootElement() instanceof JsonRawSchema) {
            throw new UnsupportedFeatureException("a JsonRawSchema response format is not supported by offload4j (its"
                    + " schema text would have to be parsed into a grammar); describe the schema with LangChain4j's"
                    + " JsonObjectSchema and friends, or use ResponseFormat.JSON");
        }
        if (!p.toolSpecifications().isEmpty() && p.toolChoice() != ToolChoice.NONE
                && engine.toolCallFormat() == ToolCallFormat.NONE) {
            throw new UnsupportedFeatureException("tools are not supported by " + engine.modelName() + ": its chat"
                    + " template does not render tools, so the model was not trained to call them; use a model"
                    + " whose template does (Llama 3.1+, Qwen 2.5, Hermes, Mistral)");
        }
    }

    private static UnsupportedFeatureException modelNameNotSupported(String asked, String actual) {
        return new UnsupportedFeatureException("'modelName' parameter '" + asked + "' is not supported: an offload4j"
                + " model serves the one model it loaded ('" + actual + "'); build a model on another"
                + " engine/modelPath for another model");
    }

    private static SamplingParams sampling(ChatRequestParameters p) {
        OffloadChatRequestParameters own = p instanceof OffloadChatRequestParameters o ? o
                : OffloadChatRequestParameters.EMPTY;
        return new SamplingParams(
                getOrDefault(p.temperature(), DEFAULT_SAMPLING.temperature()),
                getOrDefault(p.topK(), DEFAULT_SAMPLING.topK()),
                getOrDefault(p.topP(), DEFAULT_SAMPLING.topP()),
                getOrDefault(own.minP(), DEFAULT_SAMPLING.minP()),
                getOrDefault(own.repeatPenalty(), DEFAULT_SAMPLING.repeatPenalty()),
                getOrDefault(own.repeatLastN(), DEFAULT_SAMPLING.repeatLastN()),
                own.seed() == null ? null : own.seed().longValue(),
                getOrDefault(p.frequencyPenalty(), 0.0),
                getOrDefault(p.presencePenalty(), 0.0));
    }

    /** Builder options; the names are those of LangChain4j's Ollama models. */
    @SuppressWarnings("unchecked")
    abstract static class Builder<M, B extends Builder<M, B>> {
        private Path modelPath;
        private String hubModel;
        private ModelResolver modelResolver;
        private OffloadEngine engine;
        private String modelName;
        private Double temperature;
        private Double topP;
        private Integer topK;
        private Double minP;
        private Double repeatPenalty;
        private Double frequencyPenalty;
        private Double presencePenalty;
        private Integer repeatLastN;
        private Integer seed;
        private Integer maxTokens;
        private List<String> stopSequences;
        private Integer contextLength;
        private Boolean contextBeyondTraining;
        private String quantization;
        private String device;
        private Integer threads;
        private List<ChatModelListener> listeners;
        private ChatRequestParameters defaultRequestParameters;
        private Boolean logRequests;
        private Boolean logResponses;
        private Boolean returnThinking;
        private Boolean think;

        B self() {
            return (B) this;
        }

        /** The GGUF file to load; models given the same file and engine settings share one loaded engine. */
        public B modelPath(Path modelPath) {
            this.modelPath = modelPath;
            this.hubModel = null;
            return self();
        }

        /** {@link #modelPath(Path)} from a string. */
        public B modelPath(String modelPath) {
            return modelPath(modelPath == null ? null : Path.of(modelPath));
        }

        /**
         * The model, in any of the forms the CLI and the Spring Boot starter take: a path to a GGUF file or a
         * Hugging Face model directory, or a Hugging Face Hub model — {@code owner/repo:Q4_K_M} (the repository's
         * GGUF file of that quantization), {@code hf:owner/repo/file.gguf}, {@code hf:owner/repo} (safetensors).
         * A Hub model is looked up in the Hugging Face cache and downloaded there once, when the model is built
         * (progress logged on {@code io.offload4j.hub.ModelResolver}); {@code HF_TOKEN}, {@code HF_ENDPOINT},
         * {@code HF_HUB_CACHE} / {@code HF_HOME} and {@code HF_HUB_OFFLINE} apply as for {@code huggingface_hub}.
         */
        public B model(String model) {
            if (model != null && ModelResolver.isHubSpec(model.trim())) {
                this.modelPath = null;
                this.hubModel = model.trim();
                return self();
            }
            return modelPath(model == null ? null : model.trim());
        }

        /**
         * How {@link #model(String)} finds Hub models; default: {@link ModelResolver#fromEnvironment()} (the hub
         * and cache of the environment). Set it for another cache folder, endpoint or token.
         */
        public B modelResolver(ModelResolver modelResolver) {
            this.modelResolver = modelResolver;
            return self();
        }

        /** The local path of the Hub model, downloaded if need be. */
        Path resolveHubModel() {
            ModelResolver resolver = modelResolver != null ? modelResolver : ModelResolver.fromEnvironment();
            return resolver.resolve(hubModel, DownloadListener.logging());
        }

        /** A loaded engine to use (shared with other models; its owner closes it). */
        public B engine(OffloadEngine engine) {
            this.engine = engine;
            return self();
        }

        /** The name responses report; default: the GGUF's {@code general.name}. */
        public B modelName(String modelName) {
            this.modelName = modelName;
            return self();
        }

        /** 0 = greedy; default 0.8. */
        public B temperature(Double temperature) {
            this.temperature = temperature;
            return self();
        }

        /** Nucleus sampling; default 0.95 (1 = off). */
        public B topP(Double topP) {
            this.topP = topP;
            return self();
        }

        /** Keep the k most likely tokens; default 40 (0 = off). */
        public B topK(Integer topK) {
            this.topK = topK;
            return self();
        }

        /** Drop tokens less likely than minP × the most likely one; default 0.05 (0 = off). */
        public B minP(Double minP) {
            this.minP = minP;
            return self();
        }

        /** Penalise recently seen tokens; default 1 (off). */
        public B repeatPenalty(Double repeatPenalty) {
            this.repeatPenalty = repeatPenalty;
            return self();
        }

        /**
         * Subtracted from a token's logit per occurrence among the last {@code repeatLastN} tokens, in [-2, 2];
         * default 0 (off). OpenAI's meaning.
         */
        public B frequencyPenalty(Double frequencyPenalty) {
            this.frequencyPenalty = frequencyPenalty;
            return self();
        }

        /** Subtracted once from the logit of every token among the last {@code repeatLastN}, in [-2, 2]; default 0. */
        public B presencePenalty(Double presencePenalty) {
            this.presencePenalty = presencePenalty;
            return self();
        }

        /** How many recent tokens the repeat penalty looks at; default 64. */
        public B repeatLastN(Integer repeatLastN) {
            this.repeatLastN = repeatLastN;
            return self();
        }

        /** Makes sampling reproducible. */
        public B seed(Integer seed) {
            this.seed = seed;
            return self();
        }

        /** The most tokens a reply may have; default: until the context is full. */
        public B maxTokens(Integer maxTokens) {
            this.maxTokens = maxTokens;
            return self();
        }

        /** Same as {@link #maxTokens(Integer)}, LangChain4j's common name. */
        public B maxOutputTokens(Integer maxOutputTokens) {
            return maxTokens(maxOutputTokens);
        }

        /** Texts at which a reply ends (not included in it); the model's end-of-turn markers always end it. */
        public B stopSequences(List<String> stopSequences) {
            this.stopSequences = stopSequences;
            return self();
        }

        /** The longest prompt + reply of the engine this model loads; default: the model's, at most 4096. */
        public B contextLength(Integer contextLength) {
            this.contextLength = contextLength;
            return self();
        }

        /**
         * Allows a {@link #contextLength} above the context the model was trained for (refused otherwise): only for a
         * model whose positions were stretched for it (RoPE scaling, a long-context fine-tune).
         */
        public B contextBeyondTraining(Boolean allowed) {
            this.contextBeyondTraining = allowed;
            return self();
        }

        /**
         * Quantize at load, for the engine this model loads: {@code none} (default), {@code q8_0}, {@code q4_k}
         * (llama.cpp's Q4_K_M mix) or {@code q6_k} (F16/BF16/F32 weights quantized as they load).
         */
        public B quantization(String format) {
            this.quantization = format;
            return self();
        }

        /** {@code auto} (default), {@code cpu}, {@code cuda} or {@code cuda:N}, for the engine this model loads. */
        public B device(String device) {
            this.device = device;
            return self();
        }

        /** CPU threads of the engine this model loads; default one per processor. */
        public B threads(Integer threads) {
            this.threads = threads;
            return self();
        }

        public B listeners(List<ChatModelListener> listeners) {
            this.listeners = listeners;
            return self();
        }

        /** Defaults for every request; options set on this builder take precedence. */
        public B defaultRequestParameters(ChatRequestParameters parameters) {
            this.defaultRequestParameters = parameters;
            return self();
        }

        /** Logs each request (rendered prompt, sampling) at INFO on logger {@code io.offload4j.langchain4j}. */
        public B logRequests(Boolean logRequests) {
            this.logRequests = logRequests;
            return self();
        }

        /** Logs each response (message, usage, timings) at INFO on logger {@code io.offload4j.langchain4j}. */
        public B logResponses(Boolean logResponses) {
            this.logResponses = logResponses;
            return self();
        }

        /**
         * For reasoning models ({@code <think>…</think>}: Qwen3, QwQ, DeepSeek-R1): return the thinking in
         * {@code AiMessage.thinking()} and stream it to {@code onPartialThinking}; default false (it is dropped).
         * Thinking never appears in {@code AiMessage.text()}.
         */
        public B returnThinking(Boolean returnThinking) {
            this.returnThinking = returnThinking;
            return self();
        }

        /**
         * For reasoning models: {@code false} asks for an answer without thinking (the template is rendered with
         * {@code enable_thinking=false}, or a thinking block the template opens is closed at once), {@code true}
         * renders with {@code enable_thinking=true}; default: the template's own default. A JSON response format
         * or a required tool call turns thinking off unless this is {@code true}.
         */
        public B think(Boolean think) {
            this.think = think;
            return self();
        }

        public abstract M build();
    }
}
