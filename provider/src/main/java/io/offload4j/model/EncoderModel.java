package io.offload4j.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.offload4j.gguf.GgufFile;
import io.offload4j.gguf.GgufMetadata;
import io.offload4j.gguf.ModelFormatException;
import io.offload4j.safetensors.SafetensorsCheckpoint;
import io.offload4j.safetensors.SafetensorsDtype;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.function.UnaryOperator;

/**
 * A loaded BERT-family encoder: a GGUF file of architecture {@code bert} as llama.cpp's converter writes it (BERT
 * and XLM-RoBERTa models alike) or {@code nomic-bert} (nomic-embed-text v1 / v1.5), or a Hugging Face directory of a
 * {@code BertModel}, {@code XLMRobertaModel}, {@code RobertaModel} or their {@code ...ForSequenceClassification}
 * (cross-encoder re-rankers), or of a {@code NomicBertModel} ({@link NomicBertNames}). Tensors are looked
 * up by their GGUF names; a Hugging Face checkpoint's are mapped to them ({@link #HF_NAMES}), with or without the
 * {@code bert.} / {@code roberta.} prefix a task model adds. Closing it releases the mapping.
 */
public final class EncoderModel implements AutoCloseable {

    /** Hugging Face model types read as encoders. */
    static final Set<String> HF_MODEL_TYPES = Set.of("bert", "xlm-roberta", "roberta", NomicBertNames.HF_MODEL_TYPE);

    /** GGUF architectures run here. */
    static final List<String> GGUF_ARCHITECTURES = List.of("bert", NomicBertNames.GGUF_ARCHITECTURE);

    /** GGUF architectures of the BERT family recognised as encoders but refused with a clear message. */
    private static final Set<String> REFUSED_GGUF_ARCHITECTURES = Set.of("nomic-bert-moe");

    /** GGUF tensor name (block tensors without their {@code blk.N.} prefix) → Hugging Face name (without prefix). */
    private static final Map<String, String> HF_NAMES = Map.ofEntries(
            Map.entry("token_embd.weight", "embeddings.word_embeddings.weight"),
            Map.entry("position_embd.weight", "embeddings.position_embeddings.weight"),
            Map.entry("token_types.weight", "embeddings.token_type_embeddings.weight"),
            Map.entry("token_embd_norm.weight", "embeddings.LayerNorm.weight"),
            Map.entry("token_embd_norm.bias", "embeddings.LayerNorm.bias"),
            Map.entry("attn_q.weight", "attention.self.query.weight"),
            Map.entry("attn_q.bias", "attention.self.query.bias"),
            Map.entry("attn_k.weight", "attention.self.key.weight"),
            Map.entry("attn_k.bias", "attention.self.key.bias"),
            Map.entry("attn_v.weight", "attention.self.value.weight"),
            Map.entry("attn_v.bias", "attention.self.value.bias"),
            Map.entry("attn_output.weight", "attention.output.dense.weight"),
            Map.entry("attn_output.bias", "attention.output.dense.bias"),
            Map.entry("attn_output_norm.weight", "attention.output.LayerNorm.weight"),
            Map.entry("attn_output_norm.bias", "attention.output.LayerNorm.bias"),
            Map.entry("ffn_up.weight", "intermediate.dense.weight"),
            Map.entry("ffn_up.bias", "intermediate.dense.bias"),
            Map.entry("ffn_down.weight", "output.dense.weight"),
            Map.entry("ffn_down.bias", "output.dense.bias"),
            Map.entry("layer_output_norm.weight", "output.LayerNorm.weight"),
            Map.entry("layer_output_norm.bias", "output.LayerNorm.bias"));

    private final Path path;
    private final EncoderConfig config;
    private final EncoderWeights weights;
    private final GgufMetadata ggufMetadata;
    private final AutoCloseable resources;

    private EncoderModel(Path path, EncoderConfig config, EncoderWeights weights, GgufMetadata ggufMetadata,
                         AutoCloseable resources) {
        this.path = path;
        this.config = config;
        this.weights = weights;
        this.ggufMetadata = ggufMetadata;
        this.resources = resources;
    }

