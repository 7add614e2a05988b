package io.offload4j.hub;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Flow;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Downloads one blob into the cache: into {@code blobs/{etag}.incomplete}, resuming a partial file with
 * {@code Range}, retrying dropped connections, checking the size and the checksum the ETag announces, then moving it
 * atomically to {@code blobs/{etag}}. A file under its final name is therefore always complete and verified.
 */
final class BlobDownloader {

    /** Gives a fresh download address when a CDN link has expired (CDN links are signed for a limited time). */
    interface LocationSource {
        URI fresh() throws IOException, InterruptedException;
    }

    /** A CDN refused a link that worked before or that the hub just gave: ask the hub for a new one. */
    private static final class ExpiredLocationException extends IOException {
        ExpiredLocationException(String message) {
            super(message);
        }
    }

    private static final Pattern CONTENT_RANGE = Pattern.compile("bytes (\\d+)-(\\d+)/(\\d+|\\*)");

    private final HubHttp http;
    private final HubCache cache;
    private final Retry retry;
    private final Duration idleTimeout;

    BlobDownloader(HubHttp http, HubCache cache, Retry retry, Duration idleTimeout) {
        this.http = http;
        this.cache = cache;
        this.retry = retry;
        this.idleTimeout = idleTimeout;
    }

    /**
     * Makes sure the blob of {@code meta} is in the cache, downloading it if needed.
     *
     * @param file the file's name for messages and the listener, {@code owner/repo/path}
     * @return whether it was downloaded (false: it was already there)
     */
    boolean ensure(RepoId repo, String file, HubHttp.FileMetadata meta, LocationSource refresh, DownloadListener listener)
            throws IOException, InterruptedException {
        Path blob = cache.blob(repo, meta.etag());
        if (Files.isRegularFile(blob)) {
            return false;
        }
        try (BlobLock ignored = BlobLock.acquire(cache.lockFile(repo, meta.etag()))) {
            if (Files.isRegularFile(blob)) {
                return false; // another thread or process finished it while we waited
            }
            fetch(repo, file, meta, refresh, listener, blob);
            return true;
        }
    }

    private void fetch(RepoId repo, String file, HubHttp.FileMetadata meta, LocationSource refresh,
                       DownloadListener listener, Path blob) throws IOException, InterruptedException {
        Path part = cache.incomplete(repo, meta.etag());
        Files.createDirectories(part.getParent());
        Checksum checksum = Checksum.forEtag(meta.etag());
        URI location = meta.location();
        boolean refreshNeeded = false;
        for (int failures = 0; ; ) {
            try {
                if (refreshNeeded) {
                    refreshNeeded = false;
                    location = refresh.fresh();
                }
                attempt(repo, file, meta.size(), location, part, checksum, listener);
                break;
            } catch (IOException e) {
                refreshNeeded = e instanceof ExpiredLocationException;
                failures++;
                if (failures > retry.retries()) {
                    long have = Files.exists(part) ? Files.size(part) : 0;
                    throw new ModelResolutionException("downloading " + file + " from " + location.getHost() + " failed after "
                            + failures + " attempts: " + e.getMessage() + ". The " + have + " bytes fetched so far stay in "
                            + part + " and the next run resumes from there; or download the file yourself and pass its"
                            + " local path (e.g. --model /path/to/model.gguf)", e);
                }
                retry.pause(failures);
            }
        }
        String actual = checksum.actual(part);
        if (actual != null && !actual.equals(checksum.expected())) {
            Files.deleteIfExists(part);
            throw new ModelResolutionException("checksum mismatch for " + file + " downloaded from " + location.getHost()
                    + ": the hub announced " + checksum.describe() + " but the content hashes to " + actual
                    + "; the download was deleted. Run again; if it persists, a proxy or mirror is serving a corrupted file");
        }
        try (FileChannel ch = FileChannel.open(part, StandardOpenOption.WRITE)) {
            ch.force(true); // the data is on disk before the name says "complete"
        }
        HubCache.moveAtomically(part, blob);
    }

