package io.offload4j.samples.ragweb;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.langchain4j.data.document.Document;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BundledDocumentsTest {

    @Test
    void theBundledDocumentsLoadWithFileNamesAndTitles() {
        List<Document> docs = BundledDocuments.load("classpath:docs/*.md");

        assertThat(docs).extracting(d -> d.metadata().getString(BundledDocuments.FILE_NAME)).containsExactly(
                "configuration.md", "langchain4j.md", "overview.md", "supported-models.md", "tiers-and-offloading.md");
        assertThat(docs).extracting(d -> d.metadata().getString(BundledDocuments.TITLE)).containsExactly(
                "Configuring offload4j", "Using offload4j from LangChain4j", "What offload4j is",
                "Supported models and formats", "Memory tiers and offloading");
    }

    @Test
    void filesFromADirectoryAndATitleFallingBackToTheFileName(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("notes.md"), "Some text.\n\n## Not a title\n");
        List<Document> docs = BundledDocuments.load("file:" + dir + "/*.md");

        assertThat(docs).singleElement().satisfies(d -> {
            assertThat(d.metadata().getString(BundledDocuments.TITLE)).isEqualTo("notes.md");
            assertThat(d.text()).startsWith("Some text.");
        });
    }

    @Test
    void nothingToAnswerFromStopsStartUpWithTheProperty(@TempDir Path dir) throws IOException {
        assertThatThrownBy(() -> BundledDocuments.load("file:" + dir + "/*.md"))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("rag.documents: no readable document matches 'file:" + dir + "/*.md'");

        Files.writeString(dir.resolve("empty.md"), "  \n");
        assertThatThrownBy(() -> BundledDocuments.load("file:" + dir + "/*.md"))
                .hasMessageContaining("rag.documents:").hasMessageContaining("empty.md").hasMessageContaining("is empty");
    }
}