    /**
     * Whether {@code path} holds an encoder: a GGUF whose {@code general.architecture} is one of
     * {@link #GGUF_ARCHITECTURES} (or {@code nomic-bert-moe}, which {@link #load} refuses with a message naming what
     * is supported), or a directory whose config.json has a {@code model_type} of {@link #HF_MODEL_TYPES}.
     */
    public static boolean isEncoder(Path path) {
        if (Files.isDirectory(path)) {
            JsonNode config = readJson(path.resolve(HuggingFaceModels.CONFIG_FILE), false);
            return config != null && HF_MODEL_TYPES.contains(config.path("model_type").asText(""));
        }
        if (!Files.isRegularFile(path)) {
            return false;
        }
        try (GgufFile file = GgufFile.open(path)) {
            String arch = file.metadata().optString("general.architecture").orElse("");
            return GGUF_ARCHITECTURES.contains(arch) || REFUSED_GGUF_ARCHITECTURES.contains(arch);
        } catch (RuntimeException e) {
            return false;
        }
    }

    public static EncoderModel load(Path path) {
        return Files.isDirectory(path) ? loadDirectory(path.toAbsolutePath().normalize()) : loadGguf(path);
    }

    // ------------------------------------------------------------------ GGUF

    private static EncoderModel loadGguf(Path path) {
        GgufFile file = GgufFile.open(path);
        try {
            GgufMetadata md = file.metadata();
            String arch = md.optString("general.architecture").orElse("");
            if (!GGUF_ARCHITECTURES.contains(arch)) {
                throw new ModelFormatException(path, "general.architecture is '" + arch + "'; an encoder GGUF here is"
                        + " one of " + GGUF_ARCHITECTURES + " (BERT, XLM-RoBERTa as llama.cpp converts them; nomic-bert"
                        + " for nomic-embed-text v1 / v1.5)" + (arch.equals("nomic-bert-moe")
                        ? "; nomic-bert-moe (nomic-embed-text v2, a mixture of experts) is not supported" : ""));
            }
            boolean nomic = arch.equals(NomicBertNames.GGUF_ARCHITECTURE);
            String k = arch + ".";
            TensorSource source = new GgufTensorSource(file);
            int dim = md.getInt(k + "embedding_length");
            long[] embd = source.find("token_embd.weight") == null ? null : source.find("token_embd.weight").ggmlDims();
            if (embd == null) {
                throw new ModelFormatException(path, "tensor 'token_embd.weight' is missing");
            }
            long[] types = source.find("token_types.weight") == null ? new long[] {dim, 1}
                    : source.find("token_types.weight").ggmlDims();
            String tokenizer = md.optString("tokenizer.ggml.model").orElse("bert");
            boolean hasClassifier = source.find("cls.output.weight") != null;
            int labels = hasClassifier ? (int) (source.find("cls.output.weight").ggmlDims().length > 1
                    ? source.find("cls.output.weight").ggmlDims()[1] : 1) : 0;
            int heads = md.getInt(k + "attention.head_count");
            float rotaryBase = nomic ? NomicBertNames.ggufRotaryBase(path, md, dim / Math.max(1, heads)) : 0f;
            int contextLength = md.getInt(k + "context_length");
            EncoderConfig config = new EncoderConfig(md.optString("general.name").orElse(fileName(path)),
                    tokenizer.equals("t5") ? EncoderConfig.Family.XLM_ROBERTA : EncoderConfig.Family.BERT,
                    (int) embd[1], dim, md.getInt(k + "block_count"), heads,
                    md.getInt(k + "feed_forward_length"), nomic ? contextLength : positionRows(source, contextLength),
                    types.length > 1 ? (int) types[1] : 1, md.getFloat(k + "attention.layer_norm_epsilon", 1e-12f),
                    0, false, labels, false, rotaryBase);
            return new EncoderModel(path, config, bind(source, config), md, file);
        } catch (RuntimeException | Error e) {
            file.close();
            throw e;
        }
    }

    // ------------------------------------------------------------------ Hugging Face

