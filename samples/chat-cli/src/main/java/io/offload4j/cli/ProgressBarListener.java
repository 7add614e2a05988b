package io.offload4j.cli;

import io.offload4j.hub.DownloadListener;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;

/** Shows each Hugging Face download as a progress bar (MiB, speed, ETA) on stderr, so that stdout stays the model's text. */
final class ProgressBarListener implements DownloadListener, AutoCloseable {

    private static final long MIB = 1L << 20;

    private final PrintStream err;
    private ProgressBar bar;

    ProgressBarListener(PrintStream err) {
        this.err = err;
    }

    @Override
    public void start(String file, long totalBytes, long resumedFrom) {
        close(); // a resumed attempt gets a fresh bar that starts where the file stands
        bar = new ProgressBarBuilder()
                .setTaskName(shortName(file))
                .setInitialMax(totalBytes) // -1: an indefinite bar
                .setUnit(" MiB", MIB)
                .showSpeed()
                .setUpdateIntervalMillis(250)
                .startsFrom(resumedFrom, Duration.ZERO)
                .setConsumer(new ConsoleProgressBarConsumer(err))
                .build();
    }

    @Override
    public void progress(long bytesSoFar) {
        if (bar != null) {
            bar.stepTo(bytesSoFar);
        }
    }

    @Override
    public void done(String file, Path path) {
        close();
    }

    @Override
    public void close() {
        if (bar != null) {
            bar.close();
            bar = null;
        }
    }

    /** The file's name without the repository, which the bar has no room for. */
    private static String shortName(String file) {
        return file.substring(file.lastIndexOf('/') + 1);
    }
}
