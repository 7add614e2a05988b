package io.offload4j.testing;

import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A Hugging Face hub on localhost for tests, speaking the protocol {@code huggingface_hub} relies on: {@code HEAD}/
 * {@code GET /{repo}/resolve/{revision}/{path}} with {@code X-Repo-Commit}, {@code ETag} (git SHA-1) or, for LFS files,
 * {@code X-Linked-Etag} (SHA-256), {@code X-Linked-Size} and a 302 to a second server, the "CDN", which serves
 * {@code Range} requests with 206; {@code GET /api/models/{repo}/revision/main} with {@code sha} and {@code siblings};
 * {@code GET /api/models/{repo}/tree/{revision}?recursive=true} paginated with {@code Link} headers;
 * 401/403/404 with {@code X-Error-Code}. Every request is recorded, and faults can be switched on: a connection
 * dropped mid-body, a corrupted body, a server that ignores {@code Range}, server errors, a stalled body.
 */
public final class FakeHub implements AutoCloseable {

    /** One request as a server saw it. {@code server} is "hub" or "cdn"; header names are lower case. */
    public record Request(String server, String method, String path, Map<String, List<String>> headers) {
        public String header(String name) {
            List<String> v = headers.get(name.toLowerCase(Locale.ROOT));
            return v == null ? null : v.getFirst();
        }
    }

    private record RepoFile(byte[] content, boolean lfs, String sha256, String gitSha1) {
    }

    private static final Pattern RESOLVE = Pattern.compile("/([^/]+/[^/]+)/resolve/([^/]+)/(.+)");
    private static final Pattern API = Pattern.compile("/api/models/([^/]+/[^/]+)/revision/([^/]+)");
    private static final Pattern TREE = Pattern.compile("/api/models/([^/]+/[^/]+)/tree/([^/]+)");
    private static final Pattern RANGE = Pattern.compile("bytes=(\\d+)-");

    private final HttpServer hub;
    private final HttpServer cdn;
    private final Map<String, Map<String, RepoFile>> repos = new ConcurrentHashMap<>();
    private final Map<String, String> commits = new ConcurrentHashMap<>();
    private final Map<String, String> renamed = new ConcurrentHashMap<>();
    private final Map<String, byte[]> blobs = new ConcurrentHashMap<>();
    private final Set<String> gated = ConcurrentHashMap.newKeySet();
    private final List<Request> requests = Collections.synchronizedList(new ArrayList<>());
    private volatile String acceptedToken;
    private final java.util.concurrent.ExecutorService executor = java.util.concurrent.Executors.newCachedThreadPool();

    /** Faults, each applied to that many CDN (LFS) downloads, then off. */
    public final AtomicInteger dropMidBody = new AtomicInteger();
    public final AtomicInteger corruptBody = new AtomicInteger();
    public final AtomicInteger ignoreRange = new AtomicInteger();
    public final AtomicInteger serverError = new AtomicInteger();
    public final AtomicInteger stallMidBody = new AtomicInteger();
    public final AtomicInteger expireLink = new AtomicInteger();
    /** The body runs on past the file's size ({@code oversizeBytes} more, without a Content-Length). */
    public final AtomicInteger oversizeBody = new AtomicInteger();
    public volatile int oversizeBytes = 1 << 20;
    /** When set, the tree API's {@code Link: rel="next"} points to this base URL instead of the hub. */
    public volatile URI foreignNextPage;
    /** Files per page of the tree API (pages are linked with {@code Link: <...>; rel="next"}). */
    public volatile int treePageSize = 3;
    /** Off: the tree API answers 404, as on a hub that only has {@code siblings}. */
    public volatile boolean treeApi = true;
    /** Where a dropped or stalled body stops, in bytes from the start of the body. */
    public volatile int faultAfterBytes = 100;

    public FakeHub() throws IOException {
        hub = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        // The CDN is "localhost", the hub 127.0.0.1: different host names, as with the real hub and its CDN.
        cdn = HttpServer.create(new InetSocketAddress(InetAddress.getByName("localhost"), 0), 0);
        hub.createContext("/", this::handleHub);
        cdn.createContext("/", this::handleCdn);
        hub.setExecutor(executor);
        cdn.setExecutor(executor);
        hub.start();
        cdn.start();
    }

