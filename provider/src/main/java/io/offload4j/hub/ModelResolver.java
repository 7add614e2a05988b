package io.offload4j.hub;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Turns a model spec into a local path, downloading from the Hugging Face Hub when needed.
 *
 * <p>Specs:
 * <ul>
 *   <li>a local file or directory: returned as it is, once it is known to exist;</li>
 *   <li>{@code hf:owner/repo/file.gguf} or {@code hf:owner/repo/sub/dir/file.gguf}: that file;</li>
 *   <li>{@code owner/repo:Q4_K_M} (or {@code hf:owner/repo:Q4_K_M}): the repository's GGUF file whose name
 *       contains that quantization, case-insensitively;</li>
 *   <li>{@code hf:owner/repo}: a safetensors repository, returned as its snapshot directory holding
 *       {@code config.json}, the weights and the tokenizer files.</li>
 * </ul>
 *
 * <p>Files go into the Hugging Face hub cache, laid out as {@code huggingface_hub} lays it out, so files
 * fetched by Python tools are reused and vice versa. A file already cached is used without any request.
 *
 * <p>Thread-safe: one resolver may serve many threads; downloads of the same file are serialised.
 */
public final class ModelResolver {

    /** The public hub, used unless {@code HF_ENDPOINT} or {@link Builder#endpoint} says otherwise. */
    public static final String DEFAULT_ENDPOINT = "https://huggingface.co";

    private final boolean offline;
    private final HubCache cache;
    private final HubHttp http;
    private final BlobDownloader downloader;

    private ModelResolver(Builder b) {
        this.offline = b.offline;
        this.cache = new HubCache(b.cacheDir);
        Retry retry = new Retry(b.retries, b.retryBackoff);
        this.http = new HubHttp(b.httpClient, b.endpoint, b.token, b.timeout, retry);
        this.downloader = new BlobDownloader(http, cache, retry, b.timeout);
    }

    /**
     * A resolver configured from the environment as {@code huggingface_hub} is: {@code HF_ENDPOINT},
     * {@code HF_TOKEN} (else the token file {@code huggingface-cli login} writes), {@code HF_HUB_CACHE} /
     * {@code HF_HOME}, {@code HF_HUB_OFFLINE}.
     */
    public static ModelResolver fromEnvironment() {
        return builder().build();
    }

    /** A builder whose defaults come from the environment (see {@link #fromEnvironment()}). */
    public static Builder builder() {
        return new Builder(HubEnvironment.of(System.getenv(), Path.of(System.getProperty("user.home"))));
    }

    /** A builder whose defaults come from {@code env} and the home directory {@code home} (for tests). */
    static Builder builder(Map<String, String> env, Path home) {
        return new Builder(HubEnvironment.of(env, home));
    }

    /** Resolves {@code modelSpec} without progress events. */
    public Path resolve(String modelSpec) {
        return resolve(modelSpec, DownloadListener.NONE);
    }

