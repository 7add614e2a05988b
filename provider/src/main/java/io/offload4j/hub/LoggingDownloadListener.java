package io.offload4j.hub;

import java.lang.System.Logger.Level;
import java.nio.file.Path;
import java.util.Locale;

/** Logs downloads at INFO: the start, each further tenth (or 100 MiB when the size is unknown), the end. */
final class LoggingDownloadListener implements DownloadListener {

    private static final long STEP_WITHOUT_SIZE = 100L << 20;

    private final System.Logger logger;
    private String file;
    private long total;
    private long nextReport;

    LoggingDownloadListener(System.Logger logger) {
        this.logger = logger;
    }

    @Override
    public void start(String file, long totalBytes, long resumedFrom) {
        this.file = file;
        this.total = totalBytes;
        this.nextReport = resumedFrom + step();
        if (resumedFrom > 0) {
            logger.log(Level.INFO, () -> "Resuming download of " + file + " at " + mib(resumedFrom) + " of " + size());
        } else {
            logger.log(Level.INFO, () -> "Downloading " + file + " (" + size() + ")");
        }
    }

    @Override
    public void progress(long bytesSoFar) {
        if (bytesSoFar >= nextReport && (total <= 0 || bytesSoFar < total)) {
            String f = file;
            logger.log(Level.INFO, () -> total > 0
                    ? String.format(Locale.ROOT, "%s: %d%% (%s of %s)", f, bytesSoFar * 100 / total, mib(bytesSoFar), size())
                    : f + ": " + mib(bytesSoFar));
            nextReport = bytesSoFar + step();
        }
    }

    @Override
    public void done(String file, Path path) {
        logger.log(Level.INFO, () -> "Downloaded " + file + " to " + path);
    }

    private long step() {
        return total > 0 ? Math.max(1, total / 10) : STEP_WITHOUT_SIZE;
    }

    private String size() {
        return total >= 0 ? mib(total) : "size unknown";
    }

    private static String mib(long bytes) {
        return String.format(Locale.ROOT, "%.1f MiB", bytes / 1048576.0);
    }
}