    /** The hub's base URL, for {@code HF_ENDPOINT}. */
    public URI endpoint() {
        return URI.create("http://127.0.0.1:" + hub.getAddress().getPort());
    }

    public URI cdnEndpoint() {
        return URI.create("http://localhost:" + cdn.getAddress().getPort());
    }

    /** Adds (or replaces) a file; LFS files are served through the CDN. Each change makes a new commit. */
    public FakeHub file(String repo, String path, byte[] content, boolean lfs) {
        String sha256 = hex("SHA-256", content, null);
        String gitSha1 = hex("SHA-1", content, ("blob " + content.length + "\0").getBytes(StandardCharsets.US_ASCII));
        repos.computeIfAbsent(repo, k -> Collections.synchronizedMap(new LinkedHashMap<>()))
                .put(path, new RepoFile(content, lfs, sha256, gitSha1));
        blobs.put(sha256, content);
        commits.put(repo, hex("SHA-1", (repo + path + System.nanoTime()).getBytes(StandardCharsets.UTF_8), null));
        return this;
    }

    /** The repository's current commit on main. */
    public String commit(String repo) {
        return commits.get(repo);
    }

    /** Only requests with {@code Authorization: Bearer token} may read {@code repo}. */
    public FakeHub gated(String repo, String token) {
        gated.add(repo);
        acceptedToken = token;
        return this;
    }

    /** {@code oldName} was renamed to {@code newName}: the hub answers with a relative redirect. */
    public FakeHub renamed(String oldName, String newName) {
        renamed.put(oldName, newName);
        return this;
    }

    public List<Request> requests() {
        synchronized (requests) {
            return List.copyOf(requests);
        }
    }

    public List<Request> requests(String server) {
        return requests().stream().filter(r -> r.server().equals(server)).toList();
    }

    public void clearRequests() {
        requests.clear();
    }

    public static String sha256(byte[] content) {
        return hex("SHA-256", content, null);
    }

    @Override
    public void close() {
        hub.stop(0);
        cdn.stop(0);
        executor.shutdownNow();
    }

    private void handleHub(HttpExchange ex) throws IOException {
        try (ex) {
            record(ex, "hub");
            String path = URLDecoder.decode(ex.getRequestURI().getRawPath(), StandardCharsets.UTF_8);
            Matcher api = API.matcher(path);
            Matcher resolve = RESOLVE.matcher(path);
            Matcher tree = TREE.matcher(path);
            if (api.matches()) {
                listing(ex, api.group(1));
            } else if (tree.matches() && treeApi) {
                tree(ex, tree.group(1), tree.group(2));
            } else if (resolve.matches()) {
                resolve(ex, resolve.group(1), resolve.group(2), resolve.group(3));
            } else {
                send(ex, 404, "RepoNotFound", null);
            }
        }
    }

    private void listing(HttpExchange ex, String repo) throws IOException {
        if (!readable(ex, repo)) {
            return;
        }
        StringBuilder json = new StringBuilder("{\"id\":\"" + repo + "\",\"sha\":\"" + commits.get(repo) + "\",\"siblings\":[");
        List<String> paths = new ArrayList<>(repos.get(repo).keySet());
        for (int i = 0; i < paths.size(); i++) {
            json.append(i == 0 ? "" : ",").append("{\"rfilename\":\"").append(paths.get(i)).append("\"}");
        }
        byte[] body = json.append("]}").toString().getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(200, body.length);
        ex.getResponseBody().write(body);
    }

