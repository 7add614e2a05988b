package io.offload4j.tokenizer;

import io.offload4j.gguf.GgufMetadata;
import java.util.List;

/** Builds the tokenizer a GGUF model's metadata describes. */
public final class Tokenizers {

    /** Values of {@code tokenizer.ggml.model} this factory understands. */
    public static final List<String> SUPPORTED_MODELS = List.of("llama", "gpt2");

    private Tokenizers() {}

    /**
     * The tokenizer for {@code tokenizer.ggml.model}: {@code llama} → SentencePiece BPE,
     * {@code gpt2} → byte-level BPE with the pre-tokenizer named by {@code tokenizer.ggml.pre}.
     *
     * @throws TokenizerException for an unknown tokenizer model or pre-tokenizer, or a malformed vocabulary
     */
    public static Tokenizer fromGguf(GgufMetadata metadata) {
        if (!metadata.has(Vocabulary.KEY_MODEL)) {
            throw new TokenizerException("metadata key '" + Vocabulary.KEY_MODEL + "' is missing; the GGUF file has no "
                    + "tokenizer (supported tokenizer models: " + String.join(", ", SUPPORTED_MODELS) + ")");
        }
        String model;
        try {
            model = metadata.getString(Vocabulary.KEY_MODEL);
        } catch (RuntimeException e) {
            throw new TokenizerException("metadata key '" + Vocabulary.KEY_MODEL + "' is malformed: " + e.getMessage(), e);
        }
        return switch (model) {
            case "llama" -> new SentencePieceTokenizer(Vocabulary.fromGguf(metadata, true, true));
            case "gpt2" -> byteLevel(metadata);
            default -> throw new TokenizerException("unsupported tokenizer model '" + model + "' in metadata key '"
                    + Vocabulary.KEY_MODEL + "'; supported: " + String.join(", ", SUPPORTED_MODELS));
        };
    }

    private static ByteLevelBpeTokenizer byteLevel(GgufMetadata metadata) {
        String pre = "default";
        if (metadata.has(Vocabulary.KEY_PRE)) {
            try {
                pre = metadata.getString(Vocabulary.KEY_PRE);
            } catch (RuntimeException e) {
                throw new TokenizerException("metadata key '" + Vocabulary.KEY_PRE + "' is malformed: " + e.getMessage(), e);
            }
        }
        PreTokenizer preTokenizer = PreTokenizer.forName(pre);
        String[] merges = Vocabulary.stringArray(metadata, Vocabulary.KEY_MERGES);
        Vocabulary vocab = Vocabulary.fromGguf(metadata, false, preTokenizer.addBosByDefault());
        return new ByteLevelBpeTokenizer(vocab, merges, preTokenizer);
    }
}
