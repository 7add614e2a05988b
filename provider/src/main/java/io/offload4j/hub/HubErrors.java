package io.offload4j.hub;

import java.net.URI;
import java.net.http.HttpHeaders;

/**
 * Turns the hub's error answers into messages a user can act on. The hub names the cause in
 * {@code X-Error-Code} ({@code RepoNotFound}, {@code EntryNotFound}, {@code RevisionNotFound}, {@code GatedRepo})
 * and explains it in {@code X-Error-Message}; without them the status decides.
 */
final class HubErrors {

    private HubErrors() {
    }

    /** Whether a failed request may succeed when repeated: rate limiting and server errors. */
    static boolean transientStatus(int status) {
        return status == 408 || status == 429 || status >= 500;
    }

    /**
     * The error for a final (non-transient) failure of a request about {@code repo} (and {@code file}, or null for the
     * repository itself).
     */
    static ModelResolutionException of(int status, HttpHeaders headers, URI uri, URI endpoint, RepoId repo, String file,
                                       boolean hasToken) {
        String code = headers.firstValue("X-Error-Code").orElse("");
        String hubMessage = headers.firstValue("X-Error-Message").map(m -> " The hub says: " + m).orElse("");
        String page = endpoint + "/" + repo;
        String where = " (HTTP " + status + " for " + uri + ")";
        if (code.equals("RepoNotFound") || (status == 404 && file == null && !code.equals("RevisionNotFound"))) {
            return new ModelResolutionException("no such repo " + repo + " on " + endpoint + where + ": check the name"
                    + (hasToken ? " and that the account of HF_TOKEN can see it" : "; if it is gated or private, set HF_TOKEN")
                    + "." + hubMessage);
        }
        if (code.equals("RevisionNotFound")) {
            return new ModelResolutionException("repo " + repo + " has no branch '" + HubCache.REVISION + "'" + where + "."
                    + hubMessage);
        }
        if (code.equals("GatedRepo") || status == 401 || status == 403) {
            String advice = hasToken
                    ? "the account of HF_TOKEN has no access: accept the model's terms at " + page + " (or ask its owner) and"
                      + " check that the token is valid"
                    : "set HF_TOKEN to an access token (" + endpoint + "/settings/tokens) of an account that has"
                      + " accepted the model's terms at " + page;
            return new ModelResolutionException(repo + (file != null ? "/" + file : "") + " is gated or private" + where
                    + ": " + advice + "." + hubMessage);
        }
        if (status == 404 || code.equals("EntryNotFound")) {
            return new ModelResolutionException("no such file '" + file + "' in repo " + repo + where
                    + ": see the repository's files at " + page + "/tree/" + HubCache.REVISION + "." + hubMessage);
        }
        return new ModelResolutionException("the hub answered HTTP " + status + " for " + uri
                + (file != null ? " (" + repo + "/" + file + ")" : "") + "." + hubMessage);
    }
}
