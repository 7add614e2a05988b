package io.offload4j.hub;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.Flow;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Speaks the hub's HTTP protocol, as {@code huggingface_hub} does:
 * <ul>
 *   <li>file metadata from {@code HEAD {endpoint}/{repo}/resolve/{revision}/{path}}, following only redirects on the
 *       hub's own host (a renamed repository) and reading {@code X-Repo-Commit}, {@code X-Linked-Etag} / {@code ETag},
 *       {@code X-Linked-Size} / {@code Content-Length} and, for a redirect to a CDN, {@code Location};</li>
 *   <li>the file list: main's commit from {@code GET {endpoint}/api/models/{repo}/revision/main}, the files from
 *       {@code GET {endpoint}/api/models/{repo}/tree/{commit}?recursive=true} (paginated);</li>
 *   <li>downloads by {@code GET}, optionally from a byte offset ({@code Range}), following redirects itself so that
 *       the {@code Authorization} header only ever goes to the hub's own host, never to a CDN.</li>
 * </ul>
 */
final class HubHttp {

    /** What the hub says about one file. {@code size} is -1 when not announced. */
    record FileMetadata(String commit, String etag, long size, URI location) {
    }

    /** A repository's commit on main and the paths of all its files. */
    record Listing(String commit, List<String> files) {
    }

    private static final int MAX_REDIRECTS = 10;
    private static final Pattern COMMIT = Pattern.compile("[0-9a-f]{40}");
    private static final Pattern NEXT_LINK = Pattern.compile("<([^>]+)>\\s*;\\s*rel=\"?next\"?");
    private static final ObjectMapper JSON = new ObjectMapper();

    private final HttpClient client;
    private final URI endpoint;
    private final String token;
    private final Duration timeout;
    private final Retry retry;
    private final String userAgent = "offload4j; java/" + Runtime.version().feature();

    HubHttp(HttpClient client, URI endpoint, String token, Duration timeout, Retry retry) {
        this.client = client;
        this.endpoint = endpoint;
        this.token = token;
        this.timeout = timeout;
        this.retry = retry;
    }

    URI endpoint() {
        return endpoint;
    }

    boolean hasToken() {
        return token != null;
    }

    URI resolveUrl(RepoId repo, String revision, String path) {
        StringBuilder url = new StringBuilder(endpoint.toString()).append('/').append(repo).append("/resolve/")
                .append(encode(revision));
        for (String segment : path.split("/")) {
            url.append('/').append(encode(segment));
        }
        return URI.create(url.toString());
    }

    /**
     * The metadata of {@code path} at {@code revision}.
     *
     * @throws ModelResolutionException when the hub refuses (unknown repo or file, gated) or answers without the headers
     *                                  a hub sends
     * @throws IOException              when the hub cannot be reached
     */
    FileMetadata head(RepoId repo, String revision, String path) throws IOException, InterruptedException {
        HubCache.checkRepoPath(repo, path); // refused before any request: a path with '..' must not reach the hub
        URI uri = resolveUrl(repo, revision, path);
        HttpResponse<Void> r = retry.call(() -> sendSameHost(uri, "HEAD", HttpResponse.BodyHandlers.discarding()),
                HttpResponse::statusCode);
        int status = r.statusCode();
        if (status >= 400 || (status >= 300 && r.headers().firstValue("Location").isEmpty())) {
            throw HubErrors.of(status, r.headers(), r.uri(), endpoint, repo, path, hasToken());
        }
        HttpHeaders h = r.headers();
        String commit = checkCommit(h.firstValue("X-Repo-Commit").orElseThrow(() -> notAHub(r.uri(), "X-Repo-Commit")), r.uri());
        String etag = normalizeEtag(h.firstValue("X-Linked-Etag").or(() -> h.firstValue("ETag"))
                .orElseThrow(() -> notAHub(r.uri(), "ETag")));
        long size = h.firstValueAsLong("X-Linked-Size").orElse(status < 300 ? h.firstValueAsLong("Content-Length").orElse(-1) : -1);
        // A redirect (to a CDN) is where the content is; else the file at this exact commit, so that every file of a
        // download comes from the same commit even if main moves meanwhile.
        URI location = status >= 300 ? r.uri().resolve(h.firstValue("Location").orElseThrow())
                : resolveUrl(repo, commit, path);
        return new FileMetadata(commit, etag, size, location);
    }