    private static EncoderModel loadDirectory(Path dir) {
        Path configFile = dir.resolve(HuggingFaceModels.CONFIG_FILE);
        JsonNode c = readJson(configFile, true);
        String type = c.path("model_type").asText("");
        if (!HF_MODEL_TYPES.contains(type)) {
            throw new ModelFormatException(configFile, "model_type is '" + type + "'; an encoder here is one of "
                    + HF_MODEL_TYPES);
        }
        if (type.equals(NomicBertNames.HF_MODEL_TYPE)) {
            return open(dir, NomicBertNames.config(configFile, c, dir.getFileName().toString()), checkpoint -> {
                String prefix = weightPrefix(checkpoint);
                return new HfEncoderTensors(checkpoint, gguf -> NomicBertNames.hfName(prefix, gguf));
            });
        }
        String act = c.path("hidden_act").asText("gelu");
        if (!Set.of("gelu", "gelu_new", "gelu_pytorch_tanh").contains(act)) {
            throw new ModelFormatException(configFile, "key 'hidden_act' is '" + act + "'; supported: gelu (erf),"
                    + " gelu_new and gelu_pytorch_tanh (tanh approximation)");
        }
        String positions = c.path("position_embedding_type").asText("absolute");
        if (!positions.equals("absolute")) {
            throw new ModelFormatException(configFile, "key 'position_embedding_type' is '" + positions
                    + "'; only absolute (learned) positions are supported");
        }
        boolean roberta = !type.equals("bert");
        String arch = c.path("architectures").path(0).asText("");
        boolean classifier = arch.endsWith("ForSequenceClassification");
        int labels = !classifier ? 0 : c.has("id2label") ? c.path("id2label").size() : c.path("num_labels").asInt(2);
        EncoderConfig config = new EncoderConfig(dir.getFileName().toString(),
                roberta ? EncoderConfig.Family.XLM_ROBERTA : EncoderConfig.Family.BERT,
                positive(configFile, c, "vocab_size"), positive(configFile, c, "hidden_size"),
                positive(configFile, c, "num_hidden_layers"), positive(configFile, c, "num_attention_heads"),
                positive(configFile, c, "intermediate_size"), positive(configFile, c, "max_position_embeddings"),
                c.path("type_vocab_size").asInt(2), (float) c.path("layer_norm_eps").asDouble(1e-12),
                roberta ? c.path("pad_token_id").asInt(1) + 1 : 0, !act.equals("gelu"), labels, !roberta);
        return open(dir, config, checkpoint -> {
            String prefix = weightPrefix(checkpoint);
            return new HfEncoderTensors(checkpoint, gguf -> bertName(prefix, roberta, gguf));
        });
    }

    /** The prefix a task model's checkpoint puts before the encoder's tensor names ("" for a bare model). */
    static String weightPrefix(SafetensorsCheckpoint checkpoint) {
        for (String p : List.of("", "bert.", "roberta.", "model.")) {
            if (checkpoint.find(p + "embeddings.word_embeddings.weight").isPresent()) {
                return p;
            }
        }
        return "";
    }

