package io.offload4j.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class Utf8AccumulatorTest {

    @Test
    void holdsBackASplitCharacterUntilItIsComplete() {
        byte[] euro = "€".getBytes(StandardCharsets.UTF_8); // 3 bytes
        byte[] smile = "😀".getBytes(StandardCharsets.UTF_8); // 4 bytes
        Utf8Accumulator a = new Utf8Accumulator();
        assertEquals("a", a.append(new byte[] {'a', euro[0]}));
        assertEquals("", a.append(new byte[] {euro[1]}));
        assertEquals("€", a.append(new byte[] {euro[2]}));
        assertEquals("", a.append(new byte[] {smile[0], smile[1], smile[2]}));
        assertEquals("😀b", a.append(new byte[] {smile[3], 'b'}));
        assertEquals("", a.flush());
    }

    @Test
    void flushReplacesAnUnfinishedSequence() {
        Utf8Accumulator a = new Utf8Accumulator();
        assertEquals("", a.append(new byte[] {(byte) 0xE2, (byte) 0x82}));
        assertEquals("\uFFFD", a.flush());
    }
}
