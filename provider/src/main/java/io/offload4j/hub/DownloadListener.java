package io.offload4j.hub;

import java.nio.file.Path;

/**
 * Hears about the files a {@link ModelResolver} downloads, to show progress.
 *
 * <p>Events come on the thread that called {@link ModelResolver#resolve}, one file at a time. A file
 * already in the cache produces no events. When a download is interrupted and resumed, {@link #start}
 * is called again for the new attempt, with the bytes already on disk as {@code resumedFrom}.
 */
public interface DownloadListener {

    /** Ignores every event. */
    DownloadListener NONE = new DownloadListener() { };

    /**
     * An attempt to download {@code file} begins.
     *
     * @param file        the file on the hub, {@code owner/repo/path/in/repo}
     * @param totalBytes  the file's size, or -1 when the hub did not say
     * @param resumedFrom bytes already on disk from an earlier attempt (0 for a fresh download)
     */
    default void start(String file, long totalBytes, long resumedFrom) {
    }

    /** {@code bytesSoFar} bytes of the current file are on disk (including any resumed part). */
    default void progress(long bytesSoFar) {
    }

    /** {@code file} was downloaded, verified and linked into the cache at {@code path}. */
    default void done(String file, Path path) {
    }

    /** Ignores every event. */
    static DownloadListener none() {
        return NONE;
    }

    /** Logs each download's start, every tenth of its progress and its end through {@link System.Logger} at INFO. */
    static DownloadListener logging() {
        return new LoggingDownloadListener(System.getLogger(ModelResolver.class.getName()));
    }
}
