package io.offload4j.hub;

import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Picks the GGUF file of a repository that an {@code owner/repo:QUANT} spec means: the one whose path contains
 * {@code QUANT}, case-insensitively. When several do (Q4_K in Q4_K_M and Q4_K_S), the one where it stands as a
 * whole word (not followed by a letter, digit or '_') wins; projector files ({@code mmproj*}) only count when
 * nothing else matches. Anything still ambiguous, or nothing at all, is an error listing the GGUF files.
 */
final class GgufSelector {

    /** llama.cpp's split naming: {@code name-00001-of-00003.gguf}. */
    private static final Pattern SPLIT = Pattern.compile("-(\\d{5})-of-(\\d{5})\\.gguf$", Pattern.CASE_INSENSITIVE);

    private GgufSelector() {
    }

    static List<String> ggufFiles(List<String> files) {
        return files.stream().filter(f -> f.toLowerCase(Locale.ROOT).endsWith(".gguf")).sorted().toList();
    }

    /**
     * The match, or empty when none matches; {@code where} names what was searched for messages (e.g. "repo o/r").
     *
     * @throws ModelResolutionException when the quant is ambiguous or names a split model
     */
    static Optional<String> select(RepoId repo, String quant, List<String> files, String where) {
        List<String> ggufs = ggufFiles(files);
        String q = quant.toLowerCase(Locale.ROOT);
        List<String> matches = ggufs.stream().filter(f -> f.toLowerCase(Locale.ROOT).contains(q)).toList();
        List<String> models = matches.stream().filter(f -> !fileName(f).toLowerCase(Locale.ROOT).startsWith("mmproj")).toList();
        if (!models.isEmpty()) {
            matches = models;
        }
        if (matches.size() > 1) {
            List<String> whole = matches.stream().filter(f -> containsWholeWord(f.toLowerCase(Locale.ROOT), q)).toList();
            if (!whole.isEmpty()) {
                matches = whole;
            }
        }
        if (matches.isEmpty()) {
            return Optional.empty();
        }
        Matcher split = SPLIT.matcher(matches.getFirst());
        if (split.find()) {
            throw new ModelResolutionException("the " + quant + " GGUF in " + where + " is split into " + split.group(2)
                    + " files (" + matches.getFirst() + ", ...); offload4j reads single-file GGUF. Merge the parts with"
                    + " llama.cpp's 'llama-gguf-split --merge' and pass the merged file's path, or pick another quantization"
                    + " from: " + String.join(", ", ggufs));
        }
        if (matches.size() > 1) {
            throw new ModelResolutionException("'" + quant + "' is ambiguous in " + where + ": it matches "
                    + String.join(", ", matches) + ". Write more of the name, so that it matches one file, or name the file,"
                    + " e.g. hf:" + repo + "/" + matches.getFirst());
        }
        return Optional.of(matches.getFirst());
    }

    /** The error for a quant that matches nothing: it lists the GGUF files there are. */
    static ModelResolutionException noMatch(String quant, List<String> files, String where) {
        List<String> ggufs = ggufFiles(files);
        return new ModelResolutionException(ggufs.isEmpty()
                ? where + " has no .gguf files, so ':" + quant + "' names nothing; for a safetensors repository write"
                  + " hf:owner/repo"
                : "no GGUF file in " + where + " matches '" + quant + "'; its .gguf files are: " + String.join(", ", ggufs));
    }

    private static boolean containsWholeWord(String path, String q) {
        for (int i = path.indexOf(q); i >= 0; i = path.indexOf(q, i + 1)) {
            int end = i + q.length();
            boolean startOk = i == 0 || !Character.isLetterOrDigit(path.charAt(i - 1));
            boolean endOk = end == path.length() || !(Character.isLetterOrDigit(path.charAt(end)) || path.charAt(end) == '_');
            if (startOk && endOk) {
                return true;
            }
        }
        return false;
    }

    private static String fileName(String path) {
        return path.substring(path.lastIndexOf('/') + 1);
    }
}