    /**
     * Resolves {@code modelSpec} (see the class comment) to an existing local path, downloading what is missing.
     *
     * @throws ModelResolutionException when the spec names nothing that exists or can be fetched; the message
     *                                  says what, where and what to do
     */
    public Path resolve(String modelSpec, DownloadListener listener) {
        Objects.requireNonNull(modelSpec, "modelSpec");
        Objects.requireNonNull(listener, "listener");
        ModelSpec spec = ModelSpec.parse(modelSpec);
        try {
            return switch (spec) {
                case ModelSpec.Local local -> local(local.path());
                case ModelSpec.HubFile file -> hubFile(modelSpec, file.repo(), file.path(), listener);
                case ModelSpec.HubQuant quant -> hubQuant(modelSpec, quant.repo(), quant.quant(), listener);
                case ModelSpec.HubRepo repo -> hubRepo(modelSpec, repo.repo(), listener);
            };
        } catch (IOException e) {
            throw new ModelResolutionException("cannot write " + modelSpec + " into the Hugging Face cache " + cache.root()
                    + ": " + e + "; make it writable or choose another folder (HF_HUB_CACHE, HF_HOME, --cache-dir)", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ModelResolutionException("interrupted while fetching " + modelSpec + "; a partial download is kept"
                    + " and the next run resumes it", e);
        }
    }

    /** Whether {@code modelSpec} names a model on the hub rather than a local path (it may still be cached). */
    public static boolean isHubSpec(String modelSpec) {
        try {
            return !(ModelSpec.parse(modelSpec) instanceof ModelSpec.Local);
        } catch (ModelResolutionException e) {
            return true; // a malformed hf: spec; resolve() explains what is wrong with it
        }
    }

    private static Path local(Path path) {
        if (Files.exists(path)) {
            return path;
        }
        String s = path.toString();
        String hint = !path.isAbsolute() && s.chars().filter(c -> c == '/').count() == 1 && !s.startsWith(".")
                ? " (for the Hugging Face repository " + s + " write hf:" + s + ", or " + s + ":Q4_K_M for one of its GGUF files)"
                : "";
        throw new ModelResolutionException("no such file or directory: " + path.toAbsolutePath() + hint + "; "
                + ModelSpec.FORMS);
    }

    private Path hubFile(String spec, RepoId repo, String path, DownloadListener listener)
            throws IOException, InterruptedException {
        Optional<Path> cached = cache.cachedFile(repo, path);
        if (cached.isPresent()) {
            return cached.get();
        }
        requireOnline(spec, repo + "/" + path);
        HubHttp.FileMetadata meta = online(spec, () -> http.head(repo, HubCache.REVISION, path));
        Path file = fetch(repo, path, meta, listener);
        cache.writeMainRef(repo, meta.commit());
        return file;
    }

    private Path hubQuant(String spec, RepoId repo, String quant, DownloadListener listener)
            throws IOException, InterruptedException {
        Optional<Path> snapshot = cache.mainSnapshot(repo);
        List<String> cachedGgufs = snapshot.map(ModelResolver::filesIn).map(GgufSelector::ggufFiles).orElse(List.of());
        try {
            Optional<String> hit = GgufSelector.select(repo, quant, cachedGgufs, "the cache of " + repo);
            if (hit.isPresent()) {
                return snapshot.orElseThrow().resolve(hit.get());
            }
        } catch (ModelResolutionException ambiguousInCache) {
            if (offline) {
                throw ambiguousInCache;
            }
        }
        requireOnline(spec, repo + ":" + quant
                + (cachedGgufs.isEmpty() ? "" : " (cached GGUF files of " + repo + ": " + String.join(", ", cachedGgufs) + ")"));
        HubHttp.Listing listing = online(spec, () -> http.listing(repo));
        String where = "repo " + repo;
        String path = GgufSelector.select(repo, quant, listing.files(), where)
                .orElseThrow(() -> GgufSelector.noMatch(quant, listing.files(), where));
        Path file = fetch(repo, path, online(spec, () -> http.head(repo, listing.commit(), path)), listener);
        cache.writeMainRef(repo, listing.commit());
        return file;
    }

    private Path hubRepo(String spec, RepoId repo, DownloadListener listener) throws IOException, InterruptedException {
        Optional<Path> snapshot = cache.mainSnapshot(repo);
        if (snapshot.isPresent() && SafetensorsRepo.complete(repo, snapshot.get())) {
            return snapshot.get();
        }
        requireOnline(spec, "the safetensors model " + repo);
        HubHttp.Listing listing = online(spec, () -> http.listing(repo));
        List<String> files = listing.files();
        if (!SafetensorsRepo.hasWeights(files)) {
            List<String> ggufs = GgufSelector.ggufFiles(files);
            throw new ModelResolutionException(ggufs.isEmpty()
                    ? "repo " + repo + " has no *.safetensors weights at its top level and no GGUF files (its files: "
                      + abbreviate(files) + "); hf:owner/repo needs a transformers model in safetensors"
                    : "repo " + repo + " holds GGUF files, not safetensors weights: pick one with " + repo + ":QUANT (e.g. "
                      + repo + ":Q4_K_M) or hf:" + repo + "/FILE.gguf; its GGUF files: " + abbreviate(ggufs));
        }
        if (!files.contains(SafetensorsRepo.CONFIG)) {
            throw new ModelResolutionException("repo " + repo + " has safetensors weights but no " + SafetensorsRepo.CONFIG
                    + " at its top level, so it is not a transformers model that can be loaded; its files: "
                    + abbreviate(files));
        }
        for (String path : SafetensorsRepo.metadataFiles(files)) {
            fetch(repo, path, online(spec, () -> http.head(repo, listing.commit(), path)), listener);
        }
        Path snapshotDir = cache.snapshot(repo, listing.commit());
        Path index = files.contains(SafetensorsRepo.INDEX) ? snapshotDir.resolve(SafetensorsRepo.INDEX) : null;
        for (String path : SafetensorsRepo.weightFiles(repo, index, files)) {
            fetch(repo, path, online(spec, () -> http.head(repo, listing.commit(), path)), listener);
        }
        cache.writeMainRef(repo, listing.commit());
        return snapshotDir;
    }

    /** Downloads the blob if it is not cached yet and links it into the commit's snapshot. */
    private Path fetch(RepoId repo, String path, HubHttp.FileMetadata meta, DownloadListener listener)
            throws IOException, InterruptedException {
        String file = repo + "/" + path;
        HubCache.checkRepoPath(repo, path);
        boolean downloaded = downloader.ensure(repo, file, meta,
                () -> http.head(repo, meta.commit(), path).location(), listener);
        Path pointer = cache.link(repo, meta.commit(), path, meta.etag());
        if (downloaded) {
            listener.done(file, pointer);
        }
        return pointer;
    }

    private void requireOnline(String spec, String what) {
        if (offline) {
            throw new ModelResolutionException("offline mode (HF_HUB_OFFLINE) is on and " + what + " is not in the Hugging"
                    + " Face cache " + cache.root() + ", so '" + spec + "' cannot be resolved. Pass a local file instead,"
                    + " e.g. --model /path/to/model.gguf or langchain4j.offload.model=/path/to/model.gguf, or turn offline"
                    + " mode off (unset HF_HUB_OFFLINE) to download it");
        }
    }

    private interface HubCall<T> {
        T call() throws IOException, InterruptedException;
    }

    /** Runs a metadata request; a network failure becomes an error that says how to work without the hub. */
    private <T> T online(String spec, HubCall<T> call) throws InterruptedException {
        try {
            return call.call();
        } catch (IOException e) {
            throw new ModelResolutionException("cannot reach the Hugging Face hub at " + http.endpoint() + " to resolve '"
                    + spec + "': " + e + ". Check the network, proxy and HF_ENDPOINT; or fetch the file another way and pass"
                    + " its local path, e.g. --model /path/to/model.gguf or langchain4j.offload.model=/path/to/model.gguf", e);
        }
    }

    /** The regular files (or links to them) under a snapshot folder, as repository paths. */
    private static List<String> filesIn(Path snapshot) {
        try (Stream<Path> walk = Files.walk(snapshot)) {
            return walk.filter(Files::isRegularFile)
                    .map(p -> snapshot.relativize(p).toString().replace(java.io.File.separatorChar, '/')).sorted().toList();
        } catch (IOException e) {
            return List.of(); // unreadable cache: treated as empty, the hub is asked instead
        }
    }

    private static String abbreviate(List<String> files) {
        int max = 30;
        return files.size() <= max ? String.join(", ", files)
                : String.join(", ", files.subList(0, max)) + ", ... (" + (files.size() - max) + " more)";
    }

    public URI endpoint() {
        return http.endpoint();
    }

    /** The hub cache directory, absolute. */
    public Path cacheDir() {
        return cache.root();
    }

    public boolean offline() {
        return offline;
    }

    /** Whether requests carry a token (the token itself is never exposed). */
    public boolean hasToken() {
        return http.hasToken();
    }

    /** Configures a {@link ModelResolver}; every setting defaults to what the environment says. */
    public static final class Builder {
        private URI endpoint;
        private String token;
        private Path cacheDir;
        private boolean offline;
        private HttpClient httpClient;
        private int retries = 5;
        private Duration retryBackoff = Duration.ofSeconds(1);
        private Duration timeout = Duration.ofSeconds(60);

        private Builder(HubEnvironment env) {
            this.endpoint = env.endpoint();
            this.token = env.token();
            this.cacheDir = env.cacheDir();
            this.offline = env.offline();
        }

        /** The hub's base URL, e.g. {@code https://huggingface.co} or a mirror. */
        public Builder endpoint(String endpoint) {
            return endpoint(URI.create(endpoint));
        }

        public Builder endpoint(URI endpoint) {
            this.endpoint = HubEnvironment.checkEndpoint(endpoint, "endpoint");
            return this;
        }

        /** An access token sent as {@code Authorization: Bearer}, needed for gated and private repositories; null for none. */
        public Builder token(String token) {
            this.token = token == null || token.isBlank() ? null : token.strip();
            return this;
        }

        /** The hub cache directory (the one holding {@code models--owner--repo} folders). */
        public Builder cacheDir(Path cacheDir) {
            this.cacheDir = Objects.requireNonNull(cacheDir, "cacheDir");
            return this;
        }

        /** Offline: only the cache is used, and nothing cached is an error. */
        public Builder offline(boolean offline) {
            this.offline = offline;
            return this;
        }

        /**
         * The client to send requests with (proxy, timeouts, SSL). It must not follow redirects
         * ({@link HttpClient.Redirect#NEVER}, the default of {@link HttpClient#newHttpClient()}): the resolver follows
         * them itself so that the token never goes to another host.
         */
        public Builder httpClient(HttpClient httpClient) {
            Objects.requireNonNull(httpClient, "httpClient");
            if (httpClient.followRedirects() != HttpClient.Redirect.NEVER) {
                throw new IllegalArgumentException("httpClient follows redirects (" + httpClient.followRedirects()
                        + "); build it with followRedirects(HttpClient.Redirect.NEVER): the resolver follows them"
                        + " itself so that the token is not sent to the download host");
            }
            this.httpClient = httpClient;
            return this;
        }

        /** How many times a failed or dropped download is retried (resuming where it stopped); default 5. */
        public Builder retries(int retries) {
            if (retries < 0) {
                throw new IllegalArgumentException("retries must be at least 0, was " + retries);
            }
            this.retries = retries;
            return this;
        }

        /** The pause before the first retry, doubled for each further one; default 1 s. */
        public Builder retryBackoff(Duration retryBackoff) {
            if (retryBackoff.isNegative()) {
                throw new IllegalArgumentException("retryBackoff must not be negative, was " + retryBackoff);
            }
            this.retryBackoff = retryBackoff;
            return this;
        }

        /**
         * How long the hub may take to answer a request, and how long a download may go without receiving data, before
         * the attempt counts as failed (and is retried); default 60 s.
         */
        public Builder timeout(Duration timeout) {
            if (timeout.isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("timeout must be positive, was " + timeout);
            }
            this.timeout = timeout;
            return this;
        }

        public ModelResolver build() {
            if (httpClient == null) {
                httpClient = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER)
                        .connectTimeout(Duration.ofSeconds(30)).build();
            }
            return new ModelResolver(this);
        }
    }
}
