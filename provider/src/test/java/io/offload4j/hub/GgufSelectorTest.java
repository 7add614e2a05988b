package io.offload4j.hub;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class GgufSelectorTest {

    private static final RepoId REPO = new RepoId("o", "r");

    private static Optional<String> select(String quant, String... files) {
        return GgufSelector.select(REPO, quant, List.of(files), "repo o/r");
    }

    @Test
    void aWholeWordMatchWinsOverLongerNames() {
        assertEquals(Optional.of("m-Q4_0.gguf"), select("Q4_0", "m-Q4_0_4_4.gguf", "m-Q4_0.gguf"));
        assertEquals(Optional.of("m-Q4_XS.gguf"), select("q4_xs", "m-IQ4_XS.gguf", "m-Q4_XS.gguf"));
        assertEquals(Optional.of("m.Q5_K_M.gguf"), select("Q5_K_M", "m.Q5_K_M.gguf", "README.md", "m.Q5_K_M.bin"));
        assertEquals(Optional.of("Q6_K/m-Q6_K.gguf"), select("q6_k", "Q6_K/m-Q6_K.gguf", "m-Q8_0.gguf"));
    }

    @Test
    void projectorsCountOnlyWhenNothingElseMatches() {
        assertEquals(Optional.of("m-F16.gguf"), select("F16", "mmproj-F16.gguf", "m-F16.gguf"));
        assertEquals(Optional.of("mmproj-F16.gguf"), select("F16", "mmproj-F16.gguf", "m-Q8_0.gguf"));
    }

    @Test
    void noMatchIsEmptyAndAmbiguityIsAnError() {
        assertEquals(Optional.empty(), select("Q2_K", "m-Q4_K_M.gguf"));
        ModelResolutionException e = assertThrows(ModelResolutionException.class,
                () -> select("Q4_K", "m-Q4_K_M.gguf", "m-Q4_K_S.gguf"));
        assertTrue(e.getMessage().contains("m-Q4_K_M.gguf, m-Q4_K_S.gguf"), e.getMessage());
        ModelResolutionException noMatch = GgufSelector.noMatch("Q2_K", List.of("b.gguf", "a.gguf", "c.txt"), "repo o/r");
        assertEquals("no GGUF file in repo o/r matches 'Q2_K'; its .gguf files are: a.gguf, b.gguf", noMatch.getMessage());
    }
}
