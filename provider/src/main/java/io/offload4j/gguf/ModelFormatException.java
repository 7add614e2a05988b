package io.offload4j.gguf;

import java.nio.file.Path;

/**
 * A model file that cannot be used as it is. The message always says which file, where in it
 * (byte offset, metadata key or tensor name), what was expected, what was found and, where there
 * is one, what the user can do about it.
 */
public class ModelFormatException extends RuntimeException {

    private final Path file;

    public ModelFormatException(Path file, String message) {
        super(file + ": " + message);
        this.file = file;
    }

    public ModelFormatException(Path file, String message, Throwable cause) {
        super(file + ": " + message, cause);
        this.file = file;
    }

    /**
     * What a JSON parser found wrong and where: {@code "<problem> at line L, column C"}, or only the problem when the
     * parser gives no position (Jackson's limits, such as nesting deeper than it allows, come without one).
     */
    public static String jsonProblem(com.fasterxml.jackson.core.JsonProcessingException e) {
        com.fasterxml.jackson.core.JsonLocation at = e.getLocation();
        String problem = e.getOriginalMessage();
        return at == null || at.getLineNr() < 0 ? problem
                : problem + " at line " + at.getLineNr() + ", column " + at.getColumnNr();
    }

    /** The file the problem was found in. */
    public Path file() {
        return file;
    }
}