    /** {@code /api/models/{repo}/tree/{commit}?recursive=true}: files and folders, paginated by a cursor. */
    private void tree(HttpExchange ex, String repo, String revision) throws IOException {
        if (!readable(ex, repo)) {
            return;
        }
        if (!revision.equals(commits.get(repo)) && !revision.equals("main")) {
            send(ex, 404, "RevisionNotFound", "Invalid rev id: " + revision);
            return;
        }
        String query = ex.getRequestURI().getRawQuery() == null ? "" : ex.getRequestURI().getRawQuery();
        if (!query.contains("recursive=true")) {
            send(ex, 400, "BadRequest", "this fake hub only lists recursively");
            return;
        }
        java.util.TreeSet<String> entries = new java.util.TreeSet<>();
        Map<String, RepoFile> files = repos.get(repo);
        for (String path : files.keySet()) {
            entries.add(path);
            for (int i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) {
                entries.add(path.substring(0, i) + "/"); // a folder
            }
        }
        List<String> all = new ArrayList<>(entries);
        Matcher cursor = Pattern.compile("cursor=(\\d+)").matcher(query);
        int from = cursor.find() ? Integer.parseInt(cursor.group(1)) : 0;
        int to = Math.min(all.size(), from + treePageSize);
        StringBuilder json = new StringBuilder("[");
        for (int i = from; i < to; i++) {
            String e = all.get(i);
            json.append(i == from ? "" : ",");
            if (e.endsWith("/")) {
                json.append("{\"type\":\"directory\",\"oid\":\"0\",\"size\":0,\"path\":\"")
                        .append(e, 0, e.length() - 1).append("\"}");
            } else {
                RepoFile f = files.get(e);
                json.append("{\"type\":\"file\",\"oid\":\"").append(f.gitSha1()).append("\",\"size\":")
                        .append(f.content().length).append(",\"path\":\"").append(e).append('"');
                if (f.lfs()) {
                    json.append(",\"lfs\":{\"oid\":\"").append(f.sha256()).append("\",\"size\":")
                            .append(f.content().length).append(",\"pointerSize\":130}");
                }
                json.append('}');
            }
        }
        if (to < all.size()) {
            ex.getResponseHeaders().set("Link", "<" + (foreignNextPage != null ? foreignNextPage : endpoint())
                    + ex.getRequestURI().getRawPath()
                    + "?recursive=true&expand=false&cursor=" + to + ">; rel=\"next\"");
        }
        byte[] body = json.append(']').toString().getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(200, body.length);
        ex.getResponseBody().write(body);
    }

    private void resolve(HttpExchange ex, String repo, String revision, String path) throws IOException {
        String newName = renamed.get(repo);
        if (newName != null) {
            ex.getResponseHeaders().set("Location", "/" + newName + "/resolve/" + revision + "/" + path);
            ex.sendResponseHeaders(307, -1);
            return;
        }
        if (!readable(ex, repo)) {
            return;
        }
        String commit = commits.get(repo);
        if (!revision.equals("main") && !revision.equals(commit)) {
            send(ex, 404, "RevisionNotFound", "Invalid rev id: " + revision);
            return;
        }
        RepoFile file = repos.get(repo).get(path);
        if (file == null) {
            send(ex, 404, "EntryNotFound", "Entry not found");
            return;
        }
        Headers h = ex.getResponseHeaders();
        h.set("X-Repo-Commit", commit);
        if (file.lfs()) {
            h.set("X-Linked-Etag", "\"" + file.sha256() + "\"");
            h.set("X-Linked-Size", Long.toString(file.content().length));
            h.set("ETag", "W/\"" + file.gitSha1() + "\"");
            h.set("Location", cdnEndpoint() + "/repos/" + file.sha256() + "?X-Amz-Signature=" + System.nanoTime());
            ex.sendResponseHeaders(302, -1);
            return;
        }
        h.set("ETag", "\"" + file.gitSha1() + "\"");
        serve(ex, file.content(), false);
    }

    private boolean readable(HttpExchange ex, String repo) throws IOException {
        if (!repos.containsKey(repo)) {
            send(ex, 401, "RepoNotFound", "Repository Not Found for url: " + ex.getRequestURI());
            return false;
        }
        if (gated.contains(repo)) {
            String auth = ex.getRequestHeaders().getFirst("Authorization");
            if (auth == null) {
                send(ex, 401, "GatedRepo", "Access to model " + repo + " is restricted. You must have access to it and be"
                        + " authenticated to access it. Please log in.");
                return false;
            }
            if (!auth.equals("Bearer " + acceptedToken)) {
                send(ex, 403, "GatedRepo", "Access to model " + repo + " is restricted and you are not in the authorized list.");
                return false;
            }
        }
        return true;
    }

