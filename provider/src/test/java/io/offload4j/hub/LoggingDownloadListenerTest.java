package io.offload4j.hub;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.ResourceBundle;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

class LoggingDownloadListenerTest {

    /** Keeps the INFO messages. */
    private static final class Recorder implements System.Logger {
        final List<String> lines = new ArrayList<>();

        @Override
        public String getName() {
            return "test";
        }

        @Override
        public boolean isLoggable(Level level) {
            return true;
        }

        @Override
        public void log(Level level, Supplier<String> msg) {
            lines.add(msg.get());
        }

        @Override
        public void log(Level level, ResourceBundle bundle, String msg, Throwable thrown) {
            lines.add(msg);
        }

        @Override
        public void log(Level level, ResourceBundle bundle, String format, Object... params) {
            lines.add(format);
        }
    }

    @Test
    void logsStartEveryTenthAndEnd() {
        Recorder log = new Recorder();
        LoggingDownloadListener l = new LoggingDownloadListener(log);
        l.start("o/r/m.gguf", 10L << 20, 0);
        for (long b = 1 << 16; b <= 10L << 20; b += 1 << 16) {
            l.progress(b);
        }
        l.done("o/r/m.gguf", Path.of("/c/m.gguf"));
        assertEquals(11, log.lines.size(), log.lines.toString()); // start, 10% .. 90%, done
        assertEquals("Downloading o/r/m.gguf (10.0 MiB)", log.lines.getFirst());
        assertEquals("o/r/m.gguf: 10% (1.0 MiB of 10.0 MiB)", log.lines.get(1));
        assertEquals("Downloaded o/r/m.gguf to /c/m.gguf", log.lines.getLast());
    }

    @Test
    void aResumedDownloadSaysWhereItResumes() {
        Recorder log = new Recorder();
        new LoggingDownloadListener(log).start("o/r/m.gguf", 4L << 20, 1L << 20);
        assertEquals(List.of("Resuming download of o/r/m.gguf at 1.0 MiB of 4.0 MiB"), log.lines);
    }
}