    /** Opens a directory's checkpoint and binds its tensors, seen through {@code names}, to {@code config}. */
    private static EncoderModel open(Path dir, EncoderConfig config,
                                     Function<SafetensorsCheckpoint, TensorSource> names) {
        if (!SafetensorsCheckpoint.hasWeights(dir)) {
            throw new ModelFormatException(dir, "has no *.safetensors file; " + HuggingFaceModels.REQUIRED_FILES);
        }
        SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir);
        try {
            return new EncoderModel(dir, config, bind(names.apply(checkpoint), config), null, checkpoint);
        } catch (RuntimeException | Error e) {
            checkpoint.close();
            throw e;
        }
    }

    /**
     * A BERT / RoBERTa checkpoint's name of a GGUF tensor: {@link #HF_NAMES} under the task model's {@code prefix},
     * the classification head as RoBERTa's or BERT's (pooler + classifier) names it.
     */
    private static String bertName(String prefix, boolean roberta, String ggufName) {
        switch (ggufName) {
            case "cls.weight", "cls.bias" -> {
                return roberta ? "classifier.dense." + ggufName.substring(4) : prefix + "pooler.dense." + ggufName.substring(4);
            }
            case "cls.output.weight", "cls.output.bias" -> {
                return (roberta ? "classifier.out_proj." : "classifier.") + ggufName.substring(11);
            }
            default -> { }
        }
        String top = HF_NAMES.get(ggufName);
        if (top != null && !ggufName.startsWith("attn") && !ggufName.startsWith("ffn")
                && !ggufName.startsWith("layer")) {
            return prefix + top;
        }
        if (ggufName.startsWith("blk.")) {
            int dot = ggufName.indexOf('.', 4);
            String layer = ggufName.substring(4, dot);
            String rest = HF_NAMES.get(ggufName.substring(dot + 1));
            return rest == null ? ggufName : prefix + "encoder.layer." + layer + "." + rest;
        }
        return ggufName;
    }

    /** A Hugging Face encoder checkpoint under GGUF names ({@code names}: GGUF name → the checkpoint's name). */
    private record HfEncoderTensors(SafetensorsCheckpoint checkpoint, UnaryOperator<String> names)
            implements TensorSource {

        @Override
        public Path path() {
            return checkpoint.directory();
        }

        @Override
        public Tensor find(String ggufName) {
            String name = sourceName(ggufName);
            SafetensorsCheckpoint.Entry e = checkpoint.find(name).orElse(null);
            if (e == null) {
                return null;
            }
            var info = e.info();
            var type = info.dtype().ggmlType().orElseThrow(() -> new ModelFormatException(e.file().path(),
                    "tensor '" + name + "' is " + info.dtype() + "; supported dtypes: "
                            + SafetensorsDtype.computableNames()));
            long[] shape = info.shape();
            long[] dims = new long[shape.length];
            for (int i = 0; i < shape.length; i++) {
                dims[i] = shape[shape.length - 1 - i];
            }
            return new Tensor(type, dims, e.data());
        }

        @Override
        public String sourceName(String ggufName) {
            return names.apply(ggufName);
        }

        @Override
        public String formatShape(long[] ggmlDims) {
            long[] r = new long[ggmlDims.length];
            for (int i = 0; i < r.length; i++) {
                r[i] = ggmlDims[r.length - 1 - i];
            }
            return Arrays.toString(r);
        }

        @Override
        public String shapeNote() {
            return "(PyTorch order: rows first) from config.json; config.json and the weights disagree";
        }

        @Override
        public String missingHint(String ggufName) {
            return "not in " + checkpoint.describe() + "; an incomplete download, or a config.json of another model?";
        }
    }

    // ------------------------------------------------------------------ binding

    private static EncoderWeights bind(TensorSource source, EncoderConfig c) {
        TensorBinder t = new TensorBinder(source, c.rotary() ? "nomic-bert"
                : c.family() == EncoderConfig.Family.BERT ? "BERT" : "XLM-RoBERTa");
        int dim = c.embeddingLength();
        int ffn = c.feedForwardLength();
        Weight tokens = t.matrix("token_embd.weight", c.vocabularySize(), dim);
        float[] positions = c.rotary() ? null : t.vector2("position_embd.weight", c.maxPositions(), dim);
        float[] types = t.has("token_types.weight") ? t.vector2("token_types.weight", c.tokenTypes(), dim)
                : new float[c.tokenTypes() * dim];
        List<EncoderWeights.Layer> layers = new ArrayList<>();
        for (int i = 0; i < c.blockCount(); i++) {
            layers.add(c.rotary() ? nomicLayer(t, i, dim, ffn) : bertLayer(t, i, dim, ffn));
        }
        EncoderWeights.Classifier head = null;
        if (c.labels() > 0) {
            head = new EncoderWeights.Classifier(t.matrix("cls.weight", dim, dim), t.vector("cls.bias", dim),
                    t.matrix("cls.output.weight", c.labels(), dim), t.vector("cls.output.bias", c.labels()));
        }
        return new EncoderWeights(tokens, positions, types, t.vector("token_embd_norm.weight", dim),
                t.vector("token_embd_norm.bias", dim), List.copyOf(layers), head);
    }

    /** A BERT / RoBERTa block: separate Q, K, V, every projection with its bias, a GELU feed-forward. */
    private static EncoderWeights.Layer bertLayer(TensorBinder t, int i, int dim, int ffn) {
        String p = "blk." + i + ".";
        return new EncoderWeights.Layer(i,
                t.matrix(p + "attn_q.weight", dim, dim), t.vector(p + "attn_q.bias", dim),
                t.matrix(p + "attn_k.weight", dim, dim), t.vector(p + "attn_k.bias", dim),
                t.matrix(p + "attn_v.weight", dim, dim), t.vector(p + "attn_v.bias", dim),
                t.matrix(p + "attn_output.weight", dim, dim), t.vector(p + "attn_output.bias", dim),
                t.vector(p + "attn_output_norm.weight", dim), t.vector(p + "attn_output_norm.bias", dim),
                t.matrix(p + "ffn_up.weight", ffn, dim), t.vector(p + "ffn_up.bias", ffn),
                t.matrix(p + "ffn_down.weight", dim, ffn), t.vector(p + "ffn_down.bias", dim),
                t.vector(p + "layer_output_norm.weight", dim), t.vector(p + "layer_output_norm.bias", dim));
    }

    /**
     * A nomic-bert block: Q, K and V as row slices of the fused {@code attn_qkv} (Q's rows first, as llama.cpp
     * splits it), a SwiGLU feed-forward ({@code ffn_up} = fc11, {@code ffn_gate} = fc12). nomic-embed-text v1 /
     * v1.5 have no projection biases; any the file holds are used, as llama.cpp does.
     */
    private static EncoderWeights.Layer nomicLayer(TensorBinder t, int i, int dim, int ffn) {
        String p = "blk." + i + ".";
        Weight qkv = t.matrix(p + "attn_qkv.weight", 3 * dim, dim);
        float[] qkvBias = optionalVector(t, p + "attn_qkv.bias", 3 * dim);
        return new EncoderWeights.Layer(i,
                qkv.rowSlice(0, dim), slice(qkvBias, 0, dim),
                qkv.rowSlice(dim, dim), slice(qkvBias, dim, dim),
                qkv.rowSlice(2 * dim, dim), slice(qkvBias, 2 * dim, dim),
                t.matrix(p + "attn_output.weight", dim, dim), optionalVector(t, p + "attn_output.bias", dim),
                t.vector(p + "attn_output_norm.weight", dim), t.vector(p + "attn_output_norm.bias", dim),
                t.matrix(p + "ffn_up.weight", ffn, dim), optionalVector(t, p + "ffn_up.bias", ffn),
                t.matrix(p + "ffn_down.weight", dim, ffn), optionalVector(t, p + "ffn_down.bias", dim),
                t.vector(p + "layer_output_norm.weight", dim), t.vector(p + "layer_output_norm.bias", dim),
                t.matrix(p + "ffn_gate.weight", ffn, dim));
    }

    private static float[] optionalVector(TensorBinder t, String name, int length) {
        return t.has(name) ? t.vector(name, length) : null;
    }

    private static float[] slice(float[] v, int from, int length) {
        return v == null ? null : Arrays.copyOfRange(v, from, from + length);
    }

    /** The position table's rows (the converter may have dropped RoBERTa's offset rows), else the context length. */
    private static int positionRows(TensorSource source, int contextLength) {
        TensorSource.Tensor t = source.find("position_embd.weight");
        return t != null && t.ggmlDims().length > 1 ? (int) t.ggmlDims()[1] : contextLength;
    }

    static int positive(Path file, JsonNode c, String key) {
        int v = c.path(key).asInt(0);
        if (v < 1) {
            throw new ModelFormatException(file, "key '" + key + "' is " + (c.has(key) ? c.get(key) : "missing")
                    + "; expected a positive integer");
        }
        return v;
    }

    private static JsonNode readJson(Path file, boolean required) {
        try {
            if (!Files.isRegularFile(file)) {
                if (required) {
                    throw new ModelFormatException(file.getParent(), "has no " + file.getFileName() + "; "
                            + HuggingFaceModels.REQUIRED_FILES);
                }
                return null;
            }
            return new ObjectMapper().readTree(Files.readString(file));
        } catch (IOException e) {
            if (required) {
                throw new ModelFormatException(file, "cannot be read as JSON: " + e.getMessage(), e);
            }
            return null;
        }
    }

    private static String fileName(Path path) {
        String n = path.getFileName().toString();
        return n.endsWith(".gguf") ? n.substring(0, n.length() - 5) : n;
    }

    public EncoderConfig config() {
        return config;
    }

    public EncoderWeights weights() {
        return weights;
    }

    /** The GGUF's metadata (its tokenizer keys among them), or null for a Hugging Face directory. */
    public GgufMetadata ggufMetadata() {
        return ggufMetadata;
    }

    public boolean isGguf() {
        return ggufMetadata != null;
    }

    public Path path() {
        return path;
    }

    @Override
    public void close() {
        try {
            resources.close();
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException("closing " + path + " failed", e);
        }
    }
}
