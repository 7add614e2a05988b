package io.offload4j.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The Vector API's rarely used convenience methods ({@code max}, {@code min}, {@code neg}, {@code abs}, {@code div}) stay
 * out of our vector code: each is a final method whose body calls the abstract {@code lanewise}, and C2 devirtualizes
 * that call from the convenience method's own type profile, which may still be empty when the one loop that calls it is
 * compiled; every vector of the loop is then boxed. That made CPU prefills run at half speed in about half of the JVM
 * starts (the attention's softmax called {@code max}; tests/bench/RESULTS.md, "Session 10"), and no functional test can
 * see it. Call {@code lanewise(VectorOperators.MAX, ...)} and so on instead: the call site's profile is then the loop's
 * own. ({@code fma}, {@code add}, {@code mul} and {@code sub} are called from so many places that their profiles fill
 * early.)
 */
class VectorConvenienceCallsTest {

    private static final Pattern CONVENIENCE = Pattern.compile(
            "(?<!\\b(?:Math|StrictMath|Integer|Long|Float|Double|Short|Byte|Character))\\.(max|min|neg|abs|div)\\(");

    @Test
    void vectorCodeCallsLanewiseInsteadOfRareConvenienceMethods() throws IOException {
        Path main = Path.of("src/main/java");
        Assumptions.assumeTrue(Files.isDirectory(main), "skipped: the provider's sources are not at " + main.toAbsolutePath()
                + " (run from the provider module)");
        List<String> found = new ArrayList<>();
        int files = 0;
        try (Stream<Path> s = Files.walk(main)) {
            for (Path f : s.filter(p -> p.toString().endsWith(".java")).toList()) {
                List<String> lines = Files.readAllLines(f);
                if (lines.stream().noneMatch(l -> l.startsWith("import jdk.incubator.vector."))) {
                    continue;
                }
                files++;
                for (int i = 0; i < lines.size(); i++) {
                    String code = lines.get(i).replaceAll("//.*", "");
                    Matcher m = CONVENIENCE.matcher(code);
                    if (m.find()) {
                        found.add(main.relativize(f) + ":" + (i + 1) + ": " + lines.get(i).strip());
                    }
                }
            }
        }
        assertTrue(files >= 10, "found only " + files + " sources that use the Vector API under " + main.toAbsolutePath());
        assertEquals(List.of(), found, "use lanewise(VectorOperators.MAX/MIN/NEG/ABS/DIV, ...) instead (class comment)");
    }

    @Test
    void thePatternTellsVectorCallsFromMathCalls() {
        assertTrue(CONVENIENCE.matcher("m = m.max(FloatVector.fromArray(F, att, a + p));").find());
        assertTrue(CONVENIENCE.matcher("FloatVector e = v.neg().lanewise(EXP);").find());
        assertTrue(CONVENIENCE.matcher("x.div(e).mul(y)").find());
        assertTrue(CONVENIENCE.matcher("a.add(b).abs()").find());
        assertTrue(!CONVENIENCE.matcher("max = Math.max(max, att[a + p]);").find());
        assertTrue(!CONVENIENCE.matcher("int n = Math.min(pw, count - t0);").find());
        assertTrue(!CONVENIENCE.matcher("long x = Long.max(a, b); float y = Float.min(c, d);").find());
        assertTrue(!CONVENIENCE.matcher("v.lanewise(VectorOperators.MAX, w)").find());
    }
}
