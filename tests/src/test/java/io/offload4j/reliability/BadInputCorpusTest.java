package io.offload4j.reliability;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.reliability.BadInputCorpus.Kind;
import java.io.IOException;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Issue 19: every file of the generated bad-input corpus is refused in one line that names it. */
class BadInputCorpusTest {

    @Test
    void everyCaseIsRefusedInOneLineNamingTheFile(@TempDir Path dir) throws IOException {
        List<BadInputCorpus.Case> cases = BadInputCorpus.write(dir);
        Set<Kind> kinds = cases.stream().map(BadInputCorpus.Case::kind).collect(Collectors.toSet());
        assertEquals(EnumSet.allOf(Kind.class), kinds, "the corpus covers every kind of file");
        assertTrue(cases.size() >= 60, "cases: " + cases.size());
        List<CorpusCheck.Outcome> outcomes = CorpusCheck.checkAll(cases);
        String problems = outcomes.stream().filter(o -> !o.ok()).map(Object::toString)
                .collect(Collectors.joining("\n"));
        assertEquals(cases.size(), outcomes.size());
        assertTrue(problems.isEmpty(), "not refused properly:\n" + problems);
    }
}
