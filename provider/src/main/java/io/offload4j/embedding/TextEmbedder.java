package io.offload4j.embedding;

import java.util.List;

/** Texts to vectors with one loaded model; thread-safe (calls are serialised), closed with the model. */
public interface TextEmbedder extends AutoCloseable {

    /** Length of every vector. */
    int dimension();

    /** The model's name, for metadata and logs. */
    String modelName();

    /** One vector per text, in order; texts are embedded as given (instructions already applied). */
    List<float[]> embed(List<String> texts);

    /** The number of tokens {@code text} becomes (after truncation), for usage reports. */
    int tokenCount(String text);

    @Override
    void close();
}
