package io.offload4j.tokenizer;

import io.offload4j.gguf.GgufArray;
import io.offload4j.gguf.GgufMetadata;
import io.offload4j.gguf.GgufValueType;
import io.offload4j.gguf.GgufWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A byte-level BPE vocabulary converted from another format (tiktoken ranks, Hugging Face
 * vocab.json + merges.txt), ready to be written as GGUF {@code tokenizer.ggml.*} metadata or used
 * directly through {@link #toMetadata()}.
 *
 * @param name   {@code general.name}
 * @param pre    {@code tokenizer.ggml.pre}
 * @param tokens token texts (byte-level for normal tokens, raw for added ones)
 * @param types  {@link TokenType} of each token
 * @param merges "left right" in rank order
 * @param bos    BOS id or -1
 * @param eos    EOS id or -1
 * @param pad    padding id or -1
 * @param addBos {@code tokenizer.ggml.add_bos_token}
 */
public record ConvertedVocabulary(String name, String pre, String[] tokens, int[] types, String[] merges,
                                  int bos, int eos, int pad, boolean addBos) {

    /** The vocabulary as in-memory GGUF metadata (as a vocabulary-only GGUF file would hold it). */
    public GgufMetadata toMetadata() {
        Map<String, GgufMetadata.Entry> m = new LinkedHashMap<>();
        m.put("general.architecture", new GgufMetadata.Entry(GgufValueType.STRING, "llama"));
        m.put("general.name", new GgufMetadata.Entry(GgufValueType.STRING, name));
        m.put(Vocabulary.KEY_MODEL, new GgufMetadata.Entry(GgufValueType.STRING, "gpt2"));
        m.put(Vocabulary.KEY_PRE, new GgufMetadata.Entry(GgufValueType.STRING, pre));
        m.put(Vocabulary.KEY_TOKENS, new GgufMetadata.Entry(GgufValueType.ARRAY, new GgufArray(GgufValueType.STRING, tokens)));
        m.put(Vocabulary.KEY_TOKEN_TYPE, new GgufMetadata.Entry(GgufValueType.ARRAY, new GgufArray(GgufValueType.INT32, types)));
        m.put(Vocabulary.KEY_MERGES, new GgufMetadata.Entry(GgufValueType.ARRAY, new GgufArray(GgufValueType.STRING, merges)));
        if (bos >= 0) {
            m.put(Vocabulary.KEY_BOS, new GgufMetadata.Entry(GgufValueType.UINT32, (long) bos));
        }
        if (eos >= 0) {
            m.put(Vocabulary.KEY_EOS, new GgufMetadata.Entry(GgufValueType.UINT32, (long) eos));
        }
        if (pad >= 0) {
            m.put(Vocabulary.KEY_PAD, new GgufMetadata.Entry(GgufValueType.UINT32, (long) pad));
        }
        m.put(Vocabulary.KEY_ADD_BOS, new GgufMetadata.Entry(GgufValueType.BOOL, addBos));
        m.put(Vocabulary.KEY_ADD_EOS, new GgufMetadata.Entry(GgufValueType.BOOL, false));
        return new GgufMetadata(Path.of(name + " (converted vocabulary)"), m);
    }

    /** Writes a vocabulary-only GGUF file (no tensors). */
    public void writeGguf(Path target) {
        GgufWriter w = new GgufWriter();
        toMetadata().entries().forEach((k, v) -> w.put(k, v.type(), v.value()));
        w.write(target);
    }

    /** The tokenizer of this vocabulary. */
    public Tokenizer tokenizer() {
        return Tokenizers.fromGguf(toMetadata());
    }
}
