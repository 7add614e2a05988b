package io.offload4j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.offload4j.testing.SharedData;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** llama.cpp's tokenizer test vectors: inputs separated by {@code \n__ggml_vocab_test__\n}, one line of ids per input. */
final class ReferenceVectors {

    static final String SEPARATOR = "\n__ggml_vocab_test__\n";

    record Case(int index, String input, int[] expected) {}

    private ReferenceVectors() {}

    static List<String> inputs(Path inp) {
        String text = read(inp);
        List<String> tests = new ArrayList<>();
        int pos = 0;
        while (true) {
            int next = text.indexOf(SEPARATOR, pos);
            if (next < 0) {
                break;
            }
            tests.add(text.substring(pos, next));
            pos = next + SEPARATOR.length();
        }
        return tests;
    }

    static List<Case> load(String inpName, String outName) {
        Path inp = SharedData.require("vocab/" + inpName);
        Path out = SharedData.require("vocab/" + outName);
        List<String> inputs = inputs(inp);
        List<String> lines = read(out).lines().toList();
        assertEquals(inputs.size(), lines.size(), "inputs in " + inp + " vs lines in " + out);
        List<Case> cases = new ArrayList<>();
        for (int i = 0; i < inputs.size(); i++) {
            String l = lines.get(i).trim();
            int[] ids = l.isEmpty() ? new int[0] : Arrays.stream(l.split("\\s+")).mapToInt(Integer::parseInt).toArray();
            cases.add(new Case(i, inputs.get(i), ids));
        }
        return cases;
    }

    /** Checks every case; reports all mismatches at once. Returns the number that passed. */
    static int check(Tokenizer tokenizer, List<Case> cases) {
        StringBuilder failures = new StringBuilder();
        int passed = 0;
        for (Case c : cases) {
            int[] got = tokenizer.encode(c.input(), false, false);
            if (Arrays.equals(got, c.expected())) {
                passed++;
            } else {
                failures.append("\n#").append(c.index()).append(" input ").append(escape(c.input()))
                        .append("\n   expected ").append(Arrays.toString(c.expected()))
                        .append("\n   got      ").append(Arrays.toString(got));
            }
        }
        assertEquals(cases.size(), passed, passed + "/" + cases.size() + " reference vectors pass; failures:" + failures);
        return passed;
    }

    static String escape(String s) {
        StringBuilder b = new StringBuilder("\"");
        s.codePoints().forEach(cp -> {
            if (cp == '\n') b.append("\\n");
            else if (cp == '\t') b.append("\\t");
            else if (cp == '\r') b.append("\\r");
            else b.appendCodePoint(cp);
        });
        return b.append('"').toString();
    }

    static String read(Path p) {
        try {
            return Files.readString(p, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
