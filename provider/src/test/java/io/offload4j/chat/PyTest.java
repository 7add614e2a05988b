package io.offload4j.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Python value semantics used by the renderer (expected values are what CPython prints). */
class PyTest {

    @Test
    void floatReprMatchesPython() {
        assertEquals("1.0", Py.floatRepr(1.0));
        assertEquals("0.1", Py.floatRepr(0.1));
        assertEquals("0.30000000000000004", Py.floatRepr(0.1 + 0.2));
        assertEquals("1e+16", Py.floatRepr(1e16));
        assertEquals("1234567890123456.0", Py.floatRepr(1234567890123456.0));
        assertEquals("0.0001", Py.floatRepr(1e-4));
        assertEquals("1e-05", Py.floatRepr(1e-5));
        assertEquals("-2.5e-07", Py.floatRepr(-2.5e-7));
        assertEquals("1.5e+300", Py.floatRepr(1.5e300));
        assertEquals("-0.0", Py.floatRepr(-0.0));
        assertEquals("inf", Py.floatRepr(Double.POSITIVE_INFINITY));
    }

    @Test
    void reprAndStr() {
        assertEquals("None", Py.str(null));
        assertEquals("['a', \"it's\", 'q\\'\"', '\\n', 1, 2.5, True, None]",
                Py.str(Arrays.asList("a", "it's", "q'\"", "\n", 1L, 2.5, true, null)));
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("b", List.of());
        m.put("a", Map.of());
        assertEquals("{'b': [], 'a': {}}", Py.str(m));
    }

    @Test
    void jsonDumpsMatchesPython() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("z", Arrays.asList(1L, 2.0, false, null, "ü\u0001\u2028"));
        m.put("a", Map.of());
        assertEquals("{\"z\": [1, 2.0, false, null, \"ü\\u0001\u2028\"], \"a\": {}}", PyJson.dumps(m));
        assertEquals("{\n  \"z\": [\n    1,\n    2.0,\n    false,\n    null,\n    \"\\u00fc\\u0001\\u2028\"\n  ],\n"
                + "  \"a\": {}\n}", new PyJson("  ", null, null, true, false).write(m));
        assertEquals("\"\\ud83d\\ude00\"", new PyJson(null, null, null, true, false).write("😀"));
    }

    @Test
    void pythonWhitespaceAndStrip() {
        assertEquals("x", Py.strip("\u00a0\u3000 x\u2007\n", null, true, true));
        assertEquals("x\u00a0", Py.strip("  x\u00a0", null, true, false));
        assertEquals(List.of("a", "b"), PyStrings.split(" a\u00a0b ", null, -1));
        assertEquals(List.of("a", "", "b", ""), PyStrings.split("a,,b,", ",", -1));
    }
}
