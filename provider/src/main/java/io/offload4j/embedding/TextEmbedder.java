package io.offload4j.embedding;

import java.util.List;

/** Texts to vectors with one loaded model; thread-safe (calls are serialised), closed with the model. */
public interface TextEmbedder extends AutoCloseable {

    /** Length of every vector. */
    int dimension();

    /** The model's name, for metadata and logs. */
    String modelName();

    /** One vector per text, in order; texts are embedded as given (instructions already applied). */
    default List<float[]> embed(List<String> texts) {
        return embed(texts, null);
    }

    /** {@link #embed(List)}, writing each text's token count (after truncation) into {@code tokens} when not null. */
    List<float[]> embed(List<String> texts, int[] tokens);

    /** The number of tokens {@code text} becomes (after truncation), for usage reports. */
    int tokenCount(String text);

    /**
     * A query with a task instruction, as the model card writes it: Qwen3-Embedding's {@code Instruct: {task}\nQuery:{query}}
     * by default; a decoder model may say otherwise (gte-Qwen2: {@code ...\nQuery: {query}}, see
     * {@link DecoderEmbedder#instructed}).
     */
    default String instructed(String instruction, String query) {
        return "Instruct: " + instruction + "\nQuery:" + query;
    }

    @Override
    void close();
}
