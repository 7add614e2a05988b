package io.offload4j.samples.ragweb;

import dev.langchain4j.data.document.Document;
import dev.langchain4j.data.document.Metadata;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import org.springframework.core.io.Resource;
import org.springframework.core.io.support.PathMatchingResourcePatternResolver;
import org.springframework.core.io.support.ResourcePatternResolver;

/**
 * Reads the Markdown documents the answers are grounded in. Each becomes a LangChain4j {@link Document} whose
 * metadata carries its file name ({@value #FILE_NAME}) and its first {@code # } heading ({@value #TITLE}), so a
 * retrieved passage can say where it came from.
 */
final class BundledDocuments {

    static final String FILE_NAME = "file_name";
    static final String TITLE = "title";

    private BundledDocuments() {}

    /**
     * @param pattern a Spring resource pattern ({@code classpath:docs/*.md}, {@code file:/srv/docs/*.md})
     * @throws IllegalStateException when the pattern matches nothing or a match is empty: answers without documents
     *                               would be the model's guesses, so start-up stops instead
     */
    static List<Document> load(String pattern) {
        ResourcePatternResolver resolver = new PathMatchingResourcePatternResolver();
        Resource[] resources;
        try {
            resources = resolver.getResources(pattern);
        } catch (IOException e) {
            throw new UncheckedIOException("rag.documents: cannot list '" + pattern + "': " + e.getMessage(), e);
        }
        List<Resource> readable = Arrays.stream(resources).filter(Resource::isReadable)
                .sorted(Comparator.comparing(Resource::getFilename))
                .toList();
        if (readable.isEmpty()) {
            throw new IllegalStateException("rag.documents: no readable document matches '" + pattern
                    + "'; point it at Markdown files, e.g. --rag.documents=file:/path/to/docs/*.md");
        }
        List<Document> documents = new ArrayList<>();
        for (Resource r : readable) {
            String text = read(r);
            if (text.isBlank()) {
                throw new IllegalStateException("rag.documents: " + describe(r) + " is empty; remove it or add text");
            }
            String name = r.getFilename();
            documents.add(Document.from(text, Metadata.from(FILE_NAME, name).put(TITLE, title(text, name))));
        }
        return documents;
    }

    /** The first level-1 Markdown heading, else the file name. */
    static String title(String markdown, String fallback) {
        return markdown.lines().map(String::strip).filter(l -> l.startsWith("# "))
                .map(l -> l.substring(2).strip()).findFirst().orElse(fallback);
    }

    private static String read(Resource r) {
        try (InputStream in = r.getInputStream()) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("rag.documents: cannot read " + describe(r) + ": " + e.getMessage(), e);
        }
    }

    private static String describe(Resource r) {
        return r.getDescription();
    }
}
