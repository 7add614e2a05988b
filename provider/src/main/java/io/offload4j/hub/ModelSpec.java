package io.offload4j.hub;

import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A parsed model spec: what {@link ModelResolver#resolve} is asked for. */
sealed interface ModelSpec {

    String HF_PREFIX = "hf:";

    /** {@code owner/repo:QUANT}: one slash, a colon, no path separators elsewhere. */
    Pattern QUANT_SHORTHAND = Pattern.compile("([^/:\\\\]+)/([^/:\\\\]+):([A-Za-z0-9_.-]+)");

    /** A file or directory on this machine. */
    record Local(Path path) implements ModelSpec {
    }

    /** One file of a repository, at {@code path} (forward slashes) from its root. */
    record HubFile(RepoId repo, String path) implements ModelSpec {
    }

    /** The repository's GGUF file whose name contains {@code quant}. */
    record HubQuant(RepoId repo, String quant) implements ModelSpec {
    }

    /** A whole (safetensors) repository. */
    record HubRepo(RepoId repo) implements ModelSpec {
    }

    /**
     * Parses a spec. {@code hf:} always means the hub; {@code owner/repo:QUANT} means the hub unless a local file of
     * that name exists; anything else is a local path.
     *
     * @throws ModelResolutionException for a malformed hub spec, saying what the accepted forms are
     */
    static ModelSpec parse(String spec) {
        String s = spec.strip();
        if (s.isEmpty()) {
            throw new ModelResolutionException("the model spec is empty; " + FORMS);
        }
        if (s.regionMatches(true, 0, HF_PREFIX, 0, HF_PREFIX.length())) {
            return parseHub(spec, s.substring(HF_PREFIX.length()));
        }
        Matcher m = QUANT_SHORTHAND.matcher(s);
        if (m.matches() && !java.nio.file.Files.exists(localPath(spec, s))) {
            return new HubQuant(repo(spec, m.group(1), m.group(2)), m.group(3));
        }
        return new Local(localPath(spec, s));
    }

    private static ModelSpec parseHub(String spec, String rest) {
        List<String> parts = List.of(rest.split("/", -1));
        if (parts.size() < 2 || parts.stream().anyMatch(String::isEmpty)) {
            throw new ModelResolutionException("'" + spec + "' is not a Hugging Face model spec; " + FORMS);
        }
        if (parts.size() == 2) {
            int colon = parts.get(1).indexOf(':');
            if (colon >= 0) {
                String quant = parts.get(1).substring(colon + 1);
                if (quant.isEmpty()) {
                    throw new ModelResolutionException("'" + spec + "' names no quantization after ':'; " + FORMS);
                }
                return new HubQuant(repo(spec, parts.get(0), parts.get(1).substring(0, colon)), quant);
            }
            return new HubRepo(repo(spec, parts.get(0), parts.get(1)));
        }
        List<String> file = parts.subList(2, parts.size());
        if (file.contains(".") || file.contains("..")) {
            throw new ModelResolutionException("'" + spec + "': a file path in a repository must not contain '.' or '..'");
        }
        return new HubFile(repo(spec, parts.get(0), parts.get(1)), String.join("/", file));
    }

    private static RepoId repo(String spec, String owner, String name) {
        try {
            return new RepoId(owner, name);
        } catch (IllegalArgumentException e) {
            throw new ModelResolutionException("'" + spec + "': " + e.getMessage() + "; " + FORMS, e);
        }
    }

    private static Path localPath(String spec, String s) {
        try {
            return Path.of(s);
        } catch (InvalidPathException e) {
            throw new ModelResolutionException("'" + spec + "' is not a valid file path: " + e.getMessage() + "; " + FORMS, e);
        }
    }

    String FORMS = "give a local file or directory, hf:owner/repo/file.gguf, owner/repo:Q4_K_M (a quantization) or"
            + " hf:owner/repo (a safetensors repository)";
}
