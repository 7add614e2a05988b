package io.offload4j.embedding;

import io.offload4j.tokenizer.EncoderTokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A cross-encoder re-ranker of the BERT family (bge-reranker: XLMRobertaForSequenceClassification; ms-marco
 * MiniLM cross-encoders: BertForSequenceClassification) with one output: each (query, document) pair is one input,
 * {@code <s> query </s></s> document </s>} (RoBERTa) or {@code [CLS] query [SEP] document [SEP]} (BERT), cut
 * longest-first to the model's limit; the classification head on its first row gives the relevance logit. With
 * {@code sigmoid}, the score is the logit mapped into 0..1 (what bge-reranker's {@code normalize=True} gives).
 */
public final class CrossEncoderScorer implements TextScorer {

    private final EncoderRuntime runtime;
    private final boolean sigmoid;

    CrossEncoderScorer(Path path, EmbeddingOptions options, boolean sigmoid) {
        this.runtime = new EncoderRuntime(path, options);
        this.sigmoid = sigmoid;
        int labels = runtime.model.config().labels();
        if (labels != 1) {
            runtime.close();
            throw new IllegalArgumentException(path + " is " + (labels == 0 ? "an encoder without a classification"
                    + " head (an embedding model, not a re-ranker)" : "a classifier with " + labels + " labels")
                    + "; a re-ranker has one output (num_labels 1)");
        }
    }

    @Override
    public String modelName() {
        return runtime.model.config().name();
    }

    /** The ids of a (query, document) pair as the model sees it. */
    public int[] tokenize(String query, String document) {
        return runtime.tokenizer.encodePair(query, document, runtime.maxTokens).ids();
    }

    @Override
    public float[] score(String query, List<String> documents) {
        List<EncoderTokenizer.Encoding> inputs = new ArrayList<>(documents.size());
        for (String d : documents) {
            inputs.add(runtime.tokenizer.encodePair(query, d, runtime.maxTokens));
        }
        float[] scores = new float[documents.size()];
        float[] logits = new float[inputs.size()];
        runtime.run(inputs, (hidden, from, lengths, n) -> {
            runtime.classify(hidden, lengths, n, logits);
            for (int s = 0; s < n; s++) {
                float l = logits[s];
                scores[from + s] = sigmoid ? (float) (1 / (1 + Math.exp(-l))) : l;
            }
        });
        return scores;
    }

    @Override
    public void close() {
        runtime.close();
    }
}
