package io.offload4j.hub;

import java.net.URI;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;

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

    private final URI endpoint;
    private final String token;
    private final Path cacheDir;
    private final boolean offline;
    private final HttpClient httpClient;
    private final int retries;
    private final Duration retryBackoff;

    private ModelResolver(Builder b) {
        this.endpoint = b.endpoint;
        this.token = b.token;
        this.cacheDir = b.cacheDir;
        this.offline = b.offline;
        this.httpClient = b.httpClient;
        this.retries = b.retries;
        this.retryBackoff = b.retryBackoff;
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
        throw new UnsupportedOperationException("hub API: implementation follows");
    }

    /** Whether {@code modelSpec} names a model on the hub rather than a local path (it may still be cached). */
    public static boolean isHubSpec(String modelSpec) {
        throw new UnsupportedOperationException("hub API: implementation follows");
    }

    public URI endpoint() {
        return endpoint;
    }

    public Path cacheDir() {
        return cacheDir;
    }

    public boolean offline() {
        return offline;
    }

    /** Whether requests carry a token (the token itself is never exposed). */
    public boolean hasToken() {
        return token != null;
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

        public ModelResolver build() {
            if (httpClient == null) {
                httpClient = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER)
                        .connectTimeout(Duration.ofSeconds(30)).build();
            }
            return new ModelResolver(this);
        }
    }
}