    private void handleCdn(HttpExchange ex) throws IOException {
        try (ex) {
            record(ex, "cdn");
            String sha = ex.getRequestURI().getPath().replaceFirst("^/repos/", "");
            byte[] content = blobs.get(sha);
            if (content == null) {
                ex.sendResponseHeaders(404, -1);
                return;
            }
            if (take(expireLink)) {
                ex.sendResponseHeaders(403, -1);
                return;
            }
            if (take(serverError)) {
                ex.sendResponseHeaders(503, -1);
                return;
            }
            serve(ex, content, true);
        }
    }

    /** Sends {@code content}, honouring {@code Range: bytes=N-} with 206, and applying the faults switched on. */
    private void serve(HttpExchange ex, byte[] content, boolean faults) throws IOException {
        int from = 0;
        String range = ex.getRequestHeaders().getFirst("Range");
        Matcher m = range == null ? null : RANGE.matcher(range);
        boolean partial = m != null && m.matches() && !(faults && take(ignoreRange));
        if (partial) {
            from = Integer.parseInt(m.group(1));
            if (from >= content.length) {
                ex.getResponseHeaders().set("Content-Range", "bytes */" + content.length);
                ex.sendResponseHeaders(416, -1);
                return;
            }
            ex.getResponseHeaders().set("Content-Range", "bytes " + from + "-" + (content.length - 1) + "/" + content.length);
        }
        int length = content.length - from;
        if (ex.getRequestMethod().equals("HEAD")) {
            ex.getResponseHeaders().set("Content-Length", Integer.toString(length));
            ex.sendResponseHeaders(partial ? 206 : 200, -1);
            return;
        }
        byte[] body = java.util.Arrays.copyOfRange(content, from, content.length);
        if (faults && take(corruptBody)) {
            body[body.length / 2] ^= 0x5A;
        }
        if (faults && take(oversizeBody)) {
            ex.sendResponseHeaders(partial ? 206 : 200, 0); // chunked: the client learns the length only at the end
            ex.getResponseBody().write(body);
            ex.getResponseBody().write(new byte[oversizeBytes]);
            return;
        }
        ex.sendResponseHeaders(partial ? 206 : 200, length);
        OutputStream out = ex.getResponseBody();
        if (faults && length > faultAfterBytes && (take(dropMidBody) || stallMidBody.get() > 0)) {
            out.write(body, 0, faultAfterBytes);
            out.flush();
            if (take(stallMidBody)) {
                sleep(3_000); // longer than the client's idle timeout in the tests
            }
            // Ending the exchange short of Content-Length makes the server close the connection.
            return;
        }
        out.write(body);
    }

    private void record(HttpExchange ex, String server) {
        Map<String, List<String>> headers = new LinkedHashMap<>();
        ex.getRequestHeaders().forEach((k, v) -> headers.put(k.toLowerCase(Locale.ROOT), List.copyOf(v)));
        requests.add(new Request(server, ex.getRequestMethod(), ex.getRequestURI().getPath(), headers));
    }

    private static void send(HttpExchange ex, int status, String code, String message) throws IOException {
        ex.getResponseHeaders().set("X-Error-Code", code);
        if (message != null) {
            ex.getResponseHeaders().set("X-Error-Message", message);
        }
        ex.sendResponseHeaders(status, -1);
    }

    private static boolean take(AtomicInteger counter) {
        return counter.getAndUpdate(n -> Math.max(0, n - 1)) > 0;
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static String hex(String algorithm, byte[] content, byte[] prefix) {
        try {
            MessageDigest d = MessageDigest.getInstance(algorithm);
            if (prefix != null) {
                d.update(prefix);
            }
            return HexFormat.of().formatHex(d.digest(content));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
