package io.offload4j.tokenizer;

/**
 * Text to token ids and back, built from a model's GGUF metadata. Implementations are immutable and
 * thread-safe.
 */
public interface Tokenizer {

    /**
     * Encodes text.
     *
     * @param addSpecial   add BOS (and EOS) as the model's metadata asks ({@code tokenizer.ggml.add_bos_token} ...)
     * @param parseSpecial recognise special/control tokens written in the text (e.g. {@code <|im_start|>});
     *                     false treats them as plain text. Chat-template output is encoded with true, user text
     *                     on its own with false.
     */
    int[] encode(String text, boolean addSpecial, boolean parseSpecial);

    /** Decodes ids to text (special tokens rendered as their text unless they are control tokens). */
    String decode(int[] tokens);

    /** The raw bytes a token stands for when decoded (a byte-fallback token is one byte). */
    byte[] tokenBytes(int token);

    /** The token's piece as stored in the vocabulary. */
    String tokenText(int token);

    int vocabularySize();

    /** Beginning-of-sequence id, or -1 when the model has none. */
    int bosToken();

    /** End-of-sequence id, or -1. */
    int eosToken();

    /** True for tokens that end generation: EOS, EOT ({@code <|eot_id|>}, {@code <|im_end|>} ...), EOM. */
    boolean isEndOfGeneration(int token);

    /** True for control tokens that decode to nothing in generated text. */
    boolean isControl(int token);

    /**
     * The id of the token whose vocabulary text is exactly {@code text} (e.g. {@code "<|im_end|>"}), or -1.
     * The default scans the vocabulary; implementations look it up.
     */
    default int tokenId(String text) {
        for (int i = 0; i < vocabularySize(); i++) {
            if (tokenText(i).equals(text)) {
                return i;
            }
        }
        return -1;
    }

    /**
     * End-of-turn id: {@code tokenizer.ggml.eot_token_id}, else a token named {@code <|eot_id|>},
     * {@code <|im_end|>}, {@code <|end|>}, {@code <end_of_turn>} ... (as llama.cpp picks it); -1 when none.
     */
    default int eotToken() {
        return -1;
    }

    /** Whether {@link #encode} with {@code addSpecial = true} puts BOS first. */
    default boolean addsBos() {
        return false;
    }
}