    /**
     * Main's commit and the paths of all files at that commit, asked for as {@code huggingface_hub}'s
     * {@code snapshot_download} asks: the commit from {@code GET /api/models/{repo}/revision/main}, the files from
     * {@code GET /api/models/{repo}/tree/{commit}?recursive=true&expand=false}, page by page along the {@code Link:
     * <...>; rel="next"} headers. A hub without the tree API (404) is answered from the first response's
     * {@code siblings}.
     */
    Listing listing(RepoId repo) throws IOException, InterruptedException {
        HttpResponse<byte[]> r = getJson(URI.create(endpoint + "/api/models/" + repo + "/revision/" + HubCache.REVISION));
        if (r.statusCode() >= 300) {
            throw HubErrors.of(r.statusCode(), r.headers(), r.uri(), endpoint, repo, null, hasToken());
        }
        JsonNode info = parse(r);
        JsonNode sha = info.path("sha");
        if (!sha.isTextual()) {
            throw new ModelResolutionException(r.uri() + " answered JSON without 'sha': " + endpoint
                    + " does not look like a Hugging Face hub; check HF_ENDPOINT");
        }
        String commit = checkCommit(sha.asText(), r.uri());
        List<String> files = new ArrayList<>();
        URI page = URI.create(endpoint + "/api/models/" + repo + "/tree/" + commit + "?recursive=true&expand=false");
        for (int n = 0; page != null; n++) {
            HttpResponse<byte[]> p = getJson(page);
            if (n == 0 && p.statusCode() == 404 && info.path("siblings").isArray()) {
                info.path("siblings").forEach(f -> {
                    if (f.path("rfilename").isTextual()) {
                        files.add(f.path("rfilename").asText());
                    }
                });
                break;
            }
            if (p.statusCode() >= 300) {
                throw HubErrors.of(p.statusCode(), p.headers(), p.uri(), endpoint, repo, null, hasToken());
            }
            JsonNode entries = parse(p);
            if (!entries.isArray()) {
                throw new ModelResolutionException(p.uri() + " answered " + entries.getNodeType() + " instead of a JSON array"
                        + " of files: " + endpoint + " does not look like a Hugging Face hub; check HF_ENDPOINT");
            }
            for (JsonNode e : entries) {
                if (e.path("type").asText().equals("file") && e.path("path").isTextual()) {
                    files.add(e.path("path").asText());
                }
            }
            page = nextPage(p);
            if (page != null && !onHub(page)) {
                throw new ModelResolutionException(p.uri() + " links the next page of the file list to " + page.getHost()
                        + ", another host than the hub's (" + endpoint.getHost() + "); not followed. " + endpoint
                        + " does not behave like a Hugging Face hub; check HF_ENDPOINT");
            }
        }
        return new Listing(commit, List.copyOf(files));
    }

    private HttpResponse<byte[]> getJson(URI uri) throws IOException, InterruptedException {
        return retry.call(() -> sendSameHost(uri, "GET", HttpResponse.BodyHandlers.ofByteArray()), HttpResponse::statusCode);
    }

    private JsonNode parse(HttpResponse<byte[]> r) {
        try {
            return JSON.readTree(r.body());
        } catch (IOException e) {
            throw new ModelResolutionException(r.uri() + " did not answer JSON (" + e.getMessage() + "): " + endpoint
                    + " does not look like a Hugging Face hub; check HF_ENDPOINT", e);
        }
    }

    /** The {@code rel="next"} target of a {@code Link} header (RFC 8288, as GitHub and the hub write it), or null. */
    static URI nextPage(HttpResponse<?> r) {
        for (String link : r.headers().allValues("Link")) {
            Matcher m = NEXT_LINK.matcher(link);
            if (m.find()) {
                return r.uri().resolve(m.group(1));
            }
        }
        return null;
    }

