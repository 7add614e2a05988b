package io.offload4j.hub;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The hub settings the environment gives, read with {@code huggingface_hub}'s variable names and precedence
 * so that a machine set up for the Python tools works unchanged.
 */
record HubEnvironment(URI endpoint, String token, Path cacheDir, boolean offline) {

    /** The values {@code huggingface_hub} reads as true in boolean variables. */
    private static final Set<String> TRUE = Set.of("1", "on", "yes", "true");

    static HubEnvironment of(Map<String, String> env, Path home) {
        String endpointValue = value(env, "HF_ENDPOINT");
        URI endpoint = endpointValue == null ? URI.create(ModelResolver.DEFAULT_ENDPOINT)
                : checkEndpoint(parse(endpointValue), "HF_ENDPOINT");
        Path hfHome = hfHome(env, home);
        Path cache = firstPath(env, home, "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE");
        if (cache == null) {
            cache = hfHome.resolve("hub");
        }
        String offline = value(env, "HF_HUB_OFFLINE");
        return new HubEnvironment(endpoint, token(env, home, hfHome), cache,
                offline != null && TRUE.contains(offline.toLowerCase(Locale.ROOT)));
    }

    /** {@code $HF_HOME}, else {@code $XDG_CACHE_HOME/huggingface}, else {@code ~/.cache/huggingface}. */
    private static Path hfHome(Map<String, String> env, Path home) {
        Path hfHome = firstPath(env, home, "HF_HOME");
        if (hfHome != null) {
            return hfHome;
        }
        Path xdg = firstPath(env, home, "XDG_CACHE_HOME");
        return (xdg != null ? xdg : home.resolve(".cache")).resolve("huggingface");
    }

    /**
     * {@code HF_TOKEN} (or the older {@code HUGGING_FACE_HUB_TOKEN}), else the file {@code huggingface-cli login}
     * writes: {@code $HF_TOKEN_PATH}, else {@code $HF_HOME/token}.
     */
    private static String token(Map<String, String> env, Path home, Path hfHome) {
        String token = value(env, "HF_TOKEN");
        if (token == null) {
            token = value(env, "HUGGING_FACE_HUB_TOKEN");
        }
        if (token != null) {
            return token;
        }
        Path file = firstPath(env, home, "HF_TOKEN_PATH");
        if (file == null) {
            file = hfHome.resolve("token");
        }
        if (!Files.isRegularFile(file)) {
            return null;
        }
        try {
            String fromFile = Files.readString(file, StandardCharsets.UTF_8).strip();
            return fromFile.isEmpty() ? null : fromFile;
        } catch (IOException e) {
            throw new ModelResolutionException("cannot read the Hugging Face token file " + file + ": " + e.getMessage()
                    + "; fix its permissions, or set HF_TOKEN", e);
        }
    }

    static URI checkEndpoint(URI endpoint, String where) {
        String scheme = endpoint.getScheme();
        if (scheme == null || !(scheme.equals("http") || scheme.equals("https")) || endpoint.getHost() == null) {
            throw new IllegalArgumentException(where + " must be an http(s) URL such as " + ModelResolver.DEFAULT_ENDPOINT
                    + ", was '" + endpoint + "'");
        }
        String s = endpoint.toString();
        return s.endsWith("/") ? URI.create(s.substring(0, s.length() - 1)) : endpoint;
    }

    private static URI parse(String value) {
        try {
            return new URI(value.strip());
        } catch (java.net.URISyntaxException e) {
            throw new IllegalArgumentException("HF_ENDPOINT must be an http(s) URL such as " + ModelResolver.DEFAULT_ENDPOINT
                    + ", was '" + value + "': " + e.getMessage(), e);
        }
    }

    private static Path firstPath(Map<String, String> env, Path home, String... names) {
        for (String name : names) {
            String v = value(env, name);
            if (v != null) {
                return expandHome(v, home);
            }
        }
        return null;
    }

    /** Expands a leading {@code ~} as Python's {@code os.path.expanduser} does. */
    private static Path expandHome(String path, Path home) {
        if (path.equals("~")) {
            return home;
        }
        if (path.startsWith("~/")) {
            return home.resolve(path.substring(2));
        }
        return Path.of(path);
    }

    private static String value(Map<String, String> env, String name) {
        String v = env.get(name);
        return v == null || v.isBlank() ? null : v.strip();
    }
}
