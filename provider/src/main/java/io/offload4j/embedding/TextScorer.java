package io.offload4j.embedding;

import java.util.List;

/** A cross-encoder re-ranker: how relevant each document is to a query. Thread-safe; closed with the model. */
public interface TextScorer extends AutoCloseable {

    String modelName();

    /** One score per document, in order: higher is more relevant. */
    float[] score(String query, List<String> documents);

    @Override
    void close();
}