    /**
     * Sends {@code GET uri} (from byte {@code from} when positive), following redirects. The caller reads or
     * {@linkplain #discard discards} the body.
     */
    HttpResponse<Flow.Publisher<List<ByteBuffer>>> get(URI uri, long from) throws IOException, InterruptedException {
        URI current = uri;
        for (int hop = 0; ; hop++) {
            HttpRequest.Builder b = request(current, "GET");
            if (from > 0) {
                b.header("Range", "bytes=" + from + "-");
            }
            HttpResponse<Flow.Publisher<List<ByteBuffer>>> r = client.send(b.build(), HttpResponse.BodyHandlers.ofPublisher());
            var location = r.headers().firstValue("Location");
            if (r.statusCode() < 300 || r.statusCode() >= 400 || location.isEmpty()) {
                return r;
            }
            discard(r);
            if (hop == MAX_REDIRECTS) {
                throw new IOException("more than " + MAX_REDIRECTS + " redirects from " + uri);
            }
            current = current.resolve(location.get());
        }
    }

    /** Lets go of a response body that will not be read, so that its connection is freed. */
    static void discard(HttpResponse<Flow.Publisher<List<ByteBuffer>>> r) {
        r.body().subscribe(new Flow.Subscriber<>() {
            @Override
            public void onSubscribe(Flow.Subscription s) {
                s.cancel();
            }

            @Override
            public void onNext(List<ByteBuffer> item) {
            }

            @Override
            public void onError(Throwable t) {
            }

            @Override
            public void onComplete() {
            }
        });
    }

    /** Whether {@code uri} is on the hub's own host, the only one that gets the token. */
    boolean onHub(URI uri) {
        return Objects.equals(lower(uri.getScheme()), lower(endpoint.getScheme()))
                && Objects.equals(lower(uri.getHost()), lower(endpoint.getHost())) && port(uri) == port(endpoint);
    }

    /** Sends a request, following redirects that stay on the hub's host (a renamed repository), not those that leave it. */
    private <T> HttpResponse<T> sendSameHost(URI uri, String method, HttpResponse.BodyHandler<T> handler)
            throws IOException, InterruptedException {
        URI current = uri;
        for (int hop = 0; ; hop++) {
            HttpRequest.Builder b = request(current, method).header("Accept-Encoding", "identity");
            HttpResponse<T> r = client.send(b.build(), handler);
            var location = r.headers().firstValue("Location");
            if (r.statusCode() < 300 || r.statusCode() >= 400 || location.isEmpty() || hop == MAX_REDIRECTS) {
                return r;
            }
            URI next = current.resolve(location.get());
            if (!onHub(next)) {
                return r;
            }
            current = next;
        }
    }

    private HttpRequest.Builder request(URI uri, String method) {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri).timeout(timeout).header("User-Agent", userAgent)
                .method(method, HttpRequest.BodyPublishers.noBody());
        if (token != null && onHub(uri)) {
            b.header("Authorization", "Bearer " + token);
        }
        return b;
    }

    private ModelResolutionException notAHub(URI uri, String header) {
        return new ModelResolutionException(uri + " answered without the " + header + " header that the Hugging Face hub"
                + " sends: " + endpoint + " does not look like a hub; check HF_ENDPOINT");
    }

    /** A commit id names a cache folder, so it must be what git makes: 40 lowercase hex digits. */
    private String checkCommit(String commit, URI uri) {
        if (!COMMIT.matcher(commit).matches()) {
            throw new ModelResolutionException(uri + " gave the commit '" + commit + "', which is not a git commit id (40 hex"
                    + " digits): " + endpoint + " does not look like a Hugging Face hub; check HF_ENDPOINT");
        }
        return commit;
    }

    /** {@code W/"abc"} and {@code "abc"} → {@code abc}. */
    static String normalizeEtag(String etag) {
        String e = etag.strip();
        if (e.startsWith("W/")) {
            e = e.substring(2);
        }
        if (e.length() >= 2 && e.startsWith("\"") && e.endsWith("\"")) {
            e = e.substring(1, e.length() - 1);
        }
        if (e.isEmpty() || e.contains("/") || e.contains("\\") || e.equals(".") || e.equals("..")) {
            throw new ModelResolutionException("the hub sent the ETag '" + etag + "', which cannot name a cache file");
        }
        return e;
    }

    private static String encode(String segment) {
        return URLEncoder.encode(segment, StandardCharsets.UTF_8).replace("+", "%20");
    }

    private static String lower(String s) {
        return s == null ? null : s.toLowerCase(Locale.ROOT);
    }

    private static int port(URI uri) {
        if (uri.getPort() >= 0) {
            return uri.getPort();
        }
        return "https".equalsIgnoreCase(uri.getScheme()) ? 443 : 80;
    }
}