    /** One request: fetches the rest of the file (or all of it) into {@code part}; returns once it is complete. */
    private void attempt(RepoId repo, String file, long expected, URI location, Path part, Checksum checksum,
                         DownloadListener listener) throws IOException, InterruptedException {
        long have = Files.exists(part) ? Files.size(part) : 0;
        if (expected >= 0 && have > expected) {
            Files.delete(part); // longer than the file: not a prefix of it
            have = 0;
        }
        if (expected >= 0 && have == expected) {
            checksum.begin(expected, part, have); // a previous run fetched everything but stopped before the move
            return;
        }
        HttpResponse<Flow.Publisher<List<ByteBuffer>>> r = http.get(location, have);
        int status = r.statusCode();
        if (status == 416) {
            HubHttp.discard(r);
            Files.deleteIfExists(part);
            throw new IOException("the server refused to resume at byte " + have + " (HTTP 416); starting over");
        }
        if (status >= 300) {
            HubHttp.discard(r);
            if (HubErrors.transientStatus(status)) {
                throw new IOException("HTTP " + status + " from " + r.uri().getHost());
            }
            if (!http.onHub(r.uri()) && (status == 401 || status == 403 || status == 404 || status == 410)) {
                throw new ExpiredLocationException("HTTP " + status + " from " + r.uri().getHost()
                        + " (the download link may have expired; asking the hub for a new one)");
            }
            String path = file.substring(repo.toString().length() + 1);
            throw HubErrors.of(status, r.headers(), r.uri(), http.endpoint(), repo, path, http.hasToken());
        }
        long total = expected;
        if (status == 206) {
            String range = r.headers().firstValue("Content-Range").orElse("");
            Matcher m = CONTENT_RANGE.matcher(range);
            if (!m.matches() || Long.parseLong(m.group(1)) != have) {
                HubHttp.discard(r);
                Files.deleteIfExists(part);
                throw new IOException("the server answered a request for bytes " + have + "- with Content-Range '" + range
                        + "'; starting over");
            }
            if (total < 0 && !m.group(3).equals("*")) {
                total = Long.parseLong(m.group(3));
            }
        } else {
            have = 0; // 200: the whole file, whether or not a range was asked for
            if (total < 0) {
                total = r.headers().firstValueAsLong("Content-Length").orElse(-1);
            }
        }
        checksum.begin(expected, part, have);
        listener.start(file, total, have);
        try (BodyReader body = new BodyReader(r.body(), idleTimeout);
             FileChannel out = FileChannel.open(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            out.truncate(have);
            out.position(have);
            for (List<ByteBuffer> chunk; (chunk = body.next()) != null; ) {
                for (ByteBuffer buf : chunk) {
                    if (total >= 0 && have + buf.remaining() > total) {
                        throw oversized(file, location, total, part, out);
                    }
                    checksum.update(buf.duplicate());
                    while (buf.hasRemaining()) {
                        have += out.write(buf);
                    }
                }
                listener.progress(have);
            }
        }
        if (total >= 0 && have != total) {
            throw new IOException("the connection ended after " + have + " of " + total + " bytes");
        }
    }

    /**
     * A server that sends more than the file's announced size is not sending the file (a broken proxy, a wrong
     * redirect): nothing past the size is written, the partial file is deleted, and retrying would only repeat it.
     */
    private static ModelResolutionException oversized(String file, URI location, long total, Path part,
                                                      FileChannel out) throws IOException {
        out.close();
        Files.deleteIfExists(part);
        return new ModelResolutionException("downloading " + file + " from " + location.getHost() + " stopped: the"
                + " server sent more than the " + total + " bytes announced for it, so it is not sending this file;"
                + " nothing was kept. Check HF_ENDPOINT and any proxy in between, or download the file yourself and"
                + " pass its local path (e.g. --model /path/to/model.gguf)");
    }
}
