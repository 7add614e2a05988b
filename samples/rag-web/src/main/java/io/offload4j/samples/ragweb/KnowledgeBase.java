package io.offload4j.samples.ragweb;

import dev.langchain4j.data.document.Document;
import dev.langchain4j.data.document.splitter.DocumentSplitters;
import dev.langchain4j.data.embedding.Embedding;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.model.embedding.EmbeddingModel;
import dev.langchain4j.store.embedding.inmemory.InMemoryEmbeddingStore;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The documents, split into passages and embedded: what questions are answered from. Built once at start-up, then
 * only read (the in-memory store is safe for concurrent searches).
 *
 * <p>Each passage starts with its document's title, so a passage from the middle of a document still carries what
 * the document is about into its embedding and into the prompt.
 */
public final class KnowledgeBase {

    private static final Logger log = LoggerFactory.getLogger(KnowledgeBase.class);

    private final InMemoryEmbeddingStore<TextSegment> store;
    private final int documents;
    private final int passages;

    private KnowledgeBase(InMemoryEmbeddingStore<TextSegment> store, int documents, int passages) {
        this.store = store;
        this.documents = documents;
        this.passages = passages;
    }

    /** Splits {@code docs} into passages of at most {@code segmentSize} characters (plus the title), embeds them. */
    static KnowledgeBase ingest(List<Document> docs, EmbeddingModel embeddingModel, int segmentSize,
                                int segmentOverlap) {
        long start = System.nanoTime();
        List<TextSegment> passages = DocumentSplitters.recursive(segmentSize, segmentOverlap).splitAll(docs).stream()
                .map(KnowledgeBase::withTitle)
                .toList();
        List<Embedding> embeddings = embeddingModel.embedAll(passages).content();
        InMemoryEmbeddingStore<TextSegment> store = new InMemoryEmbeddingStore<>();
        store.addAll(embeddings, passages);
        log.info("Knowledge base: {} documents, {} passages embedded in {} ms", docs.size(), passages.size(),
                (System.nanoTime() - start) / 1_000_000);
        return new KnowledgeBase(store, docs.size(), passages.size());
    }

    private static TextSegment withTitle(TextSegment segment) {
        String title = segment.metadata().getString(BundledDocuments.TITLE);
        return TextSegment.from(title + "\n\n" + segment.text(), segment.metadata());
    }

    public InMemoryEmbeddingStore<TextSegment> store() {
        return store;
    }

    public int documents() {
        return documents;
    }

    public int passages() {
        return passages;
    }
}
