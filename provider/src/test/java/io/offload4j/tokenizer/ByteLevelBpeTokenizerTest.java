package io.offload4j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.gguf.GgufFile;
import io.offload4j.testing.SharedData;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ByteLevelBpeTokenizerTest {

    @TempDir
    Path tmp;

    @Test
    void gpt2ReferenceVectors() {
        Tokenizer t;
        try (GgufFile f = GgufFile.open(SharedData.requireGunzipped("vocab/ggml-vocab-gpt-2.gguf.gz", tmp))) {
            t = Tokenizers.fromGguf(f.metadata());
        }
        assertTrue(t instanceof ByteLevelBpeTokenizer);
        assertEquals("gpt-2", ((ByteLevelBpeTokenizer) t).preTokenizer().canonicalName());
        List<ReferenceVectors.Case> cases = ReferenceVectors.load("ggml-vocab-gpt-2.gguf.inp", "ggml-vocab-gpt-2.gguf.out");
        assertEquals(46, ReferenceVectors.check(t, cases));
        for (ReferenceVectors.Case c : cases) {
            assertEquals(c.input(), t.decode(c.expected()), "decode of case #" + c.index());
        }
        // no BOS for GPT-2 unless the metadata asks
        assertEquals(t.encode("Hello", false, false).length, t.encode("Hello", true, false).length);
        assertTrue(t.isEndOfGeneration(50256));
    }
}
