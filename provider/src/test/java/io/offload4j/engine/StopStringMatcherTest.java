package io.offload4j.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

class StopStringMatcherTest {

    private final StopStringMatcher m = new StopStringMatcher(List.of("\nUser:", "END"));

    @Test
    void findsTheEarliestStopString() {
        assertEquals(5, m.find(new StringBuilder("hello\nUser: hi END"), 0));
        assertEquals(-1, m.find(new StringBuilder("hello\nUser"), 0));
    }

    @Test
    void holdsBackTextThatCouldBecomeAStopString() {
        assertEquals(5, m.safeEnd("hello\nUs"));
        assertEquals(5, m.safeEnd("helloEN"));
        assertEquals(6, m.safeEnd("hello "));
        assertEquals(0, m.safeEnd("E"));
    }

    @Test
    void searchStartsWhereANewPieceCouldCompleteAStop() {
        assertEquals(5, m.searchFrom(10));
        assertEquals(0, m.searchFrom(2));
    }
}
