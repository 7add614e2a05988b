package io.offload4j.hub;

import java.util.regex.Pattern;

/**
 * A model repository on the hub, {@code owner/name}.
 *
 * @param owner the user or organisation
 * @param name  the repository's name
 */
record RepoId(String owner, String name) {

    /** The hub's rule for both parts: letters, digits, '-', '_', '.', not starting or ending with '-' or '.'. */
    private static final Pattern PART = Pattern.compile("[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?");

    RepoId {
        check(owner, "owner");
        check(name, "name");
    }

    private static void check(String part, String what) {
        if (!PART.matcher(part).matches() || part.contains("--") || part.contains("..")) {
            throw new IllegalArgumentException("'" + part + "' is not a valid repository " + what
                    + " (letters, digits, '-', '_', '.'; no '--' or '..'; not starting or ending with '-' or '.')");
        }
    }

    /** The cache folder's name, as {@code huggingface_hub} forms it: {@code models--owner--name}. */
    String cacheFolderName() {
        return "models--" + owner + "--" + name;
    }

    @Override
    public String toString() {
        return owner + "/" + name;
    }
}
